#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "base/arena.h"
#include "base/diag.h"
#include "base/error.h"
#include "engine/status.h"
#include "engine/status_internal.h"
#include "manifest/manifest.h"
#include "manifest/yamltree.h"
#include "model/resource.h"

/* A tenant name is a DNS label: at most 63 bytes.  With it, the marker
 * built from the longest id an inventory may hold still fits. */
_Static_assert(sizeof("managed-by=" RESOURCE_MARKER_MANAGED_BY " tenant= id=") +
                       63 + STATUS_ID_MAX <=
                   RESOURCE_MARKER_MAX,
               "an inventory id's marker must fit RESOURCE_MARKER_MAX");

const char *const status_cond_names[STATUS_COND_COUNT] = {
    "Ready",         "Reconciling", "Stalled",         "SourceError",
    "DriftDetected", "Suspended",   "SourceUntrusted", "AwaitingApproval",
};

/* ---- lifecycle ---- */

struct tenant_status *tenant_status_new(const char *tenant)
{
  struct tenant_status *st = td_calloc(1, sizeof(*st));

  assert(tenant);
  st->tenant = td_strdup(tenant);
  return st;
}

static void item_release(struct status_item *it)
{
  free(it->id);
  free(it->type);
  free(it->provider);
  free(it->name);
}

static void stalled_release(struct status_stalled *s)
{
  free(s->id);
  free(s->field);
  free(s->desired);
  free(s->observed);
}

void tenant_status_free(struct tenant_status *st)
{
  if (!st)
    return;
  free(st->tenant);
  free(st->source);
  free(st->last_change);
  free(st->tier);
  for (size_t i = 0; i < STATUS_COND_COUNT; i++) {
    free(st->cond[i].reason);
    free(st->cond[i].message);
    free(st->cond[i].since);
  }
  for (size_t i = 0; i < st->ninventory; i++)
    item_release(&st->inventory[i]);
  free(st->inventory);
  for (size_t i = 0; i < st->nstalled; i++)
    stalled_release(&st->stalled[i]);
  free(st->stalled);
  free(st->last_error.message);
  free(st->last_error.resource);
  free(st->last_error.path);
  free(st);
}

/*
 * Replaces an owned optional string.  The copy is made before the old
 * value is freed because callers may pass the slot's own value back.  An
 * empty string is stored as NULL: the file writes both as "" and reads ""
 * back as NULL, so memory and disk agree.
 */
static void replace_text(char **slot, const char *s)
{
  char *copy = s && *s ? td_strdup(s) : NULL;

  free(*slot);
  *slot = copy;
}

void tenant_status_set(struct tenant_status *st, enum status_cond c,
                       bool status, const char *reason, const char *message,
                       const char *now)
{
  struct status_condition *k;

  assert(st && (unsigned)c < STATUS_COND_COUNT);
  k = &st->cond[c];
  if (!k->since || k->status != status)
    replace_text(&k->since, now);
  k->status = status;
  replace_text(&k->reason, reason);
  replace_text(&k->message, message);
}

/* ---- inventory ---- */

/* Index of the first entry whose id is not below `id`. */
static size_t inventory_lower_bound(const struct tenant_status *st,
                                    const char *id, bool *found)
{
  size_t lo = 0, hi = st->ninventory;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;

    if (strcmp(st->inventory[mid].id, id) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < st->ninventory && strcmp(st->inventory[lo].id, id) == 0;
  return lo;
}

/*
 * A replaced entry starts afresh: prune_delete false (orphan, the safe
 * side) and no corrections, which the caller sets on the returned entry.
 */
struct status_item *
tenant_status_inventory_put(struct tenant_status *st, const char *id,
                            const char *type, const char *provider,
                            const char *name, const char hash[17])
{
  struct status_item item = {0};
  bool found;
  size_t i;

  assert(st && id && *id);
  /* Copies first: the arguments may point into the entry being replaced. */
  item.id = td_strdup(id);
  item.type = td_strdup(type ? type : "");
  item.provider = td_strdup(provider ? provider : "");
  item.name = td_strdup(name ? name : "");
  snprintf(item.hash, sizeof(item.hash), "%.16s", hash ? hash : "");

  i = inventory_lower_bound(st, id, &found);
  if (found) {
    item_release(&st->inventory[i]);
    st->inventory[i] = item;
    return &st->inventory[i];
  }
  st->inventory =
      td_realloc(st->inventory, (st->ninventory + 1) * sizeof(*st->inventory));
  memmove(&st->inventory[i + 1], &st->inventory[i],
          (st->ninventory - i) * sizeof(*st->inventory));
  st->inventory[i] = item;
  st->ninventory++;
  return &st->inventory[i];
}

void tenant_status_inventory_remove(struct tenant_status *st, const char *id)
{
  bool found;
  size_t i = inventory_lower_bound(st, id, &found);

  if (!found)
    return;
  item_release(&st->inventory[i]);
  memmove(&st->inventory[i], &st->inventory[i + 1],
          (st->ninventory - i - 1) * sizeof(*st->inventory));
  st->ninventory--;
}

const struct status_item *
tenant_status_inventory_find(const struct tenant_status *st, const char *id)
{
  bool found;
  size_t i = inventory_lower_bound(st, id, &found);

  return found ? &st->inventory[i] : NULL;
}

/* ---- format ---- */

static void out_puts(struct status__out *o, const char *s)
{
  status__out_add(o, s, strlen(s));
}

void status__out_utf8(struct status__out *o, uint32_t cp)
{
  char b[4];
  size_t n;

  if (cp < 0x80) {
    b[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (char)(0xC0 | (cp >> 6));
    b[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (char)(0xE0 | (cp >> 12));
    b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  status__out_add(o, b, n);
}

/*
 * The code point at `s`, and its length in *n.  A byte that does not start
 * valid UTF-8 (as yamltree accepts it) reads as U+FFFD and advances one, so
 * a provider's stray bytes cannot make a file that fails to parse back;
 * both the quoting decision and the output use the replaced text, which
 * keeps format(parse(format(x))) identical to format(x).
 */
static uint32_t utf8_next(const unsigned char *s, size_t *n)
{
  unsigned char c = s[0];
  size_t more;
  uint32_t cp;

  if (c < 0x80) {
    *n = 1;
    return c;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    more = 1;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    more = 2;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    more = 3;
    cp = c & 0x07;
  } else {
    goto bad;
  }
  /* A NUL terminator fails the continuation test, so this stops in time. */
  for (size_t k = 1; k <= more; k++) {
    if ((s[k] & 0xC0) != 0x80)
      goto bad;
    cp = (cp << 6) | (s[k] & 0x3F);
  }
  if ((more == 2 && cp < 0x800) ||
      (more == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    goto bad;
  *n = more + 1;
  return cp;
bad:
  *n = 1;
  return 0xFFFD;
}

/*
 * Characters written as themselves.  The rest are escaped in double
 * quotes: libyaml's reader refuses controls, U+FFFE and U+FFFF, and takes
 * NEL, U+2028 and U+2029 for line breaks; a BOM is invisible in a diff.
 */
static bool cp_printable(uint32_t cp)
{
  if (cp >= 0x20 && cp <= 0x7E)
    return true;
  if (cp < 0xA0 || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF)
    return false;
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
    return false;
  return cp <= 0x10FFFF;
}

/*
 * Plain text that a YAML reader would not take for a string: the core
 * schema's null, booleans and numbers, and for YAML 1.1 readers (PyYAML,
 * older tools) yes/no/on/off, sexagesimal and underscored numbers and
 * timestamps, so a time stays a quoted string for everyone.
 */
static bool looks_typed(const char *s)
{
  static const char *const words[] = {
      "~",     "null", "Null", "NULL", "true", "True", "TRUE", "false", "False",
      "FALSE", "y",    "Y",    "yes",  "Yes",  "YES",  "n",    "N",     "no",
      "No",    "NO",   "on",   "On",   "ON",   "off",  "Off",  "OFF",
  };
  const char *p = s;

  /* Every word starts with one of these and has at most five bytes. */
  if (strchr("~nNtTfFyYoO", s[0]) && strlen(s) <= 5)
    for (size_t i = 0; i < ARRAY_SIZE(words); i++)
      if (strcmp(s, words[i]) == 0)
        return true;
  if (*p == '+' || *p == '-')
    p++;
  if (strcasecmp(p, ".inf") == 0 || strcasecmp(p, ".nan") == 0)
    return true;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b') && p[2] &&
      strspn(p + 2, "0123456789abcdefABCDEF_") == strlen(p + 2))
    return true;
  if ((p[0] >= '0' && p[0] <= '9') ||
      (p[0] == '.' && p[1] >= '0' && p[1] <= '9')) {
    if (strspn(p, "0123456789_.:eE+-") == strlen(p))
      return true;
    if (strspn(p, "0123456789") == 4 && p[4] == '-')
      return true;
  }
  return false;
}

/* Whether s is printable ASCII throughout (its length in *len): then
 * every byte is a character written as itself. */
static bool printable_ascii(const char *s, size_t *len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;

  for (; p[i]; i++)
    if (p[i] < 0x20 || p[i] > 0x7E)
      return false;
  *len = i;
  return true;
}

/*
 * Whether `s` can be written plain (unquoted) and read back as the same
 * string.  Conservative: anything doubtful is quoted, which costs nothing.
 */
static bool plain_ok(const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  uint32_t prev = 0;
  size_t n;

  if (!*s || strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) || looks_typed(s))
    return false;
  for (size_t i = 0; p[i]; i += n) {
    uint32_t cp = p[i] < 0x80 ? (n = 1, p[i]) : utf8_next(p + i, &n);

    if (!cp_printable(cp))
      return false;
    if (cp < 0x80 &&
        (cp == ',' || cp == '[' || cp == ']' || cp == '{' || cp == '}'))
      return false;
    if ((cp == '#' && prev == ' ') || (cp == ' ' && prev == ':'))
      return false;
    prev = cp;
  }
  return prev != ' ' && prev != ':';
}

/* A string scalar, plain when safe, else double-quoted on one line. */
static void put_scalar(struct status__out *o, const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  bool quoted = !plain_ok(s);
  size_t n, len;

  /* The common case: plain ASCII, written as it is. */
  if (!quoted && printable_ascii(s, &len)) {
    status__out_add(o, s, len);
    return;
  }
  if (quoted)
    status__out_add(o, "\"", 1);
  for (size_t i = 0; p[i]; i += n) {
    uint32_t cp = utf8_next(p + i, &n);
    char esc[16];

    if (!quoted || (cp_printable(cp) && cp != '"' && cp != '\\')) {
      status__out_utf8(o, cp);
      continue;
    }
    switch (cp) {
    case '"':
      out_puts(o, "\\\"");
      break;
    case '\\':
      out_puts(o, "\\\\");
      break;
    case '\n':
      out_puts(o, "\\n");
      break;
    case '\t':
      out_puts(o, "\\t");
      break;
    case '\r':
      out_puts(o, "\\r");
      break;
    default:
      if (cp < 0x100)
        snprintf(esc, sizeof(esc), "\\x%02X", (unsigned)cp);
      else if (cp < 0x10000)
        snprintf(esc, sizeof(esc), "\\u%04X", (unsigned)cp);
      else
        snprintf(esc, sizeof(esc), "\\U%08X", (unsigned)cp);
      out_puts(o, esc);
      break;
    }
  }
  if (quoted)
    status__out_add(o, "\"", 1);
}

/* `<prefix><key>: <value>`, a NULL value written as "". */
static void put_str(struct status__out *o, const char *prefix, const char *key,
                    const char *value)
{
  out_puts(o, prefix);
  out_puts(o, key);
  out_puts(o, ": ");
  put_scalar(o, value ? value : "");
  out_puts(o, "\n");
}

/* `<prefix><key>: <yaml>`, for text that is already YAML. */
static void put_raw(struct status__out *o, const char *prefix, const char *key,
                    const char *yaml)
{
  out_puts(o, prefix);
  out_puts(o, key);
  out_puts(o, ": ");
  out_puts(o, yaml);
  out_puts(o, "\n");
}

static void put_uint(struct status__out *o, const char *prefix, const char *key,
                     unsigned long v)
{
  char num[24];

  snprintf(num, sizeof(num), "%lu", v);
  put_raw(o, prefix, key, num);
}

/*
 * The layout is fixed so that `git log -p` shows only what changed: keys
 * in one order, one per line, every condition always listed, and optional
 * strings (source, lastChange, reason, message, since) always present,
 * written as "" when NULL or empty.  Parsing reads "" back as NULL.
 * The exceptions are omitted when NULL, so older statuses keep their
 * text: tier and monthlyCost (which goes with tier), and lastError's
 * resource and path (line/column go with path).
 */
char *tenant_status_format(const struct tenant_status *st)
{
  struct status__out o = {0};
  const struct status_error *e = &st->last_error;

  out_puts(&o, "apiVersion: " STATUS_API_VERSION "\n");
  out_puts(&o, "kind: " STATUS_KIND "\n");
  put_str(&o, "", "tenant", st->tenant);
  put_str(&o, "", "source", st->source);
  put_str(&o, "", "lastChange", st->last_change);
  if (st->tier) {
    char cost[MANIFEST_MONEY_TEXT_MAX];

    put_str(&o, "", "tier", st->tier);
    manifest_money_text(st->monthly_cost, cost);
    if (st->has_cost)
      put_raw(&o, "", "monthlyCost", cost);
  }

  out_puts(&o, "conditions:\n");
  for (size_t i = 0; i < STATUS_COND_COUNT; i++) {
    const struct status_condition *c = &st->cond[i];

    if (!STATUS_COND_LISTED(st, i))
      continue;
    put_raw(&o, "  - ", "type", status_cond_names[i]);
    put_raw(&o, "    ", "status", c->status ? "\"True\"" : "\"False\"");
    put_str(&o, "    ", "reason", c->reason);
    put_str(&o, "    ", "message", c->message);
    put_str(&o, "    ", "since", c->since);
  }

  out_puts(&o, st->ninventory ? "inventory:\n" : "inventory: []\n");
  for (size_t i = 0; i < st->ninventory; i++) {
    const struct status_item *it = &st->inventory[i];

    put_str(&o, "  - ", "id", it->id);
    put_str(&o, "    ", "type", it->type);
    put_str(&o, "    ", "provider", it->provider);
    put_str(&o, "    ", "name", it->name);
    put_str(&o, "    ", "hash", it->hash);
    put_raw(&o, "    ", "pruneDelete", it->prune_delete ? "true" : "false");
    put_uint(&o, "    ", "corrections", it->corrections);
  }

  out_puts(&o, st->nstalled ? "stalled:\n" : "stalled: []\n");
  for (size_t i = 0; i < st->nstalled; i++) {
    const struct status_stalled *s = &st->stalled[i];

    put_str(&o, "  - ", "id", s->id);
    put_str(&o, "    ", "field", s->field);
    put_str(&o, "    ", "desired", s->desired);
    put_str(&o, "    ", "observed", s->observed);
  }

  if (!e->message || !*e->message) {
    out_puts(&o, "lastError: null\n");
  } else {
    out_puts(&o, "lastError:\n");
    put_str(&o, "  ", "message", e->message);
    if (e->resource && *e->resource)
      put_str(&o, "  ", "resource", e->resource);
    if (e->path && *e->path) {
      put_str(&o, "  ", "path", e->path);
      put_uint(&o, "  ", "line", e->line);
      put_uint(&o, "  ", "column", e->col);
    }
  }
  return o.buf;
}

/* ---- parse ---- */

/* What a parse is reading, for messages: "<name>:<line>:<col>: ...". */
struct reader {
  const char *name;
};

static int fail_at(const struct reader *r, const struct ynode *n,
                   const char *fmt, ...) TD_PRINTF(3, 4);

static int fail_at(const struct reader *r, const struct ynode *n,
                   const char *fmt, ...)
{
  char msg[768];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return td_error("%s:%u:%u: %s", r->name, (unsigned)n->line, (unsigned)n->col,
                  msg);
}

/* How much of a string field must be there. */
enum need {
  OPTIONAL, /* absent, null and "" all read as NULL */
  PRESENT,  /* the key must be set; "" is kept as "" */
  NONEMPTY, /* the key must be set to a non-empty string */
};

/*
 * A string field of mapping `m`, named ctx.key in messages.  Any scalar is
 * taken as the text written, so a hand-edited `source: 1234` still reads;
 * collections and embedded NULs are refused.
 */
static int get_text(const struct reader *r, const struct ynode *m,
                    const char *ctx, const char *key, enum need need,
                    char **out)
{
  const struct ynode *v = ymap_get(m, key);
  char field[96];

  *out = NULL;
  snprintf(field, sizeof(field), "%s%s%s", ctx, *ctx ? "." : "", key);
  if (!v || (v->type == YNODE_SCALAR && v->scalar == YS_NULL)) {
    if (need == OPTIONAL)
      return 0;
    return fail_at(r, v ? v : m, "%s is missing", field);
  }
  if (v->type != YNODE_SCALAR)
    return fail_at(r, v, "%s must be a string, not %s", field,
                   ynode_kind_name(v));
  if (strlen(v->u.scalar.s) != v->u.scalar.len)
    return fail_at(r, v, "%s contains a NUL character", field);
  if (v->u.scalar.len == 0 && need == NONEMPTY)
    return fail_at(r, v, "%s must not be empty", field);
  if (v->u.scalar.len > 0 || need == PRESENT)
    *out = td_strndup(v->u.scalar.s, v->u.scalar.len);
  return 0;
}

/* An optional non-negative integer field, 0 when absent. */
static int get_uint(const struct reader *r, const struct ynode *m,
                    const char *ctx, const char *key, uint32_t max,
                    uint32_t *out)
{
  const struct ynode *v = ymap_get(m, key);

  *out = 0;
  if (!v || (v->type == YNODE_SCALAR && v->scalar == YS_NULL))
    return 0;
  if (v->type != YNODE_SCALAR || v->scalar != YS_INT || v->u.scalar.v.i < 0 ||
      v->u.scalar.v.i > (int64_t)max)
    return fail_at(r, v, "%s%s%s must be an integer from 0 to %lu", ctx,
                   *ctx ? "." : "", key, (unsigned long)max);
  *out = (uint32_t)v->u.scalar.v.i;
  return 0;
}

/* A list field: NULL and 0 when absent or null, else a sequence. */
static int get_list(const struct reader *r, const struct ynode *m,
                    const char *key, const struct ynode **out)
{
  const struct ynode *v = ymap_get(m, key);

  *out = NULL;
  if (!v || (v->type == YNODE_SCALAR && v->scalar == YS_NULL))
    return 0;
  if (v->type != YNODE_SEQ)
    return fail_at(r, v, "%s must be a list, not %s", key, ynode_kind_name(v));
  *out = v;
  return 0;
}

static int item_map(const struct reader *r, const struct ynode *n,
                    const char *ctx)
{
  if (n->type != YNODE_MAP)
    return fail_at(r, n, "%s must be a mapping, not %s", ctx,
                   ynode_kind_name(n));
  return 0;
}

static int parse_condition(const struct reader *r, struct tenant_status *st,
                           const struct ynode *n, size_t idx, bool seen[])
{
  char ctx[48];
  const struct ynode *v;
  char *type = NULL;
  struct status_condition *c;
  int k = -1, err;

  snprintf(ctx, sizeof(ctx), "conditions[%zu]", idx);
  err = item_map(r, n, ctx);
  if (err < 0)
    goto out;
  err = get_text(r, n, ctx, "type", NONEMPTY, &type);
  if (err < 0)
    goto out;
  for (int i = 0; i < STATUS_COND_COUNT; i++)
    if (strcmp(type, status_cond_names[i]) == 0)
      k = i;
  v = ymap_get(n, "type");
  if (k < 0) {
    err = fail_at(r, v,
                  "%s.type '%.40s' is not a condition type (Ready, "
                  "Reconciling, Stalled, SourceError, DriftDetected, "
                  "Suspended, SourceUntrusted, AwaitingApproval)",
                  ctx, type);
    goto out;
  }
  if (seen[k]) {
    err = fail_at(r, v, "%s.type: condition %s is listed twice", ctx, type);
    goto out;
  }
  seen[k] = true;
  c = &st->cond[k];

  /* "True"/"False" as written; a plain boolean is taken too. */
  v = ymap_get(n, "status");
  if (v && v->type == YNODE_SCALAR && v->scalar == YS_BOOL) {
    c->status = v->u.scalar.v.b;
  } else if (v && v->type == YNODE_SCALAR && v->scalar == YS_STR &&
             (strcmp(v->u.scalar.s, "True") == 0 ||
              strcmp(v->u.scalar.s, "False") == 0)) {
    c->status = v->u.scalar.s[0] == 'T';
  } else {
    err = fail_at(r, v ? v : n, "%s.status must be \"True\" or \"False\"", ctx);
    goto out;
  }
  err = get_text(r, n, ctx, "reason", OPTIONAL, &c->reason);
  if (err == 0)
    err = get_text(r, n, ctx, "message", OPTIONAL, &c->message);
  if (err == 0)
    err = get_text(r, n, ctx, "since", OPTIONAL, &c->since);
out:
  free(type);
  return err;
}

bool status__hash_ok(const char *h)
{
  return strlen(h) == 16 && strspn(h, "0123456789abcdef") == 16;
}

/*
 * An inventory id is "<type>/<key>" (STATUS_ID_MAX in status.h): anything
 * else is refused, never cut or guessed at, and a message shows the id
 * only once it is known to be printable.
 */
static int check_id(const struct reader *r, const struct ynode *n,
                    const char *ctx, const struct status_item *it)
{
  const struct ynode *at = ymap_get(n, "id");
  const char *id = it->id, *slash = strchr(id, '/');
  size_t len = strlen(id);
  char type[32];

  if (len > STATUS_ID_MAX)
    return fail_at(r, at, "%s.id is %zu bytes long; the limit is %d", ctx, len,
                   STATUS_ID_MAX);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] >= 0x7f)
      return fail_at(r, at,
                     "%s.id holds the byte 0x%02X at %zu: an id is "
                     "printable ASCII",
                     ctx, (unsigned char)id[i], i);
  snprintf(type, sizeof(type), "%.*s", slash ? (int)(slash - id) : (int)len,
           id);
  if (!slash || !slash[1] || resource_type_parse(type) < 0)
    return fail_at(r, at,
                   "%s.id '%.80s' is not <type>/<key> with a type of "
                   "network, database, bucket, service, route, dns_record",
                   ctx, id);
  if (strspn(slash + 1, "abcdefghijklmnopqrstuvwxyz0123456789.-_") !=
      strlen(slash + 1))
    return fail_at(r, at,
                   "%s.id '%.80s': the key after '/' may hold only "
                   "lowercase letters, digits, '.', '-' and '_'",
                   ctx, id);
  if (strcmp(type, it->type) != 0)
    return fail_at(r, ymap_get(n, "type"),
                   "%s.type '%.40s' does not match the id '%.80s'", ctx,
                   it->type, id);
  return 0;
}

static int parse_item(const struct reader *r, struct status_item *it,
                      const struct ynode *n, size_t idx)
{
  char ctx[48];
  char *hash = NULL;
  uint32_t corrections = 0;
  const struct ynode *v;
  int err;

  snprintf(ctx, sizeof(ctx), "inventory[%zu]", idx);
  err = item_map(r, n, ctx);
  if (err == 0)
    err = get_text(r, n, ctx, "id", NONEMPTY, &it->id);
  if (err == 0)
    err = get_text(r, n, ctx, "type", PRESENT, &it->type);
  if (err == 0)
    err = get_text(r, n, ctx, "provider", PRESENT, &it->provider);
  if (err == 0)
    err = get_text(r, n, ctx, "name", PRESENT, &it->name);
  if (err == 0)
    err = get_text(r, n, ctx, "hash", PRESENT, &hash);
  if (err == 0)
    err = check_id(r, n, ctx, it);
  if (err < 0)
    goto out;
  if (!status__hash_ok(hash)) {
    err = fail_at(r, ymap_get(n, "hash"),
                  "%s.hash must be 16 lowercase hex digits, not '%.40s'", ctx,
                  hash);
    goto out;
  }
  memcpy(it->hash, hash, sizeof(it->hash));

  v = ymap_get(n, "pruneDelete");
  if (v && v->type == YNODE_SCALAR && v->scalar == YS_NULL)
    v = NULL;
  if (v && !(v->type == YNODE_SCALAR && v->scalar == YS_BOOL)) {
    err = fail_at(r, v, "%s.pruneDelete must be true or false", ctx);
    goto out;
  }
  it->prune_delete = v && v->u.scalar.v.b;
  err = get_uint(r, n, ctx, "corrections", UINT32_MAX, &corrections);
  it->corrections = corrections;
out:
  free(hash);
  return err;
}

static int parse_stalled(const struct reader *r, struct status_stalled *s,
                         const struct ynode *n, size_t idx)
{
  char ctx[48];
  int err;

  snprintf(ctx, sizeof(ctx), "stalled[%zu]", idx);
  err = item_map(r, n, ctx);
  if (err == 0)
    err = get_text(r, n, ctx, "id", NONEMPTY, &s->id);
  if (err == 0)
    err = get_text(r, n, ctx, "field", PRESENT, &s->field);
  if (err == 0)
    err = get_text(r, n, ctx, "desired", PRESENT, &s->desired);
  if (err == 0)
    err = get_text(r, n, ctx, "observed", PRESENT, &s->observed);
  return err;
}

static int parse_last_error(const struct reader *r, struct status_error *e,
                            const struct ynode *root)
{
  const struct ynode *n = ymap_get(root, "lastError");
  int err;

  if (!n || (n->type == YNODE_SCALAR && n->scalar == YS_NULL))
    return 0;
  err = item_map(r, n, "lastError");
  if (err == 0)
    err = get_text(r, n, "lastError", "message", NONEMPTY, &e->message);
  if (err == 0)
    err = get_text(r, n, "lastError", "resource", OPTIONAL, &e->resource);
  if (err == 0)
    err = get_text(r, n, "lastError", "path", OPTIONAL, &e->path);
  if (err == 0)
    err = get_uint(r, n, "lastError", "line", UINT32_MAX, &e->line);
  if (err == 0)
    err = get_uint(r, n, "lastError", "column", UINT32_MAX, &e->col);
  return err;
}

static int item_cmp(const void *pa, const void *pb)
{
  const struct status_item *a = pa, *b = pb;

  return strcmp(a->id, b->id);
}

/* Whole-content order, so equal entries are identical and qsort's
 * instability cannot show. */
int status__stalled_cmp(const void *pa, const void *pb)
{
  const struct status_stalled *a = pa, *b = pb;
  int c = strcmp(a->id, b->id);

  if (c == 0)
    c = strcmp(a->field, b->field);
  if (c == 0)
    c = strcmp(a->desired, b->desired);
  if (c == 0)
    c = strcmp(a->observed, b->observed);
  return c;
}

static int parse_conditions(const struct reader *r, struct tenant_status *st,
                            const struct ynode *root)
{
  const struct ynode *list;
  bool seen[STATUS_COND_COUNT] = {false};
  int err;

  err = get_list(r, root, "conditions", &list);
  for (uint32_t i = 0; err == 0 && list && i < list->u.coll.n; i++)
    err = parse_condition(r, st, list->u.coll.v[i], i, seen);
  return err;
}

/* Kept sorted in memory whatever order a hand edit left in the file. */
static int parse_inventory(const struct reader *r, struct tenant_status *st,
                           const struct ynode *root)
{
  const struct ynode *list;
  int err;

  err = get_list(r, root, "inventory", &list);
  if (err < 0 || !list || list->u.coll.n == 0)
    goto out;
  st->inventory = td_calloc(list->u.coll.n, sizeof(*st->inventory));
  st->ninventory = list->u.coll.n;
  for (uint32_t i = 0; err == 0 && i < st->ninventory; i++)
    err = parse_item(r, &st->inventory[i], list->u.coll.v[i], i);
  if (err < 0)
    goto out;
  qsort(st->inventory, st->ninventory, sizeof(*st->inventory), item_cmp);
  for (size_t i = 1; err == 0 && i < st->ninventory; i++)
    if (strcmp(st->inventory[i - 1].id, st->inventory[i].id) == 0)
      err = fail_at(r, list, "inventory lists '%.200s' twice",
                    st->inventory[i].id);
out:
  return err;
}

static int parse_stalled_list(const struct reader *r, struct tenant_status *st,
                              const struct ynode *root)
{
  const struct ynode *list;
  int err;

  err = get_list(r, root, "stalled", &list);
  if (err < 0 || !list || list->u.coll.n == 0)
    goto out;
  st->stalled = td_calloc(list->u.coll.n, sizeof(*st->stalled));
  st->nstalled = list->u.coll.n;
  for (uint32_t i = 0; err == 0 && i < st->nstalled; i++)
    err = parse_stalled(r, &st->stalled[i], list->u.coll.v[i], i);
  if (err == 0)
    qsort(st->stalled, st->nstalled, sizeof(*st->stalled), status__stalled_cmp);
out:
  return err;
}

/* The tier and its monthly cost, when recorded.  The cost only informs:
 * one that cannot be read is left out, never a reason to hold the tenant
 * as an unreadable status would. */
static int parse_tier(const struct reader *r, struct tenant_status *st,
                      const struct ynode *root)
{
  const struct ynode *cost = ymap_get(root, "monthlyCost");
  int err = get_text(r, root, "", "tier", OPTIONAL, &st->tier);

  st->has_cost = err == 0 && st->tier && cost && cost->type == YNODE_SCALAR &&
                 manifest_money_parse(cost->u.scalar.s, &st->monthly_cost) == 0;
  if (!st->has_cost)
    st->monthly_cost = 0;
  return err;
}

/* Unknown keys are ignored, so an older tenantd reads a newer one's file. */
static int parse_doc(const struct reader *r, const struct ynode *root,
                     struct tenant_status **out)
{
  struct tenant_status *st = NULL;
  char *kind = NULL, *api = NULL, *tenant = NULL;
  int err;

  if (root->type != YNODE_MAP) {
    err = fail_at(r, root, "a status must be a mapping, not %s",
                  ynode_kind_name(root));
    goto out;
  }
  err = get_text(r, root, "", "kind", NONEMPTY, &kind);
  if (err == 0 && strcmp(kind, STATUS_KIND) != 0)
    err = fail_at(r, ymap_get(root, "kind"),
                  "kind is '%.40s', expected " STATUS_KIND, kind);
  if (err == 0)
    err = get_text(r, root, "", "apiVersion", NONEMPTY, &api);
  if (err == 0 && strcmp(api, STATUS_API_VERSION) != 0)
    err = fail_at(r, ymap_get(root, "apiVersion"),
                  "apiVersion is '%.40s', expected " STATUS_API_VERSION, api);
  if (err == 0)
    err = get_text(r, root, "", "tenant", NONEMPTY, &tenant);
  if (err < 0)
    goto out;

  st = tenant_status_new(tenant);
  err = get_text(r, root, "", "source", OPTIONAL, &st->source);
  if (err == 0)
    err = get_text(r, root, "", "lastChange", OPTIONAL, &st->last_change);
  if (err == 0)
    err = parse_tier(r, st, root);
  if (err == 0)
    err = parse_conditions(r, st, root);
  if (err == 0)
    err = parse_inventory(r, st, root);
  if (err == 0)
    err = parse_stalled_list(r, st, root);
  if (err == 0)
    err = parse_last_error(r, &st->last_error, root);
out:
  free(kind);
  free(api);
  free(tenant);
  if (err < 0) {
    tenant_status_free(st);
    st = NULL;
  }
  *out = st;
  return err;
}

static int parse_named(const char *name, const char *text, size_t len,
                       struct tenant_status **out)
{
  struct arena a = ARENA_INIT;
  struct diag_list d = DIAG_LIST_INIT;
  struct yaml_limits lim = YAML_LIMITS_DEFAULT;
  struct reader r = {name};
  struct ynode *root = NULL;
  int err;

  *out = NULL;
  if (len > STATUS_MAX_BYTES) {
    err =
        td_error("%s: status is larger than %zu bytes", name, STATUS_MAX_BYTES);
    goto out;
  }
  *out = status__canon_parse(text, len);
  if (*out)
    return 0;
  lim.max_bytes = STATUS_MAX_BYTES;
  err = yaml_parse(&a, &lim, name, text, len, &root, &d);
  if (err < 0) {
    const struct diag *g = &d.v[0];

    err = d.n ? td_error("%s:%u:%u: %s", g->path, (unsigned)g->line,
                         (unsigned)g->col, g->msg)
              : td_error("%s: not valid YAML", name);
    goto out;
  }
  err = parse_doc(&r, root, out);
out:
  diag_list_release(&d);
  arena_release(&a);
  return err;
}

int tenant_status_parse_from(const char *origin, const char *text, size_t len,
                             struct tenant_status **out)
{
  return parse_named(origin, text, len, out);
}

int tenant_status_parse(const char *text, size_t len,
                        struct tenant_status **out)
{
  return parse_named("status", text, len, out);
}

void status_now(char buf[32])
{
  time_t t = time(NULL);
  struct tm tm;

  gmtime_r(&t, &tm);
  strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void tenant_status_stalled_clear(struct tenant_status *st)
{
  for (size_t i = 0; i < st->nstalled; i++)
    stalled_release(&st->stalled[i]);
  free(st->stalled);
  st->stalled = NULL;
  st->nstalled = 0;
}

void tenant_status_stalled_add(struct tenant_status *st, const char *id,
                               const char *field, const char *desired,
                               const char *observed)
{
  struct status_stalled *s;
  size_t i = st->nstalled;

  st->stalled =
      td_realloc(st->stalled, (st->nstalled + 1) * sizeof(*st->stalled));
  /* Insertion keeps the list sorted by id, as the format expects. */
  while (i > 0 && strcmp(st->stalled[i - 1].id, id) > 0) {
    st->stalled[i] = st->stalled[i - 1];
    i--;
  }
  s = &st->stalled[i];
  s->id = td_strdup(id);
  s->field = td_strdup(field ? field : "");
  s->desired = td_strdup(desired ? desired : "");
  s->observed = td_strdup(observed ? observed : "");
  st->nstalled++;
}
