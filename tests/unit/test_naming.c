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
  suite_add_tcase(s, tc);
  return s;
}
