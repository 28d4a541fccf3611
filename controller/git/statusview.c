#include "base/compat.h"

#include <jansson.h>
#include <time.h>

#include "base/error.h"
#include "git/statusview.h"

struct rows {
  const char *only; /* a single tenant, or NULL */
  json_t *list;     /* one object per tenant */
  char *text;       /* the status file of `only` */
};

json_t *statusview_row(const char *tenant, const struct tenant_status *st,
                       const char *error)
{
  const struct status_condition *ready;
  const char *message;

  if (!st)
    return json_pack("{s:s, s:s, s:s}", "tenant", tenant, "ready", "Unknown",
                     "message", error ? error : "unreadable status");
  ready = &st->cond[STATUS_READY];
  message = st->last_error.message ? st->last_error.message : ready->message;
  return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:b, s:b, s:b, s:I}",
                   "tenant", tenant, "ready", ready->status ? "True" : "False",
                   "reason", ready->reason, "source", st->source, "lastChange",
                   st->last_change, "message", message, "sourceError",
                   st->cond[STATUS_SOURCE_ERROR].status, "stalled",
                   st->cond[STATUS_STALLED].status, "suspended",
                   st->cond[STATUS_SUSPENDED].status, "resources",
                   (json_int_t)st->ninventory);
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

static void collect(const char *tenant, const struct tenant_status *st,
                    const char *error, void *arg)
{
  struct rows *r = arg;

  if (r->only && strcmp(r->only, tenant) != 0)
    return;
  json_array_append_new(r->list, statusview_row(tenant, st, error));
  if (r->only && st)
    r->text = tenant_status_format(st);
}

static const char *str(const json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));

  return s ? s : "";
}

int statusview_table(struct writeback *wb, const char *tenant, bool json,
                     FILE *out)
{
  struct rows r = {.only = tenant, .list = json_array()};
  size_t i;
  json_t *o;
  int rc = writeback_scan(wb, collect, &r);

  if (rc == 0 && tenant && json_array_size(r.list) == 0)
    rc = td_error_code(TD_ENOTFOUND, "no status for tenant '%s'", tenant);
  if (rc < 0)
    goto out;
  if (json) {
    json_dumpf(tenant ? json_array_get(r.list, 0) : r.list, out,
               JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    goto out;
  }
  fprintf(out, "%-24s %-26s %-13s %-21s %s\n", "TENANT", "READY", "APPLIED",
          "LAST CHANGE", "MESSAGE");
  json_array_foreach(r.list, i, o)
  {
    char ready[64];
    const char *reason = str(o, "reason");

    snprintf(ready, sizeof(ready), "%s%s%s%s", str(o, "ready"),
             *reason ? " (" : "", reason, *reason ? ")" : "");
    fprintf(out, "%-24s %-26s %-13.12s %-21s %s%s\n", str(o, "tenant"), ready,
            *str(o, "source") ? str(o, "source") : "-",
            *str(o, "lastChange") ? str(o, "lastChange") : "-",
            json_is_true(json_object_get(o, "sourceError")) ? "[source error] "
                                                            : "",
            str(o, "message"));
  }
  if (r.text)
    fprintf(out, "\n%s", r.text);
out:
  json_decref(r.list);
  free(r.text);
  return rc;
}

struct log_ctx {
  FILE *out;
  json_t *list; /* JSON output, or NULL */
};

static void log_one(const struct writeback_entry *e, void *arg)
{
  struct log_ctx *ctx = arg;
  time_t t = (time_t)e->time;
  struct tm tm;
  char when[32];

  gmtime_r(&t, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (ctx->list) {
    json_t *events = json_array();

    for (size_t i = 0; i < e->nevents; i++)
      json_array_append_new(events, json_string(e->events[i]));
    json_array_append_new(
        ctx->list,
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "commit", e->id, "time",
                  when, "result", e->result, "source", e->source, "subject",
                  e->subject ? e->subject : "", "events", events));
    return;
  }
  fprintf(ctx->out, "%s  %.12s  %-9s source %.12s\n", when, e->id,
          *e->result ? e->result : "-", *e->source ? e->source : "-");
  for (size_t i = 0; i < e->nevents; i++)
    fprintf(ctx->out, "    %s\n", e->events[i]);
}

int statusview_log(struct writeback *wb, const char *tenant, size_t limit,
                   bool json, FILE *out)
{
  struct log_ctx ctx = {out, json ? json_array() : NULL};
  int rc = writeback_log(wb, tenant, limit, log_one, &ctx);

  if (rc == 0 && json) {
    json_dumpf(ctx.list, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
  }
  json_decref(ctx.list);
  return rc;
}
