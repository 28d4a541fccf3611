/*
 * arena.h - bump allocator for data that lives and dies together.
 *
 * A parsed YAML document, or a loaded manifest, allocates all its nodes
 * and strings from one arena and frees them with one arena_release().
 * Nothing allocated from an arena is freed on its own.
 *
 *   struct arena a = ARENA_INIT;
 *   char *s = arena_strndup(&a, text, len);
 *   ...
 *   arena_release(&a);        -- everything above is gone
 *
 * arena_reset() keeps the largest chunk for reuse, so a scratch arena that
 * is reset between files soon costs no system allocation at all.
 */
#ifndef TD_ARENA_H
#define TD_ARENA_H

#include "base/compat.h"

struct arena_chunk;

struct arena {
  struct arena_chunk *head;
  size_t next_size; /* size of the next chunk to allocate */
  size_t total;     /* bytes held in chunks, for accounting */
};

/* clang-format off */
#define ARENA_INIT {NULL, 0, 0}
/* clang-format on */

/* Zero-filled, aligned for any type. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) TD_PRINTF(2, 3);

/* Sizes the arena's first chunk to hold at least `n` bytes (before the
 * first allocation; afterwards it changes nothing): a caller that knows
 * roughly what it will need saves the chunks it would grow through. */
void arena_reserve(struct arena *a, size_t n);

void arena_reset(struct arena *a);
void arena_release(struct arena *a);

#endif
