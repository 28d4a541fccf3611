/*
 * What the daemon says about the fleet, piece by piece: provider calls
 * counted by instance and operation (providers/common/callstats.h), the
 * process' own figures (server/procstats.h) and the costs snapshot
 * (server/costs.h).
 */
#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>
#include <uv.h>

#include "fake_provider.h"
#include "manifest/manifest.h"
#include "providers/common/callstats.h"
#include "server/costs.h"
#include "server/procstats.h"
#include "suites.h"

/* ---- provider calls ---- */

static unsigned answered;
static int last_status;
static struct provider *answered_by;

static void on_result(struct provider *p, const struct provider_result *res,
                      void *arg)
{
  (void)arg;
  answered++;
  last_status = res->status;
  answered_by = p;
}

static void on_closed(struct provider *p, void *arg)
{
  (void)p;
  *(bool *)arg = true;
}

static const struct callstats_entry *find(const struct callstats_entry *v,
                                          size_t n, const char *instance,
                                          enum callstats_op op)
{
  for (size_t i = 0; i < n; i++)
    if (v[i].op == op && strcmp(v[i].instance, instance) == 0)
      return &v[i];
  return NULL;
}

/* Each call is counted once its answer comes, with its class when it
 * failed (not found is an answer, not a failure); the caller hears from
 * the wrapper, and closing it closes the provider. */
START_TEST(provider_calls_are_counted)
{
  uv_loop_t loop;
  json_t *cfg = json_pack("{s:s}", "type", "fake");
  struct provider *inner = NULL, *p;
  struct resource *r = resource_new(RTYPE_NETWORK, "network/n.acme", "cs",
                                    "acme", "acme-n", json_object());
  struct callstats_entry *v;
  const struct callstats_entry *e;
  char err[256];
  bool closed = false;
  size_t n;

  fake_reset();
  callstats_reset();
  uv_loop_init(&loop);
  ck_assert_int_eq(provider_open(&inner, &fake_provider_ops, "cs", cfg, &loop,
                                 err, sizeof(err)),
                   0);
  p = callstats_wrap(inner);
  fake_fault("network/n.acme", FAKE_CREATE, PROVIDER_TRANSIENT, 1);
  provider_read(p, r, on_result, NULL);
  provider_create(p, r, r->spec, on_result, NULL);
  provider_create(p, r, r->spec, on_result, NULL);
  ck_assert_uint_eq(answered, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(answered, 3);
  ck_assert_int_eq(last_status, PROVIDER_OK);
  ck_assert_ptr_eq(answered_by, p);

  n = callstats_snapshot(&v);
  e = find(v, n, "cs", CALLSTATS_READ);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->calls, 1);
  for (int c = 0; c < CALLSTATS_CLASSES; c++)
    ck_assert_uint_eq(e->errors[c], 0);
  e = find(v, n, "cs", CALLSTATS_CREATE);
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->calls, 2);
  ck_assert_uint_eq(e->errors[0], 1); /* transient */
  ck_assert(e->seconds >= 0 && e->seconds < 5);
  callstats_snapshot_free(v, n);

  provider_close(p, on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  resource_free(r);
  json_decref(cfg);
  fake_reset();
  callstats_reset();
}
END_TEST

/* ---- the process ---- */

START_TEST(process_figures_from_proc)
{
  static const char self[] =
      "4242 (a (b) c) S 1 4242 4242 0 -1 4194304 100 0 0 0 150 50 0 0 20 0 "
      "3 0 12345 409600000 2500 18446744073709551615 1 1 0 0 0 0 0 0 0";
  static const char stat[] = "cpu  1 2 3 4\nintr 5\nbtime 1764000000\n";
  struct procstats ps;

  ck_assert_int_eq(procstats_parse(self, stat, 100, 4096, &ps), 0);
  ck_assert(ps.cpu_seconds == 2.0);
  ck_assert(ps.virtual_bytes == 409600000.0);
  ck_assert(ps.resident_bytes == 2500.0 * 4096);
  ck_assert(ps.start_time == 1764000000.0 + 123.45);
  ck_assert_int_lt(procstats_parse("4242 no paren", stat, 100, 4096, &ps), 0);
  ck_assert_int_lt(procstats_parse(self, "cpu 1\n", 100, 4096, &ps), 0);

  /* This very process. */
  ck_assert_int_eq(procstats_read(&ps), 0);
  ck_assert(ps.resident_bytes > 0 && ps.open_fds >= 3);
  ck_assert(ps.start_time > 1.6e9);
}
END_TEST

/* ---- costs ---- */

#define T(name, tier, envs)                                               \
  "apiVersion: tenantd.io/v1\nkind: Tenant\nmetadata: {name: " name "}\n" \
  "spec:\n  tier: " tier "\n  environments:\n" envs

static void add(struct manifest_files *f, const char *path, const char *text)
{
  manifest_files_add(f, path, text, strlen(text));
}

/* The example's arithmetic: 149 + 49 + 2 x 399 with priceBasis
 * environment; an invalid tenant is counted apart, a tier without a price
 * gives null. */
START_TEST(costs_of_the_fleet)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  struct costs *c;
  json_t *j, *tenants;
  char *text;

  add(&files, "platform.yaml",
      "apiVersion: tenantd.io/v1\nkind: Platform\nmetadata: {name: p}\n"
      "spec: {domains: {public: example.com}}\n");
  add(&files, "tiers.yaml",
      "apiVersion: tenantd.io/v1\nkind: TierCatalog\nmetadata: {name: c}\n"
      "spec:\n  currency: EUR\n  priceBasis: environment\n  tiers:\n"
      "    basic: {cpu: 1, memoryMiB: 1, storageGiB: 1, databaseClass: x,\n"
      "      maxUsers: 1, backup: {schedule: daily, retentionDays: 1},\n"
      "      monthlyPrice: 49}\n"
      "    standard: {cpu: 1, memoryMiB: 1, storageGiB: 1, databaseClass: x,\n"
      "      maxUsers: 1, backup: {schedule: daily, retentionDays: 1},\n"
      "      monthlyPrice: 149}\n"
      "    premium: {cpu: 1, memoryMiB: 1, storageGiB: 1, databaseClass: x,\n"
      "      maxUsers: 1, backup: {schedule: daily, retentionDays: 1},\n"
      "      monthlyPrice: 399.5}\n"
      "    free: {cpu: 1, memoryMiB: 1, storageGiB: 1, databaseClass: x,\n"
      "      maxUsers: 1, backup: {schedule: daily, retentionDays: 1}}\n");
  add(&files, "tenants/a.yaml",
      T("a", "standard", "    - {name: s, network: {cidr: 10.1.0.0/16}}\n"));
  add(&files, "tenants/b.yaml",
      T("b", "basic", "    - {name: s, network: {cidr: 10.2.0.0/16}}\n"));
  add(&files, "tenants/c.yaml",
      T("c", "premium",
        "    - {name: s, network: {cidr: 10.3.0.0/16}}\n"
        "    - {name: p, network: {cidr: 10.4.0.0/16}}\n"));
  add(&files, "tenants/d.yaml", T("d", "free", "    []\n"));
  add(&files, "tenants/e.yaml", T("e", "platinum", "    []\n"));
  manifest_repo_load(&repo, &files, NULL);
  manifest_files_release(&files);

  c = costs_new(repo);
  ck_assert_int_eq(c->n, 4);
  ck_assert_int_eq(c->invalid, 1);
  ck_assert_int_eq(c->total, 14900 + 4900 + 2 * 39950);
  ck_assert_ptr_nonnull(costs_find(c, "c"));
  ck_assert_ptr_null(costs_find(c, "e"));
  j = costs_json(c);
  text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));
  ck_assert_msg(strstr(text, "\"currency\":\"EUR\",\"priceBasis\":"
                             "\"environment\",\"total\":997"),
                "%s", text);
  ck_assert_msg(strstr(text, "\"premium\":{\"monthlyPrice\":399.5,"
                             "\"tenants\":1,\"monthly\":799}"),
                "%s", text);
  ck_assert_msg(strstr(text, "\"free\":{\"monthlyPrice\":null,\"tenants\":1,"
                             "\"monthly\":0}"),
                "%s", text);
  tenants = json_object_get(j, "tenants");
  ck_assert_str_eq(
      json_string_value(json_object_get(json_array_get(tenants, 2), "name")),
      "c");
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_array_get(tenants, 2), "environments")),
                   2);
  ck_assert(
      json_is_null(json_object_get(json_array_get(tenants, 3), "monthly")));
  free(text);
  json_decref(j);
  costs_free(c);
  manifest_repo_free(repo);

  /* Before any manifests: an empty answer. */
  ck_assert_ptr_null(costs_new(NULL));
  j = costs_json(NULL);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 0);
  json_decref(j);
}
END_TEST

Suite *make_suite_fleet(void)
{
  Suite *s = suite_create("fleet");
  TCase *tc = tcase_create("fleet");

  tcase_add_test(tc, provider_calls_are_counted);
  tcase_add_test(tc, process_figures_from_proc);
  tcase_add_test(tc, costs_of_the_fleet);
  suite_add_tcase(s, tc);
  return s;
}
