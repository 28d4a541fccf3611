/*
 * plan_print_internal.h - shared by plan_print.c (text, Markdown) and
 * plan_print_json.c (JSON) only.
 */
#ifndef TD_PLAN_PRINT_INTERNAL_H
#define TD_PLAN_PRINT_INTERNAL_H

#include "base/compat.h"

#include <stdio.h>

#include "engine/plan.h"

/* What the plans add up to, for the Markdown header and JSON. */
struct totals {
  size_t tenants, shown, changing, held;
  size_t count[PLAN_KIND_COUNT];
  size_t drifted, adopted, changes, awaiting;
  int64_t cost_change; /* cents a month */
};

void plan__add_up(struct tenant_plan *const *plans, size_t n, struct totals *t);

/* Whether an action is printed (a no-op is not, but an adoption). */
bool plan__shown(const struct plan_action *a);

/* A tenant's cost line ("+250/month: standard -> premium"); false when
 * it has none. */
bool plan__cost_line(const struct plan_cost *c, char *buf, size_t cap);

/* A repository URL as shown: without credentials, cut short; caller
 * frees. */
char *plan__url_shown(const char *url);

void plan__print_json(struct tenant_plan *const *plans, size_t n,
                      const struct plan_report *rep, FILE *out);

#endif
