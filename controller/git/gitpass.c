#include "base/compat.h"

#include <stdio.h>
#include <uv.h>

#include "base/error.h"
#include "git/gitpass.h"
#include "git/writeback.h"

/* ---- fetch on the threadpool ---- */

struct fetch_wait {
  bool done;
  int rc;
  char error[1024];
};

static void on_fetched(struct source *s, int rc, const char *error, void *arg)
{
  struct fetch_wait *fw = arg;

  (void)s;
  fw->done = true;
  fw->rc = rc;
  if (error)
    snprintf(fw->error, sizeof(fw->error), "%s", error);
}

/* Fetches off this thread, as the daemon does; 0 or -1 with the message
 * in fw->error. */
static int fetch(struct source *src, struct fetch_wait *fw)
{
  uv_loop_t loop;
  int rc;

  memset(fw, 0, sizeof(*fw));
  uv_loop_init(&loop);
  rc = source_fetch_start(&loop, src, on_fetched, fw);
  if (rc == 0)
    uv_run(&loop, UV_RUN_DEFAULT);
  else
    snprintf(fw->error, sizeof(fw->error), "%s", td_error_last());
  uv_loop_close(&loop);
  return rc < 0 ? rc : fw->rc;
}

/* ---- selection ---- */

/* Every status on the branch: who needs a retry, and inventory sizes. */
struct scan {
  struct strset *only; /* grows with tenants that need a retry */
  char **names;        /* tenant of each count */
  size_t *counts;      /* its inventory entries */
  size_t n, alloc;
};

static void scan_one(const char *tenant, const struct status_summary *sum,
                     void *arg)
{
  struct scan *sc = arg;

  /* Not Ready, or a source error to clear: reconcile it again. */
  if (sc->only && (!sum->readable || !sum->ready || sum->source_error))
    strset_add(sc->only, tenant);
  if (sc->n == sc->alloc) {
    sc->alloc = sc->alloc ? 2 * sc->alloc : 64;
    sc->counts = td_realloc(sc->counts, sc->alloc * sizeof(*sc->counts));
    sc->names = td_realloc(sc->names, sc->alloc * sizeof(*sc->names));
  }
  sc->names[sc->n] = td_strdup(tenant);
  sc->counts[sc->n++] = sum->ninventory;
}

/* Inventory entries of the tenants outside `only`. */
static size_t managed_outside(const struct scan *sc, const struct strset *only)
{
  size_t total = 0;

  for (size_t i = 0; i < sc->n; i++)
    if (only && !strset_has(only, sc->names[i]))
      total += sc->counts[i];
  return total;
}

static void scan_release(struct scan *sc)
{
  for (size_t i = 0; i < sc->n; i++)
    free(sc->names[i]);
  free(sc->names);
  free(sc->counts);
}

static long allow_from_trailer(struct source *src, const char *commit, long cli)
{
  char value[64];
  char *end;
  long v;

  if (cli >= 0)
    return cli;
  if (source_trailer(src, commit, "Tenantd-Allow-Delete", value,
                     sizeof(value)) < 0)
    return -1;
  v = strtol(value, &end, 10);
  return *value && !*end && v >= 0 ? v : -1;
}

/* ---- apply ---- */

int gitpass_apply(struct source *src, const struct gitpass_opts *o,
                  struct gitpass_result *res)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct strset changed = STRSET_INIT, only = STRSET_INIT;
  struct scan sc = {0};
  struct writeback *wb = NULL;
  struct reconcile_opts rec = o->rec;
  struct reconcile_report report = {0};
  struct fetch_wait fw;
  char last[SOURCE_ID_LEN], push_error[1024] = "";
  bool all_changed = false, everyone, committed;
  uint64_t t_fetched, t_pushing;
  int rc, push;

  assert(o->version == GITPASS_OPTS_VERSION);
  memset(res, 0, sizeof(*res));
  memset(&fw, 0, sizeof(fw));
  if (!o->no_fetch) {
    uint64_t t0 = uv_hrtime();

    rc = fetch(src, &fw);
    res->fetch_seconds = (double)(uv_hrtime() - t0) / 1e9;
    res->fetched = rc == 0;
    if (rc < 0) {
      res->source_error = true;
      fprintf(rec.err, "tenantd: source error: %s\n", fw.error);
    }
  }
  t_fetched = uv_hrtime();
  rc = source_head(src, res->source);
  if (rc < 0) {
    rc = td_error("%s", fw.error[0] ? fw.error : td_error_last());
    goto out;
  }
  if (res->source_error)
    fprintf(rec.err,
            "tenantd: holding the last good manifests (%.12s); nothing is "
            "deleted for want of them\n",
            res->source);
  /* Nothing new and nothing asked for: a poll costs a fetch, no more. */
  if (!o->all && !res->source_error && o->seen &&
      strcmp(o->seen, res->source) == 0 && (!o->extra || o->extra->n == 0)) {
    res->skipped = true;
    rc = 0;
    goto out;
  }
  rc = writeback_open(&wb, src);
  if (rc == 0)
    rc = source_read_manifests(src, res->source, &files,
                               YAML_LIMITS_DEFAULT_MAX_BYTES,
                               rec.model ? *rec.model : NULL);
  if (rc < 0)
    goto out;

  /* What changed since the manifests the last status commit applied. */
  if (writeback_last_source(wb, last) == 0)
    rc = source_changes(src, last, res->source, &changed, &all_changed);
  else
    all_changed = true;
  if (rc < 0)
    goto out;
  everyone = o->all || all_changed || res->source_error;
  if (!everyone) {
    for (size_t i = 0; i < changed.n; i++)
      strset_add(&only, changed.v[i]);
    for (size_t i = 0; o->extra && i < o->extra->n; i++)
      strset_add(&only, o->extra->v[i]);
  }
  sc.only = everyone || o->no_retry ? NULL : &only;
  rc = writeback_summaries(wb, scan_one, &sc);
  if (rc < 0)
    goto out;
  strset_seal(&only);

  rec.files = &files;
  rec.source = res->source;
  rec.store = writeback_store(wb);
  rec.only = everyone ? NULL : &only;
  rec.changed = all_changed ? NULL : &changed;
  rec.managed_outside = managed_outside(&sc, rec.only);
  rec.source_error = res->source_error ? fw.error : NULL;
  rec.allow_delete = allow_from_trailer(src, res->source, o->allow_delete);
  rec.apply = true;
  rc = reconcile_once(&rec, &report);
  res->sum = report.sum;
  res->selected = report.n;
  if (rc < 0)
    goto out;

  rc = writeback_commit(wb, &report, res->source, res->status_commit);
  if (rc < 0)
    goto out;
  committed = rc == 1;
  res->status_commit[0] = '\0';
  t_pushing = uv_hrtime();
  res->commit_seconds = (double)(t_pushing - t_fetched) / 1e9;
  push = o->no_push ? 0 : writeback_push_status(wb);
  if (push < 0)
    snprintf(push_error, sizeof(push_error), "%s", td_error_last());
  /* Pushing may have replayed it on another writer's: its id now. */
  if (committed && writeback_tip(wb, res->status_commit) < 0)
    res->status_commit[0] = '\0';
  /* A note says how this commit was applied; not while it is stale. */
  rc = 0;
  if (!res->source_error)
    rc = writeback_note(wb, res->source, &report,
                        res->status_commit[0] ? res->status_commit : NULL);
  if (rc < 0)
    goto out;
  rc = 0;
  if (push == 0 && !o->no_push) {
    push = writeback_push_notes(wb);
    if (push < 0)
      snprintf(push_error, sizeof(push_error), "%s", td_error_last());
  }
  res->pushed = push == 0 && !o->no_push;
  res->push_seconds = (double)(uv_hrtime() - t_pushing) / 1e9;
  if (push < 0)
    fprintf(rec.err,
            "tenantd: status not pushed, kept in the cache for the next "
            "run: %s\n",
            push_error);
out:
  if (o->report) {
    *o->report = report;
    memset(&report, 0, sizeof(report));
  }
  reconcile_report_release(&report);
  writeback_close(wb);
  manifest_files_release(&files);
  strset_release(&changed);
  strset_release(&only);
  scan_release(&sc);
  return rc;
}

/* ---- plan ---- */

int gitpass_plan(struct source *src, const struct gitpass_opts *o,
                 struct gitpass_result *res)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct strset changed = STRSET_INIT;
  struct scan sc = {0};
  struct writeback *wb = NULL;
  struct reconcile_opts rec = o->rec;
  struct reconcile_report report = {0};
  struct fetch_wait fw;
  char head[SOURCE_ID_LEN], base[SOURCE_ID_LEN], mb[SOURCE_ID_LEN];
  bool all_changed = false;
  int rc;

  assert(o->version == GITPASS_OPTS_VERSION && o->ref);
  memset(res, 0, sizeof(*res));
  /* A plan on stale data would mislead a reviewer: fail instead. */
  if (fetch(src, &fw) < 0)
    return td_error("source error: %s", fw.error);
  rc = source_head(src, head);
  if (rc == 0)
    rc = source_fetch_ref(src, o->ref, res->source);
  if (rc == 0) {
    if (o->base)
      rc = source_fetch_ref(src, o->base, base);
    else
      memcpy(base, head, sizeof(base));
  }
  if (rc < 0)
    return rc;
  if (source_merge_base(src, base, res->source, mb) < 0)
    memcpy(mb, base, sizeof(mb));
  rc = source_changes(src, mb, res->source, &changed, &all_changed);
  if (rc == 0)
    rc = writeback_open(&wb, src);
  if (rc == 0)
    rc = source_read_manifests(src, res->source, &files,
                               YAML_LIMITS_DEFAULT_MAX_BYTES,
                               rec.model ? *rec.model : NULL);
  if (rc == 0)
    rc = writeback_summaries(wb, scan_one, &sc);
  if (rc < 0)
    goto out;

  rec.files = &files;
  rec.source = res->source;
  rec.store = writeback_store(wb);
  rec.only = all_changed ? NULL : &changed;
  rec.changed = all_changed ? NULL : &changed;
  rec.managed_outside = managed_outside(&sc, rec.only);
  rec.allow_delete = allow_from_trailer(src, res->source, o->allow_delete);
  rec.apply = false;
  rec.plan_diags = true;
  rec.print_diags = false;
  rc = reconcile_once(&rec, &report);
  res->sum = report.sum;
  res->selected = report.n;
out:
  reconcile_report_release(&report);
  writeback_close(wb);
  manifest_files_release(&files);
  strset_release(&changed);
  scan_release(&sc);
  return rc;
}
