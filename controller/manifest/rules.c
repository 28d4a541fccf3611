/*
 * rules.c - field string rules, and the checks that span documents: names
 * against files, duplicate names, tiers, dependencies and their
 * cycles, overlapping networks, derived names that collide, record names.
 *
 * Repository-wide checks sort instead of comparing every pair, so a
 * 10,000-tenant repository costs n log n.
 */
#include "base/compat.h"

#include "base/strutil.h"

#include <stdarg.h>
#include <stdio.h>

#include "manifest/internal.h"
#include "model/naming.h"

void manifest__error(struct manifest__ctx *cx, const struct ynode *at,
                     const char *fmt, ...)
{
  char msg[768];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  yaml_diag_add(cx->diags, cx->path, at ? at->line : 0, at ? at->col : 0, msg);
}

int manifest__parse_cidr(struct manifest__ctx *cx, const struct ynode *n,
                         struct mf_cidr *out)
{
  const char *s = n->u.scalar.s;
  const char *slash = strchr(s, '/');
  char addr_text[32], text[80];
  uint32_t addr, mask;
  unsigned prefix = 0;
  size_t alen = slash ? (size_t)(slash - s) : 0;
  const char *p;

  manifest__value_text(text, sizeof(text), n);
  if (!slash || alen >= sizeof(addr_text) || !slash[1])
    goto bad;
  memcpy(addr_text, s, alen);
  addr_text[alen] = '\0';
  if (!naming_is_ipv4(addr_text, &addr))
    goto bad;
  p = slash + 1;
  if (p[0] == '0' && p[1])
    goto bad;
  for (; *p; p++) {
    if (*p < '0' || *p > '9' || prefix > 32)
      goto bad;
    prefix = prefix * 10 + (unsigned)(*p - '0');
  }
  if (prefix > 32)
    goto bad;
  mask = prefix ? ~(uint32_t)0 << (32 - prefix) : 0;
  if (addr & ~mask) {
    uint32_t net = addr & mask;

    manifest__error(
        cx, n, "'%s' has host bits set (did you mean %u.%u.%u.%u/%u?)", text,
        net >> 24, (net >> 16) & 255, (net >> 8) & 255, net & 255, prefix);
    return -1;
  }
  out->addr = addr;
  out->prefix = (uint8_t)prefix;
  return 0;
bad:
  manifest__error(cx, n, "'%s' is not an IPv4 CIDR like 10.20.0.0/16", text);
  return -1;
}

static bool is_endpoint(const char *s)
{
  const char *colon = strrchr(s, ':');
  char host[256];
  size_t hlen;
  unsigned port = 0;
  const char *p;

  if (!colon || colon == s)
    return false;
  hlen = (size_t)(colon - s);
  if (hlen >= sizeof(host))
    return false;
  memcpy(host, s, hlen);
  host[hlen] = '\0';
  if (!naming_is_dnsname(host) && !naming_is_ipv4(host, NULL))
    return false;
  p = colon + 1;
  if (!*p || *p == '0')
    return false;
  for (; *p; p++) {
    if (*p < '0' || *p > '9' || port > 65535)
      return false;
    port = port * 10 + (unsigned)(*p - '0');
  }
  return port >= 1 && port <= 65535;
}

int manifest__check_string(struct manifest__ctx *cx, enum manifest__check check,
                           const char *key, const struct ynode *n)
{
  const char *s = n->u.scalar.s;
  char text[80];

  manifest__value_text(text, sizeof(text), n);
  switch (check) {
  case MF_CHECK_NONE:
    return 0;
  case MF_CHECK_LABEL: {
    char what[80];

    if (naming_is_label(s))
      return 0;
    /* "app name", "tier name", "dependsOn[0]" */
    if (strcmp(key, "name") == 0 && cx->what &&
        strcmp(cx->what, "metadata") == 0)
      snprintf(what, sizeof(what), "metadata.name");
    else if (strcmp(key, "name") == 0 && cx->what)
      snprintf(what, sizeof(what), "%s name", cx->what);
    else
      snprintf(what, sizeof(what), "%s", key);
    manifest__error(
        cx, n,
        "'%s' is not a valid %s: use 1 to 63 lowercase letters, digits "
        "and '-', starting and ending with a letter or digit",
        text, what);
    return -1;
  }
  case MF_CHECK_DNSNAME:
    if (naming_is_dnsname(s))
      return 0;
    manifest__error(
        cx, n,
        "'%s' is not a valid DNS name for %s: lowercase labels of 1 to "
        "63 letters, digits and '-' joined by '.', at most 253 "
        "characters",
        text, key);
    return -1;
  case MF_CHECK_HOST:
    if (naming_is_dnsname(s) || naming_is_ipv4(s, NULL))
      return 0;
    manifest__error(cx, n, "'%s' is not a DNS name or an IPv4 address for %s",
                    text, key);
    return -1;
  case MF_CHECK_INSTANCE: {
    if (naming_is_instance(s))
      return 0;
    manifest__error(
        cx, n,
        "'%s' is not a valid provider instance name for %s: use 1 to 63 "
        "lowercase letters, digits, '-' and '_'",
        text, key);
    return -1;
  }
  case MF_CHECK_ENDPOINT:
    if (is_endpoint(s))
      return 0;
    manifest__error(
        cx, n,
        "'%s' is not an endpoint like host:port (port 1 to 65535) for %s", text,
        key);
    return -1;
  case MF_CHECK_URLPATH:
    if (s[0] == '/')
      return 0;
    manifest__error(cx, n, "'%s' must start with '/' for %s", text, key);
    return -1;
  }
  return 0;
}

/* ---- repository-wide checks ---- */

/* What claims a name; its words are made only when a collision is
 * reported, so a clean repository formats nothing. */
enum claim_kind {
  CLAIM_TENANT,  /* a tenant's name */
  CLAIM_DERIVED, /* an environment's network, bucket and database name */
  CLAIM_PUBLIC,  /* an app's public record */
  CLAIM_PRIVATE, /* an app's private record */
  CLAIM_ALIAS,   /* an app's alias */
};

/* A name some document claims, with where it claims it. */
struct claim {
  const char *name; /* the claims list's arena, or the model's */
  enum claim_kind kind;
  /* Who claims it (borrowed from the model): equal owners may repeat a
   * name.  An alias is its own owner, by its index. */
  const char *tenant, *env, *app;
  uint32_t alias;
  const char *path;
  struct src_pos pos;
  uint32_t seq; /* insertion order: the first claim wins the message */
};

struct claims {
  struct claim *v;
  size_t n, alloc;
  struct arena mem;
};

/* Where the walk over the tenants is: the file, and the names of the
 * tenant, environment and app being checked (borrowed from the model). */
struct owner {
  const char *path;
  const char *tenant, *env, *app;
};

/* Adds a claim by `who`; `name` is copied when `copy` (a scratch buffer). */
static struct claim *claim_add(struct claims *c, const char *name, bool copy,
                               enum claim_kind kind, const struct owner *who,
                               struct src_pos pos)
{
  struct claim *x;

  if (c->n == c->alloc) {
    c->alloc = c->alloc ? c->alloc * 2 : 64;
    c->v = td_realloc(c->v, c->alloc * sizeof(*c->v));
  }
  x = &c->v[c->n];
  *x = (struct claim){.name = copy ? arena_strdup(&c->mem, name) : name,
                      .kind = kind,
                      .tenant = who->tenant,
                      .env = who->env,
                      .app = who->app,
                      .path = who->path,
                      .pos = pos,
                      .seq = (uint32_t)c->n};
  c->n++;
  return x;
}

static bool same_owner(const struct claim *a, const struct claim *b)
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
static void claim_what(const struct claim *c, char *buf, size_t cap)
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

static int claim_cmp(const void *pa, const void *pb)
{
  const struct claim *a = pa, *b = pb;
  int c = strcmp(a->name, b->name);

  if (c)
    return c;
  /* Report at the later place in reading order, naming the earlier. */
  c = strcmp(a->path, b->path);
  if (c)
    return c;
  if (a->pos.line != b->pos.line)
    return a->pos.line < b->pos.line ? -1 : 1;
  if (a->pos.col != b->pos.col)
    return a->pos.col < b->pos.col ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void claims_release(struct claims *c)
{
  free(c->v);
  arena_release(&c->mem);
}

static void diag_at(struct manifest_repo *repo, const char *path,
                    struct src_pos pos, const char *fmt, ...) TD_PRINTF(4, 5);

static void diag_at(struct manifest_repo *repo, const char *path,
                    struct src_pos pos, const char *fmt, ...)
{
  char msg[768];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  yaml_diag_add(&repo->diags, path, pos.line, pos.col, msg);
}

/*
 * Sorts claims and reports every name claimed by two different owners, at
 * each claim, naming the earliest claim of another owner: both places get
 * the error, so which file is read first decides nothing.  `fmt` takes the
 * name, this claim, the other claim and the other's path, line, column.
 */
static void report_collisions(struct manifest_repo *repo, struct claims *c,
                              const char *fmt)
{
  if (c->n > 1)
    qsort(c->v, c->n, sizeof(*c->v), claim_cmp);
  for (size_t i = 0; i < c->n;) {
    size_t j = i + 1;

    while (j < c->n && strcmp(c->v[j].name, c->v[i].name) == 0)
      j++;
    for (size_t k = i; j - i > 1 && k < j; k++) {
      const struct claim *me = &c->v[k];

      for (size_t o = i; o < j; o++) {
        const struct claim *other = &c->v[o];
        char mine[512], theirs[512];

        if (same_owner(other, me))
          continue;
        claim_what(me, mine, sizeof(mine));
        claim_what(other, theirs, sizeof(theirs));
        diag_at(repo, me->path, me->pos, fmt, me->name, mine, theirs,
                other->path, other->pos.line, other->pos.col);
        break;
      }
    }
    i = j;
  }
}

static const char *file_stem(const char *path, char *buf, size_t cap)
{
  const char *base = strrchr(path, '/');
  const char *dot;
  size_t n;

  base = base ? base + 1 : path;
  dot = strrchr(base, '.');
  n = dot ? (size_t)(dot - base) : strlen(base);
  if (n >= cap)
    n = cap - 1;
  memcpy(buf, base, n);
  buf[n] = '\0';
  return buf;
}

/* Duplicate names in a list of structs whose first member is a mf_str. */
static void check_unique(struct manifest_repo *repo, const char *path,
                         const void *items, uint32_t n, size_t size,
                         const char *what)
{
  for (uint32_t i = 1; i < n; i++) {
    const struct mf_str *a = (const void *)((const char *)items + i * size);

    if (!a->v)
      continue;
    for (uint32_t j = 0; j < i; j++) {
      const struct mf_str *b = (const void *)((const char *)items + j * size);

      if (b->v && strcmp(a->v, b->v) == 0) {
        diag_at(repo, path, a->pos,
                "duplicate %s '%s' (first at line %u, column %u)", what, a->v,
                b->pos.line, b->pos.col);
        break;
      }
    }
  }
}

/* The index of the app of `env` named `name`, or UINT32_MAX. */
static uint32_t app_index(const struct mf_env *env, const char *name)
{
  for (uint32_t j = 0; name && j < env->apps.n; j++) {
    const char *other = mf_env_app(env, j)->name.v;

    if (other && strcmp(other, name) == 0)
      return j;
  }
  return UINT32_MAX;
}

/* dependsOn names other apps of the same environment. */
static void check_dep_names(struct manifest_repo *repo, const char *path,
                            const struct mf_env *env)
{
  for (uint32_t i = 0; i < env->apps.n; i++) {
    const struct mf_app *a = mf_env_app(env, i);

    for (uint32_t d = 0; d < a->depends_on.n; d++) {
      const struct mf_str *dep = mf_str_at(&a->depends_on, d);

      /* A name that is not a label was reported where it was decoded. */
      if (!dep->v || !naming_is_label(dep->v))
        continue;
      if (app_index(env, dep->v) == UINT32_MAX)
        diag_at(repo, path, dep->pos,
                "dependsOn names '%s', which is not an app of environment "
                "'%s'",
                dep->v, env->name.v ? env->name.v : "?");
      else if (a->name.v && strcmp(dep->v, a->name.v) == 0)
        diag_at(repo, path, dep->pos, "app '%s' depends on itself", dep->v);
    }
  }
}

/*
 * Reports the cycle that `dep`, an edge from the app on top of the search
 * stack, closes by leading back to app `v` further down: "a -> b -> a".
 */
static void report_cycle(struct manifest_repo *repo, const char *path,
                         const struct mf_env *env, const uint32_t *stack,
                         uint32_t top, uint32_t v, const struct mf_str *dep)
{
  char chain[512];
  size_t used = 0;
  uint32_t k = top;

  while (k > 0 && stack[k - 1] != v)
    k--;
  /* Names that break the label rule are kept and may be long: `used`
   * stays inside the buffer when snprintf truncates. */
  for (uint32_t s = k - 1; s < top && used < sizeof(chain) - 80; s++) {
    used += (size_t)snprintf(chain + used, sizeof(chain) - used, "%s -> ",
                             mf_env_app(env, stack[s])->name.v);
    if (used >= sizeof(chain))
      used = sizeof(chain) - 1;
  }
  snprintf(chain + used, sizeof(chain) - used, "%s",
           mf_env_app(env, v)->name.v);
  diag_at(repo, path, dep->pos, "dependsOn cycle: %s", chain);
}

/* Iterative depth-first search; the edge that closes a cycle reports. */
static void check_dep_cycles(struct manifest_repo *repo, const char *path,
                             const struct mf_env *env)
{
  uint32_t n = env->apps.n;
  /* Per app: 0 not reached yet, 1 on the stack, 2 done. */
  uint8_t *state = td_calloc(n ? n : 1, 1);
  uint32_t *stack = td_calloc(n ? n : 1, sizeof(*stack));
  uint32_t *edge = td_calloc(n ? n : 1, sizeof(*edge));

  for (uint32_t root = 0; root < n; root++) {
    uint32_t top = 0;

    if (state[root])
      continue;
    stack[top] = root;
    edge[top] = 0;
    state[root] = 1;
    top++;
    while (top) {
      uint32_t u = stack[top - 1];
      const struct mf_app *a = mf_env_app(env, u);
      uint32_t v = UINT32_MAX;
      const struct mf_str *dep = NULL;

      while (edge[top - 1] < a->depends_on.n && v == UINT32_MAX) {
        dep = mf_str_at(&a->depends_on, edge[top - 1]++);
        v = app_index(env, dep->v);
      }
      if (v == UINT32_MAX) {
        state[u] = 2;
        top--;
        continue;
      }
      if (v == u)
        continue; /* reported by check_dep_names */
      if (state[v] == 1) {
        report_cycle(repo, path, env, stack, top, v, dep);
        continue;
      }
      if (state[v] == 0) {
        state[v] = 1;
        stack[top] = v;
        edge[top] = 0;
        top++;
      }
    }
  }
  free(state);
  free(stack);
  free(edge);
}

struct net {
  uint32_t first, last;
  const char *text, *tenant, *env, *path;
  struct src_pos pos;
};

static int net_cmp(const void *pa, const void *pb)
{
  const struct net *a = pa, *b = pb;
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

/*
 * Sweep over networks sorted by first address: each one overlaps the
 * widest network seen so far exactly when it starts before that one ends.
 * Both get the error, each naming the other.
 */
static void check_overlaps(struct manifest_repo *repo, struct net *nets,
                           size_t n)
{
  const struct net *widest = NULL;

  if (n > 1)
    qsort(nets, n, sizeof(*nets), net_cmp);
  for (size_t i = 0; i < n; i++) {
    if (widest && nets[i].first <= widest->last) {
      const struct net *a = widest, *b = &nets[i];

      diag_at(repo, b->path, b->pos,
              "network %s of tenant '%s' environment '%s' overlaps %s of "
              "tenant '%s' environment '%s' (%s:%u:%u)",
              b->text, b->tenant, b->env, a->text, a->tenant, a->env, a->path,
              a->pos.line, a->pos.col);
      diag_at(repo, a->path, a->pos,
              "network %s of tenant '%s' environment '%s' overlaps %s of "
              "tenant '%s' environment '%s' (%s:%u:%u)",
              a->text, a->tenant, a->env, b->text, b->tenant, b->env, b->path,
              b->pos.line, b->pos.col);
    }
    if (!widest || nets[i].last > widest->last)
      widest = &nets[i];
  }
}

/* What the walk over the tenants gathers, and what it checks against. */
struct repo_check {
  struct manifest_repo *repo;
  const struct mf_catalog *cat; /* NULL when tiers cannot be checked */
  /* The zones record names are built in: NULL when absent, or when the
   * zone breaks its rule (reported in platform.yaml; naming.h builds
   * names from valid zones only). */
  const char *pub_zone, *priv_zone;
  /* Without spec.domains at all, that one error says enough. */
  bool no_ingress;      /* public records with nothing to point at */
  bool no_private_zone; /* private records with no zone to live in */
  struct claims names, derived, records;
  struct net *nets;
  size_t nnets, nets_alloc;
};

static const struct manifest_doc *platform_doc(const struct manifest_repo *r)
{
  return r->platform && r->platform->u.platform ? r->platform : NULL;
}

static const char *zone_for_names(const char *zone)
{
  return zone && naming_is_dnsname(zone) ? zone : NULL;
}

static void repo_check_init(struct repo_check *rc, struct manifest_repo *repo)
{
  const struct manifest_doc *pd = platform_doc(repo);
  const struct mf_platform *plat = pd ? pd->u.platform : NULL;
  bool check_zones = plat && plat->spec.domains.obj.present;

  *rc = (struct repo_check){.repo = repo};
  if (repo->catalog && repo->catalog->valid)
    rc->cat = repo->catalog->u.catalog;
  if (!plat)
    return;
  rc->pub_zone = zone_for_names(plat->spec.domains.pub.v);
  rc->priv_zone = zone_for_names(plat->spec.domains.priv.v);
  rc->no_ingress = check_zones && !plat->spec.ingress.pub.v;
  rc->no_private_zone = check_zones && !plat->spec.domains.priv.v;
}

static void repo_check_release(struct repo_check *rc)
{
  free(rc->nets);
  claims_release(&rc->names);
  claims_release(&rc->derived);
  claims_release(&rc->records);
}

/* A tenant's name must be its file's; the name is claimed, to be unique. */
static void check_file_name(struct repo_check *rc, const struct owner *who,
                            const struct mf_tenant *t)
{
  char stem[256];

  file_stem(who->path, stem, sizeof(stem));
  if (strcmp(stem, who->tenant) != 0)
    diag_at(rc->repo, who->path, t->meta.name.pos,
            "metadata.name '%s' does not match the file name '%s'", who->tenant,
            stem);
  claim_add(&rc->names, who->tenant, false, CLAIM_TENANT,
            &(struct owner){.path = who->path}, t->meta.name.pos);
}

/* The tier must be in the catalog; the message offers the nearest. */
static void check_tier(struct repo_check *rc, const char *path,
                       const struct mf_tenant *t)
{
  const struct mf_catalog *cat = rc->cat;
  const char *cands[64];
  size_t nc = 0, used = 0;
  const char *hint;
  char list[512] = "";

  if (!cat || !t->spec.tier.v || manifest_catalog_find(cat, t->spec.tier.v))
    return;
  for (uint32_t i = 0; i < cat->spec.tiers.n; i++) {
    const char *name = mf_catalog_tier(cat, i)->name.v;

    if (!name)
      continue;
    if (nc < ARRAY_SIZE(cands))
      cands[nc++] = name;
    if (used < sizeof(list) - 80)
      used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                               used ? ", " : "", name);
  }
  hint = str_suggest(t->spec.tier.v, cands, nc);
  if (hint)
    diag_at(rc->repo, path, t->spec.tier.pos,
            "unknown tier '%s' (did you mean '%s'?)", t->spec.tier.v, hint);
  else
    diag_at(rc->repo, path, t->spec.tier.pos,
            "unknown tier '%s' (the catalog has: %s)", t->spec.tier.v, list);
}

/* Gathers the environment's network for the overlap sweep. */
static void add_network(struct repo_check *rc, const struct owner *who,
                        const struct mf_cidr *cidr)
{
  uint32_t size =
      cidr->prefix ? ~(~(uint32_t)0 << (32 - cidr->prefix)) : UINT32_MAX;

  if (!cidr->text)
    return;
  if (rc->nnets == rc->nets_alloc) {
    rc->nets_alloc = rc->nets_alloc ? rc->nets_alloc * 2 : 64;
    rc->nets = td_realloc(rc->nets, rc->nets_alloc * sizeof(*rc->nets));
  }
  rc->nets[rc->nnets++] = (struct net){.first = cidr->addr,
                                       .last = cidr->addr + size,
                                       .text = cidr->text,
                                       .tenant = who->tenant,
                                       .env = who->env,
                                       .path = who->path,
                                       .pos = cidr->pos};
}

/*
 * Network, bucket and database names differ only in '-' vs '_': one
 * length check and one claim cover the three.
 */
static void claim_derived(struct repo_check *rc, const struct owner *who,
                          struct src_pos pos)
{
  char buf[NAMING_MAX];
  size_t len = naming_network(buf, who->tenant, who->env);

  if (len > NAMING_RESOURCE_MAX)
    diag_at(rc->repo, who->path, pos,
            "derived name '%s' (network, bucket; database with '_') is "
            "%zu characters; the limit is %d (shorten the tenant or "
            "environment name)",
            buf, len, NAMING_RESOURCE_MAX);
  claim_add(&rc->derived, buf, true, CLAIM_DERIVED, who, pos);
}

/* An app's public or private record name (`kind`), when `want` asks for
 * it and there is a zone to build it in. */
static void claim_record(struct repo_check *rc, const struct owner *who,
                         enum claim_kind kind, const struct mf_bool *want,
                         const char *zone)
{
  char buf[NAMING_MAX];
  size_t len;

  if (!want->v || !zone)
    return;
  len = naming_record(buf, who->app, who->env, who->tenant, zone);
  if (len > NAMING_DNS_MAX)
    diag_at(rc->repo, who->path, want->pos,
            "%s DNS name '%s' is %zu characters; the limit is %d",
            kind == CLAIM_PUBLIC ? "public" : "private", buf, len,
            NAMING_DNS_MAX);
  claim_add(&rc->records, buf, true, kind, who, want->pos);
}

/* The DNS names an app asks for: its records, and its aliases. */
static void claim_app_names(struct repo_check *rc, const struct owner *who,
                            const struct mf_app *a, bool named)
{
  if (named)
    claim_record(rc, who, CLAIM_PUBLIC, &a->dns.pub, rc->pub_zone);
  if (a->dns.pub.v && rc->no_ingress)
    diag_at(rc->repo, who->path, a->dns.pub.pos,
            "app '%s' asks for a public record but platform.yaml has "
            "no spec.ingress.public to point it at",
            a->name.v);
  if (a->dns.priv.v && rc->no_private_zone)
    diag_at(rc->repo, who->path, a->dns.priv.pos,
            "app '%s' asks for a private record but platform.yaml has "
            "no spec.domains.private",
            a->name.v);
  if (named)
    claim_record(rc, who, CLAIM_PRIVATE, &a->dns.priv, rc->priv_zone);
  for (uint32_t k = 0; k < a->dns.aliases.n; k++) {
    const struct mf_str *al = mf_str_at(&a->dns.aliases, k);
    struct claim *cl;

    /* Each alias is its own owner: a repeated alias is a conflict. */
    if (!al->v)
      continue;
    cl = claim_add(&rc->records, al->v, false, CLAIM_ALIAS, who, al->pos);
    cl->alias = k;
  }
}

static void check_env(struct repo_check *rc, const struct owner *tenant,
                      const struct mf_env *e)
{
  struct owner who = *tenant;
  bool named;

  check_unique(rc->repo, who.path, e->apps.v, e->apps.n, sizeof(struct mf_app),
               "app");
  check_dep_names(rc->repo, who.path, e);
  check_dep_cycles(rc->repo, who.path, e);
  if (!e->name.v)
    return;
  who.env = e->name.v;
  add_network(rc, &who, &e->network.cidr);
  /* naming.h builds names from labels only; a name that breaks the rule
   * was reported where it was decoded, and may be too long to build on. */
  named = naming_is_label(who.tenant) && naming_is_label(who.env);
  if (named)
    claim_derived(rc, &who, e->name.pos);
  for (uint32_t ai = 0; ai < e->apps.n; ai++) {
    const struct mf_app *a = mf_env_app(e, ai);

    if (!a->name.v)
      continue;
    who.app = a->name.v;
    claim_app_names(rc, &who, a, named && naming_is_label(who.app));
  }
}

static void check_tenant(struct repo_check *rc, const struct manifest_doc *doc)
{
  const struct mf_tenant *t = doc->u.tenant;
  struct owner who = {.path = doc->path};

  if (!t || !t->meta.name.v)
    return;
  who.tenant = t->meta.name.v;
  check_file_name(rc, &who, t);
  check_tier(rc, who.path, t);
  check_unique(rc->repo, who.path, t->spec.envs.v, t->spec.envs.n,
               sizeof(struct mf_env), "environment");
  for (uint32_t ei = 0; ei < t->spec.envs.n; ei++)
    check_env(rc, &who, mf_tenant_env(t, ei));
}

/* Tenants: one name, one file.  Each file names the first other one. */
static void report_duplicate_tenants(struct manifest_repo *repo,
                                     struct claims *names)
{
  if (names->n > 1)
    qsort(names->v, names->n, sizeof(*names->v), claim_cmp);
  for (size_t i = 0; i < names->n; i++) {
    const struct claim *me = &names->v[i], *other = NULL;

    if (i > 0 && strcmp(names->v[i - 1].name, me->name) == 0)
      other = &names->v[i - 1];
    else if (i + 1 < names->n && strcmp(names->v[i + 1].name, me->name) == 0)
      other = &names->v[i + 1];
    if (other)
      diag_at(repo, me->path, me->pos,
              "tenant '%s' is also defined in %s:%u:%u", me->name, other->path,
              other->pos.line, other->pos.col);
  }
}

void manifest__check_repo(struct manifest_repo *repo)
{
  struct repo_check rc;

  repo_check_init(&rc, repo);
  for (size_t ti = 0; ti < repo->ntenants; ti++)
    check_tenant(&rc, repo->tenants[ti]);
  report_duplicate_tenants(repo, &rc.names);
  report_collisions(repo, &rc.derived,
                    "derived name '%s' (network, bucket; database with '_') "
                    "belongs both to %s and to %s (%s:%u:%u)");
  report_collisions(repo, &rc.records,
                    "DNS name '%s' is both %s and %s (%s:%u:%u)");
  check_overlaps(repo, rc.nets, rc.nnets);
  repo_check_release(&rc);
}
