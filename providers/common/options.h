/*
 * options.h - a provider's options, checked against a table.
 *
 * An instance's entry in the controller config is a JSON object.  A
 * provider describes the keys it takes in a table of `struct opt`, each
 * naming the field of the provider's own struct that receives the value,
 * and opt_parse() fills those fields, applies defaults and refuses
 * anything else with one clear line naming the provider and the key:
 *
 *   powerdns: timeoutMs must be an integer between 1 and 600000
 *   local: unknown option 'latencyMS' (did you mean 'latencyMs'?)
 *   powerdns: the environment variable PDNS_KEY (apiKeyEnv) is not set;
 *     it must hold the API key
 *
 * "type" (which provider the entry is for) is always allowed.  A table
 * is written with these macros, one a key; each checks at compile time
 * that the field has the C type shown:
 *
 *   OPT_STR     char *             a string; flags: OPT_NONEMPTY; at most
 *                                  `max` bytes (0: OPT_STRING_MAX)
 *   OPT_STR_IN  char *             the same, only of the bytes in `chars`,
 *                                  with a default (`def`, may be NULL)
 *   OPT_UINT    uint64_t           an integer from `lo` to `hi`
 *   OPT_NUMBER  double             a number from `lo` to `hi`
 *   OPT_BOOL    bool               true or false
 *   OPT_ENUM    int                one of `choices` (NULL-terminated); the
 *                                  field gets its index
 *   OPT_SECRET  struct opt_secret  the name of an environment variable
 *                                  (default: `def_var`) whose value, a
 *                                  secret, is read at once; it must be set
 *                                  and not empty, and is never part of a
 *                                  message
 *   OPT_JSON    json_t *           any JSON value, for open() to check (a
 *                                  list, an object): a reference the
 *                                  struct holds; NULL when absent
 *
 * `what`, where a macro takes it, is a few words for messages ("a
 * directory path", "the API key").  Flags (OPT_STR's `fl`): OPT_REQUIRED
 * makes a missing key an error; otherwise the field gets the
 * default (NULL for a string without one).
 *
 * Ownership: the strings opt_parse() stores (a secret's name and value,
 * an OPT_JSON reference) belong to the struct; opt_release() frees them,
 * wiping secrets first.  Call it with the same table, also after a failed opt_parse().
 *
 *   struct pdns { ...; char *url; uint64_t timeout_ms;
 *                 struct opt_secret api_key; };
 *   static const struct opt pdns_options[] = {
 *       OPT_STR("url", struct pdns, url, OPT_REQUIRED, 2048,
 *               "http://HOST:PORT or https://..."),
 *       OPT_UINT("timeoutMs", struct pdns, timeout_ms, 1, 600000, 5000),
 *       OPT_SECRET("apiKeyEnv", struct pdns, api_key, "PDNS_API_KEY",
 *                  "the API key"),
 *   };
 *   if (opt_parse("powerdns", pdns_options, ARRAY_SIZE(pdns_options),
 *                 config, pd, err, errcap) < 0) ...
 *   opt_release(pdns_options, ARRAY_SIZE(pdns_options), pd);
 *
 * A provider on the runtime (runtime.h) only names its table in its
 * backend: the runtime parses before open and releases after close.
 */
#ifndef TD_OPTIONS_H
#define TD_OPTIONS_H

#include "base/compat.h"

#include <jansson.h>

/* The longest string option unless a table says otherwise. */
#define OPT_STRING_MAX 4096

enum opt_type {
  OPT_T_STRING,
  OPT_T_UINT,
  OPT_T_NUMBER,
  OPT_T_BOOL,
  OPT_T_ENUM,
  OPT_T_SECRET,
  OPT_T_JSON
};

enum {
  OPT_REQUIRED = 1 << 0, /* a missing key is an error */
  OPT_NONEMPTY = 1 << 1, /* strings: "" is an error */
};

/* OPT_T_SECRET's field: the variable's name and its value (the secret). */
struct opt_secret {
  char *name;
  char *value;
};

struct opt {
  const char *key;
  enum opt_type type;
  unsigned flags;
  size_t offset; /* of the field in the struct opt_parse() fills */
  /* A few words saying what the value is, for messages: "a directory
   * path", "the API key".  May be NULL. */
  const char *what;
  size_t max_len;      /* OPT_T_STRING: 0 means OPT_STRING_MAX */
  const char *chars;   /* OPT_T_STRING: the bytes allowed; NULL: any */
  uint64_t umin, umax; /* OPT_T_UINT */
  double dmin, dmax;   /* OPT_T_NUMBER */
  /* Defaults: OPT_T_STRING and OPT_T_SECRET take def_str, OPT_T_UINT def_uint,
   * OPT_T_NUMBER def_num, OPT_T_BOOL and OPT_T_ENUM def_int. */
  const char *def_str;
  uint64_t def_uint;
  double def_num;
  int def_int;
  const char *const *choices; /* OPT_T_ENUM: NULL-terminated */
};

/* The field's offset, or a compile error when it is not of type `ctype`. */
/* clang-format off */
#define OPT_FIELD_(st, field, ctype)                                       \
  (offsetof(st, field) +                                                   \
   0 * sizeof(char[__builtin_types_compatible_p(                           \
                       __typeof__(((st *)0)->field), ctype) ? 1 : -1]))
/* clang-format on */

#define OPT_STR(k, st, field, fl, max, what_)                                  \
  {                                                                            \
    .key = (k), .type = OPT_T_STRING, .flags = (fl),                           \
    .offset = OPT_FIELD_(st, field, char *), .max_len = (max), .what = (what_) \
  }
#define OPT_STR_IN(k, st, field, fl, max, chars_, def, what_)  \
  {                                                            \
    .key = (k), .type = OPT_T_STRING, .flags = (fl),           \
    .offset = OPT_FIELD_(st, field, char *), .max_len = (max), \
    .chars = (chars_), .def_str = (def), .what = (what_)       \
  }
#define OPT_UINT(k, st, field, lo, hi, def)                                    \
  {                                                                            \
    .key = (k), .type = OPT_T_UINT, .offset = OPT_FIELD_(st, field, uint64_t), \
    .umin = (lo), .umax = (hi), .def_uint = (def)                              \
  }
#define OPT_NUMBER(k, st, field, lo, hi, def)                                  \
  {                                                                            \
    .key = (k), .type = OPT_T_NUMBER, .offset = OPT_FIELD_(st, field, double), \
    .dmin = (lo), .dmax = (hi), .def_num = (def)                               \
  }
#define OPT_BOOL(k, st, field, def)                                        \
  {                                                                        \
    .key = (k), .type = OPT_T_BOOL, .offset = OPT_FIELD_(st, field, bool), \
    .def_int = (def)                                                       \
  }
#define OPT_ENUM(k, st, field, choices_, def)                             \
  {                                                                       \
    .key = (k), .type = OPT_T_ENUM, .offset = OPT_FIELD_(st, field, int), \
    .choices = (choices_), .def_int = (def)                               \
  }
#define OPT_JSON(k, st, field, fl, what_)                      \
  {                                                            \
    .key = (k), .type = OPT_T_JSON, .flags = (fl),             \
    .offset = OPT_FIELD_(st, field, json_t *), .what = (what_) \
  }
#define OPT_SECRET(k, st, field, def_var, what_)                              \
  {                                                                           \
    .key = (k), .type = OPT_T_SECRET,                                         \
    .offset = OPT_FIELD_(st, field, struct opt_secret), .def_str = (def_var), \
    .what = (what_)                                                           \
  }

/*
 * Fills the fields of `out` that `table` names from `config` (borrowed).
 * Returns 0, or -1 with one line in err ("<provider>: ...").  Fields
 * filled before an error keep their values: release them either way.
 */
int opt_parse(const char *provider, const struct opt *table, size_t n,
              const json_t *config, void *out, char *err, size_t errcap);

/* Frees the strings and secrets of `out` that `table` names. */
void opt_release(const struct opt *table, size_t n, void *out);

#endif
