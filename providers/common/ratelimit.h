/*
 * ratelimit.h - a provider instance's calls per second, across passes.
 *
 * Any instance in the config may carry `rateLimit: {qps: 50, burst: 20}`.
 * The controller then opens the real provider and wraps it: every call
 * (read, create, update, remove, list_owned) first takes a token from the
 * instance's bucket, which refills at `qps` tokens a second up to `burst`.
 * A call without a token waits, in order, on a libuv timer; nothing
 * blocks the loop.
 *
 * Buckets live for the process, one per instance name, so the limit
 * holds across passes (each pass opens its instances afresh).  They are
 * guarded by a mutex: passes run on a worker thread, tests on others.
 */
#ifndef TD_RATELIMIT_H
#define TD_RATELIMIT_H

#include "base/compat.h"

#include "providers/provider.h"

/* Takes ownership of `inner`; closing the wrapper closes it. */
struct provider *ratelimit_wrap(struct provider *inner, double qps,
                                unsigned burst);

#endif
