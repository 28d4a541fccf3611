#include "base/compat.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "server/daemon.h"
#include "server/costs.h"
#include "server/daemon_internal.h"
#include "base/error.h"
#include "git/gitpass.h"
#include "server/httpd.h"
#include "server/log.h"
#include "manifest/manifest.h"
#include "server/metrics.h"
#include "server/mgmt.h"
#include "git/statusview.h"
#include "model/naming.h"

/* One pass on the worker thread.  Inputs are copies, outputs are read by
 * the loop thread only after the thread has been joined. */
struct pass {
  uv_thread_t thread;
  struct daemon *d;
  /* in */
  struct source_opts so;
  char *url, *branch, *status_branch, *cache_dir, *ssh_key, *known_hosts,
      *signing_key;
  json_t *providers;
  unsigned concurrency;
  uint64_t health_timeout_ms;
  struct strset batch;
  bool fetch, all, push;
  bool load; /* not a pass: daemon__load(), before the first one */
  bool rows; /* not a pass: daemon__rows() for `batch` */
  char seen[SOURCE_ID_LEN];
  int seen_approved;
  /* trust: copies of the config's keys and gated environments */
  struct verify_keys verify, approval;
  char *verify_keys, *approval_keys;
  struct strset gated;
  /* out */
  struct daemon_load ld;
  int rc;
  char error[1024];
  struct gitpass_result res;
  struct reconcile_report report;
  char *log; /* the pass's diagnostics, one per line */
  size_t loglen;
  double seconds;
  struct costs *costs; /* of the manifests it leaves loaded (fleet.c) */
};

/* How often suppressed warnings are counted in the log, at most. */
#define LOG_FLUSH_MS 10000

static void start_stop(struct daemon *d, const char *why);

/* `ms` +- `percent`%. */
static uint64_t jitter(struct daemon *d, uint64_t ms, unsigned percent)
{
  uint64_t span = ms * percent / 100;

  if (span == 0)
    return ms;
  return ms - span + td_rand(&d->rng) % (2 * span + 1);
}

/* ---- the tenant table ---- */

static int tenant_cmp(const void *key, const void *elem)
{
  return strcmp(key, (*(struct dtenant *const *)elem)->name);
}

/* The slot of `name` in the table, or NULL (bsearch may not be handed
 * the NULL table of a daemon that has no tenant yet). */
static struct dtenant **tenant_slot(struct daemon *d, const char *name)
{
  if (d->nt == 0)
    return NULL;
  return bsearch(name, d->t, d->nt, sizeof(*d->t), tenant_cmp);
}

struct dtenant *daemon__tenant_find(struct daemon *d, const char *name)
{
  struct dtenant **p = tenant_slot(d, name);

  return p ? *p : NULL;
}

static struct dtenant *tenant_get(struct daemon *d, const char *name)
{
  struct dtenant *t = daemon__tenant_find(d, name);
  size_t at = 0;

  if (t)
    return t;
  /* Passes report tenants sorted, so appending is the common case. */
  at = d->nt;
  while (at > 0 && strcmp(d->t[at - 1]->name, name) > 0)
    at--;
  if (d->nt == d->talloc) {
    d->talloc = d->talloc ? 2 * d->talloc : 64;
    d->t = td_realloc(d->t, d->talloc * sizeof(*d->t));
  }
  memmove(&d->t[at + 1], &d->t[at], (d->nt - at) * sizeof(*d->t));
  t = td_calloc(1, sizeof(*t));
  t->name = td_strdup(name);
  d->t[at] = t;
  d->nt++;
  daemon__tally(d, t, 1);
  return t;
}

static void tenant_free(struct dtenant *t)
{
  free(t->name);
  json_decref(t->row);
  free(t->detail);
  free(t);
}

/* A tenant whose file and resources are gone. */
static void tenant_drop(struct daemon *d, const char *name)
{
  struct dtenant **p = tenant_slot(d, name);
  size_t at;

  if (!p)
    return;
  if ((*p)->row_todo)
    d->rows_todo--;
  daemon__tally(d, *p, -1);
  at = (size_t)(p - d->t);
  /* A queued entry is skipped when popped; free it then. */
  if ((*p)->queued) {
    free((*p)->name);
    (*p)->name = NULL;
  } else {
    tenant_free(*p);
  }
  memmove(&d->t[at], &d->t[at + 1], (d->nt - at - 1) * sizeof(*d->t));
  d->nt--;
}

/* ---- the work queue ---- */

void daemon__enqueue(struct daemon *d, struct dtenant *t)
{
  if (t->inflight)
    t->again = true;
  if (t->queued || t->inflight)
    return;
  if (d->qlen == d->qalloc) {
    size_t n = d->qalloc ? 2 * d->qalloc : 64;
    struct dtenant **q = td_malloc(n * sizeof(*q));

    for (size_t i = 0; i < d->qlen; i++)
      q[i] = d->q[(d->qhead + i) % d->qalloc];
    free(d->q);
    d->q = q;
    d->qhead = 0;
    d->qalloc = n;
  }
  d->q[(d->qhead + d->qlen++) % d->qalloc] = t;
  t->queued = true;
}

/* The next live tenant off the head, or NULL. */
static struct dtenant *dequeue(struct daemon *d)
{
  while (d->qlen > 0) {
    struct dtenant *t = d->q[d->qhead];

    d->qhead = (d->qhead + 1) % d->qalloc;
    d->qlen--;
    t->queued = false;
    if (t->name)
      return t;
    tenant_free(t); /* dropped while queued */
  }
  return NULL;
}

/* ---- passes (worker thread) ---- */

static void load_main(struct pass *p)
{
  uint64_t t0 = uv_hrtime();

  p->ld.so = &p->so;
  p->ld.providers = p->providers;
  p->ld.fetch = p->fetch;
  p->ld.push = p->push;
  p->ld.model = &p->d->model;
  /* The manifests are loaded again: the next pass prices them. */
  p->d->costs_source[0] = '\0';
  p->rc = daemon__load(&p->ld);
  if (p->rc < 0)
    snprintf(p->error, sizeof(p->error), "%s", p->ld.error);
  p->seconds = (double)(uv_hrtime() - t0) / 1e9;
  uv_async_send(&p->d->pass_done);
}

static void rows_main(struct pass *p)
{
  uint64_t t0 = uv_hrtime();

  p->ld.so = &p->so;
  p->rc = daemon__rows(&p->ld, &p->batch);
  if (p->rc < 0)
    snprintf(p->error, sizeof(p->error), "%s", p->ld.error);
  p->seconds = (double)(uv_hrtime() - t0) / 1e9;
  uv_async_send(&p->d->pass_done);
}

static void pass_main(void *arg)
{
  struct pass *p = arg;
  struct gitpass_opts go = {.version = GITPASS_OPTS_VERSION};
  struct source *src = NULL;
  FILE *err = open_memstream(&p->log, &p->loglen);
  FILE *out;
  uint64_t t0 = uv_hrtime();

  if (p->load || p->rows) {
    fclose(err);
    if (p->load)
      load_main(p);
    else
      rows_main(p);
    return;
  }
  out = fopen("/dev/null", "w");
  if (!err || !out)
    abort();
  go.rec = (struct reconcile_opts)RECONCILE_OPTS_INIT;
  go.rec.providers = p->providers;
  go.rec.concurrency = p->concurrency;
  go.rec.health_timeout_ms = p->health_timeout_ms;
  go.rec.print_diags = true;
  go.rec.out = out;
  go.rec.err = err;
  go.rec.cancel = &p->d->cancel;
  go.rec.model = &p->d->model;
  /* Nobody reads a refused pass's plans here: its outcome is logged. */
  go.rec.quiet_plans = true;
  go.all = p->all;
  go.allow_delete = -1;
  go.extra = &p->batch;
  go.no_retry = true;
  go.no_fetch = !p->fetch;
  go.no_push = !p->push;
  go.seen = p->seen[0] ? p->seen : NULL;
  go.seen_approved = p->seen_approved;
  go.report = &p->report;
  go.verify = p->verify_keys ? &p->verify : NULL;
  go.approval = p->approval_keys ? &p->approval : NULL;
  go.gated = p->approval_keys ? &p->gated : NULL;
  p->rc = source_open(&src, &p->so);
  if (p->rc == 0)
    p->rc = gitpass_apply(src, &go, &p->res);
  if (p->rc < 0)
    snprintf(p->error, sizeof(p->error), "%s", td_error_last());
  source_close(src);
  /* This thread owns the manifests until the pass ends.  The same source
   * gives the same manifests, and so the same costs: no new snapshot. */
  if (p->rc < 0 || strcmp(p->res.source, p->d->costs_source) != 0) {
    p->costs = costs_next(p->d->costs_base, p->d->model);
    costs_free(p->d->costs_base);
    p->d->costs_base = costs_ref(p->costs);
    snprintf(p->d->costs_source, sizeof(p->d->costs_source), "%s",
             p->rc < 0 || !p->costs ? "" : p->res.source);
  }
  fclose(err);
  fclose(out);
  p->seconds = (double)(uv_hrtime() - t0) / 1e9;
  uv_async_send(&p->d->pass_done);
}

static char *dup_or_null(const char *s)
{
  return s ? td_strdup(s) : NULL;
}

static void pass_free(struct pass *p)
{
  free(p->url);
  free(p->branch);
  free(p->status_branch);
  free(p->cache_dir);
  free(p->ssh_key);
  free(p->known_hosts);
  free(p->signing_key);
  free(p->verify_keys);
  free(p->approval_keys);
  strset_release(&p->gated);
  json_decref(p->providers);
  strset_release(&p->batch);
  daemon__load_release(&p->ld);
  reconcile_report_release(&p->report);
  free(p->log);
  costs_free(p->costs);
  free(p);
}

/* The config's signing keys, copied for the pass's thread. */
static void pass_trust(struct pass *p, const struct config *c)
{
  if (c->source.verify.set) {
    p->verify_keys = td_strdup(c->source.verify.keys);
    p->verify.format = (enum verify_format)c->source.verify.format;
    p->verify.keys = p->verify_keys;
  }
  if (c->approval.keys.set) {
    p->approval_keys = td_strdup(c->approval.keys.keys);
    p->approval.format = (enum verify_format)c->approval.keys.format;
    p->approval.keys = p->approval_keys;
    for (size_t i = 0; i < c->approval.nenvironments; i++)
      strset_add(&p->gated, c->approval.environments[i]);
  }
  strset_seal(&p->gated);
}

/* Statuses the API has no row of yet: read a chunk at a time, so a
 * webhook waits for at most a chunk. */
#define ROWS_CHUNK 200

static void rows_chunk(struct daemon *d, struct strset *names)
{
  for (size_t i = 0; i < d->nt && names->n < ROWS_CHUNK; i++)
    if (d->t[i]->row_todo && !d->t[i]->inflight)
      strset_add(names, d->t[i]->name);
}

static void pass_start(struct daemon *d)
{
  const struct config *c = d->cfg;
  struct pass *p = td_calloc(1, sizeof(*p));
  struct dtenant *t;

  p->d = d;
  p->batch = (struct strset)STRSET_INIT;
  p->gated = (struct strset)STRSET_INIT;
  pass_trust(p, c);
  p->url = td_strdup(c->source.url);
  p->branch = td_strdup(c->source.branch);
  p->status_branch = td_strdup(c->status.branch);
  p->cache_dir = td_strdup(c->cache_dir);
  p->ssh_key = dup_or_null(c->source.ssh_key);
  p->so = (struct source_opts)SOURCE_OPTS_INIT;
  p->so.url = p->url;
  p->so.branch = p->branch;
  p->so.status_branch = p->status_branch;
  p->so.cache_dir = p->cache_dir;
  p->so.ssh_key = p->ssh_key;
  p->known_hosts = dup_or_null(c->source.known_hosts);
  p->so.known_hosts = p->known_hosts;
  p->so.allow_insecure = c->source.allow_insecure;
  p->so.timeout_ms = c->source.timeout_ms;
  p->so.fetch_approvals = p->approval_keys != NULL;
  p->signing_key = dup_or_null(c->status.signing_key);
  p->so.signing_key = p->signing_key;
  p->providers = json_deep_copy(c->providers);
  p->concurrency = c->reconcile.concurrency;
  p->health_timeout_ms = c->reconcile.health_timeout_ms;
  p->push = c->status.push;
  p->fetch = d->want_fetch;
  p->load = !d->loaded;
  /* Statuses are read for the API when there is nothing else to do. */
  p->rows = !p->load && !d->want_fetch && !d->want_all && d->qlen == 0;
  p->all = !p->load && !p->rows && (d->want_all || (p->fetch && d->stale));
  memcpy(p->seen, d->seen, sizeof(p->seen));
  p->seen_approved = d->seen_approved;
  if (!p->load && !p->rows)
    d->want_fetch = d->want_all = false;
  if (p->rows)
    rows_chunk(d, &p->batch);
  while (!p->load && !p->rows && p->batch.n < c->reconcile.batch &&
         (t = dequeue(d)) != NULL) {
    t->inflight = true;
    strset_add(&p->batch, t->name);
  }
  strset_seal(&p->batch);
  d->pass = p;
  log_at(LOG_LEVEL_DEBUG, p->load ? "load started" : "pass started",
         LOG_B("fetch", p->fetch), LOG_B("all", p->all),
         LOG_U("queued", p->batch.n));
  if (uv_thread_create(&p->thread, pass_main, p) != 0) {
    log_at(LOG_LEVEL_ERROR, "cannot start a pass thread");
    abort();
  }
}

/* ---- pass results (loop thread) ---- */

static bool backs_off(enum tenant_result r)
{
  return r == RESULT_FAILED || r == RESULT_STALLED;
}

/* base * 2^failures, at most max, +-20%. */
static uint64_t backoff(struct daemon *d, unsigned failures)
{
  uint64_t delay = d->cfg->reconcile.backoff_base_ms;

  for (unsigned i = 0; i < failures && delay < d->cfg->reconcile.backoff_max_ms;
       i++)
    delay *= 2;
  if (delay > d->cfg->reconcile.backoff_max_ms)
    delay = d->cfg->reconcile.backoff_max_ms;
  return jitter(d, delay, 20);
}

static void tenant_set(struct daemon *d, struct dtenant *t,
                       const struct reconcile_outcome *o)
{
  uint64_t now = uv_now(d->loop);
  json_t *detail;

  t->result = o->result;
  t->passes++;
  t->checked_at = now;
  if (t->row_todo) {
    t->row_todo = false;
    d->rows_todo--;
  }
  t->next_resync = now + jitter(d, d->cfg->reconcile.resync_ms, 10);
  if (backs_off(o->result)) {
    t->retry_at = now + backoff(d, t->failures++);
  } else {
    t->failures = 0;
    t->retry_at = 0;
  }
  json_decref(t->row);
  if (o->unwritable) {
    /* Its stored status could not be read: it stays as it is, and so
     * does what the API shows of it. */
    t->row = statusview_row(o->tenant, NULL, "its status could not be read");
    return;
  }
  t->row = statusview_row(o->tenant, o->status, NULL);
  detail = statusview_detail(o->status);
  /* A status whose text is not UTF-8 cannot be JSON: the tenant still has
   * its row, saying so, rather than vanishing from the list. */
  if (!t->row)
    t->row = statusview_row(o->tenant, NULL, "its status is not valid UTF-8");
  free(t->detail);
  t->detail =
      detail ? json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(detail);
  memset(t->by_type, 0, sizeof(t->by_type));
  for (size_t i = 0; i < o->status->ninventory; i++)
    for (int k = 0; k < RTYPE_COUNT; k++)
      if (strcmp(o->status->inventory[i].type, rtype_names[k]) == 0)
        t->by_type[k]++;
}

static void tenant_update(struct daemon *d, struct dtenant *t,
                          const struct reconcile_outcome *o)
{
  daemon__tally(d, t, -1);
  tenant_set(d, t, o);
  daemon__tally(d, t, 1);
}

/* Each tenant the load found, with its row for the API and its next
 * resync: spread evenly over one period, so drift checks come at a steady
 * pace rather than all at once. */
static void install_tenants(struct daemon *d, struct daemon_load *ld,
                            uint64_t now)
{
  uint64_t resync = d->cfg->reconcile.resync_ms;

  for (size_t i = 0; i < ld->n; i++) {
    struct loaded_tenant *l = &ld->v[i];
    struct dtenant *t = tenant_get(d, l->name);

    daemon__tally(d, t, -1);
    json_decref(t->row);
    free(t->detail);
    t->row = l->row;
    t->detail = l->detail;
    l->row = NULL;
    l->detail = NULL;
    memcpy(t->by_type, l->by_type, sizeof(t->by_type));
    t->result = l->result;
    t->row_todo = !t->row;
    d->rows_todo += t->row_todo;
    daemon__tally(d, t, 1);
    t->next_resync = now + resync * (i + 1) / (ld->n + 1);
    if (l->retry)
      daemon__enqueue(d, t);
  }
  /* What changed while nobody watched is passed now. */
  for (size_t i = 0; !ld->all && i < ld->changed.n; i++) {
    const char *name = ld->changed.v[i];

    if (naming_is_label(name))
      daemon__enqueue(d, tenant_get(d, name));
  }
  d->want_all |= ld->all;
}

/* A chunk of statuses read: each tenant not passed meanwhile gets its
 * row, detail and result from its status. */
static void rows_done(struct daemon *d, struct pass *p)
{
  if (p->rc < 0) {
    log_at(LOG_LEVEL_WARN, "statuses not read", LOG_S("error", p->error));
    d->hold_until = uv_now(d->loop) + backoff(d, d->pass_failures++);
  }
  for (size_t i = 0; i < p->ld.n; i++) {
    struct loaded_tenant *l = &p->ld.v[i];
    struct dtenant *t = daemon__tenant_find(d, l->name);

    if (!t || !t->row_todo)
      continue;
    daemon__tally(d, t, -1);
    json_decref(t->row);
    t->row = l->row;
    t->detail = l->detail;
    l->row = NULL;
    l->detail = NULL;
    memcpy(t->by_type, l->by_type, sizeof(t->by_type));
    t->result = l->result;
    t->row_todo = false;
    d->rows_todo--;
    daemon__tally(d, t, 1);
  }
  /* A status that vanished meanwhile leaves nothing to read. */
  for (size_t i = 0; p->rc == 0 && i < p->batch.n; i++) {
    struct dtenant *t = daemon__tenant_find(d, p->batch.v[i]);

    if (t && t->row_todo) {
      t->row_todo = false;
      d->rows_todo--;
    }
  }
  if (d->rows_todo == 0)
    log_at(LOG_LEVEL_INFO, "statuses read", LOG_U("tenants", d->nt));
  daemon__recount(d);
  pass_free(p);
  if (d->stopping) {
    start_stop(d, NULL);
    return;
  }
  daemon__dispatch(d);
}

/* The load at start is done: ready, or backing off to try again. */
static void load_done(struct daemon *d, struct pass *p)
{
  struct daemon_load *ld = &p->ld;
  uint64_t now = uv_now(d->loop);

  metric_add(d->m_passes, p->rc < 0 ? "error" : "ok", 1);
  if (p->fetch && p->rc == 0) {
    metric_observe(d->m_fetch_seconds, NULL, ld->fetch_seconds);
    if (ld->fetched)
      metric_set(d->m_fetch_last_ok, NULL, (double)time(NULL));
    else
      metric_add(d->m_fetch_errors, NULL, 1);
  }
  if (p->rc < 0) {
    snprintf(d->last_error, sizeof(d->last_error), "%s", p->error);
    log_at(LOG_LEVEL_ERROR, "pass failed", LOG_S("error", p->error));
    d->hold_until = now + backoff(d, d->pass_failures++);
  } else {
    d->pass_failures = 0;
    d->loaded = true;
    d->want_load = false;
    install_tenants(d, ld, now);
    if (ld->push_error[0])
      log_at(LOG_LEVEL_WARN, "status not pushed",
             LOG_S("error", ld->push_error));
    if (ld->fetched || !p->fetch) {
      d->want_fetch = false;
      memcpy(d->seen, ld->head, sizeof(d->seen));
      d->ready = true;
      d->last_error[0] = '\0';
      log_at(LOG_LEVEL_INFO, "ready", LOG_S("source", ld->head),
             LOG_U("tenants", d->nt),
             LOG_SECS("seconds", (double)(now - d->started_at) / 1e3));
    } else {
      /* The mirror's last tip is loaded, but it may be stale: a pass
       * fetches again, and everyone is passed once one succeeds. */
      d->stale = true;
      snprintf(d->last_error, sizeof(d->last_error), "%s",
               "the source could not be fetched");
      log_at(LOG_LEVEL_WARN, "source error", LOG_S("error", ld->fetch_error));
    }
    daemon__recount(d);
  }
  pass_free(p);
  if (d->stopping) {
    start_stop(d, NULL);
    return;
  }
  daemon__dispatch(d);
}

static void on_pass_done(uv_async_t *a)
{
  struct daemon *d = a->data;
  struct pass *p = d->pass;
  const struct gitpass_result *r;
  uint64_t now = uv_now(d->loop);

  if (!p)
    return;
  r = &p->res;
  uv_thread_join(&p->thread);
  d->pass = NULL;
  if (p->load) {
    load_done(d, p);
    return;
  }
  if (p->rows) {
    rows_done(d, p);
    return;
  }
  daemon__log_problems(p->log, p->loglen);
  metric_observe(d->m_pass_seconds, NULL, p->seconds);
  metric_add(d->m_passes, p->rc < 0 ? "error" : "ok", 1);
  if (p->fetch) {
    metric_observe(d->m_fetch_seconds, NULL, r->fetch_seconds);
    if (r->fetched)
      metric_set(d->m_fetch_last_ok, NULL, (double)time(NULL));
    else
      metric_add(d->m_fetch_errors, NULL, 1);
  }
  if (p->rc < 0) {
    /* Nothing ran: ask again for what this pass was to do, after a
     * backoff of its own so a broken mirror is not hammered. */
    snprintf(d->last_error, sizeof(d->last_error), "%s", p->error);
    log_at(LOG_LEVEL_ERROR, "pass failed", LOG_S("error", p->error));
    d->want_all |= p->all;
    d->want_fetch |= p->fetch;
    d->hold_until = now + backoff(d, d->pass_failures++);
  } else if (!r->source_error) {
    d->pass_failures = 0;
    /* A commit not pushed yet: the next poll must not be skipped. */
    if (r->pushed || !p->push) {
      memcpy(d->seen, r->source, sizeof(d->seen));
      d->seen_approved = r->approved;
    }
    if (r->untrusted && !r->skipped) {
      metric_add(d->m_untrusted, NULL, 1);
      log_at(LOG_LEVEL_WARN, "source untrusted: every tenant held",
             LOG_S("source", r->source), LOG_S("reason", r->verdict));
    }

    if (p->all)
      d->stale = false;
    if (!d->ready && (r->fetched || !p->fetch)) {
      d->ready = true;
      log_at(LOG_LEVEL_INFO, "ready", LOG_S("source", r->source));
    }
    d->last_error[0] = '\0';
  } else {
    d->pass_failures = 0;
    d->stale = true;
    snprintf(d->last_error, sizeof(d->last_error), "%s",
             "the source could not be fetched");
  }

  for (size_t i = 0; i < p->report.n; i++) {
    const struct reconcile_outcome *o = &p->report.v[i];

    if (!o->status && !o->unwritable) {
      log_at(LOG_LEVEL_INFO, "tenant removed", LOG_S("tenant", o->tenant));
      tenant_drop(d, o->tenant);
      fleet__tenant_drop(d, o->tenant);
      continue;
    }
    tenant_update(d, tenant_get(d, o->tenant), o);
    fleet__tenant_update(d, daemon__tenant_find(d, o->tenant), o);
    metric_add(d->m_reconciles, tenant_result_names[o->result], 1);
    metric_add(
        d->m_drift_detected, NULL,
        (double)(o->count[OUT_DRIFT_DETECTED] + o->count[OUT_DRIFT_CORRECTED]));
    metric_add(d->m_drift_corrected, NULL,
               (double)o->count[OUT_DRIFT_CORRECTED]);
    daemon__log_outcome(p->res.source, o);
  }
  /* Batch tenants the pass did not report: it failed (back off), or
   * they have nothing left (next resync). */
  for (size_t i = 0; i < p->batch.n; i++) {
    struct dtenant *t = daemon__tenant_find(d, p->batch.v[i]);

    if (!t)
      continue;
    if (p->rc < 0)
      t->retry_at = now + backoff(d, t->failures++);
    if (t->next_resync <= now)
      t->next_resync = now + jitter(d, d->cfg->reconcile.resync_ms, 10);
  }
  for (size_t i = 0; i < d->nt; i++) {
    struct dtenant *t = d->t[i];

    if (!t->inflight)
      continue;
    t->inflight = false;
    if (t->again) {
      t->again = false;
      daemon__enqueue(d, t);
    }
  }
  daemon__recount(d);
  fleet__pass_done(d, p->costs, r, p->rc, p->fetch, p->seconds);
  p->costs = NULL;
  if (!r->skipped || p->rc < 0)
    daemon__log_pass_done(&p->res, p->rc, p->fetch, p->seconds);
  pass_free(p);
  if (d->stopping) {
    daemon__write_done(d);
    return;
  }
  daemon__dispatch(d);
}

/* ---- scheduling ---- */

void daemon__dispatch(struct daemon *d)
{
  if (d->pass || d->stopping)
    return;
  /* A write's plan reads the providers as a pass does: it goes first.
   * Answering a write can start a pass already (its tenant's). */
  if (mgmt_dispatch(d->mgmt) || d->pass || uv_now(d->loop) < d->hold_until)
    return;
  if (!d->want_load && !d->want_fetch && !d->want_all && d->qlen == 0 &&
      d->rows_todo == 0)
    return;
  pass_start(d);
}

/* A tenth of the resync period, within [50 ms, 1 s]. */
static uint64_t tick_ms(const struct daemon *d)
{
  uint64_t every = d->cfg->reconcile.resync_ms / 10;

  if (every > 1000)
    every = 1000;
  if (every < 50)
    every = 50;
  return every;
}

/*
 * The share of tenants checked for drift (passed) within the last resync
 * period: it climbs from 0 to 1 over the first period after start, and
 * stays near 1 while the resync keeps up.  The first climb is logged by
 * tenths, then once whole.
 */
static void resync_progress(struct daemon *d, size_t checked, uint64_t now)
{
  double share = d->nt ? (double)checked / (double)d->nt : 1;
  unsigned step = (unsigned)(share * 10);

  metric_set(d->m_resync, NULL, share);
  if (d->resync_done || !d->loaded)
    return;
  if (step > d->resync_steps) {
    d->resync_steps = step;
    if (checked < d->nt)
      log_at(LOG_LEVEL_INFO, "resync progress", LOG_U("checked", checked),
             LOG_U("tenants", d->nt));
  }
  if (checked == d->nt) {
    d->resync_done = true;
    log_at(LOG_LEVEL_INFO, "resync done", LOG_U("tenants", d->nt),
           LOG_SECS("seconds", (double)(now - d->started_at) / 1e3));
  }
}

static void on_tick(uv_timer_t *timer)
{
  struct daemon *d = timer->data;
  uint64_t now = uv_now(d->loop);
  /* A tenant is due again resync +-10% after its pass, and ticks come
   * this often: checked within the period, with room for both. */
  uint64_t period = d->cfg->reconcile.resync_ms +
                    d->cfg->reconcile.resync_ms / 10 + tick_ms(d);
  size_t checked = 0;

  for (size_t i = 0; i < d->nt; i++) {
    struct dtenant *t = d->t[i];
    uint64_t due = t->retry_at ? t->retry_at : t->next_resync;

    if (!t->queued && !t->inflight && due && now >= due)
      daemon__enqueue(d, t);
    checked += t->checked_at && now - t->checked_at <= period;
  }
  resync_progress(d, checked, now);
  metric_set(d->m_queue, NULL, (double)d->qlen);
  /* A flood of warnings that stopped still says how big it was. */
  if (now >= d->log_flushed_at + LOG_FLUSH_MS) {
    log_flush_suppressed();
    d->log_flushed_at = now;
  }
  daemon__dispatch(d);
}

static void arm_poll(struct daemon *d);

static void on_poll(uv_timer_t *timer)
{
  struct daemon *d = timer->data;

  d->want_fetch = true;
  daemon__dispatch(d);
  arm_poll(d);
}

static void arm_poll(struct daemon *d)
{
  uv_timer_start(&d->poll, on_poll, jitter(d, d->cfg->source.interval_ms, 10),
                 0);
}

static void arm_tick(struct daemon *d)
{
  uint64_t every = tick_ms(d);

  uv_timer_start(&d->tick, on_tick, every, every);
}

/* ---- signals, reload, shutdown ---- */

static void on_closed(uv_handle_t *h)
{
  (void)h;
}

static void on_http_closed(void *arg)
{
  (void)arg;
}

static void close_all(struct daemon *d)
{
  for (size_t i = 0; i < ARRAY_SIZE(d->sig); i++)
    uv_close((uv_handle_t *)&d->sig[i], on_closed);
  uv_close((uv_handle_t *)&d->poll, on_closed);
  uv_close((uv_handle_t *)&d->tick, on_closed);
  uv_close((uv_handle_t *)&d->deadline, on_closed);
  uv_close((uv_handle_t *)&d->pass_done, on_closed);
  fleet__close(d);
  daemon__watch_close(d);
  if (d->http) {
    httpd_close(d->http, on_http_closed, NULL);
    d->http = NULL;
  }
}

static void on_deadline(uv_timer_t *timer)
{
  struct daemon *d = timer->data;

  log_at(LOG_LEVEL_ERROR, "shutdown timed out with a pass in flight; exiting",
         LOG_U("timeout_ms", d->cfg->reconcile.shutdown_timeout_ms));
  _exit(1);
}

/* A pass or an API write under way: a stop waits for it. */
static bool busy(const struct daemon *d)
{
  return d->pass || mgmt_busy(d->mgmt);
}

void daemon__write_done(struct daemon *d)
{
  if (d->stopping && !busy(d))
    start_stop(d, NULL);
}

/* Begins (why set) or completes (why NULL, nothing under way) a
 * shutdown. */
static void start_stop(struct daemon *d, const char *why)
{
  if (why) {
    if (d->stopping) {
      log_at(LOG_LEVEL_ERROR, "second signal: exiting now",
             LOG_S("signal", why));
      _exit(1);
    }
    d->stopping = true;
    atomic_store(&d->cancel, true);
    uv_timer_stop(&d->poll);
    uv_timer_stop(&d->tick);
    log_at(LOG_LEVEL_INFO, "stopping: finishing the pass in flight",
           LOG_S("signal", why));
    mgmt_stop(d->mgmt);
    if (busy(d)) {
      uv_timer_start(&d->deadline, on_deadline,
                     d->cfg->reconcile.shutdown_timeout_ms, 0);
      return;
    }
  }
  log_at(LOG_LEVEL_INFO, "stopped");
  close_all(d);
}

static void log_diags(const struct diag_list *dl)
{
  for (size_t i = 0; i < dl->n; i++) {
    char where[4200];

    if (dl->v[i].line)
      snprintf(where, sizeof(where), "%s:%u:%u", dl->v[i].path, dl->v[i].line,
               dl->v[i].col);
    else
      snprintf(where, sizeof(where), "%s", dl->v[i].path);
    log_at(LOG_LEVEL_ERROR, "config problem", LOG_S("at", where),
           LOG_S("problem", dl->v[i].msg));
  }
}

static bool str_differs(const char *a, const char *b)
{
  return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static void reload(struct daemon *d, int log_override)
{
  struct diag_list dl = DIAG_LIST_INIT;
  struct config *c, *old = d->cfg;
  bool repoll;

  if (d->stopping)
    return;
  if (config_load(old->path, &c, &dl) < 0) {
    diag_sort(&dl);
    log_diags(&dl);
    log_at(LOG_LEVEL_ERROR, "reload failed: keeping the running config");
    diag_list_release(&dl);
    return;
  }
  diag_list_release(&dl);
  /* What the mirror and the listener were opened with stays. */
  if (str_differs(c->source.url, old->source.url) ||
      str_differs(c->source.branch, old->source.branch) ||
      str_differs(c->cache_dir, old->cache_dir) ||
      str_differs(c->status.branch, old->status.branch) ||
      str_differs(c->http.host, old->http.host) ||
      c->http.port != old->http.port)
    log_at(LOG_LEVEL_WARN, "source.url, source.branch, cacheDir, status.branch "
                           "and http.listen "
                           "change on restart only; keeping the running ones");
#define KEEP(field)        \
  do {                     \
    char *tmp_ = c->field; \
    c->field = old->field; \
    old->field = tmp_;     \
  } while (0)
  KEEP(source.url);
  KEEP(source.branch);
  KEEP(cache_dir);
  KEEP(status.branch);
  KEEP(http.host);
#undef KEEP
  c->http.port = old->http.port;
  repoll = c->source.interval_ms != old->source.interval_ms;
  config_free(old);
  d->cfg = c;
  fleet__reload(d);
  daemon__watch_close(d);
  daemon__watch_open(d);
  /* The level was checked at start; the environment does not change. */
  (void)log_setup(log_override >= 0 ? (enum log_format)log_override
                                    : c->log_format,
                  stderr);
  if (repoll)
    arm_poll(d);
  arm_tick(d);
  log_at(LOG_LEVEL_INFO, "config reloaded", LOG_S("path", c->path));
}

static int log_override_value = -1;

static void on_signal(uv_signal_t *s, int signum)
{
  struct daemon *d = s->data;

  if (signum == SIGHUP) {
    reload(d, log_override_value);
    return;
  }
  start_stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- setup ---- */

/*
 * Every connection, reserved health-check slots included, is a file
 * descriptor, as are the provider sockets, the Git mirror and the state
 * files.  A common soft limit of 1,024 would make accept() fail under a
 * flood of clients, health checks with it: take what the hard limit
 * allows, up to 65,536.
 */
static void raise_fd_limit(void)
{
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
  setrlimit(RLIMIT_NOFILE, &rl);
}

int daemon_run(const char *config_path, int log_format)
{
  struct diag_list dl = DIAG_LIST_INIT;
  /* Health checks stay answerable however many connections others hold. */
  static const char *const health_paths[] = {"/healthz", "/readyz", NULL};
  struct httpd_limits limits = HTTPD_LIMITS_DEFAULT;
  static const int signums[] = {SIGTERM, SIGINT, SIGHUP};
  struct daemon dd, *d = &dd;
  uv_loop_t loop;

  memset(d, 0, sizeof(*d));
  limits.reserved_paths = health_paths;
  /* The daemon holds secrets in memory: no core file, no ptrace by other
   * processes of the same user. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  raise_fd_limit();
  log_override_value = log_format;
  source_library_hold();
  if (config_load(config_path, &d->cfg, &dl) < 0) {
    diag_sort(&dl);
    diag_print_text(&dl, stderr);
    diag_list_release(&dl);
    source_library_release();
    return 1;
  }
  diag_list_release(&dl);
  if (log_setup(log_format >= 0 ? (enum log_format)log_format
                                : d->cfg->log_format,
                stderr) < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    config_free(d->cfg);
    source_library_release();
    return 1;
  }
  uv_loop_init(&loop);
  d->loop = &loop;
  d->rng = (uint64_t)uv_hrtime() | 1;
  d->seen_approved = -1;
  atomic_init(&d->cancel, false);
  daemon__metrics_setup(d);
  d->mgmt = mgmt_new(d);
  if (httpd_start(&d->http, &loop, d->cfg->http.host, d->cfg->http.port,
                  &limits, api__handle, d) < 0) {
    log_at(LOG_LEVEL_ERROR, "cannot serve HTTP",
           LOG_S("error", td_error_last()));
    mgmt_free(d->mgmt);
    metrics_free(d->m);
    config_free(d->cfg);
    uv_loop_close(&loop);
    source_library_release();
    return 1;
  }
  fleet__setup(d);
  daemon__watch_open(d);
  for (size_t i = 0; i < ARRAY_SIZE(signums); i++) {
    uv_signal_init(&loop, &d->sig[i]);
    d->sig[i].data = d;
    uv_signal_start(&d->sig[i], on_signal, signums[i]);
  }
  uv_timer_init(&loop, &d->poll);
  uv_timer_init(&loop, &d->tick);
  uv_timer_init(&loop, &d->deadline);
  d->poll.data = d->tick.data = d->deadline.data = d;
  uv_async_init(&loop, &d->pass_done, on_pass_done);
  d->pass_done.data = d;
  log_at(LOG_LEVEL_INFO, "tenantd started", LOG_S("version", TD_VERSION),
         LOG_S("config", d->cfg->path), LOG_S("listen", d->cfg->http.host),
         LOG_I("port", httpd_port(d->http)),
         LOG_B("webhooks", d->cfg->http.webhook_secret != NULL));
  /* First the load: manifests and the status branch, then ready; drift
   * is found by the resync, spread over its period. */
  d->want_load = d->want_fetch = true;
  d->started_at = uv_now(&loop);
  daemon__dispatch(d);
  arm_poll(d);
  arm_tick(d);
  uv_run(&loop, UV_RUN_DEFAULT);

  while (dequeue(d)) /* frees tenants dropped while queued */
    ;
  free(d->q);
  for (size_t i = 0; i < d->nt; i++)
    tenant_free(d->t[i]);
  free(d->t);
  manifest_repo_free(d->model);
  costs_free(d->costs_base);
  mgmt_free(d->mgmt);
  fleet__free(d);
  daemon__watch_free(d);
  metrics_free(d->m);
  config_free(d->cfg);
  if (uv_loop_close(&loop) != 0)
    log_at(LOG_LEVEL_WARN, "handles left open at exit");
  log_release();
  source_library_release();
  return d->exit_code;
}
