/*
 * yamledit.h - changing one value of a YAML document in its text.
 *
 * A manifest a person wrote carries comments, blank lines, an order of
 * keys, a quoting style and an indentation that are theirs.  An edit made
 * through the API must leave all of it as it was: yamledit_set() rewrites
 * the bytes of one scalar at the position yamltree reports for it, or,
 * when the key is absent, adds one "key: value" next to its siblings
 * (a line of its own in a block mapping, ", key: value" in a flow one).
 * Then it parses the result and checks that the document is the old one
 * with exactly that value changed.  An edit it cannot make that way (a
 * value behind an anchor or alias, a tag, a block scalar, a scalar that
 * spans lines) is refused with a message, never made approximately.
 *
 * A path names a value by the keys leading to it and, in a list of
 * mappings, by the item's `name`:
 *
 *   spec.tier
 *   spec.environments[staging].apps[web].replicas
 *
 * Every step but the last must exist; the last may be absent (it is then
 * added).  Keys and names are plain words: no '.', '[' or ']'.
 *
 *   char *out;
 *   size_t out_len;
 *   struct src_pos at;
 *   struct yamledit_value v = {.type = YS_INT, .i = 3};
 *   rc = yamledit_set(text, len, "spec.tier", &v, &out, &out_len, &at);
 *   -- 0: out (malloc'd, NUL-terminated) is the new text, the caller's;
 *   -- TD_ENOTFOUND: a step is missing; TD_EINVALID: not an edit that can
 *      be made in place (td_error_last() says why, `at` where, line 0
 *      when nowhere in particular).
 *
 * yamledit_from_json() writes a JSON document as YAML (block style, keys
 * in their order), for documents that arrive as JSON.  Pure functions of
 * their input: any thread.
 */
#ifndef TD_YAMLEDIT_H
#define TD_YAMLEDIT_H

#include "base/compat.h"

#include <jansson.h>

#include "base/diag.h"
#include "manifest/yamltree.h"

/* The most steps a path may have. */
#define YAMLEDIT_MAX_STEPS 16

/* A scalar to write: a string, a boolean or an integer. */
struct yamledit_value {
  enum yscalar type; /* YS_STR, YS_BOOL or YS_INT */
  const char *s;     /* YS_STR: UTF-8 without NUL */
  bool b;
  int64_t i;
};

/*
 * Sets the value at `path` (see above).  A string keeps the quoting the
 * old value had when it can ('single', "double"), and is written plain
 * when that reads back as the same string, double-quoted otherwise.
 * Setting a value to what it is already returns a copy of the text.
 */
int yamledit_set(const char *text, size_t len, const char *path,
                 const struct yamledit_value *v, char **out, size_t *out_len,
                 struct src_pos *at);

/*
 * The scalar at `path` as written (its text, malloc'd, into *out) and its
 * type; TD_ENOTFOUND when a step or the value is absent, TD_EINVALID when
 * the value is not a scalar or the text does not parse.
 */
int yamledit_get(const char *text, size_t len, const char *path, char **out,
                 enum yscalar *type);

/* `doc` as a YAML document ending in a newline; malloc'd, the caller's. */
char *yamledit_from_json(const json_t *doc);

#endif
