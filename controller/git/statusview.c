#include "base/compat.h"

#include <jansson.h>
#include <strings.h>
#include <time.h>

#include "base/error.h"
#include "base/strutil.h"
#include "git/statusview.h"

const char *const tenant_state_names[TENANT_STATE_COUNT] = {
    "Held",
    "Failed",
    "Stalled",
    "Suspended",
    "Ready",
    "AwaitingFirstReconcile",
    "SourceUntrusted",
    "AwaitingApproval",
    "Unknown",
};

/* ---- a tenant's state and message ---- */

static bool reason_is(const struct status_condition *c, const char *reason)
{
  return c->reason && strcmp(c->reason, reason) == 0;
}

enum tenant_state statusview_state(const struct tenant_status *st)
{
  const struct status_condition *ready;

  if (!st)
    return TENANT_UNKNOWN;
  ready = &st->cond[STATUS_READY];
  /* Nothing was changed: an invalid manifest, unobservable resources, a
   * pass the delete guard refused (outcome.c names these reasons). */
  if (!ready->status &&
      (reason_is(ready, "InvalidManifest") || reason_is(ready, "Held") ||
       reason_is(ready, "DeleteGuard")))
    return TENANT_HELD;
  if (!ready->status &&
      (reason_is(ready, "ApplyFailed") || reason_is(ready, "Interrupted")))
    return TENANT_FAILED;
  if (st->cond[STATUS_STALLED].status)
    return TENANT_STALLED;
  if (!ready->status)
    return TENANT_FAILED;
  if (st->cond[STATUS_SUSPENDED].status)
    return TENANT_SUSPENDED;
  return TENANT_READY;
}

int statusview_state_parse(const char *name)
{
  for (int s = 0; s < TENANT_STATE_COUNT; s++)
    if (strcasecmp(name, tenant_state_names[s]) == 0)
      return s;
  return -1;
}

/* When it entered its state: the newest flip of the conditions that
 * decide it (RFC 3339 UTC times compare as text); NULL when unknown. */
static const char *state_since(const struct tenant_status *st)
{
  static const enum status_cond decide[] = {STATUS_READY, STATUS_STALLED,
                                            STATUS_SUSPENDED};
  const char *since = NULL;

  for (size_t i = 0; i < ARRAY_SIZE(decide); i++) {
    const char *s = st->cond[decide[i]].since;

    if (s && (!since || strcmp(s, since) > 0))
      since = s;
  }
  return since;
}

/* What a Held or Failed tenant's last error says, where it was found. */
static char *error_message(const struct tenant_status *st)
{
  const struct status_error *e = &st->last_error;
  const struct status_condition *ready = &st->cond[STATUS_READY];

  if (!e->message)
    return td_strdup(ready->message ? ready->message : "");
  if (e->path)
    return td_asprintf("%s:%u:%u: %s", e->path, e->line, e->col, e->message);
  if (e->resource)
    return td_asprintf("%s: %s", e->resource, e->message);
  if (reason_is(ready, "DeleteGuard"))
    return td_asprintf("refused by the delete guard: %s", e->message);
  return td_strdup(e->message);
}

/* The first stalled resource, with the value wanted and the value found. */
static char *stalled_message(const struct tenant_status *st)
{
  const struct status_stalled *s = st->stalled;
  char more[64] = "";

  if (!st->nstalled)
    return td_strdup("a resource does not converge");
  if (st->nstalled > 1)
    snprintf(more, sizeof(more), "; %zu more stalled", st->nstalled - 1);
  return td_asprintf("%s: %s does not converge (wants %s, finds %s)%s", s->id,
                     s->field && *s->field ? s->field : "its spec",
                     s->desired ? s->desired : "?",
                     s->observed ? s->observed : "nothing", more);
}

/* A row's message, naming the resource or file it is about. */
static char *state_message(const struct tenant_status *st,
                           enum tenant_state state)
{
  const struct status_condition *ready = &st->cond[STATUS_READY];

  switch (state) {
  case TENANT_HELD:
  case TENANT_FAILED:
    return error_message(st);
  case TENANT_STALLED:
    return stalled_message(st);
  case TENANT_SUSPENDED:
    return td_asprintf("suspended (spec.suspend): observed, nothing "
                       "changed; %zu resources",
                       st->ninventory);
  default:
    break;
  }
  return td_strdup(ready->message ? ready->message : "");
}

/* The resource a message is about, or NULL. */
static const char *state_resource(const struct tenant_status *st,
                                  enum tenant_state state)
{
  if (state == TENANT_STALLED && st->nstalled)
    return st->stalled[0].id;
  if (state == TENANT_HELD || state == TENANT_FAILED)
    return st->last_error.resource;
  return NULL;
}

/* ---- rows ---- */

json_t *statusview_row(const char *tenant, const struct tenant_status *st,
                       const char *error)
{
  const struct status_condition *ready;
  enum tenant_state state = statusview_state(st);
  char *message;
  json_t *row;

  if (!st)
    return json_pack("{s:s, s:s, s:s, s:s}", "tenant", tenant, "ready",
                     "Unknown", "state", tenant_state_names[state], "message",
                     error ? error : "unreadable status");
  ready = &st->cond[STATUS_READY];
  message = state_message(st, state);
  row = json_pack(
      "{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s?, s:b, s:b, s:b, s:I}",
      "tenant", tenant, "ready", ready->status ? "True" : "False", "state",
      tenant_state_names[state], "reason", ready->reason, "source", st->source,
      "since", state_since(st), "lastChange", st->last_change, "message",
      message, "resource", state_resource(st, state), "sourceError",
      st->cond[STATUS_SOURCE_ERROR].status, "stalled",
      st->cond[STATUS_STALLED].status, "suspended",
      st->cond[STATUS_SUSPENDED].status, "resources",
      (json_int_t)st->ninventory);
  free(message);
  return row;
}

/* A tenant in the manifests that has no status yet. */
static json_t *awaiting_row(const char *tenant, const char *head)
{
  char message[128];

  snprintf(message, sizeof(message),
           "in the manifests at %.12s, not reconciled yet", head);
  return json_pack("{s:s, s:s, s:s, s:s}", "tenant", tenant, "ready", "Unknown",
                   "state", tenant_state_names[TENANT_AWAITING_FIRST_RECONCILE],
                   "message", message);
}

json_t *statusview_detail(const struct tenant_status *st)
{
  json_t *o = statusview_row(st->tenant, st, NULL);
  json_t *conds = json_object(), *inv = json_array(), *stalled = json_array();

  for (int c = 0; c < STATUS_COND_COUNT; c++)
    json_object_set_new(conds, status_cond_names[c],
                        json_pack("{s:s, s:s?, s:s?, s:s?}", "status",
                                  st->cond[c].status ? "True" : "False",
                                  "reason", st->cond[c].reason, "message",
                                  st->cond[c].message, "since",
                                  st->cond[c].since));
  for (size_t i = 0; i < st->ninventory; i++) {
    const struct status_item *it = &st->inventory[i];

    json_array_append_new(inv,
                          json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", it->id,
                                    "type", it->type, "provider", it->provider,
                                    "name", it->name, "hash", it->hash));
  }
  for (size_t i = 0; i < st->nstalled; i++)
    json_array_append_new(stalled,
                          json_pack("{s:s, s:s?}", "id", st->stalled[i].id,
                                    "field", st->stalled[i].field));
  json_object_set_new(o, "conditions", conds);
  json_object_set_new(o, "inventory", inv);
  json_object_set_new(o, "stalledResources", stalled);
  if (st->last_error.message)
    json_object_set_new(
        o, "lastError",
        json_pack("{s:s, s:s?, s:s?, s:i, s:i}", "message",
                  st->last_error.message, "resource", st->last_error.resource,
                  "path", st->last_error.path, "line", (int)st->last_error.line,
                  "column", (int)st->last_error.col));
  return o;
}

/* ---- tenants known, for suggestions ---- */

static void add_name(const char *tenant, void *arg)
{
  strset_add(arg, tenant);
}

/* Every tenant with a status file or a manifest: sealed into `out`. */
static int known_tenants(const struct gitpass_view *v, struct strset *out)
{
  struct status_store *store = writeback_store(v->wb);
  int rc = store->list(store, add_name, out);

  for (size_t i = 0; i < v->tenants.n; i++)
    strset_add(out, v->tenants.v[i]);
  strset_seal(out);
  return rc;
}

/* TD_ENOTFOUND naming where `tenant` was looked for, with a close name. */
static int unknown_tenant(const struct gitpass_view *v, const char *tenant)
{
  struct strset known = STRSET_INIT;
  const char *hint = NULL;
  int rc = known_tenants(v, &known);

  if (rc == 0)
    hint = str_suggest(tenant, (const char *const *)known.v, known.n);
  rc = td_error_code(
      TD_ENOTFOUND, "no tenant '%s' on %s or in the manifests at %.12s%s%s%s",
      tenant, v->status_branch, v->head[0] ? v->head : "-",
      hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
  strset_release(&known);
  return rc;
}

/* ---- the table ---- */

struct table {
  const char *only;   /* a single tenant, or NULL */
  json_t *rows;       /* one object per tenant */
  char *text;         /* the status file of `only` */
  struct strset seen; /* tenants with a status */
};

static void collect(const char *tenant, const struct tenant_status *st,
                    const char *error, void *arg)
{
  struct table *t = arg;

  strset_add(&t->seen, tenant);
  if (t->only && strcmp(t->only, tenant) != 0)
    return;
  json_array_append_new(t->rows, statusview_row(tenant, st, error));
  if (t->only && st)
    t->text = tenant_status_format(st);
}

static const char *str(const json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));

  return s ? s : "";
}

static int row_cmp(const void *a, const void *b)
{
  return strcmp(str(*(json_t *const *)a, "tenant"),
                str(*(json_t *const *)b, "tenant"));
}

static bool shown(const json_t *row, const struct statusview_filter *f)
{
  int state = statusview_state_parse(str(row, "state"));
  const char *tenant = str(row, "tenant");

  if (f->states && (state < 0 || !(f->states & (1u << state))))
    return false;
  return !f->prefix || strncmp(tenant, f->prefix, strlen(f->prefix)) == 0;
}

/* The rows shown, sorted by tenant; a new array. */
static json_t *sorted_rows(json_t *rows, const struct statusview_filter *f)
{
  size_t n = json_array_size(rows), k = 0;
  json_t **v = td_calloc(n + 1, sizeof(*v));
  json_t *out = json_array();

  for (size_t i = 0; i < n; i++)
    if (shown(json_array_get(rows, i), f))
      v[k++] = json_array_get(rows, i);
  if (k)
    qsort(v, k, sizeof(*v), row_cmp);
  for (size_t i = 0; i < k; i++)
    json_array_append(out, v[i]);
  free(v);
  return out;
}

static void print_text(const json_t *rows, FILE *out)
{
  int wt = 6, ws = 5;
  size_t i;
  json_t *o;

  json_array_foreach(rows, i, o)
  {
    int lt = (int)strlen(str(o, "tenant")), ls = (int)strlen(str(o, "state"));

    wt = lt > wt && lt <= 64 ? lt : wt;
    ws = ls > ws ? ls : ws;
  }
  fprintf(out, "%-*s  %-*s  %-12s  %-20s  %s\n", wt, "TENANT", ws, "STATE",
          "APPLIED", "SINCE", "MESSAGE");
  json_array_foreach(rows, i, o)
  {
    fprintf(out, "%-*s  %-*s  %-12.12s  %-20s  %s%s\n", wt, str(o, "tenant"),
            ws, str(o, "state"), *str(o, "source") ? str(o, "source") : "-",
            *str(o, "since") ? str(o, "since") : "-",
            json_is_true(json_object_get(o, "sourceError")) ? "[source error] "
                                                            : "",
            str(o, "message"));
  }
}

int statusview_table(const struct gitpass_view *v, const char *tenant,
                     const struct statusview_filter *f, bool json, FILE *out,
                     FILE *err)
{
  struct table t = {.only = tenant, .rows = json_array(), .seen = STRSET_INIT};
  json_t *rows = NULL;
  int rc = 0;

  if (!v->has_status && v->tenants.n == 0) {
    rc = td_error_code(TD_ENOTFOUND,
                       "no status yet: tenantd has not written to %s in %s",
                       v->status_branch, v->url);
    goto out;
  }
  if (!v->has_status)
    fprintf(err,
            "tenantd: no status yet: tenantd has not written to %s in %s; "
            "every tenant awaits its first reconcile\n",
            v->status_branch, v->url);
  rc = writeback_scan(v->wb, collect, &t);
  if (rc < 0)
    goto out;
  strset_seal(&t.seen);
  for (size_t i = 0; i < v->tenants.n; i++) {
    const char *name = v->tenants.v[i];

    if (!strset_has(&t.seen, name) && (!tenant || strcmp(tenant, name) == 0))
      json_array_append_new(t.rows, awaiting_row(name, v->head));
  }
  if (tenant && json_array_size(t.rows) == 0) {
    rc = unknown_tenant(v, tenant);
    goto out;
  }
  rows = sorted_rows(t.rows, f);
  if (json) {
    /* One tenant is an object, or null when the filter hides it. */
    json_t *one = json_array_get(rows, 0);

    json_dumpf(!tenant ? rows
               : one   ? one
                       : json_null(),
               out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    fputc('\n', out);
    goto out;
  }
  print_text(rows, out);
  if (t.text && json_array_size(rows))
    fprintf(out, "\n%s", t.text);
out:
  json_decref(rows);
  json_decref(t.rows);
  strset_release(&t.seen);
  free(t.text);
  return rc;
}

/* ---- the log ---- */

/* The tenant's own result in a status commit, as its status says. */
static const char *entry_result(const struct writeback_entry *e)
{
  if (e->removed)
    return "removed";
  switch (statusview_state(e->status)) {
  case TENANT_HELD:
    return reason_is(&e->status->cond[STATUS_READY], "DeleteGuard")
               ? tenant_result_names[RESULT_REFUSED]
               : tenant_result_names[RESULT_HELD];
  case TENANT_FAILED:
    return tenant_result_names[RESULT_FAILED];
  case TENANT_STALLED:
    return tenant_result_names[RESULT_STALLED];
  case TENANT_SUSPENDED:
    return tenant_result_names[RESULT_SUSPENDED];
  case TENANT_READY:
    return tenant_result_names[RESULT_READY];
  default:
    break;
  }
  return "unknown";
}

struct log_ctx {
  FILE *out;
  json_t *list; /* JSON output, or NULL */
  size_t n;     /* entries shown */
};

static void log_one(const struct writeback_entry *e, void *arg)
{
  struct log_ctx *ctx = arg;
  const char *result = entry_result(e);
  time_t t = (time_t)e->time;
  struct tm tm;
  char when[32];

  ctx->n++;
  gmtime_r(&t, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (ctx->list) {
    json_t *events = json_array();

    for (size_t i = 0; i < e->nevents; i++)
      json_array_append_new(events, json_string(e->events[i]));
    json_array_append_new(
        ctx->list,
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "commit", e->id,
                  "time", when, "result", result, "passResult", e->result,
                  "source", e->source, "subject", e->subject ? e->subject : "",
                  "events", events));
    return;
  }
  fprintf(ctx->out, "%s  %.12s  %-9s source %.12s\n", when, e->id, result,
          *e->source ? e->source : "-");
  for (size_t i = 0; i < e->nevents; i++)
    fprintf(ctx->out, "    %s\n", e->events[i]);
}

/* A log with no entry: the tenant awaits its first reconcile, or it is
 * not a tenant at all. */
static int empty_log(const struct gitpass_view *v, const char *tenant,
                     FILE *err)
{
  struct strset known = STRSET_INIT;
  int rc = known_tenants(v, &known);

  if (rc == 0 && !strset_has(&known, tenant))
    rc = unknown_tenant(v, tenant);
  else if (rc == 0)
    fprintf(err, "tenantd: %s has no status commit yet\n", tenant);
  strset_release(&known);
  return rc;
}

int statusview_log(const struct gitpass_view *v, const char *tenant,
                   size_t limit, bool json, FILE *out, FILE *err)
{
  struct log_ctx ctx = {out, json ? json_array() : NULL, 0};
  int rc = writeback_log(v->wb, tenant, limit, log_one, &ctx);

  if (rc == 0 && ctx.n == 0)
    rc = empty_log(v, tenant, err);
  if (rc == 0 && json) {
    json_dumpf(ctx.list, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
  }
  json_decref(ctx.list);
  return rc;
}
