#include "base/compat.h"

#include <stdio.h>

#include "engine/observe.h"

/* One resource's read, with its retries. */
struct job {
  struct observer *ob;
  const struct observe_read *rd;
  unsigned attempt;
  uv_timer_t timer; /* backoff before a retry */
  bool timer_live;
  bool uncounted; /* its provider batches: outside the concurrency */
};

struct observer {
  uv_loop_t *loop;
  struct observe_opts o;
  struct job *jobs;
  /* Reads start in order: those of providers that batch (provider.h)
   * all at once from `bnext`, the others `concurrency` at a time from
   * `next`; each cursor skips the other's. */
  size_t n, next, bnext, running;
};

static void hold(const struct observe_read *rd, const char *why)
{
  if (!*rd->hold)
    *rd->hold = td_strdup(why);
}

static void read_next(struct observer *ob);

static void on_read(struct provider *p, const struct provider_result *res,
                    void *arg);

/* Starts a read; false (and the tenant held) when there is no provider. */
static bool read_start(struct job *j)
{
  struct observer *ob = j->ob;
  const struct resource *r = j->rd->r;
  struct provider *p = ob->o.provider(r->provider, ob->o.provider_arg);

  if (!p) {
    char why[512];

    snprintf(why, sizeof(why),
             "provider instance '%s' (for %s) is not configured", r->provider,
             r->id);
    hold(j->rd, why);
    return false;
  }
  j->uncounted = p->batches;
  if (!j->uncounted)
    ob->running++;
  provider_read(p, r, on_read, j);
  return true;
}

static void on_retry(uv_timer_t *t)
{
  struct job *j = container_of(t, struct job, timer);

  if (!read_start(j))
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
  if (!j->uncounted)
    j->ob->running--;
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

/* True when job j's reads go to a provider that batches them. */
static bool batched(const struct observer *ob, const struct job *j)
{
  struct provider *p = ob->o.provider(j->rd->r->provider, ob->o.provider_arg);

  return p && p->batches;
}

static void read_next(struct observer *ob)
{
  /* Iterative, not recursive: thousands of unconfigured instances
   * must not grow the stack. */
  while (ob->bnext < ob->n) {
    struct job *j = &ob->jobs[ob->bnext++];

    if (batched(ob, j) && !*j->rd->hold)
      read_start(j);
  }
  while (ob->next < ob->n && ob->running < ob->o.concurrency) {
    struct job *j = &ob->jobs[ob->next++];

    if (batched(ob, j) || *j->rd->hold || !read_start(j))
      continue;
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
