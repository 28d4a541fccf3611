/*
 * observe.h - asks the providers what exists for a pass's resources.
 *
 * Each read asks one provider instance about one resource.  At most
 * `concurrency` calls run at once (0 counts as 1), a call being one read,
 * or read_batch reads of a provider that answers them together
 * (provider.h): those go to it in bulk.  An instance that batches
 * (provider.batches) gets all of its reads at once, outside that count:
 * it answers many with one request.  A transient error is
 * retried after backoff_ms, doubling each time, until `max_attempts` reads
 * were made.  An answer lands in the read's `observed` object, under the
 * resource's id, as a copy of what the provider returned; NOT_FOUND is
 * absence and adds nothing.
 *
 * Unknown is not absent: a read that fails for good, or whose provider
 * instance is not configured, holds its tenant.  Every read of a tenant
 * points at the tenant's one hold slot: the first failure sets it (a
 * malloc'd message the caller frees), and reads of a tenant that is held,
 * from before or by an earlier read, are not started.
 *
 *   struct observe_read reads[n] = {{r, observed, &hold}, ...};
 *   observe_run(loop, reads, n, &opts);  -- returns when every read ended
 *
 * observe_run runs `loop` until nothing is left to do and closes its own
 * timers before it returns, so it leaves nothing open on the loop.  The
 * reads, and what they point to, must live until then.
 */
#ifndef TD_OBSERVE_H
#define TD_OBSERVE_H

#include "base/compat.h"

#include <jansson.h>
#include <uv.h>

#include "model/resource.h"
#include "providers/provider.h"

struct observe_opts {
  unsigned concurrency;  /* reads in flight */
  unsigned max_attempts; /* reads per resource, transient errors included */
  uint64_t backoff_ms;   /* first retry delay; doubles */
  /* The provider instance for a name, or NULL when not configured. */
  struct provider *(*provider)(const char *instance, void *arg);
  void *provider_arg;
};

struct observe_read {
  const struct resource *r; /* what to read; borrowed */
  json_t *observed;         /* its tenant's id -> observed object */
  char **hold;              /* its tenant's hold slot: NULL while free */
};

/* Reads every resource of `reads`, in order, bounded as the opts say. */
void observe_run(uv_loop_t *loop, const struct observe_read *reads, size_t n,
                 const struct observe_opts *o);

#endif
