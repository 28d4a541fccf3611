/*
 * metrics.h - counters, gauges and histograms, rendered in Prometheus'
 * text exposition format (version 0.0.4) for GET /metrics.
 *
 *   struct metrics *m = metrics_new();
 *   struct metric *r = metrics_register(m, METRIC_COUNTER,
 *       "tenantd_reconciles_total", "Tenant reconciles by result.",
 *       "result", NULL, 0);
 *   metric_add(r, "ready", 1);
 *   char *text = metrics_render(m);                     -- malloc'd
 *
 * A family has at most one label; its series are created on first use.
 * Families render in the order added, series in the order created.  The
 * registry owns every family; loop thread only.
 */
#ifndef TD_METRICS_H
#define TD_METRICS_H

#include "base/compat.h"

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* `label` NULL for a family without one; `buckets` (ascending upper
 * bounds, +Inf implied) for histograms.  Borrowed strings must outlive m. */
struct metric *metrics_register(struct metrics *m, enum metric_kind kind,
                                const char *name, const char *help,
                                const char *label, const double *buckets,
                                size_t nbuckets);

/* `value` is the label's value, NULL for a family without a label. */
void metric_add(struct metric *x, const char *value, double v);
void metric_set(struct metric *x, const char *value, double v);
void metric_observe(struct metric *x, const char *value, double v);
/* Drops every series (a gauge recomputed from scratch). */
void metric_clear(struct metric *x);
/* A series' current value (counter or gauge), 0 when absent; for tests. */
double metric_get(const struct metric *x, const char *value);

char *metrics_render(const struct metrics *m);

#endif
