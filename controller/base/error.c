#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/error.h"

static _Thread_local char last[1024];

/* Through a scratch buffer: td_error("context: %s", td_error_last()) is
 * how callers add context, and the source must not be the destination. */
static void set(const char *fmt, va_list ap)
{
  char buf[sizeof(last)];

  vsnprintf(buf, sizeof(buf), fmt, ap);
  memcpy(last, buf, sizeof(last));
}

int td_error(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  set(fmt, ap);
  va_end(ap);
  return TD_ERROR;
}

int td_error_code(int code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  set(fmt, ap);
  va_end(ap);
  return code;
}

const char *td_error_last(void)
{
  return last;
}

void td_error_clear(void)
{
  last[0] = '\0';
}

static void oom(void)
{
  fputs("tenantd: out of memory\n", stderr);
  abort();
}

void *td_malloc(size_t n)
{
  void *p = malloc(n ? n : 1);

  if (!p)
    oom();
  return p;
}

void *td_calloc(size_t count, size_t n)
{
  void *p = calloc(count ? count : 1, n ? n : 1);

  if (!p)
    oom();
  return p;
}

void *td_realloc(void *p, size_t n)
{
  void *q = realloc(p, n ? n : 1);

  if (!q)
    oom();
  return q;
}

char *td_strdup(const char *s)
{
  return td_strndup(s, strlen(s));
}

char *td_strndup(const char *s, size_t n)
{
  char *p = td_malloc(n + 1);

  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *td_asprintf(const char *fmt, ...)
{
  va_list ap;
  int n;
  char *s;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    oom(); /* only an encoding error, which a format of ours never has */
  s = td_malloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}
