/*
 * The source mirror: fetch, trees, change detection, credentials kept
 * out of messages, and objects copied between repositories on this
 * machine.  Repositories are real: made with libgit2 in a temp dir and
 * fetched over file:// (git_fx.h).  The status branch is
 * test_writeback.c's.
 */
#include "base/compat.h"

#include <git2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "base/strset.h"
#include "engine/reconcile.h"
#include "git/source.h"
#include "git/source_git.h"
#include "git/source_internal.h"
#include "git/writeback.h"
#include "git_fx.h"
#include "suites.h"

START_TEST(source_reads_manifests_from_the_tree)
{
  struct gfx f;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct source *s;
  char c1[41], head[41];
  static const char *const link[] = {"tenants/link.yaml", "acme.yaml"};

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  gfx_commit(&f, "a link", GIT_FILEMODE_LINK, link, 1, head);
  s = gfx_open(&f);
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
  gfx_free(&f);
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
  struct gfx f;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *model;
  struct source *s;
  char c1[41], c2[41], c3[41];

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  gfx_commit(&f, "a link", GIT_FILEMODE_LINK, links, 1, c2);
  gfx_commit(&f, "second", GIT_FILEMODE_BLOB, second, ARRAY_SIZE(second) / 2,
             c3);
  s = gfx_open(&f);
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
  gfx_free(&f);
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
  struct gfx f;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *model, *full;
  const struct manifest_doc *gamma;
  struct source *s;
  char c1[41], c2[41], c3[41], c4[41];

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  gfx_commit(&f, "refused", GIT_FILEMODE_BLOB, refused, 1, c2);
  gfx_commit(&f, "a link", GIT_FILEMODE_LINK, links, 1, c3);
  gfx_commit(&f, "second", GIT_FILEMODE_BLOB, second, ARRAY_SIZE(second) / 2,
             c4);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_read_manifests(s, c2, &files, 1024, NULL), 0);
  manifest_repo_load(&model, &files, NULL);
  manifest_files_release(&files);
  ck_assert_uint_eq(model->nrefused, 1);

  /* No commit recorded: everything, as a full read. */
  ck_assert_int_eq(source_read_manifest_changes(s, c4, &files, 1024, model), 0);
  ck_assert_ptr_null(files.delta_of);
  ck_assert_uint_eq(files.n, 5);
  manifest_files_release(&files);

  memcpy(model->commit, c2, sizeof(model->commit));
  ck_assert_int_eq(source_read_manifest_changes(s, c4, &files, 1024, model), 0);
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
  ck_assert_int_eq(source_read_manifest_changes(s, c4, &files, 1024, model), 0);
  ck_assert_ptr_eq(files.delta_of, model);
  ck_assert_uint_eq(files.n, 2); /* platform.yaml and the link */
  manifest_repo_reload(&model, &files, NULL, model);
  ck_assert_ptr_eq(manifest_repo_find(model, "tenants/gamma.yaml"), gamma);
  ck_assert_uint_eq(model->ntenants, 3);
  manifest_repo_free(model);
  manifest_files_release(&files);
  source_close(s);
  gfx_free(&f);
}
END_TEST

START_TEST(source_changes_name_the_tenants_touched)
{
  struct gfx f;
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

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  gfx_commit(&f, "beta", GIT_FILEMODE_BLOB, one, 2, c2);
  gfx_commit(&f, "acme gone", GIT_FILEMODE_BLOB, gone, 1, c3);
  gfx_commit(&f, "platform", GIT_FILEMODE_BLOB, plat, 1, c4);
  gfx_commit(&f, "a file named for no tenant", GIT_FILEMODE_BLOB, bad, 1, c5);
  gfx_commit(&f, "beta executable", GIT_FILEMODE_BLOB_EXECUTABLE, one, 1, c6);
  s = gfx_open(&f);
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
  gfx_free(&f);
}
END_TEST

/* The mirror keeps a narrow delta window for the packs built from it,
 * unless the operator set one. */
START_TEST(source_mirror_narrows_the_delta_window)
{
  struct gfx f;
  struct source *s;
  git_config *cfg;
  int64_t v = 0;

  gfx_init(&f);
  s = gfx_open(&f);
  ck_assert_int_eq(git_repository_config(&cfg, source_repo(s)), 0);
  ck_assert_int_eq(git_config_get_int64(&v, cfg, "pack.windowMemory"), 0);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(git_config_set_int64(cfg, "pack.windowMemory", 1 << 20), 0);
  git_config_free(cfg);
  source_close(s);
  s = gfx_open(&f);
  ck_assert_int_eq(git_repository_config(&cfg, source_repo(s)), 0);
  ck_assert_int_eq(git_config_get_int64(&v, cfg, "pack.windowMemory"), 0);
  ck_assert_int_eq(v, 1 << 20);
  git_config_free(cfg);
  source_close(s);
  gfx_free(&f);
}
END_TEST

START_TEST(source_missing_branch_is_an_error_not_empty)
{
  struct gfx f;
  struct source *s;
  char head[41];

  gfx_init(&f);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), -1);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "has no branch 'main'"));
  ck_assert_int_eq(source_head(s, head), TD_ENOTFOUND);
  source_close(s);
  gfx_free(&f);
}
END_TEST

START_TEST(source_mirror_is_locked)
{
  struct gfx f;
  struct source *s, *again;
  struct source_opts o = SOURCE_OPTS_INIT;

  gfx_init(&f);
  s = gfx_open(&f);
  o.url = f.url;
  o.cache_dir = f.cache;
  ck_assert_int_eq(source_open(&again, &o), TD_ECONFLICT);
  ck_assert_ptr_nonnull(strstr(td_error_last(), "in use"));
  source_close(s);
  again = gfx_open(&f);
  source_close(again);
  gfx_free(&f);
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
  struct gfx f;
  struct source_opts o = SOURCE_OPTS_INIT;
  struct source *s;
  char *ls;
  FILE *p;
  char line[512];

  gfx_init(&f);
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
  gfx_free(&f);
}
END_TEST

START_TEST(source_held_library_reopens_the_same_mirror)
{
  struct gfx f;
  struct source *s;
  static const char *const more[] = {"tenants/gamma.yaml", "kind: Tenant\n"};
  char c1[41], c2[41], head[41];

  gfx_init(&f);
  source_library_hold();
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_head(s, head), 0);
  ck_assert_str_eq(head, c1);
  source_close(s);
  /* Parked, it still holds no lock: a new open takes the mirror, and
   * what the remote gained since is fetched and read. */
  gfx_commit(&f, "second", GIT_FILEMODE_BLOB, more, 1, c2);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  ck_assert_int_eq(source_head(s, head), 0);
  ck_assert_str_eq(head, c2);
  source_close(s);
  source_library_release();
  gfx_free(&f);
}
END_TEST

/* ---- a remote on this machine: objects copied, no pack ---- */

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
  struct gfx f;
  struct source *s;
  struct strset changed = STRSET_INIT;
  struct manifest_files files = MANIFEST_FILES_INIT;
  static const char *const more[] = {"tenants/gamma.yaml", "kind: Tenant\n"};
  char c1[41], c2[41], head[41], *objects;
  bool all = true;

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  ck_assert_int_eq(source_fetch(s), 0);
  gfx_commit(&f, "second", GIT_FILEMODE_BLOB, more, 1, c2);
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
  ck_assert_uint_eq(gfx_packs_in(objects), 0);
  free(objects);
  manifest_files_release(&files);
  strset_release(&changed);
  source_close(s);
  gfx_free(&f);
}
END_TEST

START_TEST(source_local_copy_gives_up_past_its_limit)
{
  struct gfx f;
  struct source *s;
  git_repository *mirror;
  git_odb *odb;
  git_oid tip;
  char c1[41];

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  mirror = source_repo(s);
  ck_assert_int_eq(git_oid_fromstr(&tip, c1), 0);
  /* A commit, three trees and six files: more than 3, nothing written. */
  ck_assert_int_eq(source__copy_objects(f.repo, mirror, &tip, 3, 3, NULL, true),
                   1);
  ck_assert_int_eq(git_repository_odb(&odb, mirror), 0);
  ck_assert(!git_odb_exists(odb, &tip));
  ck_assert_int_eq(
      source__copy_objects(f.repo, mirror, &tip, 100, 100, NULL, true), 0);
  ck_assert(git_odb_exists(odb, &tip));
  /* Present already: nothing to copy, whatever the limit. */
  ck_assert_int_eq(source__copy_objects(f.repo, mirror, &tip, 1, 1, NULL, true),
                   0);
  git_odb_free(odb);
  source_close(s);
  gfx_free(&f);
}
END_TEST

START_TEST(source_local_push_only_fast_forwards)
{
  struct gfx f;
  struct source *s;
  git_repository *mirror;
  git_oid base, mine, theirs, other, now;
  const char *specs[1];
  char c1[41], c3[41];
  static const char *const more[] = {"tenants/gamma.yaml", "kind: Tenant\n"};

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
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
  gfx_commit(&f, "theirs", GIT_FILEMODE_BLOB, more, 1, c3);
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
  ck_assert_uint_eq(gfx_packs_in(f.remote), 0);
  source_close(s);
  gfx_free(&f);
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
  struct gfx f;
  struct source *s;
  git_repository *mirror;
  git_odb *odb;
  git_oid tip, blob, platform;
  static const char delta[] = "kind: Tenant # delta\n";
  static const char *const more[] = {"tenants/delta.yaml", delta};
  char c1[41], c2[41], *in_remote, *in_mirror, *bytes;
  size_t len;

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  mirror = source_repo(s);
  ck_assert_int_eq(git_repository_odb(&odb, mirror), 0);
  /* The remote's loose file is the mirror's: nothing inflated and
   * deflated again. */
  ck_assert_int_eq(git_oid_fromstr(&tip, c1), 0);
  ck_assert_int_eq(
      source__copy_objects(f.repo, mirror, &tip, 100, 100, NULL, true), 0);
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
  gfx_commit(&f, "second", GIT_FILEMODE_BLOB, more, 1, c2);
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
  ck_assert_int_eq(
      source__copy_objects(f.repo, mirror, &tip, 100, 100, NULL, true), -1);
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
  gfx_free(&f);
}
END_TEST

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
  struct gfx f;
  struct source *s;
  git_repository *mirror;
  git_odb *odb[2];
  git_oid tip;
  char c1[41], *objects;

  gfx_init(&f);
  gfx_commit_first(&f, c1);
  s = gfx_open(&f);
  mirror = source_repo(s);
  objects = td_asprintf("%s/objects", git_repository_path(mirror));
  ck_assert_int_eq(git_oid_fromstr(&tip, c1), 0);
  /* Ten objects, more than 3 to write loose: one pack, nothing loose,
   * and every object of the remote reads the same in the mirror. */
  ck_assert_int_eq(
      source__copy_objects(f.repo, mirror, &tip, 3, 100, NULL, true), 0);
  ck_assert_uint_eq(gfx_packs_in(objects), 1);
  ck_assert_uint_eq(gfx_loose_in(objects), 0);
  ck_assert_int_eq(git_repository_odb(&odb[0], f.repo), 0);
  ck_assert_int_eq(git_repository_odb(&odb[1], mirror), 0);
  ck_assert_int_eq(git_odb_foreach(odb[0], copy_same, odb), 0);
  git_odb_free(odb[0]);
  git_odb_free(odb[1]);
  free(objects);
  source_close(s);
  gfx_free(&f);
}
END_TEST

/*
 * A fetch packs the remote's objects with the mirror's settings, not the
 * remote's: here the remote's would find no delta at all (libgit2 takes
 * its size limit for delta candidates from pack.deltaCacheSize), while
 * the mirror's find one between files this alike.
 */
START_TEST(source_fetch_packs_with_the_mirrors_settings)
{
  struct gfx f;
  struct source *s;
  git_config *cfg;
  const char *files[2 * 12];
  char *text[12], c1[41], *objects;
  git_oid tip;

  gfx_init(&f);
  for (size_t i = 0; i < 12; i++) {
    char name[32];

    snprintf(name, sizeof(name), "tenants/t%02zu.yaml", i);
    text[i] = td_asprintf("kind: Tenant\nname: t%02zu\n%0600d\n", i, 7);
    files[2 * i] = td_strdup(name);
    files[2 * i + 1] = text[i];
  }
  gfx_commit(&f, "alike", GIT_FILEMODE_BLOB, files, 12, c1);
  ck_assert_int_eq(git_repository_config(&cfg, f.repo), 0);
  ck_assert_int_eq(git_config_set_int64(cfg, "pack.deltaCacheSize", 0), 0);
  git_config_free(cfg);
  s = gfx_open(&f);
  objects = td_asprintf("%s/objects", git_repository_path(source_repo(s)));
  ck_assert_int_eq(git_oid_fromstr(&tip, c1), 0);
  ck_assert_int_eq(
      source__copy_objects(f.repo, source_repo(s), &tip, 3, 100, NULL, true),
      0);
  ck_assert_uint_eq(gfx_packs_in(objects), 1);
  ck_assert_uint_gt(gfx_deltas_in(objects), 0);
  for (size_t i = 0; i < 12; i++) {
    free((char *)files[2 * i]);
    free(text[i]);
  }
  free(objects);
  source_close(s);
  gfx_free(&f);
}
END_TEST

Suite *make_suite_git(void)
{
  Suite *s = suite_create("git");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, source_reads_manifests_from_the_tree);
  tcase_add_test(tc, source_read_reuses_what_the_models_commit_had);
  tcase_add_test(tc,
                 source_read_changes_lists_what_differs_from_the_models_commit);
  tcase_add_test(tc, source_changes_name_the_tenants_touched);
  tcase_add_test(tc, source_mirror_narrows_the_delta_window);
  tcase_add_test(tc, source_missing_branch_is_an_error_not_empty);
  tcase_add_test(tc, source_mirror_is_locked);
  tcase_add_test(tc, source_default_cache_is_the_users);
  tcase_add_test(tc, source_keeps_credentials_out_of_messages);
  tcase_add_test(tc, source_held_library_reopens_the_same_mirror);
  tcase_add_test(tc, source_local_fetch_copies_objects_without_a_pack);
  tcase_add_test(tc, source_local_copy_gives_up_past_its_limit);
  tcase_add_test(tc, source_local_push_only_fast_forwards);
  tcase_add_test(tc, source_local_copy_links_loose_files_and_checks_them);
  tcase_add_test(tc, source_local_copy_past_the_loose_limit_is_one_pack);
  tcase_add_test(tc, source_fetch_packs_with_the_mirrors_settings);
  suite_add_tcase(s, tc);
  return s;
}
