/*
 * suites.h - every unit suite, and helpers the suites share.
 *
 * Each tests/unit/test_<module>.c exports make_suite_<module>(); the
 * Makefile lists them in unit_suites.h and main.c runs them all, so a new
 * suite is a new file and nothing else.  Fixture paths are relative to TD_FIXTURES (the Makefile
 * sets it to tests/fixtures).
 */
#ifndef TD_TEST_SUITES_H
#define TD_TEST_SUITES_H

#include "base/compat.h"

#include <check.h>

#include "base/diag.h"

/* One declaration per tests/unit/test_<name>.c, listed by the Makefile. */
#define SUITE(name) Suite *make_suite_##name(void);
#include "unit_suites.h"
#undef SUITE

/* The fixtures directory. */
const char *test_fixtures_dir(void);

/* A new empty directory under /tmp (malloc'd path), and its removal with
 * everything in it (asserting that it worked). */
char *test_tmpdir(void);
void test_rm_rf(const char *dir);

/* Diagnostics as the CLI prints them; the caller frees. */
char *test_diags_text(const struct diag_list *d);

#endif
