/*
 * The daemon's config file: defaults, every problem with its position,
 * secrets only through the environment.
 */
#include "base/compat.h"

#include <stdio.h>

#include "base/strutil.h"
#include "server/config.h"
#include "server/log.h"
#include "suites.h"

static struct config *parse_ok(const char *text)
{
  struct diag_list d = DIAG_LIST_INIT;
  struct config *c = NULL;
  int rc = config_parse("tenantd.yaml", text, strlen(text), &c, &d);

  if (rc != 0)
    diag_print_text(&d, stderr);
  ck_assert_int_eq(rc, 0);
  ck_assert_ptr_nonnull(c);
  diag_list_release(&d);
  return c;
}

/* Every problem, sorted, one per line. */
static char *parse_bad(const char *text)
{
  struct diag_list d = DIAG_LIST_INIT;
  struct config *c = NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  ck_assert_int_eq(config_parse("tenantd.yaml", text, strlen(text), &c, &d),
                   -1);
  ck_assert_ptr_null(c);
  diag_sort(&d);
  diag_print_text(&d, f);
  fclose(f);
  diag_list_release(&d);
  return buf;
}

static const char minimal[] = "source: {url: file:///srv/t.git}\n"
                              "providers:\n"
                              "  local: {type: local, stateDir: /tmp/x}\n";

START_TEST(config_defaults_fill_what_is_not_said)
{
  struct config *c = parse_ok(minimal);

  ck_assert_str_eq(c->source.url, "file:///srv/t.git");
  ck_assert_str_eq(c->source.branch, "main");
  ck_assert_uint_eq(c->source.interval_ms, 30000);
  ck_assert_str_eq(c->status.branch, "tenantd/status");
  ck_assert(c->status.push);
  ck_assert_uint_eq(c->reconcile.resync_ms, 300000);
  ck_assert_uint_eq(c->reconcile.concurrency, 8);
  ck_assert_uint_eq(c->reconcile.backoff_base_ms, 5000);
  ck_assert_uint_eq(c->reconcile.backoff_max_ms, 300000);
  ck_assert_str_eq(c->http.host, "127.0.0.1");
  ck_assert_int_eq(c->http.port, 9400);
  ck_assert_ptr_null(c->http.webhook_secret);
  ck_assert_int_eq(c->log_format, LOG_FORMAT_LOGFMT);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(c->providers, "local"), "stateDir")),
                   "/tmp/x");
  config_free(c);
}
END_TEST

START_TEST(config_reads_every_section)
{
  struct config *c;

  setenv("TD_TEST_HOOK_SECRET", "s3cret", 1);
  setenv("TD_TEST_API_TOKEN", "t0ken", 1);
  c = parse_ok("source:   {url: file:///srv/t.git, branch: prod, interval: "
               "2s, sshKey: /k}\n"
               "cacheDir: /var/cache/t\n"
               "status:   {branch: st, push: false}\n"
               "reconcile: {resync: 1m, concurrency: 32, batch: 10,\n"
               "            backoff: {base: 1s, max: 10s}, shutdownTimeout: "
               "5s}\n"
               "http: {listen: '[::1]:0', webhookSecretEnv: "
               "TD_TEST_HOOK_SECRET,\n"
               "       apiTokenEnv: TD_TEST_API_TOKEN}\n"
               "log: {format: json}\n"
               "providers:\n"
               "  edge: {type: local, stateDir: /s, rateLimit: {qps: 2.5, "
               "burst: 3}}\n");
  ck_assert_str_eq(c->source.branch, "prod");
  ck_assert_uint_eq(c->source.interval_ms, 2000);
  ck_assert_str_eq(c->source.ssh_key, "/k");
  ck_assert_str_eq(c->cache_dir, "/var/cache/t");
  ck_assert_str_eq(c->status.branch, "st");
  ck_assert(!c->status.push);
  ck_assert_uint_eq(c->reconcile.resync_ms, 60000);
  ck_assert_uint_eq(c->reconcile.concurrency, 32);
  ck_assert_uint_eq(c->reconcile.batch, 10);
  ck_assert_uint_eq(c->reconcile.backoff_base_ms, 1000);
  ck_assert_uint_eq(c->reconcile.backoff_max_ms, 10000);
  ck_assert_uint_eq(c->reconcile.shutdown_timeout_ms, 5000);
  ck_assert_str_eq(c->http.host, "::1");
  ck_assert_int_eq(c->http.port, 0);
  ck_assert_str_eq(c->http.webhook_secret, "s3cret");
  ck_assert_str_eq(c->http.api_token, "t0ken");
  ck_assert_int_eq(c->log_format, LOG_FORMAT_JSON);
  ck_assert(
      json_number_value(json_object_get(
          json_object_get(json_object_get(c->providers, "edge"), "rateLimit"),
          "qps")) == 2.5);
  config_free(c);
  unsetenv("TD_TEST_HOOK_SECRET");
  unsetenv("TD_TEST_API_TOKEN");
}
END_TEST

/* Every problem at once, each where it is, none of them a secret. */
START_TEST(config_reports_every_problem_with_its_position)
{
  char *out;

  setenv("TD_TEST_HOOK_SECRET", "do-not-print-me", 1);
  unsetenv("TD_TEST_UNSET");
  out = parse_bad("source:\n"
                  "  url: file:///srv/t.git\n"
                  "  intervall: 30s\n"
                  "reconcile: {resync: soon, concurrency: 0}\n"
                  "http: {listen: localhost, apiTokenEnv: TD_TEST_UNSET,\n"
                  "       webhookSecretEnv: TD_TEST_HOOK_SECRET}\n"
                  "log: {format: xml}\n"
                  "providers:\n"
                  "  a: {type: cloud9}\n"
                  "  b: {stateDir: /x}\n"
                  "  c: {type: local, rateLimit: {qps: 0, burst: 0}}\n");
  ck_assert_ptr_nonnull(strstr(out, "tenantd.yaml:3:3: error: unknown key "
                                    "'intervall' in source"));
  ck_assert_ptr_nonnull(strstr(out, "tenantd.yaml:4:21: error: 'resync' must "
                                    "be a duration"));
  ck_assert_ptr_nonnull(strstr(out, "tenantd.yaml:4:40: error: 'concurrency' "
                                    "must be an integer from 1 to 4096"));
  ck_assert_ptr_nonnull(strstr(out, "tenantd.yaml:5:16: error: 'listen' must "
                                    "be an IP address and port"));
  ck_assert_ptr_nonnull(strstr(out, "tenantd.yaml:5:40: error: 'apiTokenEnv': "
                                    "environment variable TD_TEST_UNSET is "
                                    "not set"));
  ck_assert_ptr_nonnull(strstr(out, "tenantd.yaml:7:15: error: 'format' must "
                                    "be logfmt or json"));
  ck_assert_ptr_nonnull(strstr(out, "tenantd.yaml:9:13: error: providers.a: "
                                    "unknown provider type 'cloud9'"));
  ck_assert_ptr_nonnull(
      strstr(out, "tenantd.yaml:10:6: error: providers.b has no 'type'"));
  ck_assert_ptr_nonnull(strstr(out, "tenantd.yaml:11:37: error: "
                                    "providers.c.rateLimit.qps must be"));
  ck_assert_ptr_nonnull(strstr(out, "tenantd.yaml:11:47: error: "
                                    "providers.c.rateLimit.burst must be"));
  ck_assert_ptr_null(strstr(out, "do-not-print-me"));
  free(out);
  unsetenv("TD_TEST_HOOK_SECRET");
}
END_TEST

START_TEST(config_needs_a_source_and_a_provider)
{
  char *out = parse_bad("cacheDir: /c\n");

  ck_assert_ptr_nonnull(strstr(out, "source.url is required"));
  ck_assert_ptr_nonnull(strstr(out, "'providers' must name at least one"));
  free(out);
  out = parse_bad("");
  ck_assert_ptr_nonnull(strstr(out, "the config is empty"));
  free(out);
  out = parse_bad("source: [a, b]\n");
  ck_assert_ptr_nonnull(
      strstr(out, "tenantd.yaml:1:9: error: 'source' must be a mapping"));
  free(out);
}
END_TEST

/* Values that parse but would break the loop are refused. */
START_TEST(config_refuses_what_would_break_the_loop)
{
  static const char *const bad[][2] = {
      {"source: {url: x, interval: 1ms}", "'interval' must be from 1000ms"},
      {"reconcile: {resync: 10ms}", "'resync' must be from 1000ms"},
      {"reconcile: {resync: 9000h}", "to 30 days"},
      {"reconcile: {backoff: {base: 1ms}}", "'base' must be from 100ms"},
      {"http: {listen: 'localhost:9400'}", "must be an IP address"},
      {"http: {listen: '127.0.0.1:+80'}", "must be an IP address"},
      {"http: {listen: '[]:80'}", "must be an IP address"},
      {"http: {listen: '127.0.0.1:65536'}", "must be an IP address"},
      {"providers: {l: {type: local, rateLimit: {qps: 0.0000001}}}",
       "qps must be a number from 0.001"},
  };

  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    char text[512], *out;

    snprintf(text, sizeof(text), "%s\nsource: {url: x}\n%s\n", bad[i][0],
             strncmp(bad[i][0], "providers", 9) == 0
                 ? ""
                 : "providers: {l: {type: local}}");
    if (strncmp(bad[i][0], "source", 6) == 0)
      snprintf(text, sizeof(text), "%s\nproviders: {l: {type: local}}\n",
               bad[i][0]);
    out = parse_bad(text);
    if (!strstr(out, bad[i][1]))
      ck_abort_msg("'%s': got %s", bad[i][0], out);
    free(out);
  }
}
END_TEST

/* A check may run where the secrets are not (CI): an unset variable is
 * then a warning naming the key and the variable, never an error; a
 * load for running still fails without it. */
START_TEST(config_secrets_optional_for_a_check)
{
  static const char text[] =
      "source: {url: file:///srv/t.git}\n"
      "http: {apiTokenEnv: TD_TEST_API_TOKEN}\n"
      "providers: {local: {type: local, stateDir: /tmp/x}}\n";
  struct diag_list d = DIAG_LIST_INIT, w = DIAG_LIST_INIT;
  struct config *c = NULL;
  char *errors;

  unsetenv("TD_TEST_API_TOKEN");
  errors = parse_bad(text);
  ck_assert_str_eq(errors, "tenantd.yaml:2:21: error: 'apiTokenEnv': "
                           "environment variable TD_TEST_API_TOKEN is not "
                           "set\n");
  free(errors);

  ck_assert_int_eq(config_parse_flags("tenantd.yaml", text, strlen(text),
                                      CONFIG_SECRETS_OPTIONAL, &c, &d, &w),
                   0);
  ck_assert_uint_eq(d.n, 0);
  ck_assert_uint_eq(w.n, 1);
  ck_assert_uint_eq(w.v[0].line, 2);
  ck_assert_str_eq(w.v[0].msg, "'apiTokenEnv': environment variable "
                               "TD_TEST_API_TOKEN is not set");
  ck_assert_ptr_null(c->http.api_token);
  config_free(c);
  diag_list_release(&w);

  /* Set: no warning, and the secret is read. */
  setenv("TD_TEST_API_TOKEN", "s3cret", 1);
  ck_assert_int_eq(config_parse_flags("tenantd.yaml", text, strlen(text),
                                      CONFIG_SECRETS_OPTIONAL, &c, &d, &w),
                   0);
  ck_assert_uint_eq(w.n, 0);
  ck_assert_str_eq(c->http.api_token, "s3cret");
  config_free(c);
  unsetenv("TD_TEST_API_TOKEN");
  diag_list_release(&w);
  diag_list_release(&d);
}
END_TEST

/* A long value of many-byte characters, quoted in a message cut at its
 * buffer's end, used to leave half a character there. */
START_TEST(config_messages_stay_utf8)
{
  struct diag_list d = DIAG_LIST_INIT;
  struct config *c = NULL;
  char text[1024];
  size_t n = 0;

  n += (size_t)snprintf(text + n, sizeof(text) - n, "http: {listen: \"");
  for (int i = 0; i < 200; i++)
    n += (size_t)snprintf(text + n, sizeof(text) - n, "\xe2\x82\xac");
  n += (size_t)snprintf(text + n, sizeof(text) - n,
                        "\"}\nsource: {url: x}\n"
                        "providers: {local: {type: local, stateDir: /x}}\n");
  ck_assert_int_eq(config_parse("c.yaml", text, n, &c, &d), -1);
  ck_assert_uint_ge(d.n, 1);
  for (size_t i = 0; i < d.n; i++)
    ck_assert(str_is_utf8(d.v[i].msg, strlen(d.v[i].msg)));
  diag_list_release(&d);
}
END_TEST

START_TEST(config_load_names_a_missing_file)
{
  struct diag_list d = DIAG_LIST_INIT;
  struct config *c;

  ck_assert_int_eq(config_load("/nonexistent/tenantd.yaml", &c, &d), -1);
  ck_assert_uint_eq(d.n, 1);
  ck_assert_str_eq(d.v[0].path, "/nonexistent/tenantd.yaml");
  ck_assert_ptr_nonnull(strstr(d.v[0].msg, "no such file"));
  diag_list_release(&d);
}
END_TEST

/* Notification targets: defaults, secrets from the environment (a Slack
 * URL too), and each mistake where it is. */
START_TEST(config_reads_notify_targets)
{
  struct config *c;
  char *out;

  setenv("TD_TEST_NOTIFY_KEY", "notify-key", 1);
  setenv("TD_TEST_SLACK_URL", "https://hooks.example/T1/B2/xyz", 1);
  c = parse_ok("source: {url: file:///srv/t.git}\n"
               "providers:\n"
               "  local: {type: local, stateDir: /tmp/x, capacity: 500}\n"
               "notify:\n"
               "  - {type: webhook, url: http://127.0.0.1:9/h,\n"
               "     secretEnv: TD_TEST_NOTIFY_KEY, minInterval: 2s}\n"
               "  - {type: slack, urlEnv: TD_TEST_SLACK_URL, name: chat}\n"
               "  - {type: commit-status, url: https://api.github.com,\n"
               "     repository: ops/tenants, secretEnv: TD_TEST_NOTIFY_KEY,\n"
               "     backoff: {base: 2s, max: 1m}, attempts: 3}\n");
  ck_assert_int_eq(c->nnotify, 3);
  ck_assert_str_eq(c->notify[0].name, "webhook-1");
  ck_assert_str_eq(c->notify[0].secret, "notify-key");
  ck_assert_int_eq(c->notify[0].min_interval_ms, 2000);
  ck_assert_int_eq(c->notify[0].attempts, CONFIG_NOTIFY_ATTEMPTS);
  ck_assert_str_eq(c->notify[1].name, "chat");
  ck_assert_str_eq(c->notify[1].url, "https://hooks.example/T1/B2/xyz");
  ck_assert_int_eq(c->notify[1].min_interval_ms, CONFIG_NOTIFY_MIN_INTERVAL_MS);
  ck_assert_int_eq(c->notify[2].type, CONFIG_NOTIFY_COMMIT_STATUS);
  ck_assert_str_eq(c->notify[2].repository, "ops/tenants");
  ck_assert_str_eq(c->notify[2].context, "tenantd");
  ck_assert_int_eq(c->notify[2].backoff_base_ms, 2000);
  ck_assert_int_eq(c->notify[2].attempts, 3);
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(c->providers, "local"), "capacity")),
                   500);
  config_free(c);

  setenv("TD_TEST_BAD_URL", "gopher://hooks.example/secret", 1);
  out = parse_bad("source: {url: file:///srv/t.git}\n"
                  "providers:\n"
                  "  local: {type: local, capacity: -1}\n"
                  "notify:\n"
                  "  - {type: pager, url: http://127.0.0.1/x}\n"
                  "  - {type: webhook}\n"
                  "  - {type: webhook, url: ftp://x}\n"
                  "  - {type: commit-status, url: http://git.example}\n"
                  "  - {type: slack, url: https://h/x, colour: red}\n"
                  "  - {type: commit-status, url: 'http://localhost:1@evil/'}\n"
                  "  - {type: webhook, urlEnv: TD_TEST_BAD_URL}\n");
  ck_assert_msg(strstr(out, "tenantd.yaml:3:34: error: providers.local."
                            "capacity must be an integer"),
                "%s", out);
  ck_assert_msg(strstr(out, "tenantd.yaml:5:12: error: notify type must be "
                            "webhook, slack or commit-status"),
                "%s", out);
  ck_assert_msg(strstr(out, "tenantd.yaml:6:5: error: a notify target needs "
                            "one of url and urlEnv"),
                "%s", out);
  ck_assert_msg(strstr(out, "tenantd.yaml:7:26: error: notify url must be an "
                            "http:// or https:// URL"),
                "%s", out);
  ck_assert_msg(strstr(out, "tenantd.yaml:8:32: error: a commit-status "
                            "target sends a token"),
                "%s", out);
  ck_assert_msg(strstr(out, "tenantd.yaml:8:5: error: a commit-status target "
                            "needs repository"),
                "%s", out);
  ck_assert_msg(strstr(out, "tenantd.yaml:9:37: error: unknown key 'colour'"),
                "%s", out);
  /* User info is refused: it would pass an elsewhere host off as this
   * machine, and curl would send it as credentials. */
  ck_assert_msg(strstr(out, "tenantd.yaml:10:32: error: notify url must not "
                            "carry a user name or password"),
                "%s", out);
  /* A URL from the environment is checked the same, never quoted. */
  ck_assert_msg(strstr(out, "tenantd.yaml:11:29: error: notify url must be an "
                            "http:// or https:// URL"),
                "%s", out);
  ck_assert_ptr_null(strstr(out, "gopher"));
  free(out);

  /* A target that is not a mapping: said, and the names of the others
   * are still compared (no name to compare it by). */
  out = parse_bad("source: {url: file:///srv/t.git}\n"
                  "notify:\n"
                  "  - {type: webhook, name: ops, url: http://127.0.0.1/x}\n"
                  "  - ci\n"
                  "  - {type: webhook, name: ops, url: http://127.0.0.1/y}\n");
  ck_assert_msg(strstr(out, "tenantd.yaml:4:5: error:"), "%s", out);
  ck_assert_msg(strstr(out, "two notify targets are named 'ops'"), "%s", out);
  ck_assert_ptr_null(strstr(out, "notify-key"));
  free(out);
  unsetenv("TD_TEST_NOTIFY_KEY");
  unsetenv("TD_TEST_SLACK_URL");
  unsetenv("TD_TEST_BAD_URL");
}
END_TEST

Suite *make_suite_config(void)
{
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, config_defaults_fill_what_is_not_said);
  tcase_add_test(tc, config_reads_every_section);
  tcase_add_test(tc, config_reports_every_problem_with_its_position);
  tcase_add_test(tc, config_needs_a_source_and_a_provider);
  tcase_add_test(tc, config_refuses_what_would_break_the_loop);
  tcase_add_test(tc, config_secrets_optional_for_a_check);
  tcase_add_test(tc, config_load_names_a_missing_file);
  tcase_add_test(tc, config_messages_stay_utf8);
  tcase_add_test(tc, config_reads_notify_targets);
  suite_add_tcase(s, tc);
  return s;
}
