/*
 * log.c - see log.h.
 */
#include "base/compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <uv.h>

#include "base/error.h"
#include "base/strutil.h"
#include "server/log.h"

/* Messages whose warnings are counted for rate limiting; past this many
 * distinct ones, a new message is not limited (messages are the code's
 * own strings, so there are far fewer). */
#define LIMITED_MAX 64

static enum log_format fmt = LOG_FORMAT_LOGFMT;
static enum log_level min_level = LOG_LEVEL_INFO;
static FILE *sink;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* A token bucket per message: LOG_BURST tokens, one more each second. */
struct limited {
  char *msg; /* a copy */
  enum log_level level;
  double tokens;
  uint64_t at; /* uv_hrtime() of the last refill */
  uint64_t suppressed;
};

static struct limited limited[LIMITED_MAX];
static size_t nlimited;

void log_release(void)
{
  for (size_t i = 0; i < nlimited; i++)
    free(limited[i].msg);
  nlimited = 0;
}

int log_setup(enum log_format format, FILE *out)
{
  const char *lvl = getenv("TENANTD_LOG_LEVEL");

  fmt = format;
  sink = out;
  log_release();
  min_level = LOG_LEVEL_INFO;
  if (!lvl || !*lvl)
    return 0;
  for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
    if (strcmp(lvl, level_names[i]) == 0) {
      min_level = (enum log_level)i;
      return 0;
    }
  }
  return td_error("TENANTD_LOG_LEVEL '%.40s' is not a level: use debug, "
                  "info, warn or error",
                  lvl);
}

/* The body of a quoted value: \" \\ \n escaped, other control bytes and
 * bytes that are not UTF-8 as \xNN (JSON: \u00NN for control bytes,
 * "\\xNN" as text for the others). */
static void put_escaped(FILE *f, const char *s, bool json)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t left = strlen(s);

  while (left > 0) {
    size_t n = str_utf8_seq(p, left);

    if (n == 0)
      fprintf(f, json ? "\\\\x%02x" : "\\x%02x", *p), n = 1;
    else if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p < ' ' || *p == 0x7f)
      fprintf(f, json ? "\\u%04x" : "\\x%02x", *p);
    else
      fwrite(p, 1, n, f);
    p += n;
    left -= n;
  }
}

/* logfmt leaves a value bare when it is valid UTF-8 without space,
 * control byte, quote, '=' or backslash; otherwise it is quoted. */
static void put_logfmt(FILE *f, const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t left = strlen(s), n;
  bool bare = left > 0;

  for (; left > 0 && bare; p += n, left -= n) {
    n = str_utf8_seq(p, left);
    if (n == 0 || *p <= ' ' || *p == 0x7f || *p == '"' || *p == '=' ||
        *p == '\\')
      bare = false;
  }
  if (bare) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  put_escaped(f, s, false);
  fputc('"', f);
}

static void put_string(FILE *f, const char *s)
{
  if (fmt == LOG_FORMAT_JSON) {
    fputc('"', f);
    put_escaped(f, s, true);
    fputc('"', f);
  } else {
    put_logfmt(f, s);
  }
}

static void put_key(FILE *f, bool first, const char *k)
{
  if (fmt == LOG_FORMAT_JSON) {
    fputs(first ? "{" : ",", f);
    put_string(f, k);
    fputc(':', f);
  } else {
    if (!first)
      fputc(' ', f);
    fputs(k, f);
    fputc('=', f);
  }
}

static void put_field(FILE *f, const struct log_field *x)
{
  if (x->type == LOG_T_STR && !x->v.s)
    return;
  put_key(f, false, x->key);
  switch (x->type) {
  case LOG_T_STR:
    put_string(f, x->v.s);
    break;
  case LOG_T_INT:
    fprintf(f, "%" PRId64, x->v.i);
    break;
  case LOG_T_UINT:
    fprintf(f, "%" PRIu64, x->v.u);
    break;
  case LOG_T_SECS:
    fprintf(f, "%.3f", x->v.d);
    break;
  case LOG_T_BOOL:
    fputs(x->v.b ? "true" : "false", f);
    break;
  }
}

static void put_head(FILE *f, enum log_level level, const char *msg)
{
  struct timespec now;
  struct tm tm;
  char ts[80];

  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(now.tv_nsec / 1000000));
  put_key(f, true, "ts");
  put_string(f, ts);
  put_key(f, false, "level");
  put_string(f, level_names[level]);
  put_key(f, false, "msg");
  put_string(f, msg);
}

/* A line is put together in memory and written at once: stderr is not
 * buffered, and put piece by piece a pass's lines cost a write(2) for
 * every key, quote and value (about a hundred a line). */
struct line {
  FILE *f;
  char *buf;
  size_t len;
};

static FILE *line_open(struct line *ln)
{
  ln->buf = NULL;
  ln->len = 0;
  ln->f = open_memstream(&ln->buf, &ln->len);
  return ln->f ? ln->f : (sink ? sink : stderr);
}

static void put_end(FILE *f)
{
  fputs(fmt == LOG_FORMAT_JSON ? "}\n" : "\n", f);
  fflush(f);
}

static void line_write(struct line *ln)
{
  FILE *out = sink ? sink : stderr;

  if (!ln->f)
    return;
  fclose(ln->f);
  fwrite(ln->buf, 1, ln->len, out);
  fflush(out);
  free(ln->buf);
}

static struct limited *limited_of(enum log_level level, const char *msg)
{
  for (size_t i = 0; i < nlimited; i++)
    if (limited[i].level == level && strcmp(limited[i].msg, msg) == 0)
      return &limited[i];
  if (nlimited == LIMITED_MAX)
    return NULL;
  limited[nlimited] =
      (struct limited){td_strdup(msg), level, LOG_BURST, uv_hrtime(), 0};
  return &limited[nlimited++];
}

/* Whether a warning or error may be written now; counts it when not. */
static bool admit(struct limited *l)
{
  uint64_t now = uv_hrtime();

  l->tokens += (double)(now - l->at) / 1e9;
  if (l->tokens > LOG_BURST)
    l->tokens = LOG_BURST;
  l->at = now;
  if (l->tokens < 1) {
    l->suppressed++;
    return false;
  }
  l->tokens -= 1;
  return true;
}

/* What a warning is limited by: its message, and its tenant if it names
 * one, so one tenant's flood never hides another tenant's failure. */
static void limit_key(char *key, size_t cap, const char *msg,
                      const struct log_field *fields, size_t n)
{
  const char *tenant = NULL;

  for (size_t i = 0; i < n; i++)
    if (fields[i].type == LOG_T_STR && strcmp(fields[i].key, "tenant") == 0)
      tenant = fields[i].v.s;
  snprintf(key, cap, "%s%s%s", msg, tenant ? "\n" : "", tenant ? tenant : "");
}

void log_fields(enum log_level level, const char *msg,
                const struct log_field *fields, size_t n)
{
  struct limited *l = NULL;
  struct line ln;
  FILE *f;
  char key[512];

  if (level < min_level)
    return;
  if (level >= LOG_LEVEL_WARN) {
    limit_key(key, sizeof(key), msg, fields, n);
    l = limited_of(level, key);
    if (l && !admit(l))
      return;
  }
  f = line_open(&ln);
  put_head(f, level, msg);
  for (size_t i = 0; i < n; i++)
    put_field(f, &fields[i]);
  if (l && l->suppressed) {
    struct log_field x = LOG_U("suppressed", l->suppressed);

    put_field(f, &x);
    l->suppressed = 0;
  }
  put_end(f);
  line_write(&ln);
}

void log_flush_suppressed(void)
{
  for (size_t i = 0; i < nlimited; i++) {
    struct limited *l = &limited[i];
    struct log_field x = LOG_U("suppressed", l->suppressed);
    struct line ln;
    FILE *f;

    if (!l->suppressed)
      continue;
    f = line_open(&ln);
    char *nl = strchr(l->msg, '\n');
    struct log_field t = LOG_S("tenant", nl ? nl + 1 : NULL);

    if (nl)
      *nl = '\0';
    put_head(f, l->level, l->msg);
    if (nl)
      *nl = '\n';
    put_field(f, &t);
    put_field(f, &x);
    put_end(f);
    line_write(&ln);
    l->suppressed = 0;
  }
}
