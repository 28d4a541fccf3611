/*
 * error.h - the last error message of the calling thread.
 *
 * A function that fails with TD_ERROR (or another negative code) sets a
 * message here first; the caller reads it with td_error_last() and may
 * prefix context.  Messages are per thread, so work run on the libuv
 * threadpool copies its message out before handing results back.
 */
#ifndef TD_ERROR_H
#define TD_ERROR_H

#include "base/compat.h"

/* Sets the message; returns TD_ERROR so callers can `return td_error(...)`. */
int td_error(const char *fmt, ...) TD_PRINTF(1, 2);

/* Like td_error() but returns the given code. */
int td_error_code(int code, const char *fmt, ...) TD_PRINTF(2, 3);

/* The message of the last failure, "" when none.  Borrowed. */
const char *td_error_last(void);

void td_error_clear(void);

#endif
