/*
 * Sets of names (base/strset.h): tenants to reconcile, names a commit
 * touched.
 */
#include "base/compat.h"

#include <stdio.h>

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

/* A new set is empty and already sealed: lookups need no seal first. */
START_TEST(strset_empty)
{
  struct strset s = STRSET_INIT;

  ck_assert_uint_eq(s.n, 0);
  ck_assert(s.sealed);
  ck_assert(!strset_has(&s, ""));
  ck_assert(!strset_has(&s, "acme"));
  strset_seal(&s);
  ck_assert_uint_eq(s.n, 0);
  strset_release(&s);
  ck_assert_ptr_null(s.v);
}
END_TEST

/* Sorted by bytes (strcmp): upper case before lower, '-' and '.' before
 * letters, a prefix before what extends it. */
START_TEST(strset_sorts_by_bytes)
{
  static const char *const in[] = {"b", "a-b", "ab", "B", "a", "a.b", "A", "a"};
  static const char *const want[] = {"A", "B", "a", "a-b", "a.b", "ab", "b"};
  struct strset s = STRSET_INIT;

  for (size_t i = 0; i < ARRAY_SIZE(in); i++)
    strset_add(&s, in[i]);
  strset_seal(&s);
  ck_assert_uint_eq(s.n, ARRAY_SIZE(want));
  for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
    ck_assert_str_eq(s.v[i], want[i]);
    ck_assert(strset_has(&s, want[i]));
  }
  ck_assert(!strset_has(&s, "a-"));
  ck_assert(!strset_has(&s, "abc"));
  ck_assert(!strset_has(&s, "c"));
  ck_assert(!strset_has(&s, "0"));
  strset_release(&s);
}
END_TEST

/* Many names in reverse order, each twice: one of each, all found. */
START_TEST(strset_many_with_duplicates)
{
  struct strset s = STRSET_INIT;
  char name[16];

  for (int i = 999; i >= 0; i--) {
    snprintf(name, sizeof(name), "t%04d", i);
    strset_add(&s, name);
    strset_add(&s, name);
  }
  strset_add(&s, "t0500");
  strset_seal(&s);
  ck_assert_uint_eq(s.n, 1000);
  for (size_t i = 1; i < s.n; i++)
    ck_assert_int_lt(strcmp(s.v[i - 1], s.v[i]), 0);
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "t%04d", i);
    ck_assert(strset_has(&s, name));
  }
  ck_assert(!strset_has(&s, "t1000"));
  ck_assert(!strset_has(&s, "t"));
  strset_release(&s);
}
END_TEST

/* addn takes exactly `len` bytes (possibly none); the set keeps copies,
 * so the caller's buffer may change or go. */
START_TEST(strset_owns_copies)
{
  struct strset s = STRSET_INIT;
  char buf[32];

  strcpy(buf, "beta.yaml");
  strset_addn(&s, buf, 4);
  strset_add(&s, buf);
  strset_addn(&s, buf, 0);
  memset(buf, 'x', sizeof(buf) - 1);
  buf[sizeof(buf) - 1] = '\0';
  strset_seal(&s);
  ck_assert_uint_eq(s.n, 3);
  ck_assert_str_eq(s.v[0], "");
  ck_assert_str_eq(s.v[1], "beta");
  ck_assert_str_eq(s.v[2], "beta.yaml");
  ck_assert(strset_has(&s, ""));
  ck_assert(!strset_has(&s, "bet"));
  strset_release(&s);
}
END_TEST

/* Adding to a sealed set unseals it; sealing again sorts the newcomers
 * in.  A released set is a new one. */
START_TEST(strset_add_after_seal)
{
  struct strset s = STRSET_INIT;

  strset_add(&s, "c");
  strset_add(&s, "a");
  strset_seal(&s);
  strset_add(&s, "b");
  strset_add(&s, "a");
  ck_assert(!s.sealed);
  strset_seal(&s);
  ck_assert_uint_eq(s.n, 3);
  ck_assert_str_eq(s.v[0], "a");
  ck_assert_str_eq(s.v[1], "b");
  ck_assert_str_eq(s.v[2], "c");
  ck_assert(strset_has(&s, "b"));
  strset_release(&s);
  ck_assert_uint_eq(s.n, 0);
  ck_assert(s.sealed);
  strset_add(&s, "z");
  ck_assert(strset_has(&s, "z")); /* one name is sorted already */
  strset_release(&s);
}
END_TEST

Suite *make_suite_strset(void)
{
  Suite *s = suite_create("strset");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, strset_sorts_dedups_and_finds);
  tcase_add_test(tc, strset_zeroed_seals_empty);
  tcase_add_test(tc, strset_empty);
  tcase_add_test(tc, strset_sorts_by_bytes);
  tcase_add_test(tc, strset_many_with_duplicates);
  tcase_add_test(tc, strset_owns_copies);
  tcase_add_test(tc, strset_add_after_seal);
  suite_add_tcase(s, tc);
  return s;
}
