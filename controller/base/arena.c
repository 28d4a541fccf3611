#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/arena.h"

struct arena_chunk {
  struct arena_chunk *next;
  size_t size; /* usable bytes in data[] */
  size_t used;
  max_align_t data[];
};

enum { FIRST_CHUNK = 1024, MAX_CHUNK = 256 * 1024 };

#define ALIGN (sizeof(max_align_t))

static struct arena_chunk *chunk_new(size_t size)
{
  struct arena_chunk *c = td_malloc(sizeof(*c) + size);

  c->next = NULL;
  c->size = size;
  c->used = 0;
  return c;
}

void *arena_alloc(struct arena *a, size_t n)
{
  struct arena_chunk *c = a->head;
  size_t need = (n + ALIGN - 1) & ~(ALIGN - 1);
  void *p;

  if (!c || c->size - c->used < need) {
    size_t size = a->next_size ? a->next_size : FIRST_CHUNK;

    while (size < need)
      size *= 2;
    c = chunk_new(size);
    a->total += size;
    if (a->next_size < MAX_CHUNK)
      a->next_size = size * 2;
    /* A chunk bigger than the current head goes behind it so the head,
     * which still has room, keeps serving small requests. */
    if (a->head && need > a->head->size - a->head->used && need * 4 > size) {
      c->next = a->head->next;
      a->head->next = c;
      c->used = need;
      p = c->data;
      memset(p, 0, need);
      return p;
    }
    c->next = a->head;
    a->head = c;
  }
  p = (char *)c->data + c->used;
  c->used += need;
  memset(p, 0, need);
  return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
  char *p = arena_alloc(a, n + 1);

  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
  return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
  va_list ap;
  int n;
  char *p;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  assert(n >= 0);
  p = arena_alloc(a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void arena_reserve(struct arena *a, size_t n)
{
  if (!a->head && n > a->next_size)
    a->next_size = (n + ALIGN - 1) & ~(ALIGN - 1);
}

void arena_reset(struct arena *a)
{
  struct arena_chunk *c = a->head, *keep = NULL;

  /* Keep the largest chunk: it is the one the next document will need. */
  while (c) {
    struct arena_chunk *next = c->next;

    if (!keep || c->size > keep->size) {
      if (keep)
        free(keep);
      keep = c;
    } else {
      free(c);
    }
    c = next;
  }
  a->head = keep;
  a->total = keep ? keep->size : 0;
  if (keep) {
    keep->next = NULL;
    keep->used = 0;
  }
}

void arena_release(struct arena *a)
{
  struct arena_chunk *c = a->head;

  while (c) {
    struct arena_chunk *next = c->next;

    free(c);
    c = next;
  }
  a->head = NULL;
  a->next_size = 0;
  a->total = 0;
}
