/*
 * The bump allocator (base/arena.h): aligned, zero-filled blocks that
 * live and die together.
 */
#include "base/compat.h"

#include <stdio.h>

#include "base/arena.h"
#include "suites.h"

#define ALIGNMENT _Alignof(max_align_t)

static bool all_zero(const unsigned char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

/* Every block is aligned for any type, zero-filled and its own: blocks
 * of every small size, filled to the brim, do not overlap. */
START_TEST(arena_blocks_are_aligned_zeroed_and_apart)
{
  struct arena a = ARENA_INIT;
  unsigned char *p[300];

  for (size_t n = 1; n <= ARRAY_SIZE(p); n++) {
    p[n - 1] = arena_alloc(&a, n);
    ck_assert_ptr_nonnull(p[n - 1]);
    ck_assert_uint_eq((uintptr_t)p[n - 1] % ALIGNMENT, 0);
    ck_assert(all_zero(p[n - 1], n));
    memset(p[n - 1], (int)(n & 0xff), n);
  }
  for (size_t n = 1; n <= ARRAY_SIZE(p); n++)
    for (size_t i = 0; i < n; i++)
      ck_assert_uint_eq(p[n - 1][i], n & 0xff);
  {
    long double *ld = arena_alloc(&a, sizeof(*ld));
    void **pp = arena_alloc(&a, 3 * sizeof(*pp));

    *ld = 1.5L;
    pp[2] = ld;
    ck_assert(*(long double *)pp[2] == 1.5L);
  }
  arena_release(&a);
}
END_TEST

/* Blocks larger than a chunk (the first is 1 KiB, the largest 256 KiB)
 * are whole and zeroed, and do not waste the chunk in use: small blocks
 * after a large one come from where they came before. */
START_TEST(arena_large_blocks)
{
  struct arena a = ARENA_INIT;
  static const size_t sizes[] = {1024, 5000, 300 * 1024, 3 << 20};
  unsigned char *small, *next;
  size_t total;

  small = arena_alloc(&a, 16);
  total = a.total;
  ck_assert_uint_ge(total, 16);
  for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
    unsigned char *big = arena_alloc(&a, sizes[i]);

    ck_assert_uint_eq((uintptr_t)big % ALIGNMENT, 0);
    ck_assert(all_zero(big, sizes[i]));
    memset(big, 0xab, sizes[i]);
    ck_assert_uint_ge(a.total, total + sizes[i]);
    total = a.total;
  }
  next = arena_alloc(&a, 16);
  ck_assert_uint_eq(a.total, total);
  ck_assert(next > small && next < small + 1024);
  arena_release(&a);
}
END_TEST

START_TEST(arena_strings)
{
  struct arena a = ARENA_INIT;
  static const char text[] = {'t', 'e', 'n', 'a', 'n', 't', 's'};
  char *s, *long_text;
  char buf[4000];

  s = arena_strndup(&a, text, 6); /* from bytes without a NUL */
  ck_assert_str_eq(s, "tenant");
  ck_assert_str_eq(arena_strndup(&a, "", 0), "");
  s = arena_strdup(&a, "acme");
  ck_assert_str_eq(s, "acme");
  ck_assert_uint_eq((uintptr_t)s % ALIGNMENT, 0);
  ck_assert_str_eq(arena_printf(&a, "%s.%s:%d", "api", "staging", 8080),
                   "api.staging:8080");
  ck_assert_str_eq(arena_printf(&a, "%s", ""), "");
  /* Longer than a chunk. */
  memset(buf, 'y', sizeof(buf) - 1);
  buf[sizeof(buf) - 1] = '\0';
  long_text = arena_printf(&a, "<%s>", buf);
  ck_assert_uint_eq(strlen(long_text), sizeof(buf) + 1);
  ck_assert_int_eq(long_text[0], '<');
  ck_assert_int_eq(long_text[sizeof(buf)], '>');
  long_text = arena_strdup(&a, buf);
  ck_assert_str_eq(long_text, buf);
  arena_release(&a);
}
END_TEST

/* After a reset the arena serves again from the chunk it kept, with
 * zeroed blocks; the same work round after round soon needs no new
 * chunk (the kept one grows to fit it within two rounds). */
START_TEST(arena_reset_reuses_memory)
{
  struct arena a = ARENA_INIT;
  size_t kept[6];

  for (int round = 0; round < 6; round++) {
    for (int i = 0; i < 100; i++) {
      unsigned char *p = arena_alloc(&a, 40);

      ck_assert(all_zero(p, 40));
      memset(p, 0xff, 40);
    }
    arena_reset(&a);
    ck_assert_ptr_nonnull(a.head);
    kept[round] = a.total;
    ck_assert_uint_gt(kept[round], 0);
  }
  for (int round = 3; round < 6; round++)
    ck_assert_uint_eq(kept[round], kept[2]);
  arena_release(&a);
}
END_TEST

/* Release leaves an empty arena that can be used again; releasing or
 * resetting an empty one is harmless. */
START_TEST(arena_release_and_again)
{
  struct arena a = ARENA_INIT;

  arena_release(&a);
  arena_reset(&a);
  ck_assert_ptr_null(a.head);
  ck_assert_uint_eq(a.total, 0);
  for (int i = 0; i < 50; i++)
    arena_alloc(&a, 1000);
  ck_assert_uint_ge(a.total, 50000);
  arena_release(&a);
  ck_assert_ptr_null(a.head);
  ck_assert_uint_eq(a.total, 0);
  ck_assert_str_eq(arena_strdup(&a, "again"), "again");
  ck_assert_uint_gt(a.total, 0);
  arena_release(&a);
}
END_TEST

/* A reserve sizes the first chunk, and only the first. */
START_TEST(arena_reserve_sizes_the_first_chunk)
{
  struct arena a = ARENA_INIT;

  arena_reserve(&a, 5000);
  for (int i = 0; i < 30; i++) /* 30 blocks of at most 128 bytes */
    arena_alloc(&a, 100);
  ck_assert_uint_ge(a.total, 5000);
  ck_assert_uint_lt(a.total, 6000); /* one chunk held all of it */
  arena_reserve(&a, 1 << 20);       /* too late: nothing changes */
  arena_alloc(&a, 16);
  ck_assert_uint_lt(a.total, 1 << 20);
  arena_release(&a);
}
END_TEST

Suite *make_suite_arena(void)
{
  Suite *s = suite_create("arena");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, arena_blocks_are_aligned_zeroed_and_apart);
  tcase_add_test(tc, arena_large_blocks);
  tcase_add_test(tc, arena_strings);
  tcase_add_test(tc, arena_reset_reuses_memory);
  tcase_add_test(tc, arena_release_and_again);
  tcase_add_test(tc, arena_reserve_sizes_the_first_chunk);
  suite_add_tcase(s, tc);
  return s;
}
