/*
 * daemon_load.c - what the daemon knows before its first pass: the
 * manifests loaded, the status branch read, the provider instances
 * openable.  Run on the pass thread, like a pass; see daemon__load().
 *
 * The daemon answers /readyz once this is done, without observing a
 * single resource: drift is then found by the resync, spread over its
 * period (daemon.c), not by a pass over every tenant in front of
 * readiness.  Nor is every status parsed before: the summaries say who
 * needs a pass now; the rows the API shows are read afterwards, a chunk
 * at a time between passes (daemon__rows()).
 */
#include "base/compat.h"

#include <stdio.h>
#include <uv.h>

#include "base/error.h"
#include "git/statusview.h"
#include "git/writeback.h"
#include "server/daemon_internal.h"

/* How a tenant's last pass ended, as its status says it. */
static enum tenant_result result_of(const struct tenant_status *st)
{
  const struct status_condition *ready = &st->cond[STATUS_READY];
  const char *reason = ready->reason ? ready->reason : "";

  if (ready->status)
    return st->cond[STATUS_SUSPENDED].status ? RESULT_SUSPENDED : RESULT_READY;
  if (strcmp(reason, "InvalidManifest") == 0 || strcmp(reason, "Held") == 0)
    return RESULT_HELD;
  if (strcmp(reason, "DeleteGuard") == 0)
    return RESULT_REFUSED;
  if (st->cond[STATUS_STALLED].status)
    return RESULT_STALLED;
  return RESULT_FAILED;
}

static struct loaded_tenant *add(struct daemon_load *l, const char *name)
{
  struct loaded_tenant *t;

  if (l->n == l->alloc) {
    l->alloc = l->alloc ? 2 * l->alloc : 256;
    l->v = td_realloc(l->v, l->alloc * sizeof(*l->v));
  }
  t = &l->v[l->n++];
  memset(t, 0, sizeof(*t));
  t->name = td_strdup(name);
  return t;
}

/* A status on the branch: the tenant's row and detail for the API, its
 * resources by type, and how its last pass ended. */
static void each_status(struct loaded_tenant *t, const struct tenant_status *st,
                        const char *error)
{
  json_t *detail;

  t->has_status = true;
  if (!st) {
    /* Unreadable: its next pass says why; it is held meanwhile. */
    t->row = statusview_row(t->name, NULL, error);
    t->result = RESULT_HELD;
    return;
  }
  t->result = result_of(st);
  t->row = statusview_row(t->name, st, NULL);
  if (!t->row)
    t->row = statusview_row(t->name, NULL, "its status is not valid UTF-8");
  detail = statusview_detail(st);
  t->detail =
      detail ? json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(detail);
  for (size_t i = 0; i < st->ninventory; i++) {
    int type = resource_type_parse(st->inventory[i].type);

    if (type >= 0)
      t->by_type[type]++;
  }
}

/* A status's summary: enough to know whether it needs a pass now. */
static void each_summary(const char *tenant, const struct status_summary *sum,
                         void *arg)
{
  struct daemon_load *l = arg;
  struct loaded_tenant *t = add(l, tenant);

  t->has_status = true;
  t->result = !sum->readable ? RESULT_HELD
              : sum->ready   ? RESULT_READY
                             : RESULT_FAILED;
  t->retry = !sum->readable || !sum->ready || sum->source_error;
}

static int by_name(const void *a, const void *b)
{
  return strcmp(((const struct loaded_tenant *)a)->name,
                ((const struct loaded_tenant *)b)->name);
}

/* Tenants of the manifests that have no status yet. */
static void add_unapplied(struct daemon_load *l,
                          const struct manifest_repo *repo)
{
  size_t known = l->n;

  /* No status read yet: no list to sort (and qsort of NULL is UB). */
  if (known > 1)
    qsort(l->v, l->n, sizeof(*l->v), by_name);
  for (size_t i = 0; i < repo->ntenants; i++) {
    char name[64];
    struct loaded_tenant key = {.name = name}, *t;

    if (!manifest_path_tenant(repo->tenants[i]->path, name, sizeof(name)))
      continue;
    if (known && bsearch(&key, l->v, known, sizeof(*l->v), by_name))
      continue;
    t = add(l, name);
    t->row = statusview_row(name, NULL, "not reconciled yet");
    t->result = RESULT_READY;
  }
  if (l->n > 1)
    qsort(l->v, l->n, sizeof(*l->v), by_name);
}

/* The manifests of `head`, reusing what the daemon loaded before. */
static int load_manifests(struct daemon_load *l, struct source *src)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  const struct manifest_opts mopts = MANIFEST_OPTS_INIT;
  struct manifest_repo *repo = NULL;
  int rc = source_read_manifest_changes(
      src, l->head, &files, YAML_LIMITS_DEFAULT_MAX_BYTES, *l->model);

  if (rc == 0) {
    manifest_repo_reload(&repo, &files, &mopts, *l->model);
    snprintf(repo->commit, sizeof(repo->commit), "%s", l->head);
    *l->model = repo;
  }
  manifest_files_release(&files);
  return rc;
}

/* What changed since the manifests the status branch last recorded. */
static int changes(struct daemon_load *l, struct source *src,
                   struct writeback *wb)
{
  char last[SOURCE_ID_LEN];

  if (writeback_last_source(wb, last) < 0) {
    l->all = true;
    return 0;
  }
  return source_changes(src, last, l->head, &l->changed, &l->all);
}

static void fetch(struct daemon_load *l, struct source *src)
{
  uint64_t t0 = uv_hrtime();

  l->fetched = source_fetch(src) == 0;
  l->fetch_seconds = (double)(uv_hrtime() - t0) / 1e9;
  if (!l->fetched)
    snprintf(l->fetch_error, sizeof(l->fetch_error), "%s", td_error_last());
}

int daemon__load(struct daemon_load *l)
{
  struct source *src = NULL;
  struct writeback *wb = NULL;
  int rc;

  l->changed = (struct strset)STRSET_INIT;
  rc = reconcile_check_providers(l->providers);
  if (rc == 0)
    rc = source_open(&src, l->so);
  if (rc == 0 && l->fetch)
    fetch(l, src);
  /* Without a fetch, the mirror's last tip: the view is stale, and the
   * daemon is not ready until a fetch succeeds. */
  if (rc == 0)
    rc = source_head(src, l->head);
  if (rc == 0)
    rc = writeback_open(&wb, src);
  if (rc == 0)
    rc = load_manifests(l, src);
  if (rc == 0)
    rc = changes(l, src, wb);
  if (rc == 0)
    rc = writeback_summaries(wb, each_summary, l);
  if (rc == 0)
    add_unapplied(l, *l->model);
  /* Status commits a run before could not push go out now. */
  if (rc == 0 && l->push && l->fetched && writeback_push(wb) < 0)
    snprintf(l->push_error, sizeof(l->push_error), "%s", td_error_last());
  strset_seal(&l->changed);
  if (rc < 0)
    snprintf(l->error, sizeof(l->error), "%s", td_error_last());
  writeback_close(wb);
  source_close(src);
  return rc;
}

int daemon__rows(struct daemon_load *l, const struct strset *names)
{
  struct source *src = NULL;
  struct writeback *wb = NULL;
  struct status_store *store;
  int rc = source_open(&src, l->so);

  if (rc == 0)
    rc = writeback_open(&wb, src);
  store = rc == 0 ? writeback_store(wb) : NULL;
  for (size_t i = 0; rc == 0 && i < names->n; i++) {
    struct tenant_status *st = NULL;
    int got = store->read(store, names->v[i], &st);

    if (got == TD_ENOTFOUND)
      continue;
    each_status(add(l, names->v[i]), st, got < 0 ? td_error_last() : NULL);
    tenant_status_free(st);
  }
  if (rc < 0)
    snprintf(l->error, sizeof(l->error), "%s", td_error_last());
  writeback_close(wb);
  source_close(src);
  return rc;
}

void daemon__load_release(struct daemon_load *l)
{
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    json_decref(l->v[i].row);
    free(l->v[i].detail);
  }
  free(l->v);
  strset_release(&l->changed);
  memset(l, 0, sizeof(*l));
}
