/*
 * status_canon.c - the canonical layout of a status, read without YAML.
 */
#include "base/compat.h"

#include "base/error.h"
#include "engine/status.h"
#include "engine/status_internal.h"
#include "manifest/manifest.h"

/*
 * Nearly every status read is one tenantd wrote, in the fixed layout of
 * tenant_status_format().  Such a text is read line by line here, at a
 * small fraction of a YAML parse; the result is taken only when
 * formatting it gives back the very same bytes, so it is what the YAML
 * reading would have given.  Anything else (a hand edit, another
 * version's file, a problem to report) goes to the YAML reading.
 */
struct lines {
  const char *p, *end;
};

/* The next line must be `<prefix><key>: ` followed by the value, which
 * runs to the end of the line: *val, *vlen. */
static bool line_key(struct lines *l, const char *prefix, const char *key,
                     const char **val, size_t *vlen)
{
  size_t pl = strlen(prefix), kl = strlen(key);
  const char *nl;

  if ((size_t)(l->end - l->p) < pl + kl + 2 || memcmp(l->p, prefix, pl) ||
      memcmp(l->p + pl, key, kl) || memcmp(l->p + pl + kl, ": ", 2))
    return false;
  *val = l->p + pl + kl + 2;
  nl = memchr(*val, '\n', (size_t)(l->end - *val));
  if (!nl)
    return false;
  *vlen = (size_t)(nl - *val);
  l->p = nl + 1;
  return true;
}

/* The next line is exactly `text` (with its newline). */
static bool line_is(struct lines *l, const char *text)
{
  size_t n = strlen(text);

  if ((size_t)(l->end - l->p) < n || memcmp(l->p, text, n))
    return false;
  l->p += n;
  return true;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* A scalar as put_scalar() writes it: plain, or double-quoted with its
 * escapes.  NULL when it is not one (the round trip decides the rest). */
static char *scalar(const char *v, size_t n)
{
  struct status__out o = {0};

  if (n == 0 || v[0] != '"') {
    char *s = td_malloc(n + 1);

    memcpy(s, v, n);
    s[n] = '\0';
    return s;
  }
  if (n < 2 || v[n - 1] != '"')
    return NULL;
  status__out_add(&o, "", 0);
  for (size_t i = 1; i < n - 1; i++) {
    uint32_t cp = 0;
    size_t digits = 0;

    if (v[i] != '\\') {
      status__out_add(&o, v + i, 1);
      continue;
    }
    if (++i >= n - 1)
      goto bad;
    switch (v[i]) {
    case '"':
    case '\\':
      status__out_add(&o, v + i, 1);
      continue;
    case 'n':
      status__out_add(&o, "\n", 1);
      continue;
    case 't':
      status__out_add(&o, "\t", 1);
      continue;
    case 'r':
      status__out_add(&o, "\r", 1);
      continue;
    case 'x':
      digits = 2;
      break;
    case 'u':
      digits = 4;
      break;
    case 'U':
      digits = 8;
      break;
    default:
      goto bad;
    }
    for (size_t k = 0; k < digits; k++) {
      int h = i + 1 + k < n - 1 ? hexval(v[i + 1 + k]) : -1;

      if (h < 0)
        goto bad;
      cp = cp << 4 | (uint32_t)h;
    }
    i += digits;
    /* A NUL is refused by the YAML reading too. */
    if (cp == 0 || cp > 0x10FFFF)
      goto bad;
    status__out_utf8(&o, cp);
  }
  return o.buf;
bad:
  free(o.buf);
  return NULL;
}

/* A string field: NULL for "" unless `keep_empty`; false when the line
 * is not that field. */
static bool field(struct lines *l, const char *prefix, const char *key,
                  bool keep_empty, char **out)
{
  const char *v;
  size_t n;

  *out = NULL;
  if (!line_key(l, prefix, key, &v, &n))
    return false;
  *out = scalar(v, n);
  if (!*out)
    return false;
  if (!**out && !keep_empty) {
    free(*out);
    *out = NULL;
  }
  return true;
}

static bool uint_field(struct lines *l, const char *prefix, const char *key,
                       uint32_t *out)
{
  const char *v;
  size_t n;
  uint64_t x = 0;

  if (!line_key(l, prefix, key, &v, &n) || n == 0 || n > 10)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return false;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  if (x > UINT32_MAX)
    return false;
  *out = (uint32_t)x;
  return true;
}

static bool fast_conditions(struct lines *l, struct tenant_status *st)
{
  if (!line_is(l, "conditions:\n"))
    return false;
  for (int i = 0; i < STATUS_COND_COUNT; i++) {
    struct status_condition *c = &st->cond[i];
    char type[48];

    snprintf(type, sizeof(type), "  - type: %s\n", status_cond_names[i]);
    if (!line_is(l, type))
      return false;
    if (line_is(l, "    status: \"True\"\n"))
      c->status = true;
    else if (!line_is(l, "    status: \"False\"\n"))
      return false;
    if (!field(l, "    ", "reason", false, &c->reason) ||
        !field(l, "    ", "message", false, &c->message) ||
        !field(l, "    ", "since", false, &c->since))
      return false;
  }
  return true;
}

static bool fast_item(struct lines *l, struct status_item *it)
{
  char *hash = NULL;
  bool ok = field(l, "  - ", "id", true, &it->id) && *it->id &&
            field(l, "    ", "type", true, &it->type) &&
            field(l, "    ", "provider", true, &it->provider) &&
            field(l, "    ", "name", true, &it->name) &&
            field(l, "    ", "hash", true, &hash) && status__hash_ok(hash);

  if (ok) {
    memcpy(it->hash, hash, sizeof(it->hash));
    if (line_is(l, "    pruneDelete: true\n"))
      it->prune_delete = true;
    else
      ok = line_is(l, "    pruneDelete: false\n");
  }
  ok = ok && uint_field(l, "    ", "corrections", &it->corrections);
  free(hash);
  return ok;
}

/* Items as the YAML reading takes them: valid ids, sorted, unique. */
static bool fast_inventory(struct lines *l, struct tenant_status *st)
{
  size_t alloc = 0;

  if (line_is(l, "inventory: []\n"))
    return true;
  if (!line_is(l, "inventory:\n"))
    return false;
  while (l->p < l->end && l->p[0] == ' ') {
    if (st->ninventory == alloc) {
      alloc = alloc ? 2 * alloc : 16;
      st->inventory = td_realloc(st->inventory, alloc * sizeof(*st->inventory));
    }
    memset(&st->inventory[st->ninventory], 0, sizeof(*st->inventory));
    st->ninventory++;
    if (!fast_item(l, &st->inventory[st->ninventory - 1]))
      return false;
  }
  for (size_t i = 0; i < st->ninventory; i++) {
    const struct status_item *it = &st->inventory[i];
    const char *slash = strchr(it->id, '/');

    /* What check_id() would refuse is left for it to say. */
    if (strlen(it->id) > STATUS_ID_MAX || !slash || !slash[1] ||
        strspn(slash + 1, "abcdefghijklmnopqrstuvwxyz0123456789.-_") !=
            strlen(slash + 1) ||
        strncmp(it->id, it->type, (size_t)(slash - it->id)) != 0 ||
        it->type[slash - it->id] != '\0' || resource_type_parse(it->type) < 0)
      return false;
    if (i > 0 && strcmp(st->inventory[i - 1].id, it->id) >= 0)
      return false;
  }
  return true;
}

static bool fast_stalled(struct lines *l, struct tenant_status *st)
{
  size_t alloc = 0;

  if (line_is(l, "stalled: []\n"))
    return true;
  if (!line_is(l, "stalled:\n"))
    return false;
  while (l->p < l->end && l->p[0] == ' ') {
    struct status_stalled *s;

    if (st->nstalled == alloc) {
      alloc = alloc ? 2 * alloc : 4;
      st->stalled = td_realloc(st->stalled, alloc * sizeof(*st->stalled));
    }
    s = &st->stalled[st->nstalled++];
    memset(s, 0, sizeof(*s));
    if (!field(l, "  - ", "id", true, &s->id) || !*s->id ||
        !field(l, "    ", "field", true, &s->field) ||
        !field(l, "    ", "desired", true, &s->desired) ||
        !field(l, "    ", "observed", true, &s->observed))
      return false;
    if (st->nstalled > 1 && status__stalled_cmp(s - 1, s) > 0)
      return false;
  }
  return true;
}

/* Whether the next line starts with `start`. */
static bool next_starts(const struct lines *l, const char *start)
{
  size_t n = strlen(start);

  return (size_t)(l->end - l->p) >= n && memcmp(l->p, start, n) == 0;
}

static bool fast_last_error(struct lines *l, struct status_error *e)
{
  if (line_is(l, "lastError: null\n"))
    return true;
  if (!line_is(l, "lastError:\n") ||
      !field(l, "  ", "message", false, &e->message) || !e->message)
    return false;
  if (next_starts(l, "  resource: ") &&
      !field(l, "  ", "resource", false, &e->resource))
    return false;
  if (next_starts(l, "  path: ") && !(field(l, "  ", "path", false, &e->path) &&
                                      uint_field(l, "  ", "line", &e->line) &&
                                      uint_field(l, "  ", "column", &e->col)))
    return false;
  return true;
}

/* The tier and its monthly cost, when the status records them. */
static bool fast_tier(struct lines *l, struct tenant_status *st)
{
  char cost[MANIFEST_MONEY_TEXT_MAX];
  const char *v;
  size_t n;

  if (!next_starts(l, "tier: "))
    return true;
  if (!field(l, "", "tier", false, &st->tier) || !st->tier)
    return false;
  if (!next_starts(l, "monthlyCost: "))
    return true;
  if (!line_key(l, "", "monthlyCost", &v, &n) || n >= sizeof(cost))
    return false;
  memcpy(cost, v, n);
  cost[n] = '\0';
  if (manifest_money_parse(cost, &st->monthly_cost) < 0)
    return false;
  st->has_cost = true;
  return true;
}

struct tenant_status *status__canon_parse(const char *text, size_t len)
{
  struct lines l = {text, text + len};
  struct tenant_status *st = td_calloc(1, sizeof(*st));
  char *again;
  bool ok;

  ok = line_is(&l, "apiVersion: " STATUS_API_VERSION "\n") &&
       line_is(&l, "kind: " STATUS_KIND "\n") &&
       field(&l, "", "tenant", false, &st->tenant) && st->tenant &&
       field(&l, "", "source", false, &st->source) &&
       field(&l, "", "lastChange", false, &st->last_change) &&
       fast_tier(&l, st) && fast_conditions(&l, st) && fast_inventory(&l, st) &&
       fast_stalled(&l, st) && fast_last_error(&l, &st->last_error) &&
       l.p == l.end;
  if (ok) {
    again = tenant_status_format(st);
    ok = strlen(again) == len && memcmp(again, text, len) == 0;
    free(again);
  }
  if (!ok) {
    tenant_status_free(st);
    return NULL;
  }
  return st;
}
