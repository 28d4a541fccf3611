/*
 * The Prometheus exposition (server/metrics.h): counters, gauges and
 * histograms as GET /metrics serves them.
 */
#include "base/compat.h"

#include <math.h>
#include <stdio.h>

#include "server/metrics.h"
#include "suites.h"

/* The text of `m`, compared whole and freed. */
static void assert_render(const struct metrics *m, const char *want)
{
  char *text = metrics_render(m);

  ck_assert_str_eq(text, want);
  free(text);
}

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
                         "t_seconds_sum 7.55\n"
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

/* A family shows its HELP and TYPE before any series exists; a counter
 * without a label is one bare series that only adds up. */
START_TEST(metrics_counter_without_a_label)
{
  struct metrics *m = metrics_new();
  struct metric *c = metrics_register(m, METRIC_COUNTER, "t_errors_total",
                                      "Errors.", NULL, NULL, 0);

  assert_render(m, "# HELP t_errors_total Errors.\n"
                   "# TYPE t_errors_total counter\n");
  ck_assert(metric_get(c, NULL) == 0);
  metric_add(c, NULL, 0);
  assert_render(m, "# HELP t_errors_total Errors.\n"
                   "# TYPE t_errors_total counter\n"
                   "t_errors_total 0\n");
  metric_add(c, NULL, 2);
  metric_add(c, NULL, 0.5);
  ck_assert(metric_get(c, NULL) == 2.5);
  assert_render(m, "# HELP t_errors_total Errors.\n"
                   "# TYPE t_errors_total counter\n"
                   "t_errors_total 2.5\n");
  metrics_free(m);
}
END_TEST

/* A gauge is set (or moved) per series; values that are not integers,
 * negative ones and the IEEE specials render as Prometheus reads them. */
START_TEST(metrics_gauge_sets_and_renders_numbers)
{
  struct metrics *m = metrics_new();
  struct metric *g =
      metrics_register(m, METRIC_GAUGE, "t_g", "G.", "k", NULL, 0);

  metric_set(g, "a", 5);
  metric_set(g, "a", 3);
  metric_add(g, "a", -4);
  metric_set(g, "half", 0.25);
  metric_set(g, "ts", 1764000000.5);
  metric_set(g, "inf", INFINITY);
  metric_set(g, "-inf", -INFINITY);
  metric_set(g, "nan", NAN);
  metric_set(g, "zero", 0);
  ck_assert(metric_get(g, "a") == -1);
  ck_assert(metric_get(g, "absent") == 0);
  assert_render(m, "# HELP t_g G.\n"
                   "# TYPE t_g gauge\n"
                   "t_g{k=\"a\"} -1\n"
                   "t_g{k=\"half\"} 0.25\n"
                   "t_g{k=\"ts\"} 1764000000.5\n"
                   "t_g{k=\"inf\"} +Inf\n"
                   "t_g{k=\"-inf\"} -Inf\n"
                   "t_g{k=\"nan\"} NaN\n"
                   "t_g{k=\"zero\"} 0\n");
  metrics_free(m);
}
END_TEST

/* Buckets are cumulative; a value equal to a bound falls in it (le is
 * "less or equal"); one above every bound counts only in +Inf; _sum and
 * _count follow.  With a label, it comes before le. */
START_TEST(metrics_histogram_buckets)
{
  static const double b[] = {0.005, 0.25, 2.5, 10};
  struct metrics *m = metrics_new();
  struct metric *h = metrics_register(m, METRIC_HISTOGRAM, "t_h", "H.", "phase",
                                      b, ARRAY_SIZE(b));

  metric_observe(h, "fetch", 0.005);
  metric_observe(h, "fetch", 0.25);
  metric_observe(h, "fetch", 0.5);
  metric_observe(h, "fetch", 11);
  metric_observe(h, "push", 1);
  ck_assert(metric_get(h, "fetch") == 4);
  ck_assert(metric_get(h, "push") == 1);
  assert_render(m, "# HELP t_h H.\n"
                   "# TYPE t_h histogram\n"
                   "t_h_bucket{phase=\"fetch\",le=\"0.005\"} 1\n"
                   "t_h_bucket{phase=\"fetch\",le=\"0.25\"} 2\n"
                   "t_h_bucket{phase=\"fetch\",le=\"2.5\"} 3\n"
                   "t_h_bucket{phase=\"fetch\",le=\"10\"} 3\n"
                   "t_h_bucket{phase=\"fetch\",le=\"+Inf\"} 4\n"
                   "t_h_sum{phase=\"fetch\"} 11.755\n"
                   "t_h_count{phase=\"fetch\"} 4\n"
                   "t_h_bucket{phase=\"push\",le=\"0.005\"} 0\n"
                   "t_h_bucket{phase=\"push\",le=\"0.25\"} 0\n"
                   "t_h_bucket{phase=\"push\",le=\"2.5\"} 1\n"
                   "t_h_bucket{phase=\"push\",le=\"10\"} 1\n"
                   "t_h_bucket{phase=\"push\",le=\"+Inf\"} 1\n"
                   "t_h_sum{phase=\"push\"} 1\n"
                   "t_h_count{phase=\"push\"} 1\n");
  metrics_free(m);
}
END_TEST

/* With no bounds a histogram still has +Inf, _sum and _count. */
START_TEST(metrics_histogram_without_buckets)
{
  struct metrics *m = metrics_new();
  struct metric *h =
      metrics_register(m, METRIC_HISTOGRAM, "t_h", "H.", NULL, NULL, 0);

  metric_observe(h, NULL, 3);
  metric_observe(h, NULL, 4);
  assert_render(m, "# HELP t_h H.\n"
                   "# TYPE t_h histogram\n"
                   "t_h_bucket{le=\"+Inf\"} 2\n"
                   "t_h_sum 7\n"
                   "t_h_count 2\n");
  metrics_free(m);
}
END_TEST

START_TEST(metrics_bucket_bounds_keep_their_digits)
{
  static const double b[] = {0.1234567, 1234567};
  struct metrics *m = metrics_new();
  struct metric *h =
      metrics_register(m, METRIC_HISTOGRAM, "t_h", "H.", NULL, b, 2);

  metric_observe(h, NULL, 1);
  assert_render(m, "# HELP t_h H.\n"
                   "# TYPE t_h histogram\n"
                   "t_h_bucket{le=\"0.1234567\"} 0\n"
                   "t_h_bucket{le=\"1234567\"} 1\n"
                   "t_h_bucket{le=\"+Inf\"} 1\n"
                   "t_h_sum 1\n"
                   "t_h_count 1\n");
  metrics_free(m);
}
END_TEST

/* Label values are escaped as the exposition format asks: backslash,
 * double quote and newline; anything else, UTF-8 included, is as is. */
START_TEST(metrics_escape_label_values)
{
  struct metrics *m = metrics_new();
  struct metric *g =
      metrics_register(m, METRIC_GAUGE, "t_g", "G.", "error", NULL, 0);

  metric_set(g, "C:\\dir", 1);
  metric_set(g, "a \"quoted\" word", 2);
  metric_set(g, "two\nlines", 3);
  metric_set(g, "caf\xc3\xa9 {x=1}", 4);
  metric_set(g, "", 5);
  assert_render(m, "# HELP t_g G.\n"
                   "# TYPE t_g gauge\n"
                   "t_g{error=\"C:\\\\dir\"} 1\n"
                   "t_g{error=\"a \\\"quoted\\\" word\"} 2\n"
                   "t_g{error=\"two\\nlines\"} 3\n"
                   "t_g{error=\"caf\xc3\xa9 {x=1}\"} 4\n"
                   "t_g{error=\"\"} 5\n");
  /* Each series is found by its value as given, not as rendered. */
  ck_assert(metric_get(g, "two\nlines") == 3);
  ck_assert(metric_get(g, "two\\nlines") == 0);
  metrics_free(m);
}
END_TEST

/* Families render in the order registered (not by name), series in the
 * order first used; metric_clear drops a family's series, and what comes
 * after starts afresh at the end of the family. */
START_TEST(metrics_order_and_clear)
{
  struct metrics *m = metrics_new();
  struct metric *z =
      metrics_register(m, METRIC_GAUGE, "t_zeta", "Z.", "t", NULL, 0);
  struct metric *a =
      metrics_register(m, METRIC_COUNTER, "t_alpha", "A.", NULL, NULL, 0);

  metric_add(a, NULL, 1);
  metric_set(z, "b", 1);
  metric_set(z, "a", 2);
  metric_set(z, "c", 3);
  assert_render(m, "# HELP t_zeta Z.\n"
                   "# TYPE t_zeta gauge\n"
                   "t_zeta{t=\"b\"} 1\n"
                   "t_zeta{t=\"a\"} 2\n"
                   "t_zeta{t=\"c\"} 3\n"
                   "# HELP t_alpha A.\n"
                   "# TYPE t_alpha counter\n"
                   "t_alpha 1\n");
  metric_clear(z);
  ck_assert(metric_get(z, "a") == 0);
  assert_render(m, "# HELP t_zeta Z.\n"
                   "# TYPE t_zeta gauge\n"
                   "# HELP t_alpha A.\n"
                   "# TYPE t_alpha counter\n"
                   "t_alpha 1\n");
  metric_set(z, "c", 7);
  metric_set(z, "a", 8);
  assert_render(m, "# HELP t_zeta Z.\n"
                   "# TYPE t_zeta gauge\n"
                   "t_zeta{t=\"c\"} 7\n"
                   "t_zeta{t=\"a\"} 8\n"
                   "# HELP t_alpha A.\n"
                   "# TYPE t_alpha counter\n"
                   "t_alpha 1\n");
  /* Clearing a histogram drops its counts too. */
  {
    static const double b[] = {1};
    struct metric *h =
        metrics_register(m, METRIC_HISTOGRAM, "t_h", "H.", NULL, b, 1);

    metric_observe(h, NULL, 0.5);
    metric_clear(h);
    ck_assert(metric_get(h, NULL) == 0);
    metric_observe(h, NULL, 2);
    ck_assert(metric_get(h, NULL) == 1);
  }
  metrics_free(m);
}
END_TEST

/* Many families and series: the registry grows, nothing is lost. */
START_TEST(metrics_many_families_and_series)
{
  struct metrics *m = metrics_new();
  static char names[40][16];
  struct metric *f[40];
  char *text;

  for (int i = 0; i < 40; i++) {
    snprintf(names[i], sizeof(names[i]), "t_f%02d", i);
    f[i] = metrics_register(m, METRIC_COUNTER, names[i], "F.", "n", NULL, 0);
    for (int j = 0; j < 20; j++) {
      char v[16];

      snprintf(v, sizeof(v), "%d", j);
      metric_add(f[i], v, i * 100 + j);
    }
  }
  text = metrics_render(m);
  ck_assert_ptr_nonnull(strstr(text, "t_f00{n=\"0\"} 0\n"));
  ck_assert_ptr_nonnull(strstr(text, "t_f39{n=\"19\"} 3919\n"));
  ck_assert(strstr(text, "# HELP t_f38 ") < strstr(text, "# HELP t_f39 "));
  ck_assert(metric_get(f[17], "13") == 1713);
  free(text);
  metrics_free(m);
}
END_TEST

/* A family of several labels: values in the order the labels were named,
 * each escaped; a histogram's le comes last. */
START_TEST(metrics_several_labels)
{
  static const double b[] = {0.5};
  struct metrics *m = metrics_new();
  struct metric *c = metrics_register(m, METRIC_COUNTER, "t_calls_total",
                                      "Calls.", "instance,operation", NULL, 0);
  struct metric *h = metrics_register(m, METRIC_HISTOGRAM, "t_call_seconds",
                                      "Latency.", "instance,operation", b, 1);

  metric_add_v(c, (const char *[]){"pg", "read"}, 2);
  metric_add_v(c, (const char *[]){"pg", "create"}, 1);
  metric_add_v(c, (const char *[]){"pg", "read"}, 1);
  metric_add_v(c, (const char *[]){"d\"q", "read"}, 1);
  metric_observe_v(h, (const char *[]){"pg", "read"}, 0.25);
  metric_observe_v(h, (const char *[]){"pg", "read"}, 2);
  ck_assert(metric_get_v(c, (const char *[]){"pg", "read"}) == 3);
  ck_assert(metric_get_v(c, (const char *[]){"read", "pg"}) == 0);
  assert_render(m, "# HELP t_calls_total Calls.\n"
                   "# TYPE t_calls_total counter\n"
                   "t_calls_total{instance=\"pg\",operation=\"read\"} 3\n"
                   "t_calls_total{instance=\"pg\",operation=\"create\"} 1\n"
                   "t_calls_total{instance=\"d\\\"q\",operation=\"read\"} 1\n"
                   "# HELP t_call_seconds Latency.\n"
                   "# TYPE t_call_seconds histogram\n"
                   "t_call_seconds_bucket{instance=\"pg\",operation=\"read\","
                   "le=\"0.5\"} 1\n"
                   "t_call_seconds_bucket{instance=\"pg\",operation=\"read\","
                   "le=\"+Inf\"} 2\n"
                   "t_call_seconds_sum{instance=\"pg\",operation=\"read\"} "
                   "2.25\n"
                   "t_call_seconds_count{instance=\"pg\",operation=\"read\"} "
                   "2\n");
  metrics_free(m);
}
END_TEST

/* A removed series is gone from the render and from the count, and comes
 * back fresh when used again; totals kept elsewhere are stored whole. */
START_TEST(metrics_remove_and_store)
{
  static const double b[] = {1, 2};
  static const uint64_t per[] = {3, 1};
  struct metrics *m = metrics_new();
  struct metric *g = metrics_register(m, METRIC_GAUGE, "t_cond", "C.",
                                      "tenant,type,status", NULL, 0);
  struct metric *h =
      metrics_register(m, METRIC_HISTOGRAM, "t_h", "H.", NULL, b, 2);

  metric_set_v(g, (const char *[]){"a", "Ready", "True"}, 1);
  metric_set_v(g, (const char *[]){"b", "Ready", "False"}, 1);
  metric_remove_v(g, (const char *[]){"a", "Ready", "True"});
  metric_remove_v(g, (const char *[]){"a", "Ready", "True"});
  ck_assert_int_eq(metric_series_count(g), 1);
  metric_set_v(g, (const char *[]){"a", "Ready", "False"}, 1);
  metric_histogram_store_v(h, NULL, per, 5, 7.5);
  assert_render(m, "# HELP t_cond C.\n"
                   "# TYPE t_cond gauge\n"
                   "t_cond{tenant=\"b\",type=\"Ready\",status=\"False\"} 1\n"
                   "t_cond{tenant=\"a\",type=\"Ready\",status=\"False\"} 1\n"
                   "# HELP t_h H.\n"
                   "# TYPE t_h histogram\n"
                   "t_h_bucket{le=\"1\"} 3\n"
                   "t_h_bucket{le=\"2\"} 4\n"
                   "t_h_bucket{le=\"+Inf\"} 5\n"
                   "t_h_sum 7.5\n"
                   "t_h_count 5\n");
  metrics_free(m);
}
END_TEST

/* Ten thousand tenants come and go: the family keeps only the live ones,
 * in order, and finds each at once. */
START_TEST(metrics_many_series_bounded)
{
  struct metrics *m = metrics_new();
  struct metric *g =
      metrics_register(m, METRIC_GAUGE, "t_cost", "C.", "tenant", NULL, 0);
  char name[32];
  char *text;

  for (int round = 0; round < 3; round++)
    for (int i = 0; i < 10000; i++) {
      snprintf(name, sizeof(name), "t%05d", i);
      metric_set(g, name, i);
      if (i % 2)
        metric_remove(g, name);
    }
  ck_assert_int_eq(metric_series_count(g), 5000);
  ck_assert(metric_get(g, "t09998") == 9998);
  ck_assert(metric_get(g, "t09999") == 0);
  text = metrics_render(m);
  ck_assert(strstr(text, "t_cost{tenant=\"t00000\"} 0\nt_cost{tenant="
                         "\"t00002\"} 2\n"));
  free(text);
  metrics_free(m);
}
END_TEST

Suite *make_suite_metrics(void)
{
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, metrics_render_prometheus_text);
  tcase_add_test(tc, metrics_counter_without_a_label);
  tcase_add_test(tc, metrics_gauge_sets_and_renders_numbers);
  tcase_add_test(tc, metrics_histogram_buckets);
  tcase_add_test(tc, metrics_histogram_without_buckets);
  tcase_add_test(tc, metrics_bucket_bounds_keep_their_digits);
  tcase_add_test(tc, metrics_escape_label_values);
  tcase_add_test(tc, metrics_order_and_clear);
  tcase_add_test(tc, metrics_many_families_and_series);
  tcase_add_test(tc, metrics_several_labels);
  tcase_add_test(tc, metrics_remove_and_store);
  tcase_add_test(tc, metrics_many_series_bounded);
  suite_add_tcase(s, tc);
  return s;
}
