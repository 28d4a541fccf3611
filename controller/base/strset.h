/*
 * strset.h - a set of strings: tenant names to reconcile, names a commit
 * touched.  Add in any order, then strset_seal() sorts and removes
 * duplicates; lookups are binary searches on a sealed set.
 *
 *   struct strset s = STRSET_INIT;
 *   strset_add(&s, "acme");
 *   strset_seal(&s);
 *   if (strset_has(&s, "acme")) ...
 *   strset_release(&s);
 *
 * The set owns copies of its strings.
 */
#ifndef TD_STRSET_H
#define TD_STRSET_H

#include "base/compat.h"

struct strset {
  char **v;
  size_t n, alloc;
  bool sealed;
};

/* clang-format off */
#define STRSET_INIT {NULL, 0, 0, true}
/* clang-format on */

void strset_add(struct strset *s, const char *str);
void strset_addn(struct strset *s, const char *str, size_t len);
void strset_seal(struct strset *s);
/* The set must be sealed. */
bool strset_has(const struct strset *s, const char *str);
void strset_release(struct strset *s);

#endif
