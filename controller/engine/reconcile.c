/*
 * reconcile.c - one pass, phase by phase: load the manifests, open the
 * provider instances, gather the tenants, observe (observe.c), plan, guard,
 * print, apply, build the outcomes (outcome.c), close.  Each phase is one
 * function over the pass; reconcile_once() only sequences them.
 */
#include "base/compat.h"

#include <stdio.h>
#include <uv.h>

#include "base/error.h"
#include "engine/compose.h"
#include "engine/observe.h"
#include "engine/pass.h"
#include "model/naming.h"
#include "providers/common/callstats.h"
#include "providers/common/ratelimit.h"
#include "providers/provider.h"

struct instance {
  char *name;
  struct provider *p;
};

struct pass {
  const struct reconcile_opts *o;
  uv_loop_t loop;
  struct manifest_files own; /* the manifests read from o->dir */
  struct manifest_repo *repo;
  struct instance *inst;
  size_t ninst;
  struct tenant *t;
  size_t nt;
  json_t *index; /* tenant name -> position in t */
  struct reconcile_report *report;
  struct tenant_plan **plans; /* borrowed from t[i].plan, for plan and apply */
  size_t deletes, managed;    /* for the blast-radius guard */
  bool refused;
  char refusal[512];
  struct apply_run *run;
};

/* ---- providers ---- */

static struct provider *find_instance(const char *name, void *arg)
{
  struct pass *ps = arg;

  for (size_t i = 0; i < ps->ninst; i++)
    if (strcmp(ps->inst[i].name, name) == 0)
      return ps->inst[i].p;
  return NULL;
}

/* One instance from its entry in the controller config. */
static int open_instance(struct pass *ps, const char *name, const json_t *cfg)
{
  const char *type = json_string_value(json_object_get(cfg, "type"));
  const struct provider_ops *ops = type ? provider_find_type(type) : NULL;
  json_t *limit = json_object_get(cfg, "rateLimit"), *own = NULL;
  struct instance *in = &ps->inst[ps->ninst];
  char err[512] = "";
  int rc;

  if (!ops)
    return td_error("provider instance '%s': unknown type '%s'", name,
                    type ? type : "(none)");
  /* rateLimit and capacity are the controller's; the provider sees the
   * rest. */
  if (limit || json_object_get(cfg, "capacity")) {
    own = json_copy((json_t *)cfg);
    json_object_del(own, "rateLimit");
    json_object_del(own, "capacity");
  }
  rc = provider_open(&in->p, ops, name, own ? own : cfg, &ps->loop, err,
                     sizeof(err));
  json_decref(own);
  if (rc < 0)
    return td_error("provider instance '%s': %s", name, err);
  /* Counted inside the rate limit: a call's time is the provider's own. */
  in->p = callstats_wrap(in->p);
  if (limit) {
    json_t *burst = json_object_get(limit, "burst");

    in->p =
        ratelimit_wrap(in->p, json_number_value(json_object_get(limit, "qps")),
                       burst ? (unsigned)json_integer_value(burst) : 1);
  }
  in->name = td_strdup(name);
  ps->ninst++;
  return 0;
}

static int open_providers(struct pass *ps)
{
  const char *name;
  json_t *cfg;

  ps->inst =
      td_calloc(json_object_size(ps->o->providers) + 1, sizeof(*ps->inst));
  json_object_foreach((json_t *)ps->o->providers, name, cfg)
  {
    if (open_instance(ps, name, cfg) < 0)
      return -1;
  }
  return 0;
}

static void on_instance_closed(struct provider *p, void *arg)
{
  (void)p;
  (void)arg;
}

/* Closes every instance and runs the loop until they are gone. */
static void close_providers(struct pass *ps)
{
  for (size_t i = 0; i < ps->ninst; i++) {
    provider_close(ps->inst[i].p, on_instance_closed, NULL);
    free(ps->inst[i].name);
  }
  uv_run(&ps->loop, UV_RUN_DEFAULT);
  free(ps->inst);
  ps->inst = NULL;
  ps->ninst = 0;
}

/* ---- load ---- */

/* The manifests, from the caller's files or the directory. */
static int load(struct pass *ps)
{
  const struct reconcile_opts *o = ps->o;
  const struct manifest_files *files = o->files;
  const struct manifest_opts mopts = MANIFEST_OPTS_INIT;

  if (!files) {
    if (manifest_files_read_dir(&ps->own, o->dir, mopts.limits.max_bytes) < 0)
      return -1;
    files = &ps->own;
  }
  if (o->model) {
    manifest_repo_reload(&ps->repo, files, &mopts, *o->model);
    *o->model = NULL;
  } else {
    manifest_repo_load(&ps->repo, files, &mopts);
  }
  if (o->print_diags)
    diag_print_text(&ps->repo->diags, o->err);
  return 0;
}

/* ---- gather: the tenants of the pass ---- */

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

static void tenant_release(struct tenant *t)
{
  free(t->name);
  tenant_status_free(t->last);
  resource_set_release(&t->desired);
  resource_set_release(&t->removed);
  json_decref(t->observed);
  free(t->hold);
  tenant_plan_free(t->plan);
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

/* Holds t for the first problem of the file at `path`. */
static void hold_invalid(const struct pass *ps, struct tenant *t,
                         const char *path)
{
  char why[1024];

  t->hold_at = first_diag(ps->repo, path, why, sizeof(why));
  hold(t, why);
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

/* A tenant file of the pass; an invalid one holds its tenant. */
static void gather_doc(struct pass *ps, const struct manifest_doc *doc)
{
  const char *inner = doc->u.tenant ? doc->u.tenant->meta.name.v : NULL;
  char name[256];
  struct tenant *t;

  if (doc->valid)
    snprintf(name, sizeof(name), "%s", inner);
  else
    stem(doc->path, name, sizeof(name));
  if (!selected(ps, name, doc->path) && !(inner && selected(ps, inner, NULL)))
    return;
  t = tenant_add(ps, name);
  t->doc = doc;
  if (doc->valid)
    return;
  hold_invalid(ps, t, doc->path);
  /* The name inside the file may differ from the file's: hold both. */
  if (inner && strcmp(inner, name) != 0) {
    struct tenant *other = tenant_add(ps, inner);

    hold_invalid(ps, other, doc->path);
    other->doc = doc;
  }
}

static void add_listed(const char *name, void *arg)
{
  struct pass *ps = arg;

  if (selected(ps, name, NULL))
    tenant_add(ps, name);
}

/* Its last status; one that cannot be read holds the tenant. */
static void read_status(struct pass *ps, struct tenant *t)
{
  int rc = ps->o->store->read(ps->o->store, t->name, &t->last);
  char why[1024];

  if (rc < 0 && rc != TD_ENOTFOUND) {
    snprintf(why, sizeof(why), "status unreadable: %s", td_error_last());
    hold(t, why);
    t->status_unreadable = true;
  }
}

/* The file that makes every tenant wait: the platform or the catalog. */
static const char *base_path(const struct manifest_repo *repo)
{
  if (repo->platform && !repo->platform->valid)
    return repo->platform->path;
  return repo->catalog ? repo->catalog->path : "platform.yaml";
}

/* Everything inventoried but no longer desired is read too. */
static void gather_removed(struct tenant *t)
{
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

/* What the tenant wants and had, or why it is held. */
static void prepare(struct pass *ps, struct tenant *t, bool base_ok,
                    bool any_invalid)
{
  read_status(ps, t);
  /* An untrusted source says nothing about what any tenant wants. */
  if (ps->o->trust && ps->o->trust->untrusted && !t->hold) {
    hold(t, ps->o->trust->untrusted);
    t->untrusted = true;
  }
  /*
   * A tenant with a status but no manifest is pruned, unless some tenant
   * file is invalid: that file may be this tenant under another name.
   */
  if (!t->doc && any_invalid)
    hold(t, "not pruned while a file under tenants/ is invalid (it may "
            "be this tenant)");
  if (!base_ok && !t->hold)
    hold_invalid(ps, t, base_path(ps->repo));
  if (!t->hold && t->doc && compose_tenant(ps->repo, t->doc, &t->desired) < 0)
    hold(t, td_error_last());
  resource_set_sort(&t->desired);
  gather_removed(t);
}

/* Tenants from the manifests and from the status store. */
static int gather(struct pass *ps)
{
  const struct manifest_repo *repo = ps->repo;
  bool base_ok = repo->platform && repo->platform->valid && repo->catalog &&
                 repo->catalog->valid;
  bool any_invalid = false;

  /* A file refused for its name (acme.yaml renamed Acme.yaml) may be a
   * tenant whose file only seems gone: hold removals as for an invalid
   * one. */
  any_invalid = repo->nrefused > 0;
  for (size_t i = 0; i < repo->ntenants; i++)
    any_invalid |= !repo->tenants[i]->valid;
  for (size_t i = 0; i < repo->ntenants; i++)
    gather_doc(ps, repo->tenants[i]);
  if (ps->o->store->list(ps->o->store, add_listed, ps) < 0)
    return -1;
  for (size_t i = 0; i < ps->nt; i++)
    prepare(ps, &ps->t[i], base_ok, any_invalid);
  return 0;
}

/* ---- observe ---- */

/* Every desired and removed resource of every tenant, tenant by tenant. */
static void observe(struct pass *ps)
{
  struct observe_opts oo = {
      .concurrency = ps->o->concurrency,
      .max_attempts = ps->o->max_attempts,
      .backoff_ms = ps->o->backoff_ms,
      .provider = find_instance,
      .provider_arg = ps,
  };
  struct observe_read *reads;
  size_t n = 0;

  for (size_t i = 0; i < ps->nt; i++)
    n += ps->t[i].desired.n + ps->t[i].removed.n;
  reads = td_calloc(n ? n : 1, sizeof(*reads));
  n = 0;
  for (size_t i = 0; i < ps->nt; i++) {
    struct tenant *t = &ps->t[i];

    for (size_t k = 0; k < t->desired.n; k++)
      reads[n++] =
          (struct observe_read){t->desired.v[k], t->observed, &t->hold};
    for (size_t k = 0; k < t->removed.n; k++)
      reads[n++] =
          (struct observe_read){t->removed.v[k], t->observed, &t->hold};
  }
  observe_run(&ps->loop, reads, n, &oo);
  free(reads);
}

/* ---- plan ---- */

static const json_t *observed_of(const char *id, void *arg)
{
  struct tenant *t = arg;

  return json_object_get(t->observed, id);
}

static const struct mf_platform *platform(const struct pass *ps)
{
  const struct manifest_doc *p = ps->repo->platform;

  return p && p->valid ? p->u.platform : NULL;
}

static const struct mf_catalog *catalog(const struct pass *ps)
{
  const struct manifest_doc *c = ps->repo->catalog;

  return c && c->valid ? c->u.catalog : NULL;
}

/* What the tenant cost as last applied, and what its manifests cost. */
static void plan_cost(const struct pass *ps, const struct tenant *t,
                      struct plan_cost *c)
{
  const struct mf_tenant *mt = t->doc ? t->doc->u.tenant : NULL;

  c->is_new = !t->last;
  c->from_known = !t->last || (t->last->tier && t->last->has_cost);
  if (t->last && t->last->tier && t->last->has_cost) {
    c->from = t->last->monthly_cost;
    c->from_tier = td_strdup(t->last->tier);
  }
  c->removed = !t->doc;
  c->to_known = !t->doc;
  if (mt && mt->spec.tier.v && catalog(ps) &&
      manifest_catalog_find(catalog(ps), mt->spec.tier.v)) {
    c->to_tier = td_strdup(mt->spec.tier.v);
    c->to_known = manifest_tenant_monthly(catalog(ps), mt, &c->to) == 0;
  }
}

/* Is this action a change an approver must sign first?  A drift
 * correction restores the spec last applied, which was approved when it
 * was applied: it is not gated. */
static bool gated(const struct reconcile_trust *tr, const struct plan_action *a)
{
  char env[NAMING_MAX];

  if (a->drift || a->held)
    return false;
  switch (a->kind) {
  case PLAN_CREATE:
  case PLAN_UPDATE:
  case PLAN_REPLACE:
  case PLAN_DELETE:
  case PLAN_ORPHAN:
    break;
  default:
    return false;
  }
  /* A delete of what is already gone changes nothing. */
  if (a->kind == PLAN_DELETE && !a->observed)
    return false;
  return naming_id_environment(a->res->id, env, sizeof(env)) > 0 &&
         strset_has(tr->gated, env);
}

/* Safety rule 9: changes to gated environments wait for an approval. */
static void gate(const struct pass *ps, struct tenant_plan *tp)
{
  const struct reconcile_trust *tr = ps->o->trust;

  if (!tr || !tr->gated || tr->approved)
    return;
  for (size_t i = 0; i < tp->n; i++)
    if (gated(tr, &tp->v[i])) {
      tp->v[i].needs_approval = true;
      tp->awaiting++;
    }
}

static void plan_one(struct pass *ps, struct tenant *t)
{
  const struct mf_platform *plat = platform(ps);
  struct plan_input in = {0};

  if (t->hold) {
    t->plan =
        plan_tenant_hold(t->name, t->hold, t->last ? t->last->ninventory : 0);
    return;
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
  gate(ps, t->plan);
  plan_cost(ps, t, &t->plan->cost);
}

/* A plan per tenant, and the report's entry for each, with its sums. */
static void make_plans(struct pass *ps)
{
  struct reconcile_report *report = ps->report;
  struct reconcile_summary *sum = &report->sum;

  report->v = td_calloc(ps->nt ? ps->nt : 1, sizeof(*report->v));
  report->n = ps->nt;
  ps->plans = td_calloc(ps->nt ? ps->nt : 1, sizeof(*ps->plans));
  ps->managed = ps->o->managed_outside;
  for (size_t i = 0; i < ps->nt; i++) {
    struct tenant_plan *tp;

    plan_one(ps, &ps->t[i]);
    tp = ps->plans[i] = ps->t[i].plan;
    ps->t[i].out = &report->v[i];
    report->v[i].tenant = td_strdup(ps->t[i].name);
    ps->deletes += tenant_plan_deletes(tp);
    ps->managed += tp->managed;
    sum->tenants++;
    sum->held += tp->held;
    sum->changes += tenant_plan_changes(tp);
    sum->conflicts += tp->count[PLAN_CONFLICT];
    sum->drifted += tp->drifted;
    sum->awaiting += tp->awaiting > 0;
    sum->awaiting_changes += tp->awaiting;
  }
}

static int max_delete_percent(const struct pass *ps)
{
  const struct mf_platform *plat = platform(ps);

  return plat ? (int)plat->spec.policies.max_delete_percent.v : 10;
}

/* Safety rule 4 over the whole pass. */
static void guard(struct pass *ps)
{
  ps->refused =
      plan_guard(ps->deletes, ps->managed, max_delete_percent(ps),
                 ps->o->allow_delete, ps->refusal, sizeof(ps->refusal)) < 0;
  ps->report->sum.refused = ps->refused;
}

/* The problems of the platform, the catalog and the pass's tenants. */
static void pass_diags(const struct pass *ps, struct diag_list *out)
{
  const struct diag_list *d = &ps->repo->diags;

  for (size_t i = 0; i < d->n; i++) {
    const char *path = d->v[i].path;
    /* A file under tenants/ that names no tenant belongs to no one's
     * selection: always shown. */
    bool show = manifest_path_kind(path) != MP_TENANT ||
                !manifest_path_tenant(path, NULL, 0);

    for (size_t k = 0; !show && k < ps->nt; k++)
      show = ps->t[k].doc && strcmp(ps->t[k].doc->path, path) == 0;
    if (show)
      diag_add(out, path, d->v[i].line, d->v[i].col, "%s", d->v[i].msg);
  }
}

/* The plans, when they are the answer: planning only, or a refused pass. */
static void print_plans(struct pass *ps)
{
  const struct reconcile_opts *o = ps->o;
  struct diag_list shown = DIAG_LIST_INIT;
  struct plan_print_opts po = PLAN_PRINT_OPTS_INIT;
  struct plan_report rep = {.refusal = ps->refused ? ps->refusal : NULL,
                            .deletes = ps->deletes,
                            .managed = ps->managed,
                            .max_percent = max_delete_percent(ps)};

  if (o->apply && !ps->refused)
    return;
  if (o->plan_diags) {
    pass_diags(ps, &shown);
    rep.diags = &shown;
  }
  rep.repository = o->plan_repository;
  rep.base = o->plan_base;
  rep.head = o->plan_head ? o->plan_head : o->files ? o->source : NULL;
  rep.directory = o->files ? NULL : o->dir;
  rep.currency = manifest_catalog_currency(catalog(ps));
  if (o->trust) {
    rep.signature = o->trust->signature;
    rep.approvers = o->trust->gated ? o->trust->approvers : NULL;
  }
  po.format = o->format;
  po.max_bytes = o->plan_max_bytes;
  plan_print(ps->plans, ps->nt, &po, &rep, o->out);
  diag_list_release(&shown);
}

/* ---- apply ---- */

/* One line per resource as it finishes; why it failed or was skipped
 * comes once, with what it caused, after the last (report_problems). */
static void on_progress(const struct plan_action *a, int state,
                        const char *message, size_t done, size_t total,
                        void *arg)
{
  FILE *out = arg;

  (void)message;
  if (state == APPLY_HELD || (state == APPLY_DONE && a->kind == PLAN_NOOP))
    return;
  fprintf(out, "[%zu/%zu] %-8s %s %s\n", done, total, plan_kind_names[a->kind],
          a->res->id, apply_state_names[state]);
}

static void on_applied(struct apply_run *run, void *arg)
{
  (void)run;
  (void)arg;
}

/* Carries out the plans, unless planning only or refused. */
static void apply(struct pass *ps)
{
  const struct reconcile_opts *o = ps->o;
  struct apply_opts ao = APPLY_OPTS_INIT;

  if (!o->apply || ps->refused)
    return;
  ao.concurrency = o->concurrency;
  ao.max_attempts = o->max_attempts;
  ao.backoff_ms = o->backoff_ms;
  ao.health_timeout_ms = o->health_timeout_ms;
  ao.provider = find_instance;
  ao.provider_arg = ps;
  ao.cancel = o->cancel;
  if (o->progress) {
    ao.progress = on_progress;
    ao.progress_arg = o->out;
  }
  apply_start(&ps->run, &ps->loop, ps->plans, ps->nt, &ao, on_applied, NULL);
  uv_run(&ps->loop, UV_RUN_DEFAULT);
}

/* ---- outcomes ---- */

/* Each tenant's outcome and new status, when the pass was to apply. */
static void build_outcomes(struct pass *ps)
{
  if (!ps->o->apply)
    return;
  for (size_t i = 0; i < ps->nt; i++) {
    struct tenant *t = &ps->t[i];

    reconcile__outcome(ps->o, t, t->plan->held ? NULL : ps->run,
                       ps->refused ? ps->refusal : NULL, &ps->report->sum);
  }
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

static void problem_line(const struct pass *ps, const struct plan_action *a,
                         const char *indent)
{
  const char *what = a->kind == PLAN_CONFLICT  ? "conflict"
                     : a->kind == PLAN_STALLED ? "stalled"
                     : apply_action_state(ps->run, a) == APPLY_SKIPPED
                         ? "skipped"
                         : "failed";
  const char *why =
      a->kind == PLAN_STALLED ? a->note : apply_action_message(ps->run, a);

  fprintf(ps->o->out, "%s%-8s %s: %s\n", indent, what, a->res->id,
          why ? why : "");
}

/* A tenant's problems: each failure, with what was skipped because of it
 * indented below it; what was skipped for another reason on its own. */
static void tenant_problems(struct pass *ps, const struct tenant_plan *tp)
{
  const struct apply_run *run = ps->run;

  for (size_t k = 0; k < tp->n; k++) {
    const struct plan_action *a = &tp->v[k];
    enum apply_state s = apply_action_state(run, a);

    if (s == APPLY_SKIPPED)
      ps->report->sum.skipped++;
    if (is_root(run, a)) {
      problem_line(ps, a, "");
      for (size_t j = 0; j < tp->n; j++)
        if (apply_action_state(run, &tp->v[j]) == APPLY_SKIPPED &&
            root_cause(run, &tp->v[j]) == a)
          problem_line(ps, &tp->v[j], "  ");
    } else if (s == APPLY_SKIPPED && !is_root(run, root_cause(run, a))) {
      problem_line(ps, a, "");
    }
  }
}

/* Resources taken into the inventory: not problems, but said. */
static void tenant_adopted(struct pass *ps, const struct tenant_plan *tp)
{
  for (size_t k = 0; k < tp->n; k++)
    if (tp->v[k].adopted &&
        apply_action_state(ps->run, &tp->v[k]) == APPLY_DONE)
      fprintf(ps->o->out,
              "adopted  %s: created under its marker by an interrupted "
              "pass\n",
              tp->v[k].res->id);
}

/* After the progress lines, before the caller's summary. */
static void report_problems(struct pass *ps)
{
  for (size_t i = 0; ps->run && i < ps->nt; i++) {
    const struct tenant_plan *tp = ps->t[i].plan;

    if (tp->held) {
      fprintf(ps->o->out, "held     tenant %s: %s\n", tp->tenant,
              tp->held_reason);
      continue;
    }
    tenant_adopted(ps, tp);
    tenant_problems(ps, tp);
  }
}

static int outcome_cmp(const void *pa, const void *pb)
{
  const struct reconcile_outcome *a = pa, *b = pb;

  return strcmp(a->tenant, b->tenant);
}

/* ---- the pass ---- */

static void pass_init(struct pass *ps, const struct reconcile_opts *o,
                      struct reconcile_report *report)
{
  memset(report, 0, sizeof(*report));
  memset(ps, 0, sizeof(*ps));
  ps->o = o;
  ps->report = report;
  ps->own = (struct manifest_files)MANIFEST_FILES_INIT;
  ps->index = json_object();
  uv_loop_init(&ps->loop);
}

/* Frees the pass, hands the manifests back to the caller who keeps them,
 * and closes the loop: `err`, or an error if a handle was left open. */
static int pass_release(struct pass *ps, int err)
{
  apply_run_free(ps->run);
  free(ps->plans);
  for (size_t i = 0; i < ps->nt; i++)
    tenant_release(&ps->t[i]);
  free(ps->t);
  json_decref(ps->index);
  if (ps->o->model && ps->repo)
    *ps->o->model = ps->repo;
  else
    manifest_repo_free(ps->repo);
  manifest_files_release(&ps->own);
  if (uv_loop_close(&ps->loop) != 0 && err == 0)
    err = td_error("internal: handles left open on the loop");
  return err;
}

int reconcile_once(const struct reconcile_opts *o,
                   struct reconcile_report *report)
{
  struct pass ps;
  int err = -1;

  assert(o->version == RECONCILE_OPTS_VERSION && o->store);
  pass_init(&ps, o, report);
  if (load(&ps) < 0 || open_providers(&ps) < 0 || gather(&ps) < 0)
    goto out;
  observe(&ps);
  make_plans(&ps);
  guard(&ps);
  print_plans(&ps);
  apply(&ps);
  build_outcomes(&ps);
  report_problems(&ps);
  qsort(report->v, report->n, sizeof(*report->v), outcome_cmp);
  err = 0;
out:
  close_providers(&ps);
  return pass_release(&ps, err);
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
