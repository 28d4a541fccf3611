#include "base/compat.h"

#include <stdarg.h>
#include <time.h>

#include "server/log.h"

static enum log_format fmt = LOG_FORMAT_LOGFMT;
static enum log_level min_level = LOG_LEVEL_INFO;
static FILE *sink;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_format format, FILE *out)
{
  const char *lvl = getenv("TENANTD_LOG_LEVEL");

  fmt = format;
  sink = out;
  min_level =
      lvl && strcmp(lvl, "debug") == 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
}

const char *log_u64(char buf[24], uint64_t v)
{
  snprintf(buf, 24, "%llu", (unsigned long long)v);
  return buf;
}

const char *log_secs(char buf[24], double seconds)
{
  snprintf(buf, 24, "%.3f", seconds);
  return buf;
}

/* logfmt leaves a value bare when it has no space, quote, '=' or control
 * character; otherwise it is quoted with \" \\ \n escaped. */
static void put_logfmt(FILE *f, const char *s)
{
  bool bare = *s != '\0';

  for (const char *p = s; *p && bare; p++)
    if ((unsigned char)*p <= ' ' || *p == '"' || *p == '=' || *p == '\\')
      bare = false;
  if (bare) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p < ' ')
      fprintf(f, "\\x%02x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void put_json(FILE *f, const char *s)
{
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p < ' ')
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void put_pair(FILE *f, bool first, const char *k, const char *v)
{
  if (fmt == LOG_FORMAT_JSON) {
    fputs(first ? "{" : ",", f);
    put_json(f, k);
    fputc(':', f);
    put_json(f, v);
  } else {
    if (!first)
      fputc(' ', f);
    fputs(k, f);
    fputc('=', f);
    put_logfmt(f, v);
  }
}

void log_event(enum log_level level, const char *msg, ...)
{
  FILE *f = sink ? sink : stderr;
  struct timespec now;
  struct tm tm;
  char ts[80];
  va_list ap;
  const char *k;

  if (level < min_level)
    return;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(now.tv_nsec / 1000000));
  put_pair(f, true, "ts", ts);
  put_pair(f, false, "level", level_names[level]);
  put_pair(f, false, "msg", msg);
  va_start(ap, msg);
  while ((k = va_arg(ap, const char *)) != NULL) {
    const char *v = va_arg(ap, const char *);

    if (v)
      put_pair(f, false, k, v);
  }
  va_end(ap);
  fputs(fmt == LOG_FORMAT_JSON ? "}\n" : "\n", f);
  fflush(f);
}
