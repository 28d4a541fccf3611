#include "base/compat.h"

#include <stdio.h>

#include "engine/compose.h"
#include "base/error.h"
#include "base/strutil.h"
#include "model/naming.h"

/* Records point at the ingress with A for an address, CNAME for a name. */
#define RECORD_TTL 300

struct env_ctx {
  const struct mf_platform *plat;
  const struct mf_tier *tier;
  const struct mf_tenant *t;
  const struct mf_env *e;
  const char *path;
  struct resource_pool *pool;
  struct resource_set *out;
};

static struct resource *add(struct env_ctx *cx, enum rtype type, const char *id,
                            const char *name, json_t *spec, struct src_pos pos)
{
  const char *provider = cx->plat->spec.providers.by_type[type].v;
  struct resource *r = resource_new_in(cx->pool, type, id, provider,
                                       cx->t->meta.name.v, name, spec);

  r->path = cx->path;
  r->pos = pos;
  resource_set_add(cx->out, r);
  return r;
}

/*
 * A string of the manifest's, or made of its names: the loader hands
 * over only valid UTF-8 without a NUL (yamltree.h), so jansson's check
 * of every byte is skipped, for the hundreds of thousands compose makes.
 */
static json_t *str(const char *v)
{
  return json_string_nocheck(v);
}

/*
 * Specs are built key by key, in sorted order: a spec is hashed and its
 * attributes are listed sorted, and keys that come sorted need no sort.
 * The keys are constants, so they skip jansson's key check.
 */
static void set_str(json_t *o, const char *key, const char *v)
{
  json_object_set_new_nocheck(o, key, str(v));
}

static void set_int(json_t *o, const char *key, json_int_t v)
{
  json_object_set_new_nocheck(o, key, json_integer(v));
}

static void set_bool(json_t *o, const char *key, bool v)
{
  json_object_set_new_nocheck(o, key, json_boolean(v));
}

static void set_new(json_t *o, const char *key, json_t *v)
{
  json_object_set_new_nocheck(o, key, v);
}

static const char *record_type(const char *target)
{
  return naming_is_ipv4(target, NULL) ? "A" : "CNAME";
}

static json_t *record_spec(const char *name, const char *type, json_t *target)
{
  json_t *spec = json_object();

  set_str(spec, "name", name);
  set_new(spec, "target", target);
  set_int(spec, "ttl", RECORD_TTL);
  set_str(spec, "type", type);
  return spec;
}

static bool runs_here(const struct mf_env *e, const char *app)
{
  for (uint32_t i = 0; i < e->apps.n; i++)
    if (strcmp(mf_env_app(e, i)->name.v, app) == 0)
      return mf_env_app(e, i)->image.v != NULL;
  return false;
}

/* One app's names, shared by the resources composed for it. */
struct app_ctx {
  const struct mf_app *a;
  const char *tname, *ename;
  char key[NAMING_MAX];
  char service_id[NAMING_MAX + 64];
  char route_id[NAMING_MAX + 64];
};

/*
 * What the app's containers find in their environment: the app's own
 * `env`, then who they are (TENANTD_TENANT, TENANTD_ENV, TENANTD_APP)
 * and, with a database, where it is and as whom to connect.  Host and
 * port are the database's outputs (references resolved at apply time);
 * its name and user are the names compose gives it (naming.h), known
 * now.  No password: secrets never come from the manifest repository.
 */
static json_t *service_env(const struct app_ctx *ac, const char *database_id)
{
  const struct mf_app *a = ac->a;
  json_t *env = json_object();

  for (uint32_t i = 0; i < a->env.n; i++) {
    const struct mf_kv *kv = &((const struct mf_kv *)a->env.v)[i];

    json_object_set_new_nocheck(env, kv->key.v, str(kv->val.v));
  }
  json_object_set_new_nocheck(env, "TENANTD_TENANT", str(ac->tname));
  json_object_set_new_nocheck(env, "TENANTD_ENV", str(ac->ename));
  json_object_set_new_nocheck(env, "TENANTD_APP", str(a->name.v));
  if (database_id) {
    char db[NAMING_MAX];

    naming_database(db, ac->tname, ac->ename);
    json_object_set_new_nocheck(env, "TENANTD_DB_HOST",
                                resource_ref(database_id, "host"));
    json_object_set_new_nocheck(env, "TENANTD_DB_PORT",
                                resource_ref(database_id, "port"));
    json_object_set_new_nocheck(env, "TENANTD_DB_NAME", str(db));
    json_object_set_new_nocheck(env, "TENANTD_DB_USER", str(db));
  }
  return env;
}

/* The app's service, waiting for the environment's state and for the
 * apps it depends on that run here. */
static void compose_service(struct env_ctx *cx, const struct app_ctx *ac,
                            const char *network_id, const char *database_id,
                            const char *bucket_id)
{
  const struct mf_app *a = ac->a;
  json_t *spec = json_object();
  struct resource *r;

  set_int(spec, "cpu", cx->tier->cpu.v);
  set_new(spec, "env", service_env(ac, database_id));
  set_int(spec, "health_interval_s", a->health.interval_s.v);
  if (a->health.path.v)
    set_str(spec, "health_path", a->health.path.v);
  set_int(spec, "health_timeout_s", a->health.timeout_s.v);
  set_str(spec, "image", a->image.v);
  set_int(spec, "memory_mib", cx->tier->memory_mib.v);
  set_str(spec, "name", ac->key);
  set_new(spec, "network", resource_ref(network_id, "id"));
  set_int(spec, "port", a->port.v);
  set_int(spec, "replicas", a->replicas.v);
  r = add(cx, RTYPE_SERVICE, ac->service_id, ac->key, spec, a->name.pos);
  resource_add_dep(r, network_id);
  if (database_id)
    resource_add_dep(r, database_id);
  if (bucket_id)
    resource_add_dep(r, bucket_id);
  for (uint32_t i = 0; i < a->depends_on.n; i++) {
    const char *dep_app = mf_str_at(&a->depends_on, i)->v;
    char dep[NAMING_MAX], dep_id[NAMING_MAX + 64];

    /* An app running elsewhere has no service to wait for. */
    if (!runs_here(cx->e, dep_app))
      continue;
    naming_service(dep, dep_app, ac->ename, ac->tname);
    str_join(dep_id, sizeof(dep_id), "service/", dep, NULL);
    resource_add_dep(r, dep_id);
  }
}

/* The load-balancer route of a public app or one with aliases: to every
 * replica of its service, or to an outside app's endpoint. */
static void compose_route(struct env_ctx *cx, const struct app_ctx *ac)
{
  const struct mf_app *a = ac->a;
  json_t *upstreams, *spec, *hosts = json_array();
  char name[NAMING_MAX];
  struct resource *r;

  if (a->dns.pub.v) {
    naming_record(name, a->name.v, ac->ename, ac->tname,
                  cx->plat->spec.domains.pub.v);
    json_array_append_new(hosts, str(name));
  }
  for (uint32_t i = 0; i < a->dns.aliases.n; i++)
    json_array_append_new(hosts, str(mf_str_at(&a->dns.aliases, i)->v));
  upstreams = a->image.v ? resource_ref(ac->service_id, "addresses")
                         : json_pack("[s]", a->endpoint.v);
  spec = json_object();
  set_new(spec, "hosts", hosts);
  set_new(spec, "upstreams", upstreams);
  r = add(cx, RTYPE_ROUTE, ac->route_id, ac->key, spec, a->dns.obj.pos);
  if (a->image.v)
    resource_add_dep(r, ac->service_id);
}

/* The public record, pointing at the ingress. */
static void compose_public_record(struct env_ctx *cx, const struct app_ctx *ac,
                                  const char *ingress)
{
  const struct mf_app *a = ac->a;
  char id[NAMING_MAX + 64], name[NAMING_MAX];
  struct resource *r;

  naming_record(name, a->name.v, ac->ename, ac->tname,
                cx->plat->spec.domains.pub.v);
  str_join(id, sizeof(id), "dns_record/", ac->key, ".public", NULL);
  r = add(cx, RTYPE_DNS_RECORD, id, name,
          record_spec(name, record_type(ingress), str(ingress)),
          a->dns.pub.pos);
  resource_add_dep(r, ac->route_id);
}

/* The private record: the service's address, or an outside app's host. */
static void compose_private_record(struct env_ctx *cx, const struct app_ctx *ac)
{
  const struct mf_app *a = ac->a;
  char id[NAMING_MAX + 64], name[NAMING_MAX];
  const char *type = "A";
  json_t *target;
  struct resource *r;

  naming_record(name, a->name.v, ac->ename, ac->tname,
                cx->plat->spec.domains.priv.v);
  str_join(id, sizeof(id), "dns_record/", ac->key, ".private", NULL);
  if (a->image.v) {
    target = resource_ref(ac->service_id, "ip");
  } else {
    /* An outside app: its endpoint's host, without the port. */
    char host[NAMING_MAX];
    const char *colon = strrchr(a->endpoint.v, ':');
    size_t n = colon ? (size_t)(colon - a->endpoint.v) : 0;

    snprintf(host, sizeof(host), "%.*s", (int)n, a->endpoint.v);
    type = record_type(host);
    target = json_string(host);
  }
  r = add(cx, RTYPE_DNS_RECORD, id, name, record_spec(name, type, target),
          a->dns.priv.pos);
  if (a->image.v)
    resource_add_dep(r, ac->service_id);
}

/* One record per alias, pointing at the ingress. */
static void compose_alias_records(struct env_ctx *cx, const struct app_ctx *ac,
                                  const char *ingress)
{
  const struct mf_app *a = ac->a;

  for (uint32_t i = 0; i < a->dns.aliases.n; i++) {
    const struct mf_str *al = mf_str_at(&a->dns.aliases, i);
    char id[NAMING_MAX + 64];
    struct resource *r;

    str_join(id, sizeof(id), "dns_record/", ac->key, ".alias.", al->v, NULL);
    r = add(cx, RTYPE_DNS_RECORD, id, al->v,
            record_spec(al->v, record_type(ingress), str(ingress)), al->pos);
    resource_add_dep(r, ac->route_id);
  }
}

static void compose_app(struct env_ctx *cx, const struct mf_app *a,
                        const char *network_id, const char *database_id,
                        const char *bucket_id)
{
  const char *ingress = cx->plat->spec.ingress.pub.v;
  struct app_ctx ac = {
      .a = a, .tname = cx->t->meta.name.v, .ename = cx->e->name.v};

  naming_service(ac.key, a->name.v, ac.ename, ac.tname);
  str_join(ac.service_id, sizeof(ac.service_id), "service/", ac.key, NULL);
  str_join(ac.route_id, sizeof(ac.route_id), "route/", ac.key, NULL);
  if (a->image.v)
    compose_service(cx, &ac, network_id, database_id, bucket_id);
  if (a->dns.pub.v || a->dns.aliases.n > 0)
    compose_route(cx, &ac);
  if (a->dns.pub.v && ingress)
    compose_public_record(cx, &ac, ingress);
  if (a->dns.priv.v && cx->plat->spec.domains.priv.v)
    compose_private_record(cx, &ac);
  if (ingress)
    compose_alias_records(cx, &ac, ingress);
}

int compose_tenant(const struct manifest_repo *repo,
                   const struct manifest_doc *doc, struct resource_set *out)
{
  return compose_tenant_in(repo, doc, NULL, out);
}

int compose_tenant_in(const struct manifest_repo *repo,
                      const struct manifest_doc *doc,
                      struct resource_pool *pool, struct resource_set *out)
{
  const struct mf_tenant *t = doc->u.tenant;
  struct env_ctx cx = {0};

  if (!repo->platform || !repo->platform->valid)
    return td_error("platform.yaml is missing or invalid");
  if (!repo->catalog || !repo->catalog->valid)
    return td_error("the tier catalog is invalid");
  if (!t || !doc->valid)
    return td_error("%s is invalid", doc->path);
  cx.plat = repo->platform->u.platform;
  cx.tier = manifest_catalog_find(repo->catalog->u.catalog, t->spec.tier.v);
  if (!cx.tier)
    return td_error("%s: unknown tier '%s'", doc->path, t->spec.tier.v);
  cx.t = t;
  cx.path = doc->path;
  cx.pool = pool;
  cx.out = out;

  for (uint32_t i = 0; i < t->spec.envs.n; i++) {
    const struct mf_env *e = mf_tenant_env(t, i);
    const char *tname = t->meta.name.v;
    char ws[NAMING_MAX], name[NAMING_MAX];
    char network_id[NAMING_MAX + 16], database_id[NAMING_MAX + 16];
    char bucket_id[NAMING_MAX + 16];
    const char *region = t->spec.region.v ? t->spec.region.v : "";
    struct resource *r;
    json_t *spec;

    cx.e = e;
    naming_workspace(ws, tname, e->name.v);
    str_join(network_id, sizeof(network_id), "network/", ws, NULL);
    str_join(database_id, sizeof(database_id), "database/", ws, NULL);
    str_join(bucket_id, sizeof(bucket_id), "bucket/", ws, NULL);

    naming_network(name, tname, e->name.v);
    spec = json_object();
    set_str(spec, "cidr", e->network.cidr.text);
    set_str(spec, "name", name);
    set_str(spec, "region", region);
    add(&cx, RTYPE_NETWORK, network_id, name, spec, e->network.cidr.pos);

    if (e->database.obj.present) {
      naming_database(name, tname, e->name.v);
      spec = json_object();
      set_int(spec, "backup_retention_days", cx.tier->backup.retention_days.v);
      set_str(spec, "class", cx.tier->database_class.v);
      set_int(spec, "connection_limit", cx.tier->max_users.v);
      set_bool(spec, "ha", cx.tier->database_ha.v);
      set_str(spec, "name", name);
      set_str(spec, "owner", name);
      r = add(&cx, RTYPE_DATABASE, database_id, name, spec,
              e->database.obj.pos);
      r->deletion = (enum deletion_policy)e->database.deletion_policy.v;
      r->adopt = e->database.adopt.v;
      resource_add_dep(r, network_id);
    }
    if (e->bucket.obj.present) {
      naming_bucket(name, tname, e->name.v);
      spec = json_object();
      set_str(spec, "name", name);
      set_str(spec, "region", region);
      set_bool(spec, "versioning", e->bucket.versioning.v);
      r = add(&cx, RTYPE_BUCKET, bucket_id, name, spec, e->bucket.obj.pos);
      r->deletion = (enum deletion_policy)e->bucket.deletion_policy.v;
      r->adopt = e->bucket.adopt.v;
      resource_add_dep(r, network_id);
    }
    for (uint32_t j = 0; j < e->apps.n; j++)
      compose_app(&cx, mf_env_app(e, j), network_id,
                  e->database.obj.present ? database_id : NULL,
                  e->bucket.obj.present ? bucket_id : NULL);
  }
  return 0;
}

static void dot_quoted(FILE *out, const char *s)
{
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fputc('\\', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

static int by_tenant_id(const void *a, const void *b)
{
  const struct resource *const *x = a, *const *y = b;
  int c = strcmp((*x)->tenant, (*y)->tenant);

  return c ? c : strcmp((*x)->id, (*y)->id);
}

void compose_write_dot(const struct resource_set *all, FILE *out)
{
  struct resource_set sorted = *all, *set = &sorted;
  const char *tenant = NULL;

  /* Clusters need each tenant's nodes together. */
  sorted.v = td_malloc((all->n ? all->n : 1) * sizeof(*sorted.v));
  if (all->n)
    memcpy(sorted.v, all->v, all->n * sizeof(*sorted.v));
  if (all->n > 1)
    qsort(sorted.v, all->n, sizeof(*sorted.v), by_tenant_id);

  fputs("digraph tenantd {\n  rankdir=LR;\n  node [shape=box, "
        "fontname=\"monospace\"];\n",
        out);
  for (size_t i = 0; i < set->n; i++) {
    const struct resource *r = set->v[i];

    if (!tenant || strcmp(tenant, r->tenant) != 0) {
      if (tenant)
        fputs("  }\n", out);
      tenant = r->tenant;
      fputs("  subgraph ", out);
      {
        char cluster[NAMING_MAX + 16];

        snprintf(cluster, sizeof(cluster), "cluster_%s", tenant);
        dot_quoted(out, cluster);
      }
      fputs(" {\n    label=", out);
      dot_quoted(out, tenant);
      fputs(";\n", out);
    }
    fputs("    ", out);
    dot_quoted(out, r->id);
    fputs(" [label=", out);
    {
      char label[2 * NAMING_MAX];

      snprintf(label, sizeof(label), "%s\\n%s", r->id, r->name);
      fputc('"', out);
      fputs(label, out);
      fputc('"', out);
    }
    fputs("];\n", out);
  }
  if (tenant)
    fputs("  }\n", out);
  for (size_t i = 0; i < set->n; i++)
    for (size_t d = 0; d < set->v[i]->ndeps; d++) {
      fputs("  ", out);
      dot_quoted(out, set->v[i]->deps[d]);
      fputs(" -> ", out);
      dot_quoted(out, set->v[i]->id);
      fputs(";\n", out);
    }
  fputs("}\n", out);
  free(sorted.v);
}
