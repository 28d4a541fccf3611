/*
 * summaries.c - the status summaries of the status branch, kept as an
 * index for the process's life and saved in the mirror for the next.
 */
#include "base/compat.h"

#include <pthread.h>
#include <stdio.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "git/source_git.h"
#include "git/writeback.h"
#include "git/writeback_internal.h"

/*
 * A summary is a function of a status blob's bytes, so summaries are kept
 * by blob id and never go stale.  The index lives as long as the process
 * (the daemon opens a writeback per pass) and is saved in the mirror for
 * the next process.  Besides, the last scan's answer is kept with the id
 * of the status directory it read, and a commit made here updates both in
 * place: a pass after a one-tenant commit replays the summaries without
 * reading the directory, let alone a status.
 */
#define SUMMARY_CACHE "tenantd-summaries"
/* Summaries found and not yet saved that make a save worth its cost. */
#define SUMMARY_SAVE_AFTER 64
/* A pass of more tenants than this, and more than a sixteenth of the
 * fleet, walks the rows rather than look each of its own up. */
#define OUTSIDE_LOOKUPS_MAX 64

struct summary_entry {
  git_oid blob;
  struct status_summary sum;
  bool used; /* a slot of the table that holds an entry */
};

/* The last scan: each status file, in the directory's order. */
struct summary_row {
  char *tenant;
  git_oid blob;
  struct status_summary sum;
};

static struct {
  pthread_mutex_t lock;
  char *path; /* the cache file of the mirror this index is for */
  struct summary_entry *slots; /* open addressing by blob id */
  size_t nslots, used;
  size_t unsaved; /* entries the file does not have */
  bool scanned;   /* the rows below are valid for `dir` */
  git_oid dir;    /* the status directory's tree they were read from */
  struct summary_row *rows;
  size_t nrows, rows_alloc;
  /* Over the rows, kept in step with them: the inventory entries, and
   * how many are not Ready (or unreadable, or hold a source error). */
  size_t inventory, unready;
} sums = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t slot_of(const git_oid *blob, size_t nslots)
{
  uint64_t h;

  memcpy(&h, blob->id, sizeof(h));
  return (size_t)(h % nslots);
}

static struct summary_entry *sums_find(const git_oid *blob)
{
  if (!sums.nslots)
    return NULL;
  for (size_t i = slot_of(blob, sums.nslots);; i = (i + 1) % sums.nslots) {
    if (!sums.slots[i].used)
      return NULL;
    if (git_oid_equal(&sums.slots[i].blob, blob))
      return &sums.slots[i];
  }
}

static void sums_put(const git_oid *blob, const struct status_summary *sum,
                     bool unsaved);

static void sums_grow(void)
{
  struct summary_entry *old = sums.slots;
  size_t nold = sums.nslots;

  sums.nslots = nold ? 2 * nold : 1024;
  sums.slots = td_calloc(sums.nslots, sizeof(*sums.slots));
  sums.used = 0;
  for (size_t i = 0; i < nold; i++)
    if (old[i].used)
      sums_put(&old[i].blob, &old[i].sum, false);
  free(old);
}

static void sums_put(const git_oid *blob, const struct status_summary *sum,
                     bool unsaved)
{
  struct summary_entry *e = sums_find(blob);

  if (e) {
    e->sum = *sum;
    return;
  }
  if ((sums.used + 1) * 2 > sums.nslots)
    sums_grow();
  for (size_t i = slot_of(blob, sums.nslots);; i = (i + 1) % sums.nslots)
    if (!sums.slots[i].used) {
      sums.slots[i] = (struct summary_entry){*blob, *sum, true};
      sums.used++;
      sums.unsaved += unsaved;
      return;
    }
}

static bool unready(const struct status_summary *sum)
{
  return !sum->readable || !sum->ready || sum->source_error;
}

/* A row's summary joins (sign 1) or leaves (-1) the totals. */
static void totals_count(const struct status_summary *sum, int sign)
{
  sums.inventory += (size_t)sign * sum->ninventory;
  sums.unready += (size_t)sign * unready(sum);
}

static void rows_clear(void)
{
  for (size_t i = 0; i < sums.nrows; i++)
    free(sums.rows[i].tenant);
  sums.nrows = 0;
  sums.inventory = sums.unready = 0;
  sums.scanned = false;
}

static void sums_reset(const char *path)
{
  rows_clear();
  free(sums.rows);
  free(sums.slots);
  free(sums.path);
  sums.rows = NULL;
  sums.rows_alloc = 0;
  sums.slots = NULL;
  sums.nslots = sums.used = sums.unsaved = 0;
  sums.path = td_strdup(path);
}

/* Lines "<blob hex> <readable><ready><source error> <inventory>". */
static void sums_load(const char *path)
{
  FILE *f = fopen(path, "r");
  char hex[64], flags[8];
  size_t ninv;

  while (f && fscanf(f, "%63s %7s %zu", hex, flags, &ninv) == 3) {
    struct status_summary sum = {0};
    git_oid blob;

    if (strlen(flags) != 3 || git_oid_fromstr(&blob, hex) < 0)
      break; /* a damaged cache is only a slower scan */
    sum.readable = flags[0] == '1';
    sum.ready = flags[1] == '1';
    sum.source_error = flags[2] == '1';
    sum.ninventory = ninv;
    sums_put(&blob, &sum, false);
  }
  if (f)
    fclose(f);
}

/* The file gets the entries of the last scan: it does not grow with
 * statuses that are gone. */
static void sums_save(const char *dir)
{
  struct {
    char *p;
    size_t n;
  } m = {0};
  FILE *f = open_memstream(&m.p, &m.n);

  for (size_t i = 0; i < sums.nrows; i++) {
    const struct summary_row *r = &sums.rows[i];
    char hex[SOURCE_ID_LEN];

    git_oid_tostr(hex, sizeof(hex), &r->blob);
    fprintf(f, "%s %d%d%d %zu\n", hex, r->sum.readable, r->sum.ready,
            r->sum.source_error, r->sum.ninventory);
  }
  fclose(f);
  /* Best effort: without it the next process reads more statuses. */
  if (fs_write_atomic(dir, SUMMARY_CACHE, m.p, m.n, 0600) == 0)
    sums.unsaved = 0;
  free(m.p);
}

/* The index belongs to one mirror at a time. */
static void sums_attach(struct writeback *wb)
{
  const char *dir = git_repository_path(wb->repo);
  char *path = td_asprintf("%s/%s", dir, SUMMARY_CACHE);

  if (!sums.path || strcmp(sums.path, path) != 0) {
    sums_reset(path);
    sums_load(path);
  }
  free(path);
}

static struct status_summary summary_of(const struct tenant_status *st)
{
  struct status_summary sum = {.readable = st != NULL};

  if (st) {
    sum.ready = st->cond[STATUS_READY].status;
    sum.source_error = st->cond[STATUS_SOURCE_ERROR].status;
    sum.ninventory = st->ninventory;
  }
  return sum;
}

static void row_add(const char *tenant, const git_oid *blob,
                    const struct status_summary *sum)
{
  if (sums.nrows == sums.rows_alloc) {
    sums.rows_alloc = sums.rows_alloc ? 2 * sums.rows_alloc : 256;
    sums.rows = td_realloc(sums.rows, sums.rows_alloc * sizeof(*sums.rows));
  }
  sums.rows[sums.nrows++] =
      (struct summary_row){td_strdup(tenant), *blob, *sum};
  totals_count(sum, 1);
}

static void summary_one(struct writeback *wb, const char *tenant,
                        const git_tree_entry *e, void *arg)
{
  const git_oid *blob = git_tree_entry_id(e);
  const struct summary_entry *hit = sums_find(blob);
  struct status_summary sum;

  (void)arg;
  if (hit) {
    sum = hit->sum;
  } else {
    struct tenant_status *st = NULL;

    /* An unreadable one is summarised as such (st stays NULL). */
    (void)writeback__read_blob_status(wb, tenant, blob, &st);
    sum = summary_of(st);
    tenant_status_free(st);
    sums_put(blob, &sum, true);
  }
  row_add(tenant, blob, &sum);
}

/* Reads the directory into the rows (summaries from the index where it
 * has them), and saves the index when enough is new. */
static int sums_scan(struct writeback *wb)
{
  int rc;

  rows_clear();
  rc = writeback__each_entry(wb, summary_one, NULL);
  sums.scanned = rc == 0;
  sums.dir = writeback__status_dir_id(wb);
  /* Statuses read here would be read again by the next process. */
  if (rc == 0 && sums.unsaved > 0)
    sums_save(git_repository_path(wb->repo));
  return rc;
}

/* Locks the index and brings its rows to wb's status directory: those
 * of the directory as last read (or as a commit here left it) stand. */
static int sums_current(struct writeback *wb)
{
  git_oid dir = writeback__status_dir_id(wb);

  pthread_mutex_lock(&sums.lock);
  sums_attach(wb);
  if (sums.scanned && git_oid_equal(&sums.dir, &dir))
    return 0;
  return sums_scan(wb);
}

int writeback_summaries(struct writeback *wb, writeback_summary_fn each,
                        void *arg)
{
  int rc = sums_current(wb);

  for (size_t i = 0; rc == 0 && i < sums.nrows; i++)
    each(sums.rows[i].tenant, &sums.rows[i].sum, arg);
  pthread_mutex_unlock(&sums.lock);
  return rc;
}

static size_t row_at(const char *tenant, bool *found);

/* The row of `tenant`, or NULL. */
static const struct summary_row *row_find(const char *tenant)
{
  bool found;
  size_t at = row_at(tenant, &found);

  return found ? &sums.rows[at] : NULL;
}

/* The walk writeback_summaries_outside() stands for. */
static void outside_walk(const struct strset *within, struct strset *retry,
                         size_t *outside)
{
  for (size_t i = 0; i < sums.nrows; i++) {
    const struct summary_row *r = &sums.rows[i];

    if (strset_has(within, r->tenant))
      continue;
    if (retry && unready(&r->sum))
      strset_add(retry, r->tenant);
    else
      *outside += r->sum.ninventory;
  }
}

int writeback_summaries_outside(struct writeback *wb,
                                const struct strset *within,
                                struct strset *retry, size_t *outside)
{
  int rc = sums_current(wb);

  *outside = 0;
  if (rc < 0 || !within) {
    pthread_mutex_unlock(&sums.lock);
    return rc;
  }
  /* Some status to retry, or much of the fleet within: walk them all. */
  if ((retry && sums.unready > 0) ||
      (within->n > OUTSIDE_LOOKUPS_MAX && within->n * 16 > sums.nrows)) {
    outside_walk(within, retry, outside);
  } else {
    *outside = sums.inventory;
    for (size_t i = 0; i < within->n; i++) {
      const struct summary_row *r = row_find(within->v[i]);

      if (r)
        *outside -= r->sum.ninventory;
    }
  }
  pthread_mutex_unlock(&sums.lock);
  return rc;
}

void writeback_summaries_forget(void)
{
  pthread_mutex_lock(&sums.lock);
  sums_reset("");
  free(sums.path);
  sums.path = NULL;
  pthread_mutex_unlock(&sums.lock);
}

/* The rows' order is the directory's: entries sorted by file name. */
static size_t row_lower_bound(const char *file)
{
  size_t lo = 0, hi = sums.nrows;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    char name[300];

    snprintf(name, sizeof(name), "%s.yaml", sums.rows[mid].tenant);
    if (strcmp(name, file) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Where the row of `tenant` is, or would go. */
static size_t row_at(const char *tenant, bool *found)
{
  char file[300];
  size_t at;

  snprintf(file, sizeof(file), "%s.yaml", tenant);
  at = row_lower_bound(file);
  *found = at < sums.nrows && strcmp(sums.rows[at].tenant, tenant) == 0;
  return at;
}

/* A status a commit made here wrote (st) or removed (st NULL). */
static void rows_update(const char *tenant, const git_oid *blob,
                        const struct tenant_status *st)
{
  bool found;
  size_t at = row_at(tenant, &found);
  if (found)
    totals_count(&sums.rows[at].sum, -1);
  if (!st) {
    if (found) {
      free(sums.rows[at].tenant);
      memmove(&sums.rows[at], &sums.rows[at + 1],
              (sums.nrows - at - 1) * sizeof(*sums.rows));
      sums.nrows--;
    }
    return;
  }
  if (!found) {
    if (sums.nrows == sums.rows_alloc) {
      sums.rows_alloc = sums.rows_alloc ? 2 * sums.rows_alloc : 256;
      sums.rows = td_realloc(sums.rows, sums.rows_alloc * sizeof(*sums.rows));
    }
    memmove(&sums.rows[at + 1], &sums.rows[at],
            (sums.nrows - at) * sizeof(*sums.rows));
    sums.rows[at].tenant = td_strdup(tenant);
    sums.nrows++;
  }
  sums.rows[at].blob = *blob;
  sums.rows[at].sum = summary_of(st);
  totals_count(&sums.rows[at].sum, 1);
}

/* A commit made here of `n` statuses: tenant[i] written (st[i], as the
 * blob blobs[i]) or removed (st[i] NULL).  The index learns them, and its
 * rows stay in step with the directory without reading it again. */
void writeback__sums_committed(struct writeback *wb, const git_oid *before,
                               const char *const *tenant,
                               const struct tenant_status *const *st,
                               const git_tree_update *up, size_t n)
{
  bool follow;

  pthread_mutex_lock(&sums.lock);
  sums_attach(wb);
  follow = sums.scanned && git_oid_equal(&sums.dir, before);
  for (size_t i = 0; i < n; i++) {
    if (st[i]) {
      struct status_summary sum = summary_of(st[i]);

      sums_put(&up[i].id, &sum, true);
    }
    if (follow)
      rows_update(tenant[i], &up[i].id, st[i]);
  }
  if (follow)
    sums.dir = writeback__status_dir_id(wb);
  else
    sums.scanned = false;
  /* A big commit (a first run) is worth saving for the next process. */
  if (sums.unsaved >= SUMMARY_SAVE_AFTER &&
      (sums.scanned || sums_scan(wb) == 0))
    sums_save(git_repository_path(wb->repo));
  pthread_mutex_unlock(&sums.lock);
}
