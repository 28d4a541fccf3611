/*
 * manifest.c - the repository's files in, the validated model out.
 */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "manifest/internal.h"

#define PLATFORM_PATH "platform.yaml"
#define TIERS_PATH "tiers.yaml"
#define TENANTS_DIR "tenants/"
#define BUILTIN_TIERS_PATH "<built-in>/tiers.yaml"

/* ---- files ---- */

static struct manifest_file *files_find(const struct manifest_files *f,
                                        const char *path)
{
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->v[i].path, path) == 0)
      return &f->v[i];
  return NULL;
}

/* Takes `data` (len + 1 bytes, NUL-terminated) without looking for an
 * existing entry: a directory listing has no duplicates. */
static void files_append(struct manifest_files *f, const char *path, char *data,
                         size_t len)
{
  struct manifest_file *x;

  if (f->n == f->alloc) {
    f->alloc = f->alloc ? f->alloc * 2 : 16;
    f->v = td_realloc(f->v, f->alloc * sizeof(*f->v));
  }
  x = &f->v[f->n++];
  x->path = td_strdup(path);
  x->data = data;
  x->len = len;
  x->problem = NULL;
  x->key[0] = '\0';
  x->reused = false;
}

void manifest_files_add(struct manifest_files *f, const char *path,
                        const char *data, size_t len)
{
  struct manifest_file *x = files_find(f, path);
  char *copy = td_malloc(len + 1);

  memcpy(copy, data, len);
  copy[len] = '\0';
  if (!x) {
    files_append(f, path, copy, len);
    return;
  }
  free(x->data);
  x->data = copy;
  x->len = len;
  x->problem = NULL;
  x->key[0] = '\0';
  x->reused = false;
}

void manifest_files_remove(struct manifest_files *f, const char *path)
{
  struct manifest_file *x = files_find(f, path);

  if (!x)
    return;
  free(x->path);
  free(x->data);
  *x = f->v[--f->n];
}

void manifest_files_release(struct manifest_files *f)
{
  for (size_t i = 0; i < f->n; i++) {
    free(f->v[i].path);
    free(f->v[i].data);
  }
  free(f->v);
  f->v = NULL;
  f->n = f->alloc = 0;
}

static int add_from_disk(struct manifest_files *f, const char *dir,
                         const char *rel, size_t max_bytes, bool merge)
{
  char full[4096];
  char *data;
  size_t len;
  int err;

  if ((size_t)snprintf(full, sizeof(full), "%s/%s", dir, rel) >= sizeof(full))
    return td_error("path too long: %s/%s", dir, rel);
  err = fs_read_capped(full, max_bytes + 1, &data, &len);
  if (err == TD_ENOTFOUND)
    return 0;
  if (err < 0)
    return err;
  if (merge && files_find(f, rel)) {
    manifest_files_add(f, rel, data, len);
    free(data);
    return 0;
  }
  data = td_realloc(data, len + 1);
  data[len] = '\0';
  files_append(f, rel, data, len);
  return 0;
}

static bool is_manifest_name(const char *name)
{
  size_t n = strlen(name);

  if (name[0] == '.')
    return false;
  return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
         (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

int manifest_files_read_dir(struct manifest_files *f, const char *dir,
                            size_t max_bytes)
{
  char tdir[4096];
  DIR *d;
  struct dirent *de;
  int err;
  struct stat st;
  /* Into an empty list, paths from one listing cannot repeat: skip the
   * lookup that would make reading 10,000 tenants quadratic. */
  bool merge = f->n > 0;

  if (stat(dir, &st) < 0)
    return td_error("cannot read %s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return td_error("%s is not a directory", dir);
  err = add_from_disk(f, dir, PLATFORM_PATH, max_bytes, merge);
  if (err == 0)
    err = add_from_disk(f, dir, TIERS_PATH, max_bytes, merge);
  if (err < 0)
    return err;
  snprintf(tdir, sizeof(tdir), "%s/tenants", dir);
  d = opendir(tdir);
  if (!d)
    return errno == ENOENT
               ? 0
               : td_error("cannot read %s: %s", tdir, strerror(errno));
  while ((de = readdir(d)) != NULL) {
    char rel[512];

    if (!is_manifest_name(de->d_name))
      continue;
    if ((size_t)snprintf(rel, sizeof(rel), TENANTS_DIR "%s", de->d_name) >=
        sizeof(rel))
      continue;
    if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN &&
        de->d_type != DT_LNK)
      continue;
    err = add_from_disk(f, dir, rel, max_bytes, merge);
    if (err < 0)
      break;
  }
  closedir(d);
  return err;
}

/* ---- loading ---- */

const struct mf_tier *manifest_catalog_find(const struct mf_catalog *c,
                                            const char *name)
{
  for (uint32_t i = 0; i < c->spec.tiers.n; i++) {
    const struct mf_tier *t = mf_catalog_tier(c, i);

    if (t->name.v && strcmp(t->name.v, name) == 0)
      return t;
  }
  return NULL;
}

static void defaults_platform(struct mf_platform *p)
{
  struct mf_policies *pol = &p->spec.policies;

  for (int i = 0; i < RTYPE_COUNT; i++)
    if (!p->spec.providers.by_type[i].v)
      p->spec.providers.by_type[i].v = "local";
  if (!pol->prune.pos.line)
    pol->prune.v = true;
  if (!pol->drift_policy.pos.line)
    pol->drift_policy.v = MF_DRIFT_CORRECT;
  if (!pol->max_delete_percent.pos.line)
    pol->max_delete_percent.v = 10;
  if (!pol->resync_ms.pos.line)
    pol->resync_ms.v = 5 * 60 * 1000;
  if (!pol->stall_after.pos.line)
    pol->stall_after.v = 3;
}

static void defaults_tenant(struct mf_tenant *t)
{
  struct mf_tenant_spec *s = &t->spec;

  if (!s->deletion_policy.pos.line)
    s->deletion_policy.v = DELETION_ORPHAN;
  for (uint32_t i = 0; i < s->envs.n; i++) {
    struct mf_env *e = &((struct mf_env *)s->envs.v)[i];

    if (!e->database.deletion_policy.pos.line)
      e->database.deletion_policy.v = s->deletion_policy.v;
    if (!e->bucket.deletion_policy.pos.line)
      e->bucket.deletion_policy.v = s->deletion_policy.v;
    for (uint32_t j = 0; j < e->apps.n; j++) {
      struct mf_app *a = &((struct mf_app *)e->apps.v)[j];

      if (!a->replicas.pos.line)
        a->replicas.v = 1;
      if (!a->health.interval_s.pos.line)
        a->health.interval_s.v = 10;
      if (!a->health.timeout_s.pos.line)
        a->health.timeout_s.v = 5;
    }
  }
}

enum doc_kind { DOC_PLATFORM, DOC_CATALOG, DOC_TENANT };

/* A document's own findings join the repo's, whether just decoded or
 * carried over from an earlier load (escaped once already). */
static void add_own_diags(struct manifest_repo *repo,
                          const struct manifest_doc *doc)
{
  for (size_t i = 0; i < doc->own.n; i++) {
    const struct diag *g = &doc->own.v[i];

    diag_add(&repo->diags, g->path, g->line, g->col, "%s", g->msg);
  }
}

static struct manifest_doc *load_doc(struct arena *scratch,
                                     const struct manifest_opts *opts,
                                     const char *path, const char *data,
                                     size_t len, const char *problem,
                                     enum doc_kind kind)
{
  struct manifest_doc *doc = td_calloc(1, sizeof(*doc));
  struct ynode *root;
  struct manifest__ctx cx;

  doc->path = td_strdup(path);
  doc->own = (struct diag_list)DIAG_LIST_INIT;
  cx.path = doc->path;
  cx.arena = &doc->arena;
  cx.diags = &doc->own;
  cx.what = NULL;
  if (problem)
    yaml_diag_add(&doc->own, path, 0, 0, problem);
  else if (yaml_parse(scratch, &opts->limits, path, data, len, &root,
                      &doc->own) == 0) {
    switch (kind) {
    case DOC_PLATFORM:
      doc->u.platform = manifest__decode_platform(&cx, root);
      if (doc->u.platform)
        defaults_platform(doc->u.platform);
      break;
    case DOC_CATALOG:
      doc->u.catalog = manifest__decode_catalog(&cx, root);
      break;
    case DOC_TENANT:
      doc->u.tenant = manifest__decode_tenant(&cx, root);
      if (doc->u.tenant)
        defaults_tenant(doc->u.tenant);
      break;
    }
  }
  arena_reset(scratch);
  return doc;
}

static bool is_tenant_path(const char *path)
{
  size_t n = strlen(TENANTS_DIR);

  return strncmp(path, TENANTS_DIR, n) == 0 && !strchr(path + n, '/') &&
         is_manifest_name(path + n);
}

enum manifest_path_kind manifest_path_kind(const char *path)
{
  if (strcmp(path, PLATFORM_PATH) == 0)
    return MP_PLATFORM;
  if (strcmp(path, TIERS_PATH) == 0)
    return MP_TIERS;
  return is_tenant_path(path) ? MP_TENANT : MP_OTHER;
}

void manifest_files_take(struct manifest_files *f, const char *path, char *data,
                         size_t len)
{
  files_append(f, path, data, len);
}

void manifest_files_add_reused(struct manifest_files *f, const char *path,
                               const char *key)
{
  struct manifest_file *x;

  files_append(f, path, NULL, 0);
  x = &f->v[f->n - 1];
  snprintf(x->key, sizeof(x->key), "%s", key);
  x->reused = true;
}

void manifest_files_add_unreadable(struct manifest_files *f, const char *path,
                                   const char *problem)
{
  files_append(f, path, td_strdup(""), 0);
  f->v[f->n - 1].problem = problem;
}

static void doc_free(struct manifest_doc *doc)
{
  if (!doc)
    return;
  arena_release(&doc->arena);
  diag_list_release(&doc->own);
  free(doc->path);
  free(doc);
}

/* The tenant document at `path` of a loaded repo (sorted), or NULL. */
static struct manifest_doc **tenant_slot(const struct manifest_repo *repo,
                                         const char *path)
{
  size_t lo = 0, hi = repo->ntenants;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(repo->tenants[mid]->path, path);

    if (c == 0)
      return &repo->tenants[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/*
 * The document for one file: prev's, taken over, when the file carries
 * the key prev's was read from; otherwise decoded now.  Its own findings
 * join the repo's either way.
 */
static struct manifest_doc *
file_doc(struct manifest_repo *repo, struct manifest_doc **slot,
         struct arena *scratch, const struct manifest_opts *opts,
         const struct manifest_file *f, enum doc_kind kind)
{
  struct manifest_doc *doc;

  if (f->key[0] && slot && *slot && strcmp((*slot)->path, f->path) == 0 &&
      strcmp((*slot)->key, f->key) == 0) {
    doc = *slot;
    *slot = NULL;
  } else if (f->reused) {
    /* The caller promised a document prev does not have. */
    doc = load_doc(scratch, opts, f->path, "", 0,
                   "internal: no earlier copy of this file to reuse; it is "
                   "held until the next full read",
                   kind);
  } else {
    doc = load_doc(scratch, opts, f->path, f->data, f->len, f->problem, kind);
    memcpy(doc->key, f->key, sizeof(doc->key));
  }
  add_own_diags(repo, doc);
  return doc;
}

void manifest_repo_load(struct manifest_repo **out,
                        const struct manifest_files *files,
                        const struct manifest_opts *opts)
{
  manifest_repo_reload(out, files, opts, NULL);
}

static int file_path_cmp(const void *pa, const void *pb)
{
  const struct manifest_file *const *a = pa, *const *b = pb;

  return strcmp((*a)->path, (*b)->path);
}

/* platform.yaml, and tiers.yaml or the built-in catalog in its place. */
static void load_platform_and_catalog(struct manifest_repo *repo,
                                      const struct manifest_files *files,
                                      const struct manifest_opts *opts,
                                      struct manifest_repo *prev,
                                      struct arena *scratch)
{
  const struct manifest_file *f = files_find(files, PLATFORM_PATH);

  if (f)
    repo->platform = file_doc(repo, prev ? &prev->platform : NULL, scratch,
                              opts, f, DOC_PLATFORM);
  else
    yaml_diag_add(&repo->diags, PLATFORM_PATH, 0, 0,
                  "missing: every manifest repository needs a platform.yaml");

  f = files_find(files, TIERS_PATH);
  if (f) {
    repo->catalog = file_doc(repo, prev ? &prev->catalog : NULL, scratch, opts,
                             f, DOC_CATALOG);
  } else {
    repo->catalog =
        load_doc(scratch, opts, BUILTIN_TIERS_PATH, manifest_default_tiers,
                 manifest_default_tiers_len, NULL, DOC_CATALOG);
    add_own_diags(repo, repo->catalog);
  }
}

/* The tenant files, in path order, each taking prev's document of the
 * same path when its bytes are unchanged. */
static void load_tenants(struct manifest_repo *repo,
                         const struct manifest_files *files,
                         const struct manifest_opts *opts,
                         struct manifest_repo *prev, struct arena *scratch)
{
  const struct manifest_file **tenant_files;
  size_t ntenants = 0;

  for (size_t i = 0; i < files->n; i++)
    if (is_tenant_path(files->v[i].path))
      ntenants++;
  tenant_files = td_calloc(ntenants ? ntenants : 1, sizeof(*tenant_files));
  for (size_t i = 0, k = 0; i < files->n; i++)
    if (is_tenant_path(files->v[i].path))
      tenant_files[k++] = &files->v[i];
  qsort(tenant_files, ntenants, sizeof(*tenant_files), file_path_cmp);
  repo->tenants = td_calloc(ntenants ? ntenants : 1, sizeof(*repo->tenants));
  /* Both lists are sorted by path: one merge pairs each file with prev's
   * document of the same path. */
  for (size_t i = 0, k = 0; i < ntenants; i++) {
    struct manifest_doc **slot = NULL;

    while (prev && k < prev->ntenants &&
           strcmp(prev->tenants[k]->path, tenant_files[i]->path) < 0)
      k++;
    if (prev && k < prev->ntenants)
      slot = &prev->tenants[k];
    repo->tenants[repo->ntenants++] =
        file_doc(repo, slot, scratch, opts, tenant_files[i], DOC_TENANT);
    /* A taken slot is NULL: step past it. */
    if (slot && !*slot)
      k++;
  }
  free(tenant_files);
}

/* A document may be acted on when it decoded and no diagnostic, its own
 * or a rule across documents, names its file.  `diags` is sorted. */
static void mark_valid(struct manifest_repo *repo)
{
  if (repo->platform)
    repo->platform->valid =
        repo->platform->u.platform &&
        !diag_sorted_has_path(&repo->diags, repo->platform->path);
  for (size_t i = 0; i < repo->ntenants; i++) {
    struct manifest_doc *doc = repo->tenants[i];

    doc->valid =
        doc->u.tenant && !diag_sorted_has_path(&repo->diags, doc->path);
  }
}

void manifest_repo_reload(struct manifest_repo **out,
                          const struct manifest_files *files,
                          const struct manifest_opts *opts,
                          struct manifest_repo *prev)
{
  static const struct manifest_opts defaults = MANIFEST_OPTS_INIT;
  struct manifest_repo *repo = td_calloc(1, sizeof(*repo));
  struct arena scratch = ARENA_INIT;

  if (!opts)
    opts = &defaults;
  assert(opts->version == MANIFEST_OPTS_VERSION);

  load_platform_and_catalog(repo, files, opts, prev, &scratch);
  load_tenants(repo, files, opts, prev, &scratch);
  manifest_repo_free(prev);
  arena_release(&scratch);

  /* The catalog's validity decides whether tiers can be checked. */
  if (repo->catalog)
    repo->catalog->valid =
        repo->catalog->u.catalog &&
        diag_count_path(&repo->diags, repo->catalog->path) == 0;
  manifest__check_repo(repo);
  diag_sort(&repo->diags);
  mark_valid(repo);
  *out = repo;
}

const struct manifest_doc *manifest_repo_find(const struct manifest_repo *repo,
                                              const char *path)
{
  struct manifest_doc **slot;

  if (repo->platform && strcmp(repo->platform->path, path) == 0)
    return repo->platform;
  if (repo->catalog && strcmp(repo->catalog->path, path) == 0)
    return repo->catalog;
  slot = tenant_slot(repo, path);
  return slot ? *slot : NULL;
}

void manifest_repo_free(struct manifest_repo *repo)
{
  if (!repo)
    return;
  doc_free(repo->platform);
  doc_free(repo->catalog);
  for (size_t i = 0; i < repo->ntenants; i++)
    doc_free(repo->tenants[i]);
  free(repo->tenants);
  diag_list_release(&repo->diags);
  free(repo);
}
