/*
 * The last error message of a thread (base/error.h).
 */
#include "base/compat.h"

#include "base/error.h"
#include "suites.h"

/* Context is added by formatting the last error into a new one. */
START_TEST(error_context_keeps_the_cause)
{
  td_error("%s moved on", "file:///srv/tenants.git");
  td_error("status not pushed after %d attempts: %s", 5, td_error_last());
  ck_assert_str_eq(td_error_last(), "status not pushed after 5 attempts: "
                                    "file:///srv/tenants.git moved on");
}
END_TEST

Suite *make_suite_error(void)
{
  Suite *s = suite_create("error");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, error_context_keeps_the_cause);
  suite_add_tcase(s, tc);
  return s;
}
