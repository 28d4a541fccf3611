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

/*
 * The names and tiers of snapshots.  A snapshot made from another holds
 * a text of its own (the changed tenants' strings) whose parent is the
 * other's; a text lives while a snapshot or a child holds it.  Past
 * COSTS_TEXT_DEPTH parents a snapshot copies every string afresh, so the
 * chain, and the strings of tenants long changed, stay few.
 */
struct costs_text {
  atomic_uint refs;
  unsigned depth;
  struct costs_text *parent;
  struct arena a;
};
#define COSTS_TEXT_DEPTH 16

static struct costs_text *text_new(struct costs_text *parent)
{
  struct costs_text *t = td_calloc(1, sizeof(*t));

  atomic_init(&t->refs, 1);
  t->a = (struct arena)ARENA_INIT;
  if (parent) {
    atomic_fetch_add(&parent->refs, 1);
    t->parent = parent;
    t->depth = parent->depth + 1;
  }
  return t;
}

static void text_unref(struct costs_text *t)
{
  while (t && atomic_fetch_sub(&t->refs, 1) == 1) {
    struct costs_text *parent = t->parent;

    arena_release(&t->a);
    free(t);
    t = parent;
  }
}

/* What the prices come from: the catalog's bytes and whether it is
 * valid; "" when that cannot be told (a catalog read with no key). */
static void catalog_id(const struct manifest_repo *repo, char *out, size_t cap)
{
  const struct manifest_doc *cat = repo->catalog;

  if (!cat)
    snprintf(out, cap, "none");
  else if (cat->key[0])
    snprintf(out, cap, "%s %d", cat->key, cat->valid);
  else if (strncmp(cat->path, "<built-in>", 10) == 0)
    snprintf(out, cap, "%s %d", cat->path, cat->valid);
  else
    out[0] = '\0';
}

/* A snapshot of repo's catalog, with room for its tenants; no text. */
static struct costs *snapshot(const struct manifest_repo *repo,
                              const struct mf_catalog **catp)
{
  const struct mf_catalog *cat =
      repo->catalog && repo->catalog->valid ? repo->catalog->u.catalog : NULL;
  struct costs *c = td_calloc(1, sizeof(*c));

  atomic_init(&c->refs, 1);
  c->currency = td_strdup(manifest_catalog_currency(cat));
  c->per_environment =
      cat && cat->spec.price_basis.v == MF_PRICE_PER_ENVIRONMENT;
  c->tiers = tier_prices(cat);
  catalog_id(repo, c->catalog, sizeof(c->catalog));
  c->v = td_calloc(repo->ntenants + 1, sizeof(*c->v));
  c->docs = td_calloc(repo->ntenants + 1, sizeof(*c->docs));
  c->ndocs = repo->ntenants;
  *catp = cat;
  return c;
}

/* Whether the document is a tenant the snapshot lists. */
static bool listed(const struct manifest_doc *doc)
{
  const struct mf_tenant *t = doc->u.tenant;

  return doc->valid && t && t->meta.name.v && t->spec.tier.v;
}

/* The entry of a listed document, its strings in `text`; `tier`, when
 * it names the same tier, is used instead of a new copy. */
static void entry_of(const struct manifest_doc *doc,
                     const struct mf_catalog *cat, struct arena *text,
                     const char *tier, struct costs_tenant *e)
{
  const struct mf_tenant *t = doc->u.tenant;

  e->name = arena_strdup(text, t->meta.name.v);
  /* A fleet has a few tiers: one copy each in a row of the same. */
  e->tier = tier && strcmp(tier, t->spec.tier.v) == 0
                ? (char *)tier
                : arena_strdup(text, t->spec.tier.v);
  e->environments = t->spec.envs.n;
  e->priced = cat && manifest_tenant_monthly(cat, t, &e->monthly) == 0;
}

/* The total over the priced entries; past int64_t it stays at the
 * largest. */
static void add_up(struct costs *c)
{
  c->total = 0;
  for (size_t i = 0; i < c->n; i++)
    if (c->v[i].priced &&
        __builtin_add_overflow(c->total, c->v[i].monthly, &c->total))
      c->total = INT64_MAX;
}

struct costs *costs_new(const struct manifest_repo *repo)
{
  const struct mf_catalog *cat;
  struct costs *c;
  bool sorted = true;

  if (!repo)
    return NULL;
  c = snapshot(repo, &cat);
  c->text = text_new(NULL);
  for (size_t i = 0; i < repo->ntenants; i++) {
    const struct manifest_doc *doc = repo->tenants[i];
    struct costs_tenant *e = &c->v[c->n];

    memcpy(c->docs[i].key, doc->key, sizeof(c->docs[i].key));
    c->docs[i].entry = COSTS_NO_ENTRY;
    if (!listed(doc)) {
      c->invalid++;
      continue;
    }
    entry_of(doc, cat, &c->text->a, c->n ? e[-1].tier : NULL, e);
    e->doc = (uint32_t)i;
    if (c->n > 0 && sorted && strcmp(e[-1].name, e->name) > 0)
      sorted = false;
    c->n++;
  }
  /* The documents come in path order, which is not always name order
   * ("a-b.yaml" before "a.yaml"); costs_find() searches by name. */
  if (!sorted)
    qsort(c->v, c->n, sizeof(*c->v), entry_cmp);
  for (size_t k = 0; k < c->n; k++)
    c->docs[c->v[k].doc].entry = (uint32_t)k;
  add_up(c);
  return c;
}

/* prev's entries, those of changed documents worked out again into c;
 * false when a change moves an entry (a tenant renamed, one now valid or
 * no longer): then the order is no longer prev's. */
static bool patch(struct costs *c, const struct costs *prev,
                  const struct manifest_repo *repo,
                  const struct mf_catalog *cat)
{
  memcpy(c->v, prev->v, prev->n * sizeof(*c->v));
  c->n = prev->n;
  c->invalid = prev->invalid;
  for (size_t i = 0; i < repo->ntenants; i++) {
    const struct manifest_doc *doc = repo->tenants[i];
    const struct costs_doc *was = &prev->docs[i];
    bool had = was->entry != COSTS_NO_ENTRY;
    struct costs_tenant e;

    bool same = doc->key[0] && strcmp(doc->key, was->key) == 0;

    memcpy(c->docs[i].key, doc->key, sizeof(c->docs[i].key));
    c->docs[i].entry = was->entry;
    /* The same bytes decode the same: only the rules across documents
     * can have made it valid or not since. */
    if ((same && had ? doc->valid : listed(doc)) != had)
      return false;
    if (!had || same)
      continue;
    entry_of(doc, cat, &c->text->a, NULL, &e);
    if (strcmp(e.name, prev->v[was->entry].name) != 0)
      return false;
    e.doc = (uint32_t)i;
    c->v[was->entry] = e;
  }
  add_up(c);
  return true;
}

struct costs *costs_next(const struct costs *prev,
                         const struct manifest_repo *repo)
{
  const struct mf_catalog *cat;
  struct costs *c;

  if (!repo)
    return NULL;
  if (!prev || prev->ndocs != repo->ntenants || !prev->catalog[0] ||
      prev->text->depth >= COSTS_TEXT_DEPTH)
    return costs_new(repo);
  c = snapshot(repo, &cat);
  c->text = text_new(prev->text);
  if (strcmp(c->catalog, prev->catalog) != 0 || !patch(c, prev, repo, cat)) {
    costs_free(c);
    return costs_new(repo);
  }
  return c;
}

struct costs *costs_ref(struct costs *c)
{
  if (c)
    atomic_fetch_add(&c->refs, 1);
  return c;
}

void costs_free(struct costs *c)
{
  if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
    return;
  text_unref(c->text);
  free(c->v);
  free(c->docs);
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
