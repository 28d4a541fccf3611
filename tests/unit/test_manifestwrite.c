/*
 * Tenant changes as commits: a real bare remote made with libgit2, a
 * writer with its own mirror, and another writer racing it through the
 * before_push hook (a commit pushed between the read and the push).
 */
#include "base/compat.h"

#include <git2.h>
#include <stdio.h>

#include "base/error.h"
#include "git/manifestwrite.h"
#include "suites.h"

static const char platform[] = "apiVersion: tenantd.io/v1\n"
                               "kind: Platform\n"
                               "metadata:\n"
                               "  name: minimal\n"
                               "spec:\n"
                               "  domains:\n"
                               "    public: example.com\n";

static const char zeta[] =
    "# Zeta: the first customer.\n"
    "apiVersion: tenantd.io/v1\n"
    "kind: Tenant\n"
    "metadata:\n"
    "  name: zeta   # = the file name\n"
    "spec:\n"
    "  tier: basic              # since 2024\n"
    "  owner: ops@zeta.example\n"
    "\n"
    "  environments:\n"
    "    - name: prod\n"
    "      network: {cidr: 10.50.0.0/16}\n"
    "      apps:\n"
    "        - name: api  # the only one\n"
    "          image: registry.example.com/zeta/api:1.0.0\n"
    "          port: 8080\n";

static const char acme[] = "apiVersion: tenantd.io/v1\n"
                           "kind: Tenant\n"
                           "metadata: {name: acme}\n"
                           "spec:\n"
                           "  tier: standard\n"
                           "  environments:\n"
                           "    - name: prod\n"
                           "      network: {cidr: 10.60.0.0/16}\n";

struct fx {
  char *dir, *remote, *url, *cache, *state;
  git_repository *repo;
  struct manifestwrite *w;
  json_t *providers;
  char first[41];
  /* the racing writer: what it commits before push `race_at` */
  unsigned race_at;
  const char *race_path, *race_text;
  char raced[41];
};

static void commit_files(struct fx *f, const char *msg,
                         const char *const *files, size_t n, char id[41])
{
  git_tree_update up[8];
  git_oid parent_oid, tree_oid, oid;
  git_commit *parent = NULL;
  git_tree *base = NULL, *tree;
  git_signature *sig;

  if (git_reference_name_to_id(&parent_oid, f->repo, "refs/heads/main") == 0) {
    ck_assert_int_eq(git_commit_lookup(&parent, f->repo, &parent_oid), 0);
    ck_assert_int_eq(git_commit_tree(&base, parent), 0);
  } else {
    git_treebuilder *tb;

    ck_assert_int_eq(git_treebuilder_new(&tb, f->repo, NULL), 0);
    ck_assert_int_eq(git_treebuilder_write(&tree_oid, tb), 0);
    ck_assert_int_eq(git_tree_lookup(&base, f->repo, &tree_oid), 0);
    git_treebuilder_free(tb);
  }
  for (size_t i = 0; i < n; i++) {
    memset(&up[i], 0, sizeof(up[i]));
    up[i].path = files[2 * i];
    up[i].action = GIT_TREE_UPDATE_UPSERT;
    up[i].filemode = GIT_FILEMODE_BLOB;
    ck_assert_int_eq(git_blob_create_from_buffer(&up[i].id, f->repo,
                                                 files[2 * i + 1],
                                                 strlen(files[2 * i + 1])),
                     0);
  }
  ck_assert_int_eq(git_tree_create_updated(&tree_oid, f->repo, base, n, up), 0);
  ck_assert_int_eq(git_tree_lookup(&tree, f->repo, &tree_oid), 0);
  ck_assert_int_eq(git_signature_now(&sig, "Other", "other@example.com"), 0);
  ck_assert_int_eq(git_commit_create(&oid, f->repo, "refs/heads/main", sig, sig,
                                     NULL, msg, tree, parent ? 1 : 0,
                                     (const git_commit **)&parent),
                   0);
  git_oid_tostr(id, 41, &oid);
  git_signature_free(sig);
  git_tree_free(tree);
  git_tree_free(base);
  git_commit_free(parent);
}

static void fx_init(struct fx *f)
{
  struct source_opts o = SOURCE_OPTS_INIT;
  const char *const files[] = {"platform.yaml",     platform,
                               "tenants/zeta.yaml", zeta,
                               "tenants/acme.yaml", acme};

  memset(f, 0, sizeof(*f));
  git_libgit2_init();
  f->dir = test_tmpdir();
  f->remote = td_asprintf("%s/remote.git", f->dir);
  f->url = td_asprintf("file://%s", f->remote);
  f->cache = td_asprintf("%s/cache", f->dir);
  f->state = td_asprintf("%s/state", f->dir);
  ck_assert_int_eq(git_repository_init(&f->repo, f->remote, 1), 0);
  commit_files(f, "tenants", files, 3, f->first);
  o.url = f->url;
  o.cache_dir = f->cache;
  ck_assert_int_eq(manifestwrite_new(&f->w, &o), 0);
  f->providers = json_pack("{s:{s:s, s:s}}", "local", "type", "local",
                           "stateDir", f->state);
}

static void fx_free(struct fx *f)
{
  manifestwrite_free(f->w);
  json_decref(f->providers);
  git_repository_free(f->repo);
  test_rm_rf(f->dir);
  free(f->dir);
  free(f->remote);
  free(f->url);
  free(f->cache);
  free(f->state);
  git_libgit2_shutdown();
}

static void race(unsigned attempt, void *arg)
{
  struct fx *f = arg;
  const char *const files[] = {f->race_path, f->race_text};

  if (attempt == f->race_at)
    commit_files(f, "someone else's change", files, 1, f->raced);
}

static struct manifestwrite_request request(struct fx *f, enum mw_op op,
                                            const char *tenant)
{
  struct manifestwrite_request rq = {.version = MANIFESTWRITE_REQUEST_VERSION};

  rq.op = op;
  rq.tenant = tenant;
  rq.subject = "api: a change";
  rq.author_name = "alice";
  rq.author_email = "alice@example.com";
  rq.origin = "PATCH /api/v1/tenants/x";
  rq.request_id = "r1";
  rq.allow_delete = -1;
  rq.before_push = race;
  rq.before_push_arg = f;
  return rq;
}

static void run(struct fx *f, const struct manifestwrite_request *rq,
                struct manifestwrite_result *res, enum mw_status want)
{
  ck_assert_int_eq(manifestwrite_run(f->w, rq, res), 0);
  ck_assert_msg(res->status == want, "status %d (%s), want %d", res->status,
                res->message, want);
}

/* The remote's main, and the text of `path` there ("" when absent). */
static void remote_main(struct fx *f, char id[41])
{
  git_oid oid;

  ck_assert_int_eq(git_reference_name_to_id(&oid, f->repo, "refs/heads/main"),
                   0);
  git_oid_tostr(id, 41, &oid);
}

static char *remote_file(struct fx *f, const char *ref, const char *path)
{
  git_object *obj = NULL;
  char *spec = td_asprintf("%s:%s", ref, path), *text;

  if (git_revparse_single(&obj, f->repo, spec) < 0) {
    free(spec);
    return td_strdup("");
  }
  text = td_strndup(git_blob_rawcontent((git_blob *)obj),
                    (size_t)git_blob_rawsize((git_blob *)obj));
  git_object_free(obj);
  free(spec);
  return text;
}

static git_commit *remote_commit(struct fx *f, const char *id)
{
  git_commit *c;
  git_oid oid;

  ck_assert_int_eq(git_oid_fromstr(&oid, id), 0);
  ck_assert_int_eq(git_commit_lookup(&c, f->repo, &oid), 0);
  return c;
}

static struct mw_set set_str(const char *path, const char *s)
{
  return (struct mw_set){path, {.type = YS_STR, .s = s}};
}

START_TEST(a_new_tenant_is_one_commit_by_who_asked_with_its_plan)
{
  static const char doc[] =
      "{\"apiVersion\": \"tenantd.io/v1\", \"kind\": \"Tenant\","
      " \"metadata\": {\"name\": \"newco\"},"
      " \"spec\": {\"tier\": \"basic\", \"environments\": [{\"name\": \"prod\","
      " \"network\": {\"cidr\": \"10.70.0.0/16\"}}]}}";
  struct manifestwrite_result res;
  struct manifestwrite_request rq;
  struct fx f;
  git_commit *c;
  char head[41], *text;
  json_t *plan;

  fx_init(&f);
  rq = request(&f, MW_CREATE, NULL);
  rq.document = doc;
  rq.document_len = strlen(doc);
  rq.document_json = true;
  rq.providers = f.providers;
  rq.allow_delete = 2;
  run(&f, &rq, &res, MW_COMMITTED);
  ck_assert_ptr_null(res.plan);
  ck_assert_int_eq(manifestwrite_plan(f.w, &rq, &res), 0);
  ck_assert_str_eq(res.tenant, "newco");
  ck_assert_str_eq(res.path, "tenants/newco.yaml");
  ck_assert_str_eq(res.base, f.first);
  ck_assert_str_eq(res.branch, "main");
  ck_assert_uint_eq(res.attempts, 1);
  remote_main(&f, head);
  ck_assert_str_eq(head, res.commit);
  c = remote_commit(&f, head);
  ck_assert_uint_eq(git_commit_parentcount(c), 1);
  ck_assert_str_eq(git_oid_tostr_s(git_commit_parent_id(c, 0)), f.first);
  ck_assert_str_eq(git_commit_author(c)->name, "alice");
  ck_assert_str_eq(git_commit_author(c)->email, "alice@example.com");
  ck_assert_str_eq(git_commit_committer(c)->name, "tenantd");
  ck_assert_str_eq(git_commit_message(c),
                   "api: a change\n\n"
                   "Requested through the API by alice: PATCH "
                   "/api/v1/tenants/x\n\n"
                   "Tenantd-Request: r1\nTenantd-Allow-Delete: 2\n");
  git_commit_free(c);
  text = remote_file(&f, "main", "tenants/newco.yaml");
  ck_assert_str_eq(text, "apiVersion: tenantd.io/v1\nkind: Tenant\n"
                         "metadata:\n  name: newco\nspec:\n  tier: basic\n"
                         "  environments:\n    - name: prod\n      network:\n"
                         "        cidr: 10.70.0.0/16\n");
  free(text);
  /* The plan: the tenant's network, to create. */
  ck_assert_msg(res.plan != NULL, "no plan: %s", res.plan_error);
  plan = json_loads(res.plan, 0, NULL);
  ck_assert_ptr_nonnull(plan);
  ck_assert_str_eq(
      json_string_value(json_object_get(
          json_array_get(json_object_get(plan, "tenants"), 0), "tenant")),
      "newco");
  ck_assert_int_eq(json_integer_value(json_object_get(
                       json_object_get(plan, "summary"), "create")),
                   1);
  ck_assert_str_eq(json_string_value(json_object_get(
                       json_object_get(plan, "source"), "head")),
                   res.commit);
  json_decref(plan);
  manifestwrite_result_release(&res);
  fx_free(&f);
}
END_TEST

START_TEST(an_invalid_tenant_writes_nothing_and_says_where)
{
  static const char doc[] = "apiVersion: tenantd.io/v1\n"
                            "kind: Tenant\n"
                            "metadata: {name: bad}\n"
                            "spec:\n"
                            "  tier: platinum\n"
                            "  environments:\n"
                            "    - name: prod\n"
                            "      network: {cidr: 10.50.0.0/16}\n";
  struct manifestwrite_result res;
  struct manifestwrite_request rq;
  struct fx f;
  char head[41], *text;

  fx_init(&f);
  rq = request(&f, MW_CREATE, NULL);
  rq.document = doc;
  rq.document_len = strlen(doc);
  run(&f, &rq, &res, MW_INVALID);
  text = test_diags_text(&res.diags);
  /* The same messages validate prints: the new file's, and the one the
   * tenant it overlaps now has. */
  ck_assert_str_eq(
      text, "tenants/bad.yaml:5:9: error: unknown tier 'platinum' (the "
            "catalog has: basic, standard, premium, enterprise)\n"
            "tenants/bad.yaml:8:23: error: network 10.50.0.0/16 of tenant "
            "'bad' environment 'prod' overlaps 10.50.0.0/16 of tenant 'zeta' "
            "environment 'prod' (tenants/zeta.yaml:12:23)\n"
            "tenants/zeta.yaml:12:23: error: network 10.50.0.0/16 of tenant "
            "'zeta' environment 'prod' overlaps 10.50.0.0/16 of tenant 'bad' "
            "environment 'prod' (tenants/bad.yaml:8:23)\n");
  ck_assert_ptr_null(res.document); /* the body as sent */
  remote_main(&f, head);
  ck_assert_str_eq(head, f.first);
  free(text);
  manifestwrite_result_release(&res);

  /* A document that names no tenant. */
  rq.document = "kind: Tenant\nmetadata: {name: Bad_Name}\n";
  rq.document_len = strlen(rq.document);
  run(&f, &rq, &res, MW_INVALID);
  ck_assert_uint_eq(res.diags.n, 1);
  ck_assert_uint_eq(res.diags.v[0].line, 2);
  ck_assert_uint_eq(res.diags.v[0].col, 18);
  manifestwrite_result_release(&res);

  /* JSON that is not. */
  rq.document = "{\"kind\": ";
  rq.document_len = strlen(rq.document);
  rq.document_json = true;
  run(&f, &rq, &res, MW_BAD_REQUEST);
  manifestwrite_result_release(&res);
  fx_free(&f);
}
END_TEST

START_TEST(a_patch_keeps_every_other_byte)
{
  struct mw_set sets[] = {
      set_str("spec.tier", "premium"),
      {"spec.suspend", {.type = YS_BOOL, .b = true}},
      {"spec.environments[prod].apps[api].replicas", {.type = YS_INT, .i = 3}},
  };
  struct manifestwrite_result res;
  struct manifestwrite_request rq;
  struct fx f;
  char *text, *want;

  fx_init(&f);
  rq = request(&f, MW_PATCH, "zeta");
  rq.sets = sets;
  rq.nsets = ARRAY_SIZE(sets);
  run(&f, &rq, &res, MW_COMMITTED);
  text = remote_file(&f, "main", "tenants/zeta.yaml");
  want = td_asprintf("# Zeta: the first customer.\n"
                     "apiVersion: tenantd.io/v1\n"
                     "kind: Tenant\n"
                     "metadata:\n"
                     "  name: zeta   # = the file name\n"
                     "spec:\n"
                     "  tier: premium              # since 2024\n"
                     "  owner: ops@zeta.example\n"
                     "  suspend: true\n"
                     "\n"
                     "  environments:\n"
                     "    - name: prod\n"
                     "      network: {cidr: 10.50.0.0/16}\n"
                     "      apps:\n"
                     "        - name: api  # the only one\n"
                     "          image: registry.example.com/zeta/api:1.0.0\n"
                     "          port: 8080\n"
                     "          replicas: 3\n");
  ck_assert_str_eq(text, want);
  free(text);
  free(want);
  manifestwrite_result_release(&res);

  /* The same again: nothing to commit. */
  rq.request_id = "r2";
  run(&f, &rq, &res, MW_UNCHANGED);
  manifestwrite_result_release(&res);

  /* A value the file cannot take: refused with the edited text. */
  sets[0] = set_str("spec.tier", "platinum");
  rq.nsets = 1;
  run(&f, &rq, &res, MW_INVALID);
  ck_assert_uint_eq(res.diags.n, 1);
  ck_assert_str_eq(res.diags.v[0].path, "tenants/zeta.yaml");
  ck_assert_uint_eq(res.diags.v[0].line, 7);
  ck_assert_ptr_nonnull(strstr(res.document, "tier: platinum"));
  manifestwrite_result_release(&res);

  /* An app that is not there. */
  sets[0] = (struct mw_set){"spec.environments[prod].apps[web].replicas",
                            {.type = YS_INT, .i = 2}};
  run(&f, &rq, &res, MW_INVALID);
  ck_assert_str_eq(res.diags.v[0].msg,
                   "spec.environments[prod].apps[web].replicas: apps has "
                   "no item named 'web'");
  manifestwrite_result_release(&res);
  fx_free(&f);
}
END_TEST

START_TEST(unknown_and_existing_tenants)
{
  static const char doc[] = "apiVersion: tenantd.io/v1\nkind: Tenant\n"
                            "metadata: {name: zeta}\nspec: {tier: basic}\n";
  struct mw_set sets[] = {set_str("spec.tier", "premium")};
  struct manifestwrite_result res;
  struct manifestwrite_request rq;
  struct fx f;

  fx_init(&f);
  rq = request(&f, MW_PATCH, "nobody");
  rq.sets = sets;
  rq.nsets = 1;
  run(&f, &rq, &res, MW_NOT_FOUND);
  manifestwrite_result_release(&res);
  rq.op = MW_DELETE;
  run(&f, &rq, &res, MW_NOT_FOUND);
  manifestwrite_result_release(&res);
  rq = request(&f, MW_CREATE, NULL);
  rq.document = doc;
  rq.document_len = strlen(doc);
  run(&f, &rq, &res, MW_EXISTS);
  manifestwrite_result_release(&res);
  rq = request(&f, MW_PATCH, "../x");
  run(&f, &rq, &res, MW_BAD_REQUEST);
  manifestwrite_result_release(&res);
  fx_free(&f);
}
END_TEST

START_TEST(a_removed_tenant_and_a_replaced_one)
{
  static const char doc[] = "apiVersion: tenantd.io/v1\nkind: Tenant\n"
                            "metadata: {name: acme}\n"
                            "spec: {tier: premium, environments: []}  # new\n";
  struct manifestwrite_result res;
  struct manifestwrite_request rq;
  struct fx f;
  char *text;

  fx_init(&f);
  rq = request(&f, MW_REPLACE, "acme");
  rq.document = doc;
  rq.document_len = strlen(doc);
  run(&f, &rq, &res, MW_COMMITTED);
  text = remote_file(&f, "main", "tenants/acme.yaml");
  ck_assert_str_eq(text, doc);
  free(text);
  manifestwrite_result_release(&res);
  rq = request(&f, MW_DELETE, "acme");
  rq.request_id = "r2";
  run(&f, &rq, &res, MW_COMMITTED);
  text = remote_file(&f, "main", "tenants/acme.yaml");
  ck_assert_str_eq(text, "");
  free(text);
  text = remote_file(&f, "main", "tenants/zeta.yaml");
  ck_assert_str_eq(text, zeta);
  free(text);
  manifestwrite_result_release(&res);
  fx_free(&f);
}
END_TEST

/* Someone pushes another value of the same file between our read and
 * our push: the patch is made again on their commit, both kept. */
START_TEST(a_race_on_another_value_is_retried)
{
  struct mw_set sets[] = {{"spec.suspend", {.type = YS_BOOL, .b = true}}};
  struct manifestwrite_result res;
  struct manifestwrite_request rq;
  struct fx f;
  git_commit *c;
  char *text, *theirs;

  fx_init(&f);
  theirs = td_asprintf("%.*sowner: new-owner@zeta.example\n%s",
                       (int)(strstr(zeta, "owner:") - zeta), zeta,
                       strstr(zeta, "\n\n  environments") + 1);
  f.race_at = 1;
  f.race_path = "tenants/zeta.yaml";
  f.race_text = theirs;
  rq = request(&f, MW_PATCH, "zeta");
  rq.sets = sets;
  rq.nsets = 1;
  run(&f, &rq, &res, MW_COMMITTED);
  ck_assert_uint_eq(res.attempts, 2);
  ck_assert_str_eq(res.base, f.raced);
  c = remote_commit(&f, res.commit);
  ck_assert_str_eq(git_oid_tostr_s(git_commit_parent_id(c, 0)), f.raced);
  git_commit_free(c);
  text = remote_file(&f, "main", "tenants/zeta.yaml");
  ck_assert_ptr_nonnull(strstr(text, "owner: new-owner@zeta.example\n"
                                     "  suspend: true\n"));
  free(text);
  free(theirs);
  manifestwrite_result_release(&res);
  fx_free(&f);
}
END_TEST

/* The same value changed by both: a conflict, their commit kept, ours
 * not made; and a whole document replaced under a change is one too. */
START_TEST(a_race_on_the_same_value_is_a_conflict)
{
  struct mw_set sets[] = {set_str("spec.tier", "premium")};
  struct manifestwrite_result res;
  struct manifestwrite_request rq;
  struct fx f;
  char head[41], *theirs;

  fx_init(&f);
  theirs = td_asprintf("%.*stier: enterprise%s",
                       (int)(strstr(zeta, "tier: basic") - zeta), zeta,
                       strstr(zeta, "tier: basic") + strlen("tier: basic"));
  f.race_at = 1;
  f.race_path = "tenants/zeta.yaml";
  f.race_text = theirs;
  rq = request(&f, MW_PATCH, "zeta");
  rq.sets = sets;
  rq.nsets = 1;
  run(&f, &rq, &res, MW_CONFLICT);
  ck_assert_ptr_nonnull(strstr(res.message, "spec.tier of tenant 'zeta' "
                                            "changed at"));
  remote_main(&f, head);
  ck_assert_str_eq(head, f.raced);
  manifestwrite_result_release(&res);

  /* A PUT of the file someone just changed. */
  f.race_at = 1;
  f.race_text = zeta;
  rq = request(&f, MW_REPLACE, "zeta");
  rq.request_id = "r2";
  rq.document = theirs;
  rq.document_len = strlen(theirs) - 1;
  run(&f, &rq, &res, MW_CONFLICT);
  remote_main(&f, head);
  ck_assert_str_eq(head, f.raced);
  free(theirs);
  manifestwrite_result_release(&res);
  fx_free(&f);
}
END_TEST

/* Another tenant's file changed meanwhile: made again on top of it. */
START_TEST(a_race_on_another_file_is_retried)
{
  struct mw_set sets[] = {set_str("spec.tier", "premium")};
  struct manifestwrite_result res;
  struct manifestwrite_request rq;
  struct fx f;
  char *text;

  fx_init(&f);
  f.race_at = 1;
  f.race_path = "tenants/acme.yaml";
  f.race_text = "apiVersion: tenantd.io/v1\nkind: Tenant\n"
                "metadata: {name: acme}\nspec: {tier: basic}\n";
  rq = request(&f, MW_PATCH, "zeta");
  rq.sets = sets;
  rq.nsets = 1;
  run(&f, &rq, &res, MW_COMMITTED);
  ck_assert_uint_eq(res.attempts, 2);
  text = remote_file(&f, "main", "tenants/acme.yaml");
  ck_assert_str_eq(text, f.race_text);
  free(text);
  text = remote_file(&f, "main", "tenants/zeta.yaml");
  ck_assert_ptr_nonnull(strstr(text, "tier: premium "));
  free(text);
  manifestwrite_result_release(&res);
  fx_free(&f);
}
END_TEST

START_TEST(branch_mode_leaves_the_tracked_branch_alone)
{
  struct mw_set sets[] = {{"spec.suspend", {.type = YS_BOOL, .b = true}}};
  struct manifestwrite_result res;
  struct manifestwrite_request rq;
  struct fx f;
  char head[41], *text;

  fx_init(&f);
  rq = request(&f, MW_PATCH, "zeta");
  rq.sets = sets;
  rq.nsets = 1;
  rq.to_branch = true;
  rq.request_id = "abc123";
  run(&f, &rq, &res, MW_COMMITTED);
  ck_assert_str_eq(res.branch, "tenantd/api/zeta-abc123");
  remote_main(&f, head);
  ck_assert_str_eq(head, f.first);
  text = remote_file(&f, "refs/heads/tenantd/api/zeta-abc123",
                     "tenants/zeta.yaml");
  ck_assert_ptr_nonnull(strstr(text, "  suspend: true\n"));
  free(text);
  manifestwrite_result_release(&res);
  fx_free(&f);
}
END_TEST

Suite *make_suite_manifestwrite(void)
{
  Suite *s = suite_create("manifestwrite");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, a_new_tenant_is_one_commit_by_who_asked_with_its_plan);
  tcase_add_test(tc, an_invalid_tenant_writes_nothing_and_says_where);
  tcase_add_test(tc, a_patch_keeps_every_other_byte);
  tcase_add_test(tc, unknown_and_existing_tenants);
  tcase_add_test(tc, a_removed_tenant_and_a_replaced_one);
  tcase_add_test(tc, a_race_on_another_value_is_retried);
  tcase_add_test(tc, a_race_on_the_same_value_is_a_conflict);
  tcase_add_test(tc, a_race_on_another_file_is_retried);
  tcase_add_test(tc, branch_mode_leaves_the_tracked_branch_alone);
  suite_add_tcase(s, tc);
  return s;
}
