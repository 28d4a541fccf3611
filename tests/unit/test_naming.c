#include "base/compat.h"

#include <stdio.h>

#include "model/naming.h"
#include "suites.h"

START_TEST(conventions)
{
  char buf[NAMING_MAX];

  ck_assert_uint_eq(naming_workspace(buf, "mwc-murata", "staging"), 18);
  ck_assert_str_eq(buf, "mwc-murata.staging");
  naming_database(buf, "mwc-murata", "staging");
  ck_assert_str_eq(buf, "mwc_murata_staging");
  naming_network(buf, "mwc-murata", "staging");
  ck_assert_str_eq(buf, "mwc-murata-staging");
  naming_bucket(buf, "mwc-murata", "staging");
  ck_assert_str_eq(buf, "mwc-murata-staging");
  naming_service(buf, "api", "staging", "mwc-murata");
  ck_assert_str_eq(buf, "api.staging.mwc-murata");
  naming_record(buf, "api", "staging", "mwc-murata", "pycom.io");
  ck_assert_str_eq(buf, "api.staging.mwc-murata.pycom.io");
}
END_TEST

/* A 600-character environment name (an invalid manifest) used to abort
 * on an assertion while the cross-document rules composed its names. */
START_TEST(names_that_do_not_fit_are_empty)
{
  char buf[NAMING_MAX], *env = td_malloc(601);

  memset(env, 'e', 600);
  env[600] = '\0';
  ck_assert_uint_eq(naming_workspace(buf, "acme", env), 0);
  ck_assert_str_eq(buf, "");
  ck_assert_uint_eq(naming_database(buf, "acme", env), 0);
  ck_assert_str_eq(buf, "");
  ck_assert_uint_eq(naming_record(buf, "api", env, "acme", "x.io"), 0);
  ck_assert_str_eq(buf, "");
  /* The longest valid name fits: three 63-character labels and a zone
   * of 253. */
  memset(env, 'e', 63);
  env[63] = '\0';
  {
    char zone[254];

    memset(zone, 'z', 253);
    zone[253] = '\0';
    ck_assert_uint_eq(naming_record(buf, env, env, env, zone),
                      63 * 3 + 253 + 3);
  }
  free(env);
}
END_TEST

START_TEST(collisions_are_possible_and_symmetric)
{
  char a[NAMING_MAX], b[NAMING_MAX];

  /* Why the validator checks derived names: hyphens are ambiguous. */
  naming_database(a, "a-b", "c");
  naming_database(b, "a", "b-c");
  ck_assert_str_eq(a, b);
}
END_TEST

/* Names are joined by hand: every length up to and past the limit gives
 * what snprintf would, or "" and 0 where that would not fit, and a
 * missing part reads as glibc prints it. */
START_TEST(names_join_as_snprintf_would)
{
  char buf[NAMING_MAX], want[3 * NAMING_MAX], *part = td_malloc(NAMING_MAX);

  for (size_t len = 0; len < NAMING_MAX; len++) {
    size_t n;

    memset(part, 'a' + (char)(len % 26), len);
    part[len] = '\0';
    snprintf(want, sizeof(want), "%s.%s.%s.%s", "api", part, "acme", "x.io");
    n = naming_record(buf, "api", part, "acme", "x.io");
    if (strlen(want) >= NAMING_MAX) {
      ck_assert_uint_eq(n, 0);
      ck_assert_str_eq(buf, "");
    } else {
      ck_assert_uint_eq(n, strlen(want));
      ck_assert_str_eq(buf, want);
    }
    snprintf(want, sizeof(want), "%s_%s", part, "prod");
    for (char *c = want; *c; c++)
      if (*c == '-')
        *c = '_';
    n = naming_database(buf, part, "prod");
    ck_assert_uint_eq(n, strlen(want) < NAMING_MAX ? strlen(want) : 0);
    ck_assert_str_eq(buf, strlen(want) < NAMING_MAX ? want : "");
  }
  ck_assert_uint_eq(naming_service(buf, "api", NULL, "acme"), 15);
  ck_assert_str_eq(buf, "api.(null).acme");
  ck_assert_uint_eq(naming_workspace(buf, "", ""), 1);
  ck_assert_str_eq(buf, ".");
  free(part);
}
END_TEST

Suite *make_suite_naming(void)
{
  Suite *s = suite_create("naming");
  TCase *tc = tcase_create("naming");

  tcase_add_test(tc, conventions);
  tcase_add_test(tc, collisions_are_possible_and_symmetric);
  tcase_add_test(tc, names_that_do_not_fit_are_empty);
  tcase_add_test(tc, names_join_as_snprintf_would);
  suite_add_tcase(s, tc);
  return s;
}
