#include "base/compat.h"

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

Suite *make_suite_naming(void)
{
  Suite *s = suite_create("naming");
  TCase *tc = tcase_create("naming");

  tcase_add_test(tc, conventions);
  tcase_add_test(tc, collisions_are_possible_and_symmetric);
  tcase_add_test(tc, names_that_do_not_fit_are_empty);
  suite_add_tcase(s, tc);
  return s;
}
