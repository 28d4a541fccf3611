/*
 * outcome.c - what a pass did to one tenant: the events and counts of its
 * actions, and its new status, built one concern at a time: where its
 * source comes from, the inventory and stalled resources the actions
 * leave, the Ready condition with the last error, the other conditions,
 * and whether the status says anything new; last, for the pass's output,
 * what did not converge, each said once.
 */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/strset.h"
#include "engine/pass.h"
#include "model/naming.h"

const char *const tenant_result_names[RESULT_COUNT] = {
    "ready", "suspended", "stalled", "held", "failed", "refused",
};

const char *const outcome_count_names[OUT_COUNT_MAX] = {
    "created",  "adopted",         "updated",        "replaced", "deleted",
    "orphaned", "drift corrected", "drift detected", "failed",
};

/* What the actions of a tenant came to. */
struct tally {
  size_t failed, changed, stalled, interrupted, adopted;
  bool timed;              /* a step made provider calls ... */
  uint64_t last_end_ms;    /* ... and the last ended this far into the pass */
  const char *first_error; /* borrowed from the run */
  const char *first_error_id;
};

static void event(struct reconcile_outcome *out, const char *fmt, ...)
    TD_PRINTF(2, 3);

static void event(struct reconcile_outcome *out, const char *fmt, ...)
{
  va_list ap;
  char *line;

  va_start(ap, fmt);
  if (vasprintf(&line, fmt, ap) < 0)
    abort();
  va_end(ap);
  out->events =
      td_realloc(out->events, (out->nevents + 1) * sizeof(*out->events));
  out->events[out->nevents++] = line;
}

static const char *cond_reason(bool ok, const char *yes, const char *no)
{
  return ok ? yes : no;
}

/*
 * Where a step's time went, said after its event: " in 2.95 s (+0.10 s
 * to +3.05 s)", the time from its first provider call to its end, and
 * when in the pass those came (both rounded alike, so a step that waited
 * for another never reads as starting before it ended); a service adds
 * how much of it went to the engine's wait until it turned healthy.
 * Empty when the action made no call.  A fixed size: events stay one
 * short line each.
 */
#define TIMING_MAX 112

static void timing_text(char buf[TIMING_MAX], const struct apply_timing *tm)
{
  double took = (double)tm->took_ms / 1000, from = (double)tm->start_ms / 1000,
         to = (double)(tm->start_ms + tm->took_ms) / 1000;

  if (tm->health_ms)
    snprintf(buf, TIMING_MAX,
             " in %.2f s, %.2f s of it until healthy (+%.2f s to +%.2f s)",
             took, (double)tm->health_ms / 1000, from, to);
  else
    snprintf(buf, TIMING_MAX, " in %.2f s (+%.2f s to +%.2f s)", took, from,
             to);
}

/* "updated <id> (attr, attr)": which fields an update changed. */
static void update_event(struct reconcile_outcome *out,
                         const struct plan_action *a, const char *timing)
{
  char fields[256] = "";
  size_t used = 0;

  for (size_t i = 0; i < a->diff.n && used < sizeof(fields) - 1; i++)
    used += (size_t)snprintf(fields + used, sizeof(fields) - used, "%s%s",
                             i ? ", " : "", a->diff.v[i].attr);
  event(out, "updated %s (%s)%s", a->res->id, fields, timing);
}

/* The event and count of an action that finished. */
static void action_event(struct reconcile_outcome *out,
                         const struct plan_action *a, enum apply_state s,
                         const char *message, const struct apply_timing *tm)
{
  static const char *const verb[PLAN_KIND_COUNT] = {
      [PLAN_CREATE] = "created",   [PLAN_UPDATE] = "updated",
      [PLAN_REPLACE] = "replaced", [PLAN_DELETE] = "deleted",
      [PLAN_ORPHAN] = "orphaned",
  };
  const char *id = a->res->id;
  char timing[TIMING_MAX] = "";

  if (a->needs_approval) {
    event(out, "awaiting approval: %s %s", plan_kind_names[a->kind], id);
    return;
  }
  if (tm)
    timing_text(timing, tm);
  if (s == APPLY_FAILED || s == APPLY_SKIPPED) {
    out->count[OUT_FAILED] += s == APPLY_FAILED;
    event(out, "%s %s %s: %s%s", s == APPLY_FAILED ? "failed" : "skipped",
          plan_kind_names[a->kind], id, message ? message : "", timing);
    return;
  }
  if (a->kind == PLAN_CONFLICT || a->kind == PLAN_STALLED) {
    event(out, "%s %s: %s", plan_kind_names[a->kind], id,
          a->note ? a->note : "");
    return;
  }
  if (a->drift && a->held) {
    out->count[OUT_DRIFT_DETECTED]++;
    event(out, "drift detected %s (driftPolicy report: not corrected)", id);
    return;
  }
  if (s != APPLY_DONE || !verb[a->kind])
    return;
  if (a->drift && (a->kind == PLAN_UPDATE || a->kind == PLAN_REPLACE ||
                   a->kind == PLAN_CREATE)) {
    out->count[OUT_DRIFT_CORRECTED]++;
    event(out, "drift corrected %s (%s)%s", id, verb[a->kind], timing);
    return;
  }
  out->count[a->kind == PLAN_CREATE    ? OUT_CREATED
             : a->kind == PLAN_UPDATE  ? OUT_UPDATED
             : a->kind == PLAN_REPLACE ? OUT_REPLACED
             : a->kind == PLAN_DELETE  ? OUT_DELETED
                                       : OUT_ORPHANED]++;
  if (a->kind == PLAN_UPDATE && a->diff.n)
    update_event(out, a, timing);
  else
    event(out, "%s %s%s", verb[a->kind], id, timing);
}

/*
 * A no-op written after all: what it refers to changed in this pass (a
 * route whose service's replicas were replaced), so apply resolved it
 * again.  Said and counted as an update, with the fields that changed.
 */
static void refreshed_event(struct reconcile_outcome *out,
                            const struct apply_run *run,
                            const struct plan_action *a,
                            const struct apply_timing *tm)
{
  const char *fields = apply_action_refreshed(run, a);
  char timing[TIMING_MAX] = "";

  if (tm)
    timing_text(timing, tm);
  out->count[OUT_UPDATED]++;
  event(out, "updated %s (%s, after what it refers to changed)%s", a->res->id,
        fields ? fields : "", timing);
}

static void clear_error(struct status_error *e)
{
  free(e->message);
  free(e->resource);
  free(e->path);
  memset(e, 0, sizeof(*e));
}

/*
 * A status that could not be read is kept as it is: its inventory is what
 * authorises pruning, so a person repairs it rather than tenantd
 * replacing it with an empty one.
 */
static void keep_unreadable(const struct reconcile_opts *o,
                            const struct tenant *t,
                            struct reconcile_summary *sum)
{
  fprintf(o->err, "tenantd: %s: status not written: %s\n", t->name, t->hold);
  t->out->unwritable = true;
  t->out->result = RESULT_HELD;
  event(t->out, "held: %s", t->hold);
  sum->failed++;
}

/* Whether a suspended tenant's plan held back a change: the new
 * manifests were then not applied. */
static bool suspended_change(const struct tenant_plan *tp)
{
  for (size_t i = 0; tp->suspended && i < tp->n; i++)
    if (tp->v[i].kind != PLAN_NOOP)
      return true;
  return false;
}

/* The source the status records: the manifests the tenant runs.  A held
 * tenant still runs what it last applied (none, before its first apply),
 * and so do a suspended one whose change waits and one whose manifests
 * did not change. */
static void set_source(const struct reconcile_opts *o, const struct tenant *t,
                       struct tenant_status *st, const char *refusal)
{
  /* A tenant whose changes waited for an approval ran the commit before
   * them, whatever changed since: it takes this one once applied. */
  bool waited = st->cond[STATUS_AWAITING_APPROVAL].status;
  bool take =
      !t->plan->held && !refusal && !suspended_change(t->plan) &&
      !t->plan->awaiting &&
      (!st->source || !o->changed || waited || strset_has(o->changed, t->name));

  if (!take)
    return;
  free(st->source);
  if (o->source) {
    st->source = td_strdup(o->source);
  } else {
    char *abs = realpath(o->dir, NULL);

    st->source = td_asprintf("dir:%s", abs ? abs : o->dir);
    free(abs);
  }
}

/* The tier the tenant now runs and what it costs, when its manifests
 * were applied (not held, refused, or waiting while suspended). */
static void set_tier(const struct tenant *t, struct tenant_status *st,
                     const char *refusal)
{
  const struct plan_cost *c = &t->plan->cost;

  if (t->plan->held || refusal || suspended_change(t->plan) ||
      t->plan->awaiting || !c->to_tier)
    return;
  free(st->tier);
  st->tier = td_strdup(c->to_tier);
  st->has_cost = c->to_known;
  st->monthly_cost = c->to;
}

/* A resource the breaker stopped: both values, so a person can see what
 * fights tenantd. */
static void record_stalled(struct tenant_status *st,
                           const struct plan_action *a)
{
  const struct diff_field *f = a->diff.n ? &a->diff.v[0] : NULL;
  char *want =
      f ? json_dumps(f->desired, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  char *have = f && f->observed
                   ? json_dumps(f->observed, JSON_ENCODE_ANY | JSON_COMPACT)
                   : NULL;

  tenant_status_stalled_add(st, a->res->id, f ? f->attr : "", want, have);
  free(want);
  free(have);
}

/* A resource now as the action left it, unless the entry says so already. */
static void inventory_put(struct tenant_status *st, const struct plan_action *a)
{
  const struct status_item *old = tenant_status_inventory_find(st, a->res->id);
  unsigned corrections = a->drift ? a->attempts : 0;
  bool prune_delete = a->res->deletion == DELETION_DELETE;
  struct status_item *it;
  char hash[17];

  if (a->hash[0])
    memcpy(hash, a->hash, sizeof(hash));
  else
    resource_spec_hash(a->res->spec, hash);
  if (old && strcmp(old->hash, hash) == 0 &&
      old->prune_delete == prune_delete && old->corrections == corrections)
    return;
  it = tenant_status_inventory_put(st, a->res->id,
                                   resource_type_name(a->res->type),
                                   a->res->provider, a->res->name, hash);
  it->prune_delete = prune_delete;
  it->corrections = corrections;
}

/* The inventory after an action that took effect. */
static void record_inventory(struct tenant_status *st,
                             const struct plan_action *a, struct tally *n)
{
  switch (a->kind) {
  case PLAN_DELETE:
  case PLAN_ORPHAN:
    tenant_status_inventory_remove(st, a->res->id);
    n->changed++;
    break;
  case PLAN_CREATE:
  case PLAN_UPDATE:
  case PLAN_REPLACE:
    n->changed++;
    /* fall through */
  case PLAN_NOOP:
    inventory_put(st, a);
    break;
  case PLAN_CONFLICT:
  case PLAN_STALLED:
  case PLAN_KIND_COUNT:
    break;
  }
}

/*
 * Counts a failed or skipped action, keeping the first error.  True when
 * the resource exists all the same: written but never healthy, it must be
 * inventoried or nothing could ever prune it.
 */
static bool record_failure(const struct apply_run *run,
                           const struct plan_action *a, enum apply_state s,
                           struct tally *n)
{
  if (s == APPLY_FAILED)
    n->failed++;
  else if (apply_action_cancelled(run, a))
    n->interrupted++;
  if (!n->first_error) {
    n->first_error = apply_action_message(run, a);
    n->first_error_id = a->res->id;
  }
  return apply_action_written(run, a);
}

/*
 * A resource that was there already under its own marker, missing from
 * the inventory: a pass created it and stopped before writing its status.
 * It is said and counted, so the counts add up to the inventory.
 */
static void record_adopted(struct reconcile_outcome *out,
                           const struct plan_action *a, struct tally *n)
{
  out->count[OUT_ADOPTED]++;
  n->adopted++;
  event(out, "adopted after an interrupted pass: %s", a->res->id);
}

/* Events, stalled resources and inventory, action by action; when the
 * tenant's last step ended (ms into the pass) in n->last_end_ms. */
static void record_actions(struct tenant_status *st, const struct tenant *t,
                           const struct apply_run *run, struct tally *n)
{
  tenant_status_stalled_clear(st);
  for (size_t k = 0; k < t->plan->n; k++) {
    const struct plan_action *a = &t->plan->v[k];
    enum apply_state s = apply_action_state(run, a);
    bool exists = s == APPLY_DONE;
    struct apply_timing tm;
    bool timed = apply_action_timing(run, a, &tm);

    n->timed |= timed;
    if (timed && tm.start_ms + tm.took_ms > n->last_end_ms)
      n->last_end_ms = tm.start_ms + tm.took_ms;
    if (a->kind == PLAN_NOOP && s == APPLY_DONE &&
        apply_action_written(run, a)) {
      refreshed_event(t->out, run, a, timed ? &tm : NULL);
      n->changed++;
    } else {
      action_event(t->out, a, s, apply_action_message(run, a),
                   timed ? &tm : NULL);
    }
    if (a->kind == PLAN_STALLED) {
      record_stalled(st, a);
      n->stalled++;
    }
    if (s == APPLY_FAILED || s == APPLY_SKIPPED)
      exists = record_failure(run, a, s, n);
    if (exists && a->adopted)
      record_adopted(t->out, a, n);
    if (exists)
      record_inventory(st, a, n);
  }
}

/* Ready False: nothing was planned, say why and where. */
static void ready_held(struct tenant_status *st, const struct tenant *t,
                       const char *now)
{
  tenant_status_set(st, STATUS_READY, false,
                    t->untrusted ? "SourceUntrusted"
                    : t->hold_at ? "InvalidManifest"
                                 : "Held",
                    t->hold, now);
  if (t->hold_at) {
    st->last_error.message = td_strdup(t->hold_at->msg);
    st->last_error.path = td_strdup(t->hold_at->path);
    st->last_error.line = t->hold_at->line;
    st->last_error.col = t->hold_at->col;
  } else {
    st->last_error.message = td_strdup(t->hold);
  }
  t->out->result = RESULT_HELD;
  event(t->out, "held: %s", t->hold);
}

/* Ready False: the whole pass was refused, nothing changed. */
static void ready_refused(struct tenant_status *st, const struct tenant *t,
                          const char *refusal, const char *now)
{
  tenant_status_set(st, STATUS_READY, false, "DeleteGuard", refusal, now);
  st->last_error.message = td_strdup(refusal);
  t->out->result = RESULT_REFUSED;
  event(t->out, "refused: %s", refusal);
}

/* "production, staging": the environments whose changes wait. */
static void awaiting_envs(const struct tenant_plan *tp, char *buf, size_t cap)
{
  struct strset envs = STRSET_INIT;
  size_t used = 0;

  buf[0] = '\0';
  for (size_t i = 0; i < tp->n; i++) {
    char env[NAMING_MAX];

    if (tp->v[i].needs_approval &&
        naming_id_environment(tp->v[i].res->id, env, sizeof(env)))
      strset_add(&envs, env);
  }
  strset_seal(&envs);
  for (size_t i = 0; i < envs.n && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
                             envs.v[i]);
  strset_release(&envs);
}

/* What waits for an approver, and who may give it. */
static char *awaiting_message(const struct reconcile_opts *o,
                              const struct tenant_plan *tp)
{
  const struct reconcile_trust *tr = o->trust;
  char envs[256];

  awaiting_envs(tp, envs, sizeof(envs));
  return td_asprintf(
      "%zu %s to %s %s for approval of commit %.12s by an approver (%s): "
      "an approver signs the commit or pushes a signed tag "
      "approved/<name> on it",
      tp->awaiting, tp->awaiting == 1 ? "change" : "changes", envs,
      tp->awaiting == 1 ? "waits" : "wait", tr && tr->commit ? tr->commit : "?",
      tr && tr->approvers && *tr->approvers ? tr->approvers : "none known");
}

/* Ready False: changes to a gated environment wait, the rest applied. */
static void ready_awaiting(const struct reconcile_opts *o,
                           struct tenant_status *st, const struct tenant *t,
                           const char *now)
{
  char *msg = awaiting_message(o, t->plan);

  tenant_status_set(st, STATUS_READY, false, "AwaitingApproval", msg, now);
  free(st->last_error.message);
  st->last_error.message = msg;
  t->out->result = RESULT_HELD;
}

/* Ready as the apply left it. */
static void ready_applied(const struct reconcile_opts *o,
                          struct tenant_status *st, const struct tenant *t,
                          const struct tally *n, const char *now)
{
  char msg[1024];

  /* Not started because a shutdown stopped the pass midway. */
  if (n->interrupted && !n->failed)
    snprintf(msg, sizeof(msg),
             "%zu resources, %zu changes not started (interrupted)",
             st->ninventory, n->interrupted);
  else
    snprintf(msg, sizeof(msg), "%zu resources, %zu failed", st->ninventory,
             n->failed);
  tenant_status_set(st, STATUS_READY,
                    n->failed == 0 && n->stalled == 0 && n->interrupted == 0,
                    n->failed        ? "ApplyFailed"
                    : n->interrupted ? "Interrupted"
                                     : "Applied",
                    msg, now);
  st->last_error.message = n->first_error ? td_strdup(n->first_error) : NULL;
  st->last_error.resource =
      n->first_error_id ? td_strdup(n->first_error_id) : NULL;
  t->out->result = n->failed || n->interrupted ? RESULT_FAILED
                   : n->stalled                ? RESULT_STALLED
                   : t->plan->suspended        ? RESULT_SUSPENDED
                                               : RESULT_READY;
  /* The last step of the chain: when the tenant was whole again. */
  if (t->out->result == RESULT_READY && n->timed)
    event(t->out, "ready %.2f s into the pass", (double)n->last_end_ms / 1000);
  if (t->plan->awaiting && t->out->result == RESULT_READY)
    ready_awaiting(o, st, t, now);
}

/* SourceUntrusted and AwaitingApproval, when they are configured (or
 * were, and are now cleared). */
static void set_trust(const struct reconcile_opts *o, struct tenant_status *st,
                      const struct tenant *t, const char *now)
{
  const struct reconcile_trust *tr = o->trust;
  const struct tenant_plan *tp = t->plan;

  if ((tr && tr->verify) || STATUS_COND_LISTED(st, STATUS_SOURCE_UNTRUSTED))
    tenant_status_set(st, STATUS_SOURCE_UNTRUSTED, t->untrusted,
                      t->untrusted       ? "Untrusted"
                      : tr && tr->verify ? "Verified"
                                         : "NotVerified",
                      t->untrusted ? t->hold : NULL, now);
  if (tp->awaiting) {
    char *msg = awaiting_message(o, tp);

    tenant_status_set(st, STATUS_AWAITING_APPROVAL, true, "AwaitingApproval",
                      msg, now);
    free(msg);
  } else if ((tr && tr->gated) ||
             STATUS_COND_LISTED(st, STATUS_AWAITING_APPROVAL)) {
    bool approved = tr && tr->gated && tr->approved;

    tenant_status_set(st, STATUS_AWAITING_APPROVAL, false,
                      approved ? "Approved" : "NothingWaiting",
                      approved && tr->approved_by && *tr->approved_by
                          ? tr->approved_by
                          : NULL,
                      now);
  }
}

/* Every condition but Ready. */
static void set_conditions(const struct reconcile_opts *o,
                           struct tenant_status *st, const struct tenant *t,
                           size_t stalled, const char *now)
{
  const struct tenant_plan *tp = t->plan;

  tenant_status_set(st, STATUS_RECONCILING, false, "Idle", NULL, now);
  tenant_status_set(st, STATUS_STALLED, stalled > 0,
                    cond_reason(stalled > 0, "NotConverging", "Converging"),
                    NULL, now);
  if (o->source_error)
    event(t->out, "source error, applying the last good manifests: %s",
          o->source_error);
  tenant_status_set(st, STATUS_SOURCE_ERROR, o->source_error != NULL,
                    cond_reason(!o->source_error, "SourceRead", "FetchFailed"),
                    o->source_error, now);
  tenant_status_set(
      st, STATUS_DRIFT_DETECTED, tp->drifted > 0,
      cond_reason(tp->drifted > 0,
                  tp->drift_report ? "DriftReported" : "DriftCorrected",
                  "NoDrift"),
      NULL, now);
  tenant_status_set(st, STATUS_SUSPENDED, tp->suspended,
                    cond_reason(tp->suspended, "Suspended", "Active"), NULL,
                    now);
}

/* Gone from the manifests with nothing left to manage: no status. */
static bool nothing_left(const struct tenant *t, const struct tenant_status *st,
                         const char *refusal, const struct tally *n)
{
  return !t->doc && !t->plan->held && !refusal && st->ninventory == 0 &&
         st->nstalled == 0 && n->failed == 0;
}

/* Whether the status is to be persisted: no heartbeat writes, only a
 * status that says something new.  Consumes `before`. */
static void settle(struct tenant *t, struct tenant_status *st, char *before,
                   const char *refusal, const struct tally *n)
{
  struct reconcile_outcome *out = t->out;
  char *after;

  if (nothing_left(t, st, refusal, n)) {
    out->status = NULL;
    out->changed = before != NULL;
    if (out->changed)
      event(out, "removed: no manifest and nothing left to manage");
    tenant_status_free(st);
    free(before);
    return;
  }
  after = tenant_status_format(st);
  out->changed = !before || strcmp(before, after) != 0;
  free(before);
  free(after);
}

void reconcile__outcome(const struct reconcile_opts *o, struct tenant *t,
                        const struct apply_run *run, const char *refusal,
                        struct reconcile_summary *sum)
{
  struct tally n = {0};
  struct tenant_status *st;
  char now[32];
  char *before;

  if (t->status_unreadable) {
    keep_unreadable(o, t, sum);
    return;
  }
  before = t->last ? tenant_status_format(t->last) : NULL;
  st = t->last ? t->last : tenant_status_new(t->name);
  t->last = NULL;
  t->out->status = st;
  status_now(now);
  set_source(o, t, st, refusal);
  set_tier(t, st, refusal);
  if (run)
    record_actions(st, t, run, &n);
  clear_error(&st->last_error);
  if (t->plan->held)
    ready_held(st, t, now);
  else if (refusal)
    ready_refused(st, t, refusal, now);
  else
    ready_applied(o, st, t, &n, now);
  set_conditions(o, st, t, n.stalled, now);
  set_trust(o, st, t, now);
  if (n.changed || n.adopted) {
    free(st->last_change);
    st->last_change = td_strdup(now);
  }
  sum->applied += n.changed;
  sum->adopted += n.adopted;
  sum->failed += n.failed;
  sum->stalled += n.stalled;
  settle(t, st, before, refusal, &n);
}

/* ---- problems: what did not converge, each said once ---- */

/* What a skipped action comes down to: the first action in the chain of
 * what it waited for that was not skipped itself (or a itself, when it
 * was skipped for another reason, such as a shutdown). */
static const struct plan_action *root_cause(const struct apply_run *run,
                                            const struct plan_action *a)
{
  const struct plan_action *c = a;

  for (;;) {
    const struct plan_action *next = apply_action_cause(run, c);

    if (!next)
      return c;
    c = next;
  }
}

/* A failure, a conflict or a stalled resource: what others are skipped
 * for. */
static bool is_root(const struct apply_run *run, const struct plan_action *a)
{
  return apply_action_state(run, a) == APPLY_FAILED || a->kind == PLAN_STALLED;
}

static void problem_line(FILE *out, const struct apply_run *run,
                         const struct plan_action *a, const char *indent)
{
  const char *what = a->kind == PLAN_CONFLICT                      ? "conflict"
                     : a->kind == PLAN_STALLED                     ? "stalled"
                     : apply_action_state(run, a) == APPLY_SKIPPED ? "skipped"
                                                                   : "failed";
  const char *why =
      a->kind == PLAN_STALLED ? a->note : apply_action_message(run, a);

  fprintf(out, "%s%-8s %s: %s\n", indent, what, a->res->id, why ? why : "");
}

/* A tenant's problems: each failure, with what was skipped because of it
 * indented below it; what was skipped for another reason on its own. */
static void tenant_problems(FILE *out, const struct apply_run *run,
                            const struct tenant_plan *tp, size_t *skipped)
{

  for (size_t k = 0; k < tp->n; k++) {
    const struct plan_action *a = &tp->v[k];
    enum apply_state s = apply_action_state(run, a);

    if (s == APPLY_SKIPPED)
      (*skipped)++;
    if (is_root(run, a)) {
      problem_line(out, run, a, "");
      for (size_t j = 0; j < tp->n; j++)
        if (apply_action_state(run, &tp->v[j]) == APPLY_SKIPPED &&
            root_cause(run, &tp->v[j]) == a)
          problem_line(out, run, &tp->v[j], "  ");
    } else if (s == APPLY_SKIPPED && !is_root(run, root_cause(run, a))) {
      problem_line(out, run, a, "");
    }
  }
}

/* Resources taken into the inventory: not problems, but said. */
static void tenant_adopted(FILE *out, const struct apply_run *run,
                           const struct tenant_plan *tp)
{
  for (size_t k = 0; k < tp->n; k++)
    if (tp->v[k].adopted && apply_action_state(run, &tp->v[k]) == APPLY_DONE)
      fprintf(out,
              "adopted  %s: created under its marker by an interrupted "
              "pass\n",
              tp->v[k].res->id);
}

void reconcile__problems(FILE *out, const struct apply_run *run,
                         const struct tenant_plan *tp, size_t *skipped)
{
  if (tp->held) {
    fprintf(out, "held     tenant %s: %s\n", tp->tenant, tp->held_reason);
    return;
  }
  tenant_adopted(out, run, tp);
  tenant_problems(out, run, tp, skipped);
}
