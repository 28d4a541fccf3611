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
#include <stdatomic.h>
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

/* The value as a message quotes it: made only for the message, since
 * every string of every manifest is checked and nearly all pass. */
static const char *quoted(char *out, size_t cap, const struct ynode *n)
{
  manifest__value_text(out, cap, n);
  return out;
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

    manifest__error(cx, n,
                    "'%s' has host bits set (did you mean %u.%u.%u.%u/%u?)",
                    quoted(text, sizeof(text), n), net >> 24, (net >> 16) & 255,
                    (net >> 8) & 255, net & 255, prefix);
    return -1;
  }
  out->addr = addr;
  out->prefix = (uint8_t)prefix;
  return 0;
bad:
  manifest__error(cx, n, "'%s' is not an IPv4 CIDR like 10.20.0.0/16",
                  quoted(text, sizeof(text), n));
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
        quoted(text, sizeof(text), n), what);
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
        quoted(text, sizeof(text), n), key);
    return -1;
  case MF_CHECK_HOST:
    if (naming_is_dnsname(s) || naming_is_ipv4(s, NULL))
      return 0;
    manifest__error(cx, n, "'%s' is not a DNS name or an IPv4 address for %s",
                    quoted(text, sizeof(text), n), key);
    return -1;
  case MF_CHECK_INSTANCE: {
    if (naming_is_instance(s))
      return 0;
    manifest__error(
        cx, n,
        "'%s' is not a valid provider instance name for %s: use 1 to 63 "
        "lowercase letters, digits, '-' and '_'",
        quoted(text, sizeof(text), n), key);
    return -1;
  }
  case MF_CHECK_ENDPOINT:
    if (is_endpoint(s))
      return 0;
    manifest__error(
        cx, n,
        "'%s' is not an endpoint like host:port (port 1 to 65535) for %s",
        quoted(text, sizeof(text), n), key);
    return -1;
  case MF_CHECK_URLPATH:
    if (s[0] == '/')
      return 0;
    manifest__error(cx, n, "'%s' must start with '/' for %s",
                    quoted(text, sizeof(text), n), key);
    return -1;
  }
  return 0;
}

/* ---- a tenant's rules: what it claims, and what it alone breaks ---- */

/* Where the walk over a tenant is: the file, and the names of the tenant,
 * environment and app being checked (borrowed from the model). */
struct owner {
  const char *path;
  const char *tenant, *env, *app;
};

/* What a document is checked against (the platform and the catalog), and
 * where its findings go. */
struct repo_check {
  const struct mf_catalog *cat; /* NULL when tiers cannot be checked */
  /* The zones record names are built in: NULL when absent, or when the
   * zone breaks its rule (reported in platform.yaml; naming.h builds
   * names from valid zones only). */
  const char *pub_zone, *priv_zone;
  /* Without spec.domains at all, that one error says enough. */
  bool no_ingress;           /* public records with nothing to point at */
  bool no_private_zone;      /* private records with no zone to live in */
  struct manifest__rules *r; /* the document's, being filled */
};

/* Adds a claim by `who`; `name` is copied when `copy` (a scratch buffer). */
static struct manifest__claim *claim_add(struct repo_check *rc,
                                         const char *name, bool copy,
                                         enum manifest__claim_kind kind,
                                         const struct owner *who,
                                         struct src_pos pos)
{
  struct manifest__rules *r = rc->r;
  struct manifest__claim *x;

  if (r->nclaims == r->claims_alloc) {
    r->claims_alloc = r->claims_alloc ? r->claims_alloc * 2 : 16;
    r->claims = td_realloc(r->claims, r->claims_alloc * sizeof(*r->claims));
  }
  x = &r->claims[r->nclaims];
  *x = (struct manifest__claim){.name =
                                    copy ? arena_strdup(&r->mem, name) : name,
                                .kind = kind,
                                .tenant = who->tenant,
                                .env = who->env,
                                .app = who->app,
                                .path = who->path,
                                .pos = pos,
                                .seq = (uint32_t)r->nclaims};
  r->nclaims++;
  return x;
}

void manifest__rules_free(struct manifest__rules *r)
{
  if (!r)
    return;
  diag_list_release(&r->diags);
  free(r->claims);
  free(r->nets);
  arena_release(&r->mem);
  free(r);
}

static void diag_at(struct repo_check *rc, const char *path, struct src_pos pos,
                    const char *fmt, ...) TD_PRINTF(4, 5);

static void diag_at(struct repo_check *rc, const char *path, struct src_pos pos,
                    const char *fmt, ...)
{
  char msg[768];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  yaml_diag_add(&rc->r->diags, path, pos.line, pos.col, msg);
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
static void check_unique(struct repo_check *rc, const char *path,
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
        diag_at(rc, path, a->pos,
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
static void check_dep_names(struct repo_check *rc, const char *path,
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
        diag_at(rc, path, dep->pos,
                "dependsOn names '%s', which is not an app of environment "
                "'%s'",
                dep->v, env->name.v ? env->name.v : "?");
      else if (a->name.v && strcmp(dep->v, a->name.v) == 0)
        diag_at(rc, path, dep->pos, "app '%s' depends on itself", dep->v);
    }
  }
}

/*
 * Reports the cycle that `dep`, an edge from the app on top of the search
 * stack, closes by leading back to app `v` further down: "a -> b -> a".
 */
static void report_cycle(struct repo_check *rc, const char *path,
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
  diag_at(rc, path, dep->pos, "dependsOn cycle: %s", chain);
}

/* Iterative depth-first search; the edge that closes a cycle reports. */
static void check_dep_cycles(struct repo_check *rc, const char *path,
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
        report_cycle(rc, path, env, stack, top, v, dep);
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

static const char *zone_for_names(const char *zone)
{
  return zone && naming_is_dnsname(zone) ? zone : NULL;
}

/* What every tenant is checked against: the platform and the catalog. */
static void repo_check_init(struct repo_check *rc,
                            const struct manifest_repo *repo)
{
  const struct mf_platform *plat =
      repo->platform ? repo->platform->u.platform : NULL;
  bool check_zones = plat && plat->spec.domains.obj.present;

  *rc = (struct repo_check){0};
  if (repo->catalog && repo->catalog->valid)
    rc->cat = repo->catalog->u.catalog;
  if (!plat)
    return;
  rc->pub_zone = zone_for_names(plat->spec.domains.pub.v);
  rc->priv_zone = zone_for_names(plat->spec.domains.priv.v);
  rc->no_ingress = check_zones && !plat->spec.ingress.pub.v;
  rc->no_private_zone = check_zones && !plat->spec.domains.priv.v;
}

/* A tenant's name must be its file's; the name is claimed, to be unique. */
static void check_file_name(struct repo_check *rc, const struct owner *who,
                            const struct mf_tenant *t)
{
  char stem[256];

  file_stem(who->path, stem, sizeof(stem));
  if (strcmp(stem, who->tenant) != 0)
    diag_at(rc, who->path, t->meta.name.pos,
            "metadata.name '%s' does not match the file name '%s'", who->tenant,
            stem);
  claim_add(rc, who->tenant, false, CLAIM_TENANT,
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
    diag_at(rc, path, t->spec.tier.pos,
            "unknown tier '%s' (did you mean '%s'?)", t->spec.tier.v, hint);
  else
    diag_at(rc, path, t->spec.tier.pos,
            "unknown tier '%s' (the catalog has: %s)", t->spec.tier.v, list);
}

/* Gathers the environment's network for the overlap sweep. */
static void add_network(struct repo_check *rc, const struct owner *who,
                        const struct mf_cidr *cidr)
{
  struct manifest__rules *r = rc->r;
  uint32_t size =
      cidr->prefix ? ~(~(uint32_t)0 << (32 - cidr->prefix)) : UINT32_MAX;

  if (!cidr->text)
    return;
  if (r->nnets == r->nets_alloc) {
    r->nets_alloc = r->nets_alloc ? r->nets_alloc * 2 : 4;
    r->nets = td_realloc(r->nets, r->nets_alloc * sizeof(*r->nets));
  }
  r->nets[r->nnets++] = (struct manifest__net){.first = cidr->addr,
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
    diag_at(rc, who->path, pos,
            "derived name '%s' (network, bucket; database with '_') is "
            "%zu characters; the limit is %d (shorten the tenant or "
            "environment name)",
            buf, len, NAMING_RESOURCE_MAX);
  claim_add(rc, buf, true, CLAIM_DERIVED, who, pos);
}

/* An app's public or private record name (`kind`), when `want` asks for
 * it and there is a zone to build it in. */
static void claim_record(struct repo_check *rc, const struct owner *who,
                         enum manifest__claim_kind kind,
                         const struct mf_bool *want, const char *zone)
{
  char buf[NAMING_MAX];
  size_t len;

  if (!want->v || !zone)
    return;
  len = naming_record(buf, who->app, who->env, who->tenant, zone);
  if (len > NAMING_DNS_MAX)
    diag_at(rc, who->path, want->pos,
            "%s DNS name '%s' is %zu characters; the limit is %d",
            kind == CLAIM_PUBLIC ? "public" : "private", buf, len,
            NAMING_DNS_MAX);
  claim_add(rc, buf, true, kind, who, want->pos);
}

/* The DNS names an app asks for: its records, and its aliases. */
static void claim_app_names(struct repo_check *rc, const struct owner *who,
                            const struct mf_app *a, bool named)
{
  if (named)
    claim_record(rc, who, CLAIM_PUBLIC, &a->dns.pub, rc->pub_zone);
  if (a->dns.pub.v && rc->no_ingress)
    diag_at(rc, who->path, a->dns.pub.pos,
            "app '%s' asks for a public record but platform.yaml has "
            "no spec.ingress.public to point it at",
            a->name.v);
  if (a->dns.priv.v && rc->no_private_zone)
    diag_at(rc, who->path, a->dns.priv.pos,
            "app '%s' asks for a private record but platform.yaml has "
            "no spec.domains.private",
            a->name.v);
  if (named)
    claim_record(rc, who, CLAIM_PRIVATE, &a->dns.priv, rc->priv_zone);
  for (uint32_t k = 0; k < a->dns.aliases.n; k++) {
    const struct mf_str *al = mf_str_at(&a->dns.aliases, k);
    struct manifest__claim *cl;

    /* Each alias is its own owner: a repeated alias is a conflict. */
    if (!al->v)
      continue;
    cl = claim_add(rc, al->v, false, CLAIM_ALIAS, who, al->pos);
    cl->alias = k;
  }
}

static void check_env(struct repo_check *rc, const struct owner *tenant,
                      const struct mf_env *e)
{
  struct owner who = *tenant;
  bool named;

  check_unique(rc, who.path, e->apps.v, e->apps.n, sizeof(struct mf_app),
               "app");
  check_dep_names(rc, who.path, e);
  check_dep_cycles(rc, who.path, e);
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

/* A tenant document's rules, against the platform and catalog of rc. */
static struct manifest__rules *check_tenant(struct repo_check *rc,
                                            const struct manifest_doc *doc)
{
  const struct mf_tenant *t = doc->u.tenant;
  struct owner who = {.path = doc->path};

  rc->r = td_calloc(1, sizeof(*rc->r));
  rc->r->diags = (struct diag_list)DIAG_LIST_INIT;
  rc->r->mem = (struct arena)ARENA_INIT;
  /* A tenant copies a dozen names or so: a small first chunk. */
  rc->r->mem.next_size = 512;
  if (!t || !t->meta.name.v)
    return rc->r;
  who.tenant = t->meta.name.v;
  check_file_name(rc, &who, t);
  check_tier(rc, who.path, t);
  check_unique(rc, who.path, t->spec.envs.v, t->spec.envs.n,
               sizeof(struct mf_env), "environment");
  for (uint32_t ei = 0; ei < t->spec.envs.n; ei++)
    check_env(rc, &who, mf_tenant_env(t, ei));
  /* Claims are kept as long as the document: without the room doubling
   * left, which is a quarter of them on average. */
  if (rc->r->nclaims && rc->r->nclaims < rc->r->claims_alloc) {
    rc->r->claims_alloc = rc->r->nclaims;
    rc->r->claims =
        td_realloc(rc->r->claims, rc->r->nclaims * sizeof(*rc->r->claims));
  }
  return rc->r;
}

/* The documents not checked yet, shared out over threads, CHECK_CHUNK at
 * a time; each thread checks against its own copy of the repo_check. */
#define CHECK_CHUNK 32

struct check_job {
  const struct repo_check *rc;
  struct manifest_repo *repo;
  bool *fresh;
  atomic_size_t next;
};

static void check_some(void *arg)
{
  struct check_job *job = arg;
  struct repo_check rc = *job->rc;
  size_t n = job->repo->ntenants;

  for (;;) {
    size_t at = atomic_fetch_add(&job->next, CHECK_CHUNK);

    if (at >= n)
      break;
    for (size_t i = at; i < n && i < at + CHECK_CHUNK; i++) {
      struct manifest_doc *doc = job->repo->tenants[i];

      if (doc->rules)
        continue;
      doc->rules = check_tenant(&rc, doc);
      job->fresh[i] = true;
    }
  }
}

/* Checks the documents not checked yet, marking them in `fresh`, and
 * makes room in the index for their claims at once: half a million
 * names grow no table on the way. */
static void check_new(const struct repo_check *rc, struct manifest_repo *repo,
                      bool *fresh, unsigned threads)
{
  struct check_job job = {.rc = rc, .repo = repo, .fresh = fresh};
  size_t claims[3] = {0}, unchecked = 0;

  for (size_t i = 0; i < repo->ntenants; i++)
    unchecked += repo->tenants[i]->rules == NULL;
  atomic_init(&job.next, 0);
  manifest__on_threads(check_some, &job,
                       manifest__pool_threads(threads, unchecked));
  for (size_t i = 0; i < repo->ntenants; i++) {
    const struct manifest__rules *r = repo->tenants[i]->rules;

    for (size_t k = 0; fresh[i] && k < r->nclaims; k++) {
      enum manifest__claim_kind kind = r->claims[k].kind;

      claims[kind == CLAIM_TENANT ? 0 : kind == CLAIM_DERIVED ? 1 : 2]++;
    }
  }
  manifest__index_reserve(repo->index, claims);
}

void manifest__check_repo(struct manifest_repo *repo, bool base_changed,
                          unsigned threads)
{
  struct repo_check rc;
  bool *fresh;

  repo_check_init(&rc, repo);
  /* Another platform or catalog: every tenant is checked again. */
  if (!repo->index || base_changed) {
    manifest__index_free(repo->index);
    repo->index = manifest__index_new();
    for (size_t i = 0; i < repo->ntenants; i++) {
      manifest__rules_free(repo->tenants[i]->rules);
      repo->tenants[i]->rules = NULL;
    }
  }
  fresh = td_calloc(repo->ntenants + 1, sizeof(*fresh));
  check_new(&rc, repo, fresh, threads);
  for (size_t i = 0; i < repo->ntenants; i++) {
    struct manifest_doc *doc = repo->tenants[i];
    const struct diag_list *d;

    if (fresh[i])
      manifest__index_add(repo->index, doc->rules);
    d = &doc->rules->diags;
    for (size_t k = 0; k < d->n; k++)
      diag_add(&repo->diags, d->v[k].path, d->v[k].line, d->v[k].col, "%s",
               d->v[k].msg);
  }
  free(fresh);
  manifest__index_report(repo->index, &repo->diags);
}
