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

/* The length of the UTF-8 sequence at p (at most `left` bytes), or 0
 * when there is none: a stray continuation byte, a cut sequence, an
 * overlong form, a surrogate or a value past U+10FFFF. */
size_t str_utf8_seq(const unsigned char *p, size_t left);

/* Whether the `len` bytes at s are valid UTF-8. */
bool str_is_utf8(const char *s, size_t len);

/*
 * Makes s (NUL-terminated) fit for a message anyone may read: bytes that
 * are not UTF-8, and control bytes other than tab and newline, become
 * '?' in place.  Text from outside (a server's error, a file name) passes
 * through here before it reaches a status file or a log.
 */
void str_sanitize(char *s);

/*
 * The strings given, up to a NULL, joined into `out` (`cap` bytes with
 * the NUL) and cut as snprintf cuts; returns the length the whole has,
 * as snprintf does.  A plan composes ids ("service/" and a key) for
 * every resource, and snprintf's reading of its format cost more than
 * the copying.
 */
size_t str_join(char *out, size_t cap, ...) __attribute__((sentinel));

#endif
