/*
 * manifest_decode.c - YAML trees into the typed model, driven by tables.
 *
 * Each model struct has a `shape`: its fields, their types, whether they
 * are required, their ranges and string rules.  One walker applies a shape
 * to a mapping and reports, in one pass, every unknown field (with a "did
 * you mean"), wrong type, missing field and out-of-range value.  The JSON
 * Schemas in schemas/ say the same things; tests/schema checks that they
 * agree.
 */
#include "compat.h"

#include <math.h>
#include <stdio.h>

#include "manifest_internal.h"

enum ftype {
  F_STR,
  F_INT,
  F_NUM,
  F_BOOL,
  F_ENUM,
  F_DURATION, /* a string like 1h30m, stored as milliseconds in td_int */
  F_CIDR,
  F_OBJ,     /* a nested mapping: struct beginning with td_obj */
  F_LIST,    /* a list of mappings of `sub` shape */
  F_STRLIST, /* a list of strings */
  F_MAP,     /* mapping of label -> `sub`; the key lands in the first
              * member, a td_str */
  F_STRMAP,  /* mapping of string -> string, as a list of td_kv */
};

struct shape;

struct field {
  const char *key;
  enum ftype type;
  enum mf_check check;
  bool required;
  size_t off;
  const struct shape *sub;
  int64_t min, max;          /* F_INT: the inclusive range */
  const char *const *values; /* F_ENUM, NULL-terminated */
};

struct shape {
  const char *what; /* for "missing required field 'x' in <what>" */
  size_t size;
  const struct field *fields;
  size_t nfields;
  /* Rules between fields of one mapping, run after its fields. */
  void (*post)(struct mf_ctx *cx, const struct ynode *m, void *out);
};

#define SHAPE(name, what, type, table)                         \
  static const struct shape name = {what, sizeof(type), table, \
                                    ARRAY_SIZE(table), NULL}
#define SHAPE_POST(name, what, type, table, post)              \
  static const struct shape name = {what, sizeof(type), table, \
                                    ARRAY_SIZE(table), post}

/* clang-format off */
#define FIELD(k, ty, chk, req, t, m, sub, lo, hi, vals) \
  {k, ty, chk, req, offsetof(t, m), sub, lo, hi, vals}
#define STR(k, t, m, req, chk) FIELD(k, F_STR, chk, req, t, m, NULL, 1, 0, NULL)
#define INT(k, t, m, req, lo, hi) \
  FIELD(k, F_INT, MF_CHECK_NONE, req, t, m, NULL, lo, hi, NULL)
#define NUM(k, t, m, req) \
  FIELD(k, F_NUM, MF_CHECK_NONE, req, t, m, NULL, 1, 0, NULL)
#define BOOL(k, t, m) \
  FIELD(k, F_BOOL, MF_CHECK_NONE, false, t, m, NULL, 1, 0, NULL)
#define ENUM(k, t, m, req, vals) \
  FIELD(k, F_ENUM, MF_CHECK_NONE, req, t, m, NULL, 1, 0, vals)
#define DURATION(k, t, m) \
  FIELD(k, F_DURATION, MF_CHECK_NONE, false, t, m, NULL, 1, 0, NULL)
#define CIDR(k, t, m, req) \
  FIELD(k, F_CIDR, MF_CHECK_NONE, req, t, m, NULL, 1, 0, NULL)
#define OBJ(k, t, m, req, sh) \
  FIELD(k, F_OBJ, MF_CHECK_NONE, req, t, m, &sh, 1, 0, NULL)
#define LIST(k, t, m, req, sh) \
  FIELD(k, F_LIST, MF_CHECK_NONE, req, t, m, &sh, 1, 0, NULL)
#define STRLIST(k, t, m, chk) \
  FIELD(k, F_STRLIST, chk, false, t, m, NULL, 1, 0, NULL)
#define MAP(k, t, m, req, sh) \
  FIELD(k, F_MAP, MF_CHECK_LABEL, req, t, m, &sh, 1, 0, NULL)
#define STRMAP(k, t, m) \
  FIELD(k, F_STRMAP, MF_CHECK_NONE, false, t, m, NULL, 1, 0, NULL)
/* clang-format on */

static const char *const drift_values[] = {"correct", "report", NULL};
static const char *const deletion_values[] = {"Orphan", "Delete", NULL};
static const char *const schedule_values[] = {"hourly", "daily", "weekly",
                                              NULL};

/* ---- shapes ---- */

static const struct field meta_fields[] = {
    STR("name", struct td_meta, name, true, MF_CHECK_LABEL),
    STRMAP("labels", struct td_meta, labels),
};
SHAPE(meta_shape, "metadata", struct td_meta, meta_fields);

static const struct field domains_fields[] = {
    STR("public", struct td_domains, pub, true, MF_CHECK_DNSNAME),
    STR("private", struct td_domains, priv, false, MF_CHECK_DNSNAME),
};
SHAPE(domains_shape, "domains", struct td_domains, domains_fields);

static const struct field ingress_fields[] = {
    STR("public", struct td_ingress, pub, false, MF_CHECK_HOST),
};
SHAPE(ingress_shape, "ingress", struct td_ingress, ingress_fields);

/* clang-format off */
#define PROVIDER(name, i) \
  {name, F_STR, MF_CHECK_INSTANCE, false, \
   offsetof(struct td_providers, by_type) + (i) * sizeof(struct td_str), \
   NULL, 1, 0, NULL}
/* clang-format on */

/* In enum td_rtype order; manifest.c checks it against td_rtype_names. */
static const struct field providers_fields[] = {
    PROVIDER("network", TD_RT_NETWORK),
    PROVIDER("database", TD_RT_DATABASE),
    PROVIDER("bucket", TD_RT_BUCKET),
    PROVIDER("service", TD_RT_SERVICE),
    PROVIDER("route", TD_RT_ROUTE),
    PROVIDER("dns_record", TD_RT_DNS_RECORD),
};
SHAPE(providers_shape, "providers", struct td_providers, providers_fields);

static const struct field policies_fields[] = {
    BOOL("prune", struct td_policies, prune),
    ENUM("driftPolicy", struct td_policies, drift_policy, false, drift_values),
    INT("maxDeletePercent", struct td_policies, max_delete_percent, false, 0,
        100),
    DURATION("resync", struct td_policies, resync_ms),
    INT("stallAfter", struct td_policies, stall_after, false, 1, 100),
};
SHAPE(policies_shape, "policies", struct td_policies, policies_fields);

static const struct field platform_spec_fields[] = {
    OBJ("domains", struct td_platform_spec, domains, true, domains_shape),
    OBJ("ingress", struct td_platform_spec, ingress, false, ingress_shape),
    OBJ("providers", struct td_platform_spec, providers, false,
        providers_shape),
    OBJ("policies", struct td_platform_spec, policies, false, policies_shape),
};
SHAPE(platform_spec_shape, "spec", struct td_platform_spec,
      platform_spec_fields);

static const struct field backup_fields[] = {
    ENUM("schedule", struct td_backup, schedule, true, schedule_values),
    INT("retentionDays", struct td_backup, retention_days, true, 1, 36500),
};
SHAPE(backup_shape, "backup", struct td_backup, backup_fields);

static const struct field tier_fields[] = {
    STR("vm", struct td_tier, vm, false, MF_CHECK_NONE),
    INT("cpu", struct td_tier, cpu, true, 1, 1024),
    INT("memoryMiB", struct td_tier, memory_mib, true, 1, 16777216),
    INT("storageGiB", struct td_tier, storage_gib, true, 1, 1048576),
    STR("databaseClass", struct td_tier, database_class, true, MF_CHECK_NONE),
    BOOL("databaseHA", struct td_tier, database_ha),
    INT("maxUsers", struct td_tier, max_users, true, 1, 10000000),
    OBJ("backup", struct td_tier, backup, true, backup_shape),
    STRLIST("features", struct td_tier, features, MF_CHECK_NONE),
    NUM("monthlyPrice", struct td_tier, monthly_price, false),
};
SHAPE(tier_shape, "tier", struct td_tier, tier_fields);

static const struct field catalog_spec_fields[] = {
    MAP("tiers", struct td_catalog_spec, tiers, true, tier_shape),
};
SHAPE(catalog_spec_shape, "spec", struct td_catalog_spec, catalog_spec_fields);

static const struct field health_fields[] = {
    STR("path", struct td_health, path, true, MF_CHECK_URLPATH),
    INT("intervalSeconds", struct td_health, interval_s, false, 1, 3600),
    INT("timeoutSeconds", struct td_health, timeout_s, false, 1, 3600),
};
SHAPE(health_shape, "healthCheck", struct td_health, health_fields);

static const struct field dns_fields[] = {
    BOOL("public", struct td_dns, pub),
    BOOL("private", struct td_dns, priv),
    STRLIST("aliases", struct td_dns, aliases, MF_CHECK_DNSNAME),
};
SHAPE(dns_shape, "dns", struct td_dns, dns_fields);

static const struct field app_fields[] = {
    STR("name", struct td_app, name, true, MF_CHECK_LABEL),
    STR("image", struct td_app, image, false, MF_CHECK_NONE),
    STR("endpoint", struct td_app, endpoint, false, MF_CHECK_ENDPOINT),
    INT("port", struct td_app, port, false, 1, 65535),
    INT("replicas", struct td_app, replicas, false, 1, 100),
    OBJ("healthCheck", struct td_app, health, false, health_shape),
    OBJ("dns", struct td_app, dns, false, dns_shape),
    STRLIST("dependsOn", struct td_app, depends_on, MF_CHECK_LABEL),
};

/* An app runs from an image on a port, or lives elsewhere at an endpoint. */
static void app_post(struct mf_ctx *cx, const struct ynode *m, void *out)
{
  const struct ynode *image = ymap_get(m, "image");
  const struct ynode *endpoint = ymap_get(m, "endpoint");
  const struct ynode *port = ymap_get(m, "port");
  const char *name = ((struct td_app *)out)->name.v;

  if (!name)
    name = "?";
  if (image && endpoint)
    mf_error(cx, endpoint, "app '%s' has both 'image' and 'endpoint'; give one",
             name);
  else if (!image && !endpoint)
    mf_error(cx, m,
             "app '%s' needs 'image' (run by tenantd) or 'endpoint' "
             "(running elsewhere)",
             name);
  else if (image && !port)
    mf_error(cx, m, "missing required field 'port' in app (it has an image)");
  else if (endpoint && port)
    mf_error(cx, port,
             "'port' is not allowed with 'endpoint' (the port goes in the "
             "endpoint)");
}
SHAPE_POST(app_shape, "app", struct td_app, app_fields, app_post);

static const struct field network_fields[] = {
    CIDR("cidr", struct td_network, cidr, true),
};
SHAPE(network_shape, "network", struct td_network, network_fields);

static const struct field database_fields[] = {
    ENUM("deletionPolicy", struct td_database, deletion_policy, false,
         deletion_values),
    BOOL("adopt", struct td_database, adopt),
};
SHAPE(database_shape, "database", struct td_database, database_fields);

static const struct field bucket_fields[] = {
    BOOL("versioning", struct td_bucket, versioning),
    ENUM("deletionPolicy", struct td_bucket, deletion_policy, false,
         deletion_values),
    BOOL("adopt", struct td_bucket, adopt),
};
SHAPE(bucket_shape, "bucket", struct td_bucket, bucket_fields);

static const struct field env_fields[] = {
    STR("name", struct td_env, name, true, MF_CHECK_LABEL),
    OBJ("network", struct td_env, network, true, network_shape),
    OBJ("database", struct td_env, database, false, database_shape),
    OBJ("bucket", struct td_env, bucket, false, bucket_shape),
    LIST("apps", struct td_env, apps, false, app_shape),
};
SHAPE(env_shape, "environment", struct td_env, env_fields);

static const struct field tenant_spec_fields[] = {
    STR("displayName", struct td_tenant_spec, display_name, false,
        MF_CHECK_NONE),
    STR("tier", struct td_tenant_spec, tier, true, MF_CHECK_NONE),
    STR("region", struct td_tenant_spec, region, false, MF_CHECK_NONE),
    STR("owner", struct td_tenant_spec, owner, false, MF_CHECK_NONE),
    STR("costCenter", struct td_tenant_spec, cost_center, false, MF_CHECK_NONE),
    ENUM("deletionPolicy", struct td_tenant_spec, deletion_policy, false,
         deletion_values),
    BOOL("suspend", struct td_tenant_spec, suspend),
    LIST("environments", struct td_tenant_spec, envs, true, env_shape),
};
SHAPE(tenant_spec_shape, "spec", struct td_tenant_spec, tenant_spec_fields);

/* The top of every document; `spec` is chosen by kind. */
struct top {
  struct td_str api_version, kind;
  struct td_meta meta;
};

/* ---- did you mean ---- */

/* Optimal string alignment distance, capped: we only care about small. */
static unsigned edit_distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  unsigned d[3][65];
  unsigned *prev2 = d[0], *prev = d[1], *cur = d[2];

  if (la > 64 || lb > 64)
    return 99;
  for (size_t j = 0; j <= lb; j++)
    prev[j] = (unsigned)j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = (unsigned)i;
    for (size_t j = 1; j <= lb; j++) {
      unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
      unsigned v = prev[j] + 1;

      if (cur[j - 1] + 1 < v)
        v = cur[j - 1] + 1;
      if (prev[j - 1] + cost < v)
        v = prev[j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          prev2[j - 2] + 1 < v)
        v = prev2[j - 2] + 1;
      cur[j] = v;
    }
    {
      unsigned *t = prev2;

      prev2 = prev;
      prev = cur;
      cur = t;
    }
  }
  return prev[lb];
}

const char *mf_suggest(const char *word, const char *const *cands, size_t n)
{
  const char *best = NULL;
  unsigned best_d = 99;
  size_t len = strlen(word);

  for (size_t i = 0; i < n; i++) {
    unsigned dist;

    if (strcasecmp(word, cands[i]) == 0)
      return cands[i];
    dist = edit_distance(word, cands[i]);
    if (dist < best_d) {
      best_d = dist;
      best = cands[i];
    }
  }
  if (best_d <= 2 && best_d * 3 <= len)
    return best;
  /* A prefix of a longer name: `dns` for `dns_record`. */
  for (size_t i = 0; len >= 3 && i < n; i++)
    if (strncmp(cands[i], word, len) == 0)
      return cands[i];
  return NULL;
}

/* ---- walker ---- */

struct dec {
  struct mf_ctx *cx;
};

static void quote_for_msg(char *out, size_t cap, const char *s)
{
  size_t o = 0;

  for (size_t i = 0; s[i] && o + 4 < cap; i++) {
    unsigned char c = (unsigned char)s[i];

    if (o + 8 >= cap) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
      continue;
    }
    out[o++] = (char)c;
  }
  out[o] = '\0';
}

void mf_value_text(char *out, size_t cap, const struct ynode *n)
{
  if (n->type != YNODE_SCALAR) {
    snprintf(out, cap, "%s", ynode_kind_name(n));
    return;
  }
  quote_for_msg(out, cap, n->u.scalar.s);
}

static void type_error(struct mf_ctx *cx, const char *key,
                       const struct ynode *n, const char *want)
{
  if (n->type == YNODE_SCALAR && n->scalar != YS_NULL &&
      strcmp(want, "a string") == 0) {
    char text[80];

    mf_value_text(text, sizeof(text), n);
    mf_error(cx, n, "'%s' must be a string, not %s (quote it: \"%s\")", key,
             ynode_kind_name(n), text);
    return;
  }
  if (n->type == YNODE_SCALAR && n->scalar == YS_NULL &&
      strcmp(want, "a mapping") == 0) {
    mf_error(cx, n,
             "'%s' must be a mapping, not null (write {} for an "
             "empty one)",
             key);
    return;
  }
  mf_error(cx, n, "'%s' must be %s, not %s", key, want, ynode_kind_name(n));
}

static struct td_pos pos_of(const struct ynode *n)
{
  return (struct td_pos){n->line, n->col};
}

static bool is_string(const struct ynode *n)
{
  return n->type == YNODE_SCALAR && n->scalar == YS_STR;
}

static void decode_obj(struct mf_ctx *cx, const struct shape *sh,
                       const struct ynode *m, void *out);

static const char *copy_str(struct mf_ctx *cx, const struct ynode *n)
{
  return arena_strndup(cx->arena, n->u.scalar.s, n->u.scalar.len);
}

static void decode_str(struct mf_ctx *cx, const struct field *f,
                       const char *key, const struct ynode *n,
                       struct td_str *out)
{
  if (!is_string(n)) {
    type_error(cx, key, n, "a string");
    return;
  }
  /* A value that breaks its rule is kept: the document is invalid and
   * nothing acts on it, but the checks after this one still see it. */
  if (f->check != MF_CHECK_NONE)
    mf_check_string(cx, f->check, key, n);
  out->v = copy_str(cx, n);
  out->pos = pos_of(n);
}

static bool as_integer(const struct ynode *n, int64_t *v)
{
  if (n->type != YNODE_SCALAR)
    return false;
  if (n->scalar == YS_INT) {
    *v = n->u.scalar.v.i;
    return true;
  }
  /* JSON Schema counts 8080.0 as an integer; so do we. */
  if (n->scalar == YS_FLOAT && isfinite(n->u.scalar.v.f) &&
      floor(n->u.scalar.v.f) == n->u.scalar.v.f &&
      fabs(n->u.scalar.v.f) < 9e15) {
    *v = (int64_t)n->u.scalar.v.f;
    return true;
  }
  return false;
}

static void decode_field(struct mf_ctx *cx, const struct field *f,
                         const char *key, const struct ynode *n, void *base)
{
  void *p = (char *)base + f->off;

  switch (f->type) {
  case F_STR:
    decode_str(cx, f, key, n, p);
    break;
  case F_INT: {
    struct td_int *o = p;
    int64_t v;

    if (!as_integer(n, &v)) {
      type_error(cx, key, n, "an integer");
      break;
    }
    if (v < f->min || v > f->max) {
      mf_error(cx, n, "'%s' must be between %lld and %lld, not %lld", key,
               (long long)f->min, (long long)f->max, (long long)v);
      break;
    }
    o->v = v;
    o->pos = pos_of(n);
    break;
  }
  case F_NUM: {
    struct td_num *o = p;

    if (n->type != YNODE_SCALAR ||
        (n->scalar != YS_INT && n->scalar != YS_FLOAT)) {
      type_error(cx, key, n, "a number");
      break;
    }
    o->v = n->scalar == YS_INT ? (double)n->u.scalar.v.i : n->u.scalar.v.f;
    if (!(o->v >= 0) || !isfinite(o->v)) {
      mf_error(cx, n, "'%s' must be a number of at least 0", key);
      break;
    }
    o->pos = pos_of(n);
    break;
  }
  case F_BOOL: {
    struct td_bool *o = p;

    if (n->type != YNODE_SCALAR || n->scalar != YS_BOOL) {
      if (is_string(n) && (strcasecmp(n->u.scalar.s, "yes") == 0 ||
                           strcasecmp(n->u.scalar.s, "no") == 0 ||
                           strcasecmp(n->u.scalar.s, "on") == 0 ||
                           strcasecmp(n->u.scalar.s, "off") == 0))
        mf_error(cx, n,
                 "'%s' must be a boolean, not a string (YAML 1.2 reads "
                 "'%s' as text: write true or false)",
                 key, n->u.scalar.s);
      else
        type_error(cx, key, n, "a boolean");
      break;
    }
    o->v = n->u.scalar.v.b;
    o->pos = pos_of(n);
    break;
  }
  case F_ENUM: {
    struct td_enum *o = p;
    char list[256] = "";
    size_t used = 0;

    if (!is_string(n)) {
      type_error(cx, key, n, "a string");
      break;
    }
    for (int i = 0; f->values[i]; i++) {
      if (strcmp(f->values[i], n->u.scalar.s) == 0) {
        o->v = i;
        o->pos = pos_of(n);
        return;
      }
      used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                               i ? ", " : "", f->values[i]);
    }
    {
      char text[80];

      mf_value_text(text, sizeof(text), n);
      mf_error(cx, n, "'%s' must be one of %s, not '%s'", key, list, text);
    }
    break;
  }
  case F_DURATION: {
    struct td_int *o = p;

    if (!is_string(n)) {
      type_error(cx, key, n, "a string");
      break;
    }
    if (mf_parse_duration(n->u.scalar.s, &o->v) < 0) {
      char text[80];

      mf_value_text(text, sizeof(text), n);
      mf_error(cx, n, "'%s' must be a duration like 30s, 5m or 1h30m, not '%s'",
               key, text);
      o->v = 0;
      break;
    }
    o->pos = pos_of(n);
    break;
  }
  case F_CIDR: {
    struct td_cidr *o = p;

    if (!is_string(n)) {
      type_error(cx, key, n, "a string");
      break;
    }
    if (mf_parse_cidr(cx, n, o) < 0)
      break;
    o->text = copy_str(cx, n);
    o->pos = pos_of(n);
    break;
  }
  case F_OBJ: {
    struct td_obj *o = p;

    if (n->type != YNODE_MAP) {
      type_error(cx, key, n, "a mapping");
      break;
    }
    o->present = true;
    o->pos = pos_of(n);
    decode_obj(cx, f->sub, n, p);
    break;
  }
  case F_LIST: {
    struct td_list *o = p;

    if (n->type != YNODE_SEQ) {
      type_error(cx, key, n, "a list");
      break;
    }
    o->pos = pos_of(n);
    o->n = n->u.coll.n;
    o->v = arena_alloc(cx->arena, (size_t)o->n * f->sub->size);
    for (uint32_t i = 0; i < o->n; i++) {
      const struct ynode *item = n->u.coll.v[i];
      void *dst = (char *)o->v + (size_t)i * f->sub->size;

      if (item->type != YNODE_MAP) {
        char what[64];

        snprintf(what, sizeof(what), "%s[%u]", key, i);
        type_error(cx, what, item, "a mapping");
        continue;
      }
      decode_obj(cx, f->sub, item, dst);
    }
    break;
  }
  case F_STRLIST: {
    struct td_list *o = p;
    struct td_str *items;

    if (n->type != YNODE_SEQ) {
      type_error(cx, key, n, "a list");
      break;
    }
    o->pos = pos_of(n);
    o->n = n->u.coll.n;
    items = arena_alloc(cx->arena, (size_t)o->n * sizeof(*items));
    o->v = items;
    for (uint32_t i = 0; i < o->n; i++) {
      char what[64];

      snprintf(what, sizeof(what), "%s[%u]", key, i);
      decode_str(cx, f, what, n->u.coll.v[i], &items[i]);
    }
    break;
  }
  case F_MAP: {
    struct td_list *o = p;

    if (n->type != YNODE_MAP) {
      type_error(cx, key, n, "a mapping");
      break;
    }
    o->pos = pos_of(n);
    o->n = n->u.coll.n;
    o->v = arena_alloc(cx->arena, (size_t)o->n * f->sub->size);
    if (o->n == 0)
      mf_error(cx, n, "'%s' must not be empty", key);
    for (uint32_t i = 0; i < o->n; i++) {
      const struct ynode *k = ymap_key(n, i), *v = ymap_value(n, i);
      void *dst = (char *)o->v + (size_t)i * f->sub->size;
      struct td_str *name = dst; /* the first member, by convention */

      if (!is_string(k)) {
        type_error(cx, "name", k, "a string");
        continue;
      }
      {
        char what[64];

        snprintf(what, sizeof(what), "%s name", f->sub->what);
        mf_check_string(cx, f->check, what, k);
      }
      name->v = copy_str(cx, k);
      name->pos = pos_of(k);
      if (v->type != YNODE_MAP) {
        type_error(cx, k->u.scalar.s, v, "a mapping");
        continue;
      }
      decode_obj(cx, f->sub, v, dst);
    }
    break;
  }
  case F_STRMAP: {
    struct td_list *o = p;
    struct td_kv *kv;

    if (n->type != YNODE_MAP) {
      type_error(cx, key, n, "a mapping");
      break;
    }
    o->pos = pos_of(n);
    o->n = n->u.coll.n;
    kv = arena_alloc(cx->arena, (size_t)o->n * sizeof(*kv));
    o->v = kv;
    for (uint32_t i = 0; i < o->n; i++) {
      const struct ynode *k = ymap_key(n, i), *v = ymap_value(n, i);

      if (!is_string(k)) {
        type_error(cx, "key", k, "a string");
        continue;
      }
      kv[i].key.v = copy_str(cx, k);
      kv[i].key.pos = pos_of(k);
      if (!is_string(v)) {
        type_error(cx, k->u.scalar.s, v, "a string");
        continue;
      }
      kv[i].val.v = copy_str(cx, v);
      kv[i].val.pos = pos_of(v);
    }
    break;
  }
  }
}

static void unknown_field(struct mf_ctx *cx, const struct shape *sh,
                          const struct ynode *k)
{
  const char *names[32];
  size_t n = 0;
  const char *hint;
  char text[80];

  for (size_t i = 0; i < sh->nfields && n < ARRAY_SIZE(names); i++)
    names[n++] = sh->fields[i].key;
  mf_value_text(text, sizeof(text), k);
  hint = mf_suggest(k->u.scalar.s, names, n);
  if (hint)
    mf_error(cx, k, "unknown field '%s' (did you mean '%s'?)", text, hint);
  else
    mf_error(cx, k, "unknown field '%s' in %s", text, sh->what);
}

static void decode_obj(struct mf_ctx *cx, const struct shape *sh,
                       const struct ynode *m, void *out)
{
  const char *outer = cx->what;

  cx->what = sh->what;
  for (uint32_t i = 0; i < m->u.coll.n; i++) {
    const struct ynode *k = ymap_key(m, i);
    const struct field *f = NULL;

    for (size_t j = 0; j < sh->nfields; j++)
      if (strcmp(sh->fields[j].key, k->u.scalar.s) == 0) {
        f = &sh->fields[j];
        break;
      }
    if (!f) {
      unknown_field(cx, sh, k);
      continue;
    }
    decode_field(cx, f, f->key, ymap_value(m, i), out);
  }
  for (size_t j = 0; j < sh->nfields; j++)
    if (sh->fields[j].required && !ymap_get(m, sh->fields[j].key))
      mf_error(cx, m, "missing required field '%s' in %s", sh->fields[j].key,
               sh->what);
  if (sh->post)
    sh->post(cx, m, out);
  cx->what = outer;
}

/*
 * apiVersion and kind first: a document of the wrong kind would otherwise
 * drown the one useful message in a hundred unknown fields.
 */
static int decode_top(struct mf_ctx *cx, const struct ynode *root,
                      const char *want_kind, struct top *top)
{
  static const struct field top_fields[] = {
      STR("apiVersion", struct top, api_version, true, MF_CHECK_NONE),
      STR("kind", struct top, kind, true, MF_CHECK_NONE),
      OBJ("metadata", struct top, meta, true, meta_shape),
      {"spec", F_OBJ, MF_CHECK_NONE, true, 0, NULL, 1, 0, NULL},
  };
  static const struct shape top_shape = {"the document", sizeof(struct top),
                                         top_fields, ARRAY_SIZE(top_fields),
                                         NULL};
  const struct ynode *av, *kind, *spec;
  int err = 0;

  if (root->type != YNODE_MAP) {
    if (root->type == YNODE_SCALAR && root->scalar == YS_NULL)
      mf_error(cx, root, "the file is empty: expected a %s document",
               want_kind);
    else
      mf_error(cx, root, "expected a mapping at the top of the file, not %s",
               ynode_kind_name(root));
    return -1;
  }
  av = ymap_get(root, "apiVersion");
  kind = ymap_get(root, "kind");
  if (av && is_string(av) && strcmp(av->u.scalar.s, TD_API_VERSION) != 0) {
    char text[80];

    mf_value_text(text, sizeof(text), av);
    mf_error(cx, av, "apiVersion must be '%s', not '%s'", TD_API_VERSION, text);
    err = -1;
  }
  if (kind && is_string(kind) && strcmp(kind->u.scalar.s, want_kind) != 0) {
    char text[80];

    mf_value_text(text, sizeof(text), kind);
    mf_error(cx, kind, "kind must be '%s' in %s, not '%s'", want_kind, cx->path,
             text);
    err = -1;
  }
  if (err < 0)
    return err;

  for (uint32_t i = 0; i < root->u.coll.n; i++) {
    const struct ynode *k = ymap_key(root, i);
    const struct field *f = NULL;

    for (size_t j = 0; j < top_shape.nfields; j++)
      if (strcmp(top_shape.fields[j].key, k->u.scalar.s) == 0)
        f = &top_shape.fields[j];
    if (!f)
      unknown_field(cx, &top_shape, k);
    else if (f->sub)
      decode_field(cx, f, f->key, ymap_value(root, i), top);
  }
  for (size_t j = 0; j < top_shape.nfields; j++)
    if (!ymap_get(root, top_fields[j].key))
      mf_error(cx, root, "missing required field '%s'", top_fields[j].key);
  if (av)
    decode_str(cx, &top_fields[0], "apiVersion", av, &top->api_version);
  if (kind)
    decode_str(cx, &top_fields[1], "kind", kind, &top->kind);
  spec = ymap_get(root, "spec");
  if (spec && spec->type != YNODE_MAP) {
    type_error(cx, "spec", spec, "a mapping");
    return -1;
  }
  return spec ? 0 : -1;
}

static const struct ynode *spec_of(const struct ynode *root)
{
  return ymap_get(root, "spec");
}

struct td_platform *mf_decode_platform(struct mf_ctx *cx,
                                       const struct ynode *root)
{
  struct td_platform *p = arena_alloc(cx->arena, sizeof(*p));
  struct top top = {0};
  const struct ynode *spec;

  if (decode_top(cx, root, "Platform", &top) < 0)
    return NULL;
  p->api_version = top.api_version;
  p->kind = top.kind;
  p->meta = top.meta;
  spec = spec_of(root);
  p->spec.obj.present = true;
  p->spec.obj.pos = pos_of(spec);
  decode_obj(cx, &platform_spec_shape, spec, &p->spec);
  return p;
}

struct td_catalog *mf_decode_catalog(struct mf_ctx *cx,
                                     const struct ynode *root)
{
  struct td_catalog *c = arena_alloc(cx->arena, sizeof(*c));
  struct top top = {0};
  const struct ynode *spec;

  if (decode_top(cx, root, "TierCatalog", &top) < 0)
    return NULL;
  c->api_version = top.api_version;
  c->kind = top.kind;
  c->meta = top.meta;
  spec = spec_of(root);
  c->spec.obj.present = true;
  c->spec.obj.pos = pos_of(spec);
  decode_obj(cx, &catalog_spec_shape, spec, &c->spec);
  return c;
}

struct td_tenant *mf_decode_tenant(struct mf_ctx *cx, const struct ynode *root)
{
  struct td_tenant *t = arena_alloc(cx->arena, sizeof(*t));
  struct top top = {0};
  const struct ynode *spec;

  if (decode_top(cx, root, "Tenant", &top) < 0)
    return NULL;
  t->api_version = top.api_version;
  t->kind = top.kind;
  t->meta = top.meta;
  spec = spec_of(root);
  t->spec.obj.present = true;
  t->spec.obj.pos = pos_of(spec);
  decode_obj(cx, &tenant_spec_shape, spec, &t->spec);
  return t;
}
