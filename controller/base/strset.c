#include "base/compat.h"

#include "base/strset.h"

void strset_addn(struct strset *s, const char *str, size_t len)
{
  if (s->n == s->alloc) {
    s->alloc = s->alloc ? 2 * s->alloc : 16;
    s->v = td_realloc(s->v, s->alloc * sizeof(*s->v));
  }
  s->v[s->n++] = td_strndup(str, len);
  s->sealed = s->n <= 1;
}

void strset_add(struct strset *s, const char *str)
{
  strset_addn(s, str, strlen(str));
}

static int str_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void strset_seal(struct strset *s)
{
  size_t w = 0;

  if (s->sealed)
    return;
  /* qsort's base may not be NULL, even for no elements. */
  if (s->n > 1)
    qsort(s->v, s->n, sizeof(*s->v), str_cmp);
  for (size_t r = 0; r < s->n; r++) {
    if (w > 0 && strcmp(s->v[w - 1], s->v[r]) == 0)
      free(s->v[r]);
    else
      s->v[w++] = s->v[r];
  }
  s->n = w;
  s->sealed = true;
}

bool strset_has(const struct strset *s, const char *str)
{
  assert(s->sealed);
  return s->n && bsearch(&str, s->v, s->n, sizeof(*s->v), str_cmp) != NULL;
}

void strset_release(struct strset *s)
{
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  *s = (struct strset)STRSET_INIT;
}
