#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <uv.h>

#include "engine/apply.h"
#include "engine/compose.h"
#include "base/error.h"
#include "base/fsutil.h"
#include "providers/provider.h"
#include "providers/common/ratelimit.h"
#include "engine/reconcile.h"
#include "engine/status.h"

struct instance {
  char *name;
  struct provider *p;
};

/* One tenant through the pass. */
struct tenant {
  char *name;
  const struct manifest_doc *doc; /* NULL when its file is gone */
  struct tenant_status *last;     /* NULL when never applied */
  struct resource_set desired;
  struct resource_set removed; /* inventory items no longer desired */
  json_t *observed;            /* id -> observed object */
  char *hold;                  /* why nothing is planned; owned */
  const struct diag *hold_at;  /* the manifest problem behind it, if any */
  bool status_unreadable;      /* never overwrite what we could not read */
  struct tenant_plan *plan;
  struct reconcile_outcome *out;
};

struct pass {
  const struct reconcile_opts *o;
  uv_loop_t loop;
  struct manifest_repo *repo;
  struct instance *inst;
  size_t ninst;
  struct tenant *t;
  size_t nt;
  json_t *index; /* tenant name -> position in t */
  struct reconcile_report *report;
  /* observation */
  struct read_job *reads;
  size_t nreads, next_read, reads_running, reads_done;
};

const char *const tenant_result_names[RESULT_COUNT] = {
    "ready", "suspended", "stalled", "held", "failed", "refused",
};

const char *const outcome_count_names[OUT_COUNT_MAX] = {
    "created",  "updated",         "replaced",       "deleted",
    "orphaned", "drift corrected", "drift detected", "failed",
};

struct read_job {
  struct pass *pass;
  struct tenant *t;
  const struct resource *r;
  unsigned attempt;
  uv_timer_t timer;
  bool timer_live;
};

static struct provider *find_instance(const char *name, void *arg)
{
  struct pass *ps = arg;

  for (size_t i = 0; i < ps->ninst; i++)
    if (strcmp(ps->inst[i].name, name) == 0)
      return ps->inst[i].p;
  return NULL;
}

static int open_providers(struct pass *ps)
{
  const char *name;
  json_t *cfg;

  ps->inst =
      td_calloc(json_object_size(ps->o->providers) + 1, sizeof(*ps->inst));
  json_object_foreach((json_t *)ps->o->providers, name, cfg)
  {
    const char *type = json_string_value(json_object_get(cfg, "type"));
    const struct provider_ops *ops = type ? provider_find_type(type) : NULL;
    json_t *limit = json_object_get(cfg, "rateLimit"), *own = NULL;
    char err[512] = "";
    int rc;

    if (!ops)
      return td_error("provider instance '%s': unknown type '%s'", name,
                      type ? type : "(none)");
    /* rateLimit is the controller's; the provider sees the rest. */
    if (limit) {
      own = json_copy(cfg);
      json_object_del(own, "rateLimit");
    }
    rc = provider_open(&ps->inst[ps->ninst].p, ops, name, own ? own : cfg,
                       &ps->loop, err, sizeof(err));
    json_decref(own);
    if (rc < 0)
      return td_error("provider instance '%s': %s", name, err);
    if (limit) {
      json_t *burst = json_object_get(limit, "burst");

      ps->inst[ps->ninst].p =
          ratelimit_wrap(ps->inst[ps->ninst].p,
                         json_number_value(json_object_get(limit, "qps")),
                         burst ? (unsigned)json_integer_value(burst) : 1);
    }
    ps->inst[ps->ninst++].name = td_strdup(name);
  }
  return 0;
}

static void on_instance_closed(struct provider *p, void *arg)
{
  (void)p;
  (void)arg;
}

static struct tenant *tenant_add(struct pass *ps, const char *name)
{
  json_t *known = json_object_get(ps->index, name);
  struct tenant *t;

  /* An index by name: 10,000 tenants must not cost 50 million strcmps. */
  if (known)
    return &ps->t[json_integer_value(known)];
  json_object_set_new(ps->index, name, json_integer((json_int_t)ps->nt));
  ps->t = td_realloc(ps->t, (ps->nt + 1) * sizeof(*ps->t));
  t = &ps->t[ps->nt++];
  memset(t, 0, sizeof(*t));
  t->name = td_strdup(name);
  t->observed = json_object();
  return t;
}

static void hold(struct tenant *t, const char *why)
{
  if (!t->hold)
    t->hold = td_strdup(why);
}

/* The first diagnostic of a file, as "path:line:col: message". */
static const struct diag *first_diag(const struct manifest_repo *repo,
                                     const char *path, char *buf, size_t cap)
{
  for (size_t i = 0; i < repo->diags.n; i++) {
    const struct diag *d = &repo->diags.v[i];

    if (strcmp(d->path, path) == 0) {
      if (d->line)
        snprintf(buf, cap, "%s:%u:%u: %s", d->path, d->line, d->col, d->msg);
      else
        snprintf(buf, cap, "%s: %s", d->path, d->msg);
      return d;
    }
  }
  snprintf(buf, cap, "%s is invalid", path);
  return NULL;
}

static void stem(const char *path, char *buf, size_t cap)
{
  const char *base = strrchr(path, '/');
  const char *dot;

  base = base ? base + 1 : path;
  dot = strrchr(base, '.');
  snprintf(buf, cap, "%.*s", (int)(dot ? dot - base : (long)strlen(base)),
           base);
}

/* Is the tenant `name` (or the file `path`) part of this pass? */
static bool selected(const struct pass *ps, const char *name, const char *path)
{
  char file_stem[256];

  if (!ps->o->only || strset_has(ps->o->only, name))
    return true;
  if (!path)
    return false;
  stem(path, file_stem, sizeof(file_stem));
  return strset_has(ps->o->only, file_stem);
}

static void add_listed(const char *name, void *arg)
{
  struct pass *ps = arg;

  if (selected(ps, name, NULL))
    tenant_add(ps, name);
}

/* Tenants from the manifests and from the status store. */
static int gather(struct pass *ps)
{
  const struct manifest_repo *repo = ps->repo;
  bool base_ok = repo->platform && repo->platform->valid && repo->catalog &&
                 repo->catalog->valid;
  char why[1024];
  bool any_invalid = false;

  for (size_t i = 0; i < repo->ntenants; i++)
    any_invalid |= !repo->tenants[i]->valid;
  for (size_t i = 0; i < repo->ntenants; i++) {
    const struct manifest_doc *doc = repo->tenants[i];
    const char *inner = doc->u.tenant ? doc->u.tenant->meta.name.v : NULL;
    char name[256];
    struct tenant *t;

    if (doc->valid)
      snprintf(name, sizeof(name), "%s", inner);
    else
      stem(doc->path, name, sizeof(name));
    if (!selected(ps, name, doc->path) && !(inner && selected(ps, inner, NULL)))
      continue;
    t = tenant_add(ps, name);
    t->doc = doc;
    if (!doc->valid) {
      t->hold_at = first_diag(repo, doc->path, why, sizeof(why));
      hold(t, why);
      /* The name inside the file may differ from the file's: hold both. */
      if (inner && strcmp(inner, name) != 0) {
        struct tenant *other = tenant_add(ps, inner);

        other->hold_at = first_diag(repo, doc->path, why, sizeof(why));
        hold(other, why);
        other->doc = doc;
      }
    }
  }
  if (ps->o->store->list(ps->o->store, add_listed, ps) < 0)
    return -1;

  for (size_t i = 0; i < ps->nt; i++) {
    struct tenant *t = &ps->t[i];
    int rc = ps->o->store->read(ps->o->store, t->name, &t->last);

    if (rc < 0 && rc != TD_ENOTFOUND) {
      snprintf(why, sizeof(why), "status unreadable: %s", td_error_last());
      hold(t, why);
      t->status_unreadable = true;
    }
    /*
     * A tenant with a status but no manifest is pruned, unless some tenant
     * file is invalid: that file may be this tenant under another name.
     */
    if (!t->doc && any_invalid)
      hold(t, "not pruned while a file under tenants/ is invalid (it may "
              "be this tenant)");
    if (!base_ok && !t->hold) {
      t->hold_at = first_diag(
          repo,
          repo->platform && !repo->platform->valid
              ? repo->platform->path
              : (repo->catalog ? repo->catalog->path : "platform.yaml"),
          why, sizeof(why));
      hold(t, why);
    }
    if (!t->hold && t->doc && compose_tenant(repo, t->doc, &t->desired) < 0)
      hold(t, td_error_last());
    resource_set_sort(&t->desired);
    /* Everything inventoried but no longer desired is read too. */
    for (size_t k = 0; !t->hold && t->last && k < t->last->ninventory; k++) {
      const struct status_item *it = &t->last->inventory[k];
      int type = resource_type_parse(it->type);

      if (type < 0 || resource_set_find(&t->desired, it->id))
        continue;
      resource_set_add(&t->removed,
                       resource_new((enum rtype)type, it->id, it->provider,
                                    t->name, it->name, NULL));
    }
  }
  return 0;
}

/* ---- observe: read every resource, bounded, retrying transient errors */

static void read_next(struct pass *ps);

static void read_timer_closed(uv_handle_t *h)
{
  (void)h;
}

static void on_read(struct provider *p, const struct provider_result *res,
                    void *arg);

/* Starts a read; false (and the tenant held) when there is no provider. */
static bool read_start(struct read_job *rj)
{
  struct provider *p = find_instance(rj->r->provider, rj->pass);

  if (!p) {
    char why[512];

    snprintf(why, sizeof(why),
             "provider instance '%s' (for %s) is not configured",
             rj->r->provider, rj->r->id);
    hold(rj->t, why);
    return false;
  }
  rj->pass->reads_running++;
  provider_read(p, rj->r, on_read, rj);
  return true;
}

static void on_retry(uv_timer_t *t)
{
  struct read_job *rj = container_of(t, struct read_job, timer);

  if (!read_start(rj)) {
    rj->pass->reads_done++;
    read_next(rj->pass);
  }
}

static void on_read(struct provider *p, const struct provider_result *res,
                    void *arg)
{
  struct read_job *rj = arg;
  struct pass *ps = rj->pass;

  (void)p;
  ps->reads_running--;
  if (res->status == PROVIDER_TRANSIENT &&
      ++rj->attempt < ps->o->max_attempts) {
    if (!rj->timer_live) {
      uv_timer_init(&ps->loop, &rj->timer);
      rj->timer_live = true;
    }
    uv_timer_start(&rj->timer, on_retry, ps->o->backoff_ms << (rj->attempt - 1),
                   0);
    return;
  }
  if (res->status == PROVIDER_OK) {
    json_object_set_new(rj->t->observed, rj->r->id,
                        json_deep_copy(res->observed));
  } else if (res->status != PROVIDER_NOT_FOUND) {
    char why[1024];

    /* Unknown is not absent: never plan on a failed read. */
    snprintf(why, sizeof(why), "cannot observe %s: %s: %s", rj->r->id,
             provider_status_name(res->status),
             res->message ? res->message : "");
    hold(rj->t, why);
  }
  ps->reads_done++;
  read_next(ps);
}

static void read_next(struct pass *ps)
{
  while (ps->next_read < ps->nreads && ps->reads_running < ps->o->concurrency) {
    struct read_job *rj = &ps->reads[ps->next_read++];

    /* Iterative, not recursive: thousands of unconfigured instances
     * must not grow the stack. */
    if (rj->t->hold || !read_start(rj)) {
      ps->reads_done++;
      continue;
    }
  }
}

static void observe(struct pass *ps)
{
  size_t n = 0;

  for (size_t i = 0; i < ps->nt; i++)
    n += ps->t[i].desired.n + ps->t[i].removed.n;
  ps->reads = td_calloc(n ? n : 1, sizeof(*ps->reads));
  for (size_t i = 0; i < ps->nt; i++) {
    struct tenant *t = &ps->t[i];

    for (size_t k = 0; k < t->desired.n; k++)
      ps->reads[ps->nreads++] =
          (struct read_job){.pass = ps, .t = t, .r = t->desired.v[k]};
    for (size_t k = 0; k < t->removed.n; k++)
      ps->reads[ps->nreads++] =
          (struct read_job){.pass = ps, .t = t, .r = t->removed.v[k]};
  }
  read_next(ps);
  uv_run(&ps->loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < ps->nreads; i++)
    if (ps->reads[i].timer_live)
      uv_close((uv_handle_t *)&ps->reads[i].timer, read_timer_closed);
  uv_run(&ps->loop, UV_RUN_DEFAULT);
}

/* ---- plan ---- */

static const json_t *observed_of(const char *id, void *arg)
{
  struct tenant *t = arg;

  return json_object_get(t->observed, id);
}

static void make_plans(struct pass *ps)
{
  const struct mf_platform *plat =
      ps->repo->platform && ps->repo->platform->valid
          ? ps->repo->platform->u.platform
          : NULL;

  for (size_t i = 0; i < ps->nt; i++) {
    struct tenant *t = &ps->t[i];
    struct plan_input in = {0};

    if (t->hold) {
      t->plan =
          plan_tenant_hold(t->name, t->hold, t->last ? t->last->ninventory : 0);
      continue;
    }
    in.tenant = t->name;
    in.desired = &t->desired;
    in.last = t->last;
    in.observed = observed_of;
    in.arg = t;
    in.suspended = t->doc && t->doc->u.tenant->spec.suspend.v;
    in.drift_report =
        plat && plat->spec.policies.drift_policy.v == MF_DRIFT_REPORT;
    in.stall_after = plat ? (unsigned)plat->spec.policies.stall_after.v : 3;
    in.no_prune = plat && !plat->spec.policies.prune.v;
    t->plan = plan_tenant(&in);
  }
}

/* ---- status ---- */

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

/* The event and count of an action that finished. */
static void action_event(struct reconcile_outcome *out,
                         const struct plan_action *a, enum apply_state s,
                         const char *message)
{
  static const char *const verb[PLAN_KIND_COUNT] = {
      [PLAN_CREATE] = "created",   [PLAN_UPDATE] = "updated",
      [PLAN_REPLACE] = "replaced", [PLAN_DELETE] = "deleted",
      [PLAN_ORPHAN] = "orphaned",
  };
  const char *id = a->res->id;

  if (s == APPLY_FAILED || s == APPLY_SKIPPED) {
    out->count[OUT_FAILED] += s == APPLY_FAILED;
    event(out, "%s %s %s: %s", s == APPLY_FAILED ? "failed" : "skipped",
          plan_kind_names[a->kind], id, message ? message : "");
    return;
  }
  if (a->kind == PLAN_CONFLICT) {
    event(out, "conflict %s: %s", id, a->note ? a->note : "");
    return;
  }
  if (a->kind == PLAN_STALLED) {
    event(out, "stalled %s: %s", id, a->note ? a->note : "");
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
    event(out, "drift corrected %s (%s)", id, verb[a->kind]);
    return;
  }
  out->count[a->kind == PLAN_CREATE    ? OUT_CREATED
             : a->kind == PLAN_UPDATE  ? OUT_UPDATED
             : a->kind == PLAN_REPLACE ? OUT_REPLACED
             : a->kind == PLAN_DELETE  ? OUT_DELETED
                                       : OUT_ORPHANED]++;
  if (a->kind == PLAN_UPDATE && a->diff.n) {
    char fields[256] = "";
    size_t used = 0;

    for (size_t i = 0; i < a->diff.n && used < sizeof(fields) - 1; i++)
      used += (size_t)snprintf(fields + used, sizeof(fields) - used, "%s%s",
                               i ? ", " : "", a->diff.v[i].attr);
    event(out, "updated %s (%s)", id, fields);
    return;
  }
  event(out, "%s %s", verb[a->kind], id);
}

static void clear_error(struct status_error *e)
{
  free(e->message);
  free(e->resource);
  free(e->path);
  memset(e, 0, sizeof(*e));
}

/* The new status of a tenant and the outcome that carries it. */
static void update_status(struct pass *ps, struct tenant *t,
                          const struct apply_run *run, const char *refusal,
                          struct reconcile_summary *sum)
{
  struct reconcile_outcome *out = t->out;
  struct tenant_status *st;
  char now[32], msg[1024];
  char *before, *after;
  size_t failed = 0, changed = 0, stalled = 0, interrupted = 0;
  const char *first_error = NULL, *first_error_id = NULL;
  bool take_source;

  if (t->status_unreadable) {
    /* Its inventory is what authorises pruning: keep the stored status
     * for a person to repair rather than replace it with an empty one. */
    fprintf(ps->o->err, "tenantd: %s: status not written: %s\n", t->name,
            t->hold);
    out->unwritable = true;
    out->result = RESULT_HELD;
    event(out, "held: %s", t->hold);
    sum->failed++;
    return;
  }
  before = t->last ? tenant_status_format(t->last) : NULL;
  st = t->last ? t->last : tenant_status_new(t->name);
  t->last = NULL;
  out->status = st;
  status_now(now);

  /* A held tenant still runs what it last applied. */
  take_source =
      !st->source || (!t->plan->held && !refusal &&
                      (!ps->o->changed || strset_has(ps->o->changed, t->name)));
  if (take_source) {
    free(st->source);
    if (ps->o->source) {
      st->source = td_strdup(ps->o->source);
    } else {
      char *abs = realpath(ps->o->dir, NULL);

      st->source = td_asprintf("dir:%s", abs ? abs : ps->o->dir);
      free(abs);
    }
  }

  if (run)
    tenant_status_stalled_clear(st);
  for (size_t k = 0; run && k < t->plan->n; k++) {
    const struct plan_action *a = &t->plan->v[k];
    enum apply_state s = apply_action_state(run, a);
    char hash[17];

    action_event(out, a, s, apply_action_message(run, a));
    if (a->kind == PLAN_STALLED) {
      /* Both values, so a person can see what fights tenantd. */
      const struct diff_field *f = a->diff.n ? &a->diff.v[0] : NULL;
      char *want =
          f ? json_dumps(f->desired, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
      char *have = f && f->observed
                       ? json_dumps(f->observed, JSON_ENCODE_ANY | JSON_COMPACT)
                       : NULL;

      tenant_status_stalled_add(st, a->res->id, f ? f->attr : "", want, have);
      free(want);
      free(have);
      stalled++;
    }
    if (s == APPLY_FAILED || s == APPLY_SKIPPED) {
      if (s == APPLY_FAILED)
        failed++;
      else if (apply_action_cancelled(run, a))
        interrupted++;
      if (!first_error) {
        first_error = apply_action_message(run, a);
        first_error_id = a->res->id;
      }
      /* Written but never healthy: it exists, so it must be inventoried
       * or nothing could ever prune it. */
      if (!apply_action_written(run, a))
        continue;
    } else if (s != APPLY_DONE) {
      continue;
    }
    switch (a->kind) {
    case PLAN_DELETE:
    case PLAN_ORPHAN:
      tenant_status_inventory_remove(st, a->res->id);
      changed++;
      break;
    case PLAN_CREATE:
    case PLAN_UPDATE:
    case PLAN_REPLACE:
      changed++;
      /* fall through */
    case PLAN_NOOP: {
      const struct status_item *old =
          tenant_status_inventory_find(st, a->res->id);
      unsigned corrections = a->drift ? a->attempts : 0;
      struct status_item *it;

      resource_spec_hash(a->res->spec, hash);
      if (old && strcmp(old->hash, hash) == 0 &&
          old->prune_delete == (a->res->deletion == DELETION_DELETE) &&
          old->corrections == corrections)
        break;
      it = tenant_status_inventory_put(st, a->res->id,
                                       resource_type_name(a->res->type),
                                       a->res->provider, a->res->name, hash);
      it->prune_delete = a->res->deletion == DELETION_DELETE;
      it->corrections = corrections;
      break;
    }
    case PLAN_CONFLICT:
    case PLAN_STALLED:
    case PLAN_KIND_COUNT:
      break;
    }
  }

  clear_error(&st->last_error);
  if (t->plan->held) {
    tenant_status_set(st, STATUS_READY, false,
                      t->hold_at ? "InvalidManifest" : "Held", t->hold, now);
    if (t->hold_at) {
      st->last_error.message = td_strdup(t->hold_at->msg);
      st->last_error.path = td_strdup(t->hold_at->path);
      st->last_error.line = t->hold_at->line;
      st->last_error.col = t->hold_at->col;
    } else {
      st->last_error.message = td_strdup(t->hold);
    }
    out->result = RESULT_HELD;
    event(out, "held: %s", t->hold);
  } else if (refusal) {
    /* The whole pass was refused: nothing changed, say why. */
    tenant_status_set(st, STATUS_READY, false, "DeleteGuard", refusal, now);
    st->last_error.message = td_strdup(refusal);
    out->result = RESULT_REFUSED;
    event(out, "refused: %s", refusal);
  } else {
    /* Not started because a shutdown stopped the pass midway. */
    if (interrupted && !failed)
      snprintf(msg, sizeof(msg),
               "%zu resources, %zu changes not started (interrupted)",
               st->ninventory, interrupted);
    else
      snprintf(msg, sizeof(msg), "%zu resources, %zu failed", st->ninventory,
               failed);
    tenant_status_set(st, STATUS_READY,
                      failed == 0 && stalled == 0 && interrupted == 0,
                      failed        ? "ApplyFailed"
                      : interrupted ? "Interrupted"
                                    : "Applied",
                      msg, now);
    st->last_error.message = first_error ? td_strdup(first_error) : NULL;
    st->last_error.resource = first_error_id ? td_strdup(first_error_id) : NULL;
    out->result = failed || interrupted ? RESULT_FAILED
                  : stalled             ? RESULT_STALLED
                  : t->plan->suspended  ? RESULT_SUSPENDED
                                        : RESULT_READY;
  }
  tenant_status_set(st, STATUS_RECONCILING, false, "Idle", NULL, now);
  tenant_status_set(st, STATUS_STALLED, stalled > 0,
                    cond_reason(stalled > 0, "NotConverging", "Converging"),
                    NULL, now);
  if (ps->o->source_error)
    event(out, "source error, applying the last good manifests: %s",
          ps->o->source_error);
  tenant_status_set(
      st, STATUS_SOURCE_ERROR, ps->o->source_error != NULL,
      cond_reason(!ps->o->source_error, "SourceRead", "FetchFailed"),
      ps->o->source_error, now);
  tenant_status_set(
      st, STATUS_DRIFT_DETECTED, t->plan->drifted > 0,
      cond_reason(t->plan->drifted > 0,
                  t->plan->drift_report ? "DriftReported" : "DriftCorrected",
                  "NoDrift"),
      NULL, now);
  tenant_status_set(st, STATUS_SUSPENDED, t->plan->suspended,
                    cond_reason(t->plan->suspended, "Suspended", "Active"),
                    NULL, now);
  if (changed) {
    free(st->last_change);
    st->last_change = td_strdup(now);
  }
  sum->applied += changed;
  sum->failed += failed;
  sum->stalled += stalled;

  /* Gone from the manifests with nothing left to manage: no status. */
  if (!t->doc && !t->plan->held && !refusal && st->ninventory == 0 &&
      st->nstalled == 0 && failed == 0) {
    out->status = NULL;
    out->changed = before != NULL;
    if (out->changed)
      event(out, "removed: no manifest and nothing left to manage");
    tenant_status_free(st);
    free(before);
    return;
  }
  /* No heartbeat writes: only a status that says something new. */
  after = tenant_status_format(st);
  out->changed = !before || strcmp(before, after) != 0;
  free(before);
  free(after);
}

static void on_progress(const struct plan_action *a, int state,
                        const char *message, size_t done, size_t total,
                        void *arg)
{
  FILE *out = arg;

  if (state == APPLY_HELD || (state == APPLY_DONE && a->kind == PLAN_NOOP))
    return;
  fprintf(out, "[%zu/%zu] %-8s %s %s%s%s\n", done, total,
          plan_kind_names[a->kind], a->res->id, apply_state_names[state],
          message ? ": " : "", message ? message : "");
}

/* What did not converge, after the progress lines: one line each. */
static void report_problems(struct pass *ps, const struct apply_run *run,
                            struct reconcile_summary *sum)
{
  for (size_t i = 0; i < ps->nt; i++) {
    const struct tenant_plan *tp = ps->t[i].plan;

    if (tp->held) {
      fprintf(ps->o->out, "held     tenant %s: %s\n", tp->tenant,
              tp->held_reason);
      continue;
    }
    for (size_t k = 0; k < tp->n; k++) {
      const struct plan_action *a = &tp->v[k];
      enum apply_state s = apply_action_state(run, a);

      if (s == APPLY_SKIPPED)
        sum->skipped++;
      if (s == APPLY_FAILED || s == APPLY_SKIPPED || a->kind == PLAN_STALLED)
        fprintf(ps->o->out, "%-8s %s: %s\n",
                a->kind == PLAN_CONFLICT  ? "conflict"
                : a->kind == PLAN_STALLED ? "stalled"
                : s == APPLY_SKIPPED      ? "skipped"
                                          : "failed",
                a->res->id,
                a->kind == PLAN_STALLED ? a->note
                                        : apply_action_message(run, a));
    }
  }
}

static void on_applied(struct apply_run *run, void *arg)
{
  (void)run;
  (void)arg;
}

static int max_delete_percent(const struct pass *ps)
{
  const struct manifest_doc *p = ps->repo->platform;

  return p && p->valid ? (int)p->u.platform->spec.policies.max_delete_percent.v
                       : 10;
}

/* The problems of the platform, the catalog and the pass's tenants. */
static void pass_diags(const struct pass *ps, struct diag_list *out)
{
  const struct diag_list *d = &ps->repo->diags;

  for (size_t i = 0; i < d->n; i++) {
    const char *path = d->v[i].path;
    bool show = manifest_path_kind(path) != MP_TENANT;

    for (size_t k = 0; !show && k < ps->nt; k++)
      show = ps->t[k].doc && strcmp(ps->t[k].doc->path, path) == 0;
    if (show)
      diag_add(out, path, d->v[i].line, d->v[i].col, "%s", d->v[i].msg);
  }
}

static int outcome_cmp(const void *pa, const void *pb)
{
  const struct reconcile_outcome *a = pa, *b = pb;

  return strcmp(a->tenant, b->tenant);
}

int reconcile_once(const struct reconcile_opts *o,
                   struct reconcile_report *report)
{
  struct manifest_files own = MANIFEST_FILES_INIT;
  const struct manifest_files *files = o->files;
  const struct manifest_opts mopts = MANIFEST_OPTS_INIT;
  struct reconcile_summary *sum = &report->sum;
  struct pass ps = {0};
  struct tenant_plan **plans = NULL;
  struct apply_run *run = NULL;
  char refusal[512];
  bool refused = false;
  size_t deletes = 0, managed = o->managed_outside;
  int err = -1;

  assert(o->version == RECONCILE_OPTS_VERSION && o->store);
  memset(report, 0, sizeof(*report));
  ps.o = o;
  ps.report = report;
  ps.index = json_object();
  uv_loop_init(&ps.loop);
  if (!files) {
    if (manifest_files_read_dir(&own, o->dir, mopts.limits.max_bytes) < 0)
      goto out;
    files = &own;
  }
  if (o->model) {
    manifest_repo_reload(&ps.repo, files, &mopts, *o->model);
    *o->model = NULL;
  } else {
    manifest_repo_load(&ps.repo, files, &mopts);
  }
  if (o->print_diags)
    diag_print_text(&ps.repo->diags, o->err);
  if (open_providers(&ps) < 0 || gather(&ps) < 0)
    goto out;
  observe(&ps);
  make_plans(&ps);

  report->v = td_calloc(ps.nt ? ps.nt : 1, sizeof(*report->v));
  report->n = ps.nt;
  plans = td_calloc(ps.nt ? ps.nt : 1, sizeof(*plans));
  for (size_t i = 0; i < ps.nt; i++) {
    ps.t[i].out = &report->v[i];
    report->v[i].tenant = td_strdup(ps.t[i].name);
    plans[i] = ps.t[i].plan;
    deletes += tenant_plan_deletes(plans[i]);
    managed += plans[i]->managed;
    sum->tenants++;
    sum->held += plans[i]->held;
    sum->changes += tenant_plan_changes(plans[i]);
    sum->conflicts += plans[i]->count[PLAN_CONFLICT];
    sum->drifted += plans[i]->drifted;
  }
  refused = plan_guard(deletes, managed, max_delete_percent(&ps),
                       o->allow_delete, refusal, sizeof(refusal)) < 0;
  sum->refused = refused;
  if (!o->apply || refused) {
    struct diag_list shown = DIAG_LIST_INIT;
    struct plan_report rep = {.refusal = refused ? refusal : NULL,
                              .deletes = deletes,
                              .managed = managed,
                              .max_percent = max_delete_percent(&ps)};

    if (o->plan_diags) {
      pass_diags(&ps, &shown);
      rep.diags = &shown;
    }
    plan_print(plans, ps.nt, o->format, &rep, o->out);
    diag_list_release(&shown);
  }
  if (o->apply && refused)
    for (size_t i = 0; i < ps.nt; i++)
      update_status(&ps, &ps.t[i], NULL, refusal, sum);
  if (o->apply && !refused) {
    struct apply_opts ao = APPLY_OPTS_INIT;

    ao.concurrency = o->concurrency;
    ao.max_attempts = o->max_attempts;
    ao.backoff_ms = o->backoff_ms;
    ao.health_timeout_ms = o->health_timeout_ms;
    ao.provider = find_instance;
    ao.provider_arg = &ps;
    ao.cancel = o->cancel;
    if (o->progress) {
      ao.progress = on_progress;
      ao.progress_arg = o->out;
    }
    apply_start(&run, &ps.loop, plans, ps.nt, &ao, on_applied, NULL);
    uv_run(&ps.loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < ps.nt; i++)
      update_status(&ps, &ps.t[i], ps.t[i].plan->held ? NULL : run, NULL, sum);
    report_problems(&ps, run, sum);
  }
  qsort(report->v, report->n, sizeof(*report->v), outcome_cmp);
  err = 0;
out:
  apply_run_free(run);
  free(plans);
  for (size_t i = 0; i < ps.ninst; i++) {
    provider_close(ps.inst[i].p, on_instance_closed, NULL);
    free(ps.inst[i].name);
  }
  uv_run(&ps.loop, UV_RUN_DEFAULT);
  free(ps.inst);
  for (size_t i = 0; i < ps.nt; i++) {
    struct tenant *t = &ps.t[i];

    free(t->name);
    tenant_status_free(t->last);
    resource_set_release(&t->desired);
    resource_set_release(&t->removed);
    json_decref(t->observed);
    free(t->hold);
    tenant_plan_free(t->plan);
  }
  free(ps.t);
  json_decref(ps.index);
  free(ps.reads);
  if (o->model && ps.repo)
    *o->model = ps.repo;
  else
    manifest_repo_free(ps.repo);
  manifest_files_release(&own);
  if (uv_loop_close(&ps.loop) != 0 && err == 0)
    err = td_error("internal: handles left open on the loop");
  return err;
}

void reconcile_report_release(struct reconcile_report *report)
{
  for (size_t i = 0; i < report->n; i++) {
    struct reconcile_outcome *out = &report->v[i];

    free(out->tenant);
    tenant_status_free(out->status);
    for (size_t k = 0; k < out->nevents; k++)
      free(out->events[k]);
    free(out->events);
  }
  free(report->v);
  memset(report, 0, sizeof(*report));
}

size_t reconcile_report_write_dir(const struct reconcile_report *report,
                                  const char *dir, FILE *err)
{
  size_t failed = 0;

  for (size_t i = 0; i < report->n; i++) {
    const struct reconcile_outcome *out = &report->v[i];
    int rc;

    if (!out->changed || out->unwritable)
      continue;
    rc = out->status ? tenant_status_write(dir, out->status)
                     : tenant_status_remove(dir, out->tenant);
    if (rc < 0) {
      /* Without its status the next pass cannot prune safely. */
      fprintf(err, "tenantd: %s\n", td_error_last());
      failed++;
    }
  }
  return failed;
}
