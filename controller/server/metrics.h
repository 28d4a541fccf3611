/*
 * metrics.h - counters, gauges and histograms, rendered in Prometheus'
 * text exposition format (version 0.0.4) for GET /metrics.
 *
 *   struct metrics *m = metrics_new();
 *   struct metric *r = metrics_register(m, METRIC_COUNTER,
 *       "tenantd_reconciles_total", "Tenant reconciles by result.",
 *       "result", NULL, 0);
 *   metric_add(r, "ready", 1);
 *
 *   struct metric *c = metrics_register(m, METRIC_GAUGE,
 *       "tenantd_tenant_condition", "...", "tenant,type,status", NULL, 0);
 *   metric_set_v(c, (const char *[]){"acme", "Ready", "True"}, 1);
 *   metric_remove_v(c, (const char *[]){"acme", "Ready", "True"});
 *
 *   char *text = metrics_render(m);                     -- malloc'd
 *
 * A family names its labels when it is registered, as one comma-separated
 * string ("instance,operation"), or NULL for none; a series is named by
 * one value per label, in that order, and is created on first use.  The
 * one-value calls (metric_add, ...) are for families of at most one
 * label; the _v calls take an array of as many values as the family has
 * labels, and work for every family.
 *
 * Series are found through an index, so a family of many series (one per
 * tenant) costs the same per update as a small one.  A series that is
 * removed is gone from the next render: a family whose label values come
 * from things that end (tenants) removes their series when they end, so
 * that the number of series stays bounded.
 *
 * Families render in the order added, series in the order created.  The
 * registry owns every family; loop thread only.
 */
#ifndef TD_METRICS_H
#define TD_METRICS_H

#include "base/compat.h"

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Labels of one family at most. */
#define METRIC_LABELS_MAX 8

struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* `labels` "a,b,c" (names as Prometheus allows, "le" excepted) or NULL;
 * `buckets` (ascending upper bounds, +Inf implied) for histograms.
 * Borrowed strings (name, help, buckets) must outlive m. */
struct metric *metrics_register(struct metrics *m, enum metric_kind kind,
                                const char *name, const char *help,
                                const char *labels, const double *buckets,
                                size_t nbuckets);

/* Families with one label or none: `value` is the label's value, NULL
 * for a family without a label. */
void metric_add(struct metric *x, const char *value, double v);
void metric_set(struct metric *x, const char *value, double v);
void metric_observe(struct metric *x, const char *value, double v);
/* A series' current value (counter or gauge; a histogram's count), 0
 * when absent; for tests. */
double metric_get(const struct metric *x, const char *value);
/* Drops the series; nothing when there is none. */
void metric_remove(struct metric *x, const char *value);

/* Any family: `values` holds one value per label (NULL for a family
 * without labels). */
void metric_add_v(struct metric *x, const char *const *values, double v);
void metric_set_v(struct metric *x, const char *const *values, double v);
void metric_observe_v(struct metric *x, const char *const *values, double v);
double metric_get_v(const struct metric *x, const char *const *values);
void metric_remove_v(struct metric *x, const char *const *values);

/* Totals kept elsewhere (by a module with its own counts): a counter or
 * gauge set to `v`, a histogram series set whole from `per_bucket` (the
 * observations in each bucket, not cumulative, as many as registered),
 * `count` (all of them, those above every bound included) and `sum`. */
void metric_store_v(struct metric *x, const char *const *values, double v);
void metric_histogram_store_v(struct metric *x, const char *const *values,
                              const uint64_t *per_bucket, uint64_t count,
                              double sum);

/* Drops every series (a gauge recomputed from scratch). */
void metric_clear(struct metric *x);
/* How many series the family has. */
size_t metric_series_count(const struct metric *x);

char *metrics_render(const struct metrics *m);

#endif
