/*
 * apply.h - carries out plans on the libuv loop.
 *
 * Every action that changes something becomes a job.  A job starts when
 * the jobs it waits for have succeeded: a resource's dependencies (and
 * services it depends on must also be healthy); a delete waits for the
 * deletes of what depends on it.  At most `concurrency` provider calls run
 * at once, so independent branches proceed in parallel; an instance that
 * batches (provider.batches) gets every job of its that is ready, outside
 * that count.  Transient errors are retried with exponential backoff and
 * jitter; any other failure stops only the jobs that wait for it, which
 * end as skipped.  An action planned
 * as a no-op whose spec refers to outputs of a dependency the run writes
 * waits for it, is resolved again, and is written as an update when those
 * outputs changed it (a route after its service's replicas were
 * replaced); apply_action_written() then says so.
 *
 *   struct apply_run *run;
 *   apply_start(&run, loop, plans, n, &opts, done, arg);
 *   uv_run(loop, UV_RUN_DEFAULT);        -- done(run, arg) is called once
 *   ... apply_job_* to read results ...
 *   apply_run_free(run);                 -- after done
 *
 * Plans must outlive the run; the run writes nothing into them.
 */
#ifndef TD_APPLY_H
#define TD_APPLY_H

#include "base/compat.h"

#include <stdatomic.h>
#include <uv.h>

#include "engine/plan.h"
#include "providers/provider.h"

struct apply_opts {
  unsigned version;
  unsigned concurrency;  /* provider calls in flight */
  unsigned max_attempts; /* per call, transient errors included */
  uint64_t backoff_ms;   /* first retry delay; doubles, with jitter */
  uint64_t backoff_max_ms;
  uint64_t health_timeout_ms; /* a service must be healthy within this */
  uint64_t health_poll_ms;
  uint64_t seed; /* jitter */
  /* The provider instance for a name, or NULL when not configured. */
  struct provider *(*provider)(const char *instance, void *arg);
  void *provider_arg;
  /* Called as each job ends (progress display). */
  void (*progress)(const struct plan_action *a, int state, const char *message,
                   size_t done, size_t total, void *arg);
  void *progress_arg;
  /* Set (from any thread) to stop starting jobs: what has not begun ends
   * as skipped; what has begun (a retry, a health wait, a replace's second
   * half) runs to its end, so nothing is left half-done. */
  const atomic_bool *cancel;
};

#define APPLY_OPTS_VERSION 1
#define APPLY_OPTS_INIT                                                        \
  {                                                                            \
    APPLY_OPTS_VERSION, 8, 5, 100, 5000, 60000, 50, 1, NULL, NULL, NULL, NULL, \
        NULL                                                                   \
  }

enum apply_state {
  APPLY_PENDING,
  APPLY_RUNNING,
  APPLY_DONE, /* succeeded, or nothing to do */
  APPLY_FAILED,
  APPLY_SKIPPED, /* a job it waits for failed */
  APPLY_HELD,    /* not applied by policy (suspend, report, stalled) */
};

extern const char *const apply_state_names[];

struct apply_run;

typedef void (*apply_done_fn)(struct apply_run *run, void *arg);

int apply_start(struct apply_run **out, uv_loop_t *loop,
                struct tenant_plan *const *plans, size_t nplans,
                const struct apply_opts *opts, apply_done_fn done, void *arg);

/* Results, for the action `a` of one of the plans. */
enum apply_state apply_action_state(const struct apply_run *run,
                                    const struct plan_action *a);
/* Why it failed or was skipped; NULL otherwise.  Borrowed. */
const char *apply_action_message(const struct apply_run *run,
                                 const struct plan_action *a);
/* A no-op written after all (what it refers to changed in this run): the
 * fields that changed, comma-separated; NULL otherwise.  Borrowed. */
const char *apply_action_refreshed(const struct apply_run *run,
                                   const struct plan_action *a);
/* Whether the provider accepted the write (it exists now), even if the
 * job then failed its health gate. */
bool apply_action_written(const struct apply_run *run,
                          const struct plan_action *a);
/* Whether it was skipped because the run was cancelled (not because
 * something it waits for failed or is held). */
bool apply_action_cancelled(const struct apply_run *run,
                            const struct plan_action *a);
/* For a skipped action, the action it waited for that did not apply (or
 * is held); NULL otherwise (not skipped, or skipped by a cancel).
 * Following it until an action that was not skipped leads to the cause. */
const struct plan_action *apply_action_cause(const struct apply_run *run,
                                             const struct plan_action *a);

/* Where an action's time went, in ms of the loop's clock. */
struct apply_timing {
  uint64_t start_ms;  /* from the run's start to its first provider call */
  uint64_t took_ms;   /* from that call to its end, retries included */
  uint64_t health_ms; /* of which waiting for a service to turn healthy */
};

/* The timing of an action that made provider calls and ended done or
 * failed: true and *out; false (*out zeroed) for any other. */
bool apply_action_timing(const struct apply_run *run,
                         const struct plan_action *a, struct apply_timing *out);

void apply_run_free(struct apply_run *run);

#endif
