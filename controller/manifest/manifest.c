/*
 * manifest.c - the repository's files in, the validated model out.
 */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "base/error.h"
#include "base/strutil.h"
#include "manifest/internal.h"
#include "model/naming.h"

#define PLATFORM_PATH "platform.yaml"
#define TIERS_PATH "tiers.yaml"
#define TENANTS_DIR "tenants/"
#define BUILTIN_TIERS_PATH "<built-in>/tiers.yaml"

/* ---- work shared out over threads ---- */

#define POOL_THREADS_MAX 4
#define POOL_MIN_ITEMS 64

unsigned manifest__pool_threads(unsigned want, size_t n)
{
  unsigned t = want;

  if (t == 0)
    t = n < POOL_MIN_ITEMS ? 1 : uv_available_parallelism();
  return t < 1 ? 1 : t > POOL_THREADS_MAX ? POOL_THREADS_MAX : t;
}

void manifest__on_threads(void (*fn)(void *), void *job, unsigned nthreads)
{
  uv_thread_t tid[POOL_THREADS_MAX];
  unsigned started = 0;

  if (nthreads > POOL_THREADS_MAX)
    nthreads = POOL_THREADS_MAX;
  for (unsigned k = 1; k < nthreads; k++)
    if (uv_thread_create(&tid[started], fn, job) == 0)
      started++;
  fn(job);
  for (unsigned k = 0; k < started; k++)
    uv_thread_join(&tid[k]);
}

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
  x->gone = false;
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
  x->gone = false;
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
  f->delta_of = NULL;
}

/* Why a path is held instead of read: the words Git mode uses. */
#define LINK_PROBLEM \
  "is a symbolic link; tenantd reads manifests only from regular files"
#define NOT_FILE_PROBLEM "is not a regular file"

/* Adds `rel` (taking `data`, NUL-terminated, or a problem), replacing an
 * entry of the same path when merging into a list that had entries. */
static void files_put(struct manifest_files *f, const char *rel, char *data,
                      size_t len, const char *problem, bool merge)
{
  struct manifest_file *x = merge ? files_find(f, rel) : NULL;

  if (!x) {
    files_append(f, rel, data, len);
    x = &f->v[f->n - 1];
  } else {
    free(x->data);
    x->data = data;
    x->len = len;
    x->key[0] = '\0';
    x->reused = false;
    x->gone = false;
  }
  x->problem = problem;
}

/* Reads at most `cap` bytes of the open file `fd` into *out (malloc'd,
 * NUL-terminated); a longer file is cut, for the loader to report.  The
 * buffer starts at the size fstat gave (`hint`), plus room to see the
 * file is done: ten thousand small files cost their bytes, not 4 KiB
 * each.  Returns 0 or an errno. */
static int read_capped(int fd, size_t cap, size_t hint, char **out, size_t *len)
{
  size_t used = 0, alloc = hint < cap ? hint + 2 : cap + 1;
  char *buf = td_malloc(alloc);

  for (;;) {
    ssize_t n;

    if (used == alloc - 1) {
      if (used >= cap)
        break;
      alloc = alloc * 2 > cap + 1 ? cap + 1 : alloc * 2;
      buf = td_realloc(buf, alloc);
    }
    n = read(fd, buf + used, alloc - 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;

      free(buf);
      return err;
    }
    if (n == 0)
      break;
    used += (size_t)n;
  }
  buf[used] = '\0';
  *out = buf;
  *len = used;
  return 0;
}

/* What reading one directory entry found, on whichever thread read it:
 * the error is kept as an errno, for the caller's thread to report. */
struct entry_read {
  char *data; /* malloc'd, NUL-terminated; NULL when absent */
  size_t len;
  const char *problem; /* held: a link, not a regular file */
  int err;             /* errno of a failed read, or 0 */
};

/*
 * Reads the entry `name` of the open directory `dfd`.  Nothing is
 * checked before the open: openat() relative to the directory, with
 * O_NOFOLLOW, refuses a symbolic link at the one step it takes, so no
 * link swapped in can lead it out of the repository.  A link (to a file
 * outside or inside, or dangling) and whatever is not a regular file are
 * held with a problem, as Git mode holds them: never read through, never
 * taken for missing.  O_NONBLOCK keeps a FIFO from blocking the open.
 */
static void read_entry(int dfd, const char *name, size_t max_bytes,
                       struct entry_read *r)
{
  int fd = openat(dfd, name,
                  O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct stat st;

  memset(r, 0, sizeof(*r));
  if (fd < 0) {
    if (errno == ELOOP)
      r->problem = LINK_PROBLEM;
    else if (errno != ENOENT)
      r->err = errno;
    return;
  }
  if (fstat(fd, &st) < 0)
    r->err = errno;
  else if (!S_ISREG(st.st_mode))
    r->problem = NOT_FILE_PROBLEM;
  else
    r->err =
        read_capped(fd, max_bytes + 1, (size_t)st.st_size, &r->data, &r->len);
  close(fd);
}

/* Puts what read_entry() found into the list as the repository path
 * `rel`; an error is reported (and `r` freed) instead. */
static int put_entry(struct manifest_files *f, const char *dir, const char *rel,
                     struct entry_read *r, bool merge)
{
  if (r->err) {
    free(r->data);
    return td_error("cannot read %s/%s: %s", dir, rel, strerror(r->err));
  }
  if (r->problem)
    files_put(f, rel, td_strdup(""), 0, r->problem, merge);
  else if (r->data)
    files_put(f, rel, r->data, r->len, NULL, merge);
  return 0;
}

static int add_entry(struct manifest_files *f, int dfd, const char *dir,
                     const char *name, size_t max_bytes, bool merge)
{
  struct entry_read r;

  read_entry(dfd, name, max_bytes, &r);
  return put_entry(f, dir, name, &r, merge);
}

/*
 * Opens <dir>/tenants, never through a link: every tenant would look
 * deleted if it could not be read, so like Git mode the whole read is
 * refused instead.  *tfd is -1 when there is no tenants directory.
 */
static int open_tenants(int dfd, const char *dir, int *tfd)
{
  struct stat st;

  *tfd =
      openat(dfd, "tenants", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (*tfd >= 0 || errno == ENOENT)
    return 0;
  if (fstatat(dfd, "tenants", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(st.st_mode))
    return td_error("%s/tenants is a symbolic link; tenantd reads nothing "
                    "through a link (make it a directory)",
                    dir);
  if (errno == ENOTDIR)
    return td_error("%s/tenants is not a directory", dir);
  return td_error("cannot read %s/tenants: %s", dir, strerror(errno));
}

/*
 * Tenant files are read by several threads at once, like they are
 * decoded (below): each takes READ_CHUNK entries at a time.  They are
 * put into the list in the listing's order afterwards, and the first
 * entry that failed, in that order, is the error, as if read one by
 * one.
 */
#define READ_CHUNK 32

struct read_job {
  int dfd;
  size_t max_bytes;
  char **names;
  struct entry_read *v;
  size_t n;
  atomic_size_t next;
};

static void read_some(void *arg)
{
  struct read_job *job = arg;

  for (;;) {
    size_t at = atomic_fetch_add(&job->next, READ_CHUNK);

    if (at >= job->n)
      break;
    for (size_t i = at; i < job->n && i < at + READ_CHUNK; i++)
      read_entry(job->dfd, job->names[i], job->max_bytes, &job->v[i]);
  }
}

/* The entries of tenants/ that manifest_path_kind() calls tenant files,
 * with room for their reads. */
static int list_tenant_entries(int tfd, const char *dir, struct read_job *job)
{
  DIR *d = fdopendir(tfd);
  struct dirent *de;
  size_t alloc = 0;

  if (!d) {
    close(tfd);
    return td_error("cannot read %s/tenants: %s", dir, strerror(errno));
  }
  while ((de = readdir(d)) != NULL) {
    char rel[512];

    if ((size_t)snprintf(rel, sizeof(rel), TENANTS_DIR "%s", de->d_name) >=
            sizeof(rel) ||
        manifest_path_kind(rel) != MP_TENANT)
      continue;
    if (job->n == alloc) {
      alloc = alloc ? alloc * 2 : 64;
      job->names = td_realloc(job->names, alloc * sizeof(*job->names));
    }
    job->names[job->n++] = td_strdup(de->d_name);
  }
  job->dfd = dup(dirfd(d));
  closedir(d);
  if (job->dfd < 0)
    return td_error("cannot read %s/tenants: %s", dir, strerror(errno));
  return 0;
}

static int add_tenant_entries(struct manifest_files *f, int tfd,
                              const char *dir, size_t max_bytes, bool merge)
{
  struct read_job job = {.dfd = -1, .max_bytes = max_bytes};
  int err = list_tenant_entries(tfd, dir, &job);

  if (err == 0) {
    job.v = td_calloc(job.n ? job.n : 1, sizeof(*job.v));
    atomic_init(&job.next, 0);
    manifest__on_threads(read_some, &job, manifest__pool_threads(0, job.n));
  }
  for (size_t i = 0; i < job.n; i++) {
    char rel[512];

    snprintf(rel, sizeof(rel), TENANTS_DIR "%s", job.names[i]);
    if (err == 0 && job.v)
      err = put_entry(f, dir, rel, &job.v[i], merge);
    else if (job.v)
      free(job.v[i].data);
    free(job.names[i]);
  }
  if (job.dfd >= 0)
    close(job.dfd);
  free(job.v);
  free(job.names);
  return err;
}

int manifest_files_read_dir(struct manifest_files *f, const char *dir,
                            size_t max_bytes)
{
  /* Into an empty list, paths from one listing cannot repeat: skip the
   * lookup that would make reading 10,000 tenants quadratic. */
  bool merge = f->n > 0;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int tfd = -1;
  int err;

  if (dfd < 0)
    return errno == ENOTDIR
               ? td_error("%s is not a directory", dir)
               : td_error("cannot read %s: %s", dir, strerror(errno));
  err = add_entry(f, dfd, dir, PLATFORM_PATH, max_bytes, merge);
  if (err == 0)
    err = add_entry(f, dfd, dir, TIERS_PATH, max_bytes, merge);
  if (err == 0)
    err = open_tenants(dfd, dir, &tfd);
  if (err == 0 && tfd >= 0)
    err = add_tenant_entries(f, tfd, dir, max_bytes, merge);
  close(dfd);
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
  /* A decoded model takes up to about twice its text and a little: one
   * chunk, not the three or four the arena would grow through. */
  arena_reserve(&doc->arena,
                len * 2 + 1024 < 256 * 1024 ? len * 2 + 1024 : 256 * 1024);
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

/* "tenants/<stem>.yaml" or .yml: the stem, or NULL for any other path.
 * A stem starting with '.' is a hidden file, not a tenant's. */
static const char *tenant_stem(const char *path, size_t *len)
{
  size_t n = strlen(TENANTS_DIR), plen = strlen(path);
  const char *stem = path + n;

  if (strncmp(path, TENANTS_DIR, n) != 0 || strchr(stem, '/') || stem[0] == '.')
    return NULL;
  if (plen > n + 5 && strcmp(path + plen - 5, ".yaml") == 0)
    *len = plen - n - 5;
  else if (plen > n + 4 && strcmp(path + plen - 4, ".yml") == 0)
    *len = plen - n - 4;
  else
    return NULL;
  return stem;
}

enum manifest_path_kind manifest_path_kind(const char *path)
{
  size_t len;

  if (strcmp(path, PLATFORM_PATH) == 0)
    return MP_PLATFORM;
  if (strcmp(path, TIERS_PATH) == 0)
    return MP_TIERS;
  return tenant_stem(path, &len) ? MP_TENANT : MP_OTHER;
}

/*
 * The one rule for the names of tenant files, shared by every reader
 * through the loader: the stem of a tenant path must be a tenant name, a
 * DNS label (so ASCII, so valid UTF-8).  Writes the name to `name` and
 * returns NULL, or returns why the file names no tenant.
 */
static const char *tenant_name_problem(const char *path, char *name, size_t cap)
{
  size_t len;
  const char *stem = tenant_stem(path, &len);

  if (!stem)
    return "not a tenant file";
  if (!str_is_utf8(stem, len))
    return "the file name is not valid UTF-8, so it is no tenant's name; "
           "the file is not read";
  if (len >= cap)
    len = cap - 1;
  memcpy(name, stem, len);
  name[len] = '\0';
  if (!naming_is_label(name))
    return "the file name is not a tenant name (1 to 63 lowercase "
           "letters, digits and '-', starting and ending with a letter or "
           "digit); the file is not read";
  return NULL;
}

bool manifest_path_tenant(const char *path, char *name, size_t cap)
{
  char buf[NAMING_RESOURCE_MAX + 2];

  if (tenant_name_problem(path, buf, sizeof(buf)))
    return false;
  if (name && cap)
    snprintf(name, cap, "%s", buf);
  return true;
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

void manifest_files_add_gone(struct manifest_files *f, const char *path)
{
  files_append(f, path, NULL, 0);
  f->v[f->n - 1].gone = true;
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
  manifest__rules_free(doc->rules);
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

/* prev's document for f, taken over (its slot emptied), when the file
 * carries the key prev's was read from; NULL otherwise. */
static struct manifest_doc *take_prev(struct manifest_doc **slot,
                                      const struct manifest_file *f)
{
  struct manifest_doc *doc = NULL;

  if (f->key[0] && slot && *slot && strcmp((*slot)->path, f->path) == 0 &&
      strcmp((*slot)->key, f->key) == 0) {
    doc = *slot;
    *slot = NULL;
  }
  return doc;
}

/* The caller promised a document prev does not have. */
static struct manifest_doc *load_unreusable(struct arena *scratch,
                                            const struct manifest_opts *opts,
                                            const char *path,
                                            enum doc_kind kind)
{
  return load_doc(scratch, opts, path, "", 0,
                  "internal: no earlier copy of this file to reuse; it is "
                  "held until the next full read",
                  kind);
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
  struct manifest_doc *doc = take_prev(slot, f);

  if (!doc && f->reused) {
    doc = load_unreusable(scratch, opts, f->path, kind);
  } else if (!doc) {
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

  if (f && f->gone)
    f = NULL;
  if (f)
    repo->platform = file_doc(repo, prev ? &prev->platform : NULL, scratch,
                              opts, f, DOC_PLATFORM);
  else
    yaml_diag_add(&repo->diags, PLATFORM_PATH, 0, 0,
                  "missing: every manifest repository needs a platform.yaml");

  f = files_find(files, TIERS_PATH);
  if (f && f->gone)
    f = NULL;
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

/*
 * Tenant files are decoded by several threads at once: a cold load of
 * ten thousand files is mostly libyaml, and each file decodes alone,
 * into its own document.  Each thread takes DECODE_CHUNK files at a
 * time, so uneven files still share the work out evenly.
 */
#define DECODE_CHUNK 16

struct decode_job {
  const struct manifest_opts *opts;
  const struct manifest_file **files;
  struct manifest_doc **docs; /* files[i]'s document, made here */
  size_t n;
  atomic_size_t next;
  /* The caller handed the files' bytes over (manifest_repo_load_consume):
   * each file's go once it is decoded. */
  bool consume;
};

/* A tenant file's bytes, no longer needed once decoded: a repository's
 * text and its model are not both held while the rules run. */
static void drop_data(const struct manifest_file *f)
{
  /* The files are the caller's, handed over: the cast only undoes the
   * const the loader sees them through. */
  struct manifest_file *own = (struct manifest_file *)f;

  free(own->data);
  own->data = NULL;
  own->len = 0;
}

static void decode_some(void *arg)
{
  struct decode_job *job = arg;
  struct arena scratch = ARENA_INIT;

  for (;;) {
    size_t at = atomic_fetch_add(&job->next, DECODE_CHUNK);

    if (at >= job->n)
      break;
    for (size_t i = at; i < job->n && i < at + DECODE_CHUNK; i++) {
      const struct manifest_file *f = job->files[i];

      job->docs[i] = load_doc(&scratch, job->opts, f->path, f->data, f->len,
                              f->problem, DOC_TENANT);
      memcpy(job->docs[i]->key, f->key, sizeof(job->docs[i]->key));
      if (job->consume)
        drop_data(f);
    }
  }
  arena_release(&scratch);
}

/* A tenant path refused for its name: reported at the path, recorded. */
static void refuse(struct manifest_repo *repo, const char *path,
                   const char *why)
{
  size_t n = repo->nrefused;

  yaml_diag_add(&repo->diags, path, 0, 0, why);
  /* Grown by doubling: at 0, 1, 2, 4, ... entries. */
  if ((n & (n - 1)) == 0)
    repo->refused =
        td_realloc(repo->refused, (n ? 2 * n : 1) * sizeof(*repo->refused));
  repo->refused[repo->nrefused++] = td_strdup(path);
}

/* The tenant files' paths in order, those gone from a listing of
 * changes included; those whose names are refused are reported and left
 * out. */
static const struct manifest_file **
tenant_files(struct manifest_repo *repo, const struct manifest_files *files,
             size_t *n)
{
  const struct manifest_file **v =
      td_calloc(files->n ? files->n : 1, sizeof(*v));
  bool sorted = true;

  *n = 0;
  for (size_t i = 0; i < files->n; i++) {
    char name[NAMING_RESOURCE_MAX + 2];
    const char *why;

    if (manifest_path_kind(files->v[i].path) != MP_TENANT)
      continue;
    why = files->v[i].gone
              ? NULL
              : tenant_name_problem(files->v[i].path, name, sizeof(name));
    if (why) {
      refuse(repo, files->v[i].path, why);
      continue;
    }
    v[(*n)++] = &files->v[i];
    if (*n > 1 && sorted && strcmp(v[*n - 2]->path, v[*n - 1]->path) > 0)
      sorted = false;
  }
  /* A tree's listing comes sorted already; a directory's seldom does. */
  if (!sorted)
    qsort(v, *n, sizeof(*v), file_path_cmp);
  return v;
}

/* prev's refused paths that a listing of changes does not name are
 * still there, unchanged, so still refused. */
static void carry_refused(struct manifest_repo *repo,
                          const struct manifest_files *files,
                          const struct manifest_repo *prev)
{
  for (size_t i = 0; i < prev->nrefused; i++) {
    char name[NAMING_RESOURCE_MAX + 2];
    const char *why = tenant_name_problem(prev->refused[i], name, sizeof(name));

    if (why && !files_find(files, prev->refused[i]))
      refuse(repo, prev->refused[i], why);
  }
}

/*
 * The tenant files, in path order, each taking prev's document of the
 * same path when its bytes are unchanged; the others are decoded (on
 * several threads), then every document's findings join the repo's in
 * path order.  For a listing of changes, prev's documents that no file
 * names move over as they are, and those of files gone stay behind.
 */
static void load_tenants(struct manifest_repo *repo,
                         const struct manifest_files *files,
                         const struct manifest_opts *opts,
                         struct manifest_repo *prev, struct arena *scratch,
                         bool consume)
{
  bool delta = files->delta_of != NULL;
  size_t nfiles = 0, np = prev ? prev->ntenants : 0, cap, n = 0, k = 0, *at;
  const struct manifest_file **tf = tenant_files(repo, files, &nfiles);
  struct decode_job job = {.opts = opts, .consume = consume};

  cap = nfiles + (delta ? np : 0);
  repo->tenants = td_calloc(cap ? cap : 1, sizeof(*repo->tenants));
  job.files = td_calloc(nfiles ? nfiles : 1, sizeof(*job.files));
  job.docs = td_calloc(nfiles ? nfiles : 1, sizeof(*job.docs));
  at = td_calloc(nfiles ? nfiles : 1, sizeof(*at));
  /* Both lists are sorted by path: one merge pairs each file with prev's
   * document of the same path. */
  for (size_t i = 0; i < nfiles; i++) {
    struct manifest_doc **slot = NULL, *doc;

    for (; k < np && strcmp(prev->tenants[k]->path, tf[i]->path) < 0; k++)
      if (delta) {
        repo->tenants[n++] = prev->tenants[k];
        prev->tenants[k] = NULL;
      }
    /* prev's document of this path is taken or replaced, never carried. */
    if (k < np && strcmp(prev->tenants[k]->path, tf[i]->path) == 0)
      slot = &prev->tenants[k++];
    if (tf[i]->gone)
      continue;
    doc = take_prev(slot, tf[i]);
    if (!doc && tf[i]->reused)
      doc = load_unreusable(scratch, opts, tf[i]->path, DOC_TENANT);
    if (!doc) {
      at[job.n] = n;
      job.files[job.n++] = tf[i];
    }
    repo->tenants[n++] = doc;
  }
  for (; delta && k < np; k++) {
    repo->tenants[n++] = prev->tenants[k];
    prev->tenants[k] = NULL;
  }
  atomic_init(&job.next, 0);
  manifest__on_threads(decode_some, &job,
                       manifest__pool_threads(opts->threads, job.n));
  for (size_t j = 0; j < job.n; j++)
    repo->tenants[at[j]] = job.docs[j];
  repo->ntenants = n;
  for (size_t i = 0; i < n; i++)
    add_own_diags(repo, repo->tenants[i]);
  if (delta)
    carry_refused(repo, files, prev);
  free(at);
  free(job.docs);
  free(job.files);
  free(tf);
}

/* A document may be acted on when it decoded and no diagnostic, its own
 * or a rule across documents, names its file.  `diags` is sorted. */
static void mark_valid(struct manifest_repo *repo)
{
  if (repo->platform)
    repo->platform->valid =
        repo->platform->u.platform &&
        !diag_sorted_has_path(&repo->diags, repo->platform->path);
  repo->ninvalid = 0;
  for (size_t i = 0; i < repo->ntenants; i++) {
    struct manifest_doc *doc = repo->tenants[i];

    doc->valid =
        doc->u.tenant && !diag_sorted_has_path(&repo->diags, doc->path);
    repo->ninvalid += !doc->valid;
  }
}

/* Whether the platform and the catalog are the ones prev was checked
 * against (moved over unchanged, or the built-in catalog both times). */
static bool same_base(const struct manifest_repo *repo,
                      const struct manifest_doc *prev_platform,
                      const struct manifest_doc *prev_catalog)
{
  bool builtin = repo->catalog && prev_catalog &&
                 strcmp(repo->catalog->path, BUILTIN_TIERS_PATH) == 0 &&
                 strcmp(prev_catalog->path, BUILTIN_TIERS_PATH) == 0;

  return repo->platform == prev_platform &&
         (repo->catalog == prev_catalog || builtin);
}

/* prev's tenant documents that were not moved over leave the index
 * before they are freed with prev. */
static void drop_from_index(struct manifest_repo *repo,
                            const struct manifest_repo *prev)
{
  for (size_t i = 0; repo->index && i < prev->ntenants; i++)
    if (prev->tenants[i] && prev->tenants[i]->rules)
      manifest__index_drop(repo->index, prev->tenants[i]->rules);
}

static void reload(struct manifest_repo **out,
                   const struct manifest_files *files,
                   const struct manifest_opts *opts, struct manifest_repo *prev,
                   bool consume)
{
  static const struct manifest_opts defaults = MANIFEST_OPTS_INIT;
  struct manifest_repo *repo = td_calloc(1, sizeof(*repo));
  struct arena scratch = ARENA_INIT;
  const struct manifest_doc *prev_platform = prev ? prev->platform : NULL;
  const struct manifest_doc *prev_catalog = prev ? prev->catalog : NULL;
  bool base_changed = true;

  if (!opts)
    opts = &defaults;
  assert(opts->version == MANIFEST_OPTS_VERSION);
  /* A listing of changes means nothing against another repo. */
  assert(!files->delta_of || files->delta_of == prev);

  load_platform_and_catalog(repo, files, opts, prev, &scratch);
  load_tenants(repo, files, opts, prev, &scratch, consume);
  if (prev) {
    /* The index moves over with the documents it holds. */
    repo->index = prev->index;
    prev->index = NULL;
    drop_from_index(repo, prev);
    base_changed = !same_base(repo, prev_platform, prev_catalog);
  }
  manifest_repo_free(prev);
  arena_release(&scratch);

  /* The catalog's validity decides whether tiers can be checked. */
  if (repo->catalog)
    repo->catalog->valid =
        repo->catalog->u.catalog &&
        diag_count_path(&repo->diags, repo->catalog->path) == 0;
  manifest__check_repo(repo, base_changed, opts->threads);
  diag_sort(&repo->diags);
  mark_valid(repo);
  *out = repo;
}

void manifest_repo_reload(struct manifest_repo **out,
                          const struct manifest_files *files,
                          const struct manifest_opts *opts,
                          struct manifest_repo *prev)
{
  reload(out, files, opts, prev, false);
}

void manifest_repo_load_consume(struct manifest_repo **out,
                                struct manifest_files *files,
                                const struct manifest_opts *opts)
{
  reload(out, files, opts, NULL, true);
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

const struct manifest_doc *
manifest_repo_find_tenant(const struct manifest_repo *repo, const char *path,
                          size_t *hint)
{
  struct manifest_doc **slot;

  if (*hint < repo->ntenants && repo->tenants[*hint] &&
      strcmp(repo->tenants[*hint]->path, path) == 0)
    return repo->tenants[(*hint)++];
  slot = tenant_slot(repo, path);
  if (!slot)
    return NULL;
  *hint = (size_t)(slot - repo->tenants) + 1;
  return *slot;
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
  for (size_t i = 0; i < repo->nrefused; i++)
    free(repo->refused[i]);
  free(repo->refused);
  diag_list_release(&repo->diags);
  manifest__index_free(repo->index);
  free(repo);
}
