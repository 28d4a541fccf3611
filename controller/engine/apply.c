#include "base/compat.h"

#include <stdio.h>

#include "engine/apply.h"

const char *const apply_state_names[] = {
    "pending", "running", "done", "failed", "skipped", "held",
};

/* STAGE_RECHECK: an action planned as a no-op whose spec refers to the
 * outputs of a dependency this run writes; once that is done, the spec is
 * resolved again and written only when the outputs changed it (a route
 * after its service's replicas were replaced). */
enum stage { STAGE_REMOVE, STAGE_WRITE, STAGE_HEALTH, STAGE_RECHECK };

struct job {
  struct apply_run *run;
  size_t plan;  /* index of its tenant plan */
  bool written; /* the provider accepted the create/update */
  const struct tenant_plan *tp;
  const struct plan_action *a;
  enum apply_state state;
  enum stage stage;
  size_t *dependents; /* job indices that wait for this one */
  size_t ndependents;
  size_t waiting; /* prerequisites not finished yet */
  unsigned attempt;
  bool begun;     /* a provider call was made for it */
  bool uncounted; /* its call in flight is outside the concurrency */
  bool cancelled; /* skipped because the run was cancelled */
  /* Skipped: the job it waited for, which did not apply (or is held). */
  const struct job *cause;
  uint64_t health_deadline;
  /* uv_now of its first provider call, of its health wait's start (0:
   * none) and of its end. */
  uint64_t started_at, health_at, ended_at;
  /* Backoff and health polls; made for the few jobs that wait, since a
   * run of a first apply has hundreds of thousands of jobs. */
  struct job_timer *timer;
  /* The outputs of what the provider returned last (a reference): all
   * that dependents and the health gate read of it. */
  json_t *outputs;
  char *message;
  /* STAGE_RECHECK that became a write: the fields that changed; owned. */
  char *refreshed;
};

struct job_timer {
  uv_timer_t t;
  struct job *j;
};

struct apply_run {
  uv_loop_t *loop;
  struct apply_opts opts;
  apply_done_fn done;
  void *done_arg;
  struct tenant_plan *const *plans;
  size_t nplans;
  size_t *plan_base; /* first job index of each plan */
  size_t *by_addr;   /* plan indices sorted by their actions' address */
  size_t **by_id;    /* per plan: job indices sorted by resource id */
  struct job *jobs;
  size_t njobs;
  size_t *ready; /* FIFO ring of job indices */
  size_t ready_head, ready_len;
  /* Likewise, the jobs of providers that batch (provider.h), started
   * whatever the concurrency. */
  size_t *batched;
  size_t batched_head, batched_len;
  unsigned running;
  size_t finished;
  uint64_t rng;
  uint64_t started_at; /* uv_now when the run started */
  uv_timer_t kick;     /* defers completion so done never runs inline */
  json_t *no_outputs;  /* what a job that returned no outputs holds */
  size_t open_handles;
  bool finishing;
};

/* The job of action `a`: the plan whose action array holds it, found by
 * binary search over the arrays' addresses. */
static struct job *job_of(const struct apply_run *run,
                          const struct plan_action *a)
{
  size_t lo = 0, hi = run->nplans;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct tenant_plan *tp = run->plans[run->by_addr[mid]];

    if ((uintptr_t)a < (uintptr_t)tp->v)
      hi = mid;
    else if ((uintptr_t)a >= (uintptr_t)(tp->v + tp->n))
      lo = mid + 1;
    else
      return &run->jobs[run->plan_base[run->by_addr[mid]] +
                        (size_t)(a - tp->v)];
  }
  return NULL;
}

/* The job for `id` in the same tenant as plan p, or NULL. */
static struct job *find_id(const struct apply_run *run, size_t p,
                           const char *id, size_t idlen)
{
  const size_t *idx = run->by_id[p];
  size_t lo = 0, hi = run->plans[p]->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *mine = run->jobs[idx[mid]].a->res->id;
    int c = strncmp(mine, id, idlen);

    if (c == 0 && mine[idlen] != '\0')
      c = 1;
    if (c == 0)
      return &run->jobs[idx[mid]];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* True when job j's provider batches its calls (provider.h). */
static bool batches(const struct apply_run *run, size_t j)
{
  const struct resource *r = run->jobs[j].a->res;
  struct provider *p = run->opts.provider(r->provider, run->opts.provider_arg);

  return p && p->batches;
}

static void ready_push(struct apply_run *run, size_t j)
{
  if (batches(run, j))
    run->batched[(run->batched_head + run->batched_len++) % run->njobs] = j;
  else
    run->ready[(run->ready_head + run->ready_len++) % run->njobs] = j;
}

static void pump(struct apply_run *run);
static void start(struct job *j);

static void on_closed(uv_handle_t *h)
{
  struct apply_run *run = h->data;

  if (h != (uv_handle_t *)&run->kick)
    free(container_of((uv_timer_t *)h, struct job_timer, t));
  if (--run->open_handles == 0)
    run->done(run, run->done_arg);
}

static void finish_run(struct apply_run *run)
{
  run->finishing = true;
  run->open_handles = 1;
  for (size_t i = 0; i < run->njobs; i++)
    if (run->jobs[i].timer) {
      run->jobs[i].timer->t.data = run;
      run->open_handles++;
      uv_close((uv_handle_t *)&run->jobs[i].timer->t, on_closed);
      run->jobs[i].timer = NULL;
    }
  uv_close((uv_handle_t *)&run->kick, on_closed);
}

static void on_kick(uv_timer_t *t)
{
  struct apply_run *run = t->data;

  if (run->finished == run->njobs && !run->finishing)
    finish_run(run);
  else
    pump(run);
}

static void skip_dependents(struct job *j);

static void complete(struct job *j, enum apply_state state, char *message)
{
  struct apply_run *run = j->run;

  assert(j->state == APPLY_PENDING || j->state == APPLY_RUNNING);
  j->state = state;
  j->ended_at = uv_now(run->loop);
  /* Its spec goes back to text once it is done with. */
  resource_spec_unload(j->a->res);
  free(j->message);
  j->message = message;
  run->finished++;
  /* Reported before its dependents, so the counts shown only go up. */
  if (run->opts.progress)
    run->opts.progress(j->a, (int)state, j->message, run->finished, run->njobs,
                       run->opts.progress_arg);
  if (state == APPLY_FAILED || state == APPLY_SKIPPED) {
    skip_dependents(j);
  } else {
    for (size_t d = 0; d < j->ndependents; d++) {
      struct job *w = &run->jobs[j->dependents[d]];

      if (w->state == APPLY_PENDING && --w->waiting == 0)
        ready_push(run, j->dependents[d]);
    }
  }
  /* Defer: never finish or start more from inside a provider callback. */
  uv_timer_start(&run->kick, on_kick, 0, 0);
}

static void skip_dependents(struct job *j)
{
  for (size_t d = 0; d < j->ndependents; d++) {
    struct job *w = &j->run->jobs[j->dependents[d]];

    if (w->state != APPLY_PENDING)
      continue;
    /* A no-op stays one: what it refers to was not changed. */
    if (w->stage == STAGE_RECHECK) {
      complete(w, APPLY_DONE, NULL);
      continue;
    }
    w->cause = j;
    complete(w, APPLY_SKIPPED,
             td_asprintf("waits for %s, which did not apply", j->a->res->id));
  }
}

static const json_t *lookup(const char *id, size_t idlen, void *arg)
{
  struct job *j = arg;
  struct job *dep = find_id(j->run, j->plan, id, idlen);

  if (!dep)
    return NULL;
  return dep->outputs ? dep->outputs
                      : json_object_get(dep->a->observed, "outputs");
}

static char *fmt_error(const struct provider_result *res)
{
  char buf[1024];

  /* A read that found nothing says no more than that. */
  snprintf(buf, sizeof(buf), "%s%s%s", provider_status_name(res->status),
           res->message ? ": " : "", res->message ? res->message : "");
  return td_strdup(buf);
}

static bool is_healthy(const json_t *outputs)
{
  return json_is_true(json_object_get(outputs, "healthy"));
}

static void on_timer(uv_timer_t *t)
{
  struct job *j = container_of(t, struct job_timer, t)->j;

  ready_push(j->run, (size_t)(j - j->run->jobs));
  pump(j->run);
}

static void arm(struct job *j, uint64_t ms)
{
  if (!j->timer) {
    j->timer = td_calloc(1, sizeof(*j->timer));
    j->timer->j = j;
    uv_timer_init(j->run->loop, &j->timer->t);
  }
  uv_timer_start(&j->timer->t, on_timer, ms, 0);
}

static void on_result(struct provider *p, const struct provider_result *res,
                      void *arg)
{
  struct job *j = arg;
  struct apply_run *run = j->run;
  const struct apply_opts *o = &run->opts;
  static const struct provider_result gone = {PROVIDER_OK, NULL, NULL};

  (void)p;
  if (!j->uncounted)
    run->running--;
  if (res->status == PROVIDER_OK && res->observed) {
    json_t *outputs = json_object_get(res->observed, "outputs");

    /* The outputs only (the rest is not needed), copied: they are small,
     * and what the provider made on its worker thread goes back now, not
     * at the end of a run of hundreds of thousands of jobs. */
    json_decref(j->outputs);
    j->outputs = json_object_size(outputs) ? json_deep_copy(outputs)
                                           : json_incref(run->no_outputs);
  }
  if (res->status == PROVIDER_OK && j->stage == STAGE_WRITE)
    j->written = true;
  if (res->status == PROVIDER_NOT_FOUND && j->stage == STAGE_REMOVE)
    res = &gone; /* deleting what is already gone succeeds */

  if (j->stage == STAGE_HEALTH) {
    if (res->status == PROVIDER_OK &&
        is_healthy(json_object_get(res->observed, "outputs"))) {
      complete(j, APPLY_DONE, NULL);
    } else if (uv_now(run->loop) >= j->health_deadline) {
      char buf[256];

      snprintf(buf, sizeof(buf), "not healthy within %llu ms",
               (unsigned long long)o->health_timeout_ms);
      complete(j, APPLY_FAILED, td_strdup(buf));
    } else {
      arm(j, o->health_poll_ms);
    }
    return;
  }
  if (res->status == PROVIDER_TRANSIENT && ++j->attempt < o->max_attempts) {
    uint64_t delay = o->backoff_ms << (j->attempt - 1);

    if (delay > o->backoff_max_ms)
      delay = o->backoff_max_ms;
    /* Full jitter on half the delay: retries of many jobs spread out. */
    delay = delay / 2 + td_rand(&run->rng) % (delay / 2 + 1);
    arm(j, delay);
    return;
  }
  if (res->status != PROVIDER_OK) {
    complete(j, APPLY_FAILED, fmt_error(res));
    return;
  }
  if (j->stage == STAGE_REMOVE && j->a->kind == PLAN_REPLACE) {
    j->stage = STAGE_WRITE;
    j->attempt = 0;
    ready_push(run, (size_t)(j - run->jobs));
    pump(run);
    return;
  }
  if (j->stage == STAGE_WRITE && j->a->res->type == RTYPE_SERVICE &&
      !is_healthy(j->outputs)) {
    j->stage = STAGE_HEALTH;
    j->health_at = uv_now(run->loop);
    j->health_deadline = j->health_at + o->health_timeout_ms;
    arm(j, o->health_poll_ms);
    return;
  }
  complete(j, APPLY_DONE, NULL);
}

/*
 * A no-op's spec resolved again with what its dependencies returned: true
 * when it now differs from what the provider holds, and the job becomes
 * an update (start() resolves it again to send it); false when nothing
 * is to be written.
 */
static bool recheck(struct job *j)
{
  struct diff_result d;
  bool unknown, changed;
  json_t *applied;

  applied = diff_resolve(resource_spec_load(j->a->res), lookup, j, &unknown);
  if (unknown) {
    json_decref(applied);
    return false;
  }
  diff_specs(j->a->res->type, applied, json_object_get(j->a->observed, "spec"),
             &d);
  changed = d.n > 0 && !d.replace;
  if (changed) {
    char fields[256] = "";
    size_t used = 0;

    for (size_t i = 0; i < d.n && used < sizeof(fields) - 1; i++)
      used += (size_t)snprintf(fields + used, sizeof(fields) - used, "%s%s",
                               i ? ", " : "", d.v[i].attr);
    free(j->refreshed);
    j->refreshed = td_strdup(fields);
    j->stage = STAGE_WRITE;
  }
  diff_result_release(&d);
  json_decref(applied);
  return changed;
}

static void start(struct job *j)
{
  struct apply_run *run = j->run;
  const struct plan_action *a = j->a;
  struct provider *p =
      run->opts.provider(a->res->provider, run->opts.provider_arg);

  if (j->stage == STAGE_RECHECK && !recheck(j)) {
    complete(j, APPLY_DONE, NULL);
    return;
  }

  if (!p) {
    char buf[256];

    snprintf(buf, sizeof(buf), "provider instance '%s' is not configured",
             a->res->provider);
    complete(j, APPLY_FAILED, td_strdup(buf));
    return;
  }
  j->state = APPLY_RUNNING;
  if (!j->begun)
    j->started_at = uv_now(run->loop);
  j->begun = true;
  j->uncounted = p->batches;
  if (!j->uncounted)
    run->running++;
  /* A provider may read the resource's spec while the job runs. */
  resource_spec_load(a->res);
  if (j->stage == STAGE_REMOVE) {
    provider_remove(p, a->res, on_result, j);
  } else if (j->stage == STAGE_HEALTH) {
    provider_read(p, a->res, on_result, j);
  } else {
    bool unknown;
    /* The provider keeps what it needs of it (a copy, or a reference). */
    json_t *applied = diff_resolve(a->res->spec, lookup, j, &unknown);

    if (unknown) {
      /* Never send a provider a null where a dependency's output goes. */
      json_decref(applied);
      if (!j->uncounted)
        run->running--;
      complete(j, APPLY_FAILED,
               td_strdup("a referenced output is not known: a dependency "
                         "does not exist"));
      return;
    }
    if (a->kind == PLAN_UPDATE || a->kind == PLAN_NOOP)
      provider_update(p, a->res, applied, on_result, j);
    else
      provider_create(p, a->res, applied, on_result, j);
    json_decref(applied);
  }
}

/* Starts job j taken from a ready queue, unless the run was cancelled
 * before it began. */
static void take(struct apply_run *run, size_t j)
{
  if (!run->jobs[j].begun && run->opts.cancel &&
      atomic_load(run->opts.cancel)) {
    if (run->jobs[j].stage == STAGE_RECHECK) {
      complete(&run->jobs[j], APPLY_DONE, NULL);
      return;
    }
    run->jobs[j].cancelled = true;
    complete(&run->jobs[j], APPLY_SKIPPED,
             td_strdup("not started: tenantd is shutting down"));
    return;
  }
  start(&run->jobs[j]);
}

static void pump(struct apply_run *run)
{
  while (run->batched_len > 0) {
    size_t j = run->batched[run->batched_head];

    run->batched_head = (run->batched_head + 1) % run->njobs;
    run->batched_len--;
    take(run, j);
  }
  while (run->running < run->opts.concurrency && run->ready_len > 0) {
    size_t j = run->ready[run->ready_head];

    run->ready_head = (run->ready_head + 1) % run->njobs;
    run->ready_len--;
    take(run, j);
  }
}

static int rank(const struct resource *r)
{
  static const int ranks[RTYPE_COUNT] = {
      [RTYPE_DNS_RECORD] = 0, [RTYPE_ROUTE] = 1,  [RTYPE_SERVICE] = 2,
      [RTYPE_DATABASE] = 3,   [RTYPE_BUCKET] = 3, [RTYPE_NETWORK] = 4,
  };

  return ranks[r->type];
}

static void add_wait(struct apply_run *run, size_t waiter, struct job *on)
{
  struct job *w = &run->jobs[waiter];

  if (w->stage == STAGE_RECHECK && on->state != APPLY_PENDING)
    return; /* nothing it refers to changes in this run */
  if (on->state == APPLY_FAILED || on->state == APPLY_SKIPPED) {
    if (w->state == APPLY_PENDING) {
      w->state = APPLY_SKIPPED;
      w->cause = on;
      w->message =
          td_asprintf("waits for %s, which did not apply", on->a->res->id);
    }
    return;
  }
  if (on->state == APPLY_HELD && !on->a->observed &&
      on->a->kind != PLAN_DELETE) {
    /* Held and absent: what waits for it cannot work either. */
    if (w->state == APPLY_PENDING) {
      w->state = APPLY_SKIPPED;
      w->cause = on;
      w->message = td_asprintf("waits for %s, which is held", on->a->res->id);
    }
    return;
  }
  if (on->state != APPLY_PENDING)
    return;
  on->dependents =
      td_realloc(on->dependents, (on->ndependents + 1) * sizeof(size_t));
  on->dependents[on->ndependents++] = waiter;
  w->waiting++;
}

static int by_res_id(const void *a, const void *b, void *arg)
{
  const struct apply_run *run = arg;
  const struct job *x = &run->jobs[*(const size_t *)a];
  const struct job *y = &run->jobs[*(const size_t *)b];

  return strcmp(x->a->res->id, y->a->res->id);
}

static int by_plan_addr(const void *a, const void *b, void *arg)
{
  const struct apply_run *run = arg;
  uintptr_t x = (uintptr_t)run->plans[*(const size_t *)a]->v;
  uintptr_t y = (uintptr_t)run->plans[*(const size_t *)b]->v;

  return x < y ? -1 : x > y;
}

static enum apply_state initial_state(const struct tenant_plan *tp,
                                      const struct plan_action *a,
                                      char **message)
{
  *message = NULL;
  if (a->kind == PLAN_CONFLICT) {
    *message = td_strdup(a->note ? a->note : "conflict");
    return APPLY_FAILED;
  }
  if (a->held || a->needs_approval || tp->suspended || a->kind == PLAN_STALLED)
    return APPLY_HELD;
  if (a->kind == PLAN_NOOP || a->kind == PLAN_ORPHAN ||
      (a->kind == PLAN_DELETE && !a->observed))
    return APPLY_DONE;
  return APPLY_PENDING;
}

/* The run with its options settled and its per-plan indexes sized. */
static struct apply_run *run_new(uv_loop_t *loop,
                                 struct tenant_plan *const *plans,
                                 size_t nplans, const struct apply_opts *opts,
                                 apply_done_fn done, void *arg)
{
  struct apply_run *run = td_calloc(1, sizeof(*run));

  run->loop = loop;
  run->opts = *opts;
  if (run->opts.concurrency == 0)
    run->opts.concurrency = 1;
  if (run->opts.max_attempts == 0)
    run->opts.max_attempts = 1;
  run->done = done;
  run->done_arg = arg;
  run->plans = plans;
  run->nplans = nplans;
  run->rng = opts->seed ? opts->seed : 0x9E3779B97F4A7C15ULL;
  run->plan_base = td_calloc(nplans ? nplans : 1, sizeof(size_t));
  run->by_id = td_calloc(nplans ? nplans : 1, sizeof(size_t *));
  for (size_t p = 0; p < nplans; p++) {
    run->plan_base[p] = run->njobs;
    run->njobs += plans[p]->n;
  }
  run->by_addr = td_malloc((nplans ? nplans : 1) * sizeof(size_t));
  for (size_t p = 0; p < nplans; p++)
    run->by_addr[p] = p;
  if (nplans > 1)
    qsort_r(run->by_addr, nplans, sizeof(size_t), by_plan_addr, run);
  run->jobs = td_calloc(run->njobs ? run->njobs : 1, sizeof(*run->jobs));
  run->no_outputs = json_object();
  run->ready = td_calloc(run->njobs ? run->njobs : 1, sizeof(size_t));
  run->batched = td_calloc(run->njobs ? run->njobs : 1, sizeof(size_t));
  return run;
}

/* A job per action of plan p, in its initial state, indexed by id. */
static void make_jobs(struct apply_run *run, size_t p)
{
  const struct tenant_plan *tp = run->plans[p];

  run->by_id[p] = td_malloc((tp->n ? tp->n : 1) * sizeof(size_t));
  for (size_t k = 0; k < tp->n; k++) {
    struct job *j = &run->jobs[run->plan_base[p] + k];

    j->run = run;
    j->plan = p;
    j->tp = tp;
    j->a = &tp->v[k];
    j->state = initial_state(tp, j->a, &j->message);
    j->stage = (j->a->kind == PLAN_DELETE || j->a->kind == PLAN_REPLACE)
                   ? STAGE_REMOVE
                   : STAGE_WRITE;
    run->by_id[p][k] = run->plan_base[p] + k;
  }
  if (tp->n > 1)
    qsort_r(run->by_id[p], tp->n, sizeof(size_t), by_res_id, run);
}

static bool has_ref(const json_t *v)
{
  const char *id, *output, *key;
  size_t idlen, i;
  json_t *item;

  if (resource_ref_parse(v, &id, &idlen, &output) == 0)
    return true;
  json_object_foreach((json_t *)v, key, item) if (has_ref(item)) return true;
  json_array_foreach(v, i, item) if (has_ref(item)) return true;
  return false;
}

/* The no-ops of plan p that refer to outputs of a dependency this run
 * writes: they wait for it, then are checked again (STAGE_RECHECK). */
static void mark_rechecks(struct apply_run *run, size_t p)
{
  const struct tenant_plan *tp = run->plans[p];

  for (size_t k = 0; k < tp->n; k++) {
    struct job *j = &run->jobs[run->plan_base[p] + k];
    const struct resource *r = j->a->res;

    if (j->a->kind != PLAN_NOOP || j->state != APPLY_DONE || !j->a->observed)
      continue;
    for (size_t d = 0; d < r->ndeps; d++) {
      struct job *dep = find_id(run, p, r->deps[d], strlen(r->deps[d]));

      if (dep && dep->state == APPLY_PENDING && dep->a->kind != PLAN_DELETE) {
        /* The spec, if stashed, only for the few that wait on a write. */
        if (has_ref(resource_spec_load(j->a->res))) {
          j->state = APPLY_PENDING;
          j->stage = STAGE_RECHECK;
        }
        resource_spec_unload(j->a->res);
        break;
      }
    }
  }
}

/*
 * What each job of plan p waits for: a delete, the deletes of what
 * depends on it; anything else, its dependencies.  Plans list
 * dependencies before dependents, so a prerequisite's initial state is
 * settled when its dependents look at it.
 */
static void wire_waits(struct apply_run *run, size_t p)
{
  const struct tenant_plan *tp = run->plans[p];

  for (size_t k = 0; k < tp->n; k++) {
    size_t ji = run->plan_base[p] + k;
    const struct resource *r = run->jobs[ji].a->res;

    if (run->jobs[ji].a->kind == PLAN_DELETE) {
      for (size_t o = 0; o < tp->n; o++) {
        struct job *other = &run->jobs[run->plan_base[p] + o];

        if (other->a->kind == PLAN_DELETE && rank(other->a->res) < rank(r))
          add_wait(run, ji, other);
      }
      continue;
    }
    for (size_t d = 0; d < r->ndeps; d++) {
      struct job *dep = find_id(run, p, r->deps[d], strlen(r->deps[d]));

      if (dep && dep->a->kind != PLAN_DELETE)
        add_wait(run, ji, dep);
    }
  }
}

int apply_start(struct apply_run **out, uv_loop_t *loop,
                struct tenant_plan *const *plans, size_t nplans,
                const struct apply_opts *opts, apply_done_fn done, void *arg)
{
  struct apply_run *run;

  assert(opts->version == APPLY_OPTS_VERSION && opts->provider);
  run = run_new(loop, plans, nplans, opts, done, arg);
  for (size_t p = 0; p < nplans; p++)
    make_jobs(run, p);
  for (size_t p = 0; p < nplans; p++)
    mark_rechecks(run, p);
  for (size_t p = 0; p < nplans; p++)
    wire_waits(run, p);
  for (size_t i = 0; i < run->njobs; i++) {
    if (run->jobs[i].state != APPLY_PENDING)
      run->finished++;
    else if (run->jobs[i].waiting == 0)
      ready_push(run, i);
  }
  run->started_at = uv_now(loop);
  uv_timer_init(loop, &run->kick);
  run->kick.data = run;
  uv_timer_start(&run->kick, on_kick, 0, 0);
  *out = run;
  return 0;
}

enum apply_state apply_action_state(const struct apply_run *run,
                                    const struct plan_action *a)
{
  const struct job *j = job_of(run, a);

  return j ? j->state : APPLY_PENDING;
}

const char *apply_action_message(const struct apply_run *run,
                                 const struct plan_action *a)
{
  const struct job *j = job_of(run, a);

  return j ? j->message : NULL;
}

void apply_run_free(struct apply_run *run)
{
  if (!run)
    return;
  for (size_t i = 0; i < run->njobs; i++) {
    free(run->jobs[i].dependents);
    free(run->jobs[i].message);
    free(run->jobs[i].refreshed);
    json_decref(run->jobs[i].outputs);
  }
  for (size_t p = 0; p < run->nplans; p++)
    free(run->by_id[p]);
  json_decref(run->no_outputs);
  free(run->by_id);
  free(run->by_addr);
  free(run->plan_base);
  free(run->jobs);
  free(run->ready);
  free(run->batched);
  free(run);
}

bool apply_action_written(const struct apply_run *run,
                          const struct plan_action *a)
{
  const struct job *j = job_of(run, a);

  return j && j->written;
}

bool apply_action_cancelled(const struct apply_run *run,
                            const struct plan_action *a)
{
  const struct job *j = job_of(run, a);

  return j && j->cancelled;
}

const struct plan_action *apply_action_cause(const struct apply_run *run,
                                             const struct plan_action *a)
{
  const struct job *j = job_of(run, a);

  return j && j->state == APPLY_SKIPPED && j->cause ? j->cause->a : NULL;
}

const char *apply_action_refreshed(const struct apply_run *run,
                                   const struct plan_action *a)
{
  const struct job *j = job_of(run, a);

  return j ? j->refreshed : NULL;
}

bool apply_action_timing(const struct apply_run *run,
                         const struct plan_action *a, struct apply_timing *out)
{
  const struct job *j = job_of(run, a);

  memset(out, 0, sizeof(*out));
  if (!j || !j->begun || (j->state != APPLY_DONE && j->state != APPLY_FAILED))
    return false;
  out->start_ms = j->started_at - run->started_at;
  out->took_ms = j->ended_at - j->started_at;
  out->health_ms = j->health_at ? j->ended_at - j->health_at : 0;
  return true;
}
