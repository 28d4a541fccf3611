/*
 * What the HTTP API accepts as a token.
 */
#include "base/compat.h"

#include "server/auth.h"
#include "suites.h"

START_TEST(bearer_scheme_any_case_token_exact)
{
  ck_assert(auth_bearer_ok("Bearer s3cret", "s3cret"));
  ck_assert(auth_bearer_ok("bearer s3cret", "s3cret"));
  ck_assert(auth_bearer_ok("BEARER   s3cret", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer S3cret", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer s3cre", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer s3cret ", "s3cret"));
  ck_assert(!auth_bearer_ok("Basic s3cret", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearers3cret", "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer ", "s3cret"));
  ck_assert(!auth_bearer_ok(NULL, "s3cret"));
  ck_assert(!auth_bearer_ok("Bearer s3cret", NULL));
}
END_TEST

START_TEST(secrets_compared_whole)
{
  ck_assert(auth_secret_equal("abc", 3, "abc", 3));
  ck_assert(!auth_secret_equal("abc", 3, "abd", 3));
  ck_assert(!auth_secret_equal("abc", 3, "abc", 2));
  ck_assert(!auth_secret_equal("abc\0x", 5, "abc\0y", 5));
  ck_assert(auth_secret_equal("", 0, "", 0));
}
END_TEST

Suite *make_suite_auth(void)
{
  Suite *s = suite_create("auth");
  TCase *tc = tcase_create("auth");

  tcase_add_test(tc, bearer_scheme_any_case_token_exact);
  tcase_add_test(tc, secrets_compared_whole);
  suite_add_tcase(s, tc);
  return s;
}
