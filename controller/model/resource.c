#include "base/compat.h"

#include <stdio.h>

#include "base/strutil.h"
#include "model/resource.h"

/* ---- pools: an arena, and a set of interned strings ---- */

struct resource_pool {
  struct arena mem;
  const char **set; /* open addressing; NULL: free */
  size_t nset, used;
  /* The strings interned last as a provider and as a tenant: every
   * resource of a tenant names the same ones. */
  const char *last_provider, *last_tenant;
};

struct resource_pool *resource_pool_new(void)
{
  struct resource_pool *p = td_calloc(1, sizeof(*p));

  p->mem = (struct arena)ARENA_INIT;
  return p;
}

void resource_pool_free(struct resource_pool *p)
{
  if (!p)
    return;
  arena_release(&p->mem);
  free(p->set);
  free(p);
}

/* A string's place in the set: eight bytes a step (every id of a pass is
 * interned, some twice), mixed so that the low bits, which pick the
 * slot, depend on every byte. */
static uint64_t str_hash(const char *s)
{
  const uint64_t k = 0x9e3779b97f4a7c15ULL;
  size_t n = strlen(s);
  uint64_t h = n * k, w;

  for (; n >= sizeof(w); n -= sizeof(w), s += sizeof(w)) {
    memcpy(&w, s, sizeof(w));
    h = (h ^ w) * k;
    h ^= h >> 32;
  }
  w = 0;
  memcpy(&w, s, n);
  h = (h ^ w) * k;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

static void pool_grow(struct resource_pool *p)
{
  const char **old = p->set;
  size_t nold = p->nset;

  p->nset = nold ? 2 * nold : 1024;
  p->set = td_calloc(p->nset, sizeof(*p->set));
  for (size_t i = 0; i < nold; i++) {
    size_t at;

    if (!old[i])
      continue;
    for (at = str_hash(old[i]) % p->nset; p->set[at]; at = (at + 1) % p->nset)
      ;
    p->set[at] = old[i];
  }
  free(old);
}

/* The pool's copy of s, made once. */
static const char *intern(struct resource_pool *p, const char *s);

/* The same, first asking the string interned last in its place. */
static const char *intern_again(struct resource_pool *p, const char **last,
                                const char *s)
{
  if (!*last || strcmp(*last, s) != 0)
    *last = intern(p, s);
  return *last;
}

static const char *intern(struct resource_pool *p, const char *s)
{
  size_t at;

  if ((p->used + 1) * 2 > p->nset)
    pool_grow(p);
  for (at = str_hash(s) % p->nset; p->set[at]; at = (at + 1) % p->nset)
    if (strcmp(p->set[at], s) == 0)
      return p->set[at];
  p->set[at] = arena_strdup(&p->mem, s);
  p->used++;
  return p->set[at];
}

struct resource *resource_new_in(struct resource_pool *p, enum rtype type,
                                 const char *id, const char *provider,
                                 const char *tenant, const char *name,
                                 json_t *spec)
{
  struct resource *r;

  if (!p)
    return resource_new(type, id, provider, tenant, name, spec);
  r = arena_alloc(&p->mem, sizeof(*r));
  r->pool = p;
  r->type = type;
  /* The pool's strings are never changed: the casts only fit them to
   * the struct a malloc'd resource shares. */
  r->id = (char *)intern(p, id);
  r->provider = (char *)intern_again(p, &p->last_provider, provider);
  r->tenant = (char *)intern_again(p, &p->last_tenant, tenant);
  r->name = arena_strdup(&p->mem, name);
  r->spec = spec ? spec : json_object();
  r->deletion = DELETION_DELETE;
  return r;
}

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
  if (r->pool) {
    /* Grown by copying in the arena: a resource has a handful. */
    char **deps = arena_alloc(&r->pool->mem, (r->ndeps + 1) * sizeof(*deps));

    if (r->ndeps)
      memcpy(deps, r->deps, r->ndeps * sizeof(*deps));
    deps[r->ndeps++] = (char *)intern(r->pool, id);
    r->deps = deps;
    return;
  }
  r->deps = td_realloc(r->deps, (r->ndeps + 1) * sizeof(*r->deps));
  r->deps[r->ndeps++] = td_strdup(id);
}

void resource_free(struct resource *r)
{
  if (!r)
    return;
  json_decref(r->spec);
  free(r->spec_text);
  if (r->pool)
    return;
  for (size_t i = 0; i < r->ndeps; i++)
    free(r->deps[i]);
  free(r->deps);
  free(r->id);
  free(r->provider);
  free(r->tenant);
  free(r->name);
  free(r);
}

void resource_spec_stash(struct resource *r)
{
  char *text;

  if (r->spec_text || !r->spec)
    return;
  text = resource_canonical_json(r->spec);
  /* What cannot be written as text stays as it is. */
  if (!text)
    return;
  r->spec_text = text;
  json_decref(r->spec);
  r->spec = NULL;
}

const json_t *resource_spec_load(struct resource *r)
{
  if (!r->spec && r->spec_text)
    r->spec = json_loads(r->spec_text, JSON_ALLOW_NUL, NULL);
  return r->spec;
}

void resource_spec_unload(struct resource *r)
{
  if (!r->spec_text)
    return;
  json_decref(r->spec);
  r->spec = NULL;
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
  static const char head[] =
      "managed-by=" RESOURCE_MARKER_MANAGED_BY " tenant=";
  const char *parts[] = {head, tenant, " id=", id};
  size_t used = 0;

  /* What snprintf would write, cut at RESOURCE_MARKER_MAX - 1 bytes, at
   * a fraction of its cost: every provider call builds one. */
  for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
    size_t n = strlen(parts[i]);

    if (n > RESOURCE_MARKER_MAX - 1 - used)
      n = RESOURCE_MARKER_MAX - 1 - used;
    memcpy(buf + used, parts[i], n);
    used += n;
  }
  buf[used] = '\0';
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

/* ---- canonical JSON ---- */

/*
 * Canonical JSON is what json_dumps() writes with JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY, byte for byte: the inventory's hashes
 * were taken over that text, so they must not change.  Walking the value
 * writes the same bytes into an FNV-1a state (and a buffer, when the text
 * is wanted) without building the text in a malloc'd string first.
 */
struct canon {
  uint64_t h;
  char *buf; /* NULL: the hash only */
  size_t len, cap;
  bool failed; /* jansson would fail to encode: the text is NULL */
};

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static void put(struct canon *c, const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s;
  uint64_t h = c->h;

  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= FNV_PRIME;
  }
  c->h = h;
  if (!c->buf)
    return;
  if (c->len + n + 1 > c->cap) {
    while (c->len + n + 1 > c->cap)
      c->cap *= 2;
    c->buf = td_realloc(c->buf, c->cap);
  }
  memcpy(c->buf + c->len, s, n);
  c->len += n;
}

/* Whether any of the 8 bytes in w is more than copied: a control byte, a
 * quote, a backslash, or a byte of a UTF-8 sequence.  Exact: borrows only
 * ever flag bytes beside one that is. */
static bool word_special(uint64_t w)
{
  const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80;
  uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

  return (((w - ones * ' ') & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) &
         highs;
}

/* A string as jansson escapes it: quotes, backslashes and control bytes;
 * every other valid UTF-8 sequence as it is. */
static void put_string(struct canon *c, const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t run = 0, i = 0;

  put(c, "\"", 1);
  while (i < len) {
    unsigned char b = p[i];
    char esc[8];
    size_t n;
    uint64_t w;

    /* Plain ASCII, nearly all of a spec, eight bytes at a time. */
    if (len - i >= sizeof(w)) {
      memcpy(&w, p + i, sizeof(w));
      if (!word_special(w)) {
        i += sizeof(w);
        run += sizeof(w);
        continue;
      }
    }

    /* The common case, plain ASCII, in one test. */
    if (b >= 0x20 && b < 0x80 && b != '\\' && b != '"') {
      i++;
      run++;
      continue;
    }
    if (b >= 0x80) {
      n = str_utf8_seq(p + i, len - i);
      if (n == 0) {
        c->failed = true;
        return;
      }
      i += n;
      run += n;
      continue;
    }
    if (b != '\\' && b != '"' && b >= 0x20) {
      i++;
      run++;
      continue;
    }
    put(c, s + i - run, run);
    run = 0;
    switch (b) {
    case '\\':
      put(c, "\\\\", 2);
      break;
    case '"':
      put(c, "\\\"", 2);
      break;
    case '\b':
      put(c, "\\b", 2);
      break;
    case '\f':
      put(c, "\\f", 2);
      break;
    case '\n':
      put(c, "\\n", 2);
      break;
    case '\r':
      put(c, "\\r", 2);
      break;
    case '\t':
      put(c, "\\t", 2);
      break;
    default:
      snprintf(esc, sizeof(esc), "\\u%04X", (unsigned)b);
      put(c, esc, 6);
      break;
    }
    i++;
  }
  put(c, s + i - run, run);
  put(c, "\"", 1);
}

struct key_ref {
  const char *key;
  size_t len;
  const json_t *value;
};

/* jansson's order for sorted keys: bytes, then length. */
static int key_ref_cmp(const struct key_ref *a, const struct key_ref *b)
{
  int r = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);

  if (r)
    return r;
  return a->len < b->len ? -1 : a->len > b->len;
}

static void put_value(struct canon *c, const json_t *v, unsigned depth);

static void put_object(struct canon *c, const json_t *v, unsigned depth)
{
  struct key_ref small[16], *keys = small;
  size_t n = json_object_size(v), i = 0;
  const char *key;
  size_t key_len;
  json_t *item;

  if (n > ARRAY_SIZE(small))
    keys = td_malloc(n * sizeof(*keys));
  json_object_keylen_foreach((json_t *)v, key, key_len, item)
  {
    struct key_ref k = {key, key_len, item};
    size_t at = i++;

    /* Insertion sort: specs have a handful of keys. */
    while (at > 0 && key_ref_cmp(&keys[at - 1], &k) > 0) {
      keys[at] = keys[at - 1];
      at--;
    }
    keys[at] = k;
  }
  put(c, "{", 1);
  for (i = 0; i < n && !c->failed; i++) {
    if (i)
      put(c, ",", 1);
    put_string(c, keys[i].key, keys[i].len);
    put(c, ":", 1);
    put_value(c, keys[i].value, depth + 1);
  }
  put(c, "}", 1);
  if (keys != small)
    free(keys);
}

static void put_value(struct canon *c, const json_t *v, unsigned depth)
{
  char buf[32];

  /* A value nested this deep is a cycle or an attack; jansson refuses
   * cycles, and nothing tenantd builds comes near it. */
  if (!v || depth > 2048 || c->failed) {
    c->failed = true;
    return;
  }
  switch (json_typeof(v)) {
  case JSON_NULL:
    put(c, "null", 4);
    break;
  case JSON_TRUE:
    put(c, "true", 4);
    break;
  case JSON_FALSE:
    put(c, "false", 5);
    break;
  case JSON_INTEGER: {
    json_int_t i = json_integer_value(v);
    /* "%lld" without printf: negate as unsigned, so INT64_MIN works. */
    unsigned long long u =
        i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
    char *p = buf + sizeof(buf);

    do {
      *--p = (char)('0' + u % 10);
      u /= 10;
    } while (u);
    if (i < 0)
      *--p = '-';
    put(c, p, (size_t)(buf + sizeof(buf) - p));
    break;
  }
  case JSON_REAL: {
    /* Rare in specs: jansson's own formatting, whatever its version. */
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    if (!text)
      c->failed = true;
    else
      put(c, text, strlen(text));
    free(text);
    break;
  }
  case JSON_STRING:
    put_string(c, json_string_value(v), json_string_length(v));
    break;
  case JSON_ARRAY:
    put(c, "[", 1);
    for (size_t i = 0; i < json_array_size(v) && !c->failed; i++) {
      if (i)
        put(c, ",", 1);
      put_value(c, json_array_get(v, i), depth + 1);
    }
    put(c, "]", 1);
    break;
  case JSON_OBJECT:
    put_object(c, v, depth);
    break;
  }
}

/* Over canonical JSON (sorted keys), so equal specs hash equal.  A value
 * jansson cannot encode hashes as the empty text, as it always did. */
static void hex16(uint64_t h, char out[17])
{
  static const char digits[] = "0123456789abcdef";

  for (int i = 15; i >= 0; i--) {
    out[i] = digits[h & 15];
    h >>= 4;
  }
  out[16] = '\0';
}

void resource_spec_hash(const json_t *spec, char out[17])
{
  struct canon c = {.h = FNV_OFFSET};

  put_value(&c, spec, 0);
  hex16(c.failed ? FNV_OFFSET : c.h, out);
}

char *resource_canonical_json(const json_t *v)
{
  struct canon c = {.h = FNV_OFFSET, .cap = 64};

  c.buf = td_malloc(c.cap);
  put_value(&c, v, 0);
  if (c.failed) {
    free(c.buf);
    return NULL;
  }
  c.buf[c.len] = '\0';
  return c.buf;
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
  size_t idlen = strlen(id), outlen = strlen(output);
  json_t *text, *ref;

  /* "id#output", cut to the buffer as snprintf() would cut it; joined
   * by hand, as compose makes one for most resources. */
  if (idlen + 1 + outlen < sizeof(buf)) {
    memcpy(buf, id, idlen);
    buf[idlen] = '#';
    memcpy(buf + idlen + 1, output, outlen + 1);
  } else {
    snprintf(buf, sizeof(buf), "%s#%s", id, output);
  }
  /* What json_pack("{s:s}") makes, without parsing its format. */
  text = json_string(buf);
  if (!text)
    return NULL;
  ref = json_object();
  json_object_set_new_nocheck(ref, "$ref", text);
  return ref;
}
