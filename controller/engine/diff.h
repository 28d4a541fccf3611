/*
 * diff.h - desired against observed, attribute by attribute.
 *
 * Only attributes the desired spec holds are compared (tenantd manages
 * nothing else).  References ({"$ref": "<id>#<output>"}) are resolved from
 * the observed outputs of the resources they name; one whose target does
 * not exist yet is "known after apply".  Providers normalise what they
 * read, so equal here means equal at the backend.
 */
#ifndef TD_DIFF_H
#define TD_DIFF_H

#include "base/compat.h"

#include <jansson.h>

#include "model/resource.h"

/* Looks up the observed outputs of an id (the "outputs" object of what a
 * provider returned); NULL when the resource does not exist or has none.
 * Borrowed. */
typedef const json_t *(*diff_lookup_fn)(const char *id, size_t idlen,
                                        void *arg);

/*
 * `spec` with every reference replaced by the output it names.  Returns a
 * new reference; *unknown is set when some output is not known yet (those
 * values are left as null).  What holds no reference is shared with
 * `spec` (and outputs with what `lookup` returned), not copied: the
 * result is read-only.
 */
json_t *diff_resolve(const json_t *spec, diff_lookup_fn lookup, void *arg,
                     bool *unknown);

/* The same for one value; *unknown is only ever set, never cleared. */
json_t *diff_resolve_value(const json_t *v, diff_lookup_fn lookup, void *arg,
                           bool *unknown);

struct diff_field {
  /* The attribute's name: in the result's own block (diff_result_new_v),
   * freed with it, never alone. */
  char *attr;
  json_t *desired;  /* owned reference; null when not known yet */
  json_t *observed; /* owned reference; NULL when absent */
  bool immutable;   /* a change here needs a replace */
};

struct diff_result {
  struct diff_field *v; /* one block with the fields' names */
  size_t n;
  bool replace;    /* some changed attribute is immutable */
  char *next_name; /* in v's block: where diff_field_set copies to */
};

/*
 * Room for `n` fields whose names take `names` bytes with their NULs:
 * the fields and their names in one allocation (a cold plan lists
 * millions of attributes).  Sets d->v, zeroed; diff_field_set fills the
 * next field, its name copied into the block.
 */
void diff_result_new_v(struct diff_result *d, size_t n, size_t names);
struct diff_field *diff_field_set(struct diff_result *d, const char *attr,
                                  size_t len);

/* Fields of `desired` (resolved) that differ in `observed_spec`. */
void diff_specs(enum rtype type, const json_t *desired,
                const json_t *observed_spec, struct diff_result *out);

void diff_result_release(struct diff_result *d);

/* One value as short text for plans: strings bare, others as JSON. */
char *diff_value_text(const json_t *v);

#endif
