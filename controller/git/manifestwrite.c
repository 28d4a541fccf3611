/*
 * manifestwrite.c - see manifestwrite.h.
 *
 * A run walks its phases in order, one small function each: the
 * document, the fetch, then per attempt the tip's file, the new text,
 * validation, the commit and the push; a push refused because the branch
 * moved decides between another attempt and a conflict.  Each phase
 * that ends the request says so in res->status and returns -1.
 */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/error.h"
#include "base/strset.h"
#include "engine/reconcile.h"
#include "git/manifestwrite.h"
#include "git/source_git.h"
#include "git/writeback.h"
#include "model/naming.h"

#define PUSH_ATTEMPTS 5
#define PATH_MAX_LEN 96

struct manifestwrite {
  struct source_opts o;
  char *strings[10]; /* the copies o points into */
  /* The manifests the last run loaded: reused by blob id. */
  struct manifest_repo *model;
};

struct run {
  struct manifestwrite *w;
  const struct manifestwrite_request *rq;
  struct manifestwrite_result *res;
  struct source *src;
  git_repository *repo;
  char *doc; /* MW_CREATE, MW_REPLACE: the document as YAML */
  size_t doc_len;
  bool converted;           /* doc is not the body as sent */
  char head[SOURCE_ID_LEN]; /* the tip this attempt builds on */
  char *old;                /* the file at head, NULL when absent */
  size_t old_len;
  git_oid old_blob;
  char *text; /* the file to commit, NULL to remove it */
  size_t text_len;
  git_oid blob;
  struct manifest_files files; /* the would-be repository */
  git_oid commit;
  char temp_ref[128]; /* refs/tenantd/api/<id>, pushed from */
};

/* Ends the request with `status`; -1 for the caller to return. */
static int finish(struct run *r, enum mw_status status, const char *fmt, ...)
    TD_PRINTF(3, 4);

static int finish(struct run *r, enum mw_status status, const char *fmt, ...)
{
  va_list ap;

  r->res->status = status;
  va_start(ap, fmt);
  vsnprintf(r->res->message, sizeof(r->res->message), fmt, ap);
  va_end(ap);
  return -1;
}

/* ---- the writer ---- */

static const char *keep(struct manifestwrite *w, size_t i, const char *s)
{
  w->strings[i] = s ? td_strdup(s) : NULL;
  return w->strings[i];
}

int manifestwrite_new(struct manifestwrite **out, const struct source_opts *o)
{
  struct manifestwrite *w = td_calloc(1, sizeof(*w));

  w->o = *o;
  w->o.url = keep(w, 0, o->url);
  w->o.branch = keep(w, 1, o->branch);
  w->o.status_branch = keep(w, 2, o->status_branch);
  w->o.cache_dir = keep(w, 3, o->cache_dir);
  w->o.username_env = keep(w, 4, o->username_env);
  w->o.password_env = keep(w, 5, o->password_env);
  w->o.ssh_key = keep(w, 6, o->ssh_key);
  w->o.ssh_passphrase_env = keep(w, 7, o->ssh_passphrase_env);
  w->o.known_hosts = keep(w, 8, o->known_hosts);
  *out = w;
  return 0;
}

void manifestwrite_free(struct manifestwrite *w)
{
  if (!w)
    return;
  for (size_t i = 0; i < ARRAY_SIZE(w->strings); i++)
    free(w->strings[i]);
  manifest_repo_free(w->model);
  free(w);
}

void manifestwrite_result_release(struct manifestwrite_result *res)
{
  diag_list_release(&res->diags);
  free(res->document);
  free(res->plan);
  res->document = res->plan = NULL;
}

/* ---- the document ---- */

/* A JSON body as YAML; the body as it is otherwise. */
static int document(struct run *r)
{
  const struct manifestwrite_request *rq = r->rq;
  json_error_t err;
  json_t *j;

  if (!rq->document_json) {
    r->doc = td_strndup(rq->document, rq->document_len);
    r->doc_len = rq->document_len;
    return 0;
  }
  j = json_loadb(rq->document, rq->document_len, 0, &err);
  if (!j)
    return finish(r, MW_BAD_REQUEST,
                  "the body is not JSON: line %d column %d: %s", err.line,
                  err.column, err.text);
  if (!json_is_object(j)) {
    json_decref(j);
    return finish(r, MW_BAD_REQUEST, "a tenant document is a JSON object");
  }
  r->doc = yamledit_from_json(j);
  r->doc_len = strlen(r->doc);
  r->converted = true;
  json_decref(j);
  return 0;
}

/* MW_CREATE: the tenant is the one the document names. */
static int document_name(struct run *r)
{
  const struct yaml_limits lim = YAML_LIMITS_DEFAULT;
  struct arena a = ARENA_INIT;
  struct ynode *root, *name = NULL;
  int rc = 0;

  if (yaml_parse(&a, &lim, "(request body)", r->doc, r->doc_len, &root,
                 &r->res->diags) < 0) {
    rc = finish(r, MW_INVALID, "the document does not parse");
    goto out;
  }
  name = ymap_get(ymap_get(root, "metadata"), "name");
  if (!name || name->type != YNODE_SCALAR || name->scalar != YS_STR ||
      !naming_is_label(name->u.scalar.s)) {
    const struct ynode *at = name ? name : root;

    diag_add(&r->res->diags, "(request body)", at->line, at->col,
             "metadata.name must be the tenant's name: a DNS label (lowercase "
             "letters, digits and inner hyphens, at most 63)");
    rc = finish(r, MW_INVALID, "the document names no tenant");
    goto out;
  }
  snprintf(r->res->tenant, sizeof(r->res->tenant), "%s", name->u.scalar.s);
out:
  arena_release(&a);
  return rc;
}

/* ---- the tip ---- */

/* The file at `commit`: its bytes (at most the loader's cap, plus one)
 * and blob id, or *data NULL when it is not there. */
static int read_file(struct run *r, const char *commit, const char *path,
                     char **data, size_t *len, git_oid *blob)
{
  git_commit *c = NULL;
  git_tree *tree = NULL;
  git_tree_entry *e = NULL;
  git_blob *b = NULL;
  int rc = source_lookup_commit(r->src, commit, &c);

  *data = NULL;
  *len = 0;
  if (rc == 0 && git_commit_tree(&tree, c) < 0)
    rc = source_git_error(r->src, commit);
  if (rc == 0 && git_tree_entry_bypath(&e, tree, path) == 0) {
    if (git_blob_lookup(&b, r->repo, git_tree_entry_id(e)) < 0) {
      rc = source_git_error(r->src, path);
    } else {
      size_t n = (size_t)git_blob_rawsize(b);

      if (n > YAML_LIMITS_DEFAULT_MAX_BYTES + 1)
        n = YAML_LIMITS_DEFAULT_MAX_BYTES + 1;
      *data = td_strndup(git_blob_rawcontent(b), n);
      *len = n;
      git_oid_cpy(blob, git_tree_entry_id(e));
    }
  }
  git_blob_free(b);
  git_tree_entry_free(e);
  git_tree_free(tree);
  git_commit_free(c);
  return rc;
}

/* The tenant's file at the tip: tenants/<name>.yaml, or .yml when only
 * that one is there. */
static int tip_file(struct run *r)
{
  struct manifestwrite_result *res = r->res;
  char yml[PATH_MAX_LEN];
  char *data;
  size_t len;
  git_oid blob;
  int rc;

  free(r->old);
  r->old = NULL;
  r->old_len = 0;
  if (source_head(r->src, r->head) < 0)
    return finish(r, MW_UNREACHABLE, "%s", td_error_last());
  memcpy(res->base, r->head, sizeof(res->base));
  snprintf(res->path, sizeof(res->path), "tenants/%s.yaml", res->tenant);
  snprintf(yml, sizeof(yml), "tenants/%s.yml", res->tenant);
  rc = read_file(r, r->head, res->path, &r->old, &r->old_len, &r->old_blob);
  if (rc == 0 && !r->old) {
    rc = read_file(r, r->head, yml, &data, &len, &blob);
    if (rc == 0 && data) {
      snprintf(res->path, sizeof(res->path), "%s", yml);
      r->old = data;
      r->old_len = len;
      r->old_blob = blob;
    }
  }
  if (rc < 0)
    return finish(r, MW_ERROR, "%s", td_error_last());
  if (r->rq->op == MW_CREATE && r->old)
    return finish(r, MW_EXISTS,
                  "tenant '%s' exists (%s); change it with PUT or PATCH",
                  res->tenant, res->path);
  if (r->rq->op != MW_CREATE && !r->old)
    return finish(r, MW_NOT_FOUND, "no tenant '%s' at %.12s", res->tenant,
                  r->head);
  return 0;
}

/* ---- the new text ---- */

/* A patch's values set in the tip's text, one after the other. */
static int patch(struct run *r)
{
  char *text = td_strndup(r->old, r->old_len);
  size_t len = r->old_len;

  for (size_t i = 0; i < r->rq->nsets; i++) {
    const struct mw_set *s = &r->rq->sets[i];
    struct src_pos at;
    char *next;
    size_t next_len;
    int rc = yamledit_set(text, len, s->path, &s->value, &next, &next_len, &at);

    if (rc < 0) {
      diag_add(&r->res->diags, r->res->path, at.line, at.col, "%s: %s", s->path,
               td_error_last());
      free(text);
      return finish(r, MW_INVALID, "%s cannot be set in place", s->path);
    }
    free(text);
    text = next;
    len = next_len;
  }
  r->text = text;
  r->text_len = len;
  return 0;
}

static int new_text(struct run *r)
{
  free(r->text);
  r->text = NULL;
  r->text_len = 0;
  switch (r->rq->op) {
  case MW_CREATE:
  case MW_REPLACE:
    r->text = td_strndup(r->doc, r->doc_len);
    r->text_len = r->doc_len;
    break;
  case MW_PATCH:
    if (patch(r) < 0)
      return -1;
    break;
  case MW_DELETE:
    return 0;
  }
  if (r->old && r->old_len == r->text_len &&
      memcmp(r->old, r->text, r->text_len) == 0)
    return finish(r, MW_UNCHANGED, "%s already says so; nothing to commit",
                  r->res->path);
  if (git_blob_create_from_buffer(&r->blob, r->repo, r->text, r->text_len) <
      0) {
    source_git_error(r->src, "blob");
    return finish(r, MW_ERROR, "%s", td_error_last());
  }
  return 0;
}

/* ---- validation ---- */

static char *diag_key(const struct diag *d)
{
  return td_asprintf("%s\x1f%u\x1f%u\x1f%s", d->path, d->line, d->col, d->msg);
}

/*
 * The tip's manifests, loaded reusing the writer's model; then the same
 * with the file changed.  Problems in the file, and problems elsewhere
 * that the tip does not have, refuse the change.
 */
static int validate(struct run *r)
{
  const struct manifest_opts mo = MANIFEST_OPTS_INIT;
  struct manifestwrite_result *res = r->res;
  struct manifest_repo *tip = NULL, *next = NULL;
  struct strset before = STRSET_INIT;
  int rc;

  manifest_files_release(&r->files);
  rc = source_read_manifests(r->src, r->head, &r->files,
                             YAML_LIMITS_DEFAULT_MAX_BYTES, r->w->model);
  if (rc < 0)
    return finish(r, MW_ERROR, "%s", td_error_last());
  manifest_repo_reload(&tip, &r->files, &mo, r->w->model);
  r->w->model = NULL;
  for (size_t i = 0; i < tip->diags.n; i++) {
    char *k = diag_key(&tip->diags.v[i]);

    strset_add(&before, k);
    free(k);
  }
  strset_seal(&before);
  if (r->text) {
    manifest_files_add(&r->files, res->path, r->text, r->text_len);
    for (size_t i = 0; i < r->files.n; i++)
      if (strcmp(r->files.v[i].path, res->path) == 0)
        git_oid_tostr(r->files.v[i].key, sizeof(r->files.v[i].key), &r->blob);
  } else {
    manifest_files_remove(&r->files, res->path);
  }
  manifest_repo_reload(&next, &r->files, &mo, tip);
  r->w->model = next;
  for (size_t i = 0; i < next->diags.n; i++) {
    const struct diag *d = &next->diags.v[i];
    char *k = diag_key(d);

    if (strcmp(d->path, res->path) == 0 || !strset_has(&before, k))
      diag_add(&res->diags, d->path, d->line, d->col, "%s", d->msg);
    free(k);
  }
  strset_release(&before);
  if (res->diags.n == 0)
    return 0;
  diag_sort(&res->diags);
  if (r->rq->op == MW_PATCH || r->converted)
    res->document = td_strndup(r->text, r->text_len);
  return finish(r, MW_INVALID, "%zu problem%s; nothing was written",
                res->diags.n, res->diags.n == 1 ? "" : "s");
}

/* ---- commit and push ---- */

static char *message(const struct run *r)
{
  static const char *const verbs[] = {"add", "replace", "change", "remove"};
  const struct manifestwrite_request *rq = r->rq;
  char *subject = rq->subject ? td_strdup(rq->subject)
                              : td_asprintf("api: %s tenant %s", verbs[rq->op],
                                            r->res->tenant);
  char *msg, *allow = NULL;

  for (char *p = subject; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  if (rq->allow_delete >= 0)
    allow = td_asprintf("Tenantd-Allow-Delete: %ld\n", rq->allow_delete);
  msg = td_asprintf("%s\n\nRequested through the API by %s: %s\n\n"
                    "Tenantd-Request: %s\n%s",
                    subject, rq->author_name, rq->origin, rq->request_id,
                    allow ? allow : "");
  free(allow);
  free(subject);
  return msg;
}

static int commit(struct run *r)
{
  const struct manifestwrite_request *rq = r->rq;
  git_signature *author = NULL, *committer = NULL;
  git_commit *parent = NULL;
  git_tree *base = NULL, *tree = NULL;
  git_tree_update up = {.path = r->res->path};
  git_oid tree_id;
  char *msg = message(r);
  int rc = source_lookup_commit(r->src, r->head, &parent);

  up.action = r->text ? GIT_TREE_UPDATE_UPSERT : GIT_TREE_UPDATE_REMOVE;
  up.filemode = GIT_FILEMODE_BLOB;
  git_oid_cpy(&up.id, &r->blob);
  if (rc == 0 &&
      (git_commit_tree(&base, parent) < 0 ||
       git_tree_create_updated(&tree_id, r->repo, base, 1, &up) < 0 ||
       git_tree_lookup(&tree, r->repo, &tree_id) < 0))
    rc = source_git_error(r->src, "tree");
  if (rc == 0 &&
      git_signature_now(&author, rq->author_name, rq->author_email) < 0)
    rc = source_git_error(r->src, "author");
  if (rc == 0)
    rc = source_signature(r->src, &committer);
  if (rc == 0 &&
      git_commit_create(&r->commit, r->repo, NULL, author, committer, NULL, msg,
                        tree, 1, (const git_commit **)&parent) < 0)
    rc = source_git_error(r->src, "commit");
  free(msg);
  git_signature_free(author);
  git_signature_free(committer);
  git_tree_free(tree);
  git_tree_free(base);
  git_commit_free(parent);
  if (rc < 0)
    return finish(r, MW_ERROR, "%s", td_error_last());
  return 0;
}

static int set_ref(struct run *r, const char *name, const git_oid *oid)
{
  git_reference *ref;

  if (git_reference_create(&ref, r->repo, name, oid, 1, "tenantd: api") < 0)
    return source_git_error(r->src, name);
  git_reference_free(ref);
  return 0;
}

static void drop_temp_ref(struct run *r)
{
  git_reference *ref;

  if (r->temp_ref[0] && git_reference_lookup(&ref, r->repo, r->temp_ref) == 0) {
    git_reference_delete(ref);
    git_reference_free(ref);
  }
}

/* Pushes the commit: 0, TD_ECONFLICT when refused, -1 otherwise. */
static int push(struct run *r)
{
  struct manifestwrite_result *res = r->res;
  char spec[512], remote[300];
  const char *specs[1] = {spec};
  int rc;

  snprintf(r->temp_ref, sizeof(r->temp_ref), "refs/tenantd/api/%s",
           r->rq->request_id);
  if (r->rq->to_branch)
    snprintf(res->branch, sizeof(res->branch), "tenantd/api/%s-%s", res->tenant,
             r->rq->request_id);
  else
    snprintf(res->branch, sizeof(res->branch), "%s", r->w->o.branch);
  snprintf(spec, sizeof(spec), "%s:refs/heads/%s", r->temp_ref, res->branch);
  rc = set_ref(r, r->temp_ref, &r->commit);
  if (rc == 0) {
    res->attempts++;
    rc = source_push(r->src, specs, 1);
  }
  drop_temp_ref(r);
  if (rc == 0 && !r->rq->to_branch) {
    /* The mirror's view of the branch is what was just pushed. */
    snprintf(remote, sizeof(remote), "refs/remotes/origin/%s", res->branch);
    rc = set_ref(r, remote, &r->commit);
  }
  if (rc == 0)
    git_oid_tostr(res->commit, sizeof(res->commit), &r->commit);
  return rc;
}

/* Whether every value the patch sets reads the same in both texts. */
static bool patch_values_same(const struct run *r, const char *now,
                              size_t now_len, const char **which)
{
  for (size_t i = 0; i < r->rq->nsets; i++) {
    const char *path = r->rq->sets[i].path;
    char *a = NULL, *b = NULL;
    enum yscalar ta = YS_NULL, tb = YS_NULL;
    int ra = yamledit_get(r->old, r->old_len, path, &a, &ta);
    int rb = yamledit_get(now, now_len, path, &b, &tb);
    bool same = ra == rb && ta == tb && (!a || strcmp(a, b) == 0);

    free(a);
    free(b);
    if (!same) {
      *which = path;
      return false;
    }
  }
  td_error_clear();
  return true;
}

/*
 * The push was refused: fetch, and say whether another attempt on the new
 * tip keeps both changes (0) or the request ends (-1, status set).
 */
static int after_refusal(struct run *r)
{
  struct manifestwrite_result *res = r->res;
  char why[512], now_head[SOURCE_ID_LEN];
  const char *which = NULL;
  char *now = NULL;
  size_t now_len = 0;
  git_oid now_blob;
  bool same;

  snprintf(why, sizeof(why), "%s", td_error_last());
  if (r->rq->to_branch)
    return finish(r, MW_REFUSED, "the repository refused the branch: %s", why);
  if (source_fetch(r->src) < 0)
    return finish(r, MW_UNREACHABLE,
                  "the push was refused (%s) and the "
                  "fetch after it failed: %s",
                  why, td_error_last());
  if (source_head(r->src, now_head) < 0 || strcmp(now_head, r->head) == 0)
    return finish(r, MW_REFUSED, "the repository refused the commit: %s", why);
  if (read_file(r, now_head, res->path, &now, &now_len, &now_blob) < 0)
    return finish(r, MW_ERROR, "%s", td_error_last());
  same = (now == NULL) == (r->old == NULL) &&
         (!now || git_oid_equal(&now_blob, &r->old_blob));
  if (!same && r->rq->op == MW_PATCH && now &&
      patch_values_same(r, now, now_len, &which))
    same = true;
  free(now);
  if (same)
    return 0;
  if (which)
    return finish(r, MW_CONFLICT,
                  "%s of tenant '%s' changed at %.12s while this request "
                  "was written; nothing was committed: read it again and "
                  "retry",
                  which, res->tenant, now_head);
  return finish(r, MW_CONFLICT,
                "%s changed at %.12s while this request was written; "
                "nothing was committed: read it again and retry",
                res->path, now_head);
}

/* ---- the plan ---- */

/* The tenant at the new commit against what the providers hold. */
static void plan(struct run *r)
{
  const struct manifestwrite_request *rq = r->rq;
  struct manifestwrite_result *res = r->res;
  struct reconcile_opts rec = RECONCILE_OPTS_INIT;
  struct reconcile_report report = {0};
  struct strset only = STRSET_INIT;
  size_t outside = 0;
  struct writeback *wb = NULL;
  char *out = NULL, *err = NULL;
  size_t out_len = 0, err_len = 0;
  FILE *fo = open_memstream(&out, &out_len);
  FILE *fe = open_memstream(&err, &err_len);
  int rc;

  if (!fo || !fe)
    abort();
  strset_add(&only, res->tenant);
  strset_seal(&only);
  rc = writeback_open(&wb, r->src);
  if (rc == 0)
    rc = writeback_summaries_outside(wb, &only, NULL, &outside);
  if (rc == 0) {
    rec.files = &r->files;
    rec.source = res->commit;
    rec.store = writeback_store(wb);
    rec.only = rec.changed = &only;
    rec.managed_outside = outside;
    rec.providers = rq->providers;
    rec.allow_delete = rq->allow_delete;
    if (rq->concurrency)
      rec.concurrency = rq->concurrency;
    rec.format = PLAN_JSON;
    rec.out = fo;
    rec.err = fe;
    rec.model = &r->w->model;
    rec.plan_repository = source_url(r->src);
    rec.plan_base = res->base;
    rec.plan_head = res->commit;
    rc = reconcile_once(&rec, &report);
  }
  if (rc < 0)
    snprintf(res->plan_error, sizeof(res->plan_error), "%s", td_error_last());
  fclose(fo);
  fclose(fe);
  if (rc == 0)
    res->plan = out;
  else
    free(out);
  free(err);
  reconcile_report_release(&report);
  writeback_close(wb);
  strset_release(&only);
}

/* ---- a run ---- */

/* One attempt on the fetched tip: 0 pushed, 1 to try again, -1 done. */
static int attempt(struct run *r, unsigned n)
{
  int rc = tip_file(r);

  if (rc == 0)
    rc = new_text(r);
  if (rc == 0)
    rc = validate(r);
  if (rc == 0)
    rc = commit(r);
  if (rc < 0)
    return -1;
  if (r->rq->before_push)
    r->rq->before_push(n, r->rq->before_push_arg);
  rc = push(r);
  if (rc == 0)
    return 0;
  if (rc != TD_ECONFLICT)
    return finish(r, MW_UNREACHABLE, "%s", td_error_last());
  if (n == PUSH_ATTEMPTS)
    return finish(r, MW_CONFLICT,
                  "%s kept moving: not pushed after %u attempts; nothing was "
                  "committed",
                  r->w->o.branch, n);
  return after_refusal(r) < 0 ? -1 : 1;
}

static int prepare(struct run *r)
{
  const struct manifestwrite_request *rq = r->rq;
  int rc = 0;

  if (rq->op == MW_CREATE || rq->op == MW_REPLACE)
    rc = document(r);
  if (rc == 0 && rq->op == MW_CREATE)
    rc = document_name(r);
  else if (rc == 0 && (!rq->tenant || !naming_is_label(rq->tenant)))
    rc = finish(r, MW_BAD_REQUEST, "not a tenant name");
  else if (rc == 0)
    snprintf(r->res->tenant, sizeof(r->res->tenant), "%s", rq->tenant);
  if (rc == 0 &&
      (strlen(rq->request_id) > 64 ||
       strspn(rq->request_id, "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "0123456789-") != strlen(rq->request_id)))
    rc = finish(r, MW_BAD_REQUEST, "a request id is letters, digits, '-'");
  if (rc < 0)
    return -1;
  if (source_open(&r->src, &r->w->o) < 0)
    return finish(r, MW_ERROR, "%s", td_error_last());
  r->repo = source_repo(r->src);
  if (source_fetch(r->src) < 0)
    return finish(r, MW_UNREACHABLE, "%s", td_error_last());
  return 0;
}

int manifestwrite_run(struct manifestwrite *w,
                      const struct manifestwrite_request *rq,
                      struct manifestwrite_result *res)
{
  struct run r = {.w = w, .rq = rq, .res = res};
  int rc;

  memset(res, 0, sizeof(*res));
  res->diags = (struct diag_list)DIAG_LIST_INIT;
  res->status = MW_ERROR;
  r.files = (struct manifest_files)MANIFEST_FILES_INIT;
  if (rq->version != MANIFESTWRITE_REQUEST_VERSION)
    return td_error("manifestwrite: request version %u", rq->version);
  rc = prepare(&r);
  for (unsigned n = 1; rc == 0; n++) {
    rc = attempt(&r, n);
    if (rc == 1)
      rc = 0;
    else if (rc == 0)
      break;
  }
  if (rc == 0) {
    res->status = MW_COMMITTED;
    res->message[0] = '\0';
  }
  manifest_files_release(&r.files);
  source_close(r.src);
  free(r.doc);
  free(r.old);
  free(r.text);
  return 0;
}

int manifestwrite_plan(struct manifestwrite *w,
                       const struct manifestwrite_request *rq,
                       struct manifestwrite_result *res)
{
  struct run r = {.w = w, .rq = rq, .res = res};
  int rc;

  assert(res->status == MW_COMMITTED && rq->providers);
  r.files = (struct manifest_files)MANIFEST_FILES_INIT;
  rc = source_open(&r.src, &w->o);
  if (rc == 0)
    rc = source_read_manifests(r.src, res->commit, &r.files,
                               YAML_LIMITS_DEFAULT_MAX_BYTES, w->model);
  if (rc == 0)
    plan(&r);
  else
    snprintf(res->plan_error, sizeof(res->plan_error), "%s", td_error_last());
  manifest_files_release(&r.files);
  source_close(r.src);
  return 0;
}
