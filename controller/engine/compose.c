#include "base/compat.h"

#include <stdio.h>

#include "engine/compose.h"
#include "base/error.h"
#include "model/naming.h"

/* Records point at the ingress with A for an address, CNAME for a name. */
#define RECORD_TTL 300

struct env_ctx {
  const struct mf_platform *plat;
  const struct mf_tier *tier;
  const struct mf_tenant *t;
  const struct mf_env *e;
  const char *path;
  struct resource_set *out;
};

static struct resource *add(struct env_ctx *cx, enum rtype type, const char *id,
                            const char *name, json_t *spec, struct src_pos pos)
{
  const char *provider = cx->plat->spec.providers.by_type[type].v;
  struct resource *r =
      resource_new(type, id, provider, cx->t->meta.name.v, name, spec);

  r->path = cx->path;
  r->pos = pos;
  resource_set_add(cx->out, r);
  return r;
}

static const char *record_type(const char *target)
{
  return naming_is_ipv4(target, NULL) ? "A" : "CNAME";
}

static json_t *record_spec(const char *name, const char *type, json_t *target)
{
  return json_pack("{s:s, s:s, s:o, s:i}", "name", name, "type", type, "target",
                   target, "ttl", RECORD_TTL);
}

static bool runs_here(const struct mf_env *e, const char *app)
{
  for (uint32_t i = 0; i < e->apps.n; i++)
    if (strcmp(mf_env_app(e, i)->name.v, app) == 0)
      return mf_env_app(e, i)->image.v != NULL;
  return false;
}

static void compose_app(struct env_ctx *cx, const struct mf_app *a,
                        const char *network_id, const char *database_id,
                        const char *bucket_id)
{
  const char *tname = cx->t->meta.name.v, *ename = cx->e->name.v;
  const char *ingress = cx->plat->spec.ingress.pub.v;
  char key[NAMING_MAX], id[NAMING_MAX + 64], service_id[NAMING_MAX + 64];
  char route_id[NAMING_MAX + 64], name[NAMING_MAX];
  bool has_route = a->dns.pub.v || a->dns.aliases.n > 0;
  json_t *upstream, *hosts;
  struct resource *r;

  naming_service(key, a->name.v, ename, tname);
  snprintf(service_id, sizeof(service_id), "service/%s", key);
  snprintf(route_id, sizeof(route_id), "route/%s", key);

  if (a->image.v) {
    r = add(cx, RTYPE_SERVICE, service_id, key,
            json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s?, s:I, s:I, s:o}",
                      "name", key, "image", a->image.v, "port",
                      (json_int_t)a->port.v, "replicas",
                      (json_int_t)a->replicas.v, "cpu",
                      (json_int_t)cx->tier->cpu.v, "memory_mib",
                      (json_int_t)cx->tier->memory_mib.v, "health_path",
                      a->health.path.v, "health_interval_s",
                      (json_int_t)a->health.interval_s.v, "health_timeout_s",
                      (json_int_t)a->health.timeout_s.v, "network",
                      resource_ref(network_id, "id")),
            a->name.pos);
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
      naming_service(dep, dep_app, ename, tname);
      snprintf(dep_id, sizeof(dep_id), "service/%s", dep);
      resource_add_dep(r, dep_id);
    }
  }

  if (has_route) {
    hosts = json_array();
    if (a->dns.pub.v) {
      naming_record(name, a->name.v, ename, tname,
                    cx->plat->spec.domains.pub.v);
      json_array_append_new(hosts, json_string(name));
    }
    for (uint32_t i = 0; i < a->dns.aliases.n; i++)
      json_array_append_new(hosts,
                            json_string(mf_str_at(&a->dns.aliases, i)->v));
    upstream = a->image.v ? resource_ref(service_id, "address")
                          : json_string(a->endpoint.v);
    r = add(cx, RTYPE_ROUTE, route_id, key,
            json_pack("{s:o, s:o}", "hosts", hosts, "upstream", upstream),
            a->dns.obj.pos);
    if (a->image.v)
      resource_add_dep(r, service_id);
  }

  if (a->dns.pub.v && ingress) {
    naming_record(name, a->name.v, ename, tname, cx->plat->spec.domains.pub.v);
    snprintf(id, sizeof(id), "dns_record/%s.public", key);
    r = add(cx, RTYPE_DNS_RECORD, id, name,
            record_spec(name, record_type(ingress), json_string(ingress)),
            a->dns.pub.pos);
    resource_add_dep(r, route_id);
  }

  if (a->dns.priv.v && cx->plat->spec.domains.priv.v) {
    json_t *target;
    const char *type = "A";

    naming_record(name, a->name.v, ename, tname, cx->plat->spec.domains.priv.v);
    snprintf(id, sizeof(id), "dns_record/%s.private", key);
    if (a->image.v) {
      target = resource_ref(service_id, "ip");
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
      resource_add_dep(r, service_id);
  }

  for (uint32_t i = 0; ingress && i < a->dns.aliases.n; i++) {
    const struct mf_str *al = mf_str_at(&a->dns.aliases, i);

    snprintf(id, sizeof(id), "dns_record/%s.alias.%s", key, al->v);
    r = add(cx, RTYPE_DNS_RECORD, id, al->v,
            record_spec(al->v, record_type(ingress), json_string(ingress)),
            al->pos);
    resource_add_dep(r, route_id);
  }
}

int compose_tenant(const struct manifest_repo *repo,
                   const struct manifest_doc *doc, struct resource_set *out)
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
  cx.out = out;

  for (uint32_t i = 0; i < t->spec.envs.n; i++) {
    const struct mf_env *e = mf_tenant_env(t, i);
    const char *tname = t->meta.name.v;
    char ws[NAMING_MAX], name[NAMING_MAX];
    char network_id[NAMING_MAX + 16], database_id[NAMING_MAX + 16];
    char bucket_id[NAMING_MAX + 16];
    struct resource *r;

    cx.e = e;
    naming_workspace(ws, tname, e->name.v);
    snprintf(network_id, sizeof(network_id), "network/%s", ws);
    snprintf(database_id, sizeof(database_id), "database/%s", ws);
    snprintf(bucket_id, sizeof(bucket_id), "bucket/%s", ws);

    naming_network(name, tname, e->name.v);
    add(&cx, RTYPE_NETWORK, network_id, name,
        json_pack("{s:s, s:s, s:s}", "name", name, "cidr", e->network.cidr.text,
                  "region", t->spec.region.v ? t->spec.region.v : ""),
        e->network.cidr.pos);

    if (e->database.obj.present) {
      naming_database(name, tname, e->name.v);
      r = add(&cx, RTYPE_DATABASE, database_id, name,
              json_pack("{s:s, s:s, s:I, s:s, s:b, s:I}", "name", name, "owner",
                        name, "connection_limit",
                        (json_int_t)cx.tier->max_users.v, "class",
                        cx.tier->database_class.v, "ha", cx.tier->database_ha.v,
                        "backup_retention_days",
                        (json_int_t)cx.tier->backup.retention_days.v),
              e->database.obj.pos);
      r->deletion = (enum deletion_policy)e->database.deletion_policy.v;
      r->adopt = e->database.adopt.v;
      resource_add_dep(r, network_id);
    }
    if (e->bucket.obj.present) {
      naming_bucket(name, tname, e->name.v);
      r = add(&cx, RTYPE_BUCKET, bucket_id, name,
              json_pack("{s:s, s:b, s:s}", "name", name, "versioning",
                        e->bucket.versioning.v, "region",
                        t->spec.region.v ? t->spec.region.v : ""),
              e->bucket.obj.pos);
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
