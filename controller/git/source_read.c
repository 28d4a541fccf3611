/*
 * source_read.c - reading what a commit holds, for source.h: its
 * manifests, the tenants it changed, its trailers and subject, merge
 * bases.  The mirror's lifecycle, fetch and push are in source.c.
 */
#include "base/compat.h"

#include <stdio.h>

#include "base/error.h"
#include "base/strset.h"
#include "base/strutil.h"
#include "git/source_git.h"

int source_merge_base(struct source *s, const char *a, const char *b,
                      char id[SOURCE_ID_LEN])
{
  git_oid oa, ob, base;

  if (git_oid_fromstr(&oa, a) < 0 || git_oid_fromstr(&ob, b) < 0)
    return td_error_code(TD_EINVALID, "not a commit id");
  if (git_merge_base(&base, source_repo(s), &oa, &ob) < 0)
    return td_error_code(TD_ENOTFOUND, "%.12s and %.12s share no history", a,
                         b);
  git_oid_tostr(id, SOURCE_ID_LEN, &base);
  return 0;
}

const git_tree_entry *source_entry_near(const git_tree *tree, size_t *at,
                                        const char *name)
{
  for (size_t k = *at; k < *at + 2 && k < git_tree_entrycount(tree); k++) {
    const git_tree_entry *e = git_tree_entry_byindex(tree, k);

    if (strcmp(git_tree_entry_name(e), name) == 0) {
      *at = k + 1;
      return e;
    }
  }
  return git_tree_entry_byname(tree, name);
}

static int commit_tree(struct source *s, const char *id, git_tree **tree)
{
  git_commit *c;
  int rc = source_lookup_commit(s, id, &c);

  if (rc < 0)
    return rc;
  if (git_commit_tree(tree, c) < 0)
    rc = source_git_error(s, "tree");
  git_commit_free(c);
  return rc;
}

/* Where a tree's files go, and what an earlier read already holds. */
struct blob_sink {
  struct manifest_files *files;
  size_t max_bytes;
  const struct manifest_repo *reuse;
  size_t hint; /* manifest_repo_find_tenant's, through tenants/ */
  /* The tenants/ tree reuse was read from (NULL: unknown), and where a
   * walk of the new one is in it. */
  git_tree *was;
  size_t was_at;
};

static bool regular(const git_tree_entry *e)
{
  return git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB ||
         git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB_EXECUTABLE;
}

/* Whether tenants/ entry `e` is the same regular file in the tree reuse
 * was read from: reuse's document is then its, unlooked at. */
static bool unchanged(struct blob_sink *to, const git_tree_entry *e)
{
  const git_tree_entry *w;

  if (!to->was)
    return false;
  w = source_entry_near(to->was, &to->was_at, git_tree_entry_name(e));
  return w && regular(w) &&
         git_oid_equal(git_tree_entry_id(w), git_tree_entry_id(e));
}

/* prev's document with the path, if any. */
static const struct manifest_doc *known_doc(struct blob_sink *to,
                                            const char *path)
{
  if (!to->reuse)
    return NULL;
  if (strncmp(path, "tenants/", 8) == 0)
    return manifest_repo_find_tenant(to->reuse, path, &to->hint);
  return manifest_repo_find(to->reuse, path);
}

/* Appends a blob, cut at max_bytes + 1. */
static int add_blob(struct source *s, struct blob_sink *to, const char *path,
                    const git_tree_entry *e, bool tenant)
{
  struct manifest_files *files = to->files;
  size_t max_bytes = to->max_bytes;
  const struct manifest_doc *known;
  char key[GIT_OID_HEXSZ + 1];
  git_blob *blob;
  size_t len;
  char *data;

  /* Held, never skipped: a tenant file that vanished would be pruned. */
  if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
    manifest_files_add_unreadable(files, path,
                                  "is a symbolic link; tenantd reads "
                                  "manifests only from regular files");
    return 0;
  }
  if (!regular(e)) {
    manifest_files_add_unreadable(files, path,
                                  "is not a regular file (a submodule?)");
    return 0;
  }
  git_oid_tostr(key, sizeof(key), git_tree_entry_id(e));
  if (tenant && unchanged(to, e)) {
    manifest_files_add_reused(files, path, key);
    return 0;
  }
  known = known_doc(to, path);
  if (known && strcmp(known->key, key) == 0) {
    manifest_files_add_reused(files, path, key);
    return 0;
  }
  if (git_blob_lookup(&blob, source_repo(s), git_tree_entry_id(e)) < 0)
    return source_git_error(s, path);
  len = (size_t)git_blob_rawsize(blob);
  if (len > max_bytes + 1)
    len = max_bytes + 1;
  data = td_malloc(len + 1);
  memcpy(data, git_blob_rawcontent(blob), len);
  data[len] = '\0';
  manifest_files_take(files, path, data, len);
  memcpy(files->v[files->n - 1].key, key, sizeof(key));
  git_blob_free(blob);
  return 0;
}

/* The tenants/ tree of `commit`, NULL when there is none to be had. */
static git_tree *tenants_tree(struct source *s, const char *commit)
{
  git_tree *root = NULL, *tree = NULL;
  const git_tree_entry *e;

  if (commit_tree(s, commit, &root) == 0 &&
      (e = git_tree_entry_byname(root, "tenants")) != NULL &&
      git_tree_entry_type(e) == GIT_OBJECT_TREE &&
      git_tree_lookup(&tree, source_repo(s), git_tree_entry_id(e)) < 0)
    tree = NULL;
  git_tree_free(root);
  git_error_clear();
  td_error_clear();
  return tree;
}

/* The tenant files of `tenants` into the sink: every one, or for a
 * listing of changes only those that differ from the tree reuse was read
 * from (to->was), then those that tree has and this one does not. */
static int read_tenants(struct source *s, struct blob_sink *to,
                        const git_tree *tenants, bool delta)
{
  size_t n = git_tree_entrycount(tenants), at = 0;
  char path[512] = "tenants/";
  int rc = 0;

  for (size_t i = 0; i < n && rc == 0; i++) {
    const git_tree_entry *te = git_tree_entry_byindex(tenants, i);
    const char *name = git_tree_entry_name(te);
    size_t len = strlen(name);

    /* Longer than any tenant's name: not a tenant file. */
    if (len >= sizeof(path) - 8 || (delta && regular(te) && unchanged(to, te)))
      continue;
    memcpy(path + 8, name, len + 1);
    if (manifest_path_kind(path) == MP_TENANT)
      rc = add_blob(s, to, path, te, true);
  }
  for (size_t i = 0; delta && i < git_tree_entrycount(to->was); i++) {
    const char *name = git_tree_entry_name(git_tree_entry_byindex(to->was, i));
    size_t len = strlen(name);

    if (len >= sizeof(path) - 8 || source_entry_near(tenants, &at, name))
      continue;
    memcpy(path + 8, name, len + 1);
    if (manifest_path_kind(path) == MP_TENANT)
      manifest_files_add_gone(to->files, path);
  }
  return rc;
}

static int read_manifests(struct source *s, const char *commit,
                          struct manifest_files *files, size_t max_bytes,
                          const struct manifest_repo *reuse, bool changes)
{
  static const char *const top[] = {"platform.yaml", "tiers.yaml"};
  struct blob_sink to = {files, max_bytes, reuse, 0, NULL, 0};
  git_tree *root = NULL, *tenants = NULL;
  const git_tree_entry *e;
  int rc = commit_tree(s, commit, &root);

  if (rc < 0)
    return rc;
  /* What the earlier read came from: its unchanged files are known so. */
  if (reuse && reuse->commit[0])
    to.was = tenants_tree(s, reuse->commit);
  for (size_t i = 0; i < ARRAY_SIZE(top) && rc == 0; i++)
    if ((e = git_tree_entry_byname(root, top[i])) != NULL)
      rc = add_blob(s, &to, top[i], e, false);
  e = git_tree_entry_byname(root, "tenants");
  if (rc == 0 && e && git_tree_entry_type(e) != GIT_OBJECT_TREE)
    /* Every tenant would look deleted: refuse the snapshot instead. */
    rc = td_error("commit %.12s: tenants/ is not a directory (a symbolic "
                  "link or a submodule); nothing is read from it",
                  commit);
  if (rc == 0 && e && git_tree_entry_type(e) == GIT_OBJECT_TREE) {
    if (git_tree_lookup(&tenants, source_repo(s), git_tree_entry_id(e)) < 0) {
      rc = source_git_error(s, "tenants/");
    } else {
      /* Changes need both trees; without the old one, everything. */
      changes = changes && to.was;
      rc = read_tenants(s, &to, tenants, changes);
      if (rc == 0 && changes)
        files->delta_of = reuse;
    }
  }
  git_tree_free(to.was);
  git_tree_free(tenants);
  git_tree_free(root);
  return rc;
}

int source_read_manifests(struct source *s, const char *commit,
                          struct manifest_files *files, size_t max_bytes,
                          const struct manifest_repo *reuse)
{
  return read_manifests(s, commit, files, max_bytes, reuse, false);
}

int source_read_manifest_changes(struct source *s, const char *commit,
                                 struct manifest_files *files, size_t max_bytes,
                                 const struct manifest_repo *reuse)
{
  return read_manifests(s, commit, files, max_bytes, reuse, true);
}

static void add_tenant_path(struct strset *tenants, const char *path)
{
  const char *name = path + strlen("tenants/");
  const char *dot = strrchr(name, '.');

  strset_addn(tenants, name, (size_t)(dot - name));
}

/* The entry `name` of `root` when it is a tree, looked up; NULL when
 * there is none (then every file of the other side is a change). */
static int subtree(struct source *s, const git_tree *root, const char *name,
                   git_tree **out)
{
  const git_tree_entry *e = git_tree_entry_byname(root, name);

  *out = NULL;
  if (!e || git_tree_entry_type(e) != GIT_OBJECT_TREE)
    return 0;
  if (git_tree_lookup(out, source_repo(s), git_tree_entry_id(e)) < 0)
    return source_git_error(s, name);
  return 0;
}

static bool same_entry(const git_tree_entry *a, const git_tree_entry *b)
{
  return a && b && git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b)) &&
         git_tree_entry_filemode(a) == git_tree_entry_filemode(b);
}

/* Adds the stem of tenants/ entry `e` to `tenants` when it names a
 * tenant file.  A name for no tenant (Acme.yaml) is no tenant's change:
 * the loader refuses it, and the pass holds removals for it. */
static void add_changed(const git_tree_entry *e, struct strset *tenants)
{
  char path[512] = "tenants/";
  const char *name = git_tree_entry_name(e);
  size_t len = strlen(name);

  if (len >= sizeof(path) - 8)
    return;
  memcpy(path + 8, name, len + 1);
  if (manifest_path_kind(path) == MP_TENANT &&
      manifest_path_tenant(path, NULL, 0))
    add_tenant_path(tenants, path);
}

/* The tenant files that differ between `a` and `b` (tenants/ trees, or
 * NULL), by stem: both walked once, in step, in Git's order. */
static void tenants_changed(const git_tree *a, const git_tree *b,
                            struct strset *tenants)
{
  size_t na = a ? git_tree_entrycount(a) : 0, i = 0;
  size_t nb = b ? git_tree_entrycount(b) : 0, j = 0;

  while (i < na || j < nb) {
    const git_tree_entry *ea = i < na ? git_tree_entry_byindex(a, i) : NULL;
    const git_tree_entry *eb = j < nb ? git_tree_entry_byindex(b, j) : NULL;
    int c = !ea ? 1 : !eb ? -1 : git_tree_entry_cmp(ea, eb);

    if (c < 0) {
      add_changed(ea, tenants);
      i++;
    } else if (c > 0) {
      add_changed(eb, tenants);
      j++;
    } else {
      if (!same_entry(ea, eb))
        add_changed(ea, tenants);
      i++;
      j++;
    }
  }
}

/*
 * Only two files at the top and tenants/'s own entries can change what
 * a pass reads (manifest_path_kind()), so those are compared, by id and
 * mode, the two trees walked once in step: at 10,000 tenants a few
 * hundred microseconds, where a diff of the whole trees took a
 * millisecond.
 */
int source_changes(struct source *s, const char *from, const char *to,
                   struct strset *tenants, bool *all)
{
  static const char *const top[] = {"platform.yaml", "tiers.yaml"};
  git_tree *a = NULL, *b = NULL, *ta = NULL, *tb = NULL;
  int rc;

  *all = false;
  if (!from || !source_has_commit(s, from)) {
    *all = true;
    return 0;
  }
  rc = commit_tree(s, from, &a);
  if (rc == 0)
    rc = commit_tree(s, to, &b);
  for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(top); i++) {
    const git_tree_entry *ea = git_tree_entry_byname(a, top[i]);
    const git_tree_entry *eb = git_tree_entry_byname(b, top[i]);

    if ((ea || eb) && !same_entry(ea, eb))
      *all = true;
  }
  if (rc == 0)
    rc = subtree(s, a, "tenants", &ta);
  if (rc == 0)
    rc = subtree(s, b, "tenants", &tb);
  if (rc == 0 &&
      !(ta && tb && git_oid_equal(git_tree_id(ta), git_tree_id(tb)))) {
    tenants_changed(ta, tb, tenants);
  }
  strset_seal(tenants);
  git_tree_free(ta);
  git_tree_free(tb);
  git_tree_free(a);
  git_tree_free(b);
  return rc;
}

int source_trailer(struct source *s, const char *commit, const char *key,
                   char *buf, size_t cap)
{
  git_commit *c;
  git_message_trailer_array arr = {0};
  int rc = source_lookup_commit(s, commit, &c);

  if (rc < 0)
    return rc;
  rc = TD_ENOTFOUND;
  if (git_message_trailers(&arr, git_commit_message(c)) == 0) {
    for (size_t i = 0; i < arr.count; i++) {
      if (strcasecmp(arr.trailers[i].key, key) == 0) {
        snprintf(buf, cap, "%s", arr.trailers[i].value);
        rc = 0;
      }
    }
    git_message_trailer_array_free(&arr);
  }
  git_commit_free(c);
  return rc;
}

int source_subject(struct source *s, const char *commit, char *buf, size_t cap)
{
  git_commit *c;
  int rc = source_lookup_commit(s, commit, &c);

  if (rc < 0)
    return rc;
  snprintf(buf, cap, "%s", git_commit_summary(c) ? git_commit_summary(c) : "");
  git_commit_free(c);
  return 0;
}
