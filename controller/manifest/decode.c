/*
 * decode.c - YAML trees into the typed model, driven by tables.
 *
 * Each model struct has a `shape`: its fields, their types, whether they
 * are required, their ranges and string rules.  One walker applies a shape
 * to a mapping and reports, in one pass, every unknown field (with a "did
 * you mean"), wrong type, missing field and out-of-range value; each field
 * type has one small decoder, picked from a table by the type.  The JSON
 * Schemas in schemas/ say the same things; tests/schema checks that they
 * agree.
 */
#include "base/compat.h"

#include "base/strutil.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>

#include "manifest/internal.h"

enum ftype {
  F_STR,
  F_INT,
  F_NUM,
  F_BOOL,
  F_ENUM,
  F_DURATION, /* a string like 1h30m, stored as milliseconds in mf_int */
  F_CIDR,
  F_OBJ,     /* a nested mapping: struct beginning with mf_obj */
  F_LIST,    /* a list of mappings of `sub` shape */
  F_STRLIST, /* a list of strings */
  F_MAP,     /* mapping of label -> `sub`; the key lands in the first
              * member, a mf_str */
  F_STRMAP,  /* mapping of string -> string, as a list of mf_kv */
  F_TYPE_COUNT
};

struct shape;

struct field {
  const char *key;
  enum ftype type;
  enum manifest__check check;
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
  void (*post)(struct manifest__ctx *cx, const struct ynode *m, void *out);
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
static const char *const price_basis_values[] = {"tenant", "environment", NULL};

/* ---- shapes ---- */

static const struct field meta_fields[] = {
    STR("name", struct mf_meta, name, true, MF_CHECK_LABEL),
    STRMAP("labels", struct mf_meta, labels),
};
SHAPE(meta_shape, "metadata", struct mf_meta, meta_fields);

static const struct field domains_fields[] = {
    STR("public", struct mf_domains, pub, true, MF_CHECK_DNSNAME),
    STR("private", struct mf_domains, priv, false, MF_CHECK_DNSNAME),
};
SHAPE(domains_shape, "domains", struct mf_domains, domains_fields);

static const struct field ingress_fields[] = {
    STR("public", struct mf_ingress, pub, false, MF_CHECK_HOST),
};
SHAPE(ingress_shape, "ingress", struct mf_ingress, ingress_fields);

/* clang-format off */
#define PROVIDER(name, i) \
  {name, F_STR, MF_CHECK_INSTANCE, false, \
   offsetof(struct mf_providers, by_type) + (i) * sizeof(struct mf_str), \
   NULL, 1, 0, NULL}
/* clang-format on */

/* In enum rtype order; manifest.c checks it against rtype_names. */
static const struct field providers_fields[] = {
    PROVIDER("network", RTYPE_NETWORK),
    PROVIDER("database", RTYPE_DATABASE),
    PROVIDER("bucket", RTYPE_BUCKET),
    PROVIDER("service", RTYPE_SERVICE),
    PROVIDER("route", RTYPE_ROUTE),
    PROVIDER("dns_record", RTYPE_DNS_RECORD),
};
SHAPE(providers_shape, "providers", struct mf_providers, providers_fields);

static const struct field policies_fields[] = {
    BOOL("prune", struct mf_policies, prune),
    ENUM("driftPolicy", struct mf_policies, drift_policy, false, drift_values),
    INT("maxDeletePercent", struct mf_policies, max_delete_percent, false, 0,
        100),
    DURATION("resync", struct mf_policies, resync_ms),
    INT("stallAfter", struct mf_policies, stall_after, false, 1, 100),
};
SHAPE(policies_shape, "policies", struct mf_policies, policies_fields);

static const struct field platform_spec_fields[] = {
    OBJ("domains", struct mf_platform_spec, domains, true, domains_shape),
    OBJ("ingress", struct mf_platform_spec, ingress, false, ingress_shape),
    OBJ("providers", struct mf_platform_spec, providers, false,
        providers_shape),
    OBJ("policies", struct mf_platform_spec, policies, false, policies_shape),
};
SHAPE(platform_spec_shape, "spec", struct mf_platform_spec,
      platform_spec_fields);

static const struct field backup_fields[] = {
    ENUM("schedule", struct mf_backup, schedule, true, schedule_values),
    INT("retentionDays", struct mf_backup, retention_days, true, 1, 36500),
};
SHAPE(backup_shape, "backup", struct mf_backup, backup_fields);

static const struct field tier_fields[] = {
    STR("vm", struct mf_tier, vm, false, MF_CHECK_NONE),
    INT("cpu", struct mf_tier, cpu, true, 1, 1024),
    INT("memoryMiB", struct mf_tier, memory_mib, true, 1, 16777216),
    INT("storageGiB", struct mf_tier, storage_gib, true, 1, 1048576),
    STR("databaseClass", struct mf_tier, database_class, true, MF_CHECK_NONE),
    BOOL("databaseHA", struct mf_tier, database_ha),
    INT("maxUsers", struct mf_tier, max_users, true, 1, 10000000),
    OBJ("backup", struct mf_tier, backup, true, backup_shape),
    STRLIST("features", struct mf_tier, features, MF_CHECK_NONE),
    NUM("monthlyPrice", struct mf_tier, monthly_price, false),
};
SHAPE(tier_shape, "tier", struct mf_tier, tier_fields);

static const struct field catalog_spec_fields[] = {
    MAP("tiers", struct mf_catalog_spec, tiers, true, tier_shape),
    STR("currency", struct mf_catalog_spec, currency, false, MF_CHECK_NONE),
    ENUM("priceBasis", struct mf_catalog_spec, price_basis, false,
         price_basis_values),
};

/* A currency is an ISO 4217 code: three capital letters. */
static void catalog_spec_post(struct manifest__ctx *cx, const struct ynode *m,
                              void *out)
{
  const char *cur = ((struct mf_catalog_spec *)out)->currency.v;

  if (cur &&
      (strlen(cur) != 3 || strspn(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3))
    manifest__error(cx, ymap_get(m, "currency"),
                    "'currency' must be an ISO 4217 code of three capital "
                    "letters, like USD or EUR");
}
SHAPE_POST(catalog_spec_shape, "spec", struct mf_catalog_spec,
           catalog_spec_fields, catalog_spec_post);

static const struct field health_fields[] = {
    STR("path", struct mf_health, path, true, MF_CHECK_URLPATH),
    INT("intervalSeconds", struct mf_health, interval_s, false, 1, 3600),
    INT("timeoutSeconds", struct mf_health, timeout_s, false, 1, 3600),
};
SHAPE(health_shape, "healthCheck", struct mf_health, health_fields);

static const struct field dns_fields[] = {
    BOOL("public", struct mf_dns, pub),
    BOOL("private", struct mf_dns, priv),
    STRLIST("aliases", struct mf_dns, aliases, MF_CHECK_DNSNAME),
};
SHAPE(dns_shape, "dns", struct mf_dns, dns_fields);

static const struct field app_fields[] = {
    STR("name", struct mf_app, name, true, MF_CHECK_LABEL),
    STR("image", struct mf_app, image, false, MF_CHECK_NONE),
    STR("endpoint", struct mf_app, endpoint, false, MF_CHECK_ENDPOINT),
    INT("port", struct mf_app, port, false, 1, 65535),
    INT("replicas", struct mf_app, replicas, false, 1, 100),
    STRMAP("env", struct mf_app, env),
    OBJ("healthCheck", struct mf_app, health, false, health_shape),
    OBJ("dns", struct mf_app, dns, false, dns_shape),
    STRLIST("dependsOn", struct mf_app, depends_on, MF_CHECK_LABEL),
};

static bool is_string(const struct ynode *n);

/* An environment variable's name as a shell takes it. */
static bool env_name_ok(const char *s)
{
  if (!(isalpha((unsigned char)*s) || *s == '_'))
    return false;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_'))
      return false;
  return true;
}

/* Characters, not bytes, as JSON Schema's maxLength counts them. */
static size_t utf8_chars(const char *s)
{
  size_t n = 0;

  for (; *s; s++)
    n += ((unsigned char)*s & 0xc0) != 0x80;
  return n;
}

/*
 * An app's `env`: what decode_strmap cannot say.  Names a container can
 * take, none of tenantd's own, values of a bounded size; only for an app
 * tenantd runs.  (Secrets do not belong here: manifests are read by
 * everyone who can read the repository.)
 */
static void env_post(struct manifest__ctx *cx, const struct ynode *env)
{
  char text[80];

  if (env->type != YNODE_MAP)
    return; /* decode_strmap said so */
  if (env->u.coll.n > MF_ENV_MAX)
    manifest__error(cx, env, "'env' must have at most %d variables, not %u",
                    MF_ENV_MAX, env->u.coll.n);
  for (uint32_t i = 0; i < env->u.coll.n; i++) {
    const struct ynode *k = ymap_key(env, i), *v = ymap_value(env, i);

    if (!is_string(k))
      continue;
    manifest__value_text(text, sizeof(text), k);
    if (!env_name_ok(k->u.scalar.s) || k->u.scalar.len > MF_ENV_NAME_MAX)
      manifest__error(cx, k,
                      "'%s' is not an environment variable name: a letter or "
                      "'_', then letters, digits and '_', at most %d",
                      text, MF_ENV_NAME_MAX);
    else if (strncmp(k->u.scalar.s, MF_ENV_RESERVED, strlen(MF_ENV_RESERVED)) ==
             0)
      manifest__error(cx, k,
                      "'%s': names starting with " MF_ENV_RESERVED
                      " are set by tenantd",
                      text);
    if (is_string(v) && utf8_chars(v->u.scalar.s) > MF_ENV_VALUE_MAX)
      manifest__error(cx, v, "the value of '%s' is longer than %d characters",
                      text, MF_ENV_VALUE_MAX);
  }
}

/* An app runs from an image on a port, or lives elsewhere at an endpoint. */
static void app_post(struct manifest__ctx *cx, const struct ynode *m, void *out)
{
  const struct ynode *image = ymap_get(m, "image");
  const struct ynode *endpoint = ymap_get(m, "endpoint");
  const struct ynode *port = ymap_get(m, "port");
  const struct ynode *env = ymap_get(m, "env");
  const char *name = ((struct mf_app *)out)->name.v;

  if (!name)
    name = "?";
  if (image && endpoint)
    manifest__error(cx, endpoint,
                    "app '%s' has both 'image' and 'endpoint'; give one", name);
  else if (!image && !endpoint)
    manifest__error(cx, m,
                    "app '%s' needs 'image' (run by tenantd) or 'endpoint' "
                    "(running elsewhere)",
                    name);
  else if (image && !port)
    manifest__error(cx, m,
                    "missing required field 'port' in app (it has an image)");
  else if (endpoint && port)
    manifest__error(
        cx, port,
        "'port' is not allowed with 'endpoint' (the port goes in the "
        "endpoint)");
  if (env && endpoint && !image)
    manifest__error(cx, env,
                    "'env' is only for an app tenantd runs (one with "
                    "'image')");
  if (env)
    env_post(cx, env);
}
SHAPE_POST(app_shape, "app", struct mf_app, app_fields, app_post);

static const struct field network_fields[] = {
    CIDR("cidr", struct mf_network, cidr, true),
};
SHAPE(network_shape, "network", struct mf_network, network_fields);

static const struct field database_fields[] = {
    ENUM("deletionPolicy", struct mf_database, deletion_policy, false,
         deletion_values),
    BOOL("adopt", struct mf_database, adopt),
};
SHAPE(database_shape, "database", struct mf_database, database_fields);

static const struct field bucket_fields[] = {
    BOOL("versioning", struct mf_bucket, versioning),
    ENUM("deletionPolicy", struct mf_bucket, deletion_policy, false,
         deletion_values),
    BOOL("adopt", struct mf_bucket, adopt),
};
SHAPE(bucket_shape, "bucket", struct mf_bucket, bucket_fields);

static const struct field env_fields[] = {
    STR("name", struct mf_env, name, true, MF_CHECK_LABEL),
    OBJ("network", struct mf_env, network, true, network_shape),
    OBJ("database", struct mf_env, database, false, database_shape),
    OBJ("bucket", struct mf_env, bucket, false, bucket_shape),
    LIST("apps", struct mf_env, apps, false, app_shape),
};
SHAPE(env_shape, "environment", struct mf_env, env_fields);

static const struct field tenant_spec_fields[] = {
    STR("displayName", struct mf_tenant_spec, display_name, false,
        MF_CHECK_NONE),
    STR("tier", struct mf_tenant_spec, tier, true, MF_CHECK_NONE),
    STR("region", struct mf_tenant_spec, region, false, MF_CHECK_NONE),
    STR("owner", struct mf_tenant_spec, owner, false, MF_CHECK_NONE),
    STR("costCenter", struct mf_tenant_spec, cost_center, false, MF_CHECK_NONE),
    ENUM("deletionPolicy", struct mf_tenant_spec, deletion_policy, false,
         deletion_values),
    BOOL("suspend", struct mf_tenant_spec, suspend),
    LIST("environments", struct mf_tenant_spec, envs, true, env_shape),
};
SHAPE(tenant_spec_shape, "spec", struct mf_tenant_spec, tenant_spec_fields);

/* The top of every document; `spec` is chosen by kind. */
struct top {
  struct mf_str api_version, kind;
  struct mf_meta meta;
};

/* ---- walker ---- */

void manifest__value_text(char *out, size_t cap, const struct ynode *n)
{
  if (n->type != YNODE_SCALAR) {
    snprintf(out, cap, "%s", ynode_kind_name(n));
    return;
  }
  yaml_text_escape(out, cap, n->u.scalar.s, n->u.scalar.len);
}

static void type_error(struct manifest__ctx *cx, const char *key,
                       const struct ynode *n, const char *want)
{
  if (n->type == YNODE_SCALAR && n->scalar != YS_NULL &&
      strcmp(want, "a string") == 0) {
    char text[80];

    manifest__value_text(text, sizeof(text), n);
    manifest__error(cx, n, "'%s' must be a string, not %s (quote it: \"%s\")",
                    key, ynode_kind_name(n), text);
    return;
  }
  if (n->type == YNODE_SCALAR && n->scalar == YS_NULL &&
      strcmp(want, "a mapping") == 0) {
    manifest__error(cx, n,
                    "'%s' must be a mapping, not null (write {} for an "
                    "empty one)",
                    key);
    return;
  }
  manifest__error(cx, n, "'%s' must be %s, not %s", key, want,
                  ynode_kind_name(n));
}

static struct src_pos pos_of(const struct ynode *n)
{
  return (struct src_pos){n->line, n->col};
}

static bool is_string(const struct ynode *n)
{
  return n->type == YNODE_SCALAR && n->scalar == YS_STR;
}

static void decode_obj(struct manifest__ctx *cx, const struct shape *sh,
                       const struct ynode *m, void *out);

static const char *copy_str(struct manifest__ctx *cx, const struct ynode *n)
{
  return arena_strndup(cx->arena, n->u.scalar.s, n->u.scalar.len);
}

/*
 * ---- one decoder per field type ----
 *
 * Each reads node `n` into `out` (the field's member of the struct being
 * filled) or reports why it cannot; `key` names the field in messages.
 * decode_field() picks one from `decoders`, indexed by the field's type.
 */

static void decode_str(struct manifest__ctx *cx, const struct field *f,
                       const char *key, const struct ynode *n, void *out)
{
  struct mf_str *o = out;

  if (!is_string(n)) {
    type_error(cx, key, n, "a string");
    return;
  }
  /* A value that breaks its rule is kept: the document is invalid and
   * nothing acts on it, but the checks after this one still see it. */
  if (f->check != MF_CHECK_NONE)
    manifest__check_string(cx, f->check, key, n);
  o->v = copy_str(cx, n);
  o->pos = pos_of(n);
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

static void decode_int(struct manifest__ctx *cx, const struct field *f,
                       const char *key, const struct ynode *n, void *out)
{
  struct mf_int *o = out;
  int64_t v;

  if (!as_integer(n, &v)) {
    type_error(cx, key, n, "an integer");
    return;
  }
  if (v < f->min || v > f->max) {
    manifest__error(cx, n, "'%s' must be between %lld and %lld, not %lld", key,
                    (long long)f->min, (long long)f->max, (long long)v);
    return;
  }
  o->v = v;
  o->pos = pos_of(n);
}

static void decode_num(struct manifest__ctx *cx, const struct field *f,
                       const char *key, const struct ynode *n, void *out)
{
  struct mf_num *o = out;

  (void)f;
  if (n->type != YNODE_SCALAR ||
      (n->scalar != YS_INT && n->scalar != YS_FLOAT)) {
    type_error(cx, key, n, "a number");
    return;
  }
  o->v = n->scalar == YS_INT ? (double)n->u.scalar.v.i : n->u.scalar.v.f;
  if (!(o->v >= 0) || !isfinite(o->v)) {
    manifest__error(cx, n, "'%s' must be a number of at least 0", key);
    return;
  }
  o->pos = pos_of(n);
}

static void decode_bool(struct manifest__ctx *cx, const struct field *f,
                        const char *key, const struct ynode *n, void *out)
{
  struct mf_bool *o = out;

  (void)f;
  if (n->type != YNODE_SCALAR || n->scalar != YS_BOOL) {
    if (is_string(n) && (strcasecmp(n->u.scalar.s, "yes") == 0 ||
                         strcasecmp(n->u.scalar.s, "no") == 0 ||
                         strcasecmp(n->u.scalar.s, "on") == 0 ||
                         strcasecmp(n->u.scalar.s, "off") == 0))
      manifest__error(cx, n,
                      "'%s' must be a boolean, not a string (YAML 1.2 reads "
                      "'%s' as text: write true or false)",
                      key, n->u.scalar.s);
    else
      type_error(cx, key, n, "a boolean");
    return;
  }
  o->v = n->u.scalar.v.b;
  o->pos = pos_of(n);
}

static void decode_enum(struct manifest__ctx *cx, const struct field *f,
                        const char *key, const struct ynode *n, void *out)
{
  struct mf_enum *o = out;
  char list[256] = "", text[80];
  size_t used = 0;

  if (!is_string(n)) {
    type_error(cx, key, n, "a string");
    return;
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
  manifest__value_text(text, sizeof(text), n);
  manifest__error(cx, n, "'%s' must be one of %s, not '%s'", key, list, text);
}

static void decode_duration(struct manifest__ctx *cx, const struct field *f,
                            const char *key, const struct ynode *n, void *out)
{
  struct mf_int *o = out;
  char text[80];

  (void)f;
  if (!is_string(n)) {
    type_error(cx, key, n, "a string");
    return;
  }
  if (str_parse_duration(n->u.scalar.s, &o->v) < 0) {
    manifest__value_text(text, sizeof(text), n);
    manifest__error(cx, n,
                    "'%s' must be a duration like 30s, 5m or 1h30m, not '%s'",
                    key, text);
    o->v = 0;
    return;
  }
  o->pos = pos_of(n);
}

static void decode_cidr(struct manifest__ctx *cx, const struct field *f,
                        const char *key, const struct ynode *n, void *out)
{
  struct mf_cidr *o = out;

  (void)f;
  if (!is_string(n)) {
    type_error(cx, key, n, "a string");
    return;
  }
  if (manifest__parse_cidr(cx, n, o) < 0)
    return;
  o->text = copy_str(cx, n);
  o->pos = pos_of(n);
}

static void decode_object(struct manifest__ctx *cx, const struct field *f,
                          const char *key, const struct ynode *n, void *out)
{
  struct mf_obj *o = out;

  if (n->type != YNODE_MAP) {
    type_error(cx, key, n, "a mapping");
    return;
  }
  o->present = true;
  o->pos = pos_of(n);
  decode_obj(cx, f->sub, n, out);
}

/*
 * What every list-like field starts with: a node of the right type (a
 * sequence or a mapping), its place, and room in the document's arena for
 * its items of `size` bytes.  False, reported, when the type is wrong.
 */
static bool list_start(struct manifest__ctx *cx, const char *key,
                       const struct ynode *n, enum ynode_type type,
                       struct mf_list *o, size_t size)
{
  if (n->type != type) {
    type_error(cx, key, n, type == YNODE_SEQ ? "a list" : "a mapping");
    return false;
  }
  o->pos = pos_of(n);
  o->n = n->u.coll.n;
  o->v = arena_alloc(cx->arena, (size_t)o->n * size);
  return true;
}

static void decode_list(struct manifest__ctx *cx, const struct field *f,
                        const char *key, const struct ynode *n, void *out)
{
  struct mf_list *o = out;

  if (!list_start(cx, key, n, YNODE_SEQ, o, f->sub->size))
    return;
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
}

static void decode_strlist(struct manifest__ctx *cx, const struct field *f,
                           const char *key, const struct ynode *n, void *out)
{
  struct mf_list *o = out;
  struct mf_str *items;

  if (!list_start(cx, key, n, YNODE_SEQ, o, sizeof(*items)))
    return;
  items = o->v;
  for (uint32_t i = 0; i < o->n; i++) {
    char what[64];

    snprintf(what, sizeof(what), "%s[%u]", key, i);
    decode_str(cx, f, what, n->u.coll.v[i], &items[i]);
  }
}

static void decode_map(struct manifest__ctx *cx, const struct field *f,
                       const char *key, const struct ynode *n, void *out)
{
  struct mf_list *o = out;
  char what[64];

  if (!list_start(cx, key, n, YNODE_MAP, o, f->sub->size))
    return;
  if (o->n == 0)
    manifest__error(cx, n, "'%s' must not be empty", key);
  snprintf(what, sizeof(what), "%s name", f->sub->what);
  for (uint32_t i = 0; i < o->n; i++) {
    const struct ynode *k = ymap_key(n, i), *v = ymap_value(n, i);
    void *dst = (char *)o->v + (size_t)i * f->sub->size;
    struct mf_str *name = dst; /* the first member, by convention */

    if (!is_string(k)) {
      type_error(cx, "name", k, "a string");
      continue;
    }
    manifest__check_string(cx, f->check, what, k);
    name->v = copy_str(cx, k);
    name->pos = pos_of(k);
    if (v->type != YNODE_MAP) {
      type_error(cx, k->u.scalar.s, v, "a mapping");
      continue;
    }
    decode_obj(cx, f->sub, v, dst);
  }
}

static void decode_strmap(struct manifest__ctx *cx, const struct field *f,
                          const char *key, const struct ynode *n, void *out)
{
  struct mf_list *o = out;
  struct mf_kv *kv;

  (void)f;
  if (!list_start(cx, key, n, YNODE_MAP, o, sizeof(*kv)))
    return;
  kv = o->v;
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
}

typedef void decode_fn(struct manifest__ctx *cx, const struct field *f,
                       const char *key, const struct ynode *n, void *out);

/* clang-format off */
static decode_fn *const decoders[] = {
    [F_STR]      = decode_str,
    [F_INT]      = decode_int,
    [F_NUM]      = decode_num,
    [F_BOOL]     = decode_bool,
    [F_ENUM]     = decode_enum,
    [F_DURATION] = decode_duration,
    [F_CIDR]     = decode_cidr,
    [F_OBJ]      = decode_object,
    [F_LIST]     = decode_list,
    [F_STRLIST]  = decode_strlist,
    [F_MAP]      = decode_map,
    [F_STRMAP]   = decode_strmap,
};
/* clang-format on */
_Static_assert(ARRAY_SIZE(decoders) == F_TYPE_COUNT,
               "every field type has a decoder");

/* Reads `n` into the member of `base` that field `f` describes. */
static void decode_field(struct manifest__ctx *cx, const struct field *f,
                         const char *key, const struct ynode *n, void *base)
{
  decoders[f->type](cx, f, key, n, (char *)base + f->off);
}

static void unknown_field(struct manifest__ctx *cx, const struct shape *sh,
                          const struct ynode *k)
{
  const char *names[32];
  size_t n = 0;
  const char *hint;
  char text[80];

  for (size_t i = 0; i < sh->nfields && n < ARRAY_SIZE(names); i++)
    names[n++] = sh->fields[i].key;
  manifest__value_text(text, sizeof(text), k);
  hint = str_suggest(k->u.scalar.s, names, n);
  if (hint)
    manifest__error(cx, k, "unknown field '%s' (did you mean '%s'?)", text,
                    hint);
  else
    manifest__error(cx, k, "unknown field '%s' in %s", text, sh->what);
}

static void decode_obj(struct manifest__ctx *cx, const struct shape *sh,
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
      manifest__error(cx, m, "missing required field '%s' in %s",
                      sh->fields[j].key, sh->what);
  if (sh->post)
    sh->post(cx, m, out);
  cx->what = outer;
}

/*
 * apiVersion and kind first: a document of the wrong kind would otherwise
 * drown the one useful message in a hundred unknown fields.
 */
static int decode_top(struct manifest__ctx *cx, const struct ynode *root,
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
      manifest__error(cx, root, "the file is empty: expected a %s document",
                      want_kind);
    else
      manifest__error(cx, root,
                      "expected a mapping at the top of the file, not %s",
                      ynode_kind_name(root));
    return -1;
  }
  av = ymap_get(root, "apiVersion");
  kind = ymap_get(root, "kind");
  if (av && is_string(av) &&
      strcmp(av->u.scalar.s, MANIFEST_API_VERSION) != 0) {
    char text[80];

    manifest__value_text(text, sizeof(text), av);
    manifest__error(cx, av, "apiVersion must be '%s', not '%s'",
                    MANIFEST_API_VERSION, text);
    err = -1;
  }
  if (kind && is_string(kind) && strcmp(kind->u.scalar.s, want_kind) != 0) {
    char text[80];

    manifest__value_text(text, sizeof(text), kind);
    manifest__error(cx, kind, "kind must be '%s' in %s, not '%s'", want_kind,
                    cx->path, text);
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
      manifest__error(cx, root, "missing required field '%s'",
                      top_fields[j].key);
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

struct mf_platform *manifest__decode_platform(struct manifest__ctx *cx,
                                              const struct ynode *root)
{
  struct mf_platform *p = arena_alloc(cx->arena, sizeof(*p));
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

struct mf_catalog *manifest__decode_catalog(struct manifest__ctx *cx,
                                            const struct ynode *root)
{
  struct mf_catalog *c = arena_alloc(cx->arena, sizeof(*c));
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

struct mf_tenant *manifest__decode_tenant(struct manifest__ctx *cx,
                                          const struct ynode *root)
{
  struct mf_tenant *t = arena_alloc(cx->arena, sizeof(*t));
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
