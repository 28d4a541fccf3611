#include "base/compat.h"

#include "base/strutil.h"

#include <math.h>
#include <stdio.h>

#include "suites.h"
#include "manifest/yamltree.h"

static const struct yaml_limits limits = YAML_LIMITS_DEFAULT;

/* Parses `text`; on failure *msg holds "line:col: message" (static). */
static struct ynode *parse(struct arena *a, const char *text, size_t len,
                           const char **msg)
{
  static char buf[1024];
  struct diag_list d = DIAG_LIST_INIT;
  struct ynode *root = NULL;
  int rc = yaml_parse(a, &limits, "f.yaml", text, len, &root, &d);

  buf[0] = '\0';
  if (rc < 0) {
    ck_assert_uint_eq(d.n, 1);
    snprintf(buf, sizeof(buf), "%u:%u: %s", d.v[0].line, d.v[0].col,
             d.v[0].msg);
    ck_assert_ptr_null(root);
  } else {
    ck_assert_uint_eq(d.n, 0);
    ck_assert_ptr_nonnull(root);
  }
  diag_list_release(&d);
  if (msg)
    *msg = buf;
  return root;
}

static struct ynode *parse_ok(struct arena *a, const char *text)
{
  const char *msg;
  struct ynode *n = parse(a, text, strlen(text), &msg);

  ck_assert_msg(n != NULL, "unexpected failure: %s", msg);
  return n;
}

static const char *parse_fail(struct arena *a, const char *text, size_t len)
{
  const char *msg;
  struct ynode *n = parse(a, text, len, &msg);

  ck_assert_msg(n == NULL, "expected a failure for %s", text);
  return msg;
}

START_TEST(scalars_follow_core_schema)
{
  static const struct {
    const char *text;
    enum yscalar kind;
  } cases[] = {
      {"a: 8080", YS_INT},
      {"a: -12", YS_INT},
      {"a: 0x2a", YS_INT},
      {"a: 0o17", YS_INT},
      {"a: 1.5", YS_FLOAT},
      {"a: 1e3", YS_FLOAT},
      {"a: .inf", YS_FLOAT},
      {"a: -.Inf", YS_FLOAT},
      {"a: .nan", YS_FLOAT},
      {"a: true", YS_BOOL},
      {"a: FALSE", YS_BOOL},
      {"a: yes", YS_STR},
      {"a: no", YS_STR},
      {"a: on", YS_STR},
      {"a: ~", YS_NULL},
      {"a: null", YS_NULL},
      {"a:", YS_NULL},
      {"a: '8080'", YS_STR},
      {"a: \"true\"", YS_STR},
      {"a: 2026-01-31", YS_STR},
      {"a: 1.2.3", YS_STR},
      {"a: 0x", YS_STR},
      {"a: 12abc", YS_STR},
      {"a: !!str 42", YS_STR},
      {"a: +7", YS_INT},
      {"a: .5", YS_FLOAT},
      {"a: 99999999999999999999", YS_FLOAT},
      {"a: 0o1000000000000000000000", YS_FLOAT},
      {"a: 0x8000000000000000", YS_FLOAT},
      {"a: !!int 42", YS_INT},
      {"a: !!float 4", YS_FLOAT},
      {"a: !!bool true", YS_BOOL},
      {"a: !!null ~", YS_NULL},
      {"a: !!str true", YS_STR},
      {"a: ! 42", YS_STR},
  };
  struct arena a = ARENA_INIT;

  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    struct ynode *root = parse_ok(&a, cases[i].text);
    struct ynode *v = ymap_get(root, "a");

    ck_assert_ptr_nonnull(v);
    ck_assert_msg(v->scalar == cases[i].kind, "%s: got kind %d, want %d",
                  cases[i].text, v->scalar, cases[i].kind);
  }
  ck_assert_int_eq(ymap_get(parse_ok(&a, "a: 0x2a"), "a")->u.scalar.v.i, 42);
  ck_assert_int_eq(ymap_get(parse_ok(&a, "a: 0o17"), "a")->u.scalar.v.i, 15);
  ck_assert(isinf(ymap_get(parse_ok(&a, "a: -.inf"), "a")->u.scalar.v.f));
  /* Past INT64_MAX, 8^21 and 16^15 * 8 are both 2^63, not 0. */
  ck_assert(ymap_get(parse_ok(&a, "a: 0o1000000000000000000000"), "a")
                ->u.scalar.v.f == ldexp(1, 63));
  ck_assert(
      ymap_get(parse_ok(&a, "a: 0x8000000000000000"), "a")->u.scalar.v.f ==
      ldexp(1, 63));
  ck_assert(ymap_get(parse_ok(&a, "a: True"), "a")->u.scalar.v.b);
  arena_release(&a);
}
END_TEST

/* A plain scalar is a string at once unless its first character can
 * start a null, a boolean or a number; those that can still resolve by
 * the whole text. */
START_TEST(first_character_decides_only_strings)
{
  static const struct {
    const char *text;
    enum yscalar kind;
  } cases[] = {
      {"a: Null", YS_NULL},   {"a: NULL", YS_NULL},   {"a: True", YS_BOOL},
      {"a: TRUE", YS_BOOL},   {"a: false", YS_BOOL},  {"a: False", YS_BOOL},
      {"a: +.inf", YS_FLOAT}, {"a: .INF", YS_FLOAT},  {"a: .NaN", YS_FLOAT},
      {"a: .NAN", YS_FLOAT},  {"a: 0", YS_INT},       {"a: -0x1", YS_STR},
      {"a: 9.", YS_FLOAT},    {"a: -1E-3", YS_FLOAT}, {"a: nullable", YS_STR},
      {"a: Nil", YS_STR},     {"a: tru", YS_STR},     {"a: Trueish", YS_STR},
      {"a: f", YS_STR},       {"a: FALSEY", YS_STR},  {"a: ~x", YS_STR},
      {"a: +", YS_STR},       {"a: -x", YS_STR},      {"a: .", YS_STR},
      {"a: .5x", YS_STR},     {"a: x1", YS_STR},      {"a: Y", YS_STR},
      {"a: inf", YS_STR},     {"a: nan", YS_STR},     {"a: é1", YS_STR},
      {"a: _1", YS_STR},      {"a: $1", YS_STR},      {"a: api", YS_STR},
  };
  struct arena a = ARENA_INIT;

  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    struct ynode *v = ymap_get(parse_ok(&a, cases[i].text), "a");

    ck_assert_ptr_nonnull(v);
    ck_assert_msg(v->scalar == cases[i].kind, "%s: got kind %d, want %d",
                  cases[i].text, v->scalar, cases[i].kind);
  }
  /* Keys resolve too: a key "true" is a boolean, "name" a string. */
  ck_assert_int_eq(ymap_key(parse_ok(&a, "true: 1\nname: 2"), 0)->scalar,
                   YS_BOOL);
  ck_assert_int_eq(ymap_key(parse_ok(&a, "true: 1\nname: 2"), 1)->scalar,
                   YS_STR);
  arena_release(&a);
}
END_TEST

START_TEST(positions_are_one_based_characters)
{
  struct arena a = ARENA_INIT;
  /* "é" is two bytes but one column. */
  struct ynode *root = parse_ok(&a, "# c\nk: é\nm:\n  - x: 1\n    y: [a, b]\n");
  struct ynode *m = ymap_get(root, "m");
  struct ynode *item = m->u.coll.v[0];
  struct ynode *y = ymap_get(item, "y");

  ck_assert_uint_eq(root->line, 2);
  ck_assert_uint_eq(root->col, 1);
  ck_assert_uint_eq(ymap_get(root, "k")->col, 4);
  ck_assert_uint_eq(item->line, 4);
  ck_assert_uint_eq(item->col, 5);
  ck_assert_uint_eq(y->line, 5);
  ck_assert_uint_eq(y->col, 8);
  ck_assert_uint_eq(y->u.coll.v[1]->col, 12);
  ck_assert_str_eq(parse_fail(&a, "k: é\nk: \xff\n", 10), "2:4: invalid UTF-8");
  arena_release(&a);
}
END_TEST

START_TEST(duplicate_keys_fail_at_the_second)
{
  struct arena a = ARENA_INIT;
  const char *text = "a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\n";

  ck_assert_str_eq(parse_fail(&a, text, strlen(text)),
                   "5:3: duplicate key 'x' (first at line 3, column 3)");
  arena_release(&a);
}
END_TEST

/*
 * Mappings of any size keep their pairs in order, and a repeated key is
 * reported at its second place whatever the size (small mappings are
 * checked without sorting); with two keys repeated, the one first in
 * byte order is reported, as the sorting check always did.
 */
START_TEST(mappings_of_every_size_keep_order_and_find_repeats)
{
  struct arena a = ARENA_INIT;
  char text[1024], want[128];

  for (size_t n = 1; n <= 20; n++) {
    size_t len = 0;
    struct ynode *root;

    for (size_t i = 0; i < n; i++)
      len += (size_t)sprintf(text + len, "k%02zu: %zu\n", n - i, i);
    root = parse_ok(&a, text);
    ck_assert_uint_eq(root->u.coll.n, n);
    for (size_t i = 0; i < n; i++) {
      char key[24];

      snprintf(key, sizeof(key), "k%02zu", n - i);
      ck_assert_str_eq(ymap_key(root, (uint32_t)i)->u.scalar.s, key);
      ck_assert_int_eq(ymap_value(root, (uint32_t)i)->u.scalar.v.i, (int)i);
    }
    for (size_t dup = 0; dup < n; dup++) {
      size_t at = len;

      at += (size_t)sprintf(text + at, "k%02zu: again\n", n - dup);
      snprintf(want, sizeof(want),
               "%zu:1: duplicate key 'k%02zu' (first at line %zu, column 1)",
               n + 1, n - dup, dup + 1);
      ck_assert_str_eq(parse_fail(&a, text, at), want);
    }
    arena_reset(&a);
  }
  ck_assert_str_eq(parse_fail(&a, "b: 1\na: 1\nb: 2\na: 2\n", 20),
                   "4:1: duplicate key 'a' (first at line 2, column 1)");
  arena_release(&a);
}
END_TEST

START_TEST(many_keys_are_checked_in_n_log_n)
{
  struct arena a = ARENA_INIT;
  size_t n = 60000, len = 0;
  char *text = td_malloc(n * 16);

  for (size_t i = 0; i < n; i++)
    len += (size_t)sprintf(text + len, "k%zu: %zu\n", i, i);
  len += (size_t)sprintf(text + len, "k7: dup\n");
  ck_assert_str_eq(parse_fail(&a, text, len),
                   "60001:1: duplicate key 'k7' (first at line 8, column 1)");
  free(text);
  arena_release(&a);
}
END_TEST

START_TEST(merge_keys_fill_in_what_is_missing)
{
  struct arena a = ARENA_INIT;
  struct ynode *root = parse_ok(&a, "base: &b {x: 1, y: 2}\n"
                                    "more: &m {y: 9, z: 3}\n"
                                    "out:\n"
                                    "  <<: [*b, *m]\n"
                                    "  x: 7\n");
  struct ynode *out = ymap_get(root, "out");

  ck_assert_uint_eq(out->u.coll.n, 3);
  ck_assert_int_eq(ymap_get(out, "x")->u.scalar.v.i, 7); /* explicit wins */
  ck_assert_int_eq(ymap_get(out, "y")->u.scalar.v.i, 2); /* earlier source */
  ck_assert_int_eq(ymap_get(out, "z")->u.scalar.v.i, 3);
  ck_assert_ptr_null(ymap_get(out, "<<"));
  ck_assert_str_eq(parse_fail(&a, "a: &a 1\nb:\n  <<: *a\n", 20),
                   "3:3: a merge key ('<<') takes a mapping or a list of "
                   "mappings");
  arena_release(&a);
}
END_TEST

START_TEST(only_a_plain_merge_key_merges)
{
  /* YAML merges on the plain key alone: a quoted "<<", or one tagged a
   * string, is an ordinary key holding its value, never expanded. */
  static const char *const texts[] = {
      "base: &b {x: 1}\nout:\n  \"<<\": *b\n",
      "base: &b {x: 1}\nout:\n  '<<': *b\n",
      "base: &b {x: 1}\nout:\n  !!str <<: *b\n",
      "base: &b {x: 1}\nout: {\"<<\": *b}\n",
  };

  for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
    struct arena a = ARENA_INIT;
    struct ynode *out = ymap_get(parse_ok(&a, texts[i]), "out");
    const struct ynode *v = ymap_get(out, "<<");

    ck_assert_msg(v != NULL, "case %zu: the key is gone", i);
    ck_assert_uint_eq(out->u.coll.n, 1);
    ck_assert_ptr_null(ymap_get(out, "x"));
    ck_assert_int_eq(v->type, YNODE_MAP);
    arena_release(&a);
  }
}
END_TEST

START_TEST(aliases_share_and_bombs_fail_fast)
{
  struct arena a = ARENA_INIT;
  struct ynode *root = parse_ok(&a, "hc: &hc {path: /health}\n"
                                    "a: *hc\nb: *hc\n");
  char bomb[2048];
  size_t len = 0;

  ck_assert_ptr_eq(ymap_get(root, "a"), ymap_get(root, "b"));
  len += (size_t)sprintf(bomb + len, "l0: &l0 [lol, lol, lol, lol, lol, lol, "
                                     "lol, lol, lol, lol]\n");
  for (int i = 1; i < 10; i++) {
    len += (size_t)sprintf(bomb + len, "l%d: &l%d [", i, i);
    for (int k = 0; k < 10; k++)
      len += (size_t)sprintf(bomb + len, "%s*l%d", k ? ", " : "", i - 1);
    len += (size_t)sprintf(bomb + len, "]\n");
  }
  ck_assert_str_eq(parse_fail(&a, bomb, len),
                   "4:45: alias expansion exceeds 10000 nodes (an alias "
                   "bomb?)");
  /* Bounded memory: the arena never held more than the real nodes. */
  ck_assert_uint_lt(a.total, 64 * 1024);
  ck_assert_str_eq(parse_fail(&a, "a: *nope\n", 9),
                   "1:4: undefined alias 'nope'");
  arena_release(&a);
}
END_TEST

/* A NUL or a bad byte after long ASCII runs is found where it is. */
START_TEST(bad_bytes_found_after_ascii_runs)
{
  static const char nul[] = "abcdefghij: klmnopqrstuvwxyz\n"
                            "second-line: 0123456789abc\0def\n";
  static const char bad[] = "abcdefghij: klmnopqrstuvwxyz\n"
                            "ok: \xc3\xa9t\xc3\xa9 and more ascii text\n"
                            "third: abcdefghijklmnop\xff\n";
  struct arena a = ARENA_INIT;
  const char *msg = parse_fail(&a, nul, sizeof(nul) - 1);

  ck_assert_str_eq(msg, "2:27: binary file (NUL byte)");
  msg = parse_fail(&a, bad, sizeof(bad) - 1);
  ck_assert_msg(strncmp(msg, "3:24: ", 6) == 0, "got %s", msg);
  ck_assert_ptr_nonnull(parse_ok(&a, "k: \xc3\xa9t\xc3\xa9 \xe2\x82\xac "
                                     "0123456789\n"));
  arena_release(&a);
}
END_TEST

/* Anchors by the hundred resolve, each to its own node, up to the cap;
 * one more is refused. */
START_TEST(many_anchors_up_to_the_cap)
{
  struct yaml_limits lim = YAML_LIMITS_DEFAULT;
  struct diag_list d = DIAG_LIST_INIT;
  struct arena a = ARENA_INIT;
  struct ynode *root = NULL;
  size_t cap = 300 * 32, len = 0;
  char *text = td_malloc(cap);

  lim.max_anchors = 200;
  for (int i = 0; i < 200; i++)
    len += (size_t)snprintf(text + len, cap - len, "a%d: &x%d %d\n", i, i, i);
  for (int i = 0; i < 200; i += 7)
    len += (size_t)snprintf(text + len, cap - len, "b%d: *x%d\n", i, i);
  ck_assert_int_eq(yaml_parse(&a, &lim, "f.yaml", text, len, &root, &d), 0);
  for (int i = 0; i < 200; i += 7) {
    char ak[16], bk[16];

    snprintf(ak, sizeof(ak), "a%d", i);
    snprintf(bk, sizeof(bk), "b%d", i);
    ck_assert_ptr_eq(ymap_get(root, ak), ymap_get(root, bk));
    ck_assert_int_eq(ymap_get(root, bk)->u.scalar.v.i, i);
  }
  len += (size_t)snprintf(text + len, cap - len, "c: &one more\n");
  root = NULL;
  ck_assert_int_eq(yaml_parse(&a, &lim, "f.yaml", text, len, &root, &d), -1);
  ck_assert_uint_eq(d.n, 1);
  ck_assert_str_eq(d.v[0].msg, "more than 200 anchors in one file");
  diag_list_release(&d);
  arena_release(&a);
  free(text);
}
END_TEST

START_TEST(hostile_input_is_refused)
{
  struct arena a = ARENA_INIT;
  char deep[400];
  size_t len = 0;
  char *big;

  for (int i = 0; i < 70; i++)
    deep[len++] = '[';
  for (int i = 0; i < 70; i++)
    deep[len++] = ']';
  deep[len] = '\0';
  ck_assert_str_eq(parse_fail(&a, deep, len),
                   "1:65: nesting deeper than 64 levels");

  big = td_malloc(limits.max_bytes + 1);
  memset(big, 'a', limits.max_bytes + 1);
  ck_assert_str_eq(parse_fail(&a, big, limits.max_bytes + 1),
                   "1:1: file is larger than 1048576 bytes");
  free(big);

  ck_assert_str_eq(parse_fail(&a, "a: 1\n\0b: 2\n", 11),
                   "2:1: binary file (NUL byte)");
  ck_assert_str_eq(parse_fail(&a,
                              "\xff\xfe"
                              "a\0:\0",
                              6),
                   "1:1: UTF-16 is not supported; save the file as UTF-8");
  ck_assert_str_eq(parse_fail(&a, "a: \xc0\xaf\n", 6), "1:4: invalid UTF-8");
  ck_assert_str_eq(parse_fail(&a, "a: \xe0\x80\xaf\n", 7),
                   "1:4: invalid UTF-8 (overlong or surrogate)");
  ck_assert_str_eq(parse_fail(&a, "a: \xed\xa0\x80\n", 7),
                   "1:4: invalid UTF-8 (overlong or surrogate)");
  ck_assert_str_eq(parse_fail(&a, "a: \xe2\x82", 5),
                   "1:4: invalid UTF-8 (truncated sequence)");
  ck_assert_str_eq(parse_fail(&a, "a: \x01\n", 5),
                   "1:4: control characters are not allowed");
  ck_assert_str_eq(parse_fail(&a, "a: 1\n---\nb: 2\n", 14),
                   "2:1: more than one YAML document in the file");
  ck_assert_str_eq(parse_fail(&a, "a: !custom 1\n", 13),
                   "1:4: unsupported YAML tag '!custom'");
  ck_assert_str_eq(parse_fail(&a, "a: !!int x\n", 11),
                   "1:4: 'x' is not a valid !!int");
  ck_assert_str_eq(parse_fail(&a, "? [a]\n: 1\n", 10),
                   "1:3: mapping keys must be scalars");
  arena_release(&a);
}
END_TEST

START_TEST(syntax_errors_point_where_the_parser_stopped)
{
  struct arena a = ARENA_INIT;

  ck_assert_str_eq(parse_fail(&a, "a: [1, 2\n", 9),
                   "2:1: YAML syntax: did not find expected ',' or ']' while "
                   "parsing a flow sequence (line 1, column 4)");
  ck_assert_str_eq(parse_fail(&a, "a:\n\tb: 1\n", 9),
                   "2:1: YAML syntax: found character that cannot start any "
                   "token while scanning for the next token (line 2, column "
                   "1)");
  arena_release(&a);
}
END_TEST

START_TEST(empty_and_bom_documents)
{
  struct arena a = ARENA_INIT;
  struct ynode *n = parse_ok(&a, "");

  ck_assert_int_eq(n->type, YNODE_SCALAR);
  ck_assert_int_eq(n->scalar, YS_NULL);
  n = parse_ok(&a, "# only a comment\n");
  ck_assert_int_eq(n->scalar, YS_NULL);
  n = parse_ok(&a, "\xef\xbb\xbf"
                   "a: 1\n");
  ck_assert_uint_eq(ymap_get(n, "a")->col, 4);
  n = parse_ok(&a, "a: 1\r\nb: 2\r\n");
  ck_assert_uint_eq(ymap_get(n, "b")->line, 2);
  arena_release(&a);
}
END_TEST

/* Fails `text` (a C string) and returns "line:col: message". */
static const char *fail_text(struct arena *a, const char *text)
{
  return parse_fail(a, text, strlen(text));
}

START_TEST(nul_in_a_scalar_is_refused_where_it_is_written)
{
  struct arena a = ARENA_INIT;
  struct ynode *n;

  /* Every escape that writes a NUL, in values and keys: at the escape. */
  ck_assert_str_eq(fail_text(&a, "a: \"x\\0y\"\n"),
                   "1:6: a NUL character ('\\0') is not allowed in a key or "
                   "value");
  ck_assert_str_eq(fail_text(&a, "name: \"mwc-murata\\0/../x\"\n"),
                   "1:18: a NUL character ('\\0') is not allowed in a key or "
                   "value");
  ck_assert_str_eq(fail_text(&a, "\"k\\x00\": 1\n"),
                   "1:3: a NUL character ('\\x00') is not allowed in a key or "
                   "value");
  ck_assert_str_eq(fail_text(&a, "a: [\"\xc3\xa9\", \"\\u0000\"]\n"),
                   "1:11: a NUL character ('\\u0000') is not allowed in a key "
                   "or value");
  ck_assert_str_eq(fail_text(&a, "a: &x !!str \"\\\"\\U00000000\"\n"),
                   "1:16: a NUL character ('\\U00000000') is not allowed in a "
                   "key or value");
  /* A double-quoted scalar over two lines: the escape's line and column. */
  ck_assert_str_eq(fail_text(&a, "a: \"one\n  two \\0\"\n"),
                   "2:7: a NUL character ('\\0') is not allowed in a key or "
                   "value");
  /* A raw NUL byte never reaches the parser. */
  ck_assert_str_eq(parse_fail(&a, "a: \"x\0y\"\n", 9),
                   "1:6: binary file (NUL byte)");
  /* In single quotes a backslash is a backslash; other escapes are fine. */
  n = parse_ok(&a, "a: 'x\\0y'\n");
  ck_assert_uint_eq(ymap_get(n, "a")->u.scalar.len, 4);
  n = parse_ok(&a, "a: \"\\x01\\u00e9\\\\0\"\n");
  ck_assert_str_eq(ymap_get(n, "a")->u.scalar.s, "\x01\xc3\xa9\\0");
  arena_release(&a);
}
END_TEST

START_TEST(a_tag_that_decodes_a_nul_is_refused)
{
  struct arena a = ARENA_INIT;
  struct ynode *n;

  /* libyaml hands a tag over as a C string: "!!int%00x" would be !!int. */
  ck_assert_str_eq(fail_text(&a, "a: !!int%00x 5\n"),
                   "1:9: a YAML tag may not contain a NUL byte ('%00')");
  ck_assert_str_eq(fail_text(&a, "a: &x !!str%00 b\n"),
                   "1:12: a YAML tag may not contain a NUL byte ('%00')");
  ck_assert_str_eq(
      fail_text(&a, "a: [\xc3\xa9, !<tag:yaml.org,2002:str%00> b]\n"),
      "1:31: a YAML tag may not contain a NUL byte ('%00')");
  ck_assert_str_eq(fail_text(&a, "a: !!map%00\n  b: 1\n"),
                   "1:9: a YAML tag may not contain a NUL byte ('%00')");
  ck_assert_str_eq(fail_text(&a, "a: !!seq%00 [1]\n"),
                   "1:9: a YAML tag may not contain a NUL byte ('%00')");
  ck_assert_str_eq(fail_text(&a, "%TAG !e! tag:yaml.org,2002:%00\n---\n"
                                 "a: !e!str b\n"),
                   "1:28: a %TAG directive may not contain a NUL byte ('%00')");
  /* "%00" outside a tag is text. */
  n = parse_ok(&a, "a: !!str &x b%00\n");
  ck_assert_str_eq(ymap_get(n, "a")->u.scalar.s, "b%00");
  n = parse_ok(&a, "%TAG !e! tag:yaml.org,2002: # 100%00\n---\n"
                   "a: !e!str \"%00\"\n");
  ck_assert_str_eq(ymap_get(n, "a")->u.scalar.s, "%00");
  arena_release(&a);
}
END_TEST

/* Whether `s` is UTF-8 without control characters, C1 ones included. */
static bool is_clean_text(const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t len = strlen(s);

  for (size_t i = 0; i < len;) {
    size_t n = str_utf8_seq(p + i, len - i);

    if (n == 0 || p[i] < 0x20 || p[i] == 0x7F ||
        (p[i] == 0xC2 && p[i + 1] <= 0x9F))
      return false;
    i += n;
  }
  return true;
}

START_TEST(text_for_messages_is_clean_utf8)
{
  struct arena a = ARENA_INIT;
  char out[32];
  const char *msg;

  ck_assert_str_eq(yaml_text_escape(out, sizeof(out), "ok \xc3\xa9", 5),
                   "ok \xc3\xa9");
  ck_assert_str_eq(yaml_text_escape(out, sizeof(out), "a\xff\xfe\n\x1b[0", 7),
                   "a\\xff\\xfe\\x0a\\x1b[0");
  ck_assert_str_eq(
      yaml_text_escape(out, sizeof(out), "\xc0\xaf\xed\xa0\x80", 5),
      "\\xc0\\xaf\\xed\\xa0\\x80");
  /* C1 controls and bidirectional overrides do not print as themselves. */
  ck_assert_str_eq(yaml_text_escape(out, sizeof(out),
                                    "\xc2\x9b"
                                    "a\xe2\x80\xae",
                                    6),
                   "\\u009ba\\u202e");
  ck_assert_str_eq(yaml_text_escape(out, sizeof(out), "a\0b", 3), "a\\x00b");
  /* Cut between characters, never inside one. */
  ck_assert_str_eq(yaml_text_escape(out, 16,
                                    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                    "\xc3\xa9\xc3\xa9",
                                    12),
                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...");
  ck_assert(is_clean_text(out));
  /* What the parser says about a value quotes it clean. */
  msg = fail_text(&a, "\"a\\nb\\e[31m\": 1\n\"a\\nb\\e[31m\": 2\n");
  ck_assert_str_eq(msg, "2:1: duplicate key 'a\\x0ab\\x1b[31m' (first at "
                        "line 1, column 1)");
  ck_assert(is_clean_text(msg));
  msg = fail_text(&a, "a: !!int \"\\u202e\\x85\"\n");
  ck_assert_str_eq(msg, "1:4: '\\u202e\\u0085' is not a valid !!int");
  arena_release(&a);
}
END_TEST

Suite *make_suite_yamltree(void)
{
  Suite *s = suite_create("yamltree");
  TCase *tc = tcase_create("parse");

  tcase_add_test(tc, scalars_follow_core_schema);
  tcase_add_test(tc, first_character_decides_only_strings);
  tcase_add_test(tc, positions_are_one_based_characters);
  tcase_add_test(tc, duplicate_keys_fail_at_the_second);
  tcase_add_test(tc, mappings_of_every_size_keep_order_and_find_repeats);
  tcase_add_test(tc, many_keys_are_checked_in_n_log_n);
  tcase_add_test(tc, merge_keys_fill_in_what_is_missing);
  tcase_add_test(tc, only_a_plain_merge_key_merges);
  tcase_add_test(tc, aliases_share_and_bombs_fail_fast);
  tcase_add_test(tc, many_anchors_up_to_the_cap);
  tcase_add_test(tc, bad_bytes_found_after_ascii_runs);
  tcase_add_test(tc, hostile_input_is_refused);
  tcase_add_test(tc, syntax_errors_point_where_the_parser_stopped);
  tcase_add_test(tc, empty_and_bom_documents);
  tcase_add_test(tc, nul_in_a_scalar_is_refused_where_it_is_written);
  tcase_add_test(tc, a_tag_that_decodes_a_nul_is_refused);
  tcase_add_test(tc, text_for_messages_is_clean_utf8);
  tcase_set_timeout(tc, 30);
  suite_add_tcase(s, tc);
  return s;
}
