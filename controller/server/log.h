/*
 * log.h - the daemon's event log: one line per event on stderr.
 *
 *   log_at(LOG_LEVEL_INFO, "pass done", LOG_S("source", id),
 *          LOG_U("tenants", 3), LOG_SECS("seconds", 0.25),
 *          LOG_B("pushed", true));
 *
 * logfmt (the default):
 *   ts=2026-11-23T10:00:00.123Z level=info msg="pass done" source=ab12
 *   tenants=3 seconds=0.250 pushed=true
 * or JSON, one object per line, values typed:
 *   {"ts":"...","level":"info","msg":"pass done","source":"ab12",
 *    "tenants":3,"seconds":0.25,"pushed":true}
 *
 * Events about a tenant carry "tenant", and those about one resource
 * "resource" and "action", as fields of their own, so a log pipeline can
 * select on them.
 *
 * Values are quoted and escaped as each format needs, so a message with
 * spaces, quotes or newlines stays one line; bytes that are not UTF-8
 * are written as the text \xNN, so every line is valid UTF-8 (and valid
 * JSON).  A NULL string value is left out.  Callers never pass secrets:
 * URLs reach the log through source_url(), which hides credentials.
 *
 * Warnings and errors are rate-limited per message (and per tenant, for
 * events that name one): a burst of LOG_BURST lines, then one per second;
 * the next line of that message says how many were suppressed
 * ("suppressed=N").  So messages are fixed strings, and what varies goes
 * in fields.  Debug events are
 * dropped unless TENANTD_LOG_LEVEL=debug.  Loop thread only.
 */
#ifndef TD_LOG_H
#define TD_LOG_H

#include "base/compat.h"

#include <stdio.h>

enum log_format { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };

enum log_level {
  LOG_LEVEL_DEBUG,
  LOG_LEVEL_INFO,
  LOG_LEVEL_WARN,
  LOG_LEVEL_ERROR
};

#define LOG_BURST 10

enum log_type { LOG_T_STR, LOG_T_INT, LOG_T_UINT, LOG_T_SECS, LOG_T_BOOL };

struct log_field {
  const char *key;
  enum log_type type;
  union {
    const char *s;
    int64_t i;
    uint64_t u;
    double d;
    bool b;
  } v;
};

/* clang-format off */
#define LOG_S(k, x) ((struct log_field){(k), LOG_T_STR, {.s = (x)}})
#define LOG_I(k, x) ((struct log_field){(k), LOG_T_INT, {.i = (int64_t)(x)}})
#define LOG_U(k, x) ((struct log_field){(k), LOG_T_UINT, {.u = (uint64_t)(x)}})
#define LOG_SECS(k, x) ((struct log_field){(k), LOG_T_SECS, {.d = (x)}})
#define LOG_B(k, x) ((struct log_field){(k), LOG_T_BOOL, {.b = (x)}})
/* clang-format on */

/*
 * Where lines go and how they look, with fresh rate limits.  The level
 * comes from
 * TENANTD_LOG_LEVEL (debug, info, warn, error; unset: info): 0, or -1
 * with td_error_last() naming a level it does not know.
 */
int log_setup(enum log_format format, FILE *out);

/* One event with `n` fields (log_at() counts them). */
void log_fields(enum log_level level, const char *msg,
                const struct log_field *fields, size_t n);

/* clang-format off */
#define log_at(level, msg, ...)                                          \
  log_fields((level), (msg), (const struct log_field[]){__VA_ARGS__},   \
             sizeof((const struct log_field[]){__VA_ARGS__}) /         \
                 sizeof(struct log_field))
/* clang-format on */

/* Lets go of the rate limits' memory (at exit). */
void log_release(void);

/* Writes a line for each message whose lines are being suppressed and
 * were since its last line, and starts their count again (the daemon's
 * tick calls it, so a flood that stops is still reported). */
void log_flush_suppressed(void);

#endif
