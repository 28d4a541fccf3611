#include "base/compat.h"

#include <stdio.h>

#include "model/resource.h"

struct resource *resource_new(enum rtype type, const char *id,
                              const char *provider, const char *tenant,
                              const char *name, json_t *spec)
{
  struct resource *r = td_calloc(1, sizeof(*r));

  r->type = type;
  r->id = td_strdup(id);
  r->provider = td_strdup(provider);
  r->tenant = td_strdup(tenant);
  r->name = td_strdup(name);
  r->spec = spec ? spec : json_object();
  r->deletion = DELETION_DELETE;
  return r;
}

void resource_add_dep(struct resource *r, const char *id)
{
  for (size_t i = 0; i < r->ndeps; i++)
    if (strcmp(r->deps[i], id) == 0)
      return;
  r->deps = td_realloc(r->deps, (r->ndeps + 1) * sizeof(*r->deps));
  r->deps[r->ndeps++] = td_strdup(id);
}

void resource_free(struct resource *r)
{
  if (!r)
    return;
  for (size_t i = 0; i < r->ndeps; i++)
    free(r->deps[i]);
  free(r->deps);
  json_decref(r->spec);
  free(r->id);
  free(r->provider);
  free(r->tenant);
  free(r->name);
  free(r);
}

void resource_set_add(struct resource_set *s, struct resource *r)
{
  if (s->n == s->alloc) {
    s->alloc = s->alloc ? s->alloc * 2 : 32;
    s->v = td_realloc(s->v, s->alloc * sizeof(*s->v));
  }
  s->v[s->n++] = r;
}

static int by_id(const void *a, const void *b)
{
  const struct resource *const *x = a, *const *y = b;

  return strcmp((*x)->id, (*y)->id);
}

void resource_set_sort(struct resource_set *s)
{
  if (s->n > 1)
    qsort(s->v, s->n, sizeof(*s->v), by_id);
}

struct resource *resource_set_find(const struct resource_set *s, const char *id)
{
  size_t lo = 0, hi = s->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->v[mid]->id, id);

    if (c == 0)
      return s->v[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

void resource_set_release(struct resource_set *s)
{
  for (size_t i = 0; i < s->n; i++)
    resource_free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = s->alloc = 0;
}

const char *const rtype_names[RTYPE_COUNT] = {
    "network", "database", "bucket", "service", "route", "dns_record",
};

const char *resource_type_name(enum rtype t)
{
  assert(t >= 0 && t < RTYPE_COUNT);
  return rtype_names[t];
}

int resource_type_parse(const char *name)
{
  return resource_type_parse_n(name, strlen(name));
}

int resource_type_parse_n(const char *name, size_t len)
{
  for (int i = 0; i < RTYPE_COUNT; i++)
    if (strlen(rtype_names[i]) == len && memcmp(rtype_names[i], name, len) == 0)
      return i;
  return -1;
}

void resource_marker(char *buf, const char *tenant, const char *id)
{
  /* Ids and tenants of composed resources always fit; an id read from a
   * status file that does not fit is cut, and the marker then matches no
   * resource: a conflict, never another resource's marker. */
  snprintf(buf, RESOURCE_MARKER_MAX,
           "managed-by=" RESOURCE_MARKER_MANAGED_BY " tenant=%s id=%s", tenant,
           id);
}

/* Copies the value of "key=" up to the next space into out. */
static int field(const char *text, const char *key, char *out, size_t cap)
{
  const char *p = text;
  size_t klen = strlen(key);

  while (p && *p) {
    if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
      const char *v = p + klen + 1;
      size_t n = strcspn(v, " ");

      if (n == 0 || n >= cap)
        return -1;
      memcpy(out, v, n);
      out[n] = '\0';
      return 0;
    }
    p = strchr(p, ' ');
    if (p)
      p++;
  }
  return -1;
}

int resource_marker_parse(const char *text, char *tenant, size_t tcap, char *id,
                          size_t icap)
{
  char by[32];

  if (!text || field(text, "managed-by", by, sizeof(by)) < 0 ||
      strcmp(by, RESOURCE_MARKER_MANAGED_BY) != 0)
    return -1;
  if (field(text, "tenant", tenant, tcap) < 0 || field(text, "id", id, icap))
    return -1;
  return 0;
}

/* FNV-1a, 64 bits: stable across runs and builds. */
void resource_hash_hex(const void *data, size_t len, char out[17])
{
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ULL;

  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Over canonical JSON (sorted keys), so equal specs hash equal. */
void resource_spec_hash(const json_t *spec, char out[17])
{
  char *text =
      json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

  resource_hash_hex(text, text ? strlen(text) : 0, out);
  free(text);
}

bool resource_attr_immutable(enum rtype t, const char *attr)
{
  switch (t) {
  case RTYPE_NETWORK:
    return strcmp(attr, "cidr") == 0;
  case RTYPE_DATABASE:
  case RTYPE_BUCKET:
  case RTYPE_DNS_RECORD:
    return strcmp(attr, "name") == 0;
  case RTYPE_SERVICE:
  case RTYPE_ROUTE:
  case RTYPE_COUNT:
    break;
  }
  return false;
}

int resource_ref_parse(const json_t *v, const char **id, size_t *idlen,
                       const char **output)
{
  const char *text, *hash;

  if (!json_is_object(v) || json_object_size(v) != 1)
    return -1;
  text = json_string_value(json_object_get(v, "$ref"));
  if (!text)
    return -1;
  hash = strchr(text, '#');
  if (!hash || hash == text || !hash[1])
    return -1;
  *id = text;
  *idlen = (size_t)(hash - text);
  *output = hash + 1;
  return 0;
}

json_t *resource_ref(const char *id, const char *output)
{
  char buf[512];

  snprintf(buf, sizeof(buf), "%s#%s", id, output);
  return json_pack("{s:s}", "$ref", buf);
}
