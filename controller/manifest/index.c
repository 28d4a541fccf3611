/*
 * index.c - the rules across documents, kept as indexes between loads:
 * every claimed name with its claims (tenant names, derived names, DNS
 * names), the names claimed twice or more at hand, and every network in
 * order.  A document goes in and out with its claims (manifest__rules), so
 * a reload that changed one document does work for one document, and a
 * report costs what the problems cost: in a clean repository, nothing.
 *
 * The reports say exactly what a check over every document would say,
 * claim for claim: a name's claims are sorted as that check sorted them
 * (name, path, line, column, order in the document), and the network
 * sweep runs over the same order.
 */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>

#include "manifest/internal.h"

/* Which table a claim goes to, and how its collisions read. */
enum group { GROUP_NAMES, GROUP_DERIVED, GROUP_RECORDS, GROUP_COUNT };

/* A claimed name and its claims.  The key is the name of one of them
 * (they are equal), so it lives as long as the node; the first two
 * claims are held inline, as most names have one. */
struct knode {
  const char *key;
  uint64_t hash;
  const struct manifest__claim **v; /* inl, or malloc'd past two */
  const struct manifest__claim *inl[2];
  struct knode *next; /* in its bucket, or on the free list */
  /* Counts of 32 bits: half a million names take 64 bytes each, not 80. */
  uint32_t n, alloc;
  uint32_t hot; /* position in ix->hot + 1; 0 while claimed once */
  enum group group;
};

struct ktable {
  struct knode **b;
  size_t nb, n;
};

/* Nodes are made in slabs and reused from a free list: a repository of
 * 10,000 tenants claims half a million names, made and freed in bulk. */
#define SLAB_NODES 1024

struct slab {
  struct slab *next;
  struct knode nodes[SLAB_NODES];
};

struct manifest__index {
  struct ktable t[GROUP_COUNT];
  struct knode **hot; /* names claimed twice or more */
  size_t nhot, hot_alloc;
  const struct manifest__net **nets; /* sorted as the sweep reads them */
  size_t nnets, nets_alloc;
  bool overlaps; /* the networks may overlap: sweep them at the report */
  struct slab *slabs;
  size_t slab_used; /* nodes of slabs (the newest) handed out */
  struct knode *free_nodes;
};

static enum group group_of(enum manifest__claim_kind k)
{
  return k == CLAIM_TENANT    ? GROUP_NAMES
         : k == CLAIM_DERIVED ? GROUP_DERIVED
                              : GROUP_RECORDS;
}

struct manifest__index *manifest__index_new(void)
{
  return td_calloc(1, sizeof(struct manifest__index));
}

void manifest__index_free(struct manifest__index *ix)
{
  if (!ix)
    return;
  for (struct slab *s = ix->slabs, *next; s; s = next) {
    size_t used = s == ix->slabs ? ix->slab_used : SLAB_NODES;

    next = s->next;
    for (size_t i = 0; i < used; i++)
      if (s->nodes[i].v != s->nodes[i].inl)
        free(s->nodes[i].v);
    free(s);
  }
  for (int g = 0; g < GROUP_COUNT; g++)
    free(ix->t[g].b);
  free(ix->hot);
  free(ix->nets);
  free(ix);
}

/* ---- names ---- */

static uint64_t hash_str(const char *s)
{
  uint64_t h = 0xcbf29ce484222325ULL;

  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

static struct knode *node_new(struct manifest__index *ix)
{
  struct knode *k = ix->free_nodes;

  if (k) {
    ix->free_nodes = k->next;
  } else {
    if (!ix->slabs || ix->slab_used == SLAB_NODES) {
      struct slab *s = td_malloc(sizeof(*s));

      s->next = ix->slabs;
      ix->slabs = s;
      ix->slab_used = 0;
    }
    k = &ix->slabs->nodes[ix->slab_used++];
  }
  memset(k, 0, sizeof(*k));
  k->v = k->inl;
  k->alloc = ARRAY_SIZE(k->inl);
  return k;
}

static void node_free(struct manifest__index *ix, struct knode *k)
{
  if (k->v != k->inl)
    free(k->v);
  k->v = k->inl;
  k->next = ix->free_nodes;
  ix->free_nodes = k;
}

static void table_grow(struct ktable *t)
{
  size_t nb = t->nb ? 2 * t->nb : 1024;
  struct knode **b = td_calloc(nb, sizeof(*b));

  for (size_t i = 0; i < t->nb; i++)
    for (struct knode *k = t->b[i], *next; k; k = next) {
      size_t at = k->hash % nb;

      next = k->next;
      k->next = b[at];
      b[at] = k;
    }
  free(t->b);
  t->b = b;
  t->nb = nb;
}

/* The node of `key`; made (keyed by `key`, which must outlive it) when
 * `make`, else NULL when there is none.  *slot is where it hangs, for
 * unlinking. */
static struct knode *table_get(struct manifest__index *ix, struct ktable *t,
                               const char *key, bool make, struct knode ***slot)
{
  struct knode **at, *k;
  uint64_t h;

  if (make && (t->n + 1) * 2 > t->nb)
    table_grow(t);
  if (!t->nb)
    return NULL;
  h = hash_str(key);
  at = &t->b[h % t->nb];
  for (; *at; at = &(*at)->next)
    if ((*at)->hash == h && strcmp((*at)->key, key) == 0) {
      *slot = at;
      return *at;
    }
  if (!make)
    return NULL;
  k = node_new(ix);
  k->key = key;
  k->hash = h;
  *at = k;
  *slot = at;
  t->n++;
  return k;
}

static void hot_add(struct manifest__index *ix, struct knode *k)
{
  if (ix->nhot == ix->hot_alloc) {
    ix->hot_alloc = ix->hot_alloc ? 2 * ix->hot_alloc : 16;
    ix->hot = td_realloc(ix->hot, ix->hot_alloc * sizeof(*ix->hot));
  }
  ix->hot[ix->nhot++] = k;
  k->hot = (uint32_t)ix->nhot;
}

static void hot_remove(struct manifest__index *ix, struct knode *k)
{
  size_t at = k->hot - 1;

  ix->hot[at] = ix->hot[--ix->nhot];
  ix->hot[at]->hot = (uint32_t)(at + 1);
  k->hot = 0;
}

static void claim_in(struct manifest__index *ix,
                     const struct manifest__claim *c)
{
  enum group g = group_of(c->kind);
  struct knode **slot, *k = table_get(ix, &ix->t[g], c->name, true, &slot);

  k->group = g;
  if (k->n == k->alloc) {
    const struct manifest__claim **v;

    k->alloc *= 2;
    v = td_malloc(k->alloc * sizeof(*v));
    memcpy(v, k->v, k->n * sizeof(*v));
    if (k->v != k->inl)
      free(k->v);
    k->v = v;
  }
  k->v[k->n++] = c;
  if (k->n == 2)
    hot_add(ix, k);
}

static void claim_out(struct manifest__index *ix,
                      const struct manifest__claim *c)
{
  enum group g = group_of(c->kind);
  struct knode **slot, *k = table_get(ix, &ix->t[g], c->name, false, &slot);

  if (!k)
    return;
  for (size_t i = 0; i < k->n; i++)
    if (k->v[i] == c) {
      k->v[i] = k->v[--k->n];
      break;
    }
  if (k->n < 2 && k->hot)
    hot_remove(ix, k);
  if (k->n == 0) {
    *slot = k->next;
    ix->t[g].n--;
    node_free(ix, k);
  } else if (k->key == c->name) {
    /* The key was this claim's copy, which goes with its document. */
    k->key = k->v[0]->name;
  }
}

/* ---- networks ---- */

static int net_cmp(const struct manifest__net *a, const struct manifest__net *b)
{
  int c;

  if (a->first != b->first)
    return a->first < b->first ? -1 : 1;
  if (a->last != b->last)
    return a->last > b->last ? -1 : 1; /* the wider one first */
  c = strcmp(a->path, b->path);
  if (c)
    return c;
  return a->pos.line < b->pos.line ? -1 : a->pos.line > b->pos.line;
}

/* The first position whose network does not sort before `n`. */
static size_t net_lower_bound(const struct manifest__index *ix,
                              const struct manifest__net *n)
{
  size_t lo = 0, hi = ix->nnets;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;

    if (net_cmp(ix->nets[mid], n) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/*
 * While no two networks overlap, the widest network before position i is
 * the one just before it, so a new network overlaps another exactly when
 * it overlaps a neighbour.  Once some do, the report sweeps them all, and
 * finds out whether they still do.
 */
static void net_in(struct manifest__index *ix, const struct manifest__net *n)
{
  size_t at = net_lower_bound(ix, n);

  if (ix->nnets == ix->nets_alloc) {
    ix->nets_alloc = ix->nets_alloc ? 2 * ix->nets_alloc : 64;
    ix->nets = td_realloc(ix->nets, ix->nets_alloc * sizeof(*ix->nets));
  }
  memmove(&ix->nets[at + 1], &ix->nets[at],
          (ix->nnets - at) * sizeof(*ix->nets));
  ix->nets[at] = n;
  ix->nnets++;
  if (at > 0 && ix->nets[at - 1]->last >= n->first)
    ix->overlaps = true;
  if (at + 1 < ix->nnets && n->last >= ix->nets[at + 1]->first)
    ix->overlaps = true;
}

static void net_out(struct manifest__index *ix, const struct manifest__net *n)
{
  for (size_t at = net_lower_bound(ix, n);
       at < ix->nnets && net_cmp(ix->nets[at], n) == 0; at++)
    if (ix->nets[at] == n) {
      memmove(&ix->nets[at], &ix->nets[at + 1],
              (ix->nnets - at - 1) * sizeof(*ix->nets));
      ix->nnets--;
      return;
    }
}

void manifest__index_reserve(struct manifest__index *ix, const size_t claims[3])
{
  /* In the order of enum group. */
  for (int g = 0; g < GROUP_COUNT; g++)
    while ((ix->t[g].n + claims[g]) * 2 > ix->t[g].nb)
      table_grow(&ix->t[g]);
}

void manifest__index_add(struct manifest__index *ix,
                         const struct manifest__rules *r)
{
  for (size_t i = 0; i < r->nclaims; i++)
    claim_in(ix, &r->claims[i]);
  for (size_t i = 0; i < r->nnets; i++)
    net_in(ix, &r->nets[i]);
}

void manifest__index_drop(struct manifest__index *ix,
                          const struct manifest__rules *r)
{
  for (size_t i = 0; i < r->nclaims; i++)
    claim_out(ix, &r->claims[i]);
  for (size_t i = 0; i < r->nnets; i++)
    net_out(ix, &r->nets[i]);
}

/* ---- reports ---- */

static void diag_at(struct diag_list *out, const char *path, struct src_pos pos,
                    const char *fmt, ...) TD_PRINTF(4, 5);

static void diag_at(struct diag_list *out, const char *path, struct src_pos pos,
                    const char *fmt, ...)
{
  char msg[768];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  yaml_diag_add(out, path, pos.line, pos.col, msg);
}

static bool same_owner(const struct manifest__claim *a,
                       const struct manifest__claim *b)
{
  if (a->kind != b->kind || strcmp(a->tenant, b->tenant) != 0 ||
      strcmp(a->env, b->env) != 0)
    return false;
  if (a->kind == CLAIM_DERIVED)
    return true;
  return strcmp(a->app, b->app) == 0 &&
         (a->kind != CLAIM_ALIAS || a->alias == b->alias);
}

/* "the public name of app 'api' in acme/staging", and the like. */
static void claim_what(const struct manifest__claim *c, char *buf, size_t cap)
{
  switch (c->kind) {
  case CLAIM_TENANT:
    snprintf(buf, cap, "%s", c->path);
    break;
  case CLAIM_DERIVED:
    snprintf(buf, cap, "tenant '%s' environment '%s'", c->tenant, c->env);
    break;
  case CLAIM_PUBLIC:
    snprintf(buf, cap, "the public name of app '%s' in %s/%s", c->app,
             c->tenant, c->env);
    break;
  case CLAIM_PRIVATE:
    snprintf(buf, cap, "the private name of app '%s' in %s/%s", c->app,
             c->tenant, c->env);
    break;
  case CLAIM_ALIAS:
    snprintf(buf, cap, "an alias of app '%s' in %s/%s", c->app, c->tenant,
             c->env);
    break;
  }
}

/* Report at the later place in reading order, naming the earlier. */
static int claim_cmp(const void *pa, const void *pb)
{
  const struct manifest__claim *a = *(const struct manifest__claim *const *)pa;
  const struct manifest__claim *b = *(const struct manifest__claim *const *)pb;
  int c = strcmp(a->name, b->name);

  if (c)
    return c;
  c = strcmp(a->path, b->path);
  if (c)
    return c;
  if (a->pos.line != b->pos.line)
    return a->pos.line < b->pos.line ? -1 : 1;
  if (a->pos.col != b->pos.col)
    return a->pos.col < b->pos.col ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Tenants: one name, one file.  Each file names the first other one. */
static void report_duplicates(const struct manifest__claim *const *v, size_t n,
                              struct diag_list *out)
{
  for (size_t i = 0; i < n; i++) {
    const struct manifest__claim *me = v[i];
    const struct manifest__claim *other = i > 0 ? v[i - 1] : v[i + 1];

    diag_at(out, me->path, me->pos, "tenant '%s' is also defined in %s:%u:%u",
            me->name, other->path, other->pos.line, other->pos.col);
  }
}

/*
 * Every claim of a name claimed by two different owners reports, naming
 * the earliest claim of another owner: both places get the error, so which
 * file is read first decides nothing.
 */
static void report_collisions(const struct manifest__claim *const *v, size_t n,
                              const char *fmt, struct diag_list *out)
{
  for (size_t k = 0; k < n; k++) {
    const struct manifest__claim *me = v[k];

    for (size_t o = 0; o < n; o++) {
      const struct manifest__claim *other = v[o];
      char mine[512], theirs[512];

      if (same_owner(other, me))
        continue;
      claim_what(me, mine, sizeof(mine));
      claim_what(other, theirs, sizeof(theirs));
      diag_at(out, me->path, me->pos, fmt, me->name, mine, theirs, other->path,
              other->pos.line, other->pos.col);
      break;
    }
  }
}

/* Both networks of an overlap get the error, each naming the other. */
static void overlap(const struct manifest__net *a,
                    const struct manifest__net *b, struct diag_list *out)
{
  diag_at(out, b->path, b->pos,
          "network %s of tenant '%s' environment '%s' overlaps %s of "
          "tenant '%s' environment '%s' (%s:%u:%u)",
          b->text, b->tenant, b->env, a->text, a->tenant, a->env, a->path,
          a->pos.line, a->pos.col);
  diag_at(out, a->path, a->pos,
          "network %s of tenant '%s' environment '%s' overlaps %s of "
          "tenant '%s' environment '%s' (%s:%u:%u)",
          a->text, a->tenant, a->env, b->text, b->tenant, b->env, b->path,
          b->pos.line, b->pos.col);
}

/* Sweep in order: each network overlaps the widest seen so far exactly
 * when it starts before that one ends. */
static bool sweep(const struct manifest__index *ix, struct diag_list *out)
{
  const struct manifest__net *widest = NULL;
  bool any = false;

  for (size_t i = 0; i < ix->nnets; i++) {
    if (widest && ix->nets[i]->first <= widest->last) {
      overlap(widest, ix->nets[i], out);
      any = true;
    }
    if (!widest || ix->nets[i]->last > widest->last)
      widest = ix->nets[i];
  }
  return any;
}

void manifest__index_report(struct manifest__index *ix, struct diag_list *out)
{
  static const char *const fmt[GROUP_COUNT] = {
      [GROUP_DERIVED] = "derived name '%s' (network, bucket; database with "
                        "'_') belongs both to %s and to %s (%s:%u:%u)",
      [GROUP_RECORDS] = "DNS name '%s' is both %s and %s (%s:%u:%u)",
  };

  for (size_t i = 0; i < ix->nhot; i++) {
    struct knode *k = ix->hot[i];
    const struct manifest__claim **v = td_malloc(k->n * sizeof(*v));

    memcpy(v, k->v, k->n * sizeof(*v));
    qsort(v, k->n, sizeof(*v), claim_cmp);
    if (k->group == GROUP_NAMES)
      report_duplicates(v, k->n, out);
    else
      report_collisions(v, k->n, fmt[k->group], out);
    free(v);
  }
  if (ix->overlaps)
    ix->overlaps = sweep(ix, out);
}
