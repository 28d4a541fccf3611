/*
 * daemon_report.c - what the daemon says of its passes: the metrics it
 * registers and recounts after each pass, and the log lines of a pass
 * (its problems, each tenant's events, the line that ends it).
 */
#include "base/compat.h"

#include <jansson.h>

#include "base/strutil.h"
#include "engine/reconcile.h"
#include "git/gitpass.h"
#include "server/daemon_internal.h"
#include "server/log.h"
#include "server/metrics.h"

static const double pass_buckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                      2.5,  5,    10,  30,   60,  300};
static const double fetch_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       0.5,   1,    2.5,   5,    10};

void daemon__tally(struct daemon *d, const struct dtenant *t, int sign)
{
  const char *state = json_string_value(json_object_get(t->row, "state"));
  bool awaiting = state && strcmp(state, "AwaitingApproval") == 0;

  /* Taken away exactly as it was added: the totals never go below. */
  if (sign > 0) {
    d->n_awaiting += awaiting;
    for (int k = 0; k < RTYPE_COUNT; k++)
      d->n_by_type[k] += t->by_type[k];
    d->n_by_result[t->result]++;
    return;
  }
  d->n_awaiting -= awaiting;
  for (int k = 0; k < RTYPE_COUNT; k++)
    d->n_by_type[k] -= t->by_type[k];
  d->n_by_result[t->result]--;
}

void daemon__recount(struct daemon *d)
{
  for (int k = 0; k < RTYPE_COUNT; k++)
    metric_set(d->m_resources, rtype_names[k], (double)d->n_by_type[k]);
  for (int r = 0; r < RESULT_COUNT; r++)
    metric_set(d->m_tenants, tenant_result_names[r], (double)d->n_by_result[r]);
  metric_set(d->m_awaiting, NULL, (double)d->n_awaiting);
}

/* The pass's diagnostics, one event each. */
void daemon__log_problems(char *text, size_t len)
{
  char *line = text, *end = text + len;

  while (line < end) {
    char *nl = memchr(line, '\n', (size_t)(end - line));

    if (nl)
      *nl = '\0';
    if (strncmp(line, "tenantd: ", 9) == 0)
      line += 9;
    if (*line)
      log_at(LOG_LEVEL_WARN, "pass problem", LOG_S("problem", line));
    line = nl ? nl + 1 : end;
  }
}

/*
 * An event line ("created service/web.prod.acme", "failed database/x:
 * why") as its action, resource and detail: the resource is the first
 * word that is a resource id (<type>/<key>), the action what precedes
 * it.  The parts point into `buf`, a copy of the line.
 */
static void event_parts(char *buf, const char **action, const char **resource,
                        const char **detail)
{
  char *w = buf;

  *action = *resource = *detail = NULL;
  while (*w) {
    char *end = w + strcspn(w, " "), *slash = memchr(w, '/', end - w);

    if (slash && resource_type_parse_n(w, (size_t)(slash - w)) >= 0) {
      char *colon = strstr(end[-1] == ':' ? end - 1 : end, ": ");

      if (end[-1] == ':')
        end--;
      if (w > buf)
        w[-1] = '\0', *action = buf;
      *resource = w;
      if (colon)
        *detail = colon + 2;
      else if (*end)
        *detail = end + 1;
      *end = '\0';
      return;
    }
    w = *end ? end + 1 : end;
  }
  *detail = buf;
}

void daemon__log_outcome(const char *source, const struct reconcile_outcome *o)
{
  enum log_level level =
      o->result == RESULT_READY ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;

  for (size_t e = 0; e < o->nevents; e++) {
    char *buf = td_strdup(o->events[e]);
    const char *action, *resource, *detail;

    event_parts(buf, &action, &resource, &detail);
    log_at(level, "tenant event", LOG_S("tenant", o->tenant),
           LOG_S("action", action), LOG_S("resource", resource),
           LOG_S("detail", detail),
           LOG_S("result", tenant_result_names[o->result]),
           LOG_S("source", source));
    free(buf);
  }
}

void daemon__log_pass_done(const struct gitpass_result *r, int rc, bool fetched,
                           double seconds)
{
  enum log_level level = rc < 0 || r->sum.failed || r->sum.refused
                             ? LOG_LEVEL_WARN
                             : LOG_LEVEL_INFO;
  struct log_field fetch = LOG_SECS("fetch_seconds", r->fetch_seconds);

  /* A pass that did not fetch has no fetch time: leave the field out. */
  if (!fetched)
    fetch = LOG_S("fetch_seconds", NULL);
  log_at(level, "pass done", LOG_S("source", r->source[0] ? r->source : NULL),
         LOG_S("status_commit", r->status_commit[0] ? r->status_commit : NULL),
         LOG_U("tenants", r->selected), LOG_U("changes", r->sum.changes),
         LOG_U("applied", r->sum.applied), LOG_U("failed", r->sum.failed),
         LOG_B("pushed", r->pushed), LOG_SECS("seconds", seconds), fetch,
         LOG_SECS("commit_seconds", r->commit_seconds));
}

void daemon__metrics_setup(struct daemon *d)
{
  struct metrics *m = metrics_new();

  d->m = m;
  d->m_up =
      metrics_register(m, METRIC_GAUGE, "tenantd_build_info",
                       "tenantd's version; always 1.", "version", NULL, 0);
  metric_set(d->m_up, TD_VERSION, 1);
  d->m_reconciles = metrics_register(
      m, METRIC_COUNTER, "tenantd_reconciles_total",
      "Tenant reconciles, by how they ended.", "result", NULL, 0);
  for (int r = 0; r < RESULT_COUNT; r++)
    metric_add(d->m_reconciles, tenant_result_names[r], 0);
  d->m_pass_seconds = metrics_register(
      m, METRIC_HISTOGRAM, "tenantd_reconcile_duration_seconds",
      "Reconcile passes, from fetch to status pushed.", NULL, pass_buckets,
      ARRAY_SIZE(pass_buckets));
  d->m_passes =
      metrics_register(m, METRIC_COUNTER, "tenantd_passes_total",
                       "Passes, by whether they could run.", "result", NULL, 0);
  d->m_drift_detected = metrics_register(
      m, METRIC_COUNTER, "tenantd_drift_detected_total",
      "Resources found changed behind tenantd's back.", NULL, NULL, 0);
  metric_add(d->m_drift_detected, NULL, 0);
  d->m_drift_corrected =
      metrics_register(m, METRIC_COUNTER, "tenantd_drift_corrected_total",
                       "Drifted resources brought back.", NULL, NULL, 0);
  metric_add(d->m_drift_corrected, NULL, 0);
  d->m_queue = metrics_register(m, METRIC_GAUGE, "tenantd_queue_depth",
                                "Tenants waiting for a pass.", NULL, NULL, 0);
  metric_set(d->m_queue, NULL, 0);
  d->m_fetch_seconds = metrics_register(
      m, METRIC_HISTOGRAM, "tenantd_source_fetch_duration_seconds",
      "Fetches of the manifest repository.", NULL, fetch_buckets,
      ARRAY_SIZE(fetch_buckets));
  d->m_fetch_last_ok = metrics_register(
      m, METRIC_GAUGE, "tenantd_source_last_success_timestamp_seconds",
      "When the last fetch succeeded (Unix time).", NULL, NULL, 0);
  metric_set(d->m_fetch_last_ok, NULL, 0);
  d->m_fetch_errors =
      metrics_register(m, METRIC_COUNTER, "tenantd_source_fetch_errors_total",
                       "Fetches that failed.", NULL, NULL, 0);
  metric_add(d->m_fetch_errors, NULL, 0);
  d->m_untrusted = metrics_register(
      m, METRIC_COUNTER, "tenantd_source_untrusted_total",
      "Passes that held every tenant: the commit was not signed by a "
      "trusted key (source.verify).",
      NULL, NULL, 0);
  metric_add(d->m_untrusted, NULL, 0);
  d->m_awaiting = metrics_register(
      m, METRIC_GAUGE, "tenantd_tenants_awaiting_approval",
      "Tenants whose changes wait for an approver.", NULL, NULL, 0);
  metric_set(d->m_awaiting, NULL, 0);
  d->m_resources = metrics_register(
      m, METRIC_GAUGE, "tenantd_managed_resources",
      "Resources in the tenants' inventories, by type.", "type", NULL, 0);
  d->m_tenants = metrics_register(m, METRIC_GAUGE, "tenantd_tenants",
                                  "Tenants by the result of their last pass.",
                                  "result", NULL, 0);
  d->m_resync = metrics_register(
      m, METRIC_GAUGE, "tenantd_resync_progress",
      "Share of tenants checked for drift within the last resync period.", NULL,
      NULL, 0);
  metric_set(d->m_resync, NULL, 0);
  d->m_webhooks =
      metrics_register(m, METRIC_COUNTER, "tenantd_webhooks_total",
                       "Webhook deliveries, by verdict.", "result", NULL, 0);
  metric_add(d->m_webhooks, "accepted", 0);
  metric_add(d->m_webhooks, "rejected", 0);
  metric_add(d->m_webhooks, "ignored", 0);
  metric_add(d->m_webhooks, "ping", 0);
  daemon__recount(d);
}
