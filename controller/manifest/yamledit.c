/*
 * yamledit.c - see yamledit.h.
 *
 * The edit is made on the text and proven on the tree: the text is cut
 * at byte offsets computed from yamltree's line and column (characters),
 * and the result must parse to the old tree with only the edited pair
 * different.  So whatever this file gets wrong about YAML's grammar ends
 * in a refusal, never in a changed meaning elsewhere in the file.
 */
#include "base/compat.h"

#include <stdio.h>

#include "base/arena.h"
#include "base/error.h"
#include "manifest/yamledit.h"

#define KEY_MAX 128

struct step {
  char key[KEY_MAX];
  char item[KEY_MAX]; /* "" when the step is a plain key */
};

struct path {
  struct step v[YAMLEDIT_MAX_STEPS];
  size_t n;
};

/* Where a path leads in one tree: the mapping holding the last key, and
 * the value under it (NULL when absent). */
struct place {
  struct ynode *parent;
  struct ynode *key; /* NULL when absent */
  struct ynode *value;
};

/* ---- paths ---- */

static bool word_ok(const char *s, size_t n)
{
  return n > 0 && n < KEY_MAX && !memchr(s, '[', n) && !memchr(s, ']', n);
}

/* "a.b[x].c" into steps; TD_EINVALID for anything else. */
static int path_parse(const char *text, struct path *p)
{
  const char *s = text;

  p->n = 0;
  while (*s) {
    size_t n = strcspn(s, ".");
    const char *open = memchr(s, '[', n);
    struct step *st = &p->v[p->n];

    if (p->n == YAMLEDIT_MAX_STEPS)
      return td_error_code(TD_EINVALID, "path '%.200s' is too long", text);
    if (open) {
      size_t k = (size_t)(open - s), in = n - k - 2;

      if (n < k + 3 || s[n - 1] != ']' || !word_ok(s, k) ||
          !word_ok(open + 1, in))
        return td_error_code(TD_EINVALID, "bad path '%.200s'", text);
      snprintf(st->key, KEY_MAX, "%.*s", (int)k, s);
      snprintf(st->item, KEY_MAX, "%.*s", (int)in, open + 1);
    } else {
      if (!word_ok(s, n))
        return td_error_code(TD_EINVALID, "bad path '%.200s'", text);
      snprintf(st->key, KEY_MAX, "%.*s", (int)n, s);
      st->item[0] = '\0';
    }
    p->n++;
    s += n;
    if (*s == '.' && !*++s)
      return td_error_code(TD_EINVALID, "bad path '%.200s'", text);
  }
  if (p->n == 0)
    return td_error_code(TD_EINVALID, "empty path");
  return 0;
}

/* The item of sequence `seq` whose "name" is `name`, or NULL. */
static struct ynode *item_named(const struct ynode *seq, const char *name)
{
  for (uint32_t i = 0; i < seq->u.coll.n; i++) {
    const struct ynode *n = ymap_get(seq->u.coll.v[i], "name");

    if (n && n->type == YNODE_SCALAR && strcmp(n->u.scalar.s, name) == 0)
      return seq->u.coll.v[i];
  }
  return NULL;
}

/* The pair `key` of mapping m: its key node and value, or NULL. */
static struct ynode *pair_key(const struct ynode *m, const char *key,
                              struct ynode **value)
{
  for (uint32_t i = 0; i < m->u.coll.n; i++)
    if (strcmp(ymap_key(m, i)->u.scalar.s, key) == 0) {
      *value = ymap_value(m, i);
      return ymap_key(m, i);
    }
  *value = NULL;
  return NULL;
}

static void set_at(struct src_pos *at, const struct ynode *n)
{
  if (at && n) {
    at->line = n->line;
    at->col = n->col;
  }
}

/* Follows p through the tree from root; TD_ENOTFOUND names the step. */
static int path_find(struct ynode *root, const struct path *p, struct place *pl,
                     struct src_pos *at)
{
  struct ynode *node = root;

  memset(pl, 0, sizeof(*pl));
  for (size_t i = 0; i < p->n; i++) {
    const struct step *st = &p->v[i];
    struct ynode *v;

    if (node->type != YNODE_MAP) {
      set_at(at, node);
      return td_error_code(TD_EINVALID, "'%s' is in %s, not in a mapping",
                           st->key, ynode_kind_name(node));
    }
    pl->parent = node;
    pl->key = pair_key(node, st->key, &v);
    pl->value = v;
    if (i + 1 == p->n && !st->item[0])
      return 0;
    if (!v) {
      set_at(at, node);
      return td_error_code(TD_ENOTFOUND, "no '%s' here", st->key);
    }
    if (st->item[0]) {
      struct ynode *item;

      if (v->type != YNODE_SEQ) {
        set_at(at, v);
        return td_error_code(TD_EINVALID, "'%s' is %s, not a list", st->key,
                             ynode_kind_name(v));
      }
      item = item_named(v, st->item);
      if (!item) {
        set_at(at, pl->key);
        return td_error_code(TD_ENOTFOUND, "%s has no item named '%s'", st->key,
                             st->item);
      }
      v = item;
    }
    node = v;
  }
  /* The last step named a list item: it is the value itself. */
  return td_error_code(TD_EINVALID, "a path must end in a key");
}

/* ---- text positions ---- */

static size_t bom_len(const char *t, size_t len)
{
  return len >= 3 && memcmp(t, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

/* The byte offset of (line, col), both 1-based, col in characters. */
static size_t offset_of(const char *t, size_t len, uint32_t line, uint32_t col)
{
  size_t i = bom_len(t, len);
  uint32_t l = 1, c = 1;

  while (i < len && l < line) {
    if (t[i] == '\n')
      l++;
    i++;
  }
  while (i < len && c < col && t[i] != '\n') {
    i++;
    while (i < len && ((unsigned char)t[i] & 0xC0) == 0x80)
      i++;
    c++;
  }
  return i;
}

/*
 * The bytes the scalar `n` is written in, from `off`: to *end, its quote
 * style in *style ('"', '\'' or 'p' for plain).  TD_EINVALID when the
 * scalar is not written there as one piece this file can replace.
 */
static int scalar_extent(const char *t, size_t len, size_t off,
                         const struct ynode *n, size_t *end, char *style)
{
  size_t i = off + 1;

  if (off >= len || n->type != YNODE_SCALAR)
    return td_error_code(TD_EINVALID, "the value is not a scalar");
  switch (t[off]) {
  case '&':
  case '*':
  case '!':
    return td_error_code(TD_EINVALID, "the value has an anchor, an alias "
                                      "or a tag");
  case '|':
  case '>':
    return td_error_code(TD_EINVALID, "the value is a block scalar");
  case '"':
    while (i < len && t[i] != '"')
      i += t[i] == '\\' ? 2 : 1;
    break;
  case '\'':
    while (i < len && (t[i] != '\'' || (i + 1 < len && t[i + 1] == '\'')))
      i += t[i] == '\'' ? 2 : 1;
    break;
  default:
    if (n->u.scalar.len == 0 || n->u.scalar.len > len - off ||
        memcmp(t + off, n->u.scalar.s, n->u.scalar.len) != 0)
      return td_error_code(TD_EINVALID, "the value is not written on one "
                                        "line as it reads");
    *end = off + n->u.scalar.len;
    *style = 'p';
    return 0;
  }
  if (i >= len)
    return td_error_code(TD_EINVALID, "an unterminated quoted value");
  *end = i + 1;
  *style = t[off];
  return 0;
}

/* ---- writing scalars ---- */

/* A string written plain that the core schema reads as another type. */
static bool looks_typed(const char *s)
{
  static const char *const words[] = {"null", "Null",  "NULL",  "true",  "True",
                                      "TRUE", "false", "False", "FALSE", NULL};

  for (size_t i = 0; words[i]; i++)
    if (strcmp(s, words[i]) == 0)
      return true;
  return false;
}

/* Whether `s` can be written plain and read back as the same string;
 * conservative (what it refuses is written quoted). */
static bool plain_safe(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > 1024 || looks_typed(s))
    return false;
  /* A digit first: plain only when some character rules out a number
   * (10.0.0.0/16, not 1.5 or 0x1F or 1e5). */
  if (s[0] >= '0' && s[0] <= '9' &&
      strspn(s, "0123456789abcdefABCDEFxXoO.+-_") == n)
    return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
        (s[0] >= '0' && s[0] <= '9') || s[0] == '_' || s[0] == '/'))
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];

    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || strchr("_./:@+-() ", c)))
      return false;
  }
  return s[n - 1] != ' ' && s[n - 1] != ':' && !strstr(s, ": ") &&
         !strstr(s, " #");
}

static void put_double_quoted(FILE *f, const char *s)
{
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if (*p < 0x20 || *p == 0x7F)
      fprintf(f, "\\x%02x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void put_single_quoted(FILE *f, const char *s)
{
  fputc('\'', f);
  for (const char *p = s; *p; p++) {
    if (*p == '\'')
      fputc('\'', f);
    fputc(*p, f);
  }
  fputc('\'', f);
}

static bool has_control(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7F)
      return true;
  return false;
}

/* A string in `style` ('p' plain when safe, '\'' or '"'). */
static void put_string(FILE *f, const char *s, char style)
{
  if (style == 'p' && plain_safe(s))
    fputs(s, f);
  else if (style == '\'' && !has_control(s))
    put_single_quoted(f, s);
  else
    put_double_quoted(f, s);
}

static char *render(const struct yamledit_value *v, char style)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  if (!f)
    abort();
  if (v->type == YS_BOOL)
    fputs(v->b ? "true" : "false", f);
  else if (v->type == YS_INT)
    fprintf(f, "%lld", (long long)v->i);
  else
    put_string(f, v->s, style);
  fclose(f);
  return buf;
}

/* ---- proving an edit on the tree ---- */

static bool scalar_equal(const struct ynode *a, const struct ynode *b)
{
  return a->scalar == b->scalar && a->u.scalar.len == b->u.scalar.len &&
         memcmp(a->u.scalar.s, b->u.scalar.s, a->u.scalar.len) == 0;
}

/* Whether a and b are the same document, but for the pair `skip` of the
 * mappings skip_a (in a) and skip_b (in b). */
static bool tree_equal(const struct ynode *a, const struct ynode *b,
                       const struct ynode *skip_a, const struct ynode *skip_b,
                       const char *skip, unsigned depth)
{
  uint32_t i = 0, j = 0;

  if (depth > 128 || a->type != b->type)
    return false;
  if (a->type == YNODE_SCALAR)
    return scalar_equal(a, b);
  if (a->type == YNODE_SEQ) {
    if (a->u.coll.n != b->u.coll.n)
      return false;
    for (i = 0; i < a->u.coll.n; i++)
      if (!tree_equal(a->u.coll.v[i], b->u.coll.v[i], skip_a, skip_b, skip,
                      depth + 1))
        return false;
    return true;
  }
  if ((a == skip_a) != (b == skip_b))
    return false;
  for (;;) {
    while (a == skip_a && i < a->u.coll.n &&
           strcmp(ymap_key(a, i)->u.scalar.s, skip) == 0)
      i++;
    while (b == skip_b && j < b->u.coll.n &&
           strcmp(ymap_key(b, j)->u.scalar.s, skip) == 0)
      j++;
    if (i == a->u.coll.n || j == b->u.coll.n)
      return i == a->u.coll.n && j == b->u.coll.n;
    if (!scalar_equal(ymap_key(a, i), ymap_key(b, j)) ||
        !tree_equal(ymap_value(a, i), ymap_value(b, j), skip_a, skip_b, skip,
                    depth + 1))
      return false;
    i++, j++;
  }
}

static bool value_is(const struct ynode *n, const struct yamledit_value *v)
{
  if (!n || n->type != YNODE_SCALAR || n->scalar != v->type)
    return false;
  if (v->type == YS_BOOL)
    return n->u.scalar.v.b == v->b;
  if (v->type == YS_INT)
    return n->u.scalar.v.i == v->i;
  return strcmp(n->u.scalar.s, v->s) == 0;
}

static int parse_tree(struct arena *a, const char *text, size_t len,
                      struct ynode **root)
{
  const struct yaml_limits lim = YAML_LIMITS_DEFAULT;
  struct diag_list d = DIAG_LIST_INIT;
  int rc = yaml_parse(a, &lim, "", text, len, root, &d);

  if (rc < 0)
    rc = td_error_code(TD_EINVALID, "%u:%u: %s", d.v[0].line, d.v[0].col,
                       d.v[0].msg);
  diag_list_release(&d);
  return rc;
}

/* Whether `text` is the old tree with only the value at the path set. */
static bool proven(const char *text, size_t len, const struct ynode *old_root,
                   const struct place *old, const struct path *p,
                   const struct yamledit_value *v)
{
  struct arena a = ARENA_INIT;
  struct ynode *root;
  struct place pl;
  bool ok =
      parse_tree(&a, text, len, &root) == 0 &&
      path_find(root, p, &pl, NULL) == 0 && value_is(pl.value, v) &&
      tree_equal(old_root, root, old->parent, pl.parent, p->v[p->n - 1].key, 0);

  arena_release(&a);
  td_error_clear();
  return ok;
}

/* ---- the edit ---- */

struct edit {
  const char *text;
  size_t len;
  size_t cut, cut_end;   /* bytes [cut, cut_end) are replaced */
  const char *pre, *sep; /* written before the key: indentation, ", " */
  const char *key;       /* NULL: replace the value alone */
  char style;
};

static char *splice(const struct edit *e, const struct yamledit_value *v,
                    char style, size_t *out_len)
{
  char *val = render(v, style), *buf = NULL;
  FILE *f = open_memstream(&buf, out_len);

  if (!f)
    abort();
  fwrite(e->text, 1, e->cut, f);
  if (e->key) {
    fputs(e->pre, f);
    put_string(f, e->key, 'p');
    fputs(e->sep, f);
  }
  fputs(val, f);
  fwrite(e->text + e->cut_end, 1, e->len - e->cut_end, f);
  fclose(f);
  free(val);
  return buf;
}

/* Where a new pair goes: after the last pair of the mapping whose value
 * is a scalar on its key's line, on a line of its own (block) or after a
 * comma (flow). */
static int plan_insert(struct edit *e, const struct place *pl, char *indent,
                       size_t cap)
{
  const struct ynode *m = pl->parent;

  for (uint32_t i = m->u.coll.n; i-- > 0;) {
    const struct ynode *k = ymap_key(m, i), *v = ymap_value(m, i);
    size_t koff, voff, vend, b;
    char style;

    if (v->type != YNODE_SCALAR || v->line != k->line)
      continue;
    koff = offset_of(e->text, e->len, k->line, k->col);
    voff = offset_of(e->text, e->len, v->line, v->col);
    if (scalar_extent(e->text, e->len, voff, v, &vend, &style) < 0 ||
        memchr(e->text + voff, '\n', vend - voff))
      continue;
    td_error_clear();
    b = koff;
    while (b > 0 && e->text[b - 1] == ' ')
      b--;
    if (b > 0 && (e->text[b - 1] == '{' || e->text[b - 1] == ',')) {
      e->cut = e->cut_end = vend;
      e->pre = ", ";
    } else {
      size_t eol = vend;
      bool crlf;

      while (eol < e->len && e->text[eol] != '\n')
        eol++;
      crlf = eol > vend && e->text[eol - 1] == '\r';
      if (k->col - 1 + 3 > cap)
        continue;
      snprintf(indent, cap, "%s%*s", crlf ? "\r\n" : "\n", (int)(k->col - 1),
               "");
      e->cut = e->cut_end = crlf ? eol - 1 : eol;
      e->pre = indent;
    }
    e->sep = ": ";
    e->style = 'p';
    return 0;
  }
  return td_error_code(TD_EINVALID,
                       "no place to add '%s' in place: the "
                       "mapping has no one-line value to put "
                       "it after",
                       e->key);
}

static int plan_replace(struct edit *e, const struct place *pl,
                        struct src_pos *at)
{
  size_t off = offset_of(e->text, e->len, pl->value->line, pl->value->col);

  set_at(at, pl->value);
  if (pl->value->type != YNODE_SCALAR)
    return td_error_code(TD_EINVALID, "the value is %s, not a scalar",
                         ynode_kind_name(pl->value));
  if (scalar_extent(e->text, e->len, off, pl->value, &e->cut_end, &e->style) <
      0)
    return TD_EINVALID;
  e->cut = off;
  e->key = NULL;
  return 0;
}

int yamledit_set(const char *text, size_t len, const char *path,
                 const struct yamledit_value *v, char **out, size_t *out_len,
                 struct src_pos *at)
{
  struct arena a = ARENA_INIT;
  struct edit e = {.text = text, .len = len};
  char indent[160];
  struct ynode *root;
  struct place pl;
  struct path p;
  int rc;

  *out = NULL;
  *out_len = 0;
  if (at)
    *at = (struct src_pos){0, 0};
  assert(v->type == YS_STR || v->type == YS_BOOL || v->type == YS_INT);
  rc = path_parse(path, &p);
  if (rc == 0)
    rc = parse_tree(&a, text, len, &root);
  if (rc == 0)
    rc = path_find(root, &p, &pl, at);
  if (rc < 0)
    goto out;
  if (value_is(pl.value, v)) {
    *out = td_strndup(text, len);
    *out_len = len;
    goto out;
  }
  e.key = p.v[p.n - 1].key;
  set_at(at, pl.parent);
  rc = pl.value ? plan_replace(&e, &pl, at)
                : plan_insert(&e, &pl, indent, sizeof(indent));
  if (rc < 0)
    goto out;
  /* The style chosen first, then double quotes, which read back as the
   * string they hold wherever a scalar may stand. */
  for (int attempt = 0; attempt < 2 && !*out; attempt++) {
    char style = attempt == 0 ? e.style : '"';

    *out = splice(&e, v, style, out_len);
    if (!proven(*out, *out_len, root, &pl, &p, v)) {
      free(*out);
      *out = NULL;
    }
  }
  if (!*out)
    rc = td_error_code(TD_EINVALID,
                       "cannot set %s in place without "
                       "changing anything else",
                       path);
out:
  arena_release(&a);
  return rc;
}

int yamledit_get(const char *text, size_t len, const char *path, char **out,
                 enum yscalar *type)
{
  struct arena a = ARENA_INIT;
  struct ynode *root;
  struct place pl;
  struct path p;
  int rc;

  *out = NULL;
  rc = path_parse(path, &p);
  if (rc == 0)
    rc = parse_tree(&a, text, len, &root);
  if (rc == 0)
    rc = path_find(root, &p, &pl, NULL);
  if (rc == 0 && !pl.value)
    rc = td_error_code(TD_ENOTFOUND, "%s is not set", path);
  if (rc == 0 && pl.value->type != YNODE_SCALAR)
    rc = td_error_code(TD_EINVALID, "%s is not a scalar", path);
  if (rc == 0) {
    *out = td_strndup(pl.value->u.scalar.s, pl.value->u.scalar.len);
    *type = (enum yscalar)pl.value->scalar;
  }
  arena_release(&a);
  return rc;
}

/* ---- JSON as YAML ---- */

static void emit(FILE *f, const json_t *j, int indent, bool inline_first);

static void emit_scalar(FILE *f, const json_t *j)
{
  char num[64];

  switch (json_typeof(j)) {
  case JSON_STRING:
    put_string(f, json_string_value(j), 'p');
    break;
  case JSON_INTEGER:
    fprintf(f, "%lld", (long long)json_integer_value(j));
    break;
  case JSON_REAL:
    snprintf(num, sizeof(num), "%.17g", json_real_value(j));
    /* 1e+20 and 3.5 read back as floats; 3 would be an integer. */
    fprintf(f, "%s%s", num, strpbrk(num, ".e") ? "" : ".0");
    break;
  case JSON_TRUE:
    fputs("true", f);
    break;
  case JSON_FALSE:
    fputs("false", f);
    break;
  default:
    fputs("null", f);
    break;
  }
}

static bool is_empty_coll(const json_t *j)
{
  return (json_is_object(j) && json_object_size(j) == 0) ||
         (json_is_array(j) && json_array_size(j) == 0);
}

/* What follows "key:" or "- ": a scalar on the line, or a collection. */
static void emit_value(FILE *f, const json_t *v, int indent, bool after_dash)
{
  if (is_empty_coll(v)) {
    fputs(json_is_object(v) ? " {}\n" : " []\n", f);
  } else if (json_is_object(v) || json_is_array(v)) {
    if (after_dash) {
      fputc(' ', f);
      emit(f, v, indent, true);
    } else {
      /* Lists under a key are indented too, as people write them. */
      fputc('\n', f);
      emit(f, v, indent, false);
    }
  } else {
    fputc(' ', f);
    emit_scalar(f, v);
    fputc('\n', f);
  }
}

/* A mapping or a list at `indent`; with inline_first, its first line
 * continues the line already started ("- "). */
static void emit(FILE *f, const json_t *j, int indent, bool inline_first)
{
  bool first = true;

  if (json_is_object(j)) {
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)j, key, v)
    {
      if (!(first && inline_first))
        fprintf(f, "%*s", indent, "");
      put_string(f, key, 'p');
      fputc(':', f);
      emit_value(f, v, indent + 2, false);
      first = false;
    }
  } else {
    size_t i;
    json_t *v;

    json_array_foreach(j, i, v)
    {
      if (!(first && inline_first))
        fprintf(f, "%*s", indent, "");
      fputc('-', f);
      emit_value(f, v, indent + 2, true);
      first = false;
    }
  }
}

char *yamledit_from_json(const json_t *doc)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  if (!f)
    abort();
  if (is_empty_coll(doc) || !(json_is_object(doc) || json_is_array(doc))) {
    if (is_empty_coll(doc))
      fputs(json_is_object(doc) ? "{}" : "[]", f);
    else
      emit_scalar(f, doc);
    fputc('\n', f);
  } else {
    emit(f, doc, 0, false);
  }
  fclose(f);
  return buf;
}
