/*
 * plan_print.c - plans for people (text, Markdown for pull requests) and
 * for programs (JSON).  Deletions are loud in every format.
 */
#include "base/compat.h"

#include <stdio.h>

#include "engine/plan.h"

static const char *symbol(const struct plan_action *a)
{
  switch (a->kind) {
  case PLAN_CREATE:
    return "+";
  case PLAN_UPDATE:
    return "~";
  case PLAN_REPLACE:
    return "-/+";
  case PLAN_DELETE:
    return "-";
  case PLAN_ORPHAN:
    return "o";
  case PLAN_CONFLICT:
    return "!";
  case PLAN_STALLED:
    return "x";
  case PLAN_NOOP:
  case PLAN_KIND_COUNT:
    break;
  }
  return " ";
}

static void summary(const struct tenant_plan *tp, FILE *out)
{
  fprintf(out, "%zu to create, %zu to update, %zu to replace, %zu to delete",
          tp->count[PLAN_CREATE], tp->count[PLAN_UPDATE],
          tp->count[PLAN_REPLACE], tp->count[PLAN_DELETE]);
  if (tp->count[PLAN_ORPHAN])
    fprintf(out, ", %zu to orphan", tp->count[PLAN_ORPHAN]);
  if (tp->count[PLAN_CONFLICT])
    fprintf(out, ", %zu in conflict", tp->count[PLAN_CONFLICT]);
  if (tp->count[PLAN_STALLED])
    fprintf(out, ", %zu stalled", tp->count[PLAN_STALLED]);
  if (tp->drifted)
    fprintf(out, " (%zu drifted)", tp->drifted);
}

static void action_lines(const struct plan_action *a, const char *indent,
                         FILE *out)
{
  fprintf(out, "%s%-3s %s", indent, symbol(a), a->res->id);
  if (a->kind == PLAN_DELETE)
    fputs("   <-- DELETE", out);
  if (a->kind == PLAN_REPLACE)
    fputs("   <-- REPLACE (delete, then create)", out);
  if (a->drift)
    fputs("   (drift)", out);
  if (a->held)
    fputs("   (held)", out);
  fputc('\n', out);
  for (size_t f = 0; f < a->diff.n; f++) {
    char *from = diff_value_text(a->diff.v[f].observed);
    char *to = diff_value_text(a->diff.v[f].desired);

    fprintf(out, "%s      ~ %s: %s -> %s%s\n", indent, a->diff.v[f].attr, from,
            to, a->diff.v[f].immutable ? " (forces replace)" : "");
    free(from);
    free(to);
  }
  if (a->note)
    fprintf(out, "%s      %s\n", indent, a->note);
}

static void print_diags(const struct diag_list *d, bool markdown, FILE *out)
{
  if (!d || !d->n)
    return;
  fputs(markdown ? "### Manifest problems\n\n" : "manifest problems:\n", out);
  for (size_t i = 0; i < d->n; i++) {
    const struct diag *g = &d->v[i];

    fprintf(out, markdown ? "- `%s:%u:%u`: %s\n" : "  %s:%u:%u: %s\n", g->path,
            g->line, g->col, g->msg);
  }
  fputc('\n', out);
}

static void print_verdict(const struct plan_report *rep, bool markdown,
                          FILE *out)
{
  if (rep->refusal) {
    fprintf(out, markdown ? "> **%s**\n\n" : "%s\n\n", rep->refusal);
    return;
  }
  if (!rep->deletes)
    return;
  fprintf(out,
          markdown ? "> Deletes %zu of %zu managed resources: within "
                     "maxDeletePercent (%d%%) or allowed.\n\n"
                   : "deletes %zu of %zu managed resources: within "
                     "maxDeletePercent (%d%%) or allowed\n\n",
          rep->deletes, rep->managed, rep->max_percent);
}

static void print_text(struct tenant_plan *const *plans, size_t n,
                       const struct plan_report *rep, bool markdown, FILE *out)
{
  size_t changes = 0;

  if (markdown)
    fputs("## tenantd plan\n\n", out);
  print_diags(rep->diags, markdown, out);
  print_verdict(rep, markdown, out);
  for (size_t i = 0; i < n; i++) {
    const struct tenant_plan *tp = plans[i];
    size_t shown = 0;

    if (markdown)
      fprintf(out, "### %s\n\n", tp->tenant);
    else
      fprintf(out, "tenant %s: ", tp->tenant);
    if (tp->held) {
      fprintf(out, "held, nothing changes: %s\n\n", tp->held_reason);
      continue;
    }
    if (markdown)
      fputs("**", out);
    if (tp->suspended)
      fputs("suspended (observed only): ", out);
    summary(tp, out);
    if (markdown)
      fputs("**", out);
    fputc('\n', out);
    if (markdown)
      fputs("\n```diff\n", out);
    for (size_t k = 0; k < tp->n; k++) {
      if (tp->v[k].kind == PLAN_NOOP)
        continue;
      action_lines(&tp->v[k], markdown ? "" : "  ", out);
      shown++;
    }
    if (markdown)
      fputs(shown ? "```\n" : "(no changes)\n```\n", out);
    else if (!shown)
      fputs("  no changes\n", out);
    fputc('\n', out);
    changes += tenant_plan_changes(tp);
  }
  fprintf(out, markdown ? "%zu change%s pending.\n" : "%zu change%s pending\n",
          changes, changes == 1 ? "" : "s");
}

static void print_json(struct tenant_plan *const *plans, size_t n,
                       const struct plan_report *rep, FILE *out)
{
  const char *refusal = rep->refusal;
  json_t *root = json_object(), *tenants = json_array();

  for (size_t i = 0; i < n; i++) {
    const struct tenant_plan *tp = plans[i];
    json_t *t = json_object(), *actions = json_array();

    json_object_set_new(t, "tenant", json_string(tp->tenant));
    json_object_set_new(t, "held", json_boolean(tp->held));
    if (tp->held_reason)
      json_object_set_new(t, "heldReason", json_string(tp->held_reason));
    json_object_set_new(t, "suspended", json_boolean(tp->suspended));
    for (size_t k = 0; k < tp->n; k++) {
      const struct plan_action *a = &tp->v[k];
      json_t *fields;

      if (a->kind == PLAN_NOOP)
        continue;
      fields = json_array();
      for (size_t f = 0; f < a->diff.n; f++)
        json_array_append_new(
            fields,
            json_pack("{s:s, s:O?, s:O?, s:b}", "attr", a->diff.v[f].attr,
                      "from", a->diff.v[f].observed, "to", a->diff.v[f].desired,
                      "forcesReplace", a->diff.v[f].immutable));
      json_array_append_new(
          actions,
          json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s?, s:o}", "action",
                    plan_kind_names[a->kind], "id", a->res->id, "type",
                    resource_type_name(a->res->type), "name", a->res->name,
                    "drift", a->drift, "held", a->held, "note", a->note,
                    "changes", fields));
    }
    json_object_set_new(t, "actions", actions);
    json_object_set_new(t, "pending",
                        json_integer((json_int_t)tenant_plan_changes(tp)));
    json_array_append_new(tenants, t);
  }
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

void plan_print(struct tenant_plan *const *plans, size_t n,
                enum plan_format fmt, const struct plan_report *rep, FILE *out)
{
  if (fmt == PLAN_JSON)
    print_json(plans, n, rep, out);
  else
    print_text(plans, n, rep, fmt == PLAN_MARKDOWN, out);
}
