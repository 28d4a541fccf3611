/*
 * The Prometheus exposition (server/metrics.h): counters, gauges and
 * histograms as GET /metrics serves them.
 */
#include "base/compat.h"

#include "server/metrics.h"
#include "suites.h"

START_TEST(metrics_render_prometheus_text)
{
  static const double b[] = {0.1, 1};
  struct metrics *m = metrics_new();
  struct metric *r = metrics_register(m, METRIC_COUNTER, "t_reconciles_total",
                                      "Reconciles.", "result", NULL, 0);
  struct metric *h = metrics_register(m, METRIC_HISTOGRAM, "t_seconds",
                                      "Durations.", NULL, b, 2);
  struct metric *g =
      metrics_register(m, METRIC_GAUGE, "t_things", "Things.", "type", NULL, 0);
  char *text;

  metric_add(r, "ready", 2);
  metric_add(r, "failed", 1);
  metric_add(r, "ready", 1);
  metric_observe(h, NULL, 0.05);
  metric_observe(h, NULL, 0.5);
  metric_observe(h, NULL, 7);
  metric_set(g, "say \"hi\"\\", 4);
  text = metrics_render(m);
  ck_assert_str_eq(text, "# HELP t_reconciles_total Reconciles.\n"
                         "# TYPE t_reconciles_total counter\n"
                         "t_reconciles_total{result=\"ready\"} 3\n"
                         "t_reconciles_total{result=\"failed\"} 1\n"
                         "# HELP t_seconds Durations.\n"
                         "# TYPE t_seconds histogram\n"
                         "t_seconds_bucket{le=\"0.1\"} 1\n"
                         "t_seconds_bucket{le=\"1\"} 2\n"
                         "t_seconds_bucket{le=\"+Inf\"} 3\n"
                         "t_seconds_sum 7.5499999999999998\n"
                         "t_seconds_count 3\n"
                         "# HELP t_things Things.\n"
                         "# TYPE t_things gauge\n"
                         "t_things{type=\"say \\\"hi\\\"\\\\\"} 4\n");
  ck_assert(metric_get(r, "ready") == 3);
  metric_clear(g);
  ck_assert(metric_get(g, "say \"hi\"\\") == 0);
  free(text);
  metrics_free(m);
}
END_TEST

Suite *make_suite_metrics(void)
{
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, metrics_render_prometheus_text);
  suite_add_tcase(s, tc);
  return s;
}
