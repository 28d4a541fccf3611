#include "base/compat.h"

#include <jansson.h>
#include <stdarg.h>

#include "base/diag.h"
#include "base/strutil.h"

void diag_add(struct diag_list *d, const char *path, uint32_t line,
              uint32_t col, const char *fmt, ...)
{
  struct diag *x;
  va_list ap;
  char buf[1024];

  if (d->n == d->alloc) {
    d->alloc = d->alloc ? d->alloc * 2 : 16;
    d->v = td_realloc(d->v, d->alloc * sizeof(*d->v));
  }
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  /* A message cut at the buffer's end may end inside a character, and a
   * value quoted in it may hold anything: what is kept is valid UTF-8,
   * fit for a terminal, a log line or JSON. */
  str_sanitize(buf);
  x = &d->v[d->n++];
  x->path = arena_strdup(&d->mem, path);
  str_sanitize((char *)x->path);
  x->line = line;
  x->col = col;
  x->msg = arena_strdup(&d->mem, buf);
}

size_t diag_count_path(const struct diag_list *d, const char *path)
{
  size_t n = 0;

  for (size_t i = 0; i < d->n; i++)
    if (strcmp(d->v[i].path, path) == 0)
      n++;
  return n;
}

bool diag_sorted_has_path(const struct diag_list *d, const char *path)
{
  size_t lo = 0, hi = d->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(d->v[mid].path, path);

    if (c == 0)
      return true;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

static int cmp(const void *pa, const void *pb)
{
  const struct diag *a = pa, *b = pb;
  int c = strcmp(a->path, b->path);

  if (c)
    return c;
  if (a->line != b->line)
    return a->line < b->line ? -1 : 1;
  if (a->col != b->col)
    return a->col < b->col ? -1 : 1;
  return strcmp(a->msg, b->msg);
}

void diag_sort(struct diag_list *d)
{
  size_t out = 0;

  if (d->n > 1)
    qsort(d->v, d->n, sizeof(*d->v), cmp);
  for (size_t i = 0; i < d->n; i++)
    if (out == 0 || cmp(&d->v[out - 1], &d->v[i]) != 0)
      d->v[out++] = d->v[i];
  d->n = out;
}

void diag_print_text(const struct diag_list *d, FILE *out)
{
  for (size_t i = 0; i < d->n; i++) {
    const struct diag *x = &d->v[i];

    if (x->line)
      fprintf(out, "%s:%u:%u: error: %s\n", x->path, x->line, x->col, x->msg);
    else
      fprintf(out, "%s: error: %s\n", x->path, x->msg);
  }
}

void diag_print_json(const struct diag_list *d, FILE *out)
{
  json_t *root = json_object();
  json_t *errors = json_array();

  for (size_t i = 0; i < d->n; i++) {
    const struct diag *x = &d->v[i];

    json_array_append_new(
        errors, json_pack("{s:s, s:I, s:I, s:s, s:s}", "file", x->path, "line",
                          (json_int_t)x->line, "column", (json_int_t)x->col,
                          "severity", "error", "message", x->msg));
  }
  json_object_set_new(root, "valid", json_boolean(d->n == 0));
  json_object_set_new(root, "errors", errors);
  json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', out);
  json_decref(root);
}

void diag_list_release(struct diag_list *d)
{
  free(d->v);
  arena_release(&d->mem);
  d->v = NULL;
  d->n = d->alloc = 0;
}
