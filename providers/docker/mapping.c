/*
 * mapping.c - the docker provider's mapping of resources to the Engine
 * API, with no I/O (see internal.h): what a create sends, what a list
 * means, what a read reports, what a convergence does.
 */
#include "base/compat.h"

#include <ctype.h>
#include <stdio.h>

#include "model/resource.h"
#include "providers/docker/internal.h"

/* ---- small things ---- */

static const char *str_of(const json_t *obj, const char *key)
{
  return json_string_value(json_object_get(obj, key));
}

char *dk__query_escape(const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  char *out = td_malloc(strlen(s) * 3 + 1), *p = out;

  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;

    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      *p++ = (char)c;
    } else {
      *p++ = '%';
      *p++ = hex[c >> 4];
      *p++ = hex[c & 15];
    }
  }
  *p = '\0';
  return out;
}

char *dk__filter(const char *key, const char *value)
{
  json_t *f = json_pack("{s:[s]}", key, value);
  char *text = json_dumps(f, JSON_COMPACT);
  char *out = dk__query_escape(text);

  free(text);
  json_decref(f);
  return out;
}

void dk__family_release(struct dk_family *f)
{
  for (size_t i = 0; i < f->n; i++) {
    free(f->v[i].id);
    free(f->v[i].name);
    json_decref(f->v[i].tmpl);
  }
  free(f->v);
  memset(f, 0, sizeof(*f));
}

/* ---- labels ---- */

bool dk__labels_marker(const json_t *labels, char *buf)
{
  const char *by = str_of(labels, DK_LABEL_MANAGED);
  const char *tenant = str_of(labels, DK_LABEL_TENANT);
  const char *id = str_of(labels, DK_LABEL_ID);

  if (!by || strcmp(by, RESOURCE_MARKER_MANAGED_BY) != 0 || !tenant ||
      !*tenant || !id || !*id || strchr(tenant, ' ') || strchr(id, ' '))
    return false;
  resource_marker(buf, tenant, id);
  return true;
}

bool dk__labels_ours(const json_t *labels, const struct dk_owner *o)
{
  const char *tenant = str_of(labels, DK_LABEL_TENANT);
  const char *id = str_of(labels, DK_LABEL_ID);
  char marker[RESOURCE_MARKER_MAX];

  return dk__labels_marker(labels, marker) && strcmp(tenant, o->tenant) == 0 &&
         strcmp(id, o->id) == 0;
}

json_t *dk__labels(const struct dk_owner *o, const char *hash)
{
  return json_pack("{s:s, s:s, s:s, s:s, s:s}", DK_LABEL_MANAGED,
                   RESOURCE_MARKER_MANAGED_BY, DK_LABEL_TENANT, o->tenant,
                   DK_LABEL_ID, o->id, DK_LABEL_NAME, o->name, DK_LABEL_HASH,
                   hash);
}

/* ---- templates and names ---- */

json_t *dk__template(const json_t *spec, char hash[17])
{
  json_t *tmpl = json_deep_copy(spec);

  json_object_del(tmpl, "replicas");
  resource_spec_hash(tmpl, hash);
  return tmpl;
}

bool dk__replica_name(char *buf, size_t cap, const char *svc, long ordinal,
                      const char *hash)
{
  int n = snprintf(buf, cap, "%s-%ld-%.8s", svc, ordinal, hash);

  return n > 0 && (size_t)n < cap;
}

bool dk__family_ordinal(const char *svc, const char *name, long *ordinal)
{
  size_t len = strlen(svc);
  const char *p = name + len + 1;
  long v = 0;
  size_t digits = 0;

  if (strncmp(name, svc, len) != 0 || name[len] != '-')
    return false;
  for (; isdigit((unsigned char)*p) && digits < 7; p++, digits++)
    v = v * 10 + (*p - '0');
  if (digits == 0 || (digits > 1 && p[-(long)digits] == '0'))
    return false;
  if (*p == '-') {
    size_t hex = strspn(p + 1, "0123456789abcdef");

    if (hex != 8 || p[9] != '\0')
      return false;
  } else if (*p != '\0') {
    return false;
  }
  *ordinal = v;
  return true;
}

/* ---- specs ---- */

static bool env_name_ok(const char *s)
{
  if (!(isalpha((unsigned char)*s) || *s == '_'))
    return false;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_'))
      return false;
  return true;
}

static bool int_in(const json_t *v, json_int_t lo, json_int_t hi)
{
  return json_is_integer(v) && json_integer_value(v) >= lo &&
         json_integer_value(v) <= hi;
}

/* An image reference as Docker takes it: no blanks or control bytes. */
static bool image_ok(const char *s)
{
  if (!s || !*s || strlen(s) > 512)
    return false;
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || *s == 0x7f)
      return false;
  return true;
}

static int check_env(const json_t *env, char *err, size_t cap)
{
  const char *key;
  const json_t *v;

  if (!json_is_object(env)) {
    snprintf(err, cap, "env must be an object");
    return PROVIDER_INVALID;
  }
  json_object_foreach((json_t *)env, key, v)
  {
    if (!env_name_ok(key)) {
      snprintf(err, cap, "env: '%.64s' is not a variable name", key);
      return PROVIDER_INVALID;
    }
    if (!json_is_string(v) && !json_is_integer(v)) {
      snprintf(err, cap, "env: %.64s must be a string or an integer", key);
      return PROVIDER_INVALID;
    }
    if (json_is_string(v) &&
        strlen(json_string_value(v)) != json_string_length(v)) {
      snprintf(err, cap, "env: %.64s holds a NUL byte", key);
      return PROVIDER_INVALID;
    }
  }
  return 0;
}

int dk__service_spec_check(const json_t *spec, char *err, size_t cap)
{
  const json_t *path = json_object_get(spec, "health_path");
  const json_t *env = json_object_get(spec, "env");
  const char *why = NULL;

  if (!str_of(spec, "name"))
    why = "name must be a string";
  else if (!image_ok(str_of(spec, "image")))
    why = "image must be an image reference";
  else if (!int_in(json_object_get(spec, "port"), 1, 65535))
    why = "port must be an integer from 1 to 65535";
  else if (!int_in(json_object_get(spec, "replicas"), 0, DK_MAX_REPLICAS))
    why = "replicas must be an integer from 0 to 1000";
  else if (json_object_get(spec, "cpu") &&
           !int_in(json_object_get(spec, "cpu"), 0, 4096))
    why = "cpu must be an integer number of cores";
  else if (json_object_get(spec, "memory_mib") &&
           !int_in(json_object_get(spec, "memory_mib"), 0, 1 << 30))
    why = "memory_mib must be an integer";
  else if (path && !json_is_null(path) &&
           (!json_is_string(path) || json_string_value(path)[0] != '/'))
    why = "health_path must be a path starting with '/'";
  else if (json_object_get(spec, "health_interval_s") &&
           !int_in(json_object_get(spec, "health_interval_s"), 1, 3600))
    why = "health_interval_s must be an integer from 1 to 3600";
  else if (json_object_get(spec, "health_timeout_s") &&
           !int_in(json_object_get(spec, "health_timeout_s"), 1, 3600))
    why = "health_timeout_s must be an integer from 1 to 3600";
  else if (!str_of(spec, "network") || !*str_of(spec, "network"))
    why = "network must be a network's id";
  if (why) {
    snprintf(err, cap, "%s", why);
    return PROVIDER_INVALID;
  }
  return env ? check_env(env, err, cap) : 0;
}

/* ---- request bodies ---- */

/* "NAME=value" lines, sorted by name, integers in decimal (new). */
static json_t *env_lines(const json_t *env)
{
  json_t *out = json_array();
  const char **keys = td_calloc(json_object_size(env) + 1, sizeof(*keys));
  const char *key;
  const json_t *v;
  size_t n = 0;

  json_object_foreach((json_t *)env, key, v) keys[n++] = key;
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
      const char *t = keys[j];

      keys[j] = keys[j - 1];
      keys[j - 1] = t;
    }
  for (size_t i = 0; i < n; i++) {
    v = json_object_get(env, keys[i]);
    char *line =
        json_is_integer(v)
            ? td_asprintf("%s=%lld", keys[i], (long long)json_integer_value(v))
            : td_asprintf("%s=%s", keys[i], json_string_value(v));

    json_array_append_new(out, json_string(line));
    free(line);
  }
  free(keys);
  return out;
}

json_t *dk__container_body(const json_t *tmpl, const char *hash, long ordinal,
                           const struct dk_owner *o, const char *host_address)
{
  json_t *labels = dk__labels(o, hash), *host, *body;
  json_int_t port = json_integer_value(json_object_get(tmpl, "port"));
  json_int_t cpu = json_integer_value(json_object_get(tmpl, "cpu"));
  json_int_t mib = json_integer_value(json_object_get(tmpl, "memory_mib"));
  const json_t *env = json_object_get(tmpl, "env");
  char key[32], ord[24];
  char *spec = json_dumps(tmpl, JSON_COMPACT | JSON_SORT_KEYS);

  snprintf(key, sizeof(key), "%lld/tcp", (long long)port);
  snprintf(ord, sizeof(ord), "%ld", ordinal);
  json_object_set_new(labels, DK_LABEL_ORDINAL, json_string(ord));
  json_object_set_new(labels, DK_LABEL_SPEC, json_string(spec));
  free(spec);
  /* Init: a PID 1 that passes SIGTERM on, so a stop does not wait for
   * its timeout.  The port on hostAddress at a port Docker picks. */
  host = json_pack("{s:b, s:s, s:{s:[{s:s, s:s}]}}", "Init", 1, "NetworkMode",
                   str_of(tmpl, "network"), "PortBindings", key, "HostIp",
                   host_address, "HostPort", "");
  if (cpu > 0)
    json_object_set_new(host, "NanoCpus", json_integer(cpu * 1000000000LL));
  if (mib > 0)
    json_object_set_new(host, "Memory", json_integer(mib * 1024 * 1024));
  body = json_pack("{s:s, s:o, s:o, s:{s:{}}, s:o}", "Image",
                   str_of(tmpl, "image"), "Env",
                   env ? env_lines(env) : json_array(), "Labels", labels,
                   "ExposedPorts", key, "HostConfig", host);
  return body;
}

json_t *dk__network_body(const json_t *spec, const struct dk_owner *o)
{
  char hash[17];

  resource_spec_hash(spec, hash);
  return json_pack("{s:s, s:s, s:b, s:{s:[{s:s}]}, s:o}", "Name",
                   str_of(spec, "name"), "Driver", "bridge", "CheckDuplicate",
                   1, "IPAM", "Config", "Subnet", str_of(spec, "cidr"),
                   "Labels", dk__labels(o, hash));
}

/* ---- container lists ---- */

static enum dk_state state_of(const char *s)
{
  if (!s)
    return DK_BROKEN;
  if (strcmp(s, "running") == 0)
    return DK_RUNNING;
  if (strcmp(s, "created") == 0 || strcmp(s, "exited") == 0 ||
      strcmp(s, "stopped") == 0 || strcmp(s, "configured") == 0)
    return DK_STOPPED;
  return DK_BROKEN;
}

/* The container's name without Docker's leading '/'. */
static const char *name_of(const json_t *c)
{
  const char *n =
      json_string_value(json_array_get(json_object_get(c, "Names"), 0));

  if (n && *n == '/')
    n++;
  return n;
}

/* The published port of `port`/tcp (any, when port is 0); 0 if none. */
static unsigned published(const json_t *c, json_int_t port)
{
  const json_t *p;
  size_t i;

  json_array_foreach(json_object_get(c, "Ports"), i, p)
  {
    json_int_t pub = json_integer_value(json_object_get(p, "PublicPort"));
    const char *type = str_of(p, "Type");

    if (pub > 0 && pub <= 65535 && (!type || strcmp(type, "tcp") == 0) &&
        (port == 0 ||
         json_integer_value(json_object_get(p, "PrivatePort")) == port))
      return (unsigned)pub;
  }
  return 0;
}

/* Whether the container is on the network named `net`. */
static bool attached(const json_t *c, const char *net)
{
  const json_t *nets =
      json_object_get(json_object_get(c, "NetworkSettings"), "Networks");

  return net && json_object_get(nets, net) != NULL;
}

/* The first address the container has on a network. */
static void ip_of(const json_t *c, char *buf, size_t cap)
{
  const json_t *nets =
      json_object_get(json_object_get(c, "NetworkSettings"), "Networks");
  const char *key;
  const json_t *n;

  buf[0] = '\0';
  json_object_foreach((json_t *)nets, key, n)
  {
    const char *ip = str_of(n, "IPAddress");

    if (ip && *ip && strlen(ip) < cap) {
      snprintf(buf, cap, "%s", ip);
      return;
    }
  }
}

/* One of ours from a list entry. */
static void replica_take(struct dk_replica *r, const json_t *c,
                         const char *name, const struct dk_owner *o)
{
  const json_t *labels = json_object_get(c, "Labels");
  const char *hash = str_of(labels, DK_LABEL_HASH);
  const char *spec = str_of(labels, DK_LABEL_SPEC);

  memset(r, 0, sizeof(*r));
  r->id = td_strdup(str_of(c, "Id") ? str_of(c, "Id") : "");
  r->name = td_strdup(name);
  r->ours = true;
  if (!dk__family_ordinal(o->name, name, &r->ordinal))
    r->ordinal = -1;
  if (hash && strlen(hash) == 16)
    memcpy(r->hash, hash, 17);
  r->state = state_of(str_of(c, "State"));
  if (spec) {
    r->tmpl = json_loads(spec, 0, NULL);
    if (!json_is_object(r->tmpl)) {
      json_decref(r->tmpl);
      r->tmpl = NULL;
    }
  }
  /* Running off its network (the network was replaced under it) it
   * serves nobody: it is replaced. */
  if (r->state == DK_RUNNING && r->tmpl &&
      !attached(c, str_of(r->tmpl, "network")))
    r->state = DK_BROKEN;
  r->host_port = published(
      c, r->tmpl ? json_integer_value(json_object_get(r->tmpl, "port")) : 0);
  ip_of(c, r->ip, sizeof(r->ip));
  r->health = DK_H_UNKNOWN;
}

static int by_ordinal(const void *a, const void *b)
{
  const struct dk_replica *x = a, *y = b;

  if (x->ordinal != y->ordinal)
    return x->ordinal < y->ordinal ? -1 : 1;
  return strcmp(x->name, y->name);
}

int dk__family_parse(const json_t *list, const struct dk_owner *o, long want,
                     struct dk_family *out, char *err, size_t cap)
{
  const json_t *c;
  size_t i;

  memset(out, 0, sizeof(*out));
  if (!json_is_array(list) || json_array_size(list) > DK_MAX_LIST) {
    snprintf(err, cap, "the container list is not a list, or too long");
    return PROVIDER_INVALID;
  }
  out->v = td_calloc(json_array_size(list) + 1, sizeof(*out->v));
  json_array_foreach(list, i, c)
  {
    const char *name = name_of(c);
    long ordinal;

    if (!name || !json_is_object(c))
      continue;
    if (dk__labels_ours(json_object_get(c, "Labels"), o)) {
      replica_take(&out->v[out->n++], c, name, o);
    } else if (dk__family_ordinal(o->name, name, &ordinal) && ordinal < want &&
               out->foreign++ == 0) {
      snprintf(out->foreign_name, sizeof(out->foreign_name), "%s", name);
    }
  }
  if (out->n > 1)
    qsort(out->v, out->n, sizeof(*out->v), by_ordinal);
  return 0;
}

/* ---- observed state ---- */

static bool counts(const struct dk_replica *r)
{
  return r->state == DK_RUNNING && r->health != DK_H_FAILING;
}

/* One attribute over every replica: its value when they agree, else
 * "mixed: <a> | <b>" (new). */
static json_t *merged(const struct dk_family *f, const char *key)
{
  json_t *first = NULL;
  char *a = NULL, *b = NULL, *text;
  bool mixed = false;

  for (size_t i = 0; i < f->n && !mixed; i++) {
    const json_t *v = f->v[i].tmpl ? json_object_get(f->v[i].tmpl, key) : NULL;

    if (i == 0) {
      first = (json_t *)v;
    } else if (!(v && first ? json_equal(v, first) : v == first)) {
      mixed = true;
      a = first ? json_dumps(first,
                             JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                : td_strdup("(none)");
      b = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
            : td_strdup("(none)");
    }
  }
  if (!mixed)
    return first ? json_deep_copy(first) : NULL;
  text = td_asprintf("mixed: %.200s | %.200s", a, b);
  free(a);
  free(b);
  first = json_string(text);
  free(text);
  return first;
}

static json_t *observed_spec(const struct dk_family *f, const char *svc)
{
  json_t *spec = json_object(), *v;
  json_int_t running = 0;

  for (size_t i = 0; i < f->n; i++) {
    const char *key;
    json_t *item;

    if (counts(&f->v[i]))
      running++;
    if (!f->v[i].tmpl)
      continue;
    json_object_foreach(f->v[i].tmpl, key, item)
    {
      if (json_object_get(spec, key))
        continue;
      v = merged(f, key);
      if (v)
        json_object_set_new(spec, key, v);
    }
  }
  if (!json_object_get(spec, "name"))
    json_object_set_new(spec, "name", json_string(svc));
  json_object_set_new(spec, "replicas", json_integer(running));
  return spec;
}

static void address(char *buf, size_t cap, const char *host, unsigned port)
{
  if (strchr(host, ':'))
    snprintf(buf, cap, "[%s]:%u", host, port);
  else
    snprintf(buf, cap, "%s:%u", host, port);
}

/* Healthy: one version, the wanted count running, every one passing. */
static bool all_healthy(const struct dk_family *f, long want)
{
  long running = 0;

  for (size_t i = 0; i < f->n; i++) {
    const struct dk_replica *r = &f->v[i];

    if (r->state != DK_RUNNING)
      return false;
    if (r->health != DK_H_PASSING && r->health != DK_H_NONE)
      return false;
    if (i > 0 && strcmp(r->hash, f->v[0].hash) != 0)
      return false;
    running++;
  }
  return running > 0 && (want < 0 || running == want);
}

json_t *dk__service_observed(const struct dk_family *f,
                             const struct dk_owner *o, long want,
                             const char *host_address)
{
  json_t *obs, *outputs = json_object(), *addrs = json_array();
  char marker[RESOURCE_MARKER_MAX], buf[128];
  bool first = true;

  for (size_t i = 0; i < f->n; i++) {
    const struct dk_replica *r = &f->v[i];

    if (r->state != DK_RUNNING || !r->host_port)
      continue;
    address(buf, sizeof(buf), host_address, r->host_port);
    json_array_append_new(addrs, json_string(buf));
    if (!first)
      continue;
    first = false;
    json_object_set_new(outputs, "address", json_string(buf));
    json_object_set_new(outputs, "ip",
                        json_string(r->ip[0] ? r->ip : host_address));
    if (r->tmpl && json_object_get(r->tmpl, "port"))
      json_object_set(outputs, "port", json_object_get(r->tmpl, "port"));
  }
  json_object_set_new(outputs, "addresses", addrs);
  json_object_set_new(outputs, "healthy",
                      json_boolean(f->foreign == 0 && all_healthy(f, want)));
  obs = json_pack("{s:o, s:o}", "spec", observed_spec(f, o->name), "outputs",
                  outputs);
  /* Someone else's container in our names: no marker, a conflict. */
  if (f->foreign == 0 && f->n > 0) {
    resource_marker(marker, o->tenant, o->id);
    json_object_set_new(obs, "marker", json_string(marker));
  }
  return obs;
}

json_t *dk__network_observed(const json_t *net, const char *name,
                             const char *region)
{
  const json_t *cfg = json_array_get(
      json_object_get(json_object_get(net, "IPAM"), "Config"), 0);
  const char *subnet = str_of(cfg, "Subnet"), *gw = str_of(cfg, "Gateway");
  char marker[RESOURCE_MARKER_MAX];
  json_t *obs;

  if (!json_is_object(net) || !str_of(net, "Name") ||
      strcmp(str_of(net, "Name"), name) != 0 || !str_of(net, "Id"))
    return NULL;
  /* Containers join a network by name: the name is the id services
   * hold (Podman derives its ids from names anyway). */
  obs = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}", "spec", "name",
                  name, "cidr", subnet ? subnet : "", "region",
                  region ? region : "", "outputs", "id", name, "networkId",
                  str_of(net, "Id"), "gateway", gw ? gw : "");
  if (dk__labels_marker(json_object_get(net, "Labels"), marker))
    json_object_set_new(obs, "marker", json_string(marker));
  return obs;
}

/* ---- the plan of a convergence ---- */

static void push(struct dk_plan *p, enum dk_act act, long ordinal,
                 size_t replica)
{
  p->v = td_realloc(p->v, (p->n + 1) * sizeof(*p->v));
  p->v[p->n++] = (struct dk_step){act, ordinal, replica};
}

/* The replica of version `hash` at `ordinal`, or DK_NONE. */
static size_t current_at(const struct dk_family *f, long ordinal,
                         const char *hash)
{
  for (size_t i = 0; i < f->n; i++)
    if (f->v[i].ordinal == ordinal && strcmp(f->v[i].hash, hash) == 0 &&
        f->v[i].state != DK_BROKEN)
      return i;
  return DK_NONE;
}

static bool old_running_at(const struct dk_family *f, long ordinal,
                           const char *hash)
{
  for (size_t i = 0; i < f->n; i++)
    if (f->v[i].ordinal == ordinal && strcmp(f->v[i].hash, hash) != 0 &&
        f->v[i].state == DK_RUNNING)
      return true;
  return false;
}

/* Stage 1's removals: what no ordinal keeps. */
static void plan_removals(const struct dk_family *f, const char *hash,
                          long want, struct dk_plan *out)
{
  for (size_t i = 0; i < f->n; i++) {
    const struct dk_replica *r = &f->v[i];
    bool current = strcmp(r->hash, hash) == 0;

    if (r->ordinal < 0 || r->ordinal >= want || r->state == DK_BROKEN ||
        (!current && r->state != DK_RUNNING) ||
        (current && current_at(f, r->ordinal, hash) != i))
      push(out, DK_REMOVE, r->ordinal, i);
  }
}

void dk__plan(const struct dk_family *f, const char *hash, long want,
              struct dk_plan *out)
{
  memset(out, 0, sizeof(*out));
  plan_removals(f, hash, want, out);
  for (long k = 0; k < want; k++) {
    size_t cur = current_at(f, k, hash);
    bool old = old_running_at(f, k, hash);

    if (old)
      continue; /* stage 2 */
    if (cur == DK_NONE)
      continue; /* stage 3 */
    if (f->v[cur].state == DK_STOPPED)
      push(out, DK_START, k, cur);
    else if (f->v[cur].health == DK_H_FAILING)
      push(out, DK_RESTART, k, cur);
  }
  for (long k = 0; k < want; k++)
    if (old_running_at(f, k, hash))
      push(out, DK_ROLL, k, current_at(f, k, hash));
  for (long k = 0; k < want; k++)
    if (!old_running_at(f, k, hash) && current_at(f, k, hash) == DK_NONE)
      push(out, DK_CREATE, k, DK_NONE);
}

void dk__plan_release(struct dk_plan *p)
{
  free(p->v);
  memset(p, 0, sizeof(*p));
}

const char *dk__api_message(const json_t *body)
{
  return str_of(body, "message");
}
