/*
 * Sets of names (base/strset.h): tenants to reconcile, names a commit
 * touched.
 */
#include "base/compat.h"

#include "base/strset.h"
#include "suites.h"

START_TEST(strset_sorts_dedups_and_finds)
{
  struct strset s = STRSET_INIT;

  strset_add(&s, "mwc-sequans");
  strset_add(&s, "acme");
  strset_addn(&s, "mwc-murata.yaml", 10);
  strset_add(&s, "acme");
  strset_seal(&s);
  ck_assert_uint_eq(s.n, 3);
  ck_assert_str_eq(s.v[0], "acme");
  ck_assert_str_eq(s.v[1], "mwc-murata");
  ck_assert(strset_has(&s, "mwc-sequans"));
  ck_assert(!strset_has(&s, "mwc"));
  strset_release(&s);
  strset_seal(&s);
  ck_assert(!strset_has(&s, "acme"));
}
END_TEST

/* A zeroed set (inside a calloc'd struct) seals without handing qsort a
 * NULL base, which UBSan rejects. */
START_TEST(strset_zeroed_seals_empty)
{
  struct strset z;

  memset(&z, 0, sizeof(z));
  strset_seal(&z);
  ck_assert_uint_eq(z.n, 0);
  ck_assert(!strset_has(&z, "acme"));
  strset_release(&z);
}
END_TEST

Suite *make_suite_strset(void)
{
  Suite *s = suite_create("strset");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, strset_sorts_dedups_and_finds);
  tcase_add_test(tc, strset_zeroed_seals_empty);
  suite_add_tcase(s, tc);
  return s;
}
