#include "base/compat.h"

#include <stdio.h>

#include "engine/compose.h"
#include "suites.h"

static struct manifest_repo *example(struct manifest_files *files)
{
  struct manifest_repo *repo;

  ck_assert_int_eq(
      manifest_files_read_dir(files, "deploy/examples/tenants-repo", 1 << 20),
      0);
  manifest_repo_load(&repo, files, NULL);
  ck_assert_uint_eq(repo->diags.n, 0);
  return repo;
}

static const struct manifest_doc *doc_named(const struct manifest_repo *r,
                                            const char *name)
{
  for (size_t i = 0; i < r->ntenants; i++)
    if (strcmp(r->tenants[i]->u.tenant->meta.name.v, name) == 0)
      return r->tenants[i];
  ck_abort_msg("no tenant %s", name);
  return NULL;
}

START_TEST(murata_graph)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo = example(&files);
  struct resource_set set = RESOURCE_SET_INIT;
  const struct resource *r;
  static const char *const ids[] = {
      "bucket/mwc-murata.staging",
      "database/mwc-murata.staging",
      "dns_record/api.staging.mwc-murata.alias.api.mwc.murata.example",
      "dns_record/api.staging.mwc-murata.private",
      "dns_record/api.staging.mwc-murata.public",
      "dns_record/web.staging.mwc-murata.public",
      "network/mwc-murata.staging",
      "route/api.staging.mwc-murata",
      "route/web.staging.mwc-murata",
      "service/api.staging.mwc-murata",
      "service/web.staging.mwc-murata",
  };

  ck_assert_int_eq(compose_tenant(repo, doc_named(repo, "mwc-murata"), &set),
                   0);
  resource_set_sort(&set);
  ck_assert_uint_eq(set.n, ARRAY_SIZE(ids));
  for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
    ck_assert_str_eq(set.v[i]->id, ids[i]);

  r = resource_set_find(&set, "database/mwc-murata.staging");
  ck_assert_str_eq(r->name, "mwc_murata_staging");
  /* standard tier: maxUsers 200, retention 30 days */
  ck_assert_int_eq(
      json_integer_value(json_object_get(r->spec, "connection_limit")), 200);
  ck_assert_int_eq(
      json_integer_value(json_object_get(r->spec, "backup_retention_days")),
      30);
  ck_assert_int_eq(r->deletion, DELETION_ORPHAN);
  ck_assert_str_eq(r->deps[0], "network/mwc-murata.staging");

  r = resource_set_find(&set, "service/web.staging.mwc-murata");
  ck_assert_str_eq(r->name, "web.staging.mwc-murata");
  /* dependsOn: [api] waits for api's service */
  {
    bool waits = false;

    for (size_t d = 0; d < r->ndeps; d++)
      waits |= strcmp(r->deps[d], "service/api.staging.mwc-murata") == 0;
    ck_assert(waits);
  }

  /* Who and where the containers are: the database's host and port
   * resolve at apply time, its name and user are known now. */
  {
    const json_t *env = json_object_get(r->spec, "env");

    ck_assert_str_eq(json_string_value(json_object_get(env, "TENANTD_TENANT")),
                     "mwc-murata");
    ck_assert_str_eq(json_string_value(json_object_get(env, "TENANTD_ENV")),
                     "staging");
    ck_assert_str_eq(json_string_value(json_object_get(env, "TENANTD_APP")),
                     "web");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(env, "TENANTD_DB_PORT"), "$ref")),
                     "database/mwc-murata.staging#port");
    ck_assert_str_eq(json_string_value(json_object_get(env, "TENANTD_DB_USER")),
                     "mwc_murata_staging");
  }

  r = resource_set_find(&set, "dns_record/api.staging.mwc-murata.public");
  ck_assert_str_eq(r->name, "api.staging.mwc-murata.pycom.io");
  ck_assert_str_eq(json_string_value(json_object_get(r->spec, "type")),
                   "CNAME");
  ck_assert_str_eq(json_string_value(json_object_get(r->spec, "target")),
                   "lb.pycom.io");

  r = resource_set_find(&set, "dns_record/api.staging.mwc-murata.private");
  ck_assert_str_eq(r->name, "api.staging.mwc-murata.pycom.awsprivate");
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(r->spec, "target"), "$ref")),
                   "service/api.staging.mwc-murata#ip");

  r = resource_set_find(&set, "route/api.staging.mwc-murata");
  ck_assert_uint_eq(json_array_size(json_object_get(r->spec, "hosts")), 2);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(r->spec, "upstreams"), "$ref")),
                   "service/api.staging.mwc-murata#addresses");
  ck_assert_str_eq(r->provider, "local");

  resource_set_release(&set);
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

/* An app's own env goes into its service's spec beside tenantd's; an
 * environment without a database gets no TENANTD_DB_*. */
START_TEST(service_env_from_manifest)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  struct resource_set set = RESOURCE_SET_INIT;
  const json_t *env;
  char dir[1024], path[1200], *data;
  size_t len;
  FILE *f;

  snprintf(dir, sizeof(dir), "%s/base", test_fixtures_dir());
  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), 0);
  snprintf(path, sizeof(path), "%s/valid/app-env/tenants/acme.yaml",
           test_fixtures_dir());
  f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  data = td_malloc(1 << 16);
  len = fread(data, 1, 1 << 16, f);
  fclose(f);
  manifest_files_add(&files, "tenants/acme.yaml", data, len);
  free(data);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->diags.n, 0);
  ck_assert_int_eq(compose_tenant(repo, doc_named(repo, "acme"), &set), 0);
  resource_set_sort(&set);

  env = json_object_get(resource_set_find(&set, "service/api.prod.acme")->spec,
                        "env");
  ck_assert_str_eq(json_string_value(json_object_get(env, "LOG_LEVEL")),
                   "debug");
  ck_assert_str_eq(json_string_value(json_object_get(env, "FEATURE_X")),
                   "true");
  ck_assert_str_eq(json_string_value(json_object_get(env, "_private")), "");
  ck_assert_str_eq(json_string_value(json_object_get(env, "TENANTD_APP")),
                   "api");
  ck_assert_ptr_nonnull(json_object_get(env, "TENANTD_DB_HOST"));
  env = json_object_get(
      resource_set_find(&set, "service/api.staging.acme")->spec, "env");
  ck_assert_uint_eq(json_object_size(env), 3);
  ck_assert_ptr_null(json_object_get(env, "TENANTD_DB_HOST"));

  resource_set_release(&set);
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

/* Text from the manifest goes into specs as written, whatever its
 * characters (the loader passes only valid UTF-8): a spec dumps to JSON
 * that reads back the same. */
START_TEST(manifest_text_reaches_specs_unchanged)
{
  static const char value[] = "Gr\xc3\xbc\xc3\x9f"
                              "e \xe2\x9c\x93 "
                              "\xe6\x97\xa5\xf0\x9f\x98\x80";
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  struct resource_set set = RESOURCE_SET_INIT;
  const struct resource *r;
  char dir[1024], text[2048], *dumped;
  json_t *back;

  snprintf(dir, sizeof(dir), "%s/base", test_fixtures_dir());
  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), 0);
  snprintf(text, sizeof(text),
           "apiVersion: tenantd.io/v1\nkind: Tenant\nmetadata: {name: acme}\n"
           "spec:\n  tier: standard\n  environments:\n    - name: prod\n"
           "      network: {cidr: 10.10.0.0/16}\n      apps:\n"
           "        - name: api\n          image: r/api:1\n"
           "          port: 80\n          env: {GREETING: \"%s\"}\n",
           value);
  manifest_files_remove(&files, "tenants/acme.yaml");
  manifest_files_add(&files, "tenants/acme.yaml", text, strlen(text));
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->diags.n, 0);
  ck_assert_int_eq(compose_tenant(repo, doc_named(repo, "acme"), &set), 0);
  resource_set_sort(&set);
  r = resource_set_find(&set, "service/api.prod.acme");
  ck_assert_ptr_nonnull(r);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(r->spec, "env"), "GREETING")),
                   value);
  dumped = json_dumps(r->spec, JSON_COMPACT | JSON_SORT_KEYS);
  ck_assert_ptr_nonnull(dumped);
  back = json_loads(dumped, 0, NULL);
  ck_assert_ptr_nonnull(back);
  ck_assert(json_equal(back, r->spec));
  json_decref(back);
  free(dumped);
  resource_set_release(&set);
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

START_TEST(dot_output_is_graphviz)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo = example(&files);
  struct resource_set set = RESOURCE_SET_INIT;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);

  for (size_t i = 0; i < repo->ntenants; i++)
    ck_assert_int_eq(compose_tenant(repo, repo->tenants[i], &set), 0);
  compose_write_dot(&set, f);
  fclose(f);
  ck_assert(strncmp(text, "digraph tenantd {", 17) == 0);
  ck_assert_ptr_nonnull(strstr(text, "subgraph \"cluster_mwc-murata\""));
  ck_assert_ptr_nonnull(strstr(text, "\"network/mwc-murata.staging\" -> "
                                     "\"database/mwc-murata.staging\";"));
  free(text);
  resource_set_release(&set);
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

Suite *make_suite_compose(void)
{
  Suite *s = suite_create("compose");
  TCase *tc = tcase_create("compose");

  tcase_add_test(tc, murata_graph);
  tcase_add_test(tc, service_env_from_manifest);
  tcase_add_test(tc, manifest_text_reaches_specs_unchanged);
  tcase_add_test(tc, dot_output_is_graphviz);
  suite_add_tcase(s, tc);
  return s;
}
