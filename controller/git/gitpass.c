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

/* Of the statuses outside the pass: who needs a retry, and how many
 * inventory entries the rest hold (the deletion guard's ratio), kept by
 * the summaries' index as totals (writeback_summaries_outside). */
struct scan {
  /* The pass's tenants before the scan, sealed; NULL: every one. */
  const struct strset *within;
  /* Grows with the tenants outside `within` that need a retry (NULL:
   * no retries); they join the pass. */
  struct strset *retry;
  size_t outside;
};

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

/* ---- trust ---- */

/* What the pass tells the reconciler about its commit, with the text its
 * borrowed strings point into. */
struct trust {
  struct reconcile_trust rt;
  char untrusted[768];
  char signature[600];
  char approvers[600];
  char approved_by[600];
};

/* Judges `commit` by the keys of the options; fills t and the result. */
static void judge(struct source *src, const struct gitpass_opts *o,
                  const char *commit, struct trust *t,
                  struct gitpass_result *res)
{
  struct verify_result r;

  memset(t, 0, sizeof(*t));
  t->rt.commit = commit;
  if (o->verify) {
    verify_commit(src, commit, o->verify, &r);
    t->rt.verify = true;
    verify_describe(&r, t->signature, sizeof(t->signature));
    t->rt.signature = t->signature;
    snprintf(res->verdict, sizeof(res->verdict), "%s", r.reason);
    if (r.verdict != VERIFY_GOOD) {
      snprintf(t->untrusted, sizeof(t->untrusted),
               "source untrusted: commit %.12s: %s", commit, r.reason);
      t->rt.untrusted = t->untrusted;
      res->untrusted = true;
    }
  }
  if (!o->approval || !o->gated)
    return;
  verify_approval(src, commit, o->approval, &r);
  res->approved = r.verdict == VERIFY_GOOD;
  if (!o->verify) {
    verify_describe(&r, t->signature, sizeof(t->signature));
    t->rt.signature = t->signature;
  }
  if (verify_signers(o->approval, t->approvers, sizeof(t->approvers)) < 0)
    snprintf(t->approvers, sizeof(t->approvers), "(%s)", td_error_last());
  if (res->approved)
    verify_describe(&r, t->approved_by, sizeof(t->approved_by));
  t->rt.gated = o->gated;
  t->rt.approved = res->approved;
  t->rt.approved_by = t->approved_by;
  t->rt.approvers = t->approvers;
}

/* Was the commit the last pass applied refused by source.verify?  Its
 * tenants were all held for it, so a trusted commit passes them all. */
static bool last_untrusted(struct source *src, const struct gitpass_opts *o,
                           const char *last, const char *tip)
{
  struct verify_result r;

  if (!o->verify || !last[0] || strcmp(last, tip) == 0 ||
      !source_has_commit(src, last))
    return false;
  verify_commit(src, last, o->verify, &r);
  return r.verdict != VERIFY_GOOD;
}

/* ---- apply ---- */

/* One apply pass's state, from the fetch to the push. */
struct apply_pass {
  struct source *src;
  const struct gitpass_opts *o;
  struct gitpass_result *res;
  FILE *err;
  struct fetch_wait fw;
  struct manifest_files files;
  struct strset changed, only;
  bool all_changed, everyone;
  struct scan sc;
  struct strset retry;
  struct writeback *wb;
  struct reconcile_report report;
  uint64_t t_fetched;
  bool planning;            /* plan the tip: change nothing */
  char last[SOURCE_ID_LEN]; /* the last status commit's source, or "" */
  struct trust trust;
  bool newly_approved; /* approved since the caller's last pass */
  bool model_current;  /* the caller's model is of this commit already */
};

/* Fetches (unless told not to) and reads the tip to apply: the new one,
 * or after a failed fetch the last good one. */
static int fetch_tip(struct apply_pass *ap)
{
  struct gitpass_result *res = ap->res;
  int rc;

  if (!ap->o->no_fetch) {
    uint64_t t0 = uv_hrtime();

    rc = fetch(ap->src, &ap->fw);
    res->fetch_seconds = (double)(uv_hrtime() - t0) / 1e9;
    res->fetched = rc == 0;
    /* A plan on stale data would mislead its reader: fail instead. */
    if (rc < 0 && ap->planning)
      return td_error("source error: %s", ap->fw.error);
    if (rc < 0) {
      res->source_error = true;
      fprintf(ap->err, "tenantd: source error: %s\n", ap->fw.error);
    }
  }
  ap->t_fetched = uv_hrtime();
  rc = source_head(ap->src, res->source);
  if (rc < 0)
    return td_error("%s", ap->fw.error[0] ? ap->fw.error : td_error_last());
  if (res->source_error)
    fprintf(ap->err,
            "tenantd: holding the last good manifests (%.12s); nothing is "
            "deleted for want of them\n",
            res->source);
  return 0;
}

/* Nothing new and nothing asked for: a poll costs a fetch, no more. */
static bool nothing_to_do(const struct apply_pass *ap)
{
  const struct gitpass_opts *o = ap->o;

  return !o->all && !ap->res->source_error && o->seen &&
         strcmp(o->seen, ap->res->source) == 0 &&
         (!o->extra || o->extra->n == 0);
}

/* The same once the approval is judged: a tag approving the tip since
 * the caller's last pass is something new. */
static bool still_nothing_to_do(struct apply_pass *ap)
{
  const struct gitpass_opts *o = ap->o;

  ap->newly_approved =
      o->approval && ap->res->approved && o->seen_approved == 0;
  return nothing_to_do(ap) && !ap->newly_approved;
}

/* Reads the tip's manifests and picks the tenants to reconcile: those
 * changed since the manifests the last status commit applied, the extra
 * ones asked for and, unless no_retry, every one not Ready. */
static int select_tenants(struct apply_pass *ap)
{
  const struct gitpass_opts *o = ap->o;
  struct manifest_repo *model = o->rec.model ? *o->rec.model : NULL;
  int rc;

  /* A resync pass on the commit the last pass loaded reads nothing. */
  ap->model_current = model && strcmp(model->commit, ap->res->source) == 0;
  rc = writeback_open(&ap->wb, ap->src);
  if (rc == 0 && !ap->model_current)
    rc = source_read_manifest_changes(ap->src, ap->res->source, &ap->files,
                                      YAML_LIMITS_DEFAULT_MAX_BYTES, model);
  if (rc < 0)
    return rc;
  if (writeback_last_source(ap->wb, ap->last) == 0)
    rc = source_changes(ap->src, ap->last, ap->res->source, &ap->changed,
                        &ap->all_changed);
  else
    ap->all_changed = true;
  if (rc < 0)
    return rc;
  /* What changed since an untrusted commit says nothing: it was never
   * applied.  Every tenant then, as from the start. */
  if (ap->res->untrusted ||
      last_untrusted(ap->src, o, ap->last, ap->res->source))
    ap->all_changed = true;
  ap->everyone = o->all || ap->all_changed || ap->res->source_error;
  if (!ap->everyone) {
    for (size_t i = 0; i < ap->changed.n; i++)
      strset_add(&ap->only, ap->changed.v[i]);
    for (size_t i = 0; o->extra && i < o->extra->n; i++)
      strset_add(&ap->only, o->extra->v[i]);
    strset_seal(&ap->only);
    ap->sc.within = &ap->only;
  }
  ap->sc.retry = o->no_retry && !ap->newly_approved ? NULL : &ap->retry;
  rc = writeback_summaries_outside(ap->wb, ap->sc.within, ap->sc.retry,
                                   &ap->sc.outside);
  if (rc < 0)
    return rc;
  for (size_t i = 0; i < ap->retry.n; i++)
    strset_add(&ap->only, ap->retry.v[i]);
  strset_seal(&ap->only);
  return 0;
}

/* The reconcile pass over the selected tenants: applied, or planned. */
static int run_pass(struct apply_pass *ap)
{
  struct reconcile_opts rec = ap->o->rec;
  int rc;

  rec.plan_repository = source_url(ap->src);
  rec.plan_head = ap->res->source;
  /* A selection by change is relative to what was last applied. */
  rec.plan_base = !ap->everyone && ap->last[0] ? ap->last : NULL;
  rec.files = &ap->files;
  rec.source = ap->res->source;
  rec.store = writeback_store(ap->wb);
  rec.only = ap->everyone ? NULL : &ap->only;
  rec.changed = ap->all_changed ? NULL : &ap->changed;
  rec.managed_outside = ap->sc.outside;
  rec.source_error = ap->res->source_error ? ap->fw.error : NULL;
  rec.allow_delete =
      allow_from_trailer(ap->src, ap->res->source, ap->o->allow_delete);
  rec.apply = !ap->planning;
  rec.trust = &ap->trust.rt;
  if (ap->planning) {
    rec.plan_diags = true;
    rec.print_diags = false;
  }
  rec.model_current = ap->model_current;
  rc = reconcile_once(&rec, &ap->report);
  /* The model left is this commit's (a pass fails after loading it). */
  if (rec.model && *rec.model)
    snprintf((*rec.model)->commit, sizeof((*rec.model)->commit), "%s",
             ap->res->source);
  ap->res->sum = ap->report.sum;
  ap->res->selected = ap->report.n;
  return rc;
}

/* Commits the statuses, notes the manifest commit and pushes both; a
 * push that fails leaves them in the mirror for the next pass. */
static int commit_and_push(struct apply_pass *ap)
{
  struct gitpass_result *res = ap->res;
  bool no_push = ap->o->no_push, committed;
  char push_error[1024] = "";
  uint64_t t_pushing;
  int rc, push;

  rc = writeback_commit(ap->wb, &ap->report, res->source, res->status_commit);
  if (rc < 0)
    return rc;
  committed = rc == 1;
  res->status_commit[0] = '\0';
  t_pushing = uv_hrtime();
  res->commit_seconds = (double)(t_pushing - ap->t_fetched) / 1e9;
  push = no_push ? 0 : writeback_push_status(ap->wb);
  if (push < 0)
    snprintf(push_error, sizeof(push_error), "%s", td_error_last());
  /* Pushing may have replayed it on another writer's: its id now. */
  if (committed && writeback_tip(ap->wb, res->status_commit) < 0)
    res->status_commit[0] = '\0';
  /* A note says how this commit was applied; not while it is stale. */
  if (!res->source_error) {
    rc = writeback_note(ap->wb, res->source, &ap->report,
                        res->status_commit[0] ? res->status_commit : NULL);
    if (rc < 0)
      return rc;
  }
  if (push == 0 && !no_push) {
    push = writeback_push_notes(ap->wb);
    if (push < 0)
      snprintf(push_error, sizeof(push_error), "%s", td_error_last());
  }
  res->pushed = push == 0 && !no_push;
  res->push_seconds = (double)(uv_hrtime() - t_pushing) / 1e9;
  if (push < 0)
    fprintf(ap->err,
            "tenantd: status not pushed, kept in the cache for the next "
            "run: %s\n",
            push_error);
  return 0;
}

static void apply_pass_release(struct apply_pass *ap)
{
  if (ap->o->report) {
    *ap->o->report = ap->report;
    memset(&ap->report, 0, sizeof(ap->report));
  }
  reconcile_report_release(&ap->report);
  writeback_close(ap->wb);
  manifest_files_release(&ap->files);
  strset_release(&ap->changed);
  strset_release(&ap->only);
  strset_release(&ap->retry);
}

static void apply_pass_init(struct apply_pass *ap, struct source *src,
                            const struct gitpass_opts *o,
                            struct gitpass_result *res)
{
  assert(o->version == GITPASS_OPTS_VERSION);
  memset(ap, 0, sizeof(*ap));
  ap->src = src;
  ap->o = o;
  ap->res = res;
  ap->err = o->rec.err;
  ap->files = (struct manifest_files)MANIFEST_FILES_INIT;
  ap->changed = (struct strset)STRSET_INIT;
  ap->only = (struct strset)STRSET_INIT;
  ap->retry = (struct strset)STRSET_INIT;
  memset(res, 0, sizeof(*res));
  res->result = PASS_ERROR;
}

int gitpass_apply(struct source *src, const struct gitpass_opts *o,
                  struct gitpass_result *res)
{
  struct apply_pass ap;
  int rc;

  apply_pass_init(&ap, src, o, res);
  rc = fetch_tip(&ap);
  /* Only an approval can be new on a tip already passed. */
  if (rc == 0 && nothing_to_do(&ap) && !o->approval) {
    res->skipped = true;
    goto out;
  }
  if (rc == 0)
    judge(src, o, res->source, &ap.trust, res);
  if (rc == 0 && still_nothing_to_do(&ap)) {
    res->skipped = true;
    goto out;
  }
  if (rc == 0)
    rc = select_tenants(&ap);
  if (rc == 0)
    rc = run_pass(&ap);
  if (rc == 0)
    rc = commit_and_push(&ap);
out:
  /* Kept is pushed, or in the mirror as asked, or nothing to keep. */
  if (rc == 0)
    res->result = pass_judge(PASS_MODE_APPLY, &res->sum, res->source_error,
                             res->pushed || o->no_push || res->skipped);
  apply_pass_release(&ap);
  return rc;
}

/* ---- plan ---- */

/*
 * The tracked branch's tip against what the providers hold: the tenants
 * an apply would take (every one, or with `all` false those changed since
 * the last status commit and those not Ready), nothing written.
 */
static int plan_tip(struct source *src, const struct gitpass_opts *o,
                    struct gitpass_result *res)
{
  struct apply_pass ap;
  int rc;

  apply_pass_init(&ap, src, o, res);
  ap.planning = true;
  rc = fetch_tip(&ap);
  if (rc == 0)
    judge(src, o, res->source, &ap.trust, res);
  if (rc == 0)
    rc = select_tenants(&ap);
  if (rc == 0)
    rc = run_pass(&ap);
  if (rc == 0)
    res->result = pass_judge(PASS_MODE_PLAN, &res->sum, false, true);
  apply_pass_release(&ap);
  return rc;
}

/* A ref's commit, the commit it is compared with (its merge base with
 * `base`, or the tracked branch) and the tenants it changed since. */
struct ref_plan {
  char head[SOURCE_ID_LEN], base[SOURCE_ID_LEN], mb[SOURCE_ID_LEN];
  struct strset changed;
  bool all_changed;
};

static int resolve_ref(struct source *src, const struct gitpass_opts *o,
                       struct gitpass_result *res, struct ref_plan *rp)
{
  struct fetch_wait fw;
  int rc;

  /* A plan on stale data would mislead a reviewer: fail instead. */
  if (fetch(src, &fw) < 0)
    return td_error("source error: %s", fw.error);
  rc = source_head(src, rp->head);
  if (rc == 0)
    rc = source_fetch_ref(src, o->ref, res->source);
  if (rc == 0) {
    if (o->base)
      rc = source_fetch_ref(src, o->base, rp->base);
    else
      memcpy(rp->base, rp->head, sizeof(rp->base));
  }
  if (rc < 0)
    return rc;
  if (source_merge_base(src, rp->base, res->source, rp->mb) < 0)
    memcpy(rp->mb, rp->base, sizeof(rp->mb));
  return source_changes(src, rp->mb, res->source, &rp->changed,
                        &rp->all_changed);
}

/* A pull request's plan: the tenants `ref` changed since it left `base`. */
static int plan_ref(struct source *src, const struct gitpass_opts *o,
                    struct gitpass_result *res)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct ref_plan rp = {.changed = STRSET_INIT};
  struct scan sc = {0};
  struct writeback *wb = NULL;
  struct reconcile_opts rec = o->rec;
  struct reconcile_report report = {0};
  struct trust trust;
  int rc;

  memset(res, 0, sizeof(*res));
  res->result = PASS_ERROR;
  rc = resolve_ref(src, o, res, &rp);
  if (rc == 0)
    judge(src, o, res->source, &trust, res);
  if (rc == 0)
    rc = writeback_open(&wb, src);
  if (rc == 0)
    rc = source_read_manifest_changes(src, res->source, &files,
                                      YAML_LIMITS_DEFAULT_MAX_BYTES,
                                      rec.model ? *rec.model : NULL);
  /* An untrusted ref says nothing any tenant may want: all are held. */
  if (rc == 0 && res->untrusted)
    rp.all_changed = true;
  rec.only = rp.all_changed ? NULL : &rp.changed;
  sc.within = rec.only;
  if (rc == 0)
    rc = writeback_summaries_outside(wb, sc.within, sc.retry, &sc.outside);
  if (rc < 0)
    goto out;

  rec.files = &files;
  rec.source = res->source;
  rec.store = writeback_store(wb);
  rec.trust = &trust.rt;
  rec.changed = rp.all_changed ? NULL : &rp.changed;
  rec.managed_outside = sc.outside;
  rec.allow_delete = allow_from_trailer(src, res->source, o->allow_delete);
  rec.apply = false;
  rec.plan_diags = true;
  rec.print_diags = false;
  rec.plan_repository = source_url(src);
  rec.plan_base = rp.mb;
  rec.plan_head = res->source;
  rc = reconcile_once(&rec, &report);
  res->sum = report.sum;
  res->selected = report.n;
  if (rc == 0)
    res->result = pass_judge(PASS_MODE_PLAN_GATE, &res->sum, false, true);
out:
  reconcile_report_release(&report);
  writeback_close(wb);
  manifest_files_release(&files);
  strset_release(&rp.changed);
  return rc;
}

int gitpass_plan(struct source *src, const struct gitpass_opts *o,
                 struct gitpass_result *res)
{
  assert(o->version == GITPASS_OPTS_VERSION);
  return o->ref ? plan_ref(src, o, res) : plan_tip(src, o, res);
}

/* ---- reading the status branch ---- */

/* The tenants whose files are in the manifests at `commit`. */
static int manifest_tenants(struct source *src, const char *commit,
                            struct strset *out)
{
  struct manifest_files files = MANIFEST_FILES_INIT;
  int rc = source_read_manifests(src, commit, &files,
                                 YAML_LIMITS_DEFAULT_MAX_BYTES, NULL);

  for (size_t i = 0; rc == 0 && i < files.n; i++) {
    const char *path = files.v[i].path;
    const char *name = path + strlen("tenants/");
    const char *dot = strrchr(name, '.');

    if (manifest_path_kind(path) == MP_TENANT && dot)
      strset_addn(out, name, (size_t)(dot - name));
  }
  strset_seal(out);
  manifest_files_release(&files);
  return rc;
}

int gitpass_view_open(struct source *src, FILE *err, struct gitpass_view *v)
{
  char id[SOURCE_ID_LEN];
  bool fetched;
  int rc;

  memset(v, 0, sizeof(*v));
  v->tenants = (struct strset)STRSET_INIT;
  v->url = source_url(src);
  v->status_branch = source_options(src)->status_branch;
  fetched = source_fetch(src) == 0;
  if (!fetched)
    fprintf(err, "tenantd: showing the cached status: %s\n", td_error_last());
  rc = writeback_open(&v->wb, src);
  if (rc < 0)
    return rc;
  v->has_status = writeback_tip(v->wb, id) == 0;
  if (source_head(src, v->head) < 0)
    v->head[0] = '\0';
  /* Nothing fetched and nothing cached: an error, not an empty table. */
  if (!fetched && !v->has_status && !v->head[0])
    return td_error("no status of %s in the cache", v->url);
  return v->head[0] ? manifest_tenants(src, v->head, &v->tenants) : 0;
}

void gitpass_view_release(struct gitpass_view *v)
{
  writeback_close(v->wb);
  strset_release(&v->tenants);
  v->wb = NULL;
}
