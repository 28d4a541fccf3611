/*
 * resource.h - a concrete resource: what compose produces, what providers
 * create, read, update and delete, what diff compares.
 *
 * A resource is {id, type, provider, tenant, name, spec, deps, policy}.
 *   id       stable address: "<type>/<key>", e.g. "database/acme.prod",
 *            "dns_record/api.prod.acme.public".  Never changes while the
 *            manifest keeps the thing; the inventory is keyed by it.
 *   name     the external name at the provider, by the naming conventions.
 *   spec     a JSON object holding only the attributes tenantd manages.  A
 *            value {"$ref": "<id>#<output>"} is resolved at apply time from
 *            the observed outputs of resource <id> (a dependency).
 *   deps     ids this resource must wait for (created and healthy first,
 *            deleted after it).
 *
 * Ownership: a resource owns its strings and holds one reference to its
 * spec.  A resource_set owns its resources.
 */
#ifndef TD_RESOURCE_H
#define TD_RESOURCE_H

#include "base/compat.h"

#include <jansson.h>

#include "base/arena.h"
#include "base/diag.h"

/* The kinds of resource compose builds and providers manage. */
enum rtype {
  RTYPE_NETWORK,
  RTYPE_DATABASE,
  RTYPE_BUCKET,
  RTYPE_SERVICE,
  RTYPE_ROUTE,
  RTYPE_DNS_RECORD,
  RTYPE_COUNT
};

/* "network", "database", ...: the names manifests and ids use. */
extern const char *const rtype_names[RTYPE_COUNT];

/* What pruning does with a stateful resource the manifest dropped. */
enum deletion_policy { DELETION_ORPHAN, DELETION_DELETE };

/* The ownership marker's fields, as providers store them. */
#define RESOURCE_MARKER_MANAGED_BY "tenantd"

struct resource {
  char *id;
  enum rtype type;
  char *provider; /* instance name from the Platform binding */
  char *tenant;
  char *name;   /* external name */
  json_t *spec; /* owned reference; NULL while stashed (below) */
  /* The spec as canonical JSON text while `spec` is let go of, to hold a
   * pass's specs in a seventh of the memory; owned, or NULL. */
  char *spec_text;
  char **deps; /* ids */
  size_t ndeps;
  enum deletion_policy deletion;
  bool adopt;
  /* Where the manifest declares it, for errors: borrowed from the repo. */
  const char *path;
  struct src_pos pos;
  /* Made in this pool (then its strings and deps are the pool's), or
   * NULL: made with malloc. */
  struct resource_pool *pool;
};

struct resource_set {
  struct resource **v; /* sorted by id once resource_set_sort() ran */
  size_t n, alloc;
};

#define RESOURCE_SET_INIT \
  {                       \
    NULL, 0, 0            \
  }

/* A new resource; `spec` is stolen (may be NULL for an empty object). */
struct resource *resource_new(enum rtype type, const char *id,
                              const char *provider, const char *tenant,
                              const char *name, json_t *spec);
void resource_add_dep(struct resource *r, const char *id);
/* Frees a resource made with malloc; of one made in a pool, only what is
 * not the pool's (its spec). */
void resource_free(struct resource *r);

/*
 * Resources that live and die together (a pass's, or a window's): made
 * in one arena, with their ids, tenants and providers interned (a
 * dependency is the very string of the id it names), freed in one step
 * with the pool, after every resource_free() of them.  One thread at a
 * time.
 */
struct resource_pool;

struct resource_pool *resource_pool_new(void);
void resource_pool_free(struct resource_pool *p);
/* As resource_new(), in `p` (NULL: with malloc). */
struct resource *resource_new_in(struct resource_pool *p, enum rtype type,
                                 const char *id, const char *provider,
                                 const char *tenant, const char *name,
                                 json_t *spec);

/*
 * A spec kept as text until it is needed: stash lets go of r->spec and
 * keeps its canonical JSON; load makes r->spec again from it (an equal
 * value, keys in sorted order) and returns it; unload lets go of it
 * again.  Load and unload do nothing to a resource that is not stashed.
 */
void resource_spec_stash(struct resource *r);
const json_t *resource_spec_load(struct resource *r);
void resource_spec_unload(struct resource *r);

/* Takes ownership of r. */
void resource_set_add(struct resource_set *s, struct resource *r);
void resource_set_sort(struct resource_set *s);
/* Binary search; the set must be sorted.  Borrowed, or NULL. */
struct resource *resource_set_find(const struct resource_set *s,
                                   const char *id);
void resource_set_release(struct resource_set *s);

/* "network", "database", ... and back; -1 when unknown. */
const char *resource_type_name(enum rtype t);
int resource_type_parse(const char *name);
/* The same for the first `len` bytes of `name`. */
int resource_type_parse_n(const char *name, size_t len);

/*
 * The ownership marker every resource tenantd creates carries:
 * "managed-by=tenantd tenant=<t> id=<id>".  Written into `buf` of
 * RESOURCE_MARKER_MAX bytes.
 */
#define RESOURCE_MARKER_MAX 640
void resource_marker(char *buf, const char *tenant, const char *id);

/* Parses a marker; 0 and the fields when it is tenantd's, -1 otherwise. */
int resource_marker_parse(const char *text, char *tenant, size_t tcap, char *id,
                          size_t icap);

/*
 * Per-type attribute rules.  Specs by type (compose builds them):
 *   network     {name, cidr, region}                      immutable: cidr
 *   database    {name, owner, connection_limit, class, ha,
 *                backup_retention_days}                   immutable: name
 *   bucket      {name, versioning, region}                immutable: name
 *   service     {name, image, port, replicas, cpu, memory_mib,
 *                health_path, health_interval_s, health_timeout_s,
 *                network, env}                            immutable: -
 *   route       {hosts, upstreams}                        immutable: -
 *   dns_record  {name, type ("A" | "CNAME"), target, ttl} immutable: name
 * A service's env is an object of variable name -> value: the app's own
 * `env` (strings), TENANTD_TENANT, TENANTD_ENV, TENANTD_APP, and with a
 * database TENANTD_DB_HOST and TENANTD_DB_PORT (references to the
 * database's outputs: a string and an integer once resolved),
 * TENANTD_DB_NAME and TENANTD_DB_USER.  Values are never secrets.
 * A route's upstreams are "host:port" strings: its service's addresses
 * (a reference), or an outside app's endpoint alone.
 * Outputs (observed only): service {ip, port, address, addresses,
 * healthy: addresses holds every replica's "host:port", address being
 * the first}, network {id}, database {host, port; postgres adds
 * database, user}, bucket {url}.
 */
bool resource_attr_immutable(enum rtype t, const char *attr);

/* A reference value {"$ref": "<id>#<output>"}: 0 and its parts, or -1. */
int resource_ref_parse(const json_t *v, const char **id, size_t *idlen,
                       const char **output);

/* {"$ref": "<id>#<output>"}, a new reference. */
json_t *resource_ref(const char *id, const char *output);

/*
 * A stable hash of a spec: 64-bit FNV-1a over its canonical JSON (what
 * json_dumps() writes with JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENCODE_ANY), as 16 hex digits and a NUL.  Computed by walking the
 * value: no text is built.
 */
void resource_spec_hash(const json_t *spec, char out[17]);

/* The canonical JSON text itself (caller frees), or NULL when jansson
 * could not encode the value either (a string that is not UTF-8). */
char *resource_canonical_json(const json_t *v);

/* The same 64-bit FNV-1a over any bytes. */
void resource_hash_hex(const void *data, size_t len, char out[17]);

#endif
