/*
 * status_fx.h - what the status suites share (test_status.c,
 * test_status_store.c): a status with every field set, its text, and
 * checks.  Every status returned is the caller's to free.
 */
#ifndef TD_TEST_STATUS_FX_H
#define TD_TEST_STATUS_FX_H

#include "engine/status.h"
#include "suites.h"

extern const char HASH_A[17], HASH_B[17];

/* The status of tenant "acme" with every field set, and its text. */
struct tenant_status *full_status(void);
extern const char FULL_TEXT[];

/* Every field of a and b equal. */
void assert_status_eq(const struct tenant_status *a,
                      const struct tenant_status *b);

/* Parses `text`, which must succeed. */
struct tenant_status *parse_ok(const char *text);

#endif
