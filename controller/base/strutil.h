/*
 * strutil.h - small text helpers with no tenantd knowledge.
 */
#ifndef TD_STRUTIL_H
#define TD_STRUTIL_H

#include "base/compat.h"

/* The closest of `cands` to `word` when close enough to be a likely typo
 * (edit distance, or a prefix of at least three characters), or NULL. */
const char *str_suggest(const char *word, const char *const *cands, size_t n);

/* "1h30m", "90s", "250ms" -> milliseconds; -1 when malformed or when the
 * total does not fit in 63 bits. */
int str_parse_duration(const char *s, int64_t *ms);

#endif
