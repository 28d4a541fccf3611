/*
 * fleet.c - the daemon's view of the whole fleet: what it costs, the
 * platform's status and capacity, the per-tenant and per-provider
 * metrics, the events of each tenant since start, notifications of state
 * changes, and the status page.  daemon.c calls in at its hooks (setup,
 * each tenant of a pass, the pass's end, reload, shutdown); api.c routes
 * to the handlers.  Loop thread only, like the daemon.
 *
 * Everything kept per tenant is dropped when the tenant is, so metrics
 * and memory stay bounded by the tenants there are: one condition series
 * per tenant and condition type, one cost series per priced tenant, at
 * most FLEET_EVENTS_MAX events.  A provider instance is the label
 * "provider", never "instance", which Prometheus gives the scrape target.
 */
#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "base/error.h"
#include "git/giturl.h"
#include "git/statusview.h"
#include "model/naming.h"
#include "providers/common/callstats.h"
#include "server/costs.h"
#include "server/daemon_internal.h"
#include "server/log.h"
#include "server/notify.h"
#include "server/page.h"
#include "server/procstats.h"

/* Events kept per tenant, newest last. */
#define FLEET_EVENTS_MAX 20

struct fleet {
  struct notify *notify;
  struct costs *costs;
  /* name -> {"state", "conditions": {type: "True"|"False"},
   *          "providers": {instance: {type: n}}, "events": [...]} */
  json_t *tenants;
  /* {instance: resources} over every tenant's "providers", kept as
   * tenants change so a pass's end does not add them all up again. */
  json_t *instances;
  json_t *last_pass; /* the answer's "lastPass", or NULL */
  char fetch_at[32], fetch_ok_at[32];
  bool fetch_failed;
  struct metric *m_condition, *m_cost, *m_calls, *m_call_errors,
      *m_call_seconds, *m_notifications, *m_provider_resources,
      *m_provider_capacity, *m_cpu, *m_rss, *m_vm, *m_fds, *m_max_fds, *m_start;
};

/* ---- answers ---- */

static void respond(struct httpd_response *resp, int status, json_t *j)
{
  /* Twelve digits: 9.99 reads 9.99, not 9.9900000000000002. */
  char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                     JSON_REAL_PRECISION(12))
                 : NULL;

  json_decref(j);
  if (!text) {
    httpd_respond(resp, 500, NULL, "cannot encode the answer\n");
    return;
  }
  resp->status = status;
  resp->content_type = "application/json";
  resp->body = text;
  resp->body_len = strlen(text);
}

static void now_text(char buf[32])
{
  status_now(buf);
}

/* ---- setup ---- */

void fleet__setup(struct daemon *d)
{
  struct fleet *f = td_calloc(1, sizeof(*f));
  struct metrics *m = d->m;

  d->fleet = f;
  f->tenants = json_object();
  f->instances = json_object();
  f->m_condition = metrics_register(
      m, METRIC_GAUGE, "tenantd_tenant_condition",
      "Each tenant's status conditions: 1 for the status it has.",
      "tenant,type,status", NULL, 0);
  f->m_cost = metrics_register(
      m, METRIC_GAUGE, "tenantd_tenant_monthly_cost",
      "What each tenant costs a month by the tier catalog, in its currency.",
      "tenant", NULL, 0);
  f->m_calls =
      metrics_register(m, METRIC_COUNTER, "tenantd_provider_calls_total",
                       "Provider calls, by provider instance and operation.",
                       "provider,operation", NULL, 0);
  f->m_call_errors = metrics_register(
      m, METRIC_COUNTER, "tenantd_provider_call_errors_total",
      "Provider calls that failed, by provider instance, operation and "
      "error class.",
      "provider,operation,class", NULL, 0);
  f->m_call_seconds = metrics_register(
      m, METRIC_HISTOGRAM, "tenantd_provider_call_duration_seconds",
      "How long provider calls took, by provider instance and operation.",
      "provider,operation", callstats_bounds, CALLSTATS_NBOUNDS);
  f->m_provider_resources =
      metrics_register(m, METRIC_GAUGE, "tenantd_provider_resources",
                       "Resources in the inventories, by provider instance.",
                       "provider", NULL, 0);
  f->m_provider_capacity = metrics_register(
      m, METRIC_GAUGE, "tenantd_provider_capacity",
      "The resources a provider instance should hold at most (its "
      "configured capacity).",
      "provider", NULL, 0);
  f->m_notifications = metrics_register(
      m, METRIC_COUNTER, "tenantd_notifications_total",
      "Notifications of tenants' states, by target and result.",
      "target,result", NULL, 0);
  f->m_cpu = metrics_register(m, METRIC_COUNTER, "process_cpu_seconds_total",
                              "Total user and system CPU time spent in "
                              "seconds.",
                              NULL, NULL, 0);
  f->m_rss = metrics_register(m, METRIC_GAUGE, "process_resident_memory_bytes",
                              "Resident memory size in bytes.", NULL, NULL, 0);
  f->m_vm = metrics_register(m, METRIC_GAUGE, "process_virtual_memory_bytes",
                             "Virtual memory size in bytes.", NULL, NULL, 0);
  f->m_fds =
      metrics_register(m, METRIC_GAUGE, "process_open_fds",
                       "Number of open file descriptors.", NULL, NULL, 0);
  f->m_max_fds = metrics_register(m, METRIC_GAUGE, "process_max_fds",
                                  "Maximum number of open file descriptors.",
                                  NULL, NULL, 0);
  f->m_start = metrics_register(
      m, METRIC_GAUGE, "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.", NULL, NULL, 0);
  f->notify =
      notify_new(d->loop, d->cfg->notify, d->cfg->nnotify, f->m_notifications);
}

void fleet__reload(struct daemon *d)
{
  notify_configure(d->fleet->notify, d->cfg->notify, d->cfg->nnotify);
}

static void on_notify_closed(void *arg)
{
  (void)arg;
}

void fleet__close(struct daemon *d)
{
  if (!d->fleet || !d->fleet->notify)
    return;
  notify_close(d->fleet->notify, on_notify_closed, NULL);
  d->fleet->notify = NULL;
}

void fleet__free(struct daemon *d)
{
  struct fleet *f = d->fleet;

  if (!f)
    return;
  costs_free(f->costs);
  json_decref(f->tenants);
  json_decref(f->instances);
  json_decref(f->last_pass);
  free(f);
  d->fleet = NULL;
}

/* ---- tenants ---- */

static void add_event(json_t *rec, const char *time, const char *text)
{
  json_t *events = json_object_get(rec, "events");

  json_array_append_new(events,
                        json_pack("{s:s, s:s}", "time", time, "text", text));
  while (json_array_size(events) > FLEET_EVENTS_MAX)
    json_array_remove(events, 0);
}

/* One series per condition type: the status it has now. */
static void set_conditions(struct fleet *f, const char *tenant, json_t *rec,
                           const struct tenant_status *st)
{
  json_t *conds = json_object_get(rec, "conditions");

  for (int c = 0; c < STATUS_COND_COUNT; c++) {
    const char *type = status_cond_names[c];
    const char *now = st->cond[c].status ? "True" : "False";
    const char *was = json_string_value(json_object_get(conds, type));

    if (!STATUS_COND_LISTED(st, c))
      continue;
    if (was && strcmp(was, now) == 0)
      continue;
    if (was)
      metric_remove_v(f->m_condition, (const char *[]){tenant, type, was});
    metric_set_v(f->m_condition, (const char *[]){tenant, type, now}, 1);
    json_object_set_new(conds, type, json_string(now));
  }
}

/* The inventory counted by provider instance and type. */
static json_t *by_provider(const struct tenant_status *st)
{
  json_t *p = json_object();

  for (size_t i = 0; i < st->ninventory; i++) {
    const struct status_item *it = &st->inventory[i];
    json_t *inst = json_object_get(p, it->provider), *n;

    if (!inst) {
      inst = json_object();
      json_object_set_new(p, it->provider, inst);
    }
    n = json_object_get(inst, it->type);
    json_object_set_new(inst, it->type,
                        json_integer(json_integer_value(n) + 1));
  }
  return p;
}

/* Adds a tenant's resources (its record's "providers") to the totals by
 * instance, or with sign < 0 takes them away; an instance no tenant has
 * a resource on leaves them. */
static void count_instances(struct fleet *f, json_t *providers, int sign)
{
  const char *iname, *type;
  json_t *inst, *n;

  json_object_foreach(providers, iname, inst)
  {
    json_int_t sum = 0, was;

    json_object_foreach(inst, type, n)
    {
      sum += json_integer_value(n);
    }
    was = json_integer_value(json_object_get(f->instances, iname));
    sum = sign < 0 ? was - sum : was + sum;
    if (sum > 0)
      json_object_set_new(f->instances, iname, json_integer(sum));
    else
      json_object_del(f->instances, iname);
  }
}

static json_t *tenant_record(struct fleet *f, const char *name)
{
  json_t *rec = json_object_get(f->tenants, name);

  if (!rec) {
    rec = json_pack("{s:n, s:{}, s:{}, s:[]}", "state", "conditions",
                    "providers", "events");
    json_object_set_new(f->tenants, name, rec);
  }
  return rec;
}

/* Its state changed: an event, and the notifications it calls for. */
static void state_changed(struct fleet *f, const struct dtenant *t,
                          const struct reconcile_outcome *o, json_t *rec,
                          const char *state, const char *time)
{
  const char *was = json_string_value(json_object_get(rec, "state"));
  char previous[64] = "", text[160];
  struct notify_event ev = {0};

  if (was)
    snprintf(previous, sizeof(previous), "%s", was);
  snprintf(text, sizeof(text), "state %s%s%s%s", state, was ? " (was " : "",
           previous, was ? ")" : "");
  add_event(rec, time, text);
  json_object_set_new(rec, "state", json_string(state));
  ev.tenant = o->tenant;
  ev.state = state;
  ev.previous = was ? previous : NULL;
  ev.reason = json_string_value(json_object_get(t->row, "message"));
  ev.commit = o->status && o->status->source &&
                      strncmp(o->status->source, "dir:", 4) != 0
                  ? o->status->source
                  : NULL;
  notify_event(f->notify, &ev);
}

void fleet__tenant_update(struct daemon *d, const struct dtenant *t,
                          const struct reconcile_outcome *o)
{
  struct fleet *f = d->fleet;
  json_t *rec = tenant_record(f, o->tenant);
  enum tenant_state s =
      o->unwritable ? TENANT_UNKNOWN : statusview_state(o->status);
  const char *state = tenant_state_names[s];
  const char *was = json_string_value(json_object_get(rec, "state"));
  char time[32];

  now_text(time);
  for (size_t e = 0; e < o->nevents; e++)
    add_event(rec, time, o->events[e]);
  if (!was || strcmp(was, state) != 0)
    state_changed(f, t, o, rec, state, time);
  if (o->unwritable || !o->status)
    return;
  set_conditions(f, o->tenant, rec, o->status);
  count_instances(f, json_object_get(rec, "providers"), -1);
  json_object_set_new(rec, "providers", by_provider(o->status));
  count_instances(f, json_object_get(rec, "providers"), 1);
}

void fleet__tenant_drop(struct daemon *d, const char *name)
{
  struct fleet *f = d->fleet;
  json_t *conds =
      json_object_get(json_object_get(f->tenants, name), "conditions");
  const char *type;
  json_t *status;

  json_object_foreach(conds, type, status)
  {
    metric_remove_v(f->m_condition,
                    (const char *[]){name, type, json_string_value(status)});
  }
  count_instances(
      f, json_object_get(json_object_get(f->tenants, name), "providers"), -1);
  json_object_del(f->tenants, name);
  notify_forget(f->notify, name);
}

/* ---- the end of a pass ---- */

/* Both snapshots are sorted by name: a merge of the two touches only
 * the series of the tenants whose cost came, went or moved. */
static void update_costs(struct fleet *f, struct costs *costs)
{
  struct costs *old = f->costs;
  size_t i = 0, j = 0, nold = old ? old->n : 0;

  while (i < nold || j < costs->n) {
    const struct costs_tenant *a = i < nold ? &old->v[i] : NULL;
    const struct costs_tenant *b = j < costs->n ? &costs->v[j] : NULL;
    int c = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);

    if (c <= 0 && a->priced && (c < 0 || !b->priced))
      metric_remove(f->m_cost, a->name);
    if (c >= 0 && b->priced &&
        (c > 0 || !a->priced || a->monthly != b->monthly))
      metric_set(f->m_cost, b->name, (double)b->monthly / 100);
    i += c <= 0;
    j += c >= 0;
  }
  costs_free(old);
  f->costs = costs;
}

/* {instance: resources} over every tenant's inventory; a new object. */
static json_t *resources_by_instance(const struct fleet *f, json_t **by_type)
{
  json_t *out = json_object(), *rec, *inst, *n;
  const char *name, *iname, *type;

  if (by_type)
    *by_type = json_object();
  json_object_foreach(f->tenants, name, rec)
  {
    json_object_foreach(json_object_get(rec, "providers"), iname, inst)
    {
      json_t *sum = json_object_get(out, iname);

      if (!sum) {
        sum = json_pack("{s:i, s:{}}", "total", 0, "byType");
        json_object_set_new(out, iname, sum);
      }
      json_object_foreach(inst, type, n)
      {
        json_t *bt = json_object_get(sum, "byType");
        json_int_t v = json_integer_value(n);

        json_object_set_new(
            sum, "total",
            json_integer(json_integer_value(json_object_get(sum, "total")) +
                         v));
        json_object_set_new(
            bt, type,
            json_integer(json_integer_value(json_object_get(bt, type)) + v));
        if (by_type)
          json_object_set_new(
              *by_type, type,
              json_integer(json_integer_value(json_object_get(*by_type, type)) +
                           v));
      }
    }
  }
  return out;
}

static void update_providers(struct daemon *d)
{
  struct fleet *f = d->fleet;
  json_t *cfg, *sum;
  const char *name;

  metric_clear(f->m_provider_resources);
  metric_clear(f->m_provider_capacity);
  json_object_foreach(d->cfg->providers, name, cfg)
  {
    json_t *cap = json_object_get(cfg, "capacity");

    if (cap)
      metric_set(f->m_provider_capacity, name, (double)json_integer_value(cap));
    metric_set(f->m_provider_resources, name, 0);
  }
  json_object_foreach(f->instances, name, sum)
  {
    metric_set(f->m_provider_resources, name, (double)json_integer_value(sum));
  }
}

void fleet__pass_done(struct daemon *d, struct costs *costs,
                      const struct gitpass_result *r, int rc, bool fetch,
                      double seconds)
{
  struct fleet *f = d->fleet;
  char time[32];

  now_text(time);
  if (costs)
    update_costs(f, costs);
  if (fetch) {
    snprintf(f->fetch_at, sizeof(f->fetch_at), "%s", time);
    f->fetch_failed = !r->fetched;
    if (r->fetched)
      snprintf(f->fetch_ok_at, sizeof(f->fetch_ok_at), "%s", time);
  }
  if (rc < 0 || !r->skipped) {
    json_decref(f->last_pass);
    f->last_pass = json_pack(
        "{s:s, s:f, s:s, s:s?, s:s?, s:I, s:I, s:I, s:I, s:b, s:b}",
        "finishedAt", time, "seconds", seconds, "result",
        rc < 0                            ? "error"
        : r->sum.failed || r->sum.refused ? "failed"
                                          : "ok",
        "source", r->source[0] ? r->source : NULL, "statusCommit",
        r->status_commit[0] ? r->status_commit : NULL, "tenants",
        (json_int_t)r->selected, "changes", (json_int_t)r->sum.changes,
        "applied", (json_int_t)r->sum.applied, "failed",
        (json_int_t)r->sum.failed, "pushed", r->pushed, "fetched", r->fetched);
  }
  update_providers(d);
}

/* ---- metrics read at each scrape ---- */

static void call_metrics(struct fleet *f)
{
  struct callstats_entry *v;
  size_t n = callstats_snapshot(&v);

  for (size_t i = 0; i < n; i++) {
    const char *labels[] = {v[i].instance, callstats_op_names[v[i].op], NULL};
    uint64_t inbuckets = 0;

    metric_store_v(f->m_calls, labels, (double)v[i].calls);
    for (int c = 0; c < CALLSTATS_CLASSES; c++) {
      labels[2] = provider_status_name(PROVIDER_TRANSIENT - c);
      if (v[i].errors[c])
        metric_store_v(f->m_call_errors, labels, (double)v[i].errors[c]);
    }
    for (size_t b = 0; b < CALLSTATS_NBOUNDS; b++)
      inbuckets += v[i].buckets[b];
    metric_histogram_store_v(f->m_call_seconds, labels, v[i].buckets,
                             v[i].calls > inbuckets ? v[i].calls : inbuckets,
                             v[i].seconds);
  }
  callstats_snapshot_free(v, n);
}

void fleet__metrics(struct daemon *d)
{
  struct fleet *f = d->fleet;
  struct procstats ps;

  call_metrics(f);
  if (procstats_read(&ps) < 0) {
    log_at(LOG_LEVEL_WARN, "process figures unavailable",
           LOG_S("error", td_error_last()));
    return;
  }
  metric_store_v(f->m_cpu, NULL, ps.cpu_seconds);
  metric_set(f->m_rss, NULL, ps.resident_bytes);
  metric_set(f->m_vm, NULL, ps.virtual_bytes);
  metric_set(f->m_fds, NULL, ps.open_fds);
  metric_set(f->m_max_fds, NULL, ps.max_fds);
  metric_set(f->m_start, NULL, ps.start_time);
}

/* ---- GET /api/v1/costs ---- */

void fleet__get_costs(struct daemon *d, const struct httpd_request *req,
                      const char *rest, struct httpd_response *resp)
{
  (void)req, (void)rest;
  respond(resp, 200, costs_json(d->fleet->costs));
}

/* ---- GET /api/v1/infrastructure/status ---- */

/* Every state, with how many tenants are in it: those with a status, and
 * those only in the manifests (AwaitingFirstReconcile). */
static json_t *state_counts(const struct fleet *f, size_t *total)
{
  json_t *states = json_object(), *rec;
  const char *name;

  for (int s = 0; s < TENANT_STATE_COUNT; s++)
    json_object_set_new(states, tenant_state_names[s], json_integer(0));
  *total = 0;
  json_object_foreach(f->tenants, name, rec)
  {
    const char *st = json_string_value(json_object_get(rec, "state"));
    json_t *n = st ? json_object_get(states, st) : NULL;

    if (n) {
      json_integer_set(n, json_integer_value(n) + 1);
      ++*total;
    }
  }
  for (size_t i = 0; f->costs && i < f->costs->n; i++)
    if (!json_object_get(f->tenants, f->costs->v[i].name)) {
      json_t *n = json_object_get(
          states, tenant_state_names[TENANT_AWAITING_FIRST_RECONCILE]);

      json_integer_set(n, json_integer_value(n) + 1);
      ++*total;
    }
  return states;
}

static json_t *source_json(const struct daemon *d)
{
  const struct fleet *f = d->fleet;
  struct giturl u;
  json_t *j;

  giturl_parse(&u, d->cfg->source.url);
  j = json_pack("{s:s, s:s, s:b, s:s?, s:s?, s:s?, s:s?}", "url", u.shown,
                "branch", d->cfg->source.branch, "healthy",
                !f->fetch_failed && !d->stale, "commit",
                d->seen[0] ? d->seen : NULL, "lastFetchAt",
                f->fetch_at[0] ? f->fetch_at : NULL, "lastSuccessAt",
                f->fetch_ok_at[0] ? f->fetch_ok_at : NULL, "error",
                d->last_error[0] ? d->last_error : NULL);
  giturl_release(&u);
  return j;
}

void fleet__get_status(struct daemon *d, const struct httpd_request *req,
                       const char *rest, struct httpd_response *resp)
{
  struct fleet *f = d->fleet;
  json_t *by_type, *by_instance = resources_by_instance(f, &by_type), *sum;
  json_int_t total = 0;
  const char *name;
  size_t tenants;
  json_t *states = state_counts(f, &tenants);

  (void)req, (void)rest;
  json_object_foreach(by_instance, name, sum)
  {
    total += json_integer_value(json_object_get(sum, "total"));
  }
  respond(resp, 200,
          json_pack("{s:b, s:I, s:o, s:{s:I, s:o, s:o}, s:O?, s:o, s:I}",
                    "ready", d->ready && !d->stopping, "tenants",
                    (json_int_t)tenants, "states", states, "resources", "total",
                    total, "byType", by_type, "byProvider", by_instance,
                    "lastPass", f->last_pass, "source", source_json(d),
                    "queued", (json_int_t)d->qlen));
}

/* ---- GET /api/v1/infrastructure/capacity ---- */

static json_t *capacity_entry(const char *name, const json_t *cfg,
                              json_int_t used)
{
  json_t *cap = json_object_get(cfg, "capacity");
  json_int_t limit = json_integer_value(cap);
  json_t *e = json_pack("{s:s, s:s?, s:I}", "instance", name, "type",
                        json_string_value(json_object_get(cfg, "type")),
                        "resources", used);

  json_object_set_new(e, "capacity", cap ? json_integer(limit) : json_null());
  json_object_set_new(e, "available",
                      cap ? json_integer(limit - used) : json_null());
  json_object_set_new(e, "utilization",
                      cap ? json_real((double)used / (double)limit)
                          : json_null());
  json_object_set_new(e, "overCapacity", json_boolean(cap && used > limit));
  return e;
}

void fleet__get_capacity(struct daemon *d, const struct httpd_request *req,
                         const char *rest, struct httpd_response *resp)
{
  json_t *sums = resources_by_instance(d->fleet, NULL), *list = json_array();
  json_t *cfg, *sum;
  const char *name;

  (void)req, (void)rest;
  json_object_foreach(d->cfg->providers, name, cfg)
  {
    sum = json_object_get(sums, name);
    json_array_append_new(
        list,
        capacity_entry(name, cfg,
                       json_integer_value(json_object_get(sum, "total"))));
  }
  /* Resources at an instance the config no longer names. */
  json_object_foreach(sums, name, sum)
  {
    if (!json_object_get(d->cfg->providers, name))
      json_array_append_new(
          list,
          capacity_entry(name, NULL,
                         json_integer_value(json_object_get(sum, "total"))));
  }
  json_decref(sums);
  respond(resp, 200, json_pack("{s:o}", "providers", list));
}

/* ---- GET /api/v1/events?tenant=NAME ---- */

void fleet__get_events(struct daemon *d, const struct httpd_request *req,
                       const char *rest, struct httpd_response *resp)
{
  char name[64];
  json_t *rec, *events;

  (void)rest;
  if (daemon__query_tenant(req->query, name) < 0 || !name[0])
    return respond(resp, 400,
                   json_pack("{s:s}", "error", "tenant must be a tenant name"));
  rec = json_object_get(d->fleet->tenants, name);
  if (!rec && !daemon__tenant_find(d, name))
    return respond(resp, 404, json_pack("{s:s}", "error", "no such tenant"));
  events = rec ? json_incref(json_object_get(rec, "events")) : json_array();
  respond(resp, 200, json_pack("{s:s, s:o}", "tenant", name, "events", events));
}

/* ---- GET / ---- */

void fleet__get_page(struct daemon *d, const struct httpd_request *req,
                     const char *rest, struct httpd_response *resp)
{
  (void)d, (void)req, (void)rest;
  resp->status = 200;
  resp->content_type = "text/html; charset=utf-8";
  resp->headers = page_headers();
  resp->body = td_strndup(server_status_page, server_status_page_len);
  resp->body_len = server_status_page_len;
}
