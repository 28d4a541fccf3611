/*
 * What the daemon says about the fleet, piece by piece: provider calls
 * counted by instance and operation (providers/common/callstats.h), the
 * process' own figures (server/procstats.h) and the costs snapshot
 * (server/costs.h).
 */
#include "base/compat.h"

#include <jansson.h>
#include <stdarg.h>
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
  /* Path order ("c-x.yaml" before "c.yaml") is not name order. */
  add(&files, "tenants/c-x.yaml",
      T("c-x", "basic", "    - {name: s, network: {cidr: 10.5.0.0/16}}\n"));
  add(&files, "tenants/d.yaml", T("d", "free", "    []\n"));
  add(&files, "tenants/e.yaml", T("e", "platinum", "    []\n"));
  manifest_repo_load(&repo, &files, NULL);
  manifest_files_release(&files);

  c = costs_new(repo);
  ck_assert_int_eq(c->n, 5);
  ck_assert_int_eq(c->invalid, 1);
  ck_assert_int_eq(c->total, 14900 + 2 * 4900 + 2 * 39950);
  ck_assert_ptr_nonnull(costs_find(c, "c"));
  ck_assert_ptr_nonnull(costs_find(c, "c-x"));
  ck_assert_ptr_nonnull(costs_find(c, "d"));
  ck_assert_ptr_null(costs_find(c, "e"));
  j = costs_json(c);
  text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));
  ck_assert_msg(strstr(text, "\"currency\":\"EUR\",\"priceBasis\":"
                             "\"environment\",\"total\":1046"),
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
  ck_assert_str_eq(
      json_string_value(json_object_get(json_array_get(tenants, 3), "name")),
      "c-x");
  ck_assert(
      json_is_null(json_object_get(json_array_get(tenants, 4), "monthly")));
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

/* ---- costs made from the last snapshot ---- */

#define PRICED(price)                                                      \
  "apiVersion: tenantd.io/v1\nkind: TierCatalog\nmetadata: {name: c}\n"    \
  "spec:\n  tiers:\n"                                                      \
  "    basic: {cpu: 1, memoryMiB: 1, storageGiB: 1, databaseClass: x,\n"   \
  "      maxUsers: 1, backup: {schedule: daily, retentionDays: 1},\n"      \
  "      monthlyPrice: " price "}\n"                                       \
  "    premium: {cpu: 1, memoryMiB: 1, storageGiB: 1, databaseClass: x,\n" \
  "      maxUsers: 1, backup: {schedule: daily, retentionDays: 1},\n"      \
  "      monthlyPrice: 399}\n"

/* A file carrying a key, as files read from git do: the FNV-1a hash of
 * its bytes, so the same bytes have the same key. */
static void add_keyed(struct manifest_files *f, const char *path,
                      const char *text)
{
  uint64_t h = 1469598103934665603ull;

  for (const char *p = text; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  add(f, path, text);
  snprintf(f->v[f->n - 1].key, sizeof(f->v[0].key), "%040llx",
           (unsigned long long)h);
}

#define PLATFORM(domains)                                            \
  "apiVersion: tenantd.io/v1\nkind: Platform\nmetadata: {name: p}\n" \
  "spec: {domains: {public: example.com" domains "}}\n"
#define PRIVATE ", private: corp.internal"

/* The fleet: the platform, catalog `cat`, then tenants (path, text) up
 * to a NULL. */
static struct manifest_repo *fleet_of(const char *platform, const char *cat,
                                      ...)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  const char *path;
  va_list ap;

  add_keyed(&files, "platform.yaml", platform);
  add_keyed(&files, "tiers.yaml", cat);
  va_start(ap, cat);
  while ((path = va_arg(ap, const char *)) != NULL)
    add_keyed(&files, path, va_arg(ap, const char *));
  va_end(ap);
  manifest_repo_load(&repo, &files, NULL);
  manifest_files_release(&files);
  return repo;
}

/* costs_next(prev, repo) answers as costs_new(repo) does; returns it. */
static struct costs *next_as_new(struct costs *prev,
                                 const struct manifest_repo *repo)
{
  struct costs *next = costs_next(prev, repo), *fresh = costs_new(repo);
  json_t *a = costs_json(next), *b = costs_json(fresh);
  char *ta = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
  char *tb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);

  ck_assert_str_eq(ta, tb);
  ck_assert_uint_eq(next->n, fresh->n);
  for (size_t i = 0; i < next->n; i++)
    ck_assert_ptr_eq(costs_find(next, fresh->v[i].name), &next->v[i]);
  free(ta);
  free(tb);
  json_decref(a);
  json_decref(b);
  costs_free(fresh);
  return next;
}

#define NET(n) "    - {name: s" #n ", network: {cidr: 10." #n ".0.0/16}}\n"
/* a's environment: an app with a private record, which needs the
 * platform's private zone. */
#define NET_A                                                           \
  "    - {name: s1, network: {cidr: 10.1.0.0/16}, apps: [{name: api,\n" \
  "       image: r.example/a:1, port: 80, dns: {private: true}}]}\n"

/*
 * A snapshot made from the last one keeps the entries of tenants whose
 * files did not change (their very strings) and works out the others:
 * one tenant moved to another tier.  Whatever else changes (a tenant
 * added, renamed or made invalid, the catalog's prices) it answers as a
 * snapshot made from nothing, and it outlives the one it came from.
 */
START_TEST(costs_next_keeps_what_did_not_change)
{
  struct manifest_repo *r1, *r2, *r;
  struct costs *c1, *c2, *c;
  const char *a1;

  r1 = fleet_of(PLATFORM(PRIVATE), PRICED("49"), "tenants/a.yaml",
                T("a", "basic", NET_A), "tenants/b.yaml",
                T("b", "basic", NET(2)), "tenants/b-x.yaml",
                T("b-x", "premium", NET(3) NET(4)), NULL);
  c1 = costs_next(NULL, r1);
  ck_assert_int_eq(c1->total, 4900 + 4900 + 39900);
  a1 = costs_find(c1, "a")->name;
  r2 = fleet_of(PLATFORM(PRIVATE), PRICED("49"), "tenants/a.yaml",
                T("a", "basic", NET_A), "tenants/b.yaml",
                T("b", "premium", NET(2)), "tenants/b-x.yaml",
                T("b-x", "premium", NET(3) NET(4)), NULL);
  c2 = next_as_new(c1, r2);
  ck_assert_int_eq(c2->total, 4900 + 39900 + 39900);
  /* a's entry is c1's; b's was worked out again. */
  ck_assert_ptr_eq(costs_find(c2, "a")->name, a1);
  ck_assert_ptr_ne(costs_find(c2, "b")->name, costs_find(c1, "b")->name);
  costs_free(c1);
  ck_assert_str_eq(costs_find(c2, "a")->name, "a");
  ck_assert_str_eq(costs_find(c2, "b")->tier, "premium");

  /* Added, renamed (b0 takes b's place among the files, not among the
   * names), made invalid (an unknown tier, or another's network),
   * repriced. */
  r = fleet_of(PLATFORM(PRIVATE), PRICED("49"), "tenants/a.yaml",
               T("a", "basic", NET_A), "tenants/b.yaml",
               T("b", "premium", NET(2)), "tenants/b-x.yaml",
               T("b-x", "premium", NET(3) NET(4)), "tenants/c.yaml",
               T("c", "basic", NET(5)), NULL);
  c = next_as_new(c2, r);
  costs_free(c);
  manifest_repo_free(r);
  r = fleet_of(PLATFORM(PRIVATE), PRICED("49"), "tenants/a.yaml",
               T("a", "basic", NET_A), "tenants/b-x.yaml",
               T("b-x", "premium", NET(3) NET(4)), "tenants/b0.yaml",
               T("b0", "premium", NET(2)), NULL);
  c = next_as_new(c2, r);
  costs_free(c);
  manifest_repo_free(r);
  r = fleet_of(PLATFORM(PRIVATE), PRICED("49"), "tenants/a.yaml",
               T("a", "basic", NET_A), "tenants/b.yaml", T("b", "gold", NET(2)),
               "tenants/b-x.yaml", T("b-x", "premium", NET(3) NET(4)), NULL);
  c = next_as_new(c2, r);
  ck_assert_uint_eq(c->invalid, 1);
  costs_free(c);
  manifest_repo_free(r);
  /* The platform no longer has a private zone: a's file is the same, and
   * its private record makes it invalid now. */
  r = fleet_of(PLATFORM(""), PRICED("49"), "tenants/a.yaml",
               T("a", "basic", NET_A), "tenants/b.yaml",
               T("b", "premium", NET(2)), "tenants/b-x.yaml",
               T("b-x", "premium", NET(3) NET(4)), NULL);
  c = next_as_new(c2, r);
  ck_assert_ptr_null(costs_find(c, "a"));
  costs_free(c);
  manifest_repo_free(r);
  /* b's network now overlaps a's: a's file is the same, but it is no
   * longer valid. */
  r = fleet_of(PLATFORM(PRIVATE), PRICED("49"), "tenants/a.yaml",
               T("a", "basic", NET_A), "tenants/b.yaml",
               T("b", "premium", NET(1)), "tenants/b-x.yaml",
               T("b-x", "premium", NET(3) NET(4)), NULL);
  c = next_as_new(c2, r);
  ck_assert_ptr_null(costs_find(c, "a"));
  costs_free(c);
  manifest_repo_free(r);
  r = fleet_of(PLATFORM(PRIVATE), PRICED("59"), "tenants/a.yaml",
               T("a", "basic", NET_A), "tenants/b.yaml",
               T("b", "premium", NET(2)), "tenants/b-x.yaml",
               T("b-x", "premium", NET(3) NET(4)), NULL);
  c = next_as_new(c2, r);
  ck_assert_int_eq(c->total, 5900 + 39900 + 39900);
  costs_free(c);
  manifest_repo_free(r);

  /* Forty passes, each made from the last, b's tier back and forth. */
  c = costs_ref(c2);
  for (int i = 0; i < 40; i++) {
    struct costs *n;

    r = fleet_of(PLATFORM(PRIVATE), PRICED("49"), "tenants/a.yaml",
                 T("a", "basic", NET_A), "tenants/b.yaml",
                 i % 2 ? T("b", "premium", NET(2)) : T("b", "basic", NET(2)),
                 "tenants/b-x.yaml", T("b-x", "premium", NET(3) NET(4)), NULL);
    n = next_as_new(c, r);
    ck_assert_int_eq(n->total, (i % 2 ? 39900 : 4900) + 4900 + 39900);
    costs_free(c);
    c = n;
    manifest_repo_free(r);
  }
  costs_free(c);
  costs_free(c2);
  manifest_repo_free(r1);
  manifest_repo_free(r2);
}
END_TEST

Suite *make_suite_fleet(void)
{
  Suite *s = suite_create("fleet");
  TCase *tc = tcase_create("fleet");

  tcase_add_test(tc, provider_calls_are_counted);
  tcase_add_test(tc, process_figures_from_proc);
  tcase_add_test(tc, costs_of_the_fleet);
  tcase_add_test(tc, costs_next_keeps_what_did_not_change);
  suite_add_tcase(s, tc);
  return s;
}
