#include "base/compat.h"

#include "server/costs.h"

json_t *costs_amount(int64_t cents)
{
  if (cents % 100 == 0)
    return json_integer((json_int_t)(cents / 100));
  return json_real((double)cents / 100);
}

static json_t *tier_prices(const struct mf_catalog *cat)
{
  json_t *tiers = json_object();

  for (uint32_t i = 0; cat && i < cat->spec.tiers.n; i++) {
    const struct mf_tier *t = mf_catalog_tier(cat, i);
    int64_t price;

    json_object_set_new(tiers, t->name.v,
                        json_pack("{s:o}", "monthlyPrice",
                                  manifest_tier_price(t, &price) == 0
                                      ? costs_amount(price)
                                      : json_null()));
  }
  return tiers;
}

static int entry_cmp(const void *a, const void *b)
{
  return strcmp(((const struct costs_tenant *)a)->name,
                ((const struct costs_tenant *)b)->name);
}

struct costs *costs_new(const struct manifest_repo *repo)
{
  const struct mf_catalog *cat;
  struct costs *c;
  bool sorted = true;

  if (!repo)
    return NULL;
  cat = repo->catalog && repo->catalog->valid ? repo->catalog->u.catalog : NULL;
  c = td_calloc(1, sizeof(*c));
  c->currency = td_strdup(manifest_catalog_currency(cat));
  c->per_environment =
      cat && cat->spec.price_basis.v == MF_PRICE_PER_ENVIRONMENT;
  c->tiers = tier_prices(cat);
  c->v = td_calloc(repo->ntenants + 1, sizeof(*c->v));
  c->text = (struct arena)ARENA_INIT;
  for (size_t i = 0; i < repo->ntenants; i++) {
    const struct manifest_doc *doc = repo->tenants[i];
    const struct mf_tenant *t = doc->u.tenant;
    struct costs_tenant *e;

    if (!doc->valid || !t || !t->meta.name.v || !t->spec.tier.v) {
      c->invalid++;
      continue;
    }
    e = &c->v[c->n++];
    e->name = arena_strdup(&c->text, t->meta.name.v);
    /* A fleet has a few tiers: one copy each in a row of the same. */
    e->tier = c->n > 1 && strcmp(e[-1].tier, t->spec.tier.v) == 0
                  ? e[-1].tier
                  : arena_strdup(&c->text, t->spec.tier.v);
    if (c->n > 1 && sorted && strcmp(e[-1].name, e->name) > 0)
      sorted = false;
    e->environments = t->spec.envs.n;
    e->priced = cat && manifest_tenant_monthly(cat, t, &e->monthly) == 0;
    /* A total past int64_t is no total: it stays at the largest. */
    if (e->priced && __builtin_add_overflow(c->total, e->monthly, &c->total))
      c->total = INT64_MAX;
  }
  /* The documents come in path order, which is not always name order
   * ("a-b.yaml" before "a.yaml"); costs_find() searches by name. */
  if (!sorted)
    qsort(c->v, c->n, sizeof(*c->v), entry_cmp);
  return c;
}

void costs_free(struct costs *c)
{
  if (!c)
    return;
  arena_release(&c->text);
  free(c->v);
  free(c->currency);
  json_decref(c->tiers);
  free(c);
}

static int tenant_cmp(const void *key, const void *elem)
{
  return strcmp(key, ((const struct costs_tenant *)elem)->name);
}

const struct costs_tenant *costs_find(const struct costs *c, const char *name)
{
  if (!c || c->n == 0)
    return NULL;
  return bsearch(name, c->v, c->n, sizeof(*c->v), tenant_cmp);
}

/* Each tier's price, and how many tenants it has and what they cost. */
static json_t *tiers_json(const struct costs *c)
{
  json_t *tiers = json_deep_copy(c->tiers), *entry;
  const char *name;

  json_object_foreach(tiers, name, entry)
  {
    size_t tenants = 0;
    int64_t sum = 0;

    for (size_t i = 0; i < c->n; i++)
      if (strcmp(c->v[i].tier, name) == 0) {
        tenants++;
        if (c->v[i].priced &&
            __builtin_add_overflow(sum, c->v[i].monthly, &sum))
          sum = INT64_MAX;
      }
    json_object_set_new(entry, "tenants", json_integer((json_int_t)tenants));
    json_object_set_new(entry, "monthly", costs_amount(sum));
  }
  return tiers;
}

json_t *costs_json(const struct costs *c)
{
  json_t *tenants;

  if (!c)
    return json_pack("{s:s, s:s, s:i, s:{}, s:[], s:i}", "currency",
                     MANIFEST_CURRENCY_DEFAULT, "priceBasis", "tenant", "total",
                     0, "tiers", "tenants", "invalid", 0);
  tenants = json_array();
  for (size_t i = 0; i < c->n; i++) {
    const struct costs_tenant *e = &c->v[i];

    json_array_append_new(
        tenants,
        json_pack("{s:s, s:s, s:I, s:o}", "name", e->name, "tier", e->tier,
                  "environments", (json_int_t)e->environments, "monthly",
                  e->priced ? costs_amount(e->monthly) : json_null()));
  }
  return json_pack("{s:s, s:s, s:o, s:o, s:o, s:I}", "currency", c->currency,
                   "priceBasis", c->per_environment ? "environment" : "tenant",
                   "total", costs_amount(c->total), "tiers", tiers_json(c),
                   "tenants", tenants, "invalid", (json_int_t)c->invalid);
}
