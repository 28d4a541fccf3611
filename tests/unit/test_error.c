/*
 * The last error message of a thread (base/error.h).
 */
#include "base/compat.h"

#include <stdio.h>
#include <uv.h>

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

/* Layer over layer, and a cause that holds '%' is text, not a format. */
START_TEST(error_context_layers)
{
  td_error("%s", "disk 100% full");
  td_error("write tenants/acme.yaml: %s", td_error_last());
  td_error("status: %s", td_error_last());
  td_error("pass 7: %s", td_error_last());
  ck_assert_str_eq(td_error_last(), "pass 7: status: write tenants/acme.yaml: "
                                    "disk 100% full");
  /* The message itself as the only argument, and as a suffix. */
  td_error("%s", td_error_last());
  ck_assert_str_eq(td_error_last(), "pass 7: status: write tenants/acme.yaml: "
                                    "disk 100% full");
  td_error("%s (retrying)", td_error_last());
  ck_assert_str_eq(td_error_last(), "pass 7: status: write tenants/acme.yaml: "
                                    "disk 100% full (retrying)");
}
END_TEST

/* td_error() gives TD_ERROR, td_error_code() the code it is given; both
 * set the message.  td_error_clear() leaves "". */
START_TEST(error_codes_and_clear)
{
  ck_assert_int_eq(td_error("plain"), TD_ERROR);
  ck_assert_str_eq(td_error_last(), "plain");
  ck_assert_int_eq(td_error_code(TD_ENOTFOUND, "no %s", "tenant"),
                   TD_ENOTFOUND);
  ck_assert_str_eq(td_error_last(), "no tenant");
  ck_assert_int_eq(td_error_code(TD_ECONFLICT, "held"), TD_ECONFLICT);
  ck_assert_int_eq(td_error_code(TD_EINVALID, "bad"), TD_EINVALID);
  ck_assert_int_eq(td_error_code(TD_ETOOBIG, "big"), TD_ETOOBIG);
  ck_assert_int_eq(td_error_code(TD_EPERM, "denied"), TD_EPERM);
  ck_assert_str_eq(td_error_last(), "denied");
  td_error_clear();
  ck_assert_str_eq(td_error_last(), "");
  ck_assert_int_eq(td_error("%s", ""), TD_ERROR);
  ck_assert_str_eq(td_error_last(), "");
}
END_TEST

/* A message longer than the buffer is cut, not overrun; adding context
 * to it keeps the context and cuts the tail. */
START_TEST(error_long_messages_are_cut)
{
  char *big = td_malloc(5001);
  size_t cap;

  memset(big, 'x', 5000);
  big[5000] = '\0';
  td_error("%s", big);
  cap = strlen(td_error_last());
  ck_assert_uint_ge(cap, 255);
  ck_assert_uint_lt(cap, 5000);
  ck_assert_int_eq(strncmp(td_error_last(), big, cap), 0);
  td_error("context: %s", td_error_last());
  ck_assert_uint_eq(strlen(td_error_last()), cap);
  ck_assert_int_eq(strncmp(td_error_last(), "context: xxx", 12), 0);
  free(big);
  td_error_clear();
}
END_TEST

/* ---- one message per thread ---- */

struct worker {
  const char *name;
  uv_barrier_t *start;
  char first[64]; /* what the thread saw before setting its own */
  char last[64];  /* its own, read back at the end */
  int mismatches;
};

static void worker_run(void *arg)
{
  struct worker *w = arg;
  char want[64];

  snprintf(w->first, sizeof(w->first), "%s", td_error_last());
  uv_barrier_wait(w->start);
  /* Both threads write and read at once; each sees only its own. */
  for (int i = 0; i < 2000; i++) {
    snprintf(want, sizeof(want), "%s failed %d", w->name, i);
    td_error("%s failed %d", w->name, i);
    if (strcmp(td_error_last(), want) != 0)
      w->mismatches++;
  }
  snprintf(w->last, sizeof(w->last), "%s", td_error_last());
}

START_TEST(error_messages_are_per_thread)
{
  uv_barrier_t start;
  uv_thread_t t1, t2;
  struct worker a = {"fetch", &start, "", "", 0};
  struct worker b = {"push", &start, "", "", 0};

  td_error("main failed");
  ck_assert_int_eq(uv_barrier_init(&start, 2), 0);
  ck_assert_int_eq(uv_thread_create(&t1, worker_run, &a), 0);
  ck_assert_int_eq(uv_thread_create(&t2, worker_run, &b), 0);
  ck_assert_int_eq(uv_thread_join(&t1), 0);
  ck_assert_int_eq(uv_thread_join(&t2), 0);
  uv_barrier_destroy(&start);
  ck_assert_str_eq(a.first, "");
  ck_assert_str_eq(b.first, "");
  ck_assert_int_eq(a.mismatches, 0);
  ck_assert_int_eq(b.mismatches, 0);
  ck_assert_str_eq(a.last, "fetch failed 1999");
  ck_assert_str_eq(b.last, "push failed 1999");
  ck_assert_str_eq(td_error_last(), "main failed");
  td_error_clear();
}
END_TEST

Suite *make_suite_error(void)
{
  Suite *s = suite_create("error");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, error_context_keeps_the_cause);
  tcase_add_test(tc, error_context_layers);
  tcase_add_test(tc, error_codes_and_clear);
  tcase_add_test(tc, error_long_messages_are_cut);
  tcase_add_test(tc, error_messages_are_per_thread);
  suite_add_tcase(s, tc);
  return s;
}
