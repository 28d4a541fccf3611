/*
 * statustree.c - the status directory's tree object, kept as Git stores
 * it between passes, so that a commit of a few statuses rewrites a few
 * entries of it instead of building the whole directory again.
 *
 * At 10,000 tenants status/ is one tree of 10,000 entries, about
 * 390 KB.  Built by libgit2 from the previous tree, each commit paid for
 * a tree builder of every entry and the text of every entry again.
 * Here the entries are spliced into the kept bytes (a merge with the
 * sorted updates) and the result is written as it is.
 *
 * The kept copy is keyed by the tree's id, so it is never stale: when
 * the status directory is another one (another writer's commit, a
 * replay, a new process) it is read again, once.
 */
#include "base/compat.h"

#include <pthread.h>
#include <stdio.h>

#include "base/error.h"
#include "git/source_git.h"
#include "git/writeback_internal.h"

/* "100644 <name>\0<id>": every entry of a status directory is a file. */
#define BLOB_MODE "100644 "
#define BLOB_MODE_LEN (sizeof(BLOB_MODE) - 1)
#define RAW_ID_LEN 20

static struct {
  pthread_mutex_t lock;
  bool valid;
  git_oid id;  /* the tree `buf` holds */
  char *buf;   /* its entries, as the object holds them */
  size_t len;  /* bytes of buf in use */
  size_t *off; /* where each entry starts, in order */
  size_t n, alloc;
} kept = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* One update, by file name ("<tenant>.yaml"). */
struct edit {
  const char *name;
  const git_oid *id; /* NULL: removed */
};

static int edit_cmp(const void *a, const void *b)
{
  return strcmp(((const struct edit *)a)->name, ((const struct edit *)b)->name);
}

static void off_push(size_t at)
{
  if (kept.n == kept.alloc) {
    kept.alloc = kept.alloc ? 2 * kept.alloc : 1024;
    kept.off = td_realloc(kept.off, kept.alloc * sizeof(*kept.off));
  }
  kept.off[kept.n++] = at;
}

/* The entry at `at` of buf: its name, and the offset past it; 0 when
 * it is not a regular file's entry (the caller lets libgit2 do it). */
static size_t entry_end(const char *buf, size_t len, size_t at,
                        const char **name)
{
  const char *nul;

  if (len - at < BLOB_MODE_LEN + 2 + RAW_ID_LEN ||
      memcmp(buf + at, BLOB_MODE, BLOB_MODE_LEN) != 0)
    return 0;
  *name = buf + at + BLOB_MODE_LEN;
  nul = memchr(*name, '\0', len - at - BLOB_MODE_LEN);
  if (!nul || nul == *name || (size_t)(buf + len - nul) < 1 + RAW_ID_LEN)
    return 0;
  return (size_t)(nul - buf) + 1 + RAW_ID_LEN;
}

/* Indexes kept.buf's entries; false when one is not a file's, or they
 * are not in Git's order (a tree written by hand): libgit2 sorts them. */
static bool index_entries(void)
{
  const char *name, *last = NULL;

  kept.n = 0;
  for (size_t at = 0; at < kept.len;) {
    size_t end = entry_end(kept.buf, kept.len, at, &name);

    if (!end || (last && strcmp(last, name) >= 0))
      return false;
    off_push(at);
    last = name;
    at = end;
  }
  return true;
}

/* Keeps the tree `id` of the repository, read whole; false when it is
 * not one this file can edit. */
static bool load(git_repository *repo, const git_oid *id)
{
  git_odb *odb = NULL;
  git_odb_object *obj = NULL;
  bool ok = false;

  kept.valid = false;
  if (git_repository_odb(&odb, repo) == 0 && git_odb_read(&obj, odb, id) == 0 &&
      git_odb_object_type(obj) == GIT_OBJECT_TREE) {
    free(kept.buf);
    kept.len = git_odb_object_size(obj);
    kept.buf = td_malloc(kept.len + 1);
    memcpy(kept.buf, git_odb_object_data(obj), kept.len);
    ok = index_entries();
  }
  git_odb_object_free(obj);
  git_odb_free(odb);
  git_error_clear();
  if (ok) {
    kept.id = *id;
    kept.valid = true;
  }
  return ok;
}

static int entry_name_cmp(size_t i, const char *name)
{
  return strcmp(kept.buf + kept.off[i] + BLOB_MODE_LEN, name);
}

/* The first entry whose name is not below `name`. */
static size_t lower_bound(const char *name)
{
  size_t lo = 0, hi = kept.n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;

    if (entry_name_cmp(mid, name) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void put(char **out, size_t *len, size_t *cap, const void *p, size_t n)
{
  if (*len + n > *cap) {
    *cap = (*len + n) * 2;
    *out = td_realloc(*out, *cap);
  }
  memcpy(*out + *len, p, n);
  *len += n;
}

/* kept.buf with the (sorted, distinct) edits made, into *out. */
static void splice_edits(const struct edit *e, size_t ne, char **out,
                         size_t *len)
{
  size_t cap = kept.len + ne * (BLOB_MODE_LEN + 256 + RAW_ID_LEN), from = 0;

  *out = td_malloc(cap);
  *len = 0;
  for (size_t k = 0; k < ne; k++) {
    size_t i = lower_bound(e[k].name);
    size_t at = i < kept.n ? kept.off[i] : kept.len;
    bool found = i < kept.n && entry_name_cmp(i, e[k].name) == 0;

    /* The entries between the last edit and this one, as they are. */
    put(out, len, &cap, kept.buf + from, at - from);
    from = found ? (i + 1 < kept.n ? kept.off[i + 1] : kept.len) : at;
    if (!e[k].id)
      continue;
    put(out, len, &cap, BLOB_MODE, BLOB_MODE_LEN);
    put(out, len, &cap, e[k].name, strlen(e[k].name) + 1);
    put(out, len, &cap, e[k].id->id, RAW_ID_LEN);
  }
  put(out, len, &cap, kept.buf + from, kept.len - from);
}

/* Writes the tree `buf` into the objects of `repo`. */
static int write_tree(struct writeback *wb, git_repository *repo,
                      const char *buf, size_t len, git_oid *out)
{
  git_odb *odb = NULL;
  int rc = 0;

  if (git_repository_odb(&odb, repo) < 0 ||
      git_odb_write(out, odb, buf, len, GIT_OBJECT_TREE) < 0)
    rc = source_git_error(wb->src, "status tree");
  git_odb_free(odb);
  return rc;
}

/* The root tree: the branch tip's, with status/ now `dir`. */
static int write_root(struct writeback *wb, git_repository *repo,
                      const git_oid *dir, git_oid *out)
{
  git_treebuilder *tb = NULL;
  int rc = 0;

  if (git_treebuilder_new(&tb, repo, wb->tree) < 0 ||
      git_treebuilder_insert(NULL, tb, STATUS_DIR, dir, GIT_FILEMODE_TREE) <
          0 ||
      git_treebuilder_write(out, tb) < 0)
    rc = source_git_error(wb->src, "status tree");
  git_treebuilder_free(tb);
  return rc;
}

/* The edits of `up` (paths "status/<name>"), sorted; false when they are
 * not all of that directory's files or name one twice. */
static bool edits_of(const git_tree_update *up, size_t n, struct edit *e)
{
  const size_t dlen = strlen(STATUS_DIR "/");

  for (size_t i = 0; i < n; i++) {
    const char *name = up[i].path + dlen;

    if (strncmp(up[i].path, STATUS_DIR "/", dlen) != 0 || !*name ||
        strchr(name, '/') ||
        (up[i].action == GIT_TREE_UPDATE_UPSERT &&
         up[i].filemode != GIT_FILEMODE_BLOB))
      return false;
    e[i].name = name;
    e[i].id = up[i].action == GIT_TREE_UPDATE_UPSERT ? &up[i].id : NULL;
  }
  qsort(e, n, sizeof(*e), edit_cmp);
  for (size_t i = 1; i < n; i++)
    if (strcmp(e[i - 1].name, e[i].name) == 0)
      return false;
  return true;
}

int writeback__tree_updated(struct writeback *wb, git_repository *repo,
                            const git_tree_update *up, size_t n, git_oid *out)
{
  struct edit *e = td_calloc(n + 1, sizeof(*e));
  char *buf = NULL;
  size_t len = 0;
  git_oid dir;
  int rc = TD_ENOTFOUND;

  pthread_mutex_lock(&kept.lock);
  if (git_oid_is_zero(&wb->status_id) || !edits_of(up, n, e))
    goto out;
  if ((!kept.valid || !git_oid_equal(&kept.id, &wb->status_id)) &&
      !load(repo, &wb->status_id))
    goto out;
  splice_edits(e, n, &buf, &len);
  /* An empty directory is no directory: libgit2 drops it. */
  if (len == 0)
    goto out;
  rc = write_tree(wb, repo, buf, len, &dir);
  if (rc == 0)
    rc = write_root(wb, repo, &dir, out);
  if (rc == 0) {
    free(kept.buf);
    kept.buf = buf;
    kept.len = len;
    buf = NULL;
    kept.id = dir;
    kept.valid = index_entries();
  }
out:
  pthread_mutex_unlock(&kept.lock);
  free(buf);
  free(e);
  return rc;
}

int writeback__kept_entry(const git_oid *dir, const char *name, git_oid *blob)
{
  int rc = 1;

  pthread_mutex_lock(&kept.lock);
  if (kept.valid && git_oid_equal(&kept.id, dir)) {
    size_t i = lower_bound(name);

    rc = TD_ENOTFOUND;
    if (i < kept.n && entry_name_cmp(i, name) == 0) {
      const char *at = kept.buf + kept.off[i] + BLOB_MODE_LEN;

      git_oid_fromraw(blob, (const unsigned char *)at + strlen(at) + 1);
      rc = 0;
    }
  }
  pthread_mutex_unlock(&kept.lock);
  return rc;
}
