/*
 * source_local.c - fetch and push between repositories on this machine
 * by copying the objects that differ (source_internal.h says why).
 */
#include "base/compat.h"

#include <errno.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/error.h"
#include "git/source_git.h"
#include "git/source_internal.h"

/* ---- copying objects ---- */

/* Trees nest this deep at most before the transport is left to judge. */
#define COPY_MAX_DEPTH 64

/*
 * The objects to copy, in the order they are written (every object
 * after those it names), and the set of every object already judged
 * (to write, or present already): an open-addressed table that grows.
 */
struct copy {
  git_repository *from, *to;
  git_odb *from_odb, *to_odb;
  size_t max;
  git_oid *v; /* to write, in order */
  /* The name each had in its tree, or NULL: a pack finds deltas among
   * files of the same name first, as the transport's does. */
  const char **name;
  struct arena names;
  size_t n, alloc;
  git_oid *seen; /* judged */
  size_t nseen, cap;
  bool over;  /* more than max: give up, write nothing */
  bool check; /* read back what is linked (source__copy_objects) */
};

static size_t oid_hash(const git_oid *id)
{
  size_t h;

  memcpy(&h, id->id, sizeof(h));
  return h;
}

static void seen_put(git_oid *table, size_t cap, const git_oid *id)
{
  size_t i = oid_hash(id) & (cap - 1);

  while (!git_oid_is_zero(&table[i]))
    i = (i + 1) & (cap - 1);
  git_oid_cpy(&table[i], id);
}

static void seen_grow(struct copy *c)
{
  size_t cap = c->cap ? 2 * c->cap : 256;
  git_oid *table = td_calloc(cap, sizeof(*table));

  for (size_t i = 0; i < c->cap; i++)
    if (!git_oid_is_zero(&c->seen[i]))
      seen_put(table, cap, &c->seen[i]);
  free(c->seen);
  c->seen = table;
  c->cap = cap;
}

/* Adds `id` to the judged set; false when it was there already.  More
 * objects judged than a few times max: give up. */
static bool judge_once(struct copy *c, const git_oid *id)
{
  size_t i;

  if (c->nseen >= 4 * c->max) {
    c->over = true;
    return false;
  }
  if (2 * (c->nseen + 1) > c->cap)
    seen_grow(c);
  for (i = oid_hash(id) & (c->cap - 1); !git_oid_is_zero(&c->seen[i]);
       i = (i + 1) & (c->cap - 1))
    if (git_oid_equal(&c->seen[i], id))
      return false;
  git_oid_cpy(&c->seen[i], id);
  c->nseen++;
  return true;
}

/*
 * Does the receiving side lack `id`?  (Judged once per object.)  Its
 * object stores were looked over once when the copy began
 * (copy_collect): asked plainly, libgit2 reads the pack directory again
 * for every object it lacks, which at a first apply's 10,000 new status
 * files was a third of a second of system calls.  A pack another process
 * adds meanwhile only makes an object be copied twice.
 */
static bool wanted(struct copy *c, const git_oid *id)
{
  if (!judge_once(c, id))
    return false;
  return !git_odb_exists_ext(c->to_odb, id, GIT_ODB_LOOKUP_NO_REFRESH);
}

static void emit(struct copy *c, const git_oid *id, const char *name)
{
  if (c->n == c->max) {
    c->over = true;
    return;
  }
  if (c->n == c->alloc) {
    c->alloc = c->alloc ? 2 * c->alloc : 16;
    c->v = td_realloc(c->v, c->alloc * sizeof(*c->v));
    c->name = td_realloc(c->name, c->alloc * sizeof(*c->name));
  }
  c->name[c->n] = name ? arena_strdup(&c->names, name) : NULL;
  git_oid_cpy(&c->v[c->n++], id);
}

/*
 * Collects tree `id` (known wanted) and what it names, against `hint`,
 * the same path's tree in the first parent (NULL: none): an entry equal
 * to the hint's is present on the receiving side or collected with the
 * parent already.
 */
static int collect_tree(struct copy *c, const git_oid *id, const char *name,
                        const git_tree *hint, unsigned depth)
{
  git_tree *tree = NULL;
  int rc;

  if (depth > COPY_MAX_DEPTH) {
    c->over = true;
    return 0;
  }
  rc = git_tree_lookup(&tree, c->from, id);
  for (size_t i = 0, at = 0;
       rc == 0 && !c->over && i < git_tree_entrycount(tree); i++) {
    const git_tree_entry *e = git_tree_entry_byindex(tree, i);
    const git_oid *eid = git_tree_entry_id(e);
    git_object_t type = git_tree_entry_type(e);
    const git_tree_entry *h =
        hint ? source_entry_near(hint, &at, git_tree_entry_name(e)) : NULL;
    git_tree *sub = NULL;

    /* A submodule's commit lives in another repository. */
    if (type == GIT_OBJECT_COMMIT ||
        (h && git_oid_equal(git_tree_entry_id(h), eid)) || !wanted(c, eid))
      continue;
    if (type != GIT_OBJECT_TREE) {
      emit(c, eid, git_tree_entry_name(e));
      continue;
    }
    if (h && git_tree_entry_type(h) == GIT_OBJECT_TREE)
      rc = git_tree_lookup(&sub, c->from, git_tree_entry_id(h));
    if (rc == 0)
      rc = collect_tree(c, eid, git_tree_entry_name(e), sub, depth + 1);
    git_tree_free(sub);
  }
  git_tree_free(tree);
  if (rc == 0)
    emit(c, id, name);
  return rc;
}

/* Collects commit `id` (known wanted), its parents wanted already. */
static int collect_commit(struct copy *c, const git_oid *id)
{
  git_commit *commit = NULL, *parent = NULL;
  git_tree *hint = NULL;
  const git_oid *tree;
  int rc = git_commit_lookup(&commit, c->from, id);

  if (rc < 0)
    return rc;
  tree = git_commit_tree_id(commit);
  if (git_commit_parentcount(commit) > 0 &&
      git_commit_parent(&parent, commit, 0) == 0)
    git_commit_tree(&hint, parent);
  if (wanted(c, tree))
    rc = collect_tree(c, tree, NULL, hint, 0);
  git_tree_free(hint);
  git_commit_free(parent);
  git_commit_free(commit);
  if (rc == 0)
    emit(c, id, NULL);
  return rc;
}

/*
 * The commits from `tip` (known wanted) back to those the receiving side
 * has, parents first: a depth-first walk that collects a commit once
 * all its parents are done.  A commit met again is judged already.
 */
static int collect_history(struct copy *c, const git_oid *tip)
{
  struct frame {
    git_oid id;
    bool expanded;
  } * stack;
  size_t top = 0, cap = 64;
  int rc = 0;

  stack = td_calloc(cap, sizeof(*stack));
  git_oid_cpy(&stack[top++].id, tip);
  while (top > 0 && rc == 0 && !c->over) {
    struct frame *f = &stack[top - 1];
    git_commit *commit = NULL;

    if (f->expanded) {
      rc = collect_commit(c, &f->id);
      top--;
      continue;
    }
    /* The tip is judged by the caller, every other commit here. */
    if (top > 1 && !wanted(c, &f->id)) {
      top--;
      continue;
    }
    f->expanded = true;
    rc = git_commit_lookup(&commit, c->from, &f->id);
    for (unsigned i = 0; rc == 0 && i < git_commit_parentcount(commit); i++) {
      if (top == 2 * c->max) {
        c->over = true;
        break;
      }
      if (top == cap) {
        cap *= 2;
        stack = td_realloc(stack, cap * sizeof(*stack));
      }
      git_oid_cpy(&stack[top].id, git_commit_parent_id(commit, i));
      stack[top++].expanded = false;
    }
    git_commit_free(commit);
  }
  free(stack);
  return rc;
}

/* Collects `id` of any type (known wanted): a tag names its target. */
static int collect(struct copy *c, const git_oid *id, unsigned depth)
{
  git_object_t type;
  size_t len;
  git_tag *tag = NULL;
  int rc = git_odb_read_header(&len, &type, c->from_odb, id);

  if (rc < 0)
    return rc;
  switch (type) {
  case GIT_OBJECT_COMMIT:
    return collect_history(c, id);
  case GIT_OBJECT_TREE:
    return collect_tree(c, id, NULL, NULL, 0);
  case GIT_OBJECT_TAG:
    if (depth > COPY_MAX_DEPTH) {
      c->over = true;
      return 0;
    }
    rc = git_tag_lookup(&tag, c->from, id);
    if (rc == 0 && wanted(c, git_tag_target_id(tag)))
      rc = collect(c, git_tag_target_id(tag), depth + 1);
    git_tag_free(tag);
    if (rc == 0)
      emit(c, id, NULL);
    return rc;
  default:
    emit(c, id, NULL);
    return 0;
  }
}

static int corrupt(const git_oid *id)
{
  char hex[GIT_OID_HEXSZ + 1];

  git_oid_tostr(hex, sizeof(hex), id);
  git_error_set(GIT_ERROR_ODB,
                "object %s is corrupt: its content does not hash to its id",
                hex);
  return -1;
}

/* Where `id` is, or would be, a loose object of `repo`. */
static char *loose_path(git_repository *repo, const git_oid *id, bool dir)
{
  char hex[GIT_OID_HEXSZ + 1];

  git_oid_tostr(hex, sizeof(hex), id);
  return dir ? td_asprintf("%sobjects/%.2s", git_repository_path(repo), hex)
             : td_asprintf("%sobjects/%.2s/%s", git_repository_path(repo), hex,
                           hex + 2);
}

/*
 * `id`'s loose file in `from`, linked into `to` as it is, then (with
 * c->check) read back there and checked against its id (`to` had no
 * other copy, so the read is of that file); a file that fails is
 * removed.  Nothing is deflated
 * again: a tree of 10,000 entries costs more to deflate than to check.
 * Loose objects are never changed in place, so a hard link is a copy,
 * as git's own local clone makes them.  0 when done; 1 when `from` has
 * no such file or it cannot be linked (another file system): the caller
 * copies the object through the odb then.
 */
static int link_loose(struct copy *c, const git_oid *id)
{
  char *src = loose_path(c->from, id, false);
  char *dst = loose_path(c->to, id, false);
  git_odb_object *obj = NULL;
  git_oid got;
  int rc = 0, e = link(src, dst) < 0 ? errno : 0;

  if (e == ENOENT) {
    char *dir = loose_path(c->to, id, true);

    (void)mkdir(dir, 0777);
    free(dir);
    e = link(src, dst) < 0 ? errno : 0;
  }
  if (e != 0 && e != EEXIST)
    rc = 1;
  if (rc == 0 && c->check) {
    rc = git_odb_read(&obj, c->to_odb, id);
    if (rc == 0 &&
        (git_odb_hash(&got, git_odb_object_data(obj), git_odb_object_size(obj),
                      git_odb_object_type(obj)) < 0 ||
         !git_oid_equal(&got, id)))
      rc = corrupt(id);
    if (rc < 0)
      unlink(dst);
    git_odb_object_free(obj);
  }
  free(src);
  free(dst);
  return rc;
}

/* Writes the collected objects loose, in order, each checked against
 * its id. */
static int write_loose(struct copy *c)
{
  int rc = 0;

  for (size_t i = 0; rc == 0 && i < c->n; i++) {
    git_odb_object *obj = NULL;
    git_oid got;

    rc = link_loose(c, &c->v[i]);
    if (rc <= 0)
      continue;
    rc = git_odb_read(&obj, c->from_odb, &c->v[i]);
    if (rc == 0)
      rc = git_odb_write(&got, c->to_odb, git_odb_object_data(obj),
                         git_odb_object_size(obj), git_odb_object_type(obj));
    if (rc == 0 && !git_oid_equal(&got, &c->v[i]))
      rc = corrupt(&c->v[i]);
    git_odb_object_free(obj);
  }
  return rc;
}

static int oid_cmp(const void *a, const void *b)
{
  return git_oid_cmp(a, b);
}

/* Does the pack hold every object collected? */
static bool pack_covers(const struct source_pack *p, const struct copy *c)
{
  if (!p || p->n == 0)
    return false;
  for (size_t i = 0; i < c->n; i++)
    if (!bsearch(&c->v[i], p->ids, p->n, sizeof(*p->ids), oid_cmp))
      return false;
  return true;
}

/*
 * A pack builder over the sending side's objects with the mirror's
 * settings (source.c's narrow_delta_window), whichever side the mirror
 * is: a fetch (c->check) packs the remote's objects, and the remote's
 * own settings, libgit2's defaults, search ten candidates for a delta of
 * each object, which cost a first fetch of 10,000 tenants an eighth
 * more.  *wrap is the repository made for it, or NULL.
 */
static int pack_builder(git_packbuilder **pb, struct copy *c,
                        git_repository **wrap)
{
  git_config *cfg = NULL;
  int rc;

  *wrap = NULL;
  if (!c->check)
    return git_packbuilder_new(pb, c->from);
  rc = git_repository_wrap_odb(wrap, c->from_odb);
  if (rc == 0)
    rc = git_repository_config_snapshot(&cfg, c->to);
  if (rc == 0)
    rc = git_repository_set_config(*wrap, cfg);
  git_config_free(cfg);
  if (rc == 0)
    rc = git_packbuilder_new(pb, *wrap);
  return rc;
}

/* The collected objects as one pack, built by libgit2's pack builder in
 * memory: what it holds goes to p->ids, sorted. */
static int build_pack(struct copy *c, struct source_pack *p)
{
  git_packbuilder *pb = NULL;
  git_repository *wrap = NULL;
  int rc = pack_builder(&pb, c, &wrap);

  if (rc < 0) {
    git_repository_free(wrap);
    return rc;
  }
  git_packbuilder_set_threads(pb, 0);
  /* Commits first, then trees and files, as libgit2 advises. */
  for (size_t i = c->n; rc == 0 && i > 0; i--)
    rc = git_packbuilder_insert(pb, &c->v[i - 1], c->name[i - 1]);
  if (rc == 0)
    rc = git_packbuilder_write_buf(&p->data, pb);
  git_packbuilder_free(pb);
  git_repository_free(wrap);
  if (rc < 0)
    return rc;
  p->ids = td_malloc((c->n + 1) * sizeof(*p->ids));
  memcpy(p->ids, c->v, c->n * sizeof(*p->ids));
  p->n = c->n;
  qsort(p->ids, p->n, sizeof(*p->ids), oid_cmp);
  return 0;
}

/*
 * Hands the pack to the receiving side's indexer whole: fed piece by
 * piece (as the transport does), the indexer maps and unmaps the growing
 * file for every piece, and at thousands of objects that was most of a
 * push's system time.  The indexer names each object by the hash of
 * what it holds, so an object that is not what its id says is missing
 * afterwards: each collected one is checked to be there.  Until every
 * one is, nothing refers to the pack.
 */
static int index_pack(struct copy *c, const struct source_pack *p)
{
  git_odb_writepack *wp = NULL;
  git_indexer_progress stats = {0};
  int rc = git_odb_write_pack(&wp, c->to_odb, NULL, NULL);

  if (rc == 0)
    rc = wp->append(wp, p->data.ptr, p->data.size, &stats);
  if (rc == 0)
    rc = wp->commit(wp, &stats);
  for (size_t i = 0; rc == 0 && i < c->n; i++)
    if (!git_odb_exists(c->to_odb, &c->v[i]))
      rc = corrupt(&c->v[i]);
  if (wp)
    wp->free(wp);
  return rc;
}

/* Where pack `hex`'s file with extension `ext` is, or would be, in
 * `repo`. */
static char *pack_path(git_repository *repo, const char *hex, const char *ext)
{
  return td_asprintf("%sobjects/pack/pack-%s%s", git_repository_path(repo), hex,
                     ext);
}

/*
 * A pack the sending side holds already (a staged commit's, indexed
 * into the mirror), hard-linked into the receiving side, its index last
 * so the pack is whole before anything looks for it.  A pack and its
 * index never change once written, so a link is a copy, as git's local
 * clone makes them; indexing the pack again would inflate and hash each
 * object a second time (a third of a second for a first apply's 10,000
 * status files).  The indexer names a pack by its trailing checksum.
 * 0 when every collected object is there afterwards; 1 when the files
 * cannot be linked (another file system, a pack no longer there): the
 * caller indexes the pack then.
 */
static int link_pack(struct copy *c, const struct source_pack *p)
{
  static const char *const ext[] = {".pack", ".idx"};
  char hex[GIT_OID_HEXSZ + 1];
  bool made[2] = {false, false};
  git_oid sum;
  int rc = 0;

  if (p->data.size < GIT_OID_RAWSZ)
    return 1;
  git_oid_fromraw(&sum, (const unsigned char *)p->data.ptr + p->data.size -
                            GIT_OID_RAWSZ);
  git_oid_tostr(hex, sizeof(hex), &sum);
  for (size_t i = 0; rc == 0 && i < 2; i++) {
    char *src = pack_path(c->from, hex, ext[i]);
    char *dst = pack_path(c->to, hex, ext[i]);

    if (link(src, dst) == 0)
      made[i] = true;
    else if (errno != EEXIST)
      rc = 1;
    free(src);
    free(dst);
  }
  if (rc == 0 && git_odb_refresh(c->to_odb) < 0)
    rc = 1;
  for (size_t i = 0; rc == 0 && i < c->n; i++)
    if (!git_odb_exists_ext(c->to_odb, &c->v[i], GIT_ODB_LOOKUP_NO_REFRESH))
      rc = 1;
  /* What did not work is taken back, index first: nothing is left that
   * looks like a pack the receiving side holds. */
  for (size_t i = 2; rc != 0 && i-- > 0;) {
    char *dst = pack_path(c->to, hex, ext[i]);

    if (made[i])
      unlink(dst);
    free(dst);
  }
  if (rc != 0)
    git_error_clear();
  return rc;
}

void source__pack_release(struct source_pack *p)
{
  free(p->ids);
  git_buf_dispose(&p->data);
  memset(p, 0, sizeof(*p));
}

/* Collects what `tip` needs from c->from that c->to_odb lacks: 0, 1
 * past c->max, -1. */
static int copy_collect(struct copy *c, git_repository *to, const git_oid *tip)
{
  int rc = git_repository_odb(&c->from_odb, c->from);

  c->to = to;
  if (rc == 0)
    rc = git_repository_odb(&c->to_odb, to);
  if (rc == 0)
    rc = git_odb_refresh(c->to_odb);
  if (rc == 0 && wanted(c, tip))
    rc = collect(c, tip, 0);
  if (rc == 0 && c->over)
    rc = 1;
  return rc;
}

static void copy_release(struct copy *c)
{
  free(c->v);
  free(c->name);
  arena_release(&c->names);
  free(c->seen);
  git_odb_free(c->from_odb);
  git_odb_free(c->to_odb);
}

int source__copy_objects(git_repository *from, git_repository *to,
                         const git_oid *tip, size_t loose_max, size_t max,
                         const struct source_pack *ready, bool check)
{
  struct copy c = {
      .from = from, .max = max, .names = ARENA_INIT, .check = check};
  struct source_pack built = {.data = GIT_BUF_INIT};
  int rc = copy_collect(&c, to, tip);

  if (rc != 0 || c.n == 0)
    goto out;
  if (c.n <= loose_max)
    rc = write_loose(&c);
  else if (pack_covers(ready, &c))
    rc = link_pack(&c, ready) == 0 ? 0 : index_pack(&c, ready);
  else if ((rc = build_pack(&c, &built)) == 0)
    rc = index_pack(&c, &built);
out:
  source__pack_release(&built);
  copy_release(&c);
  return rc;
}

/* ---- staging: a commit's new objects in memory, landed as one pack ---- */

/* Above the mirror's own object stores (libgit2 gives them 1 and 2). */
#define SOURCE_STAGE_PRIORITY 1000

int source_stage_begin(struct source *s, size_t nfiles, git_repository **out)
{
  git_odb_backend *mempack = NULL;
  git_odb *odb = NULL;
  int rc;

  assert(!s->stage);
  *out = s->repo;
  if (nfiles <= SOURCE_LOOSE_MAX || nfiles > SOURCE_COPY_MAX / 2)
    return 0;
  rc = git_repository_open_bare(&s->stage, s->mirror);
  if (rc == 0)
    rc = git_repository_odb(&odb, s->stage);
  if (rc == 0)
    rc = git_mempack_new(&mempack);
  /* Above every backend of the mirror's, so it takes every write. */
  if (rc == 0)
    rc = git_odb_add_backend(odb, mempack, SOURCE_STAGE_PRIORITY);
  if (rc < 0 && mempack)
    mempack->free(mempack);
  git_odb_free(odb);
  if (rc < 0) {
    git_repository_free(s->stage);
    s->stage = NULL;
    return source_git_error(s, "staging objects");
  }
  *out = s->stage;
  return 0;
}

int source_stage_land(struct source *s, const git_oid *tip)
{
  struct copy c = {
      .from = s->stage, .max = SOURCE_COPY_MAX, .names = ARENA_INIT};
  struct source_pack built = {.data = GIT_BUF_INIT};
  int rc;

  if (!s->stage)
    return 0;
  rc = copy_collect(&c, s->repo, tip);
  if (rc == 1)
    git_error_set_str(GIT_ERROR_ODB, "too many new objects to stage");
  if (rc == 0 && c.n > 0)
    rc = build_pack(&c, &built);
  if (rc == 0 && c.n > 0)
    rc = index_pack(&c, &built);
  if (rc == 0 && c.n > 0) {
    source__pack_release(&s->staged);
    s->staged = built;
    memset(&built, 0, sizeof(built));
  }
  source__pack_release(&built);
  copy_release(&c);
  return rc == 0 ? 0 : source_git_error(s, "staged objects");
}

void source_stage_end(struct source *s)
{
  git_repository_free(s->stage);
  s->stage = NULL;
}

/* ---- fetch ---- */

char *source__local_gitdir(const struct source *s)
{
  const char *path = s->url;
  char *dotgit;
  struct stat st;

  if (strncmp(path, "file://", 7) == 0)
    path += 7;
  else if (strstr(path, "://") || path[0] != '/')
    return NULL;
  dotgit = td_asprintf("%s/.git", path);
  if (stat(dotgit, &st) == 0 && S_ISDIR(st.st_mode))
    return dotgit;
  free(dotgit);
  return td_strdup(path);
}

/* Sets the mirror's `dst` to the remote's `id` (NULL: deletes it), the
 * objects copied first; 1 when there are too many to copy. */
static int mirror_ref(struct source *s, git_repository *remote, const char *dst,
                      const git_oid *id)
{
  git_reference *ref = NULL;
  git_oid have;
  int rc;

  if (git_reference_name_to_id(&have, s->repo, dst) == 0 && id &&
      git_oid_equal(&have, id))
    return 0;
  if (!id) {
    if (git_reference_lookup(&ref, s->repo, dst) == 0) {
      git_reference_delete(ref);
      git_reference_free(ref);
    }
    return 0;
  }
  rc = source__copy_objects(remote, s->repo, id, SOURCE_LOOSE_MAX,
                            SOURCE_COPY_MAX, NULL, true);
  if (rc == 0)
    rc = git_reference_create(&ref, s->repo, dst, id, 1, "tenantd: fetch");
  git_reference_free(ref);
  return rc;
}

/* The remote's approval tags into the mirror; those gone there go
 * here too (a withdrawn approval approves nothing). */
static int mirror_approvals(struct source *s, git_repository *remote)
{
  git_reference_iterator *it = NULL;
  git_reference *ref;
  git_oid id;
  int rc = git_reference_iterator_glob_new(&it, remote, APPROVED_REFS "*");

  while (rc == 0 && (rc = git_reference_next(&ref, it)) == 0) {
    const char *name = git_reference_name(ref);

    if (git_reference_name_to_id(&id, remote, name) == 0)
      rc = mirror_ref(s, remote, name, &id);
    git_reference_free(ref);
  }
  git_reference_iterator_free(it);
  it = NULL;
  if (rc == GIT_ITEROVER)
    rc = git_reference_iterator_glob_new(&it, s->repo, APPROVED_REFS "*");
  while (rc == 0 && (rc = git_reference_next(&ref, it)) == 0) {
    if (git_reference_name_to_id(&id, remote, git_reference_name(ref)) < 0)
      git_reference_delete(ref);
    git_reference_free(ref);
  }
  git_reference_iterator_free(it);
  return rc == GIT_ITEROVER ? 0 : rc;
}

int source__local_fetch(struct source *s, const char *gitdir)
{
  git_repository *remote = NULL;
  char branch_ref[512];
  git_oid id;
  int rc;

  if (git_repository_open_ext(&remote, gitdir, GIT_REPOSITORY_OPEN_NO_SEARCH,
                              NULL) < 0)
    return 1; /* the transport says why, as it always did */
  snprintf(branch_ref, sizeof(branch_ref), "refs/heads/%s", s->o.branch);
  /* A missing branch is an error, never an empty desired state. */
  if (git_reference_name_to_id(&id, remote, branch_ref) < 0) {
    rc = td_error("%s has no branch '%s'", s->u.shown, s->o.branch);
    goto out;
  }
  rc = 0;
  for (size_t i = 0; rc == 0 && i < 3; i++) {
    const char *src = s->spec[i] + 1;
    char name[512];

    snprintf(name, sizeof(name), "%.*s", (int)(strchr(src, ':') - src), src);
    rc = mirror_ref(s, remote, s->dst[i],
                    git_reference_name_to_id(&id, remote, name) == 0 ? &id
                                                                     : NULL);
  }
  if (rc == 0 && s->o.fetch_approvals)
    rc = mirror_approvals(s, remote);
  if (rc < 0)
    rc = source_git_error(s, s->u.shown);
out:
  git_repository_free(remote);
  return rc;
}

/* ---- push ---- */

/* Commits walked looking for the remote's tip among the local one's
 * ancestors before asking libgit2, whose check may walk all history. */
#define ANCESTOR_WALK_MAX 256

/* Is `theirs` `local` or one of its ancestors (and so a fast-forward)? */
static bool fast_forward(git_repository *repo, const git_oid *local,
                         const git_oid *theirs)
{
  git_oid queue[ANCESTOR_WALK_MAX];
  size_t head = 0, tail = 0;
  git_odb *odb = NULL;
  bool have;

  if (git_repository_odb(&odb, repo) < 0)
    return false;
  have = git_odb_exists(odb, theirs);
  git_odb_free(odb);
  if (!have)
    return false;
  git_oid_cpy(&queue[tail++], local);
  while (head < tail) {
    git_commit *commit = NULL;

    if (git_oid_equal(&queue[head], theirs))
      return true;
    if (git_commit_lookup(&commit, repo, &queue[head++]) < 0)
      return false;
    for (unsigned i = 0; i < git_commit_parentcount(commit); i++) {
      if (tail == ANCESTOR_WALK_MAX) {
        git_commit_free(commit);
        return git_graph_descendant_of(repo, local, theirs) == 1;
      }
      git_oid_cpy(&queue[tail++], git_commit_parent_id(commit, i));
    }
    git_commit_free(commit);
  }
  return false;
}

/* Pushes one "src:dst"; a refusal sets s->push_rejected. */
static int push_one(struct source *s, git_repository *remote, const char *spec)
{
  const char *colon = strchr(spec, ':');
  char src[512];
  git_oid local, theirs;
  bool exists;
  int rc;

  if (!colon || spec[0] == '+' || colon == spec ||
      (size_t)(colon - spec) >= sizeof(src))
    return 1;
  snprintf(src, sizeof(src), "%.*s", (int)(colon - spec), spec);
  if (git_reference_name_to_id(&local, s->repo, src) < 0)
    return 1;
  exists = git_reference_name_to_id(&theirs, remote, colon + 1) == 0;
  if (exists && git_oid_equal(&local, &theirs))
    return 0;
  /* Only a fast-forward, as the transport checks it. */
  if (exists && !fast_forward(s->repo, &local, &theirs)) {
    git_error_set_str(GIT_ERROR_REFERENCE,
                      "the remote's ref is not an ancestor of the local one");
    return GIT_ENONFASTFORWARD;
  }
  rc = source__copy_objects(s->repo, remote, &local, SOURCE_LOOSE_MAX,
                            SOURCE_COPY_MAX, &s->staged, false);
  if (rc != 0)
    return rc;
  /* Under the ref's lock, and only from the value judged above. */
  if (exists)
    rc = git_reference_create_matching(NULL, remote, colon + 1, &local, 1,
                                       &theirs, NULL);
  else
    rc = git_reference_create(NULL, remote, colon + 1, &local, 0, NULL);
  if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS || rc == GIT_ELOCKED) {
    s->push_rejected = true;
    snprintf(s->push_why, sizeof(s->push_why), "%s: failed to update ref",
             colon + 1);
    rc = 0;
  }
  return rc;
}

int source__local_push(struct source *s, git_repository *remote,
                       const char *const *specs, size_t n)
{
  int rc = 0;

  if (!git_repository_is_bare(remote))
    return 1;
  for (size_t i = 0; rc == 0 && i < n && !s->push_rejected; i++)
    rc = push_one(s, remote, specs[i]);
  return rc;
}
