#include "compat.h"

#include <stdio.h>

#include "manifest.h"
#include "manifest_internal.h"
#include "naming.h"
#include "suites.h"

#define EXAMPLE "deploy/examples/tenants-repo"

static const char platform_yaml[] =
    "apiVersion: tenantd.io/v1\n"
    "kind: Platform\n"
    "metadata: {name: test}\n"
    "spec:\n"
    "  domains: {public: example.io, private: example.internal}\n"
    "  ingress: {public: lb.example.io}\n";

static const char tenant_yaml[] =
    "apiVersion: tenantd.io/v1\n"
    "kind: Tenant\n"
    "metadata:\n"
    "  name: acme\n"
    "spec:\n"
    "  tier: basic\n"
    "  environments:\n"
    "    - name: prod\n"
    "      network: {cidr: 10.1.0.0/16}\n"
    "      database: {deletionPolicy: Delete}\n"
    "      bucket: {}\n"
    "      apps:\n"
    "        - name: api\n"
    "          image: registry/api:1\n"
    "          port: 8080\n"
    "          healthCheck: {path: /health}\n"
    "          dns: {public: true, private: true}\n";

static void add(struct manifest_files *f, const char *path, const char *text)
{
  manifest_files_add(f, path, text, strlen(text));
}

START_TEST(loads_typed_values_with_positions)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  const struct td_tenant *t;
  const struct td_env *e;
  const struct td_app *app;

  add(&files, "platform.yaml", platform_yaml);
  add(&files, "tenants/acme.yaml", tenant_yaml);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->diags.n, 0);
  ck_assert_uint_eq(repo->ntenants, 1);
  ck_assert(repo->tenants[0]->valid);
  ck_assert(repo->platform->valid);
  t = repo->tenants[0]->u.tenant;
  ck_assert_str_eq(t->meta.name.v, "acme");
  ck_assert_uint_eq(t->meta.name.pos.line, 4);
  ck_assert_uint_eq(t->meta.name.pos.col, 9);
  ck_assert_uint_eq(t->spec.envs.n, 1);
  e = td_tenant_env(t, 0);
  ck_assert_str_eq(e->network.cidr.text, "10.1.0.0/16");
  ck_assert_uint_eq(e->network.cidr.addr, 0x0A010000);
  ck_assert_uint_eq(e->network.cidr.prefix, 16);
  ck_assert_uint_eq(e->network.cidr.pos.line, 9);
  ck_assert_uint_eq(e->network.cidr.pos.col, 23);
  ck_assert(e->database.obj.present);
  ck_assert_int_eq(e->database.deletion_policy.v, TD_DELETE_DELETE);
  ck_assert(e->bucket.obj.present);
  /* Defaults: the bucket inherits the tenant's Orphan. */
  ck_assert_int_eq(e->bucket.deletion_policy.v, TD_DELETE_ORPHAN);
  ck_assert_uint_eq(e->bucket.deletion_policy.pos.line, 0);
  app = td_env_app(e, 0);
  ck_assert_int_eq(app->port.v, 8080);
  ck_assert_uint_eq(app->port.pos.line, 15);
  ck_assert_int_eq(app->replicas.v, 1);
  ck_assert_int_eq(app->health.interval_s.v, 10);
  ck_assert_int_eq(app->health.timeout_s.v, 5);
  ck_assert(app->dns.pub.v && app->dns.priv.v);
  /* Platform defaults. */
  {
    const struct td_platform *p = repo->platform->u.platform;

    ck_assert_str_eq(p->spec.providers.by_type[TD_RT_DNS_RECORD].v, "local");
    ck_assert(p->spec.policies.prune.v);
    ck_assert_int_eq(p->spec.policies.max_delete_percent.v, 10);
    ck_assert_int_eq(p->spec.policies.resync_ms.v, 300000);
    ck_assert_int_eq(p->spec.policies.stall_after.v, 3);
    ck_assert_int_eq(p->spec.policies.drift_policy.v, TD_DRIFT_CORRECT);
  }
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

START_TEST(builtin_catalog_applies_without_tiers_yaml)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  const struct td_tier *tier;

  add(&files, "platform.yaml", platform_yaml);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->diags.n, 0);
  ck_assert(repo->catalog->valid);
  ck_assert_str_eq(repo->catalog->path, "<built-in>/tiers.yaml");
  tier = manifest_catalog_find(repo->catalog->u.catalog, "premium");
  ck_assert_ptr_nonnull(tier);
  ck_assert_int_eq(tier->max_users.v, 500);
  ck_assert_int_eq(tier->backup.retention_days.v, 90);
  ck_assert_int_eq(tier->backup.schedule.v, TD_BACKUP_DAILY);
  ck_assert_ptr_null(manifest_catalog_find(repo->catalog->u.catalog, "gold"));
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

START_TEST(repository_tiers_replace_the_builtin_catalog)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;

  add(&files, "platform.yaml", platform_yaml);
  add(&files, "tiers.yaml",
      "apiVersion: tenantd.io/v1\nkind: TierCatalog\nmetadata: {name: x}\n"
      "spec:\n  tiers:\n    gold:\n      cpu: 8\n      memoryMiB: 1\n"
      "      storageGiB: 1\n      databaseClass: big\n      maxUsers: 9\n"
      "      backup: {schedule: hourly, retentionDays: 7}\n");
  add(&files, "tenants/acme.yaml", tenant_yaml);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->diags.n, 1);
  ck_assert_str_eq(repo->diags.v[0].msg,
                   "unknown tier 'basic' (the catalog has: gold)");
  ck_assert(!repo->tenants[0]->valid);
  ck_assert(repo->catalog->valid);
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

START_TEST(one_bad_tenant_leaves_the_others_valid)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;

  add(&files, "platform.yaml", platform_yaml);
  add(&files, "tenants/acme.yaml", tenant_yaml);
  add(&files, "tenants/zeta.yaml",
      "apiVersion: tenantd.io/v1\nkind: Tenant\nmetadata: {name: zeta}\n"
      "spec: {tier: basic, environments: [{name: a, network: {cidr: "
      "10.9.0.0/16}, apps: [{name: x, port: 1}]}]}\n");
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->ntenants, 2);
  ck_assert(repo->tenants[0]->valid);
  ck_assert(!repo->tenants[1]->valid);
  ck_assert_str_eq(repo->tenants[1]->path, "tenants/zeta.yaml");
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

START_TEST(example_repository_is_valid)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char *text;

  ck_assert_int_eq(manifest_files_read_dir(&files, EXAMPLE, 1 << 20), 0);
  ck_assert_uint_eq(files.n, 5);
  manifest_repo_load(&repo, &files, NULL);
  text = test_diags_text(&repo->diags);
  ck_assert_msg(repo->diags.n == 0, "%s", text);
  free(text);
  ck_assert_uint_eq(repo->ntenants, 3);
  ck_assert_str_eq(repo->tenants[0]->path, "tenants/greenwood-high.yaml");
  ck_assert_str_eq(repo->catalog->path, "tiers.yaml");
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

START_TEST(read_dir_reports_what_it_cannot_read)
{
  struct manifest_files files = MANIFEST_FILES_INIT;

  ck_assert_int_eq(manifest_files_read_dir(&files, "/nonexistent/x", 100), -1);
  ck_assert_int_eq(manifest_files_read_dir(&files, "Makefile", 100), -1);
  manifest_files_release(&files);
}
END_TEST

START_TEST(sorted_diag_lookup)
{
  struct diag_list d = DIAG_LIST_INIT;

  ck_assert(!diag_sorted_has_path(&d, "a"));
  diag_add(&d, "tenants/c.yaml", 1, 1, "x");
  diag_add(&d, "platform.yaml", 1, 1, "x");
  diag_add(&d, "tenants/a.yaml", 2, 1, "x");
  diag_add(&d, "tenants/a.yaml", 1, 1, "x");
  diag_sort(&d);
  ck_assert(diag_sorted_has_path(&d, "platform.yaml"));
  ck_assert(diag_sorted_has_path(&d, "tenants/a.yaml"));
  ck_assert(diag_sorted_has_path(&d, "tenants/c.yaml"));
  ck_assert(!diag_sorted_has_path(&d, "tenants/b.yaml"));
  ck_assert(!diag_sorted_has_path(&d, "tenants/d.yaml"));
  ck_assert_uint_eq(diag_count_path(&d, "tenants/a.yaml"), 2);
  diag_list_release(&d);
}
END_TEST

START_TEST(string_rules)
{
  int64_t ms = 0;
  uint32_t addr = 0;
  static const char *const keys[] = {"tier", "tenants", "environments"};

  ck_assert(mf_is_label("a"));
  ck_assert(mf_is_label("mwc-murata"));
  ck_assert(!mf_is_label("-a"));
  ck_assert(!mf_is_label("a-"));
  ck_assert(!mf_is_label("A"));
  ck_assert(!mf_is_label("a_b"));
  ck_assert(!mf_is_label(""));
  ck_assert(mf_is_label("a23456789012345678901234567890123456789012345678901"
                        "234567890123"));
  ck_assert(!mf_is_label("a234567890123456789012345678901234567890123456789"
                         "01234567890123a"));
  ck_assert(mf_is_dnsname("lb.pycom.io"));
  ck_assert(!mf_is_dnsname("lb..io"));
  ck_assert(!mf_is_dnsname("lb.io."));
  ck_assert(mf_is_ipv4("10.0.0.1", &addr));
  ck_assert_uint_eq(addr, 0x0A000001);
  ck_assert(!mf_is_ipv4("10.0.0.01", NULL));
  ck_assert(!mf_is_ipv4("10.0.0", NULL));
  ck_assert(!mf_is_ipv4("256.0.0.1", NULL));
  ck_assert_int_eq(mf_parse_duration("1h30m", &ms), 0);
  ck_assert_int_eq(ms, 5400000);
  ck_assert_int_eq(mf_parse_duration("250ms", &ms), 0);
  ck_assert_int_eq(ms, 250);
  ck_assert_int_eq(mf_parse_duration("5 minutes", &ms), -1);
  ck_assert_int_eq(mf_parse_duration("", &ms), -1);
  ck_assert_int_eq(mf_parse_duration("10", &ms), -1);
  ck_assert_int_eq(mf_parse_duration("99999999999999999999h", &ms), -1);
  ck_assert_str_eq(mf_suggest("tire", keys, 3), "tier");
  ck_assert_str_eq(mf_suggest("Tier", keys, 3), "tier");
  ck_assert_str_eq(mf_suggest("enviroments", keys, 3), "environments");
  ck_assert_ptr_null(mf_suggest("colour", keys, 3));
  ck_assert_ptr_null(mf_suggest("ti", keys, 3));
}
END_TEST

Suite *make_suite_manifest(void)
{
  Suite *s = suite_create("manifest");
  TCase *tc = tcase_create("load");

  tcase_add_test(tc, loads_typed_values_with_positions);
  tcase_add_test(tc, builtin_catalog_applies_without_tiers_yaml);
  tcase_add_test(tc, repository_tiers_replace_the_builtin_catalog);
  tcase_add_test(tc, one_bad_tenant_leaves_the_others_valid);
  tcase_add_test(tc, example_repository_is_valid);
  tcase_add_test(tc, read_dir_reports_what_it_cannot_read);
  tcase_add_test(tc, string_rules);
  tcase_add_test(tc, sorted_diag_lookup);
  suite_add_tcase(s, tc);
  return s;
}
