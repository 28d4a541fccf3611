/*
 * costs.h - what the fleet costs a month, by the tier catalog: the
 * answer of GET /api/v1/costs and the tenantd_tenant_monthly_cost gauge.
 *
 * A snapshot is taken from the manifests a pass loaded (on the pass's
 * thread, which owns them then) and handed to the loop thread, where it
 * is read until the next one replaces it; it points into nothing of the
 * manifests'.  A snapshot never changes once made, and is counted: the
 * pass thread keeps the last one it made to make the next from
 * (costs_next()), while the loop thread reads its own reference.
 *
 *   struct costs *c = costs_new(repo);      -- NULL repo: NULL
 *   struct costs *d = costs_next(c, repo2); -- c's entries where they hold
 *   json_t *j = costs_json(d);              -- a new reference
 *   costs_free(c);                          -- drops a reference
 *   costs_free(d);
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
#include <stdatomic.h>

#include "manifest/manifest.h"

struct costs_tenant {
  char *name, *tier;
  size_t environments;
  bool priced;
  int64_t monthly; /* cents */
  uint32_t doc;    /* its document's place in the repo's tenants */
};

/* A tenant document as the snapshot saw it: its bytes' identity, and
 * its entry in v (COSTS_NO_ENTRY: not a valid tenant). */
struct costs_doc {
  char key[41];
  uint32_t entry;
};
#define COSTS_NO_ENTRY UINT32_MAX

struct costs_text;

struct costs {
  atomic_uint refs;
  /* The names and tiers v points to: this snapshot's and those of the
   * snapshots it took entries from. */
  struct costs_text *text;
  char catalog[200];      /* what the prices came from ("": unknown) */
  struct costs_doc *docs; /* in the repo's order */
  size_t ndocs;
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

/*
 * The same, made from `prev` (NULL: from nothing): when the catalog is
 * the one prev priced with and the tenant documents are prev's, in the
 * same places and each as valid as it was, an entry whose document has
 * the same bytes (key) is prev's, shared, and only the changed ones are
 * worked out again.  A pass that changed one tenant of 10,000 then costs
 * a copy of the entries, not a walk of every manifest.  Anything else is
 * costs_new().
 */
struct costs *costs_next(const struct costs *prev,
                         const struct manifest_repo *repo);

/* Another reference to c (NULL: NULL); costs_free() drops one. */
struct costs *costs_ref(struct costs *c);
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
