#include "base/compat.h"

#include <stdio.h>

#include "engine/plan.h"

const char *const plan_kind_names[PLAN_KIND_COUNT] = {
    "noop",   "create", "update",   "replace",
    "delete", "orphan", "conflict", "stalled",
};

/* Deletes go dependents first: records, routes, services, then state. */
static int delete_rank(enum rtype t)
{
  switch (t) {
  case RTYPE_DNS_RECORD:
    return 0;
  case RTYPE_ROUTE:
    return 1;
  case RTYPE_SERVICE:
    return 2;
  case RTYPE_DATABASE:
  case RTYPE_BUCKET:
    return 3;
  case RTYPE_NETWORK:
  case RTYPE_COUNT:
    break;
  }
  return 4;
}

static bool is_stateful(enum rtype t)
{
  return t == RTYPE_DATABASE || t == RTYPE_BUCKET;
}

struct lookup_arg {
  plan_observed_fn fn;
  void *arg;
};

static const json_t *lookup(const char *id, size_t idlen, void *arg)
{
  struct lookup_arg *la = arg;
  char buf[1024];

  if (idlen >= sizeof(buf))
    return NULL;
  memcpy(buf, id, idlen);
  buf[idlen] = '\0';
  return json_object_get(la->fn(buf, la->arg), "outputs");
}

static bool marked_as(const json_t *observed, const char *id)
{
  char tenant[128], mid[1024];
  const char *marker = json_string_value(json_object_get(observed, "marker"));

  return resource_marker_parse(marker, tenant, sizeof(tenant), mid,
                               sizeof(mid)) == 0 &&
         strcmp(mid, id) == 0;
}

/* Actions go into room plan_tenant() sized for every one of them. */
static struct plan_action *push(struct tenant_plan *tp)
{
  struct plan_action *a = &tp->v[tp->n++];

  memset(a, 0, sizeof(*a));
  return a;
}

static char *stalled_note(const struct diff_result *d)
{
  char *want = diff_value_text(d->n ? d->v[0].desired : NULL);
  char *have = diff_value_text(d->n ? d->v[0].observed : NULL);
  char buf[1024];

  snprintf(buf, sizeof(buf),
           "%s keeps changing back (desired %s, observed %s); not corrected "
           "again until the manifest changes",
           d->n ? d->v[0].attr : "?", want, have);
  free(want);
  free(have);
  return td_strdup(buf);
}

static int field_cmp(const void *a, const void *b)
{
  return strcmp(((const struct diff_field *)a)->attr,
                ((const struct diff_field *)b)->attr);
}

/* A create changes every attribute it sets, from nothing to what is
 * desired: each value shared with the spec, references resolved.  A null
 * in the spec itself leaves the attribute unset; a null from a reference
 * is a value known after apply, and is shown.  The spec is walked once:
 * its keys are gathered to size the result. */
static void create_fields(struct plan_action *a, struct lookup_arg *la)
{
  struct key {
    const char *name;
    size_t len;
    json_t *value;
  } small[32], *keys = small;
  const json_t *spec = a->res->spec;
  size_t n = json_object_size(spec), names = 0, kept = 0;
  bool sorted = true;
  const char *key;
  size_t key_len;
  json_t *v;

  a->diff = (struct diff_result){0};
  if (n == 0)
    return;
  if (n > ARRAY_SIZE(small))
    keys = td_malloc(n * sizeof(*keys));
  json_object_keylen_foreach((json_t *)spec, key, key_len, v)
  {
    if (json_is_null(v))
      continue;
    keys[kept++] = (struct key){key, key_len, v};
    names += key_len + 1;
  }
  diff_result_new_v(&a->diff, kept, names);
  for (size_t i = 0; i < kept; i++) {
    struct diff_field *f = diff_field_set(&a->diff, keys[i].name, keys[i].len);

    f->desired = diff_resolve_value(keys[i].value, lookup, la, &a->unknown);
    if (i > 0 && strcmp(a->diff.v[i - 1].attr, f->attr) > 0)
      sorted = false;
  }
  if (!sorted)
    qsort(a->diff.v, a->diff.n, sizeof(*a->diff.v), field_cmp);
  if (keys != small)
    free(keys);
}

static void plan_desired(struct tenant_plan *tp, const struct plan_input *in,
                         struct resource *r, struct lookup_arg *la)
{
  const json_t *obs = in->observed(r->id, in->arg);
  const struct status_item *inv =
      in->last ? tenant_status_inventory_find(in->last, r->id) : NULL;
  struct plan_action *a = push(tp);
  bool unchanged;

  a->res = r;
  a->observed = obs ? json_incref((json_t *)obs) : NULL;
  /* Walking every spec is a tenth of a cold plan: taken when compared
   * or recorded. */
  if (inv || !in->show_only)
    resource_spec_hash(r->spec, a->hash);
  unchanged = inv && strcmp(inv->hash, a->hash) == 0;

  if (!obs) {
    a->kind = PLAN_CREATE;
    /* It was applied as it is and is gone: deleted behind our back. */
    a->drift = unchanged;
    create_fields(a, la);
  } else if (!marked_as(obs, r->id)) {
    a->kind = PLAN_CONFLICT;
    a->note = td_strdup(
        r->adopt ? "exists without tenantd's marker; adopt is not supported "
                   "by this provider yet, so it is left untouched"
                 : "exists without tenantd's marker for this id: left "
                   "untouched (set adopt: true to take it over)");
  } else {
    json_t *want = diff_resolve(r->spec, lookup, la, &a->unknown);

    diff_specs(r->type, want, json_object_get(obs, "spec"), &a->diff);
    json_decref(want);
    if (a->diff.n == 0) {
      a->kind = PLAN_NOOP;
    } else if (a->diff.replace && is_stateful(r->type) &&
               r->deletion != DELETION_DELETE) {
      /* Replacing drops the data: never under the Orphan policy. */
      a->kind = PLAN_CONFLICT;
      a->drift = unchanged;
      a->note = td_strdup("an immutable attribute differs, and replacing "
                          "would delete this resource's data under "
                          "deletionPolicy Orphan: left untouched");
    } else {
      a->kind = a->diff.replace ? PLAN_REPLACE : PLAN_UPDATE;
      a->drift = unchanged;
    }
    /* Ours, yet never recorded: a pass stopped between the two. */
    a->adopted = !inv && a->kind != PLAN_CONFLICT;
  }
  if (a->drift) {
    a->attempts = inv ? inv->corrections + 1 : 1;
    if (inv && in->stall_after && inv->corrections >= in->stall_after &&
        a->kind != PLAN_CREATE) {
      a->kind = PLAN_STALLED;
      a->note = stalled_note(&a->diff);
    } else if (in->drift_report) {
      a->held = true;
      a->note = td_strdup("drift reported, not corrected (driftPolicy: "
                          "report)");
    }
  }
}

static void plan_removed(struct tenant_plan *tp, const struct plan_input *in,
                         const struct status_item *item)
{
  int type = resource_type_parse(item->type);
  const json_t *obs = in->observed(item->id, in->arg);
  struct plan_action *a;

  if (type < 0)
    return; /* a type this version does not know: leave it be */
  a = push(tp);
  a->res = resource_new_in(in->pool, (enum rtype)type, item->id, item->provider,
                           in->tenant, item->name, NULL);
  a->observed = obs ? json_incref((json_t *)obs) : NULL;
  if (obs && !marked_as(obs, item->id)) {
    a->kind = PLAN_CONFLICT;
    a->note = td_strdup("not pruned: the provider does not show tenantd's "
                        "marker for this id");
  } else if (is_stateful((enum rtype)type) && !item->prune_delete) {
    a->kind = PLAN_ORPHAN;
    a->note = td_strdup("deletionPolicy Orphan: kept at the provider, no "
                        "longer managed");
  } else {
    a->kind = PLAN_DELETE;
    if (!obs) {
      a->note = td_strdup("already absent");
    } else if (in->no_prune) {
      a->held = true;
      a->note = td_strdup("not deleted: pruning is off (policies.prune: "
                          "false); stays in the inventory");
    }
  }
}

/* The desired action with id `id`: they are sorted by id. */
static size_t action_index(const struct tenant_plan *tp, size_t ndesired,
                           const char *id)
{
  size_t lo = 0, hi = ndesired;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(tp->v[mid].res->id, id);

    if (c == 0)
      return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return SIZE_MAX;
}

/* A min-heap of action indexes: the ready actions, smallest first. */
struct ready {
  size_t *v, n;
};

static void ready_push(struct ready *h, size_t x)
{
  size_t at = h->n++;

  while (at > 0 && h->v[(at - 1) / 2] > x) {
    h->v[at] = h->v[(at - 1) / 2];
    at = (at - 1) / 2;
  }
  h->v[at] = x;
}

static size_t ready_pop(struct ready *h)
{
  size_t top = h->v[0], x = h->v[--h->n], at = 0;

  for (;;) {
    size_t c = 2 * at + 1;

    if (c >= h->n)
      break;
    if (c + 1 < h->n && h->v[c + 1] < h->v[c])
      c++;
    if (h->v[c] >= x)
      break;
    h->v[at] = h->v[c];
    at = c;
  }
  if (h->n)
    h->v[at] = x;
  return top;
}

/* v[k] becomes what v[perm[k]] was, cycle by cycle; perm is used up. */
static void permute(struct plan_action *v, size_t *perm, size_t n)
{
  for (size_t start = 0; start < n; start++) {
    struct plan_action first;
    size_t k = start;

    if (perm[start] == SIZE_MAX)
      continue;
    first = v[start];
    for (;;) {
      size_t from = perm[k];

      perm[k] = SIZE_MAX;
      if (from == start) {
        v[k] = first;
        break;
      }
      v[k] = v[from];
      k = from;
    }
  }
}

/*
 * Kahn's algorithm over the desired actions, taking ready nodes in id
 * order (the smallest ready index, from a heap) so the same manifests
 * always give the same plan.  A dependency on an id this tenant does not
 * declare is ignored (validation rejects such manifests; compose never
 * makes them).  Dependencies are looked up once, as indexes, and kept
 * both ways; the rest is integer work in proportion to the edges.
 */
static void order(struct tenant_plan *tp, size_t ndesired)
{
  size_t n1 = ndesired ? ndesired : 1;
  /* perm[k]: the action that goes k-th; applied in place at the end. */
  size_t *perm = td_malloc((tp->n ? tp->n : 1) * sizeof(*perm));
  size_t *indeg = td_calloc(n1, sizeof(*indeg));
  /* by[first[j] .. first[j + 1]): the actions that wait for j. */
  size_t *first = td_calloc(n1 + 1, sizeof(*first));
  size_t *wait, *by, nedges = 0, out = 0, lowest = 0;
  bool *done = td_calloc(n1, sizeof(*done));
  struct ready ready = {td_malloc(n1 * sizeof(size_t)), 0};

  for (size_t i = 0; i < ndesired; i++)
    nedges += tp->v[i].res->ndeps;
  /* wait[k]: the action edge k's waiter waits for, in waiter order. */
  wait = td_malloc((2 * nedges + 1) * sizeof(*wait));
  by = wait + nedges;
  nedges = 0;
  for (size_t i = 0; i < ndesired; i++)
    for (size_t d = 0; d < tp->v[i].res->ndeps; d++) {
      size_t j = action_index(tp, ndesired, tp->v[i].res->deps[d]);

      if (j != SIZE_MAX) {
        wait[nedges++] = j;
        indeg[i]++;
        first[j + 1]++;
      }
    }
  for (size_t j = 0; j < ndesired; j++)
    first[j + 1] += first[j];
  {
    size_t *fill = td_malloc(n1 * sizeof(*fill)), k = 0;

    memcpy(fill, first, n1 * sizeof(*fill));
    for (size_t i = 0; i < ndesired; i++)
      for (size_t e = 0; e < indeg[i]; e++)
        by[fill[wait[k++]]++] = i;
    free(fill);
  }
  for (size_t i = 0; i < ndesired; i++)
    if (indeg[i] == 0)
      ready_push(&ready, i);
  while (out < ndesired) {
    size_t pick = SIZE_MAX;

    while (ready.n > 0 && pick == SIZE_MAX) {
      pick = ready_pop(&ready);
      if (done[pick])
        pick = SIZE_MAX;
    }
    if (pick == SIZE_MAX) { /* a cycle: validation prevents it; keep order */
      while (done[lowest])
        lowest++;
      pick = lowest;
    }
    done[pick] = true;
    perm[out++] = pick;
    for (size_t e = first[pick]; e < first[pick + 1]; e++)
      if (!done[by[e]] && --indeg[by[e]] == 0)
        ready_push(&ready, by[e]);
  }
  /* Deletes after everything, dependents first, then by id. */
  for (size_t rank = 0; rank <= 4; rank++)
    for (size_t i = ndesired; i < tp->n; i++)
      if ((size_t)delete_rank(tp->v[i].res->type) == rank)
        perm[out++] = i;
  assert(out == tp->n);
  permute(tp->v, perm, tp->n);
  free(perm);
  free(indeg);
  free(first);
  free(wait);
  free(done);
  free(ready.v);
}

struct tenant_plan *plan_tenant(const struct plan_input *in)
{
  struct tenant_plan *tp = td_calloc(1, sizeof(*tp));
  struct lookup_arg la = {in->observed, in->arg};
  size_t ndesired = in->desired->n;

  tp->tenant = td_strdup(in->tenant);
  tp->suspended = in->suspended;
  tp->drift_report = in->drift_report;
  tp->managed = in->last ? in->last->ninventory : 0;
  /* Room for every desired and every inventoried resource. */
  tp->v = td_calloc(ndesired + tp->managed + 1, sizeof(*tp->v));

  for (size_t i = 0; i < ndesired; i++)
    plan_desired(tp, in, in->desired->v[i], &la);
  in->desired->n = 0; /* the plan owns them now */
  for (size_t i = 0; in->last && i < in->last->ninventory; i++) {
    const struct status_item *item = &in->last->inventory[i];
    if (action_index(tp, ndesired, item->id) == SIZE_MAX)
      plan_removed(tp, in, item);
  }
  order(tp, ndesired);

  for (size_t i = 0; i < tp->n; i++) {
    struct plan_action *a = &tp->v[i];

    if (tp->suspended && a->kind != PLAN_NOOP)
      a->held = true;
    tp->count[a->kind]++;
    if (a->drift)
      tp->drifted++;
  }
  return tp;
}

struct tenant_plan *plan_tenant_hold(const char *tenant, const char *reason,
                                     size_t managed)
{
  struct tenant_plan *tp = td_calloc(1, sizeof(*tp));

  tp->tenant = td_strdup(tenant);
  tp->held = true;
  tp->held_reason = td_strdup(reason);
  tp->managed = managed;
  return tp;
}

void tenant_plan_free(struct tenant_plan *tp)
{
  if (!tp)
    return;
  for (size_t i = 0; i < tp->n; i++) {
    resource_free(tp->v[i].res);
    json_decref(tp->v[i].observed);
    diff_result_release(&tp->v[i].diff);
    free(tp->v[i].note);
  }
  free(tp->v);
  free(tp->tenant);
  free(tp->held_reason);
  free(tp->cost.from_tier);
  free(tp->cost.to_tier);
  free(tp);
}

bool plan_cost_changes(const struct plan_cost *c, int64_t *change)
{
  *change = c->from_known && c->to_known ? c->to - c->from : 0;
  return *change != 0;
}

size_t tenant_plan_deletes(const struct tenant_plan *tp)
{
  size_t n = 0;

  for (size_t i = 0; i < tp->n; i++)
    if (!tp->v[i].held && !tp->suspended && !tp->v[i].needs_approval &&
        ((tp->v[i].kind == PLAN_DELETE && tp->v[i].observed) ||
         tp->v[i].kind == PLAN_REPLACE))
      n++;
  return n;
}

size_t tenant_plan_changes(const struct tenant_plan *tp)
{
  size_t n = 0;

  for (size_t i = 0; i < tp->n; i++)
    if (tp->v[i].kind != PLAN_NOOP && tp->v[i].kind != PLAN_CONFLICT &&
        tp->v[i].kind != PLAN_STALLED && !tp->v[i].held)
      n++;
  return n;
}

int plan_guard(size_t deletes, size_t managed, int max_percent, long allow,
               char *buf, size_t cap)
{
  /* deletes / managed > max_percent / 100, in integers. */
  if (deletes == 0 || deletes * 100 <= (size_t)max_percent * managed)
    return 0;
  if (allow >= 0 && (size_t)allow == deletes)
    return 0;
  snprintf(buf, cap,
           "refused: this pass would delete %zu of %zu managed resources, "
           "more than maxDeletePercent (%d%%); allow exactly this many with "
           "--allow-delete %zu or the trailer 'Tenantd-Allow-Delete: %zu' "
           "on the manifest commit",
           deletes, managed, max_percent, deletes, deletes);
  return -1;
}
