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
  bool any_invalid; /* a tenant file is invalid or refused: hold prunes */
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
  /* Text plans are written a window at a time into `spill`, so a plan
   * needs none of its actions once written; printed after the guard. */
  FILE *spill;
  char *spill_buf; /* its stdio buffer, when a file */
  char *spill_text;
  size_t spill_len, spill_changes;
  struct plan_text_sums spill_sums; /* cost change, changes awaiting */
  bool keep_fields; /* a plan printed whole at the end needs its fields */
  json_t *present;  /* what an observed value shrinks to when only its
                     * presence matters */
  /* Where the pass's resources are made: one for the pass, or one for
   * each window when nothing of a window outlives it (plans written out
   * and not applied). */
  struct resource_pool *pool;
  bool pool_per_window;
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

  if (o->model && *o->model && o->model_current) {
    /* The same commit as the model's: nothing to read or check again. */
    ps->repo = *o->model;
    *o->model = NULL;
  } else {
    if (!files) {
      if (manifest_files_read_dir(&ps->own, o->dir, mopts.limits.max_bytes) < 0)
        return -1;
      files = &ps->own;
    }
    if (o->model) {
      manifest_repo_reload(&ps->repo, files, &mopts, *o->model);
      *o->model = NULL;
    } else if (files == &ps->own) {
      /* The bytes are the pass's own: each file's go once it is decoded,
       * so a large repository's text and model are never both held. */
      manifest_repo_load_consume(&ps->repo, &ps->own, &mopts);
    } else {
      manifest_repo_load(&ps->repo, files, &mopts);
    }
    /* Nothing points into the files once loaded: their bytes go now,
     * not at the end of the pass. */
    manifest_files_release(&ps->own);
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
  int rc;
  char why[1024];

  if (t->status_read)
    return;
  rc = ps->o->store->read(ps->o->store, t->name, &t->last);
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
static void gather_removed(struct pass *ps, struct tenant *t)
{
  for (size_t k = 0; !t->hold && t->last && k < t->last->ninventory; k++) {
    const struct status_item *it = &t->last->inventory[k];
    int type = resource_type_parse(it->type);

    if (type < 0 || resource_set_find(&t->desired, it->id))
      continue;
    resource_set_add(&t->removed,
                     resource_new_in(ps->pool, (enum rtype)type, it->id,
                                     it->provider, t->name, it->name, NULL));
  }
}

/* What the tenant wants and had, or why it is held. */
static void prepare(struct pass *ps, struct tenant *t)
{
  const struct manifest_repo *repo = ps->repo;
  bool base_ok = repo->platform && repo->platform->valid && repo->catalog &&
                 repo->catalog->valid;

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
  if (!t->doc && ps->any_invalid)
    hold(t, "not pruned while a file under tenants/ is invalid (it may "
            "be this tenant)");
  if (!base_ok && !t->hold)
    hold_invalid(ps, t, base_path(ps->repo));
  if (!t->hold && t->doc &&
      compose_tenant_in(ps->repo, t->doc, ps->pool, &t->desired) < 0)
    hold(t, td_error_last());
  resource_set_sort(&t->desired);
  gather_removed(ps, t);
  t->observed = json_object();
}

/* Whether any tenant file is invalid, or refused for its name (acme.yaml
 * renamed Acme.yaml may be a tenant whose file only seems gone): removals
 * are then held as for an invalid one. */
static bool some_file_invalid(const struct manifest_repo *repo)
{
  return repo->nrefused > 0 || repo->ninvalid > 0;
}

static int doc_path_cmp(const void *pa, const void *pb)
{
  const struct manifest_doc *const *a = pa, *const *b = pb;

  return strcmp((*a)->path, (*b)->path);
}

/* A status-only tenant's name as the store lists it: "<name>.yaml". */
static int status_name_cmp(const void *pa, const void *pb)
{
  const char *const *a = pa, *const *b = pb;
  char x[300], y[300];

  snprintf(x, sizeof(x), "%s.yaml", *a);
  snprintf(y, sizeof(y), "%s.yaml", *b);
  return strcmp(x, y);
}

/*
 * The tenants of a selection, found by name instead of by walking the
 * repository and the store: a commit touching one tenant of ten thousand
 * costs one tenant.  The order is the walk's: documents by path, then
 * tenants known only to the store, in the store's order.
 */
static void gather_selected(struct pass *ps)
{
  const struct manifest_repo *repo = ps->repo;
  const struct strset *only = ps->o->only;
  const struct manifest_doc **docs;
  char **missing;
  size_t ndocs = 0, nmissing = 0;

  docs = td_calloc(2 * only->n + repo->ntenants + 1, sizeof(*docs));
  missing = td_calloc(only->n + 1, sizeof(*missing));
  for (size_t i = 0; i < only->n; i++) {
    static const char *const ext[] = {".yaml", ".yml"};
    bool found = false;

    for (size_t k = 0; k < ARRAY_SIZE(ext); k++) {
      char path[320];
      const struct manifest_doc *doc;

      snprintf(path, sizeof(path), "tenants/%s%s", only->v[i], ext[k]);
      doc = manifest_repo_find(repo, path);
      /* An invalid one is gathered below, with every invalid one. */
      if (doc && doc->valid) {
        docs[ndocs++] = doc;
        found = true;
      }
    }
    if (!found)
      missing[nmissing++] = only->v[i];
  }
  /* An invalid file may name any tenant inside: those go through the
   * walk's own rule, one by one; there are few. */
  for (size_t i = 0; i < repo->ntenants; i++)
    if (!repo->tenants[i]->valid)
      docs[ndocs++] = repo->tenants[i];
  qsort(docs, ndocs, sizeof(*docs), doc_path_cmp);
  for (size_t i = 0; i < ndocs; i++)
    if (i == 0 || docs[i] != docs[i - 1])
      gather_doc(ps, docs[i]);
  /* Names without a valid document: a status makes them tenants. */
  qsort(missing, nmissing, sizeof(*missing), status_name_cmp);
  for (size_t i = 0; i < nmissing; i++) {
    struct tenant_status *st = NULL;
    int rc;

    if (json_object_get(ps->index, missing[i]))
      continue;
    rc = ps->o->store->read(ps->o->store, missing[i], &st);
    if (rc == TD_ENOTFOUND)
      continue;
    {
      struct tenant *t = tenant_add(ps, missing[i]);
      char why[1024];

      t->last = st;
      t->status_read = true;
      if (rc < 0) {
        snprintf(why, sizeof(why), "status unreadable: %s", td_error_last());
        hold(t, why);
        t->status_unreadable = true;
      }
    }
  }
  free(docs);
  free(missing);
}

/* Above this share of the repository, a selection is walked like all. */
static bool select_by_name(const struct pass *ps)
{
  const struct strset *only = ps->o->only;

  return only && only->n * 8 < ps->repo->ntenants;
}

/* Tenants from the manifests and from the status store: names and
 * documents only; each is read and composed with its window. */
static int gather(struct pass *ps)
{
  const struct manifest_repo *repo = ps->repo;

  ps->any_invalid = some_file_invalid(repo);
  if (select_by_name(ps)) {
    gather_selected(ps);
    return 0;
  }
  for (size_t i = 0; i < repo->ntenants; i++)
    gather_doc(ps, repo->tenants[i]);
  return ps->o->store->list(ps->o->store, add_listed, ps);
}

/* ---- observe ---- */

/* Every desired and removed resource of the window's tenants. */
static void observe(struct pass *ps, size_t lo, size_t hi)
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

  for (size_t i = lo; i < hi; i++)
    n += ps->t[i].desired.n + ps->t[i].removed.n;
  reads = td_calloc(n ? n : 1, sizeof(*reads));
  n = 0;
  for (size_t i = lo; i < hi; i++) {
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
  in.pool = ps->pool;
  in.show_only = !ps->o->apply;
  t->plan = plan_tenant(&in);
  gate(ps, t->plan);
  plan_cost(ps, t, &t->plan->cost);
}

/* ---- windows: compose, observe and plan a few hundred tenants at a
 * time, keeping of each only what printing, apply and status need ---- */

/* A window also ends once it holds this many resources.  When every
 * instance reads nearby (provider.h), small enough that its composed
 * resources, observations and plans stay in cache (4096 cost 8% more CPU
 * on a cold plan of 10,000 tenants), yet still a full batch of the local
 * provider's reads and many times the observe concurrency.  Otherwise a
 * window's reads cost a round trip whatever its size, so windows are
 * large: a pass of 2,300 resources at 20 ms a read batch took 100 ms of
 * reads in windows of 512 and 20 ms in one. */
#define WINDOW_RESOURCES_NEARBY 512
#define WINDOW_RESOURCES 4096

static size_t window_resources(const struct pass *ps)
{
  for (size_t i = 0; i < ps->ninst; i++)
    if (!ps->inst[i].p->reads_nearby)
      return WINDOW_RESOURCES;
  return WINDOW_RESOURCES_NEARBY;
}

/* The report's entry for tenant i, and its plan's part of the sums. */
static void account(struct pass *ps, size_t i)
{
  struct reconcile_report *report = ps->report;
  struct reconcile_summary *sum = &report->sum;
  struct tenant_plan *tp = ps->t[i].plan;

  ps->plans[i] = tp;
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

/* Whether apply will send this action's spec to a provider. */
static bool sends_spec(const struct pass *ps, const struct tenant_plan *tp,
                       const struct plan_action *a)
{
  return ps->o->apply && !a->held && !tp->suspended &&
         (a->kind == PLAN_CREATE || a->kind == PLAN_UPDATE ||
          a->kind == PLAN_REPLACE);
}

/* Whether apply may check a no-op again: it refers to a dependency this
 * pass writes (a route to a service whose replicas are replaced), so
 * once that is done its spec is resolved again and compared with what
 * the provider holds, which both must be kept for it. */
static bool may_recheck(const struct pass *ps, const struct tenant_plan *tp,
                        const struct plan_action *a)
{
  if (!ps->o->apply || a->kind != PLAN_NOOP || !a->observed)
    return false;
  for (size_t d = 0; d < a->res->ndeps; d++)
    for (size_t k = 0; k < tp->n; k++)
      if (sends_spec(ps, tp, &tp->v[k]) &&
          strcmp(tp->v[k].res->id, a->res->deps[d]) == 0)
        return true;
  return false;
}

/* What an observed value is needed for once planned: its outputs (what
 * dependents' references resolve to) and that it exists. */
static json_t *shrink_observed(struct pass *ps, json_t *obs)
{
  json_t *outputs = json_object_get(obs, "outputs"), *kept;

  if (json_object_size(outputs) > 0) {
    kept = json_object();
    json_object_set_nocheck(kept, "outputs", outputs);
  } else {
    kept = json_incref(ps->present);
  }
  json_decref(obs);
  return kept;
}

/* A planned tenant, cut down to what is left to do with it. */
static void retain(struct pass *ps, size_t i)
{
  struct tenant *t = &ps->t[i];
  struct tenant_plan *tp = t->plan;

  /* A held tenant's plan did not take its desired resources. */
  resource_set_release(&t->desired);
  resource_set_release(&t->removed);
  json_decref(t->observed);
  t->observed = NULL;
  if (!ps->o->apply) {
    tenant_status_free(t->last);
    t->last = NULL;
  }
  /* Written out already, and nothing applies it. */
  if (ps->spill && !ps->o->apply) {
    tenant_plan_free(tp);
    t->plan = ps->plans[i] = NULL;
    return;
  }
  for (size_t k = 0; k < tp->n; k++) {
    struct plan_action *a = &tp->v[k];
    bool recheck = may_recheck(ps, tp, a);

    /* Kept as text until its job starts: a first apply sends hundreds
     * of thousands of specs. */
    if (sends_spec(ps, tp, a) || recheck) {
      resource_spec_stash(a->res);
    } else {
      json_decref(a->res->spec);
      a->res->spec = NULL;
    }
    if (a->observed && !recheck)
      a->observed = shrink_observed(ps, a->observed);
    /* A create's fields are its spec's: printed already, or never. */
    if (a->kind == PLAN_CREATE && !ps->keep_fields)
      diff_result_release(&a->diff);
  }
}

/* Where text plans wait for the guard's verdict, which comes first. */
#define SPILL_BUFFER (256 * 1024)

static void spill_open(struct pass *ps)
{
  const struct reconcile_opts *o = ps->o;
  bool printed = !o->apply || !o->quiet_plans;

  ps->keep_fields = printed && o->format != PLAN_TEXT;
  if (!printed || o->format != PLAN_TEXT)
    return;
  /* An unlinked temp file, so a plan of a million lines is not held in
   * memory; in memory when there is no place for one. */
  ps->spill = tmpfile();
  if (ps->spill) {
    /* A large plan is a hundred megabytes: written in big pieces, not
     * in stdio's 4 KiB, it costs hundreds of writes, not thousands. */
    ps->spill_buf = td_malloc(SPILL_BUFFER);
    setvbuf(ps->spill, ps->spill_buf, _IOFBF, SPILL_BUFFER);
    return;
  }
  ps->spill = open_memstream(&ps->spill_text, &ps->spill_len);
  if (!ps->spill)
    abort();
}

/* The spilled text, to `out`. */
static void spill_copy(struct pass *ps, FILE *out)
{
  char buf[65536];
  size_t n;

  fflush(ps->spill);
  if (ps->spill_text || ps->spill_len) {
    fwrite(ps->spill_text, 1, ps->spill_len, out);
    return;
  }
  rewind(ps->spill);
  while ((n = fread(buf, 1, sizeof(buf), ps->spill)) > 0)
    fwrite(buf, 1, n, out);
}

static void plan_window(struct pass *ps, size_t lo, size_t hi)
{
  observe(ps, lo, hi);
  for (size_t i = lo; i < hi; i++) {
    plan_one(ps, &ps->t[i]);
    account(ps, i);
    if (ps->spill)
      ps->spill_changes +=
          plan_print_text_tenant(ps->t[i].plan, &ps->spill_sums, ps->spill);
    retain(ps, i);
  }
}

/* A plan per tenant, window by window, and the report's entry for each,
 * with its sums. */
static void make_plans(struct pass *ps)
{
  struct reconcile_report *report = ps->report;
  size_t lo = 0, window = ps->o->window ? ps->o->window : RECONCILE_WINDOW;
  size_t cap = window_resources(ps);

  report->v = td_calloc(ps->nt ? ps->nt : 1, sizeof(*report->v));
  report->n = ps->nt;
  ps->plans = td_calloc(ps->nt ? ps->nt : 1, sizeof(*ps->plans));
  ps->managed = ps->o->managed_outside;
  spill_open(ps);
  ps->pool_per_window = ps->spill && !ps->o->apply;
  while (lo < ps->nt) {
    size_t hi = lo, resources = 0;

    if (!ps->pool)
      ps->pool = resource_pool_new();
    while (hi < ps->nt && hi - lo < window && resources < cap) {
      prepare(ps, &ps->t[hi]);
      resources += ps->t[hi].desired.n + ps->t[hi].removed.n;
      hi++;
    }
    plan_window(ps, lo, hi);
    /* Nothing of the window is left: its resources go in one step. */
    if (ps->pool_per_window) {
      resource_pool_free(ps->pool);
      ps->pool = NULL;
    }
    lo = hi;
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

  if (o->apply && (!ps->refused || o->quiet_plans))
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
  if (ps->spill) {
    plan_print_text_head(&rep, o->out);
    spill_copy(ps, o->out);
    plan_print_text_foot(&rep, ps->spill_changes, &ps->spill_sums, o->out);
  } else {
    plan_print(ps->plans, ps->nt, &po, &rep, o->out);
  }
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

/* ---- problems ---- */

/* After the progress lines, before the caller's summary. */
static void report_problems(struct pass *ps)
{
  for (size_t i = 0; ps->run && i < ps->nt; i++)
    reconcile__problems(ps->o->out, ps->run, ps->t[i].plan,
                        &ps->report->sum.skipped);
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
  ps->present = json_object();
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
  /* After every resource made in it was let go of. */
  resource_pool_free(ps->pool);
  json_decref(ps->index);
  json_decref(ps->present);
  if (ps->spill)
    fclose(ps->spill);
  free(ps->spill_buf);
  free(ps->spill_text);
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

int reconcile_check_providers(const json_t *providers)
{
  struct reconcile_opts o = RECONCILE_OPTS_INIT;
  struct pass ps;
  int err;

  memset(&ps, 0, sizeof(ps));
  o.providers = providers;
  ps.o = &o;
  uv_loop_init(&ps.loop);
  err = open_providers(&ps);
  close_providers(&ps);
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
  struct status_change *v = td_calloc(report->n + 1, sizeof(*v));
  size_t n = 0, failed = 0;

  for (size_t i = 0; i < report->n; i++) {
    const struct reconcile_outcome *out = &report->v[i];

    if (!out->changed || out->unwritable)
      continue;
    v[n].tenant = out->tenant;
    v[n++].st = out->status;
  }
  /* Two flushes for the pass, not two a tenant. */
  tenant_status_write_all(dir, v, n);
  for (size_t i = 0; i < n; i++)
    if (v[i].rc < 0) {
      /* Without its status the next pass cannot prune safely. */
      fprintf(err, "tenantd: %s\n", v[i].error);
      failed++;
    }
  free(v);
  return failed;
}
