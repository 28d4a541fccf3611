/*
 * compat.h - included first by every tenantd source file.
 *
 * Feature-test macros, the handful of helpers every module uses, and the
 * project-wide error codes.  Nothing here allocates.
 */
#ifndef TD_COMPAT_H
#define TD_COMPAT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* clang-format off */
#define container_of(ptr, type, member) \
  ((type *)((char *)(ptr) - offsetof(type, member)))
/* clang-format on */

#define TD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TD_UNUSED __attribute__((unused))

/*
 * Expected failures a caller may act on.  Functions return 0 on success,
 * one of these, or -1 (TD_ERROR) for anything else, with the message set
 * through error.h.
 */
enum {
  TD_OK = 0,
  TD_ERROR = -1,
  TD_ENOTFOUND = -2,
  TD_ECONFLICT = -3,
  TD_EINVALID = -4,
  TD_ETOOBIG = -5,
  TD_EPERM = -6, /* the file system refused us: not worth retrying */
};

/* xorshift64*: the next number of a cheap generator for jitter (not for
 * anything secret); *state must not be 0. */
static inline uint64_t td_rand(uint64_t *state)
{
  uint64_t x = *state;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* Allocation failure is not an expected error: we stop. */
void *td_malloc(size_t n);
void *td_calloc(size_t count, size_t n);
void *td_realloc(void *p, size_t n);
char *td_strdup(const char *s);
char *td_strndup(const char *s, size_t n);
/* printf into a new string (malloc'd, never NULL). */
char *td_asprintf(const char *fmt, ...) TD_PRINTF(1, 2);

#endif
