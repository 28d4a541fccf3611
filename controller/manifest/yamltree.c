#include "base/compat.h"

#include "base/strutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <yaml.h>

#include "manifest/yamltree.h"

/* One open collection while events stream in. */
struct frame {
  struct ynode *node;
  size_t base;   /* where its kids start in the builder's kids */
  char *anchor;  /* libyaml's copy, NULL when none */
  uint64_t size; /* expanded size of the subtree so far */
};

struct anchor {
  char *name; /* arena */
  struct ynode *node;
  uint64_t size;
};

struct builder {
  struct arena *a;
  const struct yaml_limits *lim;
  const char *path;
  const char *data;
  size_t len;
  struct diag_list *d;
  struct frame *stack;
  unsigned depth;
  /* The kids of every open collection, each frame's above its parent's
   * (a collection closes before its parent takes another kid): one
   * array for the file, not one per collection.  Moved into the arena
   * when their collection closes. */
  struct ynode **kids;
  size_t nkids, kids_alloc;
  struct anchor *anchors;
  unsigned nanchors, anchors_alloc;
  uint64_t alias_nodes;
  struct ynode *root;
  uint64_t root_size;
  int docs; /* documents started */
  bool failed;
  /* mark_offset()'s place: a character index and its byte offset. */
  size_t cur_index, cur_off;
};

static void fail(struct builder *b, uint32_t line, uint32_t col,
                 const char *fmt, ...) TD_PRINTF(4, 5);

static void fail(struct builder *b, uint32_t line, uint32_t col,
                 const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  if (b->failed)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  yaml_diag_add(b->d, b->path, line, col, msg);
  b->failed = true;
}

/* Line and column (1-based, in characters) of byte `off` of the input. */
static void offset_pos(const char *data, size_t len, size_t off, uint32_t *line,
                       uint32_t *col)
{
  uint32_t l = 1, c = 1;

  if (off > len)
    off = len;
  for (size_t i = 0; i < off; i++) {
    unsigned char ch = (unsigned char)data[i];

    if (ch == '\n') {
      l++;
      c = 1;
    } else if ((ch & 0xC0) != 0x80 &&
               !(ch == '\r' && i + 1 < len && data[i + 1] == '\n')) {
      c++;
    }
  }
  *line = l;
  *col = c;
}

/*
 * What is wrong with the bytes at `p` (`left` >= 1) that are not UTF-8
 * (str_utf8_seq() said 0), in the words the input check reports.
 */
static const char *utf8_problem(const unsigned char *p, size_t left)
{
  size_t need = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : 2;

  if (p[0] < 0xC2 || p[0] > 0xF4)
    return "invalid UTF-8";
  if (need > left)
    return "invalid UTF-8 (truncated sequence)";
  for (size_t k = 1; k < need; k++)
    if ((p[k] & 0xC0) != 0x80)
      return "invalid UTF-8";
  return "invalid UTF-8 (overlong or surrogate)";
}

/* The code point of the valid `n`-byte UTF-8 sequence at `p`. */
static uint32_t code_point(const unsigned char *p, size_t n)
{
  uint32_t v = n == 1 ? p[0] : p[0] & (0x7Fu >> n);

  for (size_t k = 1; k < n; k++)
    v = (v << 6) | (p[k] & 0x3F);
  return v;
}

/* Characters that print as nothing or move the text around: C1 controls,
 * the line and paragraph separators and the bidirectional controls. */
static bool is_invisible(uint32_t cp)
{
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

char *yaml_text_escape(char *out, size_t cap, const char *s, size_t len)
{
  size_t o = 0;

  for (size_t i = 0; i < len;) {
    const unsigned char *at = (const unsigned char *)s + i;
    size_t n = str_utf8_seq(at, len - i);
    uint32_t cp = n ? code_point(at, n) : 0;
    char piece[16];
    size_t plen;

    if (n == 0) {
      plen = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", at[0]);
      n = 1;
    } else if (cp < 0x20 || cp == 0x7F) {
      plen = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", cp);
    } else if (is_invisible(cp)) {
      plen = (size_t)snprintf(piece, sizeof(piece), "\\u%04x", cp);
    } else {
      memcpy(piece, s + i, n);
      plen = n;
    }
    /* Room for the piece, and then for "..." and the NUL. */
    if (o + plen + 7 >= cap) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    memcpy(out + o, piece, plen);
    o += plen;
    i += n;
  }
  out[o] = '\0';
  return out;
}

/*
 * Checks the bytes before libyaml sees them, so that binary files and bad
 * encodings get a message that says what is wrong and exactly where.
 * Returns the offset of the first bad byte, or len when all are good.
 */
static size_t check_bytes(const char *data, size_t len, const char **why)
{
  const unsigned char *p = (const unsigned char *)data;
  size_t i = 0;

  if (len >= 2 &&
      ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) {
    *why = "UTF-16 is not supported; save the file as UTF-8";
    return 0;
  }
  while (i < len) {
    size_t n;
    uint64_t w;

    /* Eight bytes at a time while they are ASCII and none is NUL:
     * manifests are nearly all ASCII. */
    while (len - i >= 8) {
      memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ULL) ||
          ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL))
        break;
      i += 8;
    }
    if (i == len)
      break;
    if (p[i] == 0) {
      *why = "binary file (NUL byte)";
      return i;
    }
    n = str_utf8_seq(p + i, len - i);
    if (n == 0) {
      *why = utf8_problem(p + i, len - i);
      return i;
    }
    i += n;
  }
  return len;
}

/* The value of validated octal digits, as a float past INT64_MAX. */
static double octal_value(const char *digits)
{
  double v = 0;

  for (; *digits; digits++)
    v = v * 8 + (*digits - '0');
  return v;
}

/* The core schema's words: null, booleans. */
static bool resolve_word(struct ynode *n)
{
  const char *s = n->u.scalar.s;
  size_t len = n->u.scalar.len;

  /* Only words of 0, 1, 4 or 5 characters are any: most keys ("network",
   * "features", "replicas") are told at once. */
  if (len != 0 && len != 1 && len != 4 && len != 5)
    return false;
  if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
      strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0) {
    n->scalar = YS_NULL;
    return true;
  }
  if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
      strcmp(s, "TRUE") == 0) {
    n->scalar = YS_BOOL;
    n->u.scalar.v.b = true;
    return true;
  }
  if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
      strcmp(s, "FALSE") == 0) {
    n->scalar = YS_BOOL;
    n->u.scalar.v.b = false;
    return true;
  }
  return false;
}

/* Integers: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static bool resolve_int(struct ynode *n)
{
  const char *s = n->u.scalar.s;
  size_t len = n->u.scalar.len;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  int base = 10;
  bool ok = i < len;
  char *end;

  if (i == 0 && len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    base = s[1] == 'o' ? 8 : 16;
    i = 2;
  }
  for (size_t k = i; ok && k < len; k++) {
    char c = s[k];

    if (base == 10)
      ok = c >= '0' && c <= '9';
    else if (base == 8)
      ok = c >= '0' && c <= '7';
    else
      ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
  }
  if (!ok)
    return false;
  errno = 0;
  if (base == 10) {
    long long v = strtoll(s, &end, 10);

    if (errno == 0) {
      n->scalar = YS_INT;
      n->u.scalar.v.i = v;
      return true;
    }
  } else {
    unsigned long long v = strtoull(s + 2, &end, base);

    if (errno == 0 && v <= INT64_MAX) {
      n->scalar = YS_INT;
      n->u.scalar.v.i = (int64_t)v;
      return true;
    }
  }
  /* Out of range: still a number to YAML, kept as a float.  strtod
   * reads decimal and 0x, but would read 0o as a 0. */
  n->scalar = YS_FLOAT;
  n->u.scalar.v.f = base == 8 ? octal_value(s + 2) : strtod(s, NULL);
  return true;
}

/* Floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, and the
 * infinities and not-a-number. */
static void resolve_float(struct ynode *n)
{
  const char *s = n->u.scalar.s;
  size_t len = n->u.scalar.len;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  size_t digits = 0;

  if (s[i] == '.' &&
      (strcmp(s + i, ".inf") == 0 || strcmp(s + i, ".Inf") == 0 ||
       strcmp(s + i, ".INF") == 0)) {
    n->scalar = YS_FLOAT;
    n->u.scalar.v.f = s[0] == '-' ? -INFINITY : INFINITY;
    return;
  }
  if (s[0] == '.' && (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 ||
                      strcmp(s, ".NAN") == 0)) {
    n->scalar = YS_FLOAT;
    n->u.scalar.v.f = NAN;
    return;
  }
  while (i < len && s[i] >= '0' && s[i] <= '9') {
    i++;
    digits++;
  }
  if (i < len && s[i] == '.') {
    i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
      i++;
      digits++;
    }
  }
  if (digits == 0)
    return;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    size_t exp = 0;

    i++;
    if (i < len && (s[i] == '-' || s[i] == '+'))
      i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
      i++;
      exp++;
    }
    if (exp == 0)
      return;
  }
  if (i != len)
    return;
  n->scalar = YS_FLOAT;
  n->u.scalar.v.f = strtod(s, NULL);
}

/* YAML 1.2 core schema resolution of a plain scalar; a string unless it
 * reads as one of the others. */
static void resolve(struct ynode *n)
{
  n->scalar = YS_STR;
  /* Most plain scalars are keys and names: one whose first character
   * starts no null, boolean or number is a string at once. */
  if (n->u.scalar.len > 0 && !strchr("~nNtTfF0123456789+-.", n->u.scalar.s[0]))
    return;
  if (resolve_word(n) || resolve_int(n))
    return;
  resolve_float(n);
}

static struct ynode *node_new(struct builder *b, enum ynode_type type,
                              const yaml_mark_t *mark)
{
  struct ynode *n = arena_alloc(b->a, sizeof(*n));

  n->type = (uint8_t)type;
  n->line = (uint32_t)mark->line + 1;
  n->col = (uint32_t)mark->column + 1;
  return n;
}

static uint64_t sat_add(uint64_t x, uint64_t y)
{
  return x + y < x ? UINT64_MAX : x + y;
}

static void add_anchor(struct builder *b, const char *name, struct ynode *node,
                       uint64_t size)
{
  struct anchor *x;

  if (b->nanchors == b->lim->max_anchors) {
    fail(b, node->line, node->col, "more than %u anchors in one file",
         b->lim->max_anchors);
    return;
  }
  /* Grown as used: a file with one anchor must not pay for the cap. */
  if (b->nanchors == b->anchors_alloc) {
    b->anchors_alloc = b->anchors_alloc ? 2 * b->anchors_alloc : 8;
    if (b->anchors_alloc > b->lim->max_anchors)
      b->anchors_alloc = b->lim->max_anchors;
    b->anchors = td_realloc(b->anchors, b->anchors_alloc * sizeof(*b->anchors));
  }
  x = &b->anchors[b->nanchors++];
  x->name = arena_strdup(b->a, name);
  x->node = node;
  x->size = size;
}

static const struct anchor *find_anchor(const struct builder *b,
                                        const char *name)
{
  /* The latest definition of a name wins, as YAML says. */
  for (unsigned i = b->nanchors; i-- > 0;)
    if (strcmp(b->anchors[i].name, name) == 0)
      return &b->anchors[i];
  return NULL;
}

/* Hands a finished node to its parent, or makes it the root. */
static void attach(struct builder *b, struct ynode *n, uint64_t size)
{
  struct frame *f;

  if (b->depth == 0) {
    b->root = n;
    b->root_size = size;
    return;
  }
  f = &b->stack[b->depth - 1];
  if (b->nkids == b->kids_alloc) {
    b->kids_alloc = b->kids_alloc ? b->kids_alloc * 2 : 64;
    b->kids = td_realloc(b->kids, b->kids_alloc * sizeof(*b->kids));
  }
  b->kids[b->nkids++] = n;
  f->size = sat_add(f->size, size);
}

static bool tag_ok(struct builder *b, const yaml_char_t *tag,
                   const yaml_mark_t *m, const char *want)
{
  char full[64];

  if (!tag)
    return true;
  snprintf(full, sizeof(full), "tag:yaml.org,2002:%s", want);
  if (strcmp((const char *)tag, full) == 0)
    return true;
  fail(b, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
       "unsupported YAML tag '%s'", (const char *)tag);
  return false;
}

/*
 * An explicit core-schema tag: !!str makes a string of anything; !!int,
 * !!float, !!bool and !!null must agree with what the text resolves to.
 */
static void apply_tag(struct builder *b, struct ynode *n, const char *tag)
{
  static const struct {
    const char *name;
    enum yscalar kind;
  } tags[] = {
      {"int", YS_INT},   {"float", YS_FLOAT}, {"bool", YS_BOOL},
      {"null", YS_NULL}, {"str", YS_STR},
  };
  const char *prefix = "tag:yaml.org,2002:";
  size_t plen = strlen(prefix);

  if (strncmp(tag, prefix, plen) == 0) {
    for (size_t i = 0; i < ARRAY_SIZE(tags); i++) {
      if (strcmp(tag + plen, tags[i].name) != 0)
        continue;
      if (tags[i].kind == YS_STR)
        return;
      resolve(n);
      if (tags[i].kind == YS_FLOAT && n->scalar == YS_INT) {
        n->scalar = YS_FLOAT;
        n->u.scalar.v.f = (double)n->u.scalar.v.i;
      }
      if (n->scalar != tags[i].kind)
        fail(b, n->line, n->col, "'%s' is not a valid !!%s", n->u.scalar.s,
             tags[i].name);
      return;
    }
  }
  fail(b, n->line, n->col, "unsupported YAML tag '%s'", tag);
}

/*
 * The byte offset of a libyaml mark, whose index counts characters.
 * Events come in source order, so a cursor moving forward keeps the walk
 * linear however many marks are asked for.
 */
static size_t mark_offset(struct builder *b, const yaml_mark_t *m)
{
  if (m->index < b->cur_index) {
    b->cur_index = 0;
    b->cur_off = 0;
  }
  while (b->cur_index < m->index && b->cur_off < b->len) {
    b->cur_off++;
    while (b->cur_off < b->len &&
           ((unsigned char)b->data[b->cur_off] & 0xC0) == 0x80)
      b->cur_off++;
    b->cur_index++;
  }
  return b->cur_off;
}

static bool is_blank(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Past blanks, line breaks and comments, from `i`. */
static size_t skip_space(const struct builder *b, size_t i)
{
  while (i < b->len) {
    if (b->data[i] == '#')
      while (i < b->len && b->data[i] != '\n')
        i++;
    else if (is_blank(b->data[i]))
      i++;
    else
      break;
  }
  return i;
}

/* Whether the bytes at `s` (`n` left) are "%00": a URI escape of NUL. */
static bool is_pct_nul(const char *s, size_t n)
{
  return n >= 3 && s[0] == '%' && s[1] == '0' && s[2] == '0';
}

/*
 * The offset of a "%00" in the tag a node is written with, or SIZE_MAX.
 * libyaml hands a tag over as a C string after decoding its URI escapes,
 * so a NUL would cut it short unseen: "!!int%00x" would pass for !!int.
 * The node's properties (an anchor, a tag, in either order) start at `m`.
 */
static size_t tag_nul_offset(struct builder *b, const yaml_mark_t *m)
{
  const char *s = b->data;
  size_t i = mark_offset(b, m);

  for (int prop = 0; prop < 2; prop++) {
    bool verbatim;

    i = skip_space(b, i);
    if (i < b->len && s[i] == '&') {
      while (i < b->len && !is_blank(s[i]) && !strchr(",[]{}", s[i]))
        i++;
      continue;
    }
    if (i >= b->len || s[i] != '!')
      break;
    verbatim = i + 1 < b->len && s[i + 1] == '<';
    for (; i < b->len; i++) {
      if (verbatim ? s[i] == '>'
                   : is_blank(s[i]) || strchr(",[]{}", s[i]) != NULL)
        break;
      if (is_pct_nul(s + i, b->len - i))
        return i;
    }
    break;
  }
  return SIZE_MAX;
}

/*
 * The offset of a "%00" in a %TAG directive, whose prefix libyaml decodes
 * into a C string as it does a tag.  Directives are the lines starting
 * with '%' before the document's "---", which ends at `end`.
 */
static size_t directive_nul_offset(struct builder *b, const yaml_mark_t *end)
{
  const char *s = b->data;
  size_t stop = mark_offset(b, end);

  for (size_t i = 0; i < stop; i++) {
    bool line_start = i == 0 || s[i - 1] == '\n';

    if (!line_start || stop - i < 4 || memcmp(s + i, "%TAG", 4) != 0)
      continue;
    for (i += 4; i < stop && s[i] != '\n'; i++) {
      if (s[i] == '#' && is_blank(s[i - 1]))
        break;
      if (is_pct_nul(s + i, stop - i))
        return i;
    }
  }
  return SIZE_MAX;
}

/* Fails at byte `off` of the input, or at the mark when it is SIZE_MAX. */
static void fail_at(struct builder *b, size_t off, const yaml_mark_t *m,
                    const char *msg)
{
  uint32_t line = (uint32_t)m->line + 1, col = (uint32_t)m->column + 1;

  if (off != SIZE_MAX)
    offset_pos(b->data, b->len, off, &line, &col);
  fail(b, line, col, "%s", msg);
}

/* Whether a node's tag decodes a NUL; if so, fails at it. */
static bool tag_has_nul(struct builder *b, const yaml_mark_t *m)
{
  size_t at = tag_nul_offset(b, m);

  if (at == SIZE_MAX)
    return false;
  fail_at(b, at, m, "a YAML tag may not contain a NUL byte ('%00')");
  return true;
}

/* The length of the escape after a backslash when it writes a NUL:
 * \0, \x00, \u0000 or \U00000000. */
static size_t nul_escape_len(const char *s, size_t n)
{
  static const char *const forms[] = {"0", "x00", "u0000", "U00000000"};

  for (size_t k = 0; k < ARRAY_SIZE(forms); k++) {
    size_t len = strlen(forms[k]);

    if (n >= len && memcmp(s, forms[k], len) == 0)
      return len;
  }
  return 0;
}

/*
 * A scalar whose value holds a NUL would be cut short as a C string, so
 * "acme\0/../x" would read as "acme": refused, at the escape that wrote
 * the NUL.  A raw NUL byte never gets here (check_bytes); the escapes of a
 * double-quoted scalar, which starts at the first '"' after the node's
 * properties, are the only way to write one.
 */
static void refuse_nul(struct builder *b, const yaml_event_t *ev)
{
  const yaml_mark_t *m = &ev->start_mark;
  const char *s = b->data;
  size_t i = mark_offset(b, m);

  while (i < b->len && s[i] != '"')
    i++;
  for (i++; i < b->len && s[i] != '"'; i++) {
    size_t elen;
    char msg[96];

    if (s[i] != '\\')
      continue;
    elen = nul_escape_len(s + i + 1, b->len - i - 1);
    if (elen) {
      snprintf(msg, sizeof(msg),
               "a NUL character ('\\%.*s') is not allowed in a key or value",
               (int)elen, s + i + 1);
      fail_at(b, i, m, msg);
      return;
    }
    i++; /* the escaped character, which may be a quote */
  }
  fail_at(b, SIZE_MAX, m, "a NUL character is not allowed in a key or value");
}

static void on_scalar(struct builder *b, yaml_event_t *ev)
{
  struct ynode *n;
  const char *tag = (const char *)ev->data.scalar.tag;

  if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length)) {
    refuse_nul(b, ev);
    return;
  }
  if (tag && tag_has_nul(b, &ev->start_mark))
    return;
  n = node_new(b, YNODE_SCALAR, &ev->start_mark);
  n->u.scalar.s = arena_strndup(b->a, (const char *)ev->data.scalar.value,
                                ev->data.scalar.length);
  n->u.scalar.len = (uint32_t)ev->data.scalar.length;
  /* "!" is the non-specific tag of a quoted scalar: a string. */
  if (tag && strcmp(tag, "!") != 0)
    apply_tag(b, n, tag);
  else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag) {
    resolve(n);
    n->merge = strcmp(n->u.scalar.s, "<<") == 0;
  }
  if (b->failed)
    return;
  if (ev->data.scalar.anchor)
    add_anchor(b, (const char *)ev->data.scalar.anchor, n, 1);
  attach(b, n, 1);
}

static void on_alias(struct builder *b, yaml_event_t *ev)
{
  const char *name = (const char *)ev->data.alias.anchor;
  const struct anchor *x = find_anchor(b, name);
  uint32_t line = (uint32_t)ev->start_mark.line + 1;
  uint32_t col = (uint32_t)ev->start_mark.column + 1;

  if (!x) {
    fail(b, line, col, "undefined alias '%s'", name);
    return;
  }
  b->alias_nodes = sat_add(b->alias_nodes, x->size);
  if (b->alias_nodes > b->lim->max_alias_nodes) {
    fail(b, line, col, "alias expansion exceeds %llu nodes (an alias bomb?)",
         (unsigned long long)b->lim->max_alias_nodes);
    return;
  }
  attach(b, x->node, x->size);
}

static void on_start(struct builder *b, yaml_event_t *ev, bool map)
{
  const yaml_char_t *tag =
      map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
  const yaml_char_t *anchor =
      map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
  struct frame *f;

  if (tag && tag_has_nul(b, &ev->start_mark))
    return;
  if (!tag_ok(b, tag, &ev->start_mark, map ? "map" : "seq"))
    return;
  if (b->depth == b->lim->max_depth) {
    fail(b, (uint32_t)ev->start_mark.line + 1,
         (uint32_t)ev->start_mark.column + 1, "nesting deeper than %u levels",
         b->lim->max_depth);
    return;
  }
  f = &b->stack[b->depth++];
  memset(f, 0, sizeof(*f));
  f->base = b->nkids;
  f->node = node_new(b, map ? YNODE_MAP : YNODE_SEQ, &ev->start_mark);
  f->size = 1;
  if (anchor)
    f->anchor = td_strdup((const char *)anchor);
}

/* Closes frame f: its kids leave the builder's. */
static void frame_release(struct builder *b, struct frame *f)
{
  free(f->anchor);
  f->anchor = NULL;
  b->nkids = f->base;
}

struct pair_ref {
  const char *key;
  uint32_t idx; /* position in the combined list */
  bool merged;  /* came from a `<<` source */
  struct ynode *k, *v;
};

static int pair_cmp(const void *pa, const void *pb)
{
  const struct pair_ref *a = pa, *b = pb;
  int c = strcmp(a->key, b->key);

  if (c)
    return c;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int pair_idx_cmp(const void *pa, const void *pb)
{
  const struct pair_ref *a = pa, *b = pb;

  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static bool is_merge_key(const struct ynode *k)
{
  return k->type == YNODE_SCALAR && k->merge;
}

/* The pairs of a mapping being closed: its own, then its merge sources'. */
struct pairs {
  struct pair_ref *v;
  size_t n, alloc;
};

static void pairs_push(struct pairs *p, struct ynode *k, struct ynode *v,
                       bool merged)
{
  if (p->n == p->alloc) {
    p->alloc *= 2;
    p->v = td_realloc(p->v, p->alloc * sizeof(*p->v));
  }
  p->v[p->n] = (struct pair_ref){k->u.scalar.s, (uint32_t)p->n, merged, k, v};
  p->n++;
}

/* The pairs a `<<: v` contributes: v is a mapping or a list of them. */
static void push_merged(struct builder *b, const struct ynode *k,
                        struct ynode *v, struct pairs *p)
{
  struct ynode **src = &v;
  uint32_t nsrc = 1;

  if (v->type == YNODE_SEQ) {
    src = v->u.coll.v;
    nsrc = v->u.coll.n;
  }
  for (uint32_t s = 0; s < nsrc && !b->failed; s++) {
    const struct ynode *m = src[s];

    if (m->type != YNODE_MAP) {
      fail(b, k->line, k->col,
           "a merge key ('<<') takes a mapping or a list of mappings");
      return;
    }
    for (uint32_t j = 0; j < m->u.coll.n; j++)
      pairs_push(p, ymap_key(m, j), ymap_value(m, j), true);
  }
}

/* Every pair of the frame, merge sources expanded in place; keys must be
 * scalars. */
static void collect_pairs(struct builder *b, struct ynode *const *kids,
                          size_t n, struct pairs *p)
{
  for (size_t i = 0; i < n && !b->failed; i += 2) {
    struct ynode *k = kids[i], *v = kids[i + 1];

    if (k->type != YNODE_SCALAR) {
      fail(b, k->line, k->col, "mapping keys must be scalars");
      return;
    }
    if (is_merge_key(k))
      push_merged(b, k, v, p);
    else
      pairs_push(p, k, v, false);
  }
}

/*
 * Drops (key := NULL) every pair another one shadows, and fails on a key
 * the mapping sets twice itself.  Merged pairs were appended in source
 * order but must lose to explicit keys wherever they appear, so sort
 * explicit ones first within a key.  Leaves the pairs in their order.
 */
static void drop_shadowed(struct builder *b, struct pairs *p)
{
  struct pair_ref *refs = p->v;
  size_t n = p->n;

  qsort(refs, n, sizeof(*refs), pair_cmp);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1, first = i;

    while (j < n && strcmp(refs[j].key, refs[i].key) == 0)
      j++;
    for (size_t k = i; k < j; k++)
      if (!refs[k].merged) {
        first = k;
        break;
      }
    for (size_t k = i; k < j; k++) {
      if (k == first)
        continue;
      if (!refs[k].merged && !refs[first].merged) {
        fail(b, refs[k].k->line, refs[k].k->col,
             "duplicate key '%s' (first at line %u, column %u)", refs[k].key,
             refs[first].k->line, refs[first].k->col);
        return;
      }
      refs[k].key = NULL; /* shadowed */
    }
    i = j;
  }
  qsort(refs, n, sizeof(*refs), pair_idx_cmp);
}

/* Pairs at most a plain mapping of a few keys has. */
#define PLAIN_MAP_MAX 16

/*
 * Whether the mapping is small and plain, as nearly every mapping of a
 * manifest is: scalar keys, no merge key, none repeated.  Its pairs then
 * stand as written, found with a few comparisons instead of two sorts;
 * any other mapping takes the general path, which words every error.
 */
static bool plain_map(struct ynode *const *kids, size_t n)
{
  if (n / 2 > PLAIN_MAP_MAX)
    return false;
  for (size_t i = 0; i < n; i += 2) {
    const struct ynode *k = kids[i];

    if (k->type != YNODE_SCALAR || is_merge_key(k))
      return false;
    for (size_t j = 0; j < i; j += 2)
      if (strcmp(kids[j]->u.scalar.s, k->u.scalar.s) == 0)
        return false;
  }
  return true;
}

/*
 * Closes a mapping: keys must be scalars and unique; `<<` merge sources
 * contribute the keys the mapping does not set itself, earlier sources
 * first.  Sorting by key finds duplicates in n log n even for a hostile
 * mapping with a hundred thousand keys.
 */
static void finish_map(struct builder *b, struct frame *f)
{
  size_t n = b->nkids - f->base;
  /* No children yet anywhere: kids is NULL, and NULL + 0 is undefined. */
  struct ynode *const *kids = n ? b->kids + f->base : NULL;
  struct pairs p = {NULL, 0, n / 2 + 1};
  struct ynode **kv;
  size_t kept = 0;

  if (n % 2) {
    /* libyaml always pairs keys and values; a failure elsewhere got us here */
    fail(b, f->node->line, f->node->col, "malformed mapping");
    return;
  }
  if (plain_map(kids, n)) {
    kv = arena_alloc(b->a, n * sizeof(struct ynode *));
    if (n)
      memcpy(kv, kids, n * sizeof(struct ynode *));
    f->node->u.coll.v = kv;
    f->node->u.coll.n = (uint32_t)(n / 2);
    return;
  }
  p.v = td_malloc(p.alloc * sizeof(*p.v));
  collect_pairs(b, kids, n, &p);
  if (!b->failed)
    drop_shadowed(b, &p);
  if (b->failed)
    goto out;
  kv = arena_alloc(b->a, 2 * p.n * sizeof(struct ynode *));
  for (size_t i = 0; i < p.n; i++) {
    if (!p.v[i].key)
      continue;
    kv[2 * kept] = p.v[i].k;
    kv[2 * kept + 1] = p.v[i].v;
    kept++;
  }
  f->node->u.coll.v = kv;
  f->node->u.coll.n = (uint32_t)kept;
out:
  free(p.v);
}

static void on_end(struct builder *b, bool map)
{
  struct frame *f = &b->stack[b->depth - 1];
  struct ynode *n = f->node;
  uint64_t size = f->size;

  if (map) {
    finish_map(b, f);
  } else {
    size_t nk = b->nkids - f->base;

    n->u.coll.v = arena_alloc(b->a, nk * sizeof(struct ynode *));
    if (nk)
      memcpy(n->u.coll.v, b->kids + f->base, nk * sizeof(struct ynode *));
    n->u.coll.n = (uint32_t)nk;
  }
  if (!b->failed && f->anchor)
    add_anchor(b, f->anchor, n, size);
  frame_release(b, f);
  b->depth--;
  if (!b->failed)
    attach(b, n, size);
}

static void parser_fail(struct builder *b, const yaml_parser_t *p)
{
  uint32_t line, col;
  const char *what = p->problem ? p->problem : "unknown error";

  if (p->error == YAML_READER_ERROR) {
    offset_pos(b->data, b->len, p->problem_offset, &line, &col);
    fail(b, line, col, "%s", what);
    return;
  }
  line = (uint32_t)p->problem_mark.line + 1;
  col = (uint32_t)p->problem_mark.column + 1;
  if (p->context)
    fail(b, line, col, "YAML syntax: %s %s (line %u, column %u)", what,
         p->context, (unsigned)p->context_mark.line + 1,
         (unsigned)p->context_mark.column + 1);
  else
    fail(b, line, col, "YAML syntax: %s", what);
}

/*
 * Refuses, with one diagnostic, what should never reach libyaml: files
 * over the size limit, binary files and bad encodings.  Skips a UTF-8
 * byte order mark, which libyaml would count as a column.
 */
static int check_input(const struct yaml_limits *lim, const char *path,
                       const char **data, size_t *len, struct diag_list *d)
{
  const char *why = NULL;
  size_t bad;

  if (*len > lim->max_bytes) {
    char msg[64];

    snprintf(msg, sizeof(msg), "file is larger than %zu bytes", lim->max_bytes);
    yaml_diag_add(d, path, 1, 1, msg);
    return -1;
  }
  if (*len >= 3 && memcmp(*data, "\xef\xbb\xbf", 3) == 0) {
    *data += 3;
    *len -= 3;
  }
  bad = check_bytes(*data, *len, &why);
  if (bad < *len) {
    uint32_t line, col;

    offset_pos(*data, *len, bad, &line, &col);
    yaml_diag_add(d, path, line, col, why);
    return -1;
  }
  return 0;
}

/* A %TAG prefix that decodes a NUL: refused where the "%00" is. */
static void fail_directive_nul(struct builder *b, const yaml_event_t *ev)
{
  size_t at = directive_nul_offset(b, &ev->end_mark);

  if (at != SIZE_MAX)
    fail_at(b, at, &ev->start_mark,
            "a %TAG directive may not contain a NUL byte ('%00')");
}

/* Hands one event to the builder; true at the end of the stream. */
static bool on_event(struct builder *b, yaml_event_t *ev)
{
  switch (ev->type) {
  case YAML_DOCUMENT_START_EVENT:
    if (++b->docs > 1)
      fail(b, (uint32_t)ev->start_mark.line + 1,
           (uint32_t)ev->start_mark.column + 1,
           "more than one YAML document in the file");
    else if (ev->data.document_start.tag_directives.start !=
             ev->data.document_start.tag_directives.end)
      fail_directive_nul(b, ev);
    break;
  case YAML_SCALAR_EVENT:
    on_scalar(b, ev);
    break;
  case YAML_ALIAS_EVENT:
    on_alias(b, ev);
    break;
  case YAML_SEQUENCE_START_EVENT:
    on_start(b, ev, false);
    break;
  case YAML_MAPPING_START_EVENT:
    on_start(b, ev, true);
    break;
  case YAML_SEQUENCE_END_EVENT:
    on_end(b, false);
    break;
  case YAML_MAPPING_END_EVENT:
    on_end(b, true);
    break;
  case YAML_STREAM_END_EVENT:
    return true;
  default:
    break;
  }
  return false;
}

/* Runs libyaml over the input until the stream ends or the build fails. */
static void parse_events(struct builder *b)
{
  yaml_parser_t parser;
  yaml_event_t ev;
  bool done = false;

  yaml_parser_initialize(&parser);
  yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
  yaml_parser_set_input_string(&parser, (const unsigned char *)b->data, b->len);
  while (!done && !b->failed) {
    if (!yaml_parser_parse(&parser, &ev)) {
      parser_fail(b, &parser);
      break;
    }
    done = on_event(b, &ev);
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&parser);
}

int yaml_parse(struct arena *a, const struct yaml_limits *lim, const char *path,
               const char *data, size_t len, struct ynode **root,
               struct diag_list *d)
{
  struct builder b = {0};

  *root = NULL;
  if (check_input(lim, path, &data, &len, d) < 0)
    return -1;
  b.a = a;
  b.lim = lim;
  b.path = path;
  b.data = data;
  b.len = len;
  b.d = d;
  b.stack = td_calloc(lim->max_depth + 1, sizeof(*b.stack));
  parse_events(&b);
  while (b.depth > 0)
    frame_release(&b, &b.stack[--b.depth]);
  free(b.stack);
  free(b.kids);
  free(b.anchors);
  if (b.failed)
    return -1;
  if (!b.root) {
    static const yaml_mark_t start = {0, 0, 0};

    b.root = node_new(&b, YNODE_SCALAR, &start);
    b.root->scalar = YS_NULL;
    b.root->u.scalar.s = "";
  }
  *root = b.root;
  return 0;
}

struct ynode *ymap_get(const struct ynode *m, const char *key)
{
  if (!m || m->type != YNODE_MAP)
    return NULL;
  for (uint32_t i = 0; i < m->u.coll.n; i++)
    if (strcmp(ymap_key(m, i)->u.scalar.s, key) == 0)
      return ymap_value(m, i);
  return NULL;
}

void yaml_diag_add(struct diag_list *d, const char *path, uint32_t line,
                   uint32_t col, const char *msg)
{
  /* Room for a 255-byte file name escaped whole, and a message that
   * diag_add() does not cut. */
  char p[1100], m[1000];

  yaml_text_escape(p, sizeof(p), path, strlen(path));
  yaml_text_escape(m, sizeof(m), msg, strlen(msg));
  diag_add(d, p, line, col, "%s", m);
}

const char *ynode_kind_name(const struct ynode *n)
{
  if (n->type == YNODE_MAP)
    return "a mapping";
  if (n->type == YNODE_SEQ)
    return "a list";
  switch ((enum yscalar)n->scalar) {
  case YS_NULL:
    return "null";
  case YS_BOOL:
    return "a boolean";
  case YS_INT:
    return "an integer";
  case YS_FLOAT:
    return "a number";
  case YS_STR:
    break;
  }
  return "a string";
}
