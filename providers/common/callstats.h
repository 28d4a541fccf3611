/*
 * callstats.h - every provider call counted, timed and classified, per
 * instance and operation, for the controller's metrics.
 *
 * The controller wraps each instance it opens (engine/reconcile.c); the
 * wrapper forwards every call and, when its callback runs, adds it to one
 * table for the whole process: how many calls, how many failed in each
 * error class (provider.h), and how long they took, in the buckets of
 * callstats_bounds.  The time is the provider's own: a rate limit wraps
 * outside this one, so waiting for a token is not counted.
 *
 * Counts live for the process (each pass opens its instances afresh), one
 * entry per (instance, operation) seen, and are guarded by a mutex:
 * passes run on a worker thread, metrics are read on the loop thread.
 *
 *   struct provider *p = callstats_wrap(inner);      -- owns inner
 *   ...
 *   struct callstats_entry *v;
 *   size_t n = callstats_snapshot(&v);               -- copies
 *   callstats_snapshot_free(v, n);
 */
#ifndef TD_CALLSTATS_H
#define TD_CALLSTATS_H

#include "base/compat.h"

#include "providers/provider.h"

enum callstats_op {
  CALLSTATS_READ,
  CALLSTATS_CREATE,
  CALLSTATS_UPDATE,
  CALLSTATS_REMOVE,
  CALLSTATS_LIST,
  CALLSTATS_OP_COUNT
};

/* "read", "create", "update", "delete", "list" */
extern const char *const callstats_op_names[CALLSTATS_OP_COUNT];

/* The error classes counted, in this order: PROVIDER_TRANSIENT (-10)
 * down to PROVIDER_AUTH (-13), named by provider_status_name().
 * PROVIDER_NOT_FOUND is an answer (absent, already gone), not counted as
 * an error. */
#define CALLSTATS_CLASSES 4

/* Latency bucket bounds, in seconds (+Inf implied). */
#define CALLSTATS_NBOUNDS 12
extern const double callstats_bounds[CALLSTATS_NBOUNDS];

struct callstats_entry {
  char *instance; /* owned by the snapshot */
  enum callstats_op op;
  uint64_t calls;
  uint64_t errors[CALLSTATS_CLASSES];
  uint64_t buckets[CALLSTATS_NBOUNDS]; /* per bucket, not cumulative */
  double seconds;                      /* the sum of every call's time */
};

/* Takes ownership of `inner`; closing the wrapper closes it. */
struct provider *callstats_wrap(struct provider *inner);

/* A copy of every entry, in the order first seen; the count.  Free it
 * with callstats_snapshot_free. */
size_t callstats_snapshot(struct callstats_entry **out);
void callstats_snapshot_free(struct callstats_entry *v, size_t n);

/* Forgets every count (tests). */
void callstats_reset(void);

#endif
