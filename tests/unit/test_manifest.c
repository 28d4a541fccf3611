#include "base/compat.h"

#include "base/strutil.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "manifest/manifest.h"
#include "model/naming.h"
#include "model/resource.h"
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
  const struct mf_tenant *t;
  const struct mf_env *e;
  const struct mf_app *app;

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
  e = mf_tenant_env(t, 0);
  ck_assert_str_eq(e->network.cidr.text, "10.1.0.0/16");
  ck_assert_uint_eq(e->network.cidr.addr, 0x0A010000);
  ck_assert_uint_eq(e->network.cidr.prefix, 16);
  ck_assert_uint_eq(e->network.cidr.pos.line, 9);
  ck_assert_uint_eq(e->network.cidr.pos.col, 23);
  ck_assert(e->database.obj.present);
  ck_assert_int_eq(e->database.deletion_policy.v, DELETION_DELETE);
  ck_assert(e->bucket.obj.present);
  /* Defaults: the bucket inherits the tenant's Orphan. */
  ck_assert_int_eq(e->bucket.deletion_policy.v, DELETION_ORPHAN);
  ck_assert_uint_eq(e->bucket.deletion_policy.pos.line, 0);
  app = mf_env_app(e, 0);
  ck_assert_int_eq(app->port.v, 8080);
  ck_assert_uint_eq(app->port.pos.line, 15);
  ck_assert_int_eq(app->replicas.v, 1);
  ck_assert_int_eq(app->health.interval_s.v, 10);
  ck_assert_int_eq(app->health.timeout_s.v, 5);
  ck_assert(app->dns.pub.v && app->dns.priv.v);
  /* Platform defaults. */
  {
    const struct mf_platform *p = repo->platform->u.platform;

    ck_assert_str_eq(p->spec.providers.by_type[RTYPE_DNS_RECORD].v, "local");
    ck_assert(p->spec.policies.prune.v);
    ck_assert_int_eq(p->spec.policies.max_delete_percent.v, 10);
    ck_assert_int_eq(p->spec.policies.resync_ms.v, 300000);
    ck_assert_int_eq(p->spec.policies.stall_after.v, 3);
    ck_assert_int_eq(p->spec.policies.drift_policy.v, MF_DRIFT_CORRECT);
  }
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

START_TEST(builtin_catalog_applies_without_tiers_yaml)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  const struct mf_tier *tier;

  add(&files, "platform.yaml", platform_yaml);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->diags.n, 0);
  ck_assert(repo->catalog->valid);
  ck_assert_str_eq(repo->catalog->path, "<built-in>/tiers.yaml");
  tier = manifest_catalog_find(repo->catalog->u.catalog, "premium");
  ck_assert_ptr_nonnull(tier);
  ck_assert_int_eq(tier->max_users.v, 500);
  ck_assert_int_eq(tier->backup.retention_days.v, 90);
  ck_assert_int_eq(tier->backup.schedule.v, MF_BACKUP_DAILY);
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

/* A tenant file under `name`, its network at 10.<octet>.0.0/16. */
static void add_tenant(struct manifest_files *f, const char *name, int octet,
                       const char *key)
{
  char text[1024], path[128];

  snprintf(text, sizeof(text),
           "apiVersion: tenantd.io/v1\nkind: Tenant\nmetadata: {name: %s}\n"
           "spec:\n  tier: basic\n  environments:\n    - name: prod\n"
           "      network: {cidr: 10.%d.0.0/16}\n      apps: []\n",
           name, octet);
  snprintf(path, sizeof(path), "tenants/%s.yaml", name);
  add(f, path, text);
  snprintf(f->v[f->n - 1].key, sizeof(f->v[f->n - 1].key), "%s", key);
}

static const struct manifest_doc *doc_at(const struct manifest_repo *r,
                                         const char *path)
{
  const struct manifest_doc *d = manifest_repo_find(r, path);

  ck_assert_ptr_nonnull(d);
  return d;
}

/* Asked in path order, each document is found where the last ended;
 * asked out of order, or for a path no document has, it is still the
 * same answer as a search. */
START_TEST(find_tenant_follows_path_order)
{
  static const char *const names[] = {"alpha", "beta", "delta", "gamma"};
  static const char *const asks[] = {
      "tenants/alpha.yaml", "tenants/beta.yaml",  "tenants/charlie.yaml",
      "tenants/delta.yaml", "tenants/gamma.yaml", "tenants/zulu.yaml",
      "tenants/beta.yaml",  "tenants/alpha.yaml", "tenants/gamma.yaml",
      "platform.yaml"};
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  size_t hint = 0;

  add(&files, "platform.yaml", platform_yaml);
  for (size_t i = 0; i < ARRAY_SIZE(names); i++)
    add_tenant(&files, names[i], (int)i + 1, names[i]);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->ntenants, ARRAY_SIZE(names));
  for (size_t i = 0; i < ARRAY_SIZE(asks); i++) {
    const struct manifest_doc *want = manifest_repo_find(repo, asks[i]);

    if (strcmp(asks[i], "platform.yaml") == 0)
      want = NULL; /* not a tenant's */
    ck_assert_ptr_eq(manifest_repo_find_tenant(repo, asks[i], &hint), want);
    if (want)
      ck_assert_str_eq(want->path, asks[i]);
  }
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

/*
 * A reload keeps the documents whose key is unchanged (the same objects,
 * not parsed again), parses the rest, carries each kept document's own
 * problems, and runs the rules across documents over all of them.
 */
START_TEST(reload_reuses_unchanged_documents)
{
  struct manifest_files one = MANIFEST_FILES_INIT, two = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  const struct manifest_doc *a, *b, *bad;

  add(&one, "platform.yaml", platform_yaml);
  snprintf(one.v[0].key, sizeof(one.v[0].key), "p1");
  add_tenant(&one, "alpha", 1, "a1");
  add_tenant(&one, "beta", 2, "b1");
  add(&one, "tenants/gamma.yaml", "kind: [");
  snprintf(one.v[3].key, sizeof(one.v[3].key), "g1");
  manifest_repo_load(&repo, &one, NULL);
  a = doc_at(repo, "tenants/alpha.yaml");
  b = doc_at(repo, "tenants/beta.yaml");
  bad = doc_at(repo, "tenants/gamma.yaml");
  ck_assert(a->valid && b->valid && !bad->valid);
  ck_assert_uint_eq(diag_count_path(&repo->diags, "tenants/gamma.yaml"), 1);

  /* beta moves onto alpha's network; alpha and gamma are unchanged. */
  manifest_files_add_reused(&two, "platform.yaml", "p1");
  manifest_files_add_reused(&two, "tenants/alpha.yaml", "a1");
  add_tenant(&two, "beta", 1, "b2");
  manifest_files_add_reused(&two, "tenants/gamma.yaml", "g1");
  manifest_repo_reload(&repo, &two, NULL, repo);
  ck_assert_ptr_eq(doc_at(repo, "tenants/alpha.yaml"), a);
  ck_assert_ptr_eq(doc_at(repo, "tenants/gamma.yaml"), bad);
  ck_assert_str_eq(doc_at(repo, "tenants/beta.yaml")->key, "b2");
  ck_assert_str_eq(mf_tenant_env(doc_at(repo, "tenants/beta.yaml")->u.tenant, 0)
                       ->network.cidr.text,
                   "10.1.0.0/16");
  /* The overlap is reported at both, the unchanged alpha included. */
  ck_assert(!doc_at(repo, "tenants/alpha.yaml")->valid);
  ck_assert(!doc_at(repo, "tenants/beta.yaml")->valid);
  ck_assert_uint_eq(diag_count_path(&repo->diags, "tenants/alpha.yaml"), 1);
  ck_assert_uint_eq(diag_count_path(&repo->diags, "tenants/gamma.yaml"), 1);
  ck_assert(doc_at(repo, "platform.yaml")->valid);

  /* A reused file the previous repo does not hold is held, not lost. */
  manifest_files_release(&one);
  manifest_files_add_reused(&one, "platform.yaml", "p1");
  manifest_files_add_reused(&one, "tenants/alpha.yaml", "a-other");
  manifest_repo_reload(&repo, &one, NULL, repo);
  ck_assert_uint_eq(repo->ntenants, 1);
  ck_assert(!repo->tenants[0]->valid);
  ck_assert_ptr_nonnull(strstr(repo->diags.v[0].msg, "internal"));
  manifest_repo_free(repo);
  manifest_files_release(&one);
  manifest_files_release(&two);
}
END_TEST

/* ---- a reload checks what changed, and says what a fresh load says ---- */

static uint64_t rules_rng = 42;

static size_t pick(size_t n)
{
  return (size_t)(td_rand(&rules_rng) % n);
}

/* A tenant file for `name` with random trouble in it: a name that is not
 * the file's, networks that overlap others, aliases and names others
 * claim, an unknown tier, a dependency cycle, repeated environments. */
static char *random_tenant(const char *name)
{
  static const char *const cidrs[] = {"10.1.0.0/16", "10.1.0.0/24",
                                      "10.2.0.0/16", "10.0.0.0/8",
                                      "10.3.4.0/24", "192.168.0.0/24"};
  static const char *const aliases[] = {"a.example.io", "b.example.io",
                                        "api.prod.t1.example.io"};
  /* "t1-b" with "prod" and "t1" with "b-prod" derive the same name. */
  static const char *const names[] = {"t1", "t2", "t1-b", "x"};
  static const char *const env_names[] = {"prod", "staging", "b-prod"};
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  size_t envs = 1 + pick(2);

  fprintf(f,
          "apiVersion: tenantd.io/v1\nkind: Tenant\nmetadata: {name: %s}\n"
          "spec:\n  tier: %s\n  environments:\n",
          pick(6) ? name : names[pick(4)], pick(8) ? "basic" : "basci");
  for (size_t e = 0; e < envs; e++) {
    fprintf(f, "    - name: %s\n      network: {cidr: %s}\n      apps:\n",
            pick(3) ? env_names[e] : env_names[pick(3)], cidrs[pick(6)]);
    const char *pub = pick(2) ? "true" : "false";
    const char *priv = pick(2) ? "true" : "false";

    if (pick(3) == 0)
      fprintf(f,
              "        - name: api\n          image: r/api:1\n"
              "          port: 80\n          dns: {public: %s, private: %s, "
              "aliases: [%s]}\n",
              pub, priv, aliases[pick(3)]);
    else
      fprintf(f,
              "        - name: api\n          image: r/api:1\n"
              "          port: 80\n          dns: {public: %s, private: %s}\n",
              pub, priv);
    if (pick(6) == 0)
      fprintf(f, "          dependsOn: [web]\n        - name: web\n"
                 "          image: r/web:1\n          port: 80\n"
                 "          dependsOn: [api]\n");
  }
  fclose(f);
  return text;
}

/* The repository's files with keys: a file's key is its text's hash. */
static void put_keyed(struct manifest_files *f, const char *path,
                      const char *text)
{
  add(f, path, text);
  resource_hash_hex(text, strlen(text), f->v[f->n - 1].key);
}

/* Every diagnostic, and which files are valid, as one text. */
static char *repo_text(const struct manifest_repo *r)
{
  char *d = test_diags_text(&r->diags), *all;
  size_t n = strlen(d) + r->ntenants + 8;

  all = td_malloc(n + 1);
  snprintf(all, n, "%s|", d);
  for (size_t i = 0; i < r->ntenants; i++)
    strcat(all, r->tenants[i]->valid ? "1" : "0");
  free(d);
  return all;
}

START_TEST(reload_rules_match_a_fresh_load)
{
  static const char *const platforms[] = {
      platform_yaml,
      "apiVersion: tenantd.io/v1\nkind: Platform\nmetadata: {name: p2}\n"
      "spec:\n  domains: {public: example.io}\n"
      "  ingress: {public: lb.example.io}\n"};
  static const char *const kinds[] = {
      "overlaps",     "is both",         "also defined",  "belongs both",
      "unknown tier", "dependsOn cycle", "does not match"};
  size_t seen[ARRAY_SIZE(kinds)] = {0};
  char *texts[12] = {0};
  const char *platform = platforms[0];
  struct manifest_repo *kept = NULL;

  for (int step = 0; step < 400; step++) {
    struct manifest_files files = MANIFEST_FILES_INIT;
    struct manifest_repo *fresh;
    char *a, *b;
    size_t t = pick(ARRAY_SIZE(texts));

    /* One change a step: a tenant written, rewritten or removed, or
     * (now and then) another platform. */
    if (pick(20) == 0) {
      platform = platforms[pick(2)];
    } else if (pick(5) == 0) {
      free(texts[t]);
      texts[t] = NULL;
    } else {
      char name[16];

      snprintf(name, sizeof(name), "t%zu", t);
      free(texts[t]);
      texts[t] = random_tenant(name);
    }
    put_keyed(&files, "platform.yaml", platform);
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
      char path[32];

      if (!texts[i])
        continue;
      snprintf(path, sizeof(path), "tenants/t%zu.yaml", i);
      put_keyed(&files, path, texts[i]);
    }
    manifest_repo_reload(&kept, &files, NULL, kept);
    manifest_repo_load(&fresh, &files, NULL);
    a = repo_text(kept);
    b = repo_text(fresh);
    ck_assert_str_eq(a, b);
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
      seen[k] += strstr(a, kinds[k]) != NULL;
    free(a);
    free(b);
    manifest_repo_free(fresh);
    manifest_files_release(&files);
  }
  manifest_repo_free(kept);
  for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
    free(texts[i]);
  /* The walk met every kind of problem, and often. */
  for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
    ck_assert_msg(seen[k] > 10, "%s: %zu", kinds[k], seen[k]);
}
END_TEST

/*
 * Tenant files decode, and are checked, on several threads; what comes
 * out does not depend on how many: the same documents in path order, the
 * same findings in the same order (a document's own, and those across
 * documents), the same valid files, and a reload that takes half the
 * documents over says what a load on one thread says.
 */
START_TEST(load_is_the_same_on_any_number_of_threads)
{
  static const unsigned threads[] = {1, 2, 4, 0, 9};
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_files half = MANIFEST_FILES_INIT;
  struct manifest_opts opts = MANIFEST_OPTS_INIT;
  struct manifest_repo *one, *kept = NULL;
  size_t invalid = 0;
  char *want, *got;

  put_keyed(&files, "platform.yaml", platform_yaml);
  put_keyed(&half, "platform.yaml", platform_yaml);
  for (size_t i = 0; i < 300; i++) {
    char name[16], path[32], *text;

    snprintf(name, sizeof(name), "t%zu", i);
    snprintf(path, sizeof(path), "tenants/t%zu.yaml", i);
    text = i % 37 == 5 ? td_strdup("kind: [") : random_tenant(name);
    put_keyed(&files, path, text);
    if (i % 2)
      put_keyed(&half, path, text);
    free(text);
  }
  opts.threads = 1;
  manifest_repo_load(&one, &files, &opts);
  ck_assert_uint_eq(one->ntenants, 300);
  want = repo_text(one);
  ck_assert_ptr_nonnull(strstr(want, "tenants/t5.yaml"));
  /* Findings across documents, whose claims the threads work out. */
  ck_assert_ptr_nonnull(strstr(want, "overlaps"));
  ck_assert_ptr_nonnull(strstr(want, "also defined"));
  /* The repository counts its documents that are not valid. */
  for (size_t i = 0; i < one->ntenants; i++)
    invalid += !one->tenants[i]->valid;
  ck_assert_uint_ge(invalid, 300 / 37);
  ck_assert_uint_eq(one->ninvalid, invalid);
  for (size_t k = 0; k < ARRAY_SIZE(threads); k++) {
    struct manifest_repo *many;

    opts.threads = threads[k];
    manifest_repo_load(&many, &files, &opts);
    got = repo_text(many);
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(many->ninvalid, invalid);
    for (size_t i = 0; i < many->ntenants; i++) {
      ck_assert_str_eq(many->tenants[i]->path, one->tenants[i]->path);
      ck_assert_str_eq(many->tenants[i]->key, one->tenants[i]->key);
      ck_assert_uint_eq(many->tenants[i]->own.n, one->tenants[i]->own.n);
    }
    free(got);
    manifest_repo_free(many);
  }
  opts.threads = 3;
  manifest_repo_reload(&kept, &half, &opts, NULL);
  manifest_repo_reload(&kept, &files, &opts, kept);
  ck_assert_uint_eq(kept->ninvalid, invalid);
  got = repo_text(kept);
  ck_assert_str_eq(got, want);
  free(got);
  free(want);
  manifest_repo_free(kept);
  manifest_repo_free(one);
  manifest_files_release(&half);
  manifest_files_release(&files);
}
END_TEST

/*
 * A consuming load says what a plain load says, on any number of
 * threads, and leaves no tenant file's bytes behind; platform.yaml and
 * tiers.yaml stay as they were.
 */
START_TEST(consuming_load_frees_tenant_bytes_and_says_the_same)
{
  static const unsigned threads[] = {1, 3};

  for (size_t k = 0; k < ARRAY_SIZE(threads); k++) {
    struct manifest_files files = MANIFEST_FILES_INIT;
    struct manifest_opts opts = MANIFEST_OPTS_INIT;
    struct manifest_repo *plain, *consumed;
    char *want, *got;

    put_keyed(&files, "platform.yaml", platform_yaml);
    for (size_t i = 0; i < 100; i++) {
      char name[16], path[32], *text;

      snprintf(name, sizeof(name), "t%zu", i);
      snprintf(path, sizeof(path), "tenants/t%zu.yaml", i);
      text = i % 29 == 3 ? td_strdup("kind: [") : random_tenant(name);
      put_keyed(&files, path, text);
      free(text);
    }
    opts.threads = threads[k];
    manifest_repo_load(&plain, &files, &opts);
    want = repo_text(plain);
    manifest_repo_load_consume(&consumed, &files, &opts);
    got = repo_text(consumed);
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(consumed->ntenants, plain->ntenants);
    for (size_t i = 0; i < consumed->ntenants; i++)
      ck_assert_str_eq(consumed->tenants[i]->key, plain->tenants[i]->key);
    for (size_t i = 0; i < files.n; i++) {
      bool tenant = strncmp(files.v[i].path, "tenants/", 8) == 0;

      ck_assert_int_eq(files.v[i].data == NULL, tenant);
      if (tenant)
        ck_assert_uint_eq(files.v[i].len, 0);
    }
    free(got);
    free(want);
    manifest_repo_free(consumed);
    manifest_repo_free(plain);
    manifest_files_release(&files);
  }
}
END_TEST

START_TEST(string_rules)
{
  int64_t ms = 0;
  uint32_t addr = 0;
  static const char *const keys[] = {"tier", "tenants", "environments"};

  ck_assert(naming_is_label("a"));
  ck_assert(naming_is_label("mwc-murata"));
  ck_assert(!naming_is_label("-a"));
  ck_assert(!naming_is_label("a-"));
  ck_assert(!naming_is_label("A"));
  ck_assert(!naming_is_label("a_b"));
  ck_assert(!naming_is_label(""));
  ck_assert(
      naming_is_label("a23456789012345678901234567890123456789012345678901"
                      "234567890123"));
  ck_assert(!naming_is_label("a234567890123456789012345678901234567890123456789"
                             "01234567890123a"));
  ck_assert(naming_is_dnsname("lb.pycom.io"));
  ck_assert(!naming_is_dnsname("lb..io"));
  ck_assert(!naming_is_dnsname("lb.io."));
  ck_assert(naming_is_ipv4("10.0.0.1", &addr));
  ck_assert_uint_eq(addr, 0x0A000001);
  ck_assert(!naming_is_ipv4("10.0.0.01", NULL));
  ck_assert(!naming_is_ipv4("10.0.0", NULL));
  ck_assert(!naming_is_ipv4("256.0.0.1", NULL));
  ck_assert_int_eq(str_parse_duration("1h30m", &ms), 0);
  ck_assert_int_eq(ms, 5400000);
  ck_assert_int_eq(str_parse_duration("250ms", &ms), 0);
  ck_assert_int_eq(ms, 250);
  ck_assert_int_eq(str_parse_duration("5 minutes", &ms), -1);
  ck_assert_int_eq(str_parse_duration("", &ms), -1);
  ck_assert_int_eq(str_parse_duration("10", &ms), -1);
  ck_assert_int_eq(str_parse_duration("99999999999999999999h", &ms), -1);
  ck_assert_str_eq(str_suggest("tire", keys, 3), "tier");
  ck_assert_str_eq(str_suggest("Tier", keys, 3), "tier");
  ck_assert_str_eq(str_suggest("enviroments", keys, 3), "environments");
  ck_assert_ptr_null(str_suggest("colour", keys, 3));
  ck_assert_ptr_null(str_suggest("ti", keys, 3));
}
END_TEST

/* A tenant whose one environment holds `apps` (YAML flow items). */
static void add_tenant_apps(struct manifest_files *f, const char *apps)
{
  char *text = NULL;

  ck_assert_int_ge(
      asprintf(&text,
               "apiVersion: tenantd.io/v1\nkind: Tenant\n"
               "metadata: {name: acme}\n"
               "spec:\n  tier: basic\n  environments:\n"
               "    - name: prod\n      network: {cidr: 10.1.0.0/16}\n"
               "      apps: [%s]\n",
               apps),
      0);
  add(f, "tenants/acme.yaml", text);
  free(text);
}

/* Whether some diagnostic's message starts with `prefix`. */
static bool has_diag(const struct diag_list *d, const char *prefix)
{
  for (size_t i = 0; i < d->n; i++)
    if (strncmp(d->v[i].msg, prefix, strlen(prefix)) == 0)
      return true;
  return false;
}

/*
 * App names that break the label rule are kept for the checks after
 * decoding; a cycle between two long ones once wrote its chain past the
 * end of the message buffer.
 */
START_TEST(dependency_cycle_of_long_names_stays_in_bounds)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char a[601], b[601], apps[4096];

  memset(a, 'a', sizeof(a) - 1);
  a[sizeof(a) - 1] = '\0';
  memset(b, 'b', sizeof(b) - 1);
  b[sizeof(b) - 1] = '\0';
  snprintf(apps, sizeof(apps),
           "{name: %s, image: x, port: 1, dependsOn: [%s]}, "
           "{name: %s, image: x, port: 1, dependsOn: [%s]}",
           a, b, b, a);
  add(&files, "platform.yaml", platform_yaml);
  add_tenant_apps(&files, apps);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert(!repo->tenants[0]->valid);
  ck_assert(has_diag(&repo->diags, "dependsOn cycle: aaaa"));
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

/*
 * Loads one tenant with one public and private app, named by the
 * arguments, next to a platform whose zones are `zone`; returns whether
 * no name was derived (no derived name or record was checked).
 */
static bool derives_no_names(const char *tenant, const char *env,
                             const char *app, const char *zone)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char *plat = NULL, *text = NULL;
  bool none;

  ck_assert_int_ge(asprintf(&plat,
                            "apiVersion: tenantd.io/v1\nkind: Platform\n"
                            "metadata: {name: test}\nspec:\n"
                            "  domains: {public: %s, private: %s}\n"
                            "  ingress: {public: lb.example.io}\n",
                            zone, zone),
                   0);
  ck_assert_int_ge(asprintf(&text,
                            "apiVersion: tenantd.io/v1\nkind: Tenant\n"
                            "metadata: {name: %s}\nspec:\n  tier: basic\n"
                            "  environments:\n    - name: %s\n"
                            "      network: {cidr: 10.1.0.0/16}\n"
                            "      apps: [{name: %s, image: x, port: 1,"
                            " dns: {public: true, private: true}}]\n",
                            tenant, env, app),
                   0);
  add(&files, "platform.yaml", plat);
  add(&files, "tenants/acme.yaml", text);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert(has_diag(&repo->diags, "'aaaa"));
  none = !has_diag(&repo->diags, "derived name") &&
         !has_diag(&repo->diags, "public DNS name") &&
         !has_diag(&repo->diags, "private DNS name");
  manifest_repo_free(repo);
  manifest_files_release(&files);
  free(plat);
  free(text);
  return none;
}

/*
 * Names are derived only from labels and zones that keep their rules: a
 * 600-character tenant, environment or app name, or zone, once reached
 * the naming functions and failed their length assertion.
 */
START_TEST(long_invalid_names_derive_no_names)
{
  char longname[601];

  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  ck_assert(derives_no_names(longname, "prod", "api", "example.io"));
  ck_assert(derives_no_names("acme", longname, "api", "example.io"));
  ck_assert(derives_no_names("acme", "prod", longname, "example.io"));
  ck_assert(derives_no_names("acme", "prod", "api", longname));
}
END_TEST

/*
 * An octal integer past INT64_MAX is a number too big to be an integer;
 * it was read as 0, so `maxDeletePercent: 0o1000000000000000000000` was
 * accepted as 0.
 */
START_TEST(octal_past_int64_is_not_zero)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char plat[512];

  snprintf(plat, sizeof(plat), "%s  policies: {maxDeletePercent: %s}\n",
           platform_yaml, "0o1000000000000000000000");
  add(&files, "platform.yaml", plat);
  add(&files, "tenants/acme.yaml", tenant_yaml);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert(!repo->platform->valid);
  ck_assert(has_diag(&repo->diags,
                     "'maxDeletePercent' must be an integer, not a number"));
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

START_TEST(tenant_file_names_are_tenant_names)
{
  static const struct {
    const char *path;
    bool tenant; /* the loader makes a tenant of it */
  } cases[] = {
      {"tenants/acme.yaml", true},
      {"tenants/acme.yml", true},
      {"tenants/a.yaml", true},
      {"tenants/mwc-murata-2.yaml", true},
      {"tenants/\xff\xfe.yaml", false},                 /* not UTF-8 */
      {"tenants/acme\xff.yaml", false},                 /* not UTF-8 */
      {"tenants/\xc0\xaf.yaml", false},                 /* overlong '/' */
      {"tenants/\xe0\x80\xae\xe0\x80\xae.yaml", false}, /* overlong ".." */
      {"tenants/\xed\xa0\x80.yaml", false},             /* a surrogate */
      {"tenants/\xc3\xa9t\xc3\xa9.yaml", false},        /* UTF-8, not a label */
      {"tenants/Acme.yaml", false},
      {"tenants/acme.prod.yaml", false},
      {"tenants/acme..yaml", false},
      {"tenants/-acme.yaml", false},
      {"tenants/acme_1.yaml", false},
      {"tenants/acme\n.yaml", false},
      {"tenants/"
       "a123456789012345678901234567890123456789012345678901234567890123.yaml",
       false},                       /* 64 characters */
      {"tenants/.acme.yaml", false}, /* hidden: not a tenant path at all */
      {"tenants/x/acme.yaml", false},
      {"tenants/acme.json", false},
      {"platform.yaml", false},
  };
  char name[64];

  for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
    ck_assert_msg(manifest_path_tenant(cases[i].path, name, sizeof(name)) ==
                      cases[i].tenant,
                  "case %zu", i);
  ck_assert(manifest_path_tenant("tenants/mwc-murata.yml", name, sizeof(name)));
  ck_assert_str_eq(name, "mwc-murata");
  ck_assert(manifest_path_tenant("tenants/acme.yaml", NULL, 0));
  /* Every reader hands such files to the loader, which refuses them. */
  ck_assert_int_eq(manifest_path_kind("tenants/\xff\xfe.yaml"), MP_TENANT);
  ck_assert_int_eq(manifest_path_kind("tenants/Acme.yaml"), MP_TENANT);
  ck_assert_int_eq(manifest_path_kind("tenants/.acme.yaml"), MP_OTHER);
  ck_assert_int_eq(manifest_path_kind("tenants/x/acme.yaml"), MP_OTHER);
}
END_TEST

/* Whether every diagnostic's path and message is UTF-8 without control
 * characters: what JSON output and log lines need. */
static bool diags_are_clean(const struct diag_list *d)
{
  for (size_t i = 0; i < d->n; i++) {
    const char *s[2] = {d->v[i].path, d->v[i].msg};

    for (int k = 0; k < 2; k++) {
      const unsigned char *p = (const unsigned char *)s[k];

      for (size_t j = 0, len = strlen(s[k]); j < len;) {
        size_t n = str_utf8_seq(p + j, len - j);

        if (n == 0 || p[j] < 0x20 || p[j] == 0x7F)
          return false;
        j += n;
      }
    }
  }
  return true;
}

/*
 * A file under tenants/ whose name is no tenant's is a problem at its
 * path, escaped, and never a document: so no tenant is named after it,
 * and the others load as if it were not there.
 */
START_TEST(loader_refuses_files_named_for_no_tenant)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;

  add(&files, "platform.yaml", platform_yaml);
  add(&files, "tenants/acme.yaml", tenant_yaml);
  add(&files, "tenants/\xff\xfe.yaml", tenant_yaml);
  add(&files, "tenants/Acme.yaml", tenant_yaml);
  manifest_files_add_unreadable(&files, "tenants/x\x1b.yaml",
                                "is a symbolic link");
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->ntenants, 1);
  ck_assert_str_eq(repo->tenants[0]->path, "tenants/acme.yaml");
  ck_assert(repo->tenants[0]->valid);
  ck_assert_uint_eq(repo->nrefused, 3);
  ck_assert_uint_eq(repo->diags.n, 3);
  ck_assert(diags_are_clean(&repo->diags));
  ck_assert_uint_eq(diag_count_path(&repo->diags, "tenants/\\xff\\xfe.yaml"),
                    1);
  ck_assert_uint_eq(diag_count_path(&repo->diags, "tenants/x\\x1b.yaml"), 1);
  ck_assert_uint_eq(diag_count_path(&repo->diags, "tenants/Acme.yaml"), 1);
  ck_assert_uint_eq(repo->diags.v[0].line, 0);
  ck_assert_ptr_null(manifest_repo_find(repo, "tenants/\xff\xfe.yaml"));

  /* Once the file is gone nothing of it remains. */
  manifest_files_remove(&files, "tenants/\xff\xfe.yaml");
  manifest_files_remove(&files, "tenants/Acme.yaml");
  manifest_files_remove(&files, "tenants/x\x1b.yaml");
  manifest_repo_reload(&repo, &files, NULL, repo);
  ck_assert_uint_eq(repo->ntenants, 1);
  ck_assert_uint_eq(repo->nrefused, 0);
  ck_assert_uint_eq(repo->diags.n, 0);
  manifest_repo_free(repo);
  manifest_files_release(&files);
}
END_TEST

/* Whether two repos found the same problems, in the same order. */
static void same_diags(const struct manifest_repo *a,
                       const struct manifest_repo *b)
{
  ck_assert_uint_eq(a->diags.n, b->diags.n);
  for (size_t i = 0; i < a->diags.n; i++) {
    ck_assert_str_eq(a->diags.v[i].path, b->diags.v[i].path);
    ck_assert_uint_eq(a->diags.v[i].line, b->diags.v[i].line);
    ck_assert_uint_eq(a->diags.v[i].col, b->diags.v[i].col);
    ck_assert_str_eq(a->diags.v[i].msg, b->diags.v[i].msg);
  }
}

/*
 * A listing of changes names only what changed: every other tenant
 * document moves over as it is (the same object), a file gone takes its
 * document with it, and a refused name no entry names is still refused.
 * The rules across documents see the moved ones: the result is what a
 * full listing of the same files loads.
 */
START_TEST(reload_of_changes_moves_what_no_file_names)
{
  struct manifest_files all = MANIFEST_FILES_INIT, ch = MANIFEST_FILES_INIT;
  struct manifest_repo *repo, *full;
  const struct manifest_doc *alpha;

  add(&all, "platform.yaml", platform_yaml);
  snprintf(all.v[0].key, sizeof(all.v[0].key), "p1");
  add_tenant(&all, "alpha", 1, "a1");
  add_tenant(&all, "beta", 2, "b1");
  add_tenant(&all, "gamma", 3, "g1");
  add(&all, "tenants/Acme.yaml", tenant_yaml);
  manifest_repo_load(&repo, &all, NULL);
  ck_assert_uint_eq(repo->ntenants, 3);
  ck_assert_uint_eq(repo->nrefused, 1);
  alpha = doc_at(repo, "tenants/alpha.yaml");

  /* beta now overlaps alpha's network, gamma is gone, delta is new. */
  add(&ch, "platform.yaml", platform_yaml);
  snprintf(ch.v[0].key, sizeof(ch.v[0].key), "p1");
  ch.v[0].reused = true;
  free(ch.v[0].data);
  ch.v[0].data = NULL;
  add_tenant(&ch, "beta", 1, "b2");
  manifest_files_add_gone(&ch, "tenants/gamma.yaml");
  add_tenant(&ch, "delta", 4, "d1");
  ch.delta_of = repo;
  manifest_repo_reload(&repo, &ch, NULL, repo);
  ck_assert_ptr_eq(doc_at(repo, "tenants/alpha.yaml"), alpha);
  ck_assert_uint_eq(repo->ntenants, 3);
  ck_assert_str_eq(repo->tenants[0]->path, "tenants/alpha.yaml");
  ck_assert_str_eq(repo->tenants[1]->path, "tenants/beta.yaml");
  ck_assert_str_eq(repo->tenants[2]->path, "tenants/delta.yaml");
  ck_assert_ptr_null(manifest_repo_find(repo, "tenants/gamma.yaml"));
  ck_assert_str_eq(doc_at(repo, "tenants/beta.yaml")->key, "b2");
  ck_assert(!doc_at(repo, "tenants/beta.yaml")->valid);
  ck_assert(doc_at(repo, "tenants/delta.yaml")->valid);
  ck_assert_uint_eq(repo->nrefused, 1);
  ck_assert_str_eq(repo->refused[0], "tenants/Acme.yaml");
  ck_assert_uint_eq(diag_count_path(&repo->diags, "tenants/Acme.yaml"), 1);
  ck_assert_uint_gt(diag_count_path(&repo->diags, "tenants/beta.yaml"), 0);

  /* The same files listed in full load to the same problems. */
  manifest_files_remove(&all, "tenants/beta.yaml");
  manifest_files_remove(&all, "tenants/gamma.yaml");
  add_tenant(&all, "beta", 1, "b2");
  add_tenant(&all, "delta", 4, "d1");
  manifest_repo_load(&full, &all, NULL);
  same_diags(repo, full);
  ck_assert_uint_eq(full->ntenants, repo->ntenants);
  manifest_repo_free(full);

  /* The refused file gone: nothing of it remains. */
  manifest_files_release(&ch);
  add(&ch, "platform.yaml", platform_yaml);
  manifest_files_add_gone(&ch, "tenants/Acme.yaml");
  ch.delta_of = repo;
  manifest_repo_reload(&repo, &ch, NULL, repo);
  ck_assert_uint_eq(repo->nrefused, 0);
  ck_assert_uint_eq(diag_count_path(&repo->diags, "tenants/Acme.yaml"), 0);
  ck_assert_uint_eq(repo->ntenants, 3);
  manifest_repo_free(repo);
  manifest_files_release(&ch);
  manifest_files_release(&all);
}
END_TEST

/* Writes `text` to <dir>/<rel>. */
static void write_file(const char *dir, const char *rel, const char *text)
{
  char path[1024];
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s", dir, rel);
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  ck_assert_int_eq(fclose(f), 0);
}

/* A repository at <dir>/repo: the platform and tenants acme and beta. */
static char *make_repo(const char *dir)
{
  char repo[1024], tenants[1100], beta[2048];
  const char *from = "name: acme", *at = strstr(tenant_yaml, from);

  snprintf(repo, sizeof(repo), "%s/repo", dir);
  snprintf(tenants, sizeof(tenants), "%s/tenants", repo);
  ck_assert_int_eq(mkdir(repo, 0755), 0);
  ck_assert_int_eq(mkdir(tenants, 0755), 0);
  write_file(repo, "platform.yaml", platform_yaml);
  write_file(repo, "tenants/acme.yaml", tenant_yaml);
  snprintf(beta, sizeof(beta), "%.*sname: beta%s", (int)(at - tenant_yaml),
           tenant_yaml, at + strlen(from));
  *strstr(beta, "10.1.0.0") = '\0';
  snprintf(beta + strlen(beta), sizeof(beta) - strlen(beta), "10.2.0.0%s",
           strstr(tenant_yaml, "10.1.0.0") + strlen("10.1.0.0"));
  write_file(repo, "tenants/beta.yaml", beta);
  return td_strdup(repo);
}

/* The replay: a file named with the bytes FF FE, in directory
 * mode.  It is reported; acme and beta load as before and are valid. */
START_TEST(read_dir_reports_a_file_name_that_is_not_utf8)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char *tmp = test_tmpdir(), *dir = make_repo(tmp);
  char *text;

  write_file(dir, "tenants/\xff\xfe.yaml", tenant_yaml);
  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), 0);
  ck_assert_uint_eq(files.n, 4);
  manifest_repo_load(&repo, &files, NULL);
  text = test_diags_text(&repo->diags);
  ck_assert_str_eq(text, "tenants/\\xff\\xfe.yaml: error: the file name is "
                         "not valid UTF-8, so it is no tenant's name; the "
                         "file is not read\n");
  free(text);
  ck_assert_uint_eq(repo->ntenants, 2);
  ck_assert_str_eq(repo->tenants[0]->u.tenant->meta.name.v, "acme");
  ck_assert_str_eq(repo->tenants[1]->u.tenant->meta.name.v, "beta");
  ck_assert(repo->tenants[0]->valid && repo->tenants[1]->valid);
  ck_assert(repo->platform->valid && repo->catalog->valid);
  manifest_repo_free(repo);
  manifest_files_release(&files);
  test_rm_rf(tmp);
  free(dir);
  free(tmp);
}
END_TEST

/* The entry `rel` of the list: present, unread, held with `problem`. */
static void assert_held(const struct manifest_files *f, const char *rel,
                        const char *problem)
{
  for (size_t i = 0; i < f->n; i++) {
    if (strcmp(f->v[i].path, rel) != 0)
      continue;
    ck_assert_msg(f->v[i].problem && strstr(f->v[i].problem, problem), "%s",
                  rel);
    ck_assert_uint_eq(f->v[i].len, 0);
    return;
  }
  ck_abort_msg("%s is missing", rel);
}

/*
 * Directory mode reads nothing through a symbolic link, as Git mode: one
 * to a file outside the repository, one inside it (the same rule, though
 * it would be harmless), a dangling one; and what is not a regular file.
 * Each is held with a problem at its path, not read and not missing, so
 * its tenant keeps what it has.
 */
START_TEST(read_dir_never_reads_through_a_link)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char *tmp = test_tmpdir(), *dir = make_repo(tmp);
  char outside[1024], path[1200], *text;

  snprintf(outside, sizeof(outside), "%s/outside.yaml", tmp);
  write_file(tmp, "outside.yaml", "secret: from outside the repository\n");
  snprintf(path, sizeof(path), "%s/tenants/evil.yaml", dir);
  ck_assert_int_eq(symlink(outside, path), 0);
  snprintf(path, sizeof(path), "%s/tiers.yaml", dir);
  ck_assert_int_eq(symlink("../outside.yaml", path), 0);
  snprintf(path, sizeof(path), "%s/tenants/inside.yaml", dir);
  ck_assert_int_eq(symlink("beta.yaml", path), 0);
  snprintf(path, sizeof(path), "%s/tenants/dangling.yaml", dir);
  ck_assert_int_eq(symlink("nowhere.yaml", path), 0);
  snprintf(path, sizeof(path), "%s/tenants/fifo.yaml", dir);
  ck_assert_int_eq(mkfifo(path, 0644), 0);
  snprintf(path, sizeof(path), "%s/tenants/dir.yaml", dir);
  ck_assert_int_eq(mkdir(path, 0755), 0);

  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), 0);
  assert_held(&files, "tiers.yaml", "symbolic link");
  assert_held(&files, "tenants/evil.yaml", "symbolic link");
  assert_held(&files, "tenants/inside.yaml", "symbolic link");
  assert_held(&files, "tenants/dangling.yaml", "symbolic link");
  assert_held(&files, "tenants/fifo.yaml", "not a regular file");
  assert_held(&files, "tenants/dir.yaml", "not a regular file");
  manifest_repo_load(&repo, &files, NULL);
  text = test_diags_text(&repo->diags);
  ck_assert_ptr_null(strstr(text, "secret"));
  ck_assert_ptr_nonnull(strstr(
      text, "tenants/evil.yaml: error: is a symbolic link; tenantd reads "
            "manifests only from regular files\n"));
  free(text);
  ck_assert_uint_eq(repo->diags.n, 6);
  ck_assert(!doc_at(repo, "tenants/evil.yaml")->valid);
  ck_assert(!doc_at(repo, "tenants/inside.yaml")->valid);
  ck_assert(doc_at(repo, "tenants/beta.yaml")->valid);
  manifest_repo_free(repo);

  /* Read over a list that has entries, a link replaces a readable file. */
  manifest_files_release(&files);
  add(&files, "tenants/evil.yaml", tenant_yaml);
  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), 0);
  assert_held(&files, "tenants/evil.yaml", "symbolic link");
  manifest_files_release(&files);
  test_rm_rf(tmp);
  free(dir);
  free(tmp);
}
END_TEST

/* A tenants/ that is a link, out of the repository or within it, is
 * refused whole: read as empty, every tenant would look deleted. */
/* Many tenant files are read on several threads: each file's bytes
 * land at its own path, links and what is not a file are held as with
 * a few, other names are skipped, and a read over a list that has
 * entries still replaces them. */
START_TEST(read_dir_reads_many_files_each_at_its_path)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  char *tmp = test_tmpdir(), *dir = make_repo(tmp);
  char path[1200], rel[64], text[128];
  size_t tenants = 0;

  for (int i = 0; i < 300; i++) {
    snprintf(rel, sizeof(rel), "tenants/m%03d.yaml", i);
    snprintf(text, sizeof(text), "# file %d\n%.*s", i, i % 50, tenant_yaml);
    write_file(dir, rel, text);
  }
  write_file(dir, "tenants/.hidden.yaml", "x");
  write_file(dir, "tenants/notes.txt", "x");
  snprintf(path, sizeof(path), "%s/tenants/link.yaml", dir);
  ck_assert_int_eq(symlink("m001.yaml", path), 0);
  snprintf(path, sizeof(path), "%s/tenants/dir.yaml", dir);
  ck_assert_int_eq(mkdir(path, 0755), 0);

  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), 0);
  for (size_t i = 0; i < files.n; i++)
    tenants += strncmp(files.v[i].path, "tenants/", 8) == 0;
  /* m000..m299, link, dir, and make_repo's own tenants. */
  ck_assert_uint_ge(tenants, 302);
  for (size_t i = 0; i < files.n; i++) {
    int k;

    ck_assert_ptr_null(strstr(files.v[i].path, ".hidden"));
    ck_assert_ptr_null(strstr(files.v[i].path, "notes"));
    if (sscanf(files.v[i].path, "tenants/m%03d.yaml", &k) != 1)
      continue;
    snprintf(text, sizeof(text), "# file %d\n%.*s", k, k % 50, tenant_yaml);
    ck_assert_str_eq(files.v[i].data, text);
    ck_assert_uint_eq(files.v[i].len, strlen(text));
    ck_assert_ptr_null(files.v[i].problem);
  }
  assert_held(&files, "tenants/link.yaml", "symbolic link");
  assert_held(&files, "tenants/dir.yaml", "not a regular file");

  /* Over a list that has entries: each is replaced by what is read. */
  manifest_files_release(&files);
  add(&files, "tenants/m007.yaml", "stale");
  add(&files, "tenants/link.yaml", tenant_yaml);
  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), 0);
  assert_held(&files, "tenants/link.yaml", "symbolic link");
  for (size_t i = 0; i < files.n; i++)
    if (strcmp(files.v[i].path, "tenants/m007.yaml") == 0)
      ck_assert_ptr_nonnull(strstr(files.v[i].data, "# file 7\n"));
  manifest_files_release(&files);
  test_rm_rf(tmp);
  free(dir);
  free(tmp);
}
END_TEST

START_TEST(read_dir_refuses_a_linked_tenants_directory)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  char *tmp = test_tmpdir(), *dir = make_repo(tmp);
  char from[1100], to[1100];

  snprintf(from, sizeof(from), "%s/tenants", dir);
  snprintf(to, sizeof(to), "%s/elsewhere", tmp);
  ck_assert_int_eq(rename(from, to), 0);
  ck_assert_int_eq(symlink(to, from), 0);
  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "tenants is a symbolic link"));
  ck_assert_int_eq(unlink(from), 0);
  snprintf(to, sizeof(to), "%s/real-tenants", dir);
  ck_assert_int_eq(mkdir(to, 0755), 0);
  ck_assert_int_eq(symlink("real-tenants", from), 0);
  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), -1);
  ck_assert_int_eq(unlink(from), 0);
  write_file(dir, "tenants", "not a directory\n");
  ck_assert_int_eq(manifest_files_read_dir(&files, dir, 1 << 20), -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "not a directory"));
  manifest_files_release(&files);
  test_rm_rf(tmp);
  free(dir);
  free(tmp);
}
END_TEST

/* A value quoted in a message, or printed as it is, comes out escaped. */
START_TEST(messages_quote_values_clean)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo;
  char text[2048];
  const char *from = "tier: basic", *at = strstr(tenant_yaml, from);

  snprintf(text, sizeof(text), "%.*stier: \"\\e[2J\\u202eevil\\n\"%s",
           (int)(at - tenant_yaml), tenant_yaml, at + strlen(from));
  add(&files, "platform.yaml", platform_yaml);
  add(&files, "tenants/acme.yaml", text);
  manifest_repo_load(&repo, &files, NULL);
  ck_assert_uint_eq(repo->diags.n, 1);
  ck_assert(diags_are_clean(&repo->diags));
  ck_assert_ptr_nonnull(
      strstr(repo->diags.v[0].msg, "'\\x1b[2J\\u202eevil\\x0a'"));
  manifest_repo_free(repo);
  manifest_files_release(&files);
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
  tcase_add_test(tc, find_tenant_follows_path_order);
  tcase_add_test(tc, reload_reuses_unchanged_documents);
  tcase_add_test(tc, reload_of_changes_moves_what_no_file_names);
  tcase_add_test(tc, reload_rules_match_a_fresh_load);
  tcase_add_test(tc, load_is_the_same_on_any_number_of_threads);
  tcase_add_test(tc, consuming_load_frees_tenant_bytes_and_says_the_same);
  tcase_add_test(tc, sorted_diag_lookup);
  tcase_add_test(tc, dependency_cycle_of_long_names_stays_in_bounds);
  tcase_add_test(tc, long_invalid_names_derive_no_names);
  tcase_add_test(tc, octal_past_int64_is_not_zero);
  tcase_add_test(tc, tenant_file_names_are_tenant_names);
  tcase_add_test(tc, loader_refuses_files_named_for_no_tenant);
  tcase_add_test(tc, read_dir_reports_a_file_name_that_is_not_utf8);
  tcase_add_test(tc, read_dir_never_reads_through_a_link);
  tcase_add_test(tc, read_dir_reads_many_files_each_at_its_path);
  tcase_add_test(tc, read_dir_refuses_a_linked_tenants_directory);
  tcase_add_test(tc, messages_quote_values_clean);
  suite_add_tcase(s, tc);
  return s;
}
