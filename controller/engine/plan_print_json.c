/*
 * plan_print_json.c - plans for programs: `tenantd plan --format json`
 * (see plan_print.c for text and Markdown).
 */
#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>

#include "engine/plan.h"
#include "engine/plan_print_internal.h"
#include "manifest/manifest.h"

static json_t *json_action(const struct plan_action *a)
{
  json_t *fields = json_array();

  for (size_t f = 0; f < a->diff.n; f++) {
    const struct diff_field *d = &a->diff.v[f];
    bool secret = plan_attr_sensitive(d->attr);
    json_t *from = d->observed && secret ? json_string("(sensitive)")
                                         : json_incref(d->observed);
    json_t *to = d->desired && secret ? json_string("(sensitive)")
                                      : json_incref(d->desired);

    json_array_append_new(fields, json_pack("{s:s, s:o?, s:o?, s:b}", "attr",
                                            d->attr, "from", from, "to", to,
                                            "forcesReplace", d->immutable));
  }
  return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:s?, s:o}",
                   "action", plan_kind_names[a->kind], "id", a->res->id, "type",
                   resource_type_name(a->res->type), "name", a->res->name,
                   "drift", a->drift, "held", a->held, "needsApproval",
                   a->needs_approval, "adopted", a->adopted, "note", a->note,
                   "changes", fields);
}

/* An amount as a JSON number: an integer when it is whole. */
static json_t *json_money(int64_t cents)
{
  if (cents % 100 == 0)
    return json_integer((json_int_t)(cents / 100));
  return json_real((double)cents / 100);
}

/* {"from", "to", "change", "fromTier", "toTier", "text"}, a side null
 * when it cannot be said. */
static json_t *json_cost(const struct plan_cost *c)
{
  int64_t delta;
  char text[256];
  bool changes = plan_cost_changes(c, &delta);

  plan__cost_line(c, text, sizeof(text));
  return json_pack("{s:o, s:o, s:o, s:s?, s:s?, s:s?}", "from",
                   c->from_known ? json_money(c->from) : json_null(), "to",
                   c->to_known ? json_money(c->to) : json_null(), "change",
                   c->from_known && c->to_known ? json_money(delta)
                                                : json_null(),
                   "fromTier", c->from_tier, "toTier", c->to_tier, "text",
                   changes ? text : NULL);
}

static json_t *json_tenant(const struct tenant_plan *tp)
{
  json_t *t = json_object(), *actions = json_array();

  json_object_set_new(t, "tenant", json_string(tp->tenant));
  json_object_set_new(t, "held", json_boolean(tp->held));
  if (tp->held_reason)
    json_object_set_new(t, "heldReason", json_string(tp->held_reason));
  json_object_set_new(t, "suspended", json_boolean(tp->suspended));
  for (size_t k = 0; k < tp->n; k++)
    if (plan__shown(&tp->v[k]))
      json_array_append_new(actions, json_action(&tp->v[k]));
  json_object_set_new(t, "actions", actions);
  json_object_set_new(t, "pending",
                      json_integer((json_int_t)tenant_plan_changes(tp)));
  json_object_set_new(t, "cost", tp->held ? json_null() : json_cost(&tp->cost));
  return t;
}

static json_t *json_summary(const struct totals *t)
{
  return json_pack(
      "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "tenants",
      (json_int_t)t->tenants, "withChanges", (json_int_t)t->changing, "held",
      (json_int_t)t->held, "create", (json_int_t)t->count[PLAN_CREATE],
      "update", (json_int_t)t->count[PLAN_UPDATE], "replace",
      (json_int_t)t->count[PLAN_REPLACE], "delete",
      (json_int_t)t->count[PLAN_DELETE], "drift", (json_int_t)t->drifted,
      "adopt", (json_int_t)t->adopted, "pending", (json_int_t)t->changes);
}

/* Where the manifests come from; the URL without credentials. */
static json_t *json_source(const struct plan_report *rep)
{
  json_t *src = json_object();

  if (rep->repository) {
    char *url = plan__url_shown(rep->repository);

    json_object_set_new(src, "repository", json_string(url));
    free(url);
  }
  if (rep->directory)
    json_object_set_new(src, "directory", json_string(rep->directory));
  if (rep->base)
    json_object_set_new(src, "base", json_string(rep->base));
  if (rep->head)
    json_object_set_new(src, "head", json_string(rep->head));
  return src;
}

void plan__print_json(struct tenant_plan *const *plans, size_t n,
                      const struct plan_report *rep, FILE *out)
{
  const char *refusal = rep->refusal;
  json_t *root = json_object(), *tenants = json_array();
  struct totals t;

  plan__add_up(plans, n, &t);
  for (size_t i = 0; i < n; i++)
    json_array_append_new(tenants, json_tenant(plans[i]));
  json_object_set_new(root, "source", json_source(rep));
  json_object_set_new(root, "summary", json_summary(&t));
  json_object_set_new(root, "cost",
                      json_pack("{s:s?, s:o}", "currency", rep->currency,
                                "monthlyChange", json_money(t.cost_change)));
  if (rep->signature || t.awaiting)
    json_object_set_new(root, "trust",
                        json_pack("{s:s?, s:I, s:s?}", "signature",
                                  rep->signature, "needsApproval",
                                  (json_int_t)t.awaiting, "approvers",
                                  t.awaiting ? rep->approvers : NULL));
  json_object_set_new(root, "refused", json_boolean(refusal != NULL));
  if (refusal)
    json_object_set_new(root, "refusal", json_string(refusal));
  json_object_set_new(root, "deletes", json_integer((json_int_t)rep->deletes));
  json_object_set_new(root, "managed", json_integer((json_int_t)rep->managed));
  if (rep->diags) {
    json_t *errors = json_array();

    for (size_t i = 0; i < rep->diags->n; i++) {
      const struct diag *g = &rep->diags->v[i];

      json_array_append_new(errors,
                            json_pack("{s:s, s:i, s:i, s:s}", "file", g->path,
                                      "line", (int)g->line, "column",
                                      (int)g->col, "message", g->msg));
    }
    json_object_set_new(root, "errors", errors);
  }
  json_object_set_new(root, "tenants", tenants);
  json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', out);
  json_decref(root);
}
