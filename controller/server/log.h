/*
 * log.h - the daemon's event log: one line per event on stderr.
 *
 *   log_event(LOG_LEVEL_INFO, "pass done", "tenants", "3", "changes", "2", NULL);
 *
 * logfmt (the default):
 *   ts=2026-11-23T10:00:00.123Z level=info msg="pass done" tenants=3 ...
 * or JSON, one object per line:
 *   {"ts":"...","level":"info","msg":"pass done","tenants":"3",...}
 *
 * Debug events are dropped unless TENANTD_LOG_LEVEL=debug.
 * Values are quoted and escaped as each format needs, so a message with
 * spaces, quotes or newlines stays one line.  Callers never pass secrets:
 * URLs reach the log through source_url(), which hides credentials.
 * Loop thread only.
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

void log_setup(enum log_format format, FILE *out);

/* Key and value strings in pairs, then NULL.  A NULL value is skipped. */
void log_event(enum log_level level, const char *msg, ...)
    __attribute__((sentinel));

/* A number as text for a value, in a caller's buffer. */
const char *log_u64(char buf[24], uint64_t v);
const char *log_secs(char buf[24], double seconds); /* "1.234" */

#endif
