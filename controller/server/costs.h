/*
 * costs.h - what the fleet costs a month, by the tier catalog: the
 * answer of GET /api/v1/costs and the tenantd_tenant_monthly_cost gauge.
 *
 * A snapshot is taken from the manifests a pass loaded (on the pass's
 * thread, which owns them then) and handed to the loop thread, where it
 * is read until the next one replaces it; it points into nothing.
 *
 *   struct costs *c = costs_new(repo);      -- NULL repo: NULL
 *   json_t *j = costs_json(c);              -- a new reference
 *   costs_free(c);
 *
 * Each tenant with a valid manifest is listed with its tier, its
 * environments and its monthly cost (manifest_tenant_monthly(): the
 * tier's monthlyPrice, times the environments when the catalog's
 * priceBasis is environment); a tier without a price gives null, and
 * counts in no total.  A tenant whose manifest is invalid is counted in
 * "invalid", not priced.
 */
#ifndef TD_COSTS_H
#define TD_COSTS_H

#include "base/compat.h"

#include <jansson.h>

#include "manifest/manifest.h"

struct costs_tenant {
  char *name, *tier;
  size_t environments;
  bool priced;
  int64_t monthly; /* cents */
};

struct costs {
  struct arena text; /* the tenants' names and tiers */
  char *currency;
  bool per_environment;
  struct costs_tenant *v; /* sorted by name */
  size_t n;
  size_t invalid; /* tenant files that could not be read as tenants */
  int64_t total;  /* cents, over the priced tenants */
  json_t *tiers;  /* {"<tier>": {"monthlyPrice": N|null}}, catalog order */
};

/* A snapshot of `repo`'s tenants and prices, or NULL when repo is. */
struct costs *costs_new(const struct manifest_repo *repo);
void costs_free(struct costs *c);

/* The tenant's entry, or NULL. */
const struct costs_tenant *costs_find(const struct costs *c, const char *name);

/*
 * {"currency": "USD", "priceBasis": "tenant", "total": 597,
 *  "tiers": {"basic": {"monthlyPrice": 49, "tenants": 1, "monthly": 49},
 *            ...},
 *  "tenants": [{"name", "tier", "environments", "monthly"}, ...],
 *  "invalid": 0}
 * Amounts are numbers of the currency's unit (9.99), integers when
 * whole.  A NULL snapshot (no manifests loaded yet) gives an empty
 * answer in the default currency.
 */
json_t *costs_json(const struct costs *c);

/* An amount in cents as a JSON number: an integer when it is whole. */
json_t *costs_amount(int64_t cents);

#endif
