/*
 * yamltree.h - one YAML document as a tree of positioned nodes.
 *
 * yaml_parse() turns the bytes of one file into a tree whose every node
 * knows its line and column.  It is the only place that talks to libyaml.
 * Scalars are typed by the YAML 1.2 core schema (what js-yaml and editors
 * use), so a plain `8080` is an integer and `yes` is a string.
 *
 * Hostile input is refused early, with a diagnostic and bounded memory:
 * files over `max_bytes`, invalid UTF-8, NUL bytes, nesting deeper than
 * `max_depth`, more than one document, and alias expansion past
 * `max_alias_nodes` ("billion laughs").  Aliases share the anchored node
 * instead of copying it; merge keys (`<<: *base`) are resolved.
 *
 * Every scalar is valid UTF-8 and holds no NUL, so its C string is all of
 * it: a NUL written as an escape ("a\0b") is refused at the escape, like
 * a raw one, and so is a tag or %TAG prefix that decodes one ("%00").
 * Diagnostics are valid UTF-8 without control characters, whatever the
 * input: what they quote goes through yaml_text_escape().
 *
 * Every node and string lives in the arena passed in; the tree is valid
 * until that arena is reset or released.  The bytes passed in are not
 * referenced after yaml_parse() returns.
 */
#ifndef TD_YAMLTREE_H
#define TD_YAMLTREE_H

#include "base/compat.h"

#include "base/arena.h"
#include "base/diag.h"

enum ynode_type { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

/* What a scalar resolved to. */
enum yscalar {
  YS_STR,
  YS_NULL,
  YS_BOOL,
  YS_INT,
  YS_FLOAT,
};

struct ynode {
  uint8_t type;   /* enum ynode_type */
  uint8_t scalar; /* enum yscalar, for YNODE_SCALAR */
  /* A plain, untagged `<<`: a merge key where it is a key.  A quoted
   * "<<" is an ordinary string. */
  bool merge;
  uint32_t line; /* 1-based */
  uint32_t col;  /* 1-based, characters */
  union {
    struct {
      const char *s; /* NUL-terminated text as written (unescaped) */
      uint32_t len;
      union {
        bool b;
        int64_t i;
        double f;
      } v;
    } scalar;
    struct {
      /* A sequence has n items; a mapping n pairs stored key, value. */
      struct ynode **v;
      uint32_t n;
    } coll;
  } u;
};

struct yaml_limits {
  size_t max_bytes;
  unsigned max_depth;
  uint64_t max_alias_nodes;
  unsigned max_anchors;
};

/* clang-format off */
#define YAML_LIMITS_DEFAULT_MAX_BYTES (1024 * 1024)
#define YAML_LIMITS_DEFAULT {YAML_LIMITS_DEFAULT_MAX_BYTES, 64, 10000, 1000}
/* clang-format on */

/*
 * Parses `len` bytes.  On success *root is the document's root node (a
 * null scalar for an empty document) and 0 is returned.  On failure one
 * diagnostic is added for `path` and -1 is returned; *root is NULL.
 */
int yaml_parse(struct arena *a, const struct yaml_limits *lim, const char *path,
               const char *data, size_t len, struct ynode **root,
               struct diag_list *d);

static inline struct ynode *ymap_key(const struct ynode *m, uint32_t i)
{
  return m->u.coll.v[2 * i];
}

static inline struct ynode *ymap_value(const struct ynode *m, uint32_t i)
{
  return m->u.coll.v[2 * i + 1];
}

/* The value for `key` in mapping `m`, or NULL.  Borrowed. */
struct ynode *ymap_get(const struct ynode *m, const char *key);

/* "a string", "an integer", "a mapping", ... for messages. */
const char *ynode_kind_name(const struct ynode *n);

/*
 * `len` bytes of `s` as text to quote in a message: bytes that are not
 * UTF-8 and control characters become \xNN, invisible ones (C1 controls,
 * line separators, bidirectional controls) \uNNNN, and the text is cut
 * with "..." at a character boundary to fit `cap` (at least 16) with its
 * NUL.  The result is valid UTF-8 whatever `s` holds.  Returns `out`.
 */
char *yaml_text_escape(char *out, size_t cap, const char *s, size_t len);

/*
 * diag_add() with `path` and `msg` escaped first, so that whatever a file
 * holds or is named, the diagnostic is valid UTF-8 on one line.  Every
 * diagnostic the manifest module makes goes through here.
 */
void yaml_diag_add(struct diag_list *d, const char *path, uint32_t line,
                   uint32_t col, const char *msg);

#endif
