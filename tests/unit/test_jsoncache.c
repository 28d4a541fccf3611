#include "base/compat.h"

#include <jansson.h>
#include <malloc.h>
#include <pthread.h>

#include "base/jsoncache.h"
#include "suites.h"

/* Every size is served with at least its bytes, freed blocks come back
 * for requests they hold, and every block is malloc's: free() takes it. */
START_TEST(blocks_are_big_enough_and_reused)
{
  void *p[600];

  for (size_t round = 0; round < 3; round++) {
    for (size_t n = 0; n < ARRAY_SIZE(p); n++) {
      p[n] = jsoncache_malloc(n);
      ck_assert_ptr_nonnull(p[n]);
      ck_assert_uint_ge(malloc_usable_size(p[n]), n);
      memset(p[n], 0xab, n);
    }
    for (size_t n = 0; n < ARRAY_SIZE(p); n++) {
      if (n % 7 == 3)
        free(p[n]);
      else
        jsoncache_free(p[n]);
    }
  }
  /* A freed small block is what the next request of its size gets. */
  p[0] = jsoncache_malloc(40);
  jsoncache_free(p[0]);
  ck_assert_ptr_eq(jsoncache_malloc(33), p[0]);
  free(p[0]);
  jsoncache_free(NULL);
  jsoncache_flush();
}
END_TEST

/* A thread holds at most JSONCACHE_THREAD_BYTES: past that, blocks go
 * back to malloc, and what it held is freed when it exits. */
static void *churn(void *arg)
{
  size_t n = JSONCACHE_THREAD_BYTES / 24 + 1000;
  void **v = malloc(n * sizeof(*v));

  (void)arg;
  for (size_t i = 0; i < n; i++)
    v[i] = jsoncache_malloc(24);
  for (size_t i = 0; i < n; i++)
    jsoncache_free(v[i]);
  free(v);
  return NULL;
}

START_TEST(threads_keep_a_bounded_cache)
{
  pthread_t t[3];

  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    ck_assert_int_eq(pthread_create(&t[i], NULL, churn, NULL), 0);
  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    ck_assert_int_eq(pthread_join(t[i], NULL), 0);
  churn(NULL);
  jsoncache_flush();
}
END_TEST

/* jansson on the cache: values made, dumped, loaded and freed as usual. */
START_TEST(jansson_values_round_trip)
{
  for (int i = 0; i < 200; i++) {
    json_t *o = json_pack("{s:i, s:s, s:[s, f, b], s:{s:n}}", "n", i, "s",
                          "text", "a", "x", 1.5, 1, "o", "k");
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *back = json_loads(text, 0, NULL);

    ck_assert(json_equal(o, back));
    free(text);
    json_decref(back);
    json_decref(o);
  }
  jsoncache_flush();
}
END_TEST

Suite *make_suite_jsoncache(void)
{
  Suite *s = suite_create("jsoncache");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, blocks_are_big_enough_and_reused);
  tcase_add_test(tc, threads_keep_a_bounded_cache);
  tcase_add_test(tc, jansson_values_round_trip);
  suite_add_tcase(s, tc);
  return s;
}
