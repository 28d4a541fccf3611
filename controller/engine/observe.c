#include "base/compat.h"

#include <stdio.h>

#include "engine/observe.h"

/*
 * Reads in flight are counted in calls: a provider that answers
 * read_batch reads together (provider.h) lets read_batch of them count
 * as one, so a cold pass hands the local provider thousands of reads a
 * turn, not `concurrency`, and pays a thread hand-off per thousand.  A
 * call is CALL_UNITS; a read costs its share, rounded up.
 */
#define CALL_UNITS 4096u

/* One resource's read, with its retries. */
struct job {
  struct observer *ob;
  const struct observe_read *rd;
  unsigned attempt;
  unsigned cost;    /* in CALL_UNITS, while running */
  uv_timer_t timer; /* backoff before a retry */
  bool timer_live;
};

struct observer {
  uv_loop_t *loop;
  struct observe_opts o;
  struct job *jobs;
  /* Reads start in order: those of providers that batch (provider.h)
   * all at once from `bnext`, the others within the limit from `next`;
   * each cursor skips the other's. */
  size_t n, next, bnext;
  uint64_t running, limit; /* in CALL_UNITS */
};

static void hold(const struct observe_read *rd, const char *why)
{
  if (!*rd->hold)
    *rd->hold = td_strdup(why);
}

static void read_next(struct observer *ob);

static void on_read(struct provider *p, const struct provider_result *res,
                    void *arg);

/* The job's provider; NULL (and the tenant held) when not configured. */
static struct provider *job_provider(struct job *j)
{
  struct observer *ob = j->ob;
  const struct resource *r = j->rd->r;
  struct provider *p = ob->o.provider(r->provider, ob->o.provider_arg);
  char why[512];

  if (p)
    return p;
  snprintf(why, sizeof(why),
           "provider instance '%s' (for %s) is not configured", r->provider,
           r->id);
  hold(j->rd, why);
  return NULL;
}

/* A read's share of a call of p's, rounded up; none for a provider that
 * batches, which bounds what it sends itself. */
static unsigned read_cost(const struct provider *p)
{
  unsigned batch = provider_read_batch(p);

  if (p->batches)
    return 0;
  return batch >= CALL_UNITS ? 1 : (CALL_UNITS + batch - 1) / batch;
}

static void read_start(struct job *j, struct provider *p)
{
  j->cost = read_cost(p);
  j->ob->running += j->cost;
  provider_read(p, j->rd->r, on_read, j);
}

static void on_retry(uv_timer_t *t)
{
  struct job *j = container_of(t, struct job, timer);
  struct provider *p = job_provider(j);

  if (p)
    read_start(j, p);
  else
    read_next(j->ob);
}

static void retry_later(struct job *j)
{
  struct observer *ob = j->ob;

  if (!j->timer_live) {
    uv_timer_init(ob->loop, &j->timer);
    j->timer_live = true;
  }
  uv_timer_start(&j->timer, on_retry, ob->o.backoff_ms << (j->attempt - 1), 0);
}

static void on_read(struct provider *p, const struct provider_result *res,
                    void *arg)
{
  struct job *j = arg;
  const struct observe_read *rd = j->rd;

  (void)p;
  j->ob->running -= j->cost;
  if (res->status == PROVIDER_TRANSIENT &&
      ++j->attempt < j->ob->o.max_attempts) {
    retry_later(j);
    return;
  }
  if (res->status == PROVIDER_OK) {
    /* A reference, not a copy: a provider never changes what it
     * delivered (it frees it once every holder let go). */
    json_object_set(rd->observed, rd->r->id, (json_t *)res->observed);
  } else if (res->status != PROVIDER_NOT_FOUND) {
    char why[1024];

    /* Unknown is not absent: never plan on a failed read. */
    snprintf(why, sizeof(why), "cannot observe %s: %s: %s", rd->r->id,
             provider_status_name(res->status),
             res->message ? res->message : "");
    hold(rd, why);
  }
  read_next(j->ob);
}

/* Starts reads in order while calls are free; at least one when none
 * runs.  Iterative, not recursive: thousands of unconfigured instances
 * must not grow the stack. */
static void read_next(struct observer *ob)
{
  while (ob->bnext < ob->n) {
    struct job *j = &ob->jobs[ob->bnext++];
    struct provider *p = ob->o.provider(j->rd->r->provider, ob->o.provider_arg);

    if (p && p->batches && !*j->rd->hold)
      read_start(j, p);
  }
  while (ob->next < ob->n && ob->running < ob->limit) {
    struct job *j = &ob->jobs[ob->next];
    struct provider *p = *j->rd->hold ? NULL : job_provider(j);

    if (p && p->batches) {
      ob->next++;
      continue;
    }
    if (p && ob->running > 0 && ob->running + read_cost(p) > ob->limit)
      break;
    ob->next++;
    if (p)
      read_start(j, p);
  }
}

static void timer_closed(uv_handle_t *h)
{
  (void)h;
}

void observe_run(uv_loop_t *loop, const struct observe_read *reads, size_t n,
                 const struct observe_opts *o)
{
  struct observer ob = {.loop = loop, .o = *o, .n = n};

  if (ob.o.concurrency == 0)
    ob.o.concurrency = 1;
  ob.limit = (uint64_t)ob.o.concurrency * CALL_UNITS;
  ob.jobs = td_calloc(n ? n : 1, sizeof(*ob.jobs));
  for (size_t i = 0; i < n; i++)
    ob.jobs[i] = (struct job){.ob = &ob, .rd = &reads[i]};
  read_next(&ob);
  uv_run(loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < n; i++)
    if (ob.jobs[i].timer_live)
      uv_close((uv_handle_t *)&ob.jobs[i].timer, timer_closed);
  uv_run(loop, UV_RUN_DEFAULT);
  free(ob.jobs);
}
