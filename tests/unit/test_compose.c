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
                       json_object_get(r->spec, "upstream"), "$ref")),
                   "service/api.staging.mwc-murata#address");
  ck_assert_str_eq(r->provider, "local");

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
  tcase_add_test(tc, dot_output_is_graphviz);
  suite_add_tcase(s, tc);
  return s;
}
