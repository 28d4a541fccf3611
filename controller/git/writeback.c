#include "base/compat.h"

#include <pthread.h>
#include <stdio.h>
#include <strings.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "git/source_git.h"
#include "git/verify.h"
#include "git/writeback.h"
#include "git/writeback_internal.h"

#define NOTES_REMOTE_REF "refs/tenantd/origin-notes"
#define PUSH_ATTEMPTS 5
#define LAST_SOURCE_DEPTH 1000

/* ---- small helpers ---- */

bool writeback__ref_oid(git_repository *repo, const char *name, git_oid *out)
{
  return git_reference_name_to_id(out, repo, name) == 0;
}

int writeback__set_ref(struct writeback *wb, const char *name,
                       const git_oid *oid, const char *why)
{
  git_reference *ref;

  if (git_reference_create(&ref, wb->repo, name, oid, 1, why) < 0)
    return source_git_error(wb->src, name);
  git_reference_free(ref);
  return 0;
}

static int empty_tree(struct writeback *wb, git_tree **out)
{
  git_treebuilder *tb;
  git_oid oid;
  int rc = 0;

  if (git_treebuilder_new(&tb, wb->repo, NULL) < 0 ||
      git_treebuilder_write(&oid, tb) < 0 ||
      git_tree_lookup(out, wb->repo, &oid) < 0)
    rc = source_git_error(wb->src, "empty tree");
  git_treebuilder_free(tb);
  return rc;
}

/* The tree of the commit `ref` points at, or an empty one. */
static int ref_tree(struct writeback *wb, const char *ref, git_tree **out)
{
  git_oid oid;
  git_commit *c;
  int rc = 0;

  *out = NULL;
  if (!writeback__ref_oid(wb->repo, ref, &oid))
    return empty_tree(wb, out);
  if (git_commit_lookup(&c, wb->repo, &oid) < 0)
    return source_git_error(wb->src, ref);
  if (git_commit_tree(out, c) < 0)
    rc = source_git_error(wb->src, ref);
  git_commit_free(c);
  return rc;
}

static int refresh(struct writeback *wb)
{
  const git_tree_entry *dir;
  git_odb *odb;
  bool found;
  int rc;

  git_tree_free(wb->tree);
  git_tree_free(wb->status_tree);
  wb->tree = wb->status_tree = NULL;
  memset(&wb->status_id, 0, sizeof(wb->status_id));
  rc = ref_tree(wb, wb->local_ref, &wb->tree);
  if (rc < 0)
    return rc;
  dir = wb->tree ? git_tree_entry_byname(wb->tree, STATUS_DIR) : NULL;
  if (!dir || git_tree_entry_type(dir) != GIT_OBJECT_TREE)
    return 0;
  wb->status_id = *git_tree_entry_id(dir);
  /* Parsed when first walked; a mirror that lost it is an error now. */
  if (git_repository_odb(&odb, wb->repo) < 0)
    return source_git_error(wb->src, STATUS_DIR);
  found = git_odb_exists(odb, &wb->status_id);
  git_odb_free(odb);
  if (!found)
    return td_error("%s: the tree of %s/ is missing from the mirror",
                    wb->local_ref, STATUS_DIR);
  return 0;
}

int writeback__status_dir(struct writeback *wb, git_tree **out)
{
  if (!wb->status_tree && !git_oid_is_zero(&wb->status_id) &&
      git_tree_lookup(&wb->status_tree, wb->repo, &wb->status_id) < 0)
    return source_git_error(wb->src, STATUS_DIR);
  *out = wb->status_tree;
  return 0;
}

static bool path_in(git_tree *tree, const char *path)
{
  git_tree_entry *e;

  if (git_tree_entry_bypath(&e, tree, path) < 0)
    return false;
  git_tree_entry_free(e);
  return true;
}

/*
 * A commit of tenantd's (not on any ref yet), signed with
 * status.signingKey when there is one, so that readers of the status
 * branch can check who wrote it.  It is written where `tree` was looked
 * up (the mirror, or a stage of it), as are the parents.
 */
int writeback__make_commit(struct writeback *wb, git_oid *out,
                           const git_signature *author,
                           const git_signature *committer, const char *msg,
                           git_tree *tree, size_t nparents,
                           const git_commit **parents)
{
  const char *key = source_options(wb->src)->signing_key;
  git_repository *repo = git_tree_owner(tree);
  git_buf buf = GIT_BUF_INIT;
  char *sig = NULL;
  int rc = 0;

  if (!key) {
    if (git_commit_create(out, repo, NULL, author, committer, NULL, msg, tree,
                          nparents, parents) < 0)
      rc = source_git_error(wb->src, "status commit");
    return rc;
  }
  if (git_commit_create_buffer(&buf, repo, author, committer, NULL, msg, tree,
                               nparents, parents) < 0)
    return source_git_error(wb->src, "status commit");
  rc = verify_sign(key, buf.ptr, buf.size, &sig);
  if (rc == 0 &&
      git_commit_create_with_signature(out, repo, buf.ptr, sig, NULL) < 0)
    rc = source_git_error(wb->src, "signed status commit");
  free(sig);
  git_buf_dispose(&buf);
  return rc;
}

/* ---- replaying tenantd's commits on top of another writer's ---- */

/* Commit `c` again on `base`: the files it changed, nothing else. */
static int replay(struct writeback *wb, git_commit *c, git_oid *base)
{
  git_commit *parent = NULL, *onto = NULL;
  git_tree *ptree = NULL, *ctree = NULL, *btree = NULL;
  git_diff *diff = NULL;
  git_tree_update *up = NULL;
  git_signature *now = NULL;
  git_oid tree_oid;
  git_tree *newtree = NULL;
  size_t n = 0;
  int rc = -1;

  if ((git_commit_parentcount(c) > 0 && git_commit_parent(&parent, c, 0) < 0) ||
      (parent && git_commit_tree(&ptree, parent) < 0) ||
      git_commit_tree(&ctree, c) < 0 ||
      git_commit_lookup(&onto, wb->repo, base) < 0 ||
      git_commit_tree(&btree, onto) < 0 ||
      git_diff_tree_to_tree(&diff, wb->repo, ptree, ctree, NULL) < 0) {
    rc = source_git_error(wb->src, "replay");
    goto out;
  }
  up = td_calloc(git_diff_num_deltas(diff) + 1, sizeof(*up));
  for (size_t i = 0; i < git_diff_num_deltas(diff); i++) {
    const git_diff_delta *d = git_diff_get_delta(diff, i);

    if (d->status == GIT_DELTA_DELETED) {
      if (!path_in(btree, d->old_file.path))
        continue;
      up[n].action = GIT_TREE_UPDATE_REMOVE;
      up[n++].path = d->old_file.path;
    } else {
      up[n].action = GIT_TREE_UPDATE_UPSERT;
      up[n].id = d->new_file.id;
      up[n].filemode = (git_filemode_t)d->new_file.mode;
      up[n++].path = d->new_file.path;
    }
  }
  if (git_tree_create_updated(&tree_oid, wb->repo, btree, n, up) < 0 ||
      git_tree_lookup(&newtree, wb->repo, &tree_oid) < 0 ||
      source_signature(wb->src, &now) < 0) {
    rc = source_git_error(wb->src, "replay");
    goto out;
  }
  if (writeback__make_commit(wb, base, git_commit_author(c), now,
                             git_commit_message(c), newtree, 1,
                             (const git_commit **)&onto) < 0)
    goto out;
  rc = 0;
out:
  git_signature_free(now);
  git_tree_free(newtree);
  free(up);
  git_diff_free(diff);
  git_tree_free(btree);
  git_commit_free(onto);
  git_tree_free(ctree);
  git_tree_free(ptree);
  git_commit_free(parent);
  return rc;
}

/*
 * Brings tenantd's ref `local` up to date with the fetched `remote`:
 * fast-forward when it has nothing of its own, keep it when it is ahead,
 * and replay its own commits on top when both moved.
 */
static int sync_ref(struct writeback *wb, const char *local, const char *remote)
{
  git_oid l, r, base;
  git_revwalk *walk = NULL;
  git_oid c;
  int rc = 0;

  if (!writeback__ref_oid(wb->repo, remote, &r))
    return 0; /* nothing at the remote yet: ours is all there is */
  if (!writeback__ref_oid(wb->repo, local, &l))
    return writeback__set_ref(wb, local, &r, "tenantd: from the remote");
  if (git_oid_equal(&l, &r) || git_graph_descendant_of(wb->repo, &l, &r) == 1)
    return 0;
  if (git_graph_descendant_of(wb->repo, &r, &l) == 1)
    return writeback__set_ref(wb, local, &r, "tenantd: fast-forward");
  base = r;
  if (git_revwalk_new(&walk, wb->repo) < 0 ||
      git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
      git_revwalk_push(walk, &l) < 0 || git_revwalk_hide(walk, &r) < 0) {
    rc = source_git_error(wb->src, "replay");
    goto out;
  }
  while (rc == 0) {
    git_commit *commit;
    int next = git_revwalk_next(&c, walk);

    if (next == GIT_ITEROVER)
      break;
    /* A walk that stops early must not move the ref: the commits not yet
     * replayed hold inventory. */
    if (next < 0 || git_commit_lookup(&commit, wb->repo, &c) < 0) {
      rc = source_git_error(wb->src, "replay");
      break;
    }
    rc = replay(wb, commit, &base);
    git_commit_free(commit);
  }
  if (rc == 0)
    rc =
        writeback__set_ref(wb, local, &base, "tenantd: replayed on the remote");
out:
  git_revwalk_free(walk);
  return rc;
}

static int sync_all(struct writeback *wb)
{
  int rc = sync_ref(wb, wb->local_ref, wb->remote_ref);

  if (rc == 0)
    rc = sync_ref(wb, SOURCE_NOTES_REF, NOTES_REMOTE_REF);
  if (rc == 0)
    rc = refresh(wb);
  return rc;
}

/* ---- the store ---- */

static bool valid_tenant(const char *tenant)
{
  return tenant && *tenant && tenant[0] != '.' && !strchr(tenant, '/') &&
         strlen(tenant) <= 200;
}

int writeback__read_blob_status(struct writeback *wb, const char *tenant,
                                const git_oid *blob_id,
                                struct tenant_status **out)
{
  const struct source_opts *so = source_options(wb->src);
  git_blob *blob;
  char origin[512];
  int rc;

  snprintf(origin, sizeof(origin), "%s:" STATUS_DIR "/%s.yaml",
           so->status_branch, tenant);
  if (git_blob_lookup(&blob, wb->repo, blob_id) < 0)
    return source_git_error(wb->src, origin);
  rc = tenant_status_parse_from(origin, git_blob_rawcontent(blob),
                                (size_t)git_blob_rawsize(blob), out);
  git_blob_free(blob);
  if (rc == 0 && strcmp((*out)->tenant, tenant) != 0) {
    rc = td_error("%s: tenant is '%.64s', expected '%s'", origin,
                  (*out)->tenant, tenant);
    tenant_status_free(*out);
    *out = NULL;
  }
  return rc;
}

static int store_read(struct status_store *s, const char *tenant,
                      struct tenant_status **out)
{
  struct writeback *wb = container_of(s, struct writeback, store);
  const git_tree_entry *e;
  git_tree *dir;
  git_oid blob;
  char name[300];
  int rc;

  *out = NULL;
  if (!valid_tenant(tenant))
    return td_error_code(TD_EINVALID, "'%.64s' is not a tenant name", tenant);
  snprintf(name, sizeof(name), "%s.yaml", tenant);
  if (git_oid_is_zero(&wb->status_id))
    return td_error_code(TD_ENOTFOUND, STATUS_DIR "/%s: no status yet", name);
  /* What this process committed last is at hand without parsing it. */
  rc = writeback__kept_entry(&wb->status_id, name, &blob);
  if (rc == 0)
    return writeback__read_blob_status(wb, tenant, &blob, out);
  if (rc == TD_ENOTFOUND)
    return td_error_code(TD_ENOTFOUND, STATUS_DIR "/%s: no status yet", name);
  /* A binary search in the directory read once, not a walk per read. */
  if (writeback__status_dir(wb, &dir) < 0)
    return -1;
  e = dir ? git_tree_entry_byname(dir, name) : NULL;
  if (!e)
    return td_error_code(TD_ENOTFOUND, STATUS_DIR "/%s: no status yet", name);
  /* Something else by that name is no status, and not its absence. */
  if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
    return td_error(STATUS_DIR "/%s is not a file", name);
  return writeback__read_blob_status(wb, tenant, git_tree_entry_id(e), out);
}

/* Calls fn for each status/<tenant>.yaml entry. */
int writeback__each_entry(struct writeback *wb,
                          void (*fn)(struct writeback *wb, const char *tenant,
                                     const git_tree_entry *e, void *arg),
                          void *arg)
{
  git_tree *sub;
  size_t n;

  if (writeback__status_dir(wb, &sub) < 0)
    return -1;
  if (!sub)
    return 0;
  n = git_tree_entrycount(sub);
  for (size_t i = 0; i < n; i++) {
    const git_tree_entry *e = git_tree_entry_byindex(sub, i);
    const char *name = git_tree_entry_name(e);
    size_t len = strlen(name);
    char tenant[256];

    if (len <= 5 || len - 5 >= sizeof(tenant) || name[0] == '.' ||
        strcmp(name + len - 5, ".yaml") != 0 ||
        git_tree_entry_type(e) != GIT_OBJECT_BLOB)
      continue;
    snprintf(tenant, sizeof(tenant), "%.*s", (int)(len - 5), name);
    fn(wb, tenant, e, arg);
  }
  return 0;
}

struct list_ctx {
  void (*each)(const char *tenant, void *arg);
  void *arg;
};

static void list_one(struct writeback *wb, const char *tenant,
                     const git_tree_entry *e, void *arg)
{
  struct list_ctx *ctx = arg;

  (void)wb;
  (void)e;
  ctx->each(tenant, ctx->arg);
}

static int store_list(struct status_store *s,
                      void (*each)(const char *tenant, void *arg), void *arg)
{
  struct writeback *wb = container_of(s, struct writeback, store);
  struct list_ctx ctx = {each, arg};

  return writeback__each_entry(wb, list_one, &ctx);
}

struct scan_ctx {
  writeback_each_fn each;
  void *arg;
};

static void scan_one(struct writeback *wb, const char *tenant,
                     const git_tree_entry *e, void *arg)
{
  struct scan_ctx *ctx = arg;
  struct tenant_status *st = NULL;

  if (writeback__read_blob_status(wb, tenant, git_tree_entry_id(e), &st) < 0)
    ctx->each(tenant, NULL, td_error_last(), ctx->arg);
  else
    ctx->each(tenant, st, NULL, ctx->arg);
  tenant_status_free(st);
}

int writeback_scan(struct writeback *wb, writeback_each_fn each, void *arg)
{
  struct scan_ctx ctx = {each, arg};

  return writeback__each_entry(wb, scan_one, &ctx);
}

struct status_store *writeback_store(struct writeback *wb)
{
  return &wb->store;
}

/* ---- open, close ---- */

int writeback_open(struct writeback **out, struct source *src)
{
  const struct source_opts *so = source_options(src);
  struct writeback *wb = td_calloc(1, sizeof(*wb));
  int rc;

  wb->store.read = store_read;
  wb->store.list = store_list;
  wb->src = src;
  wb->repo = source_repo(src);
  wb->local_ref = td_asprintf("refs/heads/%s", so->status_branch);
  wb->remote_ref = td_asprintf("refs/remotes/origin/%s", so->status_branch);
  wb->fetch_spec[0] =
      td_asprintf("+refs/heads/%s:%s", so->status_branch, wb->remote_ref);
  wb->fetch_spec[1] = td_strdup("+" SOURCE_NOTES_REF ":" NOTES_REMOTE_REF);
  rc = sync_all(wb);
  if (rc < 0) {
    writeback_close(wb);
    wb = NULL;
  }
  *out = wb;
  return rc;
}

void writeback_close(struct writeback *wb)
{
  if (!wb)
    return;
  git_tree_free(wb->tree);
  git_tree_free(wb->status_tree);
  free(wb->local_ref);
  free(wb->remote_ref);
  free(wb->fetch_spec[0]);
  free(wb->fetch_spec[1]);
  free(wb);
}

/* ---- history ---- */

/* The value of trailer `key` in `msg` into buf; false when absent. */
static bool trailer(const char *msg, const char *key, char *buf, size_t cap)
{
  git_message_trailer_array arr = {0};
  bool found = false;

  if (git_message_trailers(&arr, msg) < 0)
    return false;
  for (size_t i = 0; i < arr.count; i++) {
    if (strcasecmp(arr.trailers[i].key, key) == 0) {
      snprintf(buf, cap, "%s", arr.trailers[i].value);
      found = true;
    }
  }
  git_message_trailer_array_free(&arr);
  return found;
}

int writeback_last_source(struct writeback *wb, char id[SOURCE_ID_LEN])
{
  git_oid oid;
  git_commit *c = NULL;

  if (!writeback__ref_oid(wb->repo, wb->local_ref, &oid) ||
      git_commit_lookup(&c, wb->repo, &oid) < 0)
    return td_error_code(TD_ENOTFOUND, "no status commit yet");
  for (int depth = 0; c && depth < LAST_SOURCE_DEPTH; depth++) {
    char value[128];
    git_commit *parent = NULL;

    if (trailer(git_commit_message(c), "Tenantd-Source", value,
                sizeof(value)) &&
        strlen(value) == SOURCE_ID_LEN - 1) {
      memcpy(id, value, SOURCE_ID_LEN);
      git_commit_free(c);
      return 0;
    }
    /* Another writer's commit: look further back. */
    if (git_commit_parentcount(c) > 0)
      git_commit_parent(&parent, c, 0);
    git_commit_free(c);
    c = parent;
  }
  git_commit_free(c);
  return td_error_code(TD_ENOTFOUND, "no status commit names its source");
}

/* Whether a commit's trailers name `tenant`; its source and result. */
static bool log_trailers(const char *msg, const char *tenant, char *source,
                         size_t scap, char *result, size_t rcap)
{
  git_message_trailer_array arr = {0};
  bool mine = false;

  if (git_message_trailers(&arr, msg) < 0)
    return false;
  for (size_t i = 0; i < arr.count; i++) {
    const char *k = arr.trailers[i].key, *v = arr.trailers[i].value;

    if (strcasecmp(k, "Tenantd-Tenant") == 0 && strcmp(v, tenant) == 0)
      mine = true;
    else if (strcasecmp(k, "Tenantd-Source") == 0)
      snprintf(source, scap, "%s", v);
    else if (strcasecmp(k, "Tenantd-Result") == 0)
      snprintf(result, rcap, "%s", v);
  }
  git_message_trailer_array_free(&arr);
  return mine;
}

/* The tenant's status in a commit's tree: 0 and *out (NULL with *removed
 * when the commit has none), or -1 when it cannot be read. */
static int log_status(struct writeback *wb, git_commit *c, const char *tenant,
                      struct tenant_status **out, bool *removed)
{
  git_tree *tree = NULL;
  git_tree_entry *e = NULL;
  char path[300];
  int rc = 0;

  *out = NULL;
  *removed = false;
  snprintf(path, sizeof(path), STATUS_DIR "/%s.yaml", tenant);
  if (git_commit_tree(&tree, c) < 0)
    return source_git_error(wb->src, "log");
  if (git_tree_entry_bypath(&e, tree, path) < 0)
    *removed = true;
  else
    rc = writeback__read_blob_status(wb, tenant, git_tree_entry_id(e), out);
  git_tree_entry_free(e);
  git_tree_free(tree);
  return rc;
}

/* Calls each() for one commit of the tenant's, with its own events. */
static void log_one(struct writeback *wb, git_commit *c, const char *tenant,
                    const char *source, const char *result,
                    void (*each)(const struct writeback_entry *e, void *arg),
                    void *arg)
{
  size_t plen = strlen(tenant), nevents = 0;
  char *copy = td_strdup(git_commit_message(c)), *save = NULL, *line;
  const char **events = NULL;
  struct tenant_status *st = NULL;
  char hex[SOURCE_ID_LEN];
  bool removed = false;

  /* Event lines "<tenant>: ..." of the body. */
  for (line = strtok_r(copy, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, tenant, plen) == 0 && line[plen] == ':' &&
        line[plen + 1] == ' ') {
      events = td_realloc(events, (nevents + 1) * sizeof(*events));
      events[nevents++] = line + plen + 2;
    }
  }
  /* An unreadable status is shown as such, not as the end of the log. */
  log_status(wb, c, tenant, &st, &removed);
  git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
  each(&(struct writeback_entry){.id = hex,
                                 /* the pass's time, not a replay's */
                                 .time = git_commit_author(c)->when.time,
                                 .subject = git_commit_summary(c),
                                 .source = source,
                                 .result = result,
                                 .events = events,
                                 .nevents = nevents,
                                 .status = st,
                                 .removed = removed},
       arg);
  tenant_status_free(st);
  free(events);
  free(copy);
}

int writeback_log(struct writeback *wb, const char *tenant, size_t limit,
                  void (*each)(const struct writeback_entry *e, void *arg),
                  void *arg)
{
  git_revwalk *walk = NULL;
  git_oid oid;
  size_t shown = 0;

  if (!valid_tenant(tenant))
    return td_error_code(TD_EINVALID, "'%.64s' is not a tenant name", tenant);
  if (!writeback__ref_oid(wb->repo, wb->local_ref, &oid))
    return 0;
  if (git_revwalk_new(&walk, wb->repo) < 0 ||
      git_revwalk_sorting(walk, GIT_SORT_TIME) < 0 ||
      git_revwalk_push(walk, &oid) < 0) {
    git_revwalk_free(walk);
    return source_git_error(wb->src, "log");
  }
  while ((limit == 0 || shown < limit) && git_revwalk_next(&oid, walk) == 0) {
    char source[128] = "", result[64] = "";
    git_commit *c;

    if (git_commit_lookup(&c, wb->repo, &oid) < 0)
      continue;
    if (log_trailers(git_commit_message(c), tenant, source, sizeof(source),
                     result, sizeof(result))) {
      log_one(wb, c, tenant, source, result, each, arg);
      shown++;
    }
    git_commit_free(c);
  }
  git_revwalk_free(walk);
  return 0;
}

/* ---- the commit of a pass ---- */

/* The status files of a commit: each written (a blob) or removed. */
struct updates {
  git_tree_update *up;
  char **paths;
  const char **tenants;
  const struct tenant_status **sts;
  size_t n;
};

static void updates_init(struct updates *u, size_t cap)
{
  u->up = td_calloc(cap + 1, sizeof(*u->up));
  u->paths = td_calloc(cap + 1, sizeof(*u->paths));
  u->tenants = td_calloc(cap + 1, sizeof(*u->tenants));
  u->sts = td_calloc(cap + 1, sizeof(*u->sts));
  u->n = 0;
}

static void updates_release(struct updates *u)
{
  for (size_t i = 0; i < u->n; i++)
    free(u->paths[i]);
  free(u->paths);
  free(u->tenants);
  free(u->sts);
  free(u->up);
}

static bool to_commit(const struct reconcile_outcome *o)
{
  return o->changed && !o->unwritable && valid_tenant(o->tenant);
}

/* How many status files a commit of the pass writes. */
static size_t files_written(const struct reconcile_report *r)
{
  size_t n = 0;

  for (size_t i = 0; i < r->n; i++)
    n += to_commit(&r->v[i]) && r->v[i].status;
  return n;
}

/* The changed statuses of the pass as updates, their blobs written in
 * `repo`. */
static int write_updates(struct writeback *wb, git_repository *repo,
                         const struct reconcile_report *r, struct updates *u)
{
  for (size_t i = 0; i < r->n; i++) {
    const struct reconcile_outcome *o = &r->v[i];
    git_tree_update *up = &u->up[u->n];
    char *path;

    if (!to_commit(o))
      continue;
    path = td_asprintf(STATUS_DIR "/%s.yaml", o->tenant);
    if (o->status) {
      char *text = tenant_status_format(o->status);
      int rc = git_blob_create_from_buffer(&up->id, repo, text, strlen(text));

      free(text);
      if (rc < 0) {
        rc = source_git_error(wb->src, path);
        free(path);
        return rc;
      }
      up->action = GIT_TREE_UPDATE_UPSERT;
      up->filemode = GIT_FILEMODE_BLOB;
    } else if (path_in(wb->tree, path)) {
      up->action = GIT_TREE_UPDATE_REMOVE;
    } else {
      free(path);
      continue;
    }
    up->path = u->paths[u->n] = path;
    u->tenants[u->n] = o->tenant;
    u->sts[u->n++] = o->status;
  }
  return 0;
}

/* The commit of the updates on the branch's tip, written in `repo`. */
static int write_commit(struct writeback *wb, git_repository *repo,
                        const struct updates *u, const char *msg, git_oid *oid)
{
  git_signature *sig = NULL;
  git_commit *parent = NULL;
  git_tree *tree = NULL;
  git_oid tree_oid, parent_oid;
  int rc = writeback__tree_updated(wb, repo, u->up, u->n, &tree_oid);

  if (rc == TD_ENOTFOUND)
    rc = git_tree_create_updated(&tree_oid, repo, wb->tree, u->n, u->up) < 0
             ? source_git_error(wb->src, "status tree")
             : 0;
  if (rc == 0 && git_tree_lookup(&tree, repo, &tree_oid) < 0)
    rc = source_git_error(wb->src, "status tree");
  if (rc == 0 && writeback__ref_oid(wb->repo, wb->local_ref, &parent_oid) &&
      git_commit_lookup(&parent, repo, &parent_oid) < 0)
    rc = source_git_error(wb->src, wb->local_ref);
  if (rc == 0 && source_signature(wb->src, &sig) < 0)
    rc = -1;
  if (rc == 0 &&
      writeback__make_commit(wb, oid, sig, sig, msg, tree, parent ? 1 : 0,
                             (const git_commit **)&parent) < 0)
    rc = -1;
  git_signature_free(sig);
  git_commit_free(parent);
  git_tree_free(tree);
  return rc;
}

int writeback_commit(struct writeback *wb, const struct reconcile_report *r,
                     const char *source, char id[SOURCE_ID_LEN])
{
  struct updates u;
  git_oid before = writeback__status_dir_id(wb);
  char *msg = writeback_message(r, source);
  git_repository *repo = NULL;
  git_oid oid;
  int rc = 0;

  updates_init(&u, r->n);
  if (!msg)
    goto out;
  /* Thousands of new files (a first pass) are staged and land in the
   * mirror as one pack, before the branch names the commit. */
  rc = source_stage_begin(wb->src, files_written(r), &repo);
  if (rc == 0)
    rc = write_updates(wb, repo, r, &u);
  if (rc == 0 && u.n > 0)
    rc = write_commit(wb, repo, &u, msg, &oid);
  if (rc == 0 && u.n > 0 && source_stage_land(wb->src, &oid) < 0)
    rc = -1;
  source_stage_end(wb->src);
  if (rc < 0 || u.n == 0)
    goto out;
  if (writeback__set_ref(wb, wb->local_ref, &oid, "tenantd: status") < 0) {
    rc = -1;
    goto out;
  }
  git_oid_tostr(id, SOURCE_ID_LEN, &oid);
  rc = refresh(wb) < 0 ? -1 : 1;
  if (rc == 1)
    writeback__sums_committed(wb, &before, u.tenants, u.sts, u.up, u.n);
out:
  updates_release(&u);
  free(msg);
  return rc;
}

/* ---- push ---- */

/* Is local ref `a` ahead of (different from) the fetched copy `b`? */
static bool ahead(struct writeback *wb, const char *a, const char *b)
{
  git_oid la, lb;

  if (!writeback__ref_oid(wb->repo, a, &la))
    return false;
  return !writeback__ref_oid(wb->repo, b, &lb) || !git_oid_equal(&la, &lb);
}

/* After a refused push: fetch, and replay on what moved; -1 with the
 * refusal when nothing moved. */
static int retry_after_refusal(struct writeback *wb, const char *remote)
{
  char why[1024];
  git_oid before, after;
  bool had = writeback__ref_oid(wb->repo, remote, &before);
  int rc;

  snprintf(why, sizeof(why), "%s", td_error_last());
  rc = source_fetch_refspecs(wb->src, (const char *const *)wb->fetch_spec, 2);
  if (rc < 0)
    return rc;
  if (had == writeback__ref_oid(wb->repo, remote, &after) &&
      (!had || git_oid_equal(&before, &after)))
    return td_error("%s", why);
  return sync_all(wb);
}

/*
 * Pushes tenantd's ref `local` when it is ahead of the fetched `remote`;
 * on a non-fast-forward, fetches both refs, replays and tries again.
 */
static int push_ref(struct writeback *wb, const char *local, const char *remote)
{
  char *spec = td_asprintf("%s:%s", local, local);
  const char *specs[1] = {spec};
  int rc = 0;

  for (int attempt = 1; ahead(wb, local, remote); attempt++) {
    git_oid oid;

    rc = source_push(wb->src, specs, 1);
    if (rc == 0) {
      /* The remote now has what we have. */
      if (writeback__ref_oid(wb->repo, local, &oid))
        rc = writeback__set_ref(wb, remote, &oid, "tenantd: pushed");
      break;
    }
    if (rc != TD_ECONFLICT)
      break;
    if (attempt == PUSH_ATTEMPTS) {
      rc = td_error("not pushed after %d attempts: %s", attempt,
                    td_error_last());
      break;
    }
    /* Someone else pushed: take their commits, replay ours, retry.  If
     * the remote did not move, the refusal was something else (a hook,
     * a lock) that retrying will not cure. */
    rc = retry_after_refusal(wb, remote);
    if (rc < 0)
      break;
  }
  free(spec);
  return rc;
}

int writeback_push_status(struct writeback *wb)
{
  return push_ref(wb, wb->local_ref, wb->remote_ref);
}

int writeback_push_notes(struct writeback *wb)
{
  return push_ref(wb, SOURCE_NOTES_REF, NOTES_REMOTE_REF);
}

int writeback_push(struct writeback *wb)
{
  /* Status first: a note must never name a status commit the remote
   * does not have. */
  int rc = writeback_push_status(wb);

  return rc < 0 ? rc : writeback_push_notes(wb);
}

int writeback_tip(struct writeback *wb, char id[SOURCE_ID_LEN])
{
  git_oid oid;

  if (!writeback__ref_oid(wb->repo, wb->local_ref, &oid))
    return td_error_code(TD_ENOTFOUND, "no status commit yet");
  git_oid_tostr(id, SOURCE_ID_LEN, &oid);
  return 0;
}
