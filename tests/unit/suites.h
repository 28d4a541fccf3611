/*
 * suites.h - every unit suite, and helpers the suites share.
 *
 * Each tests/unit/test_<module>.c exports make_suite_<module>(); main.c
 * runs them all.  Fixture paths are relative to TD_FIXTURES (the Makefile
 * sets it to tests/fixtures).
 */
#ifndef TD_TEST_SUITES_H
#define TD_TEST_SUITES_H

#include "base/compat.h"

#include <check.h>

#include "base/diag.h"

Suite *make_suite_yamltree(void);
Suite *make_suite_manifest(void);
Suite *make_suite_fixtures(void);
Suite *make_suite_naming(void);
Suite *make_suite_resource(void);
Suite *make_suite_compose(void);
Suite *make_suite_diff(void);
Suite *make_suite_plan(void);
Suite *make_suite_local(void);
Suite *make_suite_status(void);
Suite *make_suite_git(void);
Suite *make_suite_httpd(void);
Suite *make_suite_config(void);
Suite *make_suite_curl_uv(void);
Suite *make_suite_fsutil(void);

/* The fixtures directory. */
const char *test_fixtures_dir(void);

/* A new empty directory under /tmp (malloc'd path), and its removal with
 * everything in it (asserting that it worked). */
char *test_tmpdir(void);
void test_rm_rf(const char *dir);

/* Diagnostics as the CLI prints them; the caller frees. */
char *test_diags_text(const struct diag_list *d);

#endif
