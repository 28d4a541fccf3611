/*
 * The Git side: the source mirror (fetch, trees, change detection,
 * credentials kept out of messages) and the status branch (commit
 * messages, notes merged across passes).  Repositories are real: made
 * with libgit2 in a temp dir and fetched over file://.
 */
#include "base/compat.h"

#include <git2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "engine/reconcile.h"
#include "git/source.h"
#include "git/source_git.h"
#include "git/source_internal.h"
#include "base/strset.h"
#include "suites.h"
#include "git/writeback.h"
#include "git/writeback_internal.h"

/* ---- a remote made with libgit2 ---- */

struct fx {
  char dir[64];
  char remote[128], url[160], cache[128];
  git_repository *repo;
};

static void fx_init(struct fx *f)
{
  git_libgit2_init();
  snprintf(f->dir, sizeof(f->dir), "/tmp/td-git-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(f->dir));
  snprintf(f->remote, sizeof(f->remote), "%s/remote.git", f->dir);
  snprintf(f->url, sizeof(f->url), "file://%s", f->remote);
  snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
  ck_assert_int_eq(git_repository_init(&f->repo, f->remote, 1), 0);
}

static void fx_free(struct fx *f)
{
  char *cmd = td_asprintf("rm -rf '%s'", f->dir);

  git_repository_free(f->repo);
  ck_assert_int_eq(system(cmd), 0);
  free(cmd);
  git_libgit2_shutdown();
}

/* Commits on refs/heads/main: pairs of (path, content or NULL to remove),
 * with `mode` for every file; returns the commit id. */
static void fx_commit(struct fx *f, const char *msg, git_filemode_t mode,
                      const char *const *files, size_t n, char id[41])
{
  git_tree_update up[16];
  git_oid parent_oid, tree_oid, oid;
  git_commit *parent = NULL;
  git_tree *base = NULL, *tree;
  git_signature *sig;

  ck_assert_uint_le(n, ARRAY_SIZE(up));
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
    const char *content = files[2 * i + 1];

    memset(&up[i], 0, sizeof(up[i]));
    up[i].path = files[2 * i];
    up[i].action = content ? GIT_TREE_UPDATE_UPSERT : GIT_TREE_UPDATE_REMOVE;
    up[i].filemode = mode;
    if (content)
      ck_assert_int_eq(git_blob_create_from_buffer(&up[i].id, f->repo, content,
                                                   strlen(content)),
                       0);
  }
  ck_assert_int_eq(git_tree_create_updated(&tree_oid, f->repo, base, n, up), 0);
  ck_assert_int_eq(git_tree_lookup(&tree, f->repo, &tree_oid), 0);
  ck_assert_int_eq(git_signature_now(&sig, "op", "op@example.com"), 0);
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

static struct source *fx_open(struct fx *f)
{
  struct source_opts o = SOURCE_OPTS_INIT;
  struct source *s;

  o.url = f->url;
  o.cache_dir = f->cache;
  ck_assert_msg(source_open(&s, &o) == 0, "%s", td_error_last());
  return s;
}

static const char *const first[] = {
    "platform.yaml",       "kind: Platform\n",
    "tenants/acme.yaml",   "kind: Tenant\n",
    "tenants/beta.yml",    "kind: Tenant\n",
    "tenants/notes.txt",   "not a manifest\n",
    "tenants/deep/x.yaml", "not at the top of tenants/\n",
    "README.md",           "hello\n",
};

START_TEST(source_reads_manifests_from_the_tree)
{
  struct fx f;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct source *s;
  char c1[41], head[41];
  static const char *const link[] = {"tenants/link.yaml", "acme.yaml"};

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  fx_commit(&f, "a link", GIT_FILEMODE_LINK, link, 1, head);
  s = fx_open(&f);
  ck_assert_int_eq(source_head(s, head), TD_ENOTFOUND);
  ck_assert_msg(source_fetch(s) == 0, "%s", td_error_last());
  ck_assert_int_eq(source_head(s, head), 0);
  ck_assert(source_has_commit(s, c1));
  ck_assert_int_eq(source_read_manifests(s, head, &files, 1024, NULL), 0);
  /* platform.yaml, tenants/acme.yaml, tenants/beta.yml: no README, no
   * notes.txt, nothing nested; the symbolic link is there with a problem
   * (a tenant file that vanished would be pruned). */
  ck_assert_uint_eq(files.n, 4);
  ck_assert_str_eq(files.v[0].path, "platform.yaml");
  ck_assert_str_eq(files.v[1].path, "tenants/acme.yaml");
  ck_assert_str_eq(files.v[2].path, "tenants/beta.yml");
  ck_assert_str_eq(files.v[1].data, "kind: Tenant\n");
  ck_assert_ptr_null(files.v[1].problem);
  ck_assert_str_eq(files.v[3].path, "tenants/link.yaml");
  ck_assert_ptr_nonnull(strstr(files.v[3].problem, "symbolic link"));
  {
    struct manifest_repo *repo;

    manifest_repo_load(&repo, &files, NULL);
    ck_assert_uint_eq(diag_count_path(&repo->diags, "tenants/link.yaml"), 1);
    ck_assert(!repo->tenants[2]->valid);
    manifest_repo_free(repo);
  }
  manifest_files_release(&files);
  /* An oversized blob is cut one byte past the limit, for the loader to
   * report. */
  ck_assert_int_eq(source_read_manifests(s, head, &files, 4, NULL), 0);
  ck_assert_uint_eq(files.v[0].len, 5);
  manifest_files_release(&files);
  source_close(s);
  fx_free(&f);
}
END_TEST

/* The file of `files` at `path`; fails the test when none. */
static const struct manifest_file *file_at(const struct manifest_files *files,
                                           const char *path)
{
  for (size_t i = 0; i < files->n; i++)
    if (strcmp(files->v[i].path, path) == 0)
      return &files->v[i];
  ck_abort_msg("no %s", path);
  return NULL;
}

/*
 * A read that reuses a model knows the files unchanged since the commit
 * the model was read from without looking at its documents: the same
 * name, id and a regular file both times.  A link turned into a file
 * with the same bytes is read, as is a new name for old bytes.
 */
START_TEST(source_read_reuses_what_the_models_commit_had)
{
  static const char *const links[] = {"tenants/link.yaml", "acme.yaml"};
  static const char *const second[] = {
      "tenants/acme.yaml",  "kind: Tenant # changed\n",
      "tenants/beta.yml",   NULL,
      "tenants/gamma.yaml", "kind: Tenant\n",
      "tenants/link.yaml",  "acme.yaml"};
  struct fx f;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *model;
  struct source *s;
  char c1[41], c2[41], c3[41];

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  fx_commit(&f, "a link", GIT_FILEMODE_LINK, links, 1, c2);
  fx_commit(&f, "second", GIT_FILEMODE_BLOB, second, ARRAY_SIZE(second) / 2,
            c3);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_read_manifests(s, c2, &files, 1024, NULL), 0);
  manifest_repo_load(&model, &files, NULL);
  manifest_files_release(&files);
  memcpy(model->commit, c2, sizeof(model->commit));

  ck_assert_int_eq(source_read_manifests(s, c3, &files, 1024, model), 0);
  ck_assert_uint_eq(files.n, 4);
  ck_assert(file_at(&files, "platform.yaml")->reused);
  ck_assert(!file_at(&files, "tenants/acme.yaml")->reused);
  ck_assert(!file_at(&files, "tenants/gamma.yaml")->reused);
  ck_assert_str_eq(file_at(&files, "tenants/gamma.yaml")->data,
                   "kind: Tenant\n");
  ck_assert(!file_at(&files, "tenants/link.yaml")->reused);
  ck_assert_str_eq(file_at(&files, "tenants/link.yaml")->data, "acme.yaml");
  manifest_repo_reload(&model, &files, NULL, model);
  manifest_files_release(&files);
  memcpy(model->commit, c3, sizeof(model->commit));

  /* Nothing changed since: every file reused, and the reload agrees. */
  ck_assert_int_eq(source_read_manifests(s, c3, &files, 1024, model), 0);
  for (size_t i = 0; i < files.n; i++)
    ck_assert_msg(files.v[i].reused, "%s", files.v[i].path);
  manifest_repo_reload(&model, &files, NULL, model);
  ck_assert_uint_eq(model->ntenants, 3);
  for (size_t i = 0; i < model->diags.n; i++)
    ck_assert_ptr_null(strstr(model->diags.v[i].msg, "internal"));
  manifest_repo_free(model);
  manifest_files_release(&files);
  source_close(s);
  fx_free(&f);
}
END_TEST

/*
 * A listing of changes against a model names only the tenant files that
 * differ from the model's commit: changed, new, no longer regular files,
 * and those gone.  Reloaded onto the model, it gives what a full read of
 * the same commit loads.  Without a commit recorded it lists everything.
 */
START_TEST(source_read_changes_lists_what_differs_from_the_models_commit)
{
  static const char *const refused[] = {"tenants/Zeta.yaml", "kind: Tenant\n"};
  static const char *const links[] = {"tenants/link.yaml", "acme.yaml"};
  static const char *const second[] = {
      "tenants/acme.yaml",  "kind: Tenant # changed\n",
      "tenants/beta.yml",   NULL,
      "tenants/gamma.yaml", "kind: Tenant\n"};
  struct fx f;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *model, *full;
  const struct manifest_doc *gamma;
  struct source *s;
  char c1[41], c2[41], c3[41], c4[41];

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  fx_commit(&f, "refused", GIT_FILEMODE_BLOB, refused, 1, c2);
  fx_commit(&f, "a link", GIT_FILEMODE_LINK, links, 1, c3);
  fx_commit(&f, "second", GIT_FILEMODE_BLOB, second, ARRAY_SIZE(second) / 2,
            c4);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_read_manifests(s, c2, &files, 1024, NULL), 0);
  manifest_repo_load(&model, &files, NULL);
  manifest_files_release(&files);
  ck_assert_uint_eq(model->nrefused, 1);

  /* No commit recorded: everything, as a full read. */
  ck_assert_int_eq(source_read_manifest_changes(s, c4, &files, 1024, model),
                   0);
  ck_assert_ptr_null(files.delta_of);
  ck_assert_uint_eq(files.n, 5);
  manifest_files_release(&files);

  memcpy(model->commit, c2, sizeof(model->commit));
  ck_assert_int_eq(source_read_manifest_changes(s, c4, &files, 1024, model),
                   0);
  ck_assert_ptr_eq(files.delta_of, model);
  /* platform.yaml, acme changed, gamma new, the link, beta gone; not
   * Zeta.yaml, which is as it was. */
  ck_assert_uint_eq(files.n, 5);
  ck_assert(file_at(&files, "platform.yaml")->reused);
  ck_assert_str_eq(file_at(&files, "tenants/acme.yaml")->data,
                   "kind: Tenant # changed\n");
  ck_assert_str_eq(file_at(&files, "tenants/gamma.yaml")->data,
                   "kind: Tenant\n");
  ck_assert_ptr_nonnull(
      strstr(file_at(&files, "tenants/link.yaml")->problem, "symbolic link"));
  ck_assert(file_at(&files, "tenants/beta.yml")->gone);
  manifest_repo_reload(&model, &files, NULL, model);
  manifest_files_release(&files);
  memcpy(model->commit, c4, sizeof(model->commit));

  ck_assert_int_eq(source_read_manifests(s, c4, &files, 1024, NULL), 0);
  manifest_repo_load(&full, &files, NULL);
  manifest_files_release(&files);
  ck_assert_uint_eq(model->ntenants, full->ntenants);
  for (size_t i = 0; i < full->ntenants; i++)
    ck_assert_str_eq(model->tenants[i]->path, full->tenants[i]->path);
  ck_assert_uint_eq(model->nrefused, 1);
  ck_assert_uint_eq(model->diags.n, full->diags.n);
  for (size_t i = 0; i < full->diags.n; i++) {
    ck_assert_str_eq(model->diags.v[i].path, full->diags.v[i].path);
    ck_assert_str_eq(model->diags.v[i].msg, full->diags.v[i].msg);
  }
  manifest_repo_free(full);

  /* Nothing changed since: only the top file, every document kept. */
  gamma = manifest_repo_find(model, "tenants/gamma.yaml");
  ck_assert_int_eq(source_read_manifest_changes(s, c4, &files, 1024, model),
                   0);
  ck_assert_ptr_eq(files.delta_of, model);
  ck_assert_uint_eq(files.n, 2); /* platform.yaml and the link */
  manifest_repo_reload(&model, &files, NULL, model);
  ck_assert_ptr_eq(manifest_repo_find(model, "tenants/gamma.yaml"), gamma);
  ck_assert_uint_eq(model->ntenants, 3);
  manifest_repo_free(model);
  manifest_files_release(&files);
  source_close(s);
  fx_free(&f);
}
END_TEST

START_TEST(source_changes_name_the_tenants_touched)
{
  struct fx f;
  struct source *s;
  struct strset t = STRSET_INIT;
  char c1[41], c2[41], c3[41], c4[41];
  bool all;
  static const char *const one[] = {"tenants/beta.yml", "kind: Tenant\nx: 1\n",
                                    "README.md", "changed\n"};
  static const char *const gone[] = {"tenants/acme.yaml", NULL};
  static const char *const plat[] = {"platform.yaml", "kind: Platform\nx: 1\n"};
  static const char *const bad[] = {"tenants/Zeta.yaml", "kind: Tenant\n"};
  char c5[41], c6[41];

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  fx_commit(&f, "beta", GIT_FILEMODE_BLOB, one, 2, c2);
  fx_commit(&f, "acme gone", GIT_FILEMODE_BLOB, gone, 1, c3);
  fx_commit(&f, "platform", GIT_FILEMODE_BLOB, plat, 1, c4);
  fx_commit(&f, "a file named for no tenant", GIT_FILEMODE_BLOB, bad, 1, c5);
  fx_commit(&f, "beta executable", GIT_FILEMODE_BLOB_EXECUTABLE, one, 1, c6);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);

  ck_assert_int_eq(source_changes(s, c1, c2, &t, &all), 0);
  ck_assert(!all);
  ck_assert_uint_eq(t.n, 1);
  ck_assert_str_eq(t.v[0], "beta");
  strset_release(&t);
  /* A deleted tenant file is a change to that tenant (it is pruned). */
  ck_assert_int_eq(source_changes(s, c1, c3, &t, &all), 0);
  ck_assert(!all);
  ck_assert_uint_eq(t.n, 2);
  ck_assert_str_eq(t.v[0], "acme");
  strset_release(&t);
  /* And one that appears, the other way round. */
  ck_assert_int_eq(source_changes(s, c3, c1, &t, &all), 0);
  ck_assert(!all);
  ck_assert_uint_eq(t.n, 2);
  ck_assert_str_eq(t.v[0], "acme");
  ck_assert_str_eq(t.v[1], "beta");
  strset_release(&t);
  ck_assert_int_eq(source_changes(s, c3, c4, &t, &all), 0);
  ck_assert(all);
  strset_release(&t);
  /* Zeta.yaml names no tenant: no ghost tenant "Zeta" is queued. */
  ck_assert_int_eq(source_changes(s, c4, c5, &t, &all), 0);
  ck_assert(!all);
  ck_assert_uint_eq(t.n, 0);
  strset_release(&t);
  /* The same bytes made executable are a change too, as git sees it. */
  ck_assert_int_eq(source_changes(s, c5, c6, &t, &all), 0);
  ck_assert(!all);
  ck_assert_uint_eq(t.n, 1);
  ck_assert_str_eq(t.v[0], "beta");
  strset_release(&t);
  /* Nothing to compare with: everything. */
  ck_assert_int_eq(source_changes(s, NULL, c2, &t, &all), 0);
  ck_assert(all);
  ck_assert_int_eq(source_changes(s, "0123456789012345678901234567890123456789",
                                  c2, &t, &all),
                   0);
  ck_assert(all);
  strset_release(&t);
  source_close(s);
  fx_free(&f);
}
END_TEST

/* The mirror keeps a narrow delta window for the packs built from it,
 * unless the operator set one. */
START_TEST(source_mirror_narrows_the_delta_window)
{
  struct fx f;
  struct source *s;
  git_config *cfg;
  int64_t v = 0;

  fx_init(&f);
  s = fx_open(&f);
  ck_assert_int_eq(git_repository_config(&cfg, source_repo(s)), 0);
  ck_assert_int_eq(git_config_get_int64(&v, cfg, "pack.windowMemory"), 0);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(git_config_set_int64(cfg, "pack.windowMemory", 1 << 20), 0);
  git_config_free(cfg);
  source_close(s);
  s = fx_open(&f);
  ck_assert_int_eq(git_repository_config(&cfg, source_repo(s)), 0);
  ck_assert_int_eq(git_config_get_int64(&v, cfg, "pack.windowMemory"), 0);
  ck_assert_int_eq(v, 1 << 20);
  git_config_free(cfg);
  source_close(s);
  fx_free(&f);
}
END_TEST

START_TEST(source_missing_branch_is_an_error_not_empty)
{
  struct fx f;
  struct source *s;
  char head[41];

  fx_init(&f);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "has no branch 'main'"));
  ck_assert_int_eq(source_head(s, head), TD_ENOTFOUND);
  source_close(s);
  fx_free(&f);
}
END_TEST

START_TEST(source_mirror_is_locked)
{
  struct fx f;
  struct source *s, *again;
  struct source_opts o = SOURCE_OPTS_INIT;

  fx_init(&f);
  s = fx_open(&f);
  o.url = f.url;
  o.cache_dir = f.cache;
  ck_assert_int_eq(source_open(&again, &o), TD_ECONFLICT);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "in use"));
  source_close(s);
  again = fx_open(&f);
  source_close(again);
  fx_free(&f);
}
END_TEST

static void set_or_unset(const char *name, const char *value)
{
  if (value)
    setenv(name, value, 1);
  else
    unsetenv(name);
}

/* Without a cache directory the mirrors go to the user's cache (XDG),
 * never the current directory. */
START_TEST(source_default_cache_is_the_users)
{
  char *xdg =
      getenv("XDG_CACHE_HOME") ? td_strdup(getenv("XDG_CACHE_HOME")) : NULL;
  char *home = getenv("HOME") ? td_strdup(getenv("HOME")) : NULL;
  char *dir = NULL;

  setenv("XDG_CACHE_HOME", "/x/cache", 1);
  setenv("HOME", "/home/u", 1);
  ck_assert_int_eq(source_default_cache_dir(&dir), 0);
  ck_assert_str_eq(dir, "/x/cache/tenantd");
  free(dir);
  /* A relative XDG_CACHE_HOME is to be ignored (XDG base directories). */
  setenv("XDG_CACHE_HOME", "cache", 1);
  ck_assert_int_eq(source_default_cache_dir(&dir), 0);
  ck_assert_str_eq(dir, "/home/u/.cache/tenantd");
  free(dir);
  unsetenv("XDG_CACHE_HOME");
  ck_assert_int_eq(source_default_cache_dir(&dir), 0);
  ck_assert_str_eq(dir, "/home/u/.cache/tenantd");
  free(dir);
  unsetenv("HOME");
  ck_assert_int_eq(source_default_cache_dir(&dir), TD_ENOTFOUND);
  ck_assert_ptr_null(dir);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "--cache-dir"));
  set_or_unset("XDG_CACHE_HOME", xdg);
  set_or_unset("HOME", home);
  free(xdg);
  free(home);
}
END_TEST

START_TEST(source_keeps_credentials_out_of_messages)
{
  struct fx f;
  struct source_opts o = SOURCE_OPTS_INIT;
  struct source *s;
  char *ls;
  FILE *p;
  char line[512];

  fx_init(&f);
  /* Port 9 on loopback refuses: the error names the URL. */
  o.url = "https://tenantd:s3cr3t-t0ken@127.0.0.1:9/tenants.git";
  o.cache_dir = f.cache;
  setenv("TENANTD_GIT_PASSWORD", "env-pa55word", 1);
  ck_assert_int_eq(source_open(&s, &o), 0);
  ck_assert_str_eq(source_url(s),
                   "https://tenantd:***@127.0.0.1:9/tenants.git");
  ck_assert_int_eq(source_fetch(s), -1);
  ck_assert_ptr_null(strstr(td_error_last(), "s3cr3t"));
  ck_assert_ptr_null(strstr(td_error_last(), "env-pa55word"));
  ck_assert_ptr_nonnull(strstr(td_error_last(), "127.0.0.1"));
  source_close(s);
  /* A token as the user name is a secret too; an ssh user is not. */
  o.url = "https://ghp_T0KEN1234@127.0.0.1:9/tenants.git";
  ck_assert_int_eq(source_open(&s, &o), 0);
  ck_assert_str_eq(source_url(s), "https://***@127.0.0.1:9/tenants.git");
  ck_assert_int_eq(source_fetch(s), -1);
  ck_assert_ptr_null(strstr(td_error_last(), "T0KEN"));
  source_close(s);
  o.url = "ssh://git@127.0.0.1:9/tenants.git";
  ck_assert_int_eq(source_open(&s, &o), 0);
  ck_assert_str_eq(source_url(s), "ssh://git@127.0.0.1:9/tenants.git");
  source_close(s);
  unsetenv("TENANTD_GIT_PASSWORD");
  /* Nor in the cache: no file name or config holds it. */
  ls = td_asprintf("grep -rl s3cr3t '%s'; ls -R '%s'", f.cache, f.cache);
  p = popen(ls, "r");
  ck_assert_ptr_nonnull(p);
  while (fgets(line, sizeof(line), p))
    ck_assert_msg(!strstr(line, "s3cr3t"), "secret in the cache: %s", line);
  pclose(p);
  free(ls);
  fx_free(&f);
}
END_TEST

/* ---- the status branch ---- */

static void outcome(struct reconcile_outcome *o, const char *tenant,
                    enum tenant_result result, const char *const *events,
                    size_t n)
{
  memset(o, 0, sizeof(*o));
  o->tenant = td_strdup(tenant);
  o->status = tenant_status_new(tenant);
  o->changed = true;
  o->result = result;
  for (size_t i = 0; i < n; i++) {
    o->events = td_realloc(o->events, (i + 1) * sizeof(*o->events));
    o->events[o->nevents++] = td_strdup(events[i]);
  }
}

START_TEST(writeback_message_has_subject_events_and_trailers)
{
  struct reconcile_report r = {0};
  static const char *const ev[] = {"created database/acme.prod",
                                   "updated service/web.prod.acme (cpu)"};
  static const char *const held[] = {"held: tenants/beta.yaml:7:9: bad"};
  char *msg;

  r.v = td_calloc(3, sizeof(*r.v));
  r.n = 1;
  outcome(&r.v[0], "acme", RESULT_READY, ev, 2);
  r.v[0].count[OUT_CREATED] = 1;
  r.v[0].count[OUT_UPDATED] = 1;
  msg = writeback_message(&r, "05a131a18bbd8cee414875f84f88839a42f094e2");
  ck_assert_str_eq(msg, "reconcile acme: 1 created, 1 updated\n"
                        "\n"
                        "acme: created database/acme.prod\n"
                        "acme: updated service/web.prod.acme (cpu)\n"
                        "\n"
                        "Tenantd-Source: "
                        "05a131a18bbd8cee414875f84f88839a42f094e2\n"
                        "Tenantd-Tenant: acme\n"
                        "Tenantd-Result: ready\n");
  free(msg);

  /* Two tenants changed, one not: the worst result of those in it. */
  outcome(&r.v[1], "beta", RESULT_HELD, held, 1);
  outcome(&r.v[2], "gamma", RESULT_FAILED, NULL, 0);
  r.v[2].changed = false;
  r.n = 3;
  msg = writeback_message(&r, "05a131a18bbd8cee414875f84f88839a42f094e2");
  ck_assert_ptr_nonnull(strstr(msg, "reconcile 2 tenants: 1 created, 1 "
                                    "updated\n"));
  ck_assert_ptr_nonnull(
      strstr(msg, "beta: held: tenants/beta.yaml:7:9: bad\n"));
  ck_assert_ptr_nonnull(strstr(msg, "Tenantd-Tenant: beta\n"));
  ck_assert_ptr_null(strstr(msg, "gamma"));
  ck_assert_ptr_nonnull(strstr(msg, "Tenantd-Result: held\n"));
  free(msg);

  /* Nothing changed: no commit. */
  r.v[0].changed = r.v[1].changed = false;
  ck_assert_ptr_null(writeback_message(&r, "x"));
  reconcile_report_release(&r);
}
END_TEST

struct sums {
  size_t n, inventory;
  bool ready[4];
};

static void sum_count(const char *tenant, const struct status_summary *sum,
                      void *arg)
{
  struct sums *s = arg;

  (void)tenant;
  ck_assert(sum->readable);
  if (s->n < ARRAY_SIZE(s->ready))
    s->ready[s->n] = sum->ready;
  s->n++;
  s->inventory += sum->ninventory;
}

START_TEST(writeback_commits_and_merges_notes)
{
  struct sums sums = {0};
  struct fx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0};
  struct tenant_status *st;
  static const char *const ev[] = {"created network/acme.prod"};
  char c1[41], commit[41], *note;

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  ck_assert_int_eq(writeback_last_source(wb, commit), TD_ENOTFOUND);

  r.v = td_calloc(2, sizeof(*r.v));
  r.n = 2;
  outcome(&r.v[0], "acme", RESULT_READY, ev, 1);
  r.v[0].count[OUT_CREATED] = 1;
  r.v[0].status->cond[STATUS_READY].status = true;
  outcome(&r.v[1], "beta", RESULT_FAILED, NULL, 0);
  r.v[1].status->last_error.message = td_strdup("provider down");
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  ck_assert_int_eq(writeback_note(wb, c1, &r, commit), 1);
  /* The same pass again says nothing new. */
  ck_assert_int_eq(writeback_note(wb, c1, &r, NULL), 0);
  note = writeback_note_read(wb, c1);
  ck_assert_ptr_nonnull(strstr(note, "tenantd: failed\n"));
  ck_assert_ptr_nonnull(strstr(note, "acme: ready, 1 created\n"));
  ck_assert_ptr_nonnull(strstr(note, "beta: failed, provider down\n"));
  free(note);

  /* A later pass retries beta alone: its line is replaced, acme's kept. */
  reconcile_report_release(&r);
  r.v = td_calloc(1, sizeof(*r.v));
  r.n = 1;
  outcome(&r.v[0], "beta", RESULT_READY, NULL, 0);
  ck_assert_int_eq(writeback_note(wb, c1, &r, NULL), 1);
  note = writeback_note_read(wb, c1);
  ck_assert_ptr_nonnull(strstr(note, "tenantd: ready\n"));
  ck_assert_ptr_nonnull(strstr(note, "acme: ready, 1 created\n"));
  ck_assert_ptr_nonnull(strstr(note, "beta: ready, no change\n"));
  ck_assert_ptr_nonnull(strstr(note, "status: "));
  free(note);

  /* A drift check over the same commit leaves "how it was applied". */
  reconcile_report_release(&r);
  r.v = td_calloc(1, sizeof(*r.v));
  r.n = 1;
  outcome(&r.v[0], "acme", RESULT_READY, NULL, 0);
  r.v[0].count[OUT_DRIFT_CORRECTED] = 1;
  ck_assert_int_eq(writeback_note(wb, c1, &r, NULL), 0);
  note = writeback_note_read(wb, c1);
  ck_assert_ptr_nonnull(strstr(note, "acme: ready, 1 created\n"));
  free(note);

  /* The branch holds what was committed, for the next pass to read. */
  ck_assert_int_eq(writeback_last_source(wb, commit), 0);
  ck_assert_str_eq(commit, c1);
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "acme", &st),
                   0);
  ck_assert_str_eq(st->tenant, "acme");
  tenant_status_free(st);
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "zed", &st),
                   TD_ENOTFOUND);
  ck_assert_int_eq(
      writeback_store(wb)->read(writeback_store(wb), "../etc", &st),
      TD_EINVALID);

  /* Summaries: parsed once, then read from the cache by blob id. */
  writeback_summaries_forget();
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.n, 2);
  ck_assert(sums.ready[0] && !sums.ready[1]); /* acme, beta (failed) */
  {
    /* The cache lives in the mirror: change acme's count there; a scan
     * by the next process trusts it by blob id and reports that count. */
    char *cmd = td_asprintf("sed -i 's/ 110 0$/ 110 7/' %s/*.git/%s", f.cache,
                            "tenantd-summaries");

    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
  }
  memset(&sums, 0, sizeof(sums));
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.inventory, 0);
  writeback_summaries_forget();
  memset(&sums, 0, sizeof(sums));
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.inventory, 7);

  /* A commit made here: the next scan has it without reading anything;
   * a new tenant, a changed one and a removed one. */
  reconcile_report_release(&r);
  r.v = td_calloc(3, sizeof(*r.v));
  r.n = 3;
  outcome(&r.v[0], "aaa", RESULT_READY, NULL, 0);
  r.v[0].status->cond[STATUS_READY].status = true;
  outcome(&r.v[1], "acme", RESULT_READY, NULL, 0);
  outcome(&r.v[2], "beta", RESULT_READY, NULL, 0);
  tenant_status_free(r.v[2].status);
  r.v[2].status = NULL;
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  memset(&sums, 0, sizeof(sums));
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.n, 2);
  ck_assert(sums.ready[0] && !sums.ready[1]); /* aaa, acme (no longer) */
  /* And the next process reads the same from the branch. */
  writeback_summaries_forget();
  memset(&sums, 0, sizeof(sums));
  ck_assert_int_eq(writeback_summaries(wb, sum_count, &sums), 0);
  ck_assert_uint_eq(sums.n, 2);
  ck_assert(sums.ready[0] && !sums.ready[1]);
  writeback_summaries_forget();
  ck_assert_int_eq(writeback_push(wb), 0);
  reconcile_report_release(&r);
  writeback_close(wb);
  source_close(s);
  fx_free(&f);
}
END_TEST

/* An outcome of `tenant` whose status holds `k` inventory entries. */
static void outcome_holding(struct reconcile_outcome *o, const char *tenant,
                            bool ready, size_t k)
{
  outcome(o, tenant, ready ? RESULT_READY : RESULT_FAILED, NULL, 0);
  o->status->cond[STATUS_READY].status = ready;
  o->status->inventory = td_calloc(k + 1, sizeof(*o->status->inventory));
  for (size_t i = 0; i < k; i++) {
    struct status_item *it = &o->status->inventory[i];

    it->id = td_asprintf("network/%s.e%zu", tenant, i);
    it->type = td_strdup("network");
    it->provider = td_strdup("local");
    it->name = td_asprintf("%s-e%zu", tenant, i);
    snprintf(it->hash, sizeof(it->hash), "%016zx", i);
  }
  o->status->ninventory = k;
}

struct outside_walk {
  const struct strset *within;
  struct strset retry;
  size_t outside; /* of the Ready ones */
  size_t all;     /* of every one */
};

/* What writeback_summaries_outside() answers, found by walking every
 * summary: its oracle. */
static void walk_outside(const char *tenant, const struct status_summary *sum,
                         void *arg)
{
  struct outside_walk *w = arg;

  if (strset_has(w->within, tenant))
    return;
  w->all += sum->ninventory;
  if (!sum->readable || !sum->ready || sum->source_error)
    strset_add(&w->retry, tenant);
  else
    w->outside += sum->ninventory;
}

/* Asks for what lies outside {acme, nobody}: with retries and without,
 * each equal to the walk's answer; returns the inventory outside. */
static size_t check_outside(struct writeback *wb, const char *retried)
{
  struct strset within = STRSET_INIT, retry = STRSET_INIT;
  struct outside_walk w = {&within, STRSET_INIT, 0, 0};
  size_t outside = 99, all = 99;

  strset_add(&within, "acme");
  strset_add(&within, "nobody");
  strset_seal(&within);
  ck_assert_int_eq(writeback_summaries(wb, walk_outside, &w), 0);
  strset_seal(&w.retry);
  ck_assert_int_eq(writeback_summaries_outside(wb, &within, &retry, &outside),
                   0);
  strset_seal(&retry);
  ck_assert_uint_eq(outside, w.outside);
  ck_assert_uint_eq(retry.n, w.retry.n);
  ck_assert_uint_eq(retry.n, retried ? 1 : 0);
  if (retried)
    ck_assert_str_eq(retry.v[0], retried);
  /* Without retries, the unready count as the rest do. */
  ck_assert_int_eq(writeback_summaries_outside(wb, &within, NULL, &all), 0);
  ck_assert_uint_eq(all, w.all);
  /* A pass over every tenant has nobody outside. */
  ck_assert_int_eq(writeback_summaries_outside(wb, NULL, &retry, &all), 0);
  ck_assert_uint_eq(all, 0);
  strset_release(&within);
  strset_release(&retry);
  strset_release(&w.retry);
  return outside;
}

/* The inventory outside a pass and the tenants to retry come from totals
 * the summaries' index keeps, and agree with a walk of every status:
 * after a scan, after a commit made here (a tenant added, one changed,
 * one removed), and for the next process. */
START_TEST(summaries_keep_what_lies_outside_a_pass)
{
  struct fx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0};
  char c1[41], commit[41];

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  r.v = td_calloc(3, sizeof(*r.v));
  r.n = 3;
  outcome_holding(&r.v[0], "acme", true, 3);
  outcome_holding(&r.v[1], "beta", false, 2);
  outcome_holding(&r.v[2], "gamma", true, 5);
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  writeback_summaries_forget();
  /* beta is not Ready: retried; gamma's 5 lie outside. */
  ck_assert_uint_eq(check_outside(wb, "beta"), 5);

  /* beta Ready now, gamma gone, delta new: nothing to retry. */
  reconcile_report_release(&r);
  r.v = td_calloc(3, sizeof(*r.v));
  r.n = 3;
  outcome_holding(&r.v[0], "beta", true, 2);
  outcome_holding(&r.v[1], "delta", true, 4);
  outcome(&r.v[2], "gamma", RESULT_READY, NULL, 0);
  tenant_status_free(r.v[2].status);
  r.v[2].status = NULL;
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  ck_assert_uint_eq(check_outside(wb, NULL), 6);
  writeback_summaries_forget();
  ck_assert_uint_eq(check_outside(wb, NULL), 6);
  writeback_summaries_forget();
  reconcile_report_release(&r);
  writeback_close(wb);
  source_close(s);
  fx_free(&f);
}
END_TEST

/* Each tenant's line of a note counts its own outcome, the unchanged
 * ones' too, never its neighbours'; the commit's subject counts the
 * changed ones together. */
START_TEST(writeback_note_lines_count_their_own_outcome)
{
  struct fx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0};
  char c1[41], commit[41], *note, *msg;

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  r.v = td_calloc(4, sizeof(*r.v));
  r.n = 4;
  outcome(&r.v[0], "acme", RESULT_READY, NULL, 0);
  r.v[0].count[OUT_CREATED] = 3;
  r.v[0].count[OUT_UPDATED] = 1;
  outcome(&r.v[1], "beta", RESULT_READY, NULL, 0);
  r.v[1].count[OUT_DELETED] = 2;
  outcome(&r.v[2], "gamma", RESULT_READY, NULL, 0);
  outcome(&r.v[3], "delta", RESULT_READY, NULL, 0);
  r.v[3].count[OUT_CREATED] = 5;
  r.v[3].changed = false;
  msg = writeback_message(&r, c1);
  ck_assert_ptr_nonnull(
      strstr(msg, "reconcile 3 tenants: 3 created, 1 updated, 2 deleted\n"));
  free(msg);
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  ck_assert_int_eq(writeback_note(wb, c1, &r, commit), 1);
  note = writeback_note_read(wb, c1);
  ck_assert_ptr_nonnull(strstr(note, "acme: ready, 3 created, 1 updated\n"));
  ck_assert_ptr_nonnull(strstr(note, "beta: ready, 2 deleted\n"));
  ck_assert_ptr_nonnull(strstr(note, "gamma: ready, no change\n"));
  ck_assert_ptr_nonnull(strstr(note, "delta: ready, 5 created\n"));
  free(note);
  reconcile_report_release(&r);
  writeback_close(wb);
  source_close(s);
  fx_free(&f);
}
END_TEST

/* The status entries of the branch's tip, in order, as "name=<blob>"
 * lines; and whether libgit2 builds the same tree from them. */
static char *status_entries(git_repository *repo, bool *same)
{
  git_oid tip, rebuilt;
  git_commit *c;
  git_tree *root, *dir;
  git_tree_entry *e;
  git_treebuilder *tb;
  char *out = td_strdup("");

  ck_assert_int_eq(
      git_reference_name_to_id(&tip, repo, "refs/heads/tenantd/status"), 0);
  ck_assert_int_eq(git_commit_lookup(&c, repo, &tip), 0);
  ck_assert_int_eq(git_commit_tree(&root, c), 0);
  ck_assert_int_eq(git_tree_entry_bypath(&e, root, "status"), 0);
  ck_assert_int_eq(git_tree_lookup(&dir, repo, git_tree_entry_id(e)), 0);
  ck_assert_int_eq(git_treebuilder_new(&tb, repo, NULL), 0);
  for (size_t i = 0; i < git_tree_entrycount(dir); i++) {
    const git_tree_entry *x = git_tree_entry_byindex(dir, i);
    char *more = td_asprintf("%s%s\n", out, git_tree_entry_name(x));

    free(out);
    out = more;
    ck_assert_int_eq(git_treebuilder_insert(NULL, tb, git_tree_entry_name(x),
                                            git_tree_entry_id(x),
                                            git_tree_entry_filemode(x)),
                     0);
  }
  ck_assert_int_eq(git_treebuilder_write(&rebuilt, tb), 0);
  *same = git_oid_equal(&rebuilt, git_tree_id(dir));
  git_treebuilder_free(tb);
  git_tree_free(dir);
  git_tree_entry_free(e);
  git_tree_free(root);
  git_commit_free(c);
  return out;
}

START_TEST(writeback_edits_the_status_directory_in_place)
{
  struct fx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0};
  static const char *const names[] = {"acme", "beta", "a", "zz"};
  struct tenant_status *st;
  git_repository *mirror;
  char c1[41], commit[41], *list;
  bool same = false;

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  r.v = td_calloc(ARRAY_SIZE(names), sizeof(*r.v));
  r.n = 3;
  for (size_t i = 0; i < r.n; i++)
    outcome(&r.v[i], names[i], RESULT_READY, NULL, 0);
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  reconcile_report_release(&r);

  /* A new tenant sorted before another it prefixes ("a-b.yaml" comes
   * before "a.yaml"), one changed, one removed, one added at the end. */
  r.v = td_calloc(4, sizeof(*r.v));
  r.n = 4;
  outcome(&r.v[0], "zz", RESULT_READY, NULL, 0);
  outcome(&r.v[1], "a-b", RESULT_READY, NULL, 0);
  outcome(&r.v[2], "acme", RESULT_FAILED, NULL, 0);
  outcome(&r.v[3], "beta", RESULT_READY, NULL, 0);
  tenant_status_free(r.v[3].status);
  r.v[3].status = NULL;
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  reconcile_report_release(&r);
  {
    /* The mirror, read by libgit2 alone. */
    char *cmd = td_asprintf("ls -d %s/*.git", f.cache);
    FILE *p = popen(cmd, "r");
    char line[512] = "";

    ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
    pclose(p);
    free(cmd);
    line[strcspn(line, "\n")] = '\0';
    ck_assert_int_eq(git_repository_open_bare(&mirror, line), 0);
  }
  list = status_entries(mirror, &same);
  ck_assert_str_eq(list, "a-b.yaml\na.yaml\nacme.yaml\nzz.yaml\n");
  ck_assert(same);
  free(list);
  /* What it holds reads back. */
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "a-b", &st),
                   0);
  ck_assert_str_eq(st->tenant, "a-b");
  tenant_status_free(st);
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "beta", &st),
                   TD_ENOTFOUND);

  /* Removing every tenant leaves no directory, as libgit2 would. */
  r.v = td_calloc(4, sizeof(*r.v));
  r.n = 4;
  for (size_t i = 0; i < r.n; i++) {
    outcome(&r.v[i],
            i == 0   ? "a-b"
            : i == 1 ? "a"
            : i == 2 ? "acme"
                     : "zz",
            RESULT_READY, NULL, 0);
    tenant_status_free(r.v[i].status);
    r.v[i].status = NULL;
  }
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  reconcile_report_release(&r);
  ck_assert_int_eq(writeback_store(wb)->read(writeback_store(wb), "a", &st),
                   TD_ENOTFOUND);
  git_repository_free(mirror);
  writeback_close(wb);
  source_close(s);
  fx_free(&f);
}
END_TEST

/* A commit through wb of `n` tenants, each Ready. */
static void commit_ready(struct writeback *wb, const char *const *names,
                         size_t n, const char *source)
{
  struct reconcile_report r = {0};
  char commit[41];

  r.v = td_calloc(n, sizeof(*r.v));
  r.n = n;
  for (size_t i = 0; i < n; i++)
    outcome(&r.v[i], names[i], RESULT_READY, NULL, 0);
  ck_assert_int_eq(writeback_commit(wb, &r, source, commit), 1);
  reconcile_report_release(&r);
}

static void read_back(struct writeback *wb, const char *tenant, int want)
{
  struct tenant_status *st = NULL;
  int rc = writeback_store(wb)->read(writeback_store(wb), tenant, &st);

  ck_assert_msg(rc == want, "%s: %d: %s", tenant, rc, td_error_last());
  if (rc == 0)
    ck_assert_str_eq(st->tenant, tenant);
  tenant_status_free(st);
}

/*
 * The statuses a commit wrote read back in the next pass from the copy
 * of the status directory the commit kept, without the tree parsed; and
 * from the tree once that copy is another directory's (another mirror's
 * commit here).
 */
START_TEST(writeback_reads_statuses_from_the_kept_directory)
{
  static const char *const ours[] = {"acme", "beta", "gamma"};
  static const char *const theirs[] = {"other"};
  struct fx f, g;
  struct source *s, *t;
  struct writeback *wb, *wb2;
  git_oid dir, blob;
  char c1[41], c2[41];

  fx_init(&f);
  fx_init(&g);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  fx_commit(&g, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c2);
  s = fx_open(&f);
  t = fx_open(&g);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_fetch(t), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  commit_ready(wb, ours, 2, c1);
  commit_ready(wb, ours + 2, 1, c1); /* spliced into the kept copy */
  writeback_close(wb);

  ck_assert_int_eq(writeback_open(&wb, s), 0);
  dir = writeback__status_dir_id(wb);
  ck_assert_int_eq(writeback__kept_entry(&dir, "gamma.yaml", &blob), 0);
  ck_assert_int_eq(writeback__kept_entry(&dir, "delta.yaml", &blob),
                   TD_ENOTFOUND);
  ck_assert(wb->status_tree == NULL);
  read_back(wb, "acme", 0);
  read_back(wb, "gamma", 0);
  read_back(wb, "delta", TD_ENOTFOUND);
  ck_assert(wb->status_tree == NULL);

  /* Another directory kept now (g's second commit: its first had no
   * directory to splice into): wb reads its own from its tree. */
  ck_assert_int_eq(writeback_open(&wb2, t), 0);
  commit_ready(wb2, theirs, 1, c2);
  commit_ready(wb2, theirs, 1, c2);
  ck_assert_int_eq(writeback__kept_entry(&dir, "gamma.yaml", &blob), 1);
  read_back(wb, "beta", 0);
  read_back(wb, "delta", TD_ENOTFOUND);
  ck_assert(wb->status_tree != NULL);
  read_back(wb2, "other", 0);
  read_back(wb2, "acme", TD_ENOTFOUND);
  writeback_close(wb2);
  writeback_close(wb);
  source_close(t);
  source_close(s);
  fx_free(&g);
  fx_free(&f);
}
END_TEST

START_TEST(source_held_library_reopens_the_same_mirror)
{
  struct fx f;
  struct source *s;
  static const char *const more[] = {"tenants/gamma.yaml", "kind: Tenant\n"};
  char c1[41], c2[41], head[41];

  fx_init(&f);
  source_library_hold();
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_head(s, head), 0);
  ck_assert_str_eq(head, c1);
  source_close(s);
  /* Parked, it still holds no lock: a new open takes the mirror, and
   * what the remote gained since is fetched and read. */
  fx_commit(&f, "second", GIT_FILEMODE_BLOB, more, 1, c2);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_head(s, head), 0);
  ck_assert_str_eq(head, c2);
  source_close(s);
  source_library_release();
  fx_free(&f);
}
END_TEST

/* ---- a remote on this machine: objects copied, no pack ---- */

static size_t packs_in(const char *objects_dir)
{
  char *cmd =
      td_asprintf("ls %s/pack 2>/dev/null | grep -c '\\.pack$'", objects_dir);
  FILE *p = popen(cmd, "r");
  unsigned long n = 0;

  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(fscanf(p, "%lu", &n), 1);
  pclose(p);
  free(cmd);
  return n;
}

/* A commit in `repo` on `ref` with `parent`'s tree and `parent` as its
 * only parent. */
static void child_commit(git_repository *repo, const char *ref,
                         const git_oid *parent_id, const char *msg,
                         git_oid *out)
{
  git_commit *parent;
  git_tree *tree;
  git_signature *sig;

  ck_assert_int_eq(git_commit_lookup(&parent, repo, parent_id), 0);
  ck_assert_int_eq(git_commit_tree(&tree, parent), 0);
  ck_assert_int_eq(git_signature_now(&sig, "td", "td@example.com"), 0);
  ck_assert_int_eq(git_commit_create(out, repo, ref, sig, sig, NULL, msg, tree,
                                     1, (const git_commit **)&parent),
                   0);
  git_signature_free(sig);
  git_tree_free(tree);
  git_commit_free(parent);
}

START_TEST(source_local_fetch_copies_objects_without_a_pack)
{
  struct fx f;
  struct source *s;
  struct strset changed = STRSET_INIT;
  struct manifest_files files = MANIFEST_FILES_INIT;
  static const char *const more[] = {"tenants/gamma.yaml", "kind: Tenant\n"};
  char c1[41], c2[41], head[41], *objects;
  bool all = true;

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  fx_commit(&f, "second", GIT_FILEMODE_BLOB, more, 1, c2);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_head(s, head), 0);
  ck_assert_str_eq(head, c2);
  /* Every object is there to read: the changed tree and file too. */
  ck_assert_int_eq(source_changes(s, c1, c2, &changed, &all), 0);
  ck_assert(!all);
  ck_assert_uint_eq(changed.n, 1);
  ck_assert_str_eq(changed.v[0], "gamma");
  ck_assert_int_eq(
      source_read_manifests(s, c2, &files, YAML_LIMITS_DEFAULT_MAX_BYTES, NULL),
      0);
  ck_assert_uint_ge(files.n, 1);
  ck_assert_str_eq(files.v[files.n - 1].path, "tenants/gamma.yaml");
  ck_assert_str_eq(files.v[files.n - 1].data, "kind: Tenant\n");
  objects = td_asprintf("%s/objects", git_repository_path(source_repo(s)));
  ck_assert_uint_eq(packs_in(objects), 0);
  free(objects);
  manifest_files_release(&files);
  strset_release(&changed);
  source_close(s);
  fx_free(&f);
}
END_TEST

START_TEST(source_local_copy_gives_up_past_its_limit)
{
  struct fx f;
  struct source *s;
  git_repository *mirror;
  git_odb *odb;
  git_oid tip;
  char c1[41];

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  mirror = source_repo(s);
  ck_assert_int_eq(git_oid_fromstr(&tip, c1), 0);
  /* A commit, three trees and six files: more than 3, nothing written. */
  ck_assert_int_eq(source__copy_objects(f.repo, mirror, &tip, 3, 3, NULL, true), 1);
  ck_assert_int_eq(git_repository_odb(&odb, mirror), 0);
  ck_assert(!git_odb_exists(odb, &tip));
  ck_assert_int_eq(source__copy_objects(f.repo, mirror, &tip, 100, 100, NULL, true),
                   0);
  ck_assert(git_odb_exists(odb, &tip));
  /* Present already: nothing to copy, whatever the limit. */
  ck_assert_int_eq(source__copy_objects(f.repo, mirror, &tip, 1, 1, NULL, true), 0);
  git_odb_free(odb);
  source_close(s);
  fx_free(&f);
}
END_TEST

START_TEST(source_local_push_only_fast_forwards)
{
  struct fx f;
  struct source *s;
  git_repository *mirror;
  git_oid base, mine, theirs, other, now;
  const char *specs[1];
  char c1[41], c3[41];
  static const char *const more[] = {"tenants/gamma.yaml", "kind: Tenant\n"};

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  mirror = source_repo(s);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(git_oid_fromstr(&base, c1), 0);
  child_commit(mirror, "refs/heads/x", &base, "mine", &mine);
  specs[0] = "refs/heads/x:refs/heads/main";
  ck_assert_msg(source_push(s, specs, 1) == 0, "%s", td_error_last());
  ck_assert_int_eq(git_reference_name_to_id(&now, f.repo, "refs/heads/main"),
                   0);
  ck_assert(git_oid_equal(&now, &mine));
  /* The remote moves on; a commit on the old tip is not a fast-forward
   * and leaves the remote as it was. */
  fx_commit(&f, "theirs", GIT_FILEMODE_BLOB, more, 1, c3);
  ck_assert_int_eq(git_oid_fromstr(&theirs, c3), 0);
  child_commit(mirror, "refs/heads/y", &mine, "other", &other);
  specs[0] = "refs/heads/y:refs/heads/main";
  ck_assert_int_eq(source_push(s, specs, 1), TD_ECONFLICT);
  ck_assert_int_eq(git_reference_name_to_id(&now, f.repo, "refs/heads/main"),
                   0);
  ck_assert(git_oid_equal(&now, &theirs));
  /* A new ref is created, with its objects. */
  specs[0] = "refs/heads/y:refs/heads/other";
  ck_assert_msg(source_push(s, specs, 1) == 0, "%s", td_error_last());
  ck_assert_int_eq(git_reference_name_to_id(&now, f.repo, "refs/heads/other"),
                   0);
  ck_assert(git_oid_equal(&now, &other));
  ck_assert_uint_eq(packs_in(f.remote), 0);
  source_close(s);
  fx_free(&f);
}
END_TEST

/* The loose file of `id` in `repo`, and its inode (0: none). */
static ino_t loose_inode(git_repository *repo, const git_oid *id, char **path)
{
  char hex[GIT_OID_HEXSZ + 1];
  struct stat st;

  git_oid_tostr(hex, sizeof(hex), id);
  *path =
      td_asprintf("%sobjects/%.2s/%s", git_repository_path(repo), hex, hex + 2);
  return stat(*path, &st) == 0 ? st.st_ino : 0;
}

START_TEST(source_local_copy_links_loose_files_and_checks_them)
{
  struct fx f;
  struct source *s;
  git_repository *mirror;
  git_odb *odb;
  git_oid tip, blob, platform;
  static const char delta[] = "kind: Tenant # delta\n";
  static const char *const more[] = {"tenants/delta.yaml", delta};
  char c1[41], c2[41], *in_remote, *in_mirror, *bytes;
  size_t len;

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  mirror = source_repo(s);
  ck_assert_int_eq(git_repository_odb(&odb, mirror), 0);
  /* The remote's loose file is the mirror's: nothing inflated and
   * deflated again. */
  ck_assert_int_eq(git_oid_fromstr(&tip, c1), 0);
  ck_assert_int_eq(source__copy_objects(f.repo, mirror, &tip, 100, 100, NULL, true),
                   0);
  ck_assert_int_eq(
      git_odb_hash(&platform, "kind: Platform\n", 15, GIT_OBJECT_BLOB), 0);
  {
    ino_t there = loose_inode(f.repo, &platform, &in_remote);

    ck_assert_uint_ne(there, 0);
    ck_assert_uint_eq(there, loose_inode(mirror, &platform, &in_mirror));
    free(in_mirror);
  }

  /* A loose file whose bytes are another object's is refused, and not
   * left in the mirror: ids are what signatures vouch for. */
  fx_commit(&f, "second", GIT_FILEMODE_BLOB, more, 1, c2);
  ck_assert_int_eq(git_odb_hash(&blob, delta, strlen(delta), GIT_OBJECT_BLOB),
                   0);
  free(in_remote);
  ck_assert_uint_ne(loose_inode(f.repo, &blob, &in_remote), 0);
  {
    char *platform_file;

    (void)loose_inode(f.repo, &platform, &platform_file);
    ck_assert_int_eq(fs_read_capped(platform_file, 1 << 20, &bytes, &len), 0);
    free(platform_file);
  }
  {
    FILE *fp;

    ck_assert_int_eq(unlink(in_remote), 0);
    fp = fopen(in_remote, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(bytes, 1, len, fp), len);
    ck_assert_int_eq(fclose(fp), 0);
  }
  free(bytes);
  ck_assert_int_eq(git_oid_fromstr(&tip, c2), 0);
  /* As the daemon reads: libgit2 does not check what it reads. */
  git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
  ck_assert_int_eq(source__copy_objects(f.repo, mirror, &tip, 100, 100, NULL, true),
                   -1);
  git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
  ck_assert_ptr_nonnull(strstr(git_error_last()->message, "corrupt"));
  ck_assert_uint_eq(loose_inode(mirror, &blob, &in_mirror), 0);
  ck_assert(!git_odb_exists(odb, &blob));
  ck_assert(!git_odb_exists(odb, &tip));
  free(in_mirror);
  /* Unchecked (a push of the mirror's own objects): linked unread. */
  ck_assert_int_eq(
      source__copy_objects(f.repo, mirror, &tip, 100, 100, NULL, false), 0);
  ck_assert_uint_eq(loose_inode(mirror, &blob, &in_mirror),
                    loose_inode(f.repo, &blob, &bytes));
  free(bytes);
  free(in_mirror);
  free(in_remote);
  git_odb_free(odb);
  source_close(s);
  fx_free(&f);
}
END_TEST

/* Objects stored loose under objects_dir. */
static size_t loose_in(const char *objects_dir)
{
  char *cmd = td_asprintf(
      "find %s -path '*/objects/[0-9a-f][0-9a-f]/*' -type f | wc -l",
      objects_dir);
  FILE *p = popen(cmd, "r");
  unsigned long n = 0;

  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(fscanf(p, "%lu", &n), 1);
  pclose(p);
  free(cmd);
  return n;
}

/* The names of the packs under objects_dir, one a line. */
static char *pack_names(const char *objects_dir)
{
  char *cmd = td_asprintf("ls %s/pack 2>/dev/null | grep '\\.pack$'; true",
                          objects_dir);
  FILE *p = popen(cmd, "r");
  char line[256], *out = td_strdup("");

  ck_assert_ptr_nonnull(p);
  while (fgets(line, sizeof(line), p)) {
    char *more = td_asprintf("%s%s", out, line);

    free(out);
    out = more;
  }
  pclose(p);
  free(cmd);
  return out;
}

static int copy_same(const git_oid *id, void *payload)
{
  git_odb *const *odb = payload; /* {from, to} */
  git_odb_object *a, *b;

  ck_assert_int_eq(git_odb_read(&a, odb[0], id), 0);
  ck_assert_int_eq(git_odb_read(&b, odb[1], id), 0);
  ck_assert_uint_eq(git_odb_object_size(a), git_odb_object_size(b));
  ck_assert(memcmp(git_odb_object_data(a), git_odb_object_data(b),
                   git_odb_object_size(a)) == 0);
  git_odb_object_free(a);
  git_odb_object_free(b);
  return 0;
}

START_TEST(source_local_copy_past_the_loose_limit_is_one_pack)
{
  struct fx f;
  struct source *s;
  git_repository *mirror;
  git_odb *odb[2];
  git_oid tip;
  char c1[41], *objects;

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  mirror = source_repo(s);
  objects = td_asprintf("%s/objects", git_repository_path(mirror));
  ck_assert_int_eq(git_oid_fromstr(&tip, c1), 0);
  /* Ten objects, more than 3 to write loose: one pack, nothing loose,
   * and every object of the remote reads the same in the mirror. */
  ck_assert_int_eq(source__copy_objects(f.repo, mirror, &tip, 3, 100, NULL, true), 0);
  ck_assert_uint_eq(packs_in(objects), 1);
  ck_assert_uint_eq(loose_in(objects), 0);
  ck_assert_int_eq(git_repository_odb(&odb[0], f.repo), 0);
  ck_assert_int_eq(git_repository_odb(&odb[1], mirror), 0);
  ck_assert_int_eq(git_odb_foreach(odb[0], copy_same, odb), 0);
  git_odb_free(odb[0]);
  git_odb_free(odb[1]);
  free(objects);
  source_close(s);
  fx_free(&f);
}
END_TEST

/* A pass's report of `n` tenants t00000.., each changed, from `from`. */
static void many_outcomes(struct reconcile_report *r, size_t from, size_t n,
                          const char *tag)
{
  r->v = td_calloc(n, sizeof(*r->v));
  r->n = n;
  for (size_t i = 0; i < n; i++) {
    char name[16];

    snprintf(name, sizeof(name), "t%05zu", from + i);
    outcome(&r->v[i], name, RESULT_READY, NULL, 0);
    r->v[i].status->last_error.message = td_strdup(tag);
  }
}

/* The status branch's tip in `repo` holds each status of `r`, as
 * formatted, and its root tree is `*root` (set when zero). */
static void holds_statuses(git_repository *repo,
                           const struct reconcile_report *r, git_oid *root)
{
  git_oid tip;
  git_commit *c;
  git_tree *tree;

  ck_assert_int_eq(
      git_reference_name_to_id(&tip, repo, "refs/heads/tenantd/status"), 0);
  ck_assert_int_eq(git_commit_lookup(&c, repo, &tip), 0);
  ck_assert_int_eq(git_commit_tree(&tree, c), 0);
  if (git_oid_is_zero(root))
    *root = *git_tree_id(tree);
  ck_assert(git_oid_equal(root, git_tree_id(tree)));
  for (size_t i = 0; i < r->n; i++) {
    char *path = td_asprintf("status/%s.yaml", r->v[i].tenant);
    char *text = tenant_status_format(r->v[i].status);
    git_tree_entry *e;
    git_blob *b;

    ck_assert_int_eq(git_tree_entry_bypath(&e, tree, path), 0);
    ck_assert_int_eq(git_blob_lookup(&b, repo, git_tree_entry_id(e)), 0);
    ck_assert_uint_eq(git_blob_rawsize(b), strlen(text));
    ck_assert(memcmp(git_blob_rawcontent(b), text, strlen(text)) == 0);
    git_blob_free(b);
    git_tree_entry_free(e);
    free(text);
    free(path);
  }
  git_tree_free(tree);
  git_commit_free(c);
}

#define MANY (SOURCE_LOOSE_MAX + 52)

/*
 * A commit of thousands of statuses lands in the mirror as one pack
 * (nothing loose), holds the same tree as the same statuses committed a
 * few at a time (written loose), and is pushed as that same pack.
 */
START_TEST(writeback_stages_a_large_commit_as_one_pack)
{
  struct fx f, g;
  struct source *s, *t;
  struct writeback *wb, *wb2;
  struct reconcile_report r = {0}, part = {0};
  git_oid root = {{0}}, root2 = {{0}};
  char c1[41], c2[41], commit[41], *objects, *before, *after, *fresh, *cmd;

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  s = fx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  objects = td_asprintf("%s/objects", git_repository_path(source_repo(s)));
  before = pack_names(objects);
  ck_assert_uint_eq(loose_in(objects), 10);
  many_outcomes(&r, 0, MANY, "staged");
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  ck_assert_uint_eq(loose_in(objects), 10);
  after = pack_names(objects);
  ck_assert_uint_eq(packs_in(objects), 1);
  ck_assert_str_eq(before, "");
  holds_statuses(source_repo(s), &r, &root);
  ck_assert_int_eq(writeback_push(wb), 0);
  /* The remote has the pack the mirror has, byte for byte (a pack is
   * named by its checksum), and reads the same. */
  cmd = td_asprintf("%s/objects", f.remote);
  fresh = pack_names(cmd);
  free(cmd);
  ck_assert_ptr_nonnull(strstr(fresh, after));
  holds_statuses(f.repo, &r, &root);
  free(fresh);

  /* The same statuses a few at a time: written loose, the same tree. */
  fx_init(&g);
  fx_commit(&g, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c2);
  t = fx_open(&g);
  ck_assert_int_eq(source_fetch(t), 0);
  ck_assert_int_eq(writeback_open(&wb2, t), 0);
  for (size_t from = 0; from < MANY; from += MANY / 4 + 1) {
    size_t n = from + MANY / 4 + 1 > MANY ? MANY - from : MANY / 4 + 1;

    many_outcomes(&part, from, n, "staged");
    ck_assert_int_eq(writeback_commit(wb2, &part, c1, commit), 1);
    reconcile_report_release(&part);
  }
  holds_statuses(source_repo(t), &r, &root2);
  ck_assert(git_oid_equal(&root, &root2));
  reconcile_report_release(&r);
  free(before);
  free(after);
  free(objects);
  writeback_close(wb2);
  source_close(t);
  fx_free(&g);
  writeback_close(wb);
  source_close(s);
  fx_free(&f);
}
END_TEST

/*
 * A staged commit that cannot be made (its signing key is missing) fails
 * whole: the branch stays where it was and nothing is left in the mirror;
 * with the key fixed, the same statuses commit.  A later commit not yet
 * pushed with it goes in a pack of the push's own making: the remote has
 * everything.
 */
START_TEST(writeback_staged_commit_fails_whole)
{
  struct source_opts o = SOURCE_OPTS_INIT;
  struct fx f;
  struct source *s;
  struct writeback *wb;
  struct reconcile_report r = {0}, more = {0};
  git_oid root = {{0}};
  char c1[41], commit[41], *objects, *packs;

  fx_init(&f);
  fx_commit(&f, "first", GIT_FILEMODE_BLOB, first, ARRAY_SIZE(first) / 2, c1);
  o.url = f.url;
  o.cache_dir = f.cache;
  o.signing_key = "/nonexistent/tenantd-key";
  ck_assert_int_eq(source_open(&s, &o), 0);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  objects = td_asprintf("%s/objects", git_repository_path(source_repo(s)));
  many_outcomes(&r, 0, MANY, "first try");
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "signingKey"));
  ck_assert_int_eq(writeback_tip(wb, commit), TD_ENOTFOUND);
  ck_assert_uint_eq(loose_in(objects), 10);
  packs = pack_names(objects);
  ck_assert_str_eq(packs, "");
  free(packs);
  writeback_close(wb);
  source_close(s);

  s = fx_open(&f);
  ck_assert_int_eq(writeback_open(&wb, s), 0);
  ck_assert_int_eq(writeback_commit(wb, &r, c1, commit), 1);
  holds_statuses(source_repo(s), &r, &root);

  /* One more commit on top, then the push of both. */
  many_outcomes(&more, 7, 1, "second");
  ck_assert_int_eq(writeback_commit(wb, &more, c1, commit), 1);
  ck_assert_int_eq(writeback_push(wb), 0);
  memset(&root, 0, sizeof(root));
  holds_statuses(source_repo(s), &more, &root);
  holds_statuses(f.repo, &more, &root);
  reconcile_report_release(&more);
  reconcile_report_release(&r);
  free(objects);
  writeback_close(wb);
  source_close(s);
  fx_free(&f);
}
END_TEST

Suite *make_suite_git(void)
{
  Suite *s = suite_create("git");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, source_reads_manifests_from_the_tree);
  tcase_add_test(tc, source_read_reuses_what_the_models_commit_had);
  tcase_add_test(tc, source_read_changes_lists_what_differs_from_the_models_commit);
  tcase_add_test(tc, source_changes_name_the_tenants_touched);
  tcase_add_test(tc, source_mirror_narrows_the_delta_window);
  tcase_add_test(tc, source_missing_branch_is_an_error_not_empty);
  tcase_add_test(tc, source_mirror_is_locked);
  tcase_add_test(tc, source_default_cache_is_the_users);
  tcase_add_test(tc, source_keeps_credentials_out_of_messages);
  tcase_add_test(tc, writeback_message_has_subject_events_and_trailers);
  tcase_add_test(tc, writeback_commits_and_merges_notes);
  tcase_add_test(tc, summaries_keep_what_lies_outside_a_pass);
  tcase_add_test(tc, writeback_note_lines_count_their_own_outcome);
  tcase_add_test(tc, writeback_edits_the_status_directory_in_place);
  tcase_add_test(tc, writeback_reads_statuses_from_the_kept_directory);
  tcase_add_test(tc, source_held_library_reopens_the_same_mirror);
  tcase_add_test(tc, source_local_fetch_copies_objects_without_a_pack);
  tcase_add_test(tc, source_local_copy_gives_up_past_its_limit);
  tcase_add_test(tc, source_local_push_only_fast_forwards);
  tcase_add_test(tc, source_local_copy_links_loose_files_and_checks_them);
  tcase_add_test(tc, source_local_copy_past_the_loose_limit_is_one_pack);
  tcase_add_test(tc, writeback_stages_a_large_commit_as_one_pack);
  tcase_add_test(tc, writeback_staged_commit_fails_whole);
  suite_add_tcase(s, tc);
  return s;
}
