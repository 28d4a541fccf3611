/*
 * test_nginx_verify.c - how the nginx provider judges nginx's answers
 * after a reload (providers/nginx/verify.c): the pure part, driven with
 * any sequence of answers and times.  test_nginx.c drives the requests
 * against a scripted server, and tests/providers/nginx.sh against nginx.
 */
#include "base/compat.h"

#include "providers/nginx/internal.h"
#include "suites.h"

#define ROUTE_ID "route/api.staging.acme"
#define NEW_REV "00000000000000b2"

static const char answer_new[] = "HTTP/1.1 502 Bad Gateway\r\n"
                                 "Server: nginx\r\n"
                                 "X-Tenantd-Route: " ROUTE_ID "\r\n"
                                 "X-Tenantd-Revision: " NEW_REV "\r\n";
static const char answer_old[] = "HTTP/1.1 200 OK\r\n"
                                 "x-tenantd-route: " ROUTE_ID "\r\n"
                                 "x-tenantd-revision: 00000000000000a1\r\n";
static const char answer_none[] = "HTTP/1.1 404 Not Found\r\n"
                                  "Server: nginx\r\n";

START_TEST(answers_are_judged_by_route_and_revision)
{
  /* A write: its route and the revision just written, any status. */
  ck_assert(ngx__answer_right(false, ROUTE_ID, NEW_REV, 502, answer_new));
  ck_assert(!ngx__answer_right(false, ROUTE_ID, NEW_REV, 200, answer_old));
  ck_assert(!ngx__answer_right(false, ROUTE_ID, NEW_REV, 404, answer_none));
  ck_assert(!ngx__answer_right(false, "route/other", NEW_REV, 502, answer_new));
  ck_assert(!ngx__answer_right(false, ROUTE_ID, NEW_REV, 0, ""));
  /* A remove: any response without the route. */
  ck_assert(ngx__answer_right(true, ROUTE_ID, "", 404, answer_none));
  ck_assert(!ngx__answer_right(true, ROUTE_ID, "", 200, answer_old));
  ck_assert(!ngx__answer_right(true, ROUTE_ID, "", 0, ""));
  /* Header names in any case; values exactly. */
  ck_assert(ngx__header_is(answer_old, "X-Tenantd-Route", ROUTE_ID));
  ck_assert(!ngx__header_is(answer_old, "X-Tenantd-Route", "route/api"));
  ck_assert(
      !ngx__header_is("X-Tenantd-Route-X: a\r\n", "X-Tenantd-Route", "a"));
}
END_TEST

/* Feeds one round of answers (1 right, 0 wrong) at `now`. */
static enum ngx_verdict round_at(struct ngx_verify *v, const char *answers,
                                 uint64_t now)
{
  enum ngx_verdict last = NGX_VERIFY_ASKING;

  for (const char *a = answers; *a; a++) {
    ck_assert_int_eq(last, NGX_VERIFY_ASKING);
    last = ngx__verify_answer(v, *a == '1', now);
  }
  return last;
}

START_TEST(one_new_answer_is_not_served)
{
  struct ngx_settle s = {0};
  struct ngx_verify v;
  uint64_t t;

  /* nginx answers with the new config at once, and keeps doing so: still
   * the write waits out the handover before it counts as served. */
  ngx__verify_init(&v, 1, 5000 + NGX_SETTLE_MS, &s);
  ck_assert_int_eq(round_at(&v, "1", 0), NGX_VERIFY_AGAIN);
  for (t = 20; t < NGX_SETTLE_MS; t += 20)
    ck_assert_int_eq(round_at(&v, "1", t), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "1", t), NGX_VERIFY_SERVED);
}
END_TEST

START_TEST(an_old_worker_answer_starts_again)
{
  struct ngx_settle s = {0};
  struct ngx_verify v;
  uint64_t t;

  /* New, new, then an old worker still accepting: the run restarts. */
  ngx__verify_init(&v, 1, 5000 + NGX_SETTLE_MS, &s);
  ck_assert_int_eq(round_at(&v, "1", 0), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "1", 20), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "0", 90), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "1", 110), NGX_VERIFY_AGAIN);
  for (t = 130; t < 110 + NGX_SETTLE_MS; t += 20)
    ck_assert_int_eq(round_at(&v, "1", t), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "1", t), NGX_VERIFY_SERVED);
}
END_TEST

START_TEST(every_host_must_be_served)
{
  struct ngx_settle s = {0};
  struct ngx_verify v;
  uint64_t t;

  /* The first host is served, the alias never: late, never served. */
  ngx__verify_init(&v, 2, 1000, &s);
  for (t = 0; t < 1000; t += 20) {
    ck_assert_int_eq(ngx__verify_answer(&v, true, t), NGX_VERIFY_ASKING);
    ck_assert_int_eq(ngx__verify_answer(&v, false, t), NGX_VERIFY_AGAIN);
  }
  ck_assert_int_eq(ngx__verify_answer(&v, true, t), NGX_VERIFY_ASKING);
  ck_assert_int_eq(ngx__verify_answer(&v, false, t), NGX_VERIFY_LATE);

  /* Both served: served once steady, whatever order the answers came. */
  memset(&s, 0, sizeof(s));
  ngx__verify_init(&v, 3, 5000, &s);
  ck_assert_int_eq(round_at(&v, "101", 0), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "111", 20), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "111", 20 + NGX_SETTLE_MS - 1),
                   NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "111", 20 + NGX_SETTLE_MS), NGX_VERIFY_SERVED);
}
END_TEST

START_TEST(late_when_never_steady)
{
  struct ngx_settle s = {0};
  struct ngx_verify v;

  ngx__verify_init(&v, 1, 300, &s);
  ck_assert_int_eq(round_at(&v, "0", 0), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "0", 299), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "0", 300), NGX_VERIFY_LATE);
  /* Right only near the deadline: not steady long enough. */
  memset(&s, 0, sizeof(s));
  ngx__verify_init(&v, 1, 300, &s);
  ck_assert_int_eq(round_at(&v, "1", 200), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "1", 300), NGX_VERIFY_LATE);
}
END_TEST

START_TEST(one_probe_times_the_handover_for_all)
{
  struct ngx_settle s = {0};
  struct ngx_verify a, b, c;
  uint64_t t;

  /* Three writes of one reload.  b's first round meets an old worker; a's
   * is right, so a is the probe; c's is right too, and waits. */
  ngx__verify_init(&a, 2, 5000, &s);
  ngx__verify_init(&b, 1, 5000, &s);
  ngx__verify_init(&c, 2, 5000, &s);
  ck_assert_int_eq(round_at(&b, "0", 0), NGX_VERIFY_AGAIN);
  ck_assert_ptr_null(s.probe);
  ck_assert_int_eq(round_at(&a, "11", 0), NGX_VERIFY_AGAIN);
  ck_assert_ptr_eq(s.probe, &a);
  ck_assert_int_eq(round_at(&c, "11", 0), NGX_VERIFY_WAIT);
  /* Before the handover an answer proves nothing, right or wrong: with
   * a probe timing it, b waits as c does. */
  ck_assert_int_eq(round_at(&b, "0", 20), NGX_VERIFY_WAIT);
  for (t = 20; t < NGX_SETTLE_MS; t += 20)
    ck_assert_int_eq(round_at(&a, "11", t), NGX_VERIFY_AGAIN);
  ck_assert(!s.done);
  ck_assert_int_eq(round_at(&a, "11", t), NGX_VERIFY_SERVED);
  ck_assert(s.done);
  /* Asked again after it, one right round serves each; a wrong answer
   * then is nginx's own, asked again until the deadline. */
  ck_assert_int_eq(round_at(&c, "11", t + 20), NGX_VERIFY_SERVED);
  ck_assert_int_eq(round_at(&b, "0", t + 20), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&b, "1", t + 40), NGX_VERIFY_SERVED);
}
END_TEST

START_TEST(a_late_probe_hands_over_the_part)
{
  struct ngx_settle s = {0};
  struct ngx_verify a, b, c;

  /* a was right once, then an old worker answered until its deadline:
   * late, and no longer the probe. */
  ngx__verify_init(&a, 1, 300, &s);
  ngx__verify_init(&b, 1, 600, &s);
  ngx__verify_init(&c, 1, 300, &s);
  ck_assert_int_eq(round_at(&a, "1", 0), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&b, "1", 0), NGX_VERIFY_WAIT);
  ck_assert_int_eq(round_at(&c, "1", 0), NGX_VERIFY_WAIT);
  ck_assert_int_eq(round_at(&a, "0", 100), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&a, "0", 300), NGX_VERIFY_LATE);
  ck_assert_ptr_null(s.probe);
  ck_assert(!s.done);
  /* Woken, c is past its deadline: late too.  b is not: it is the probe
   * now, served by its own run. */
  ck_assert_int_eq(round_at(&c, "1", 320), NGX_VERIFY_LATE);
  ck_assert_ptr_null(s.probe);
  ck_assert_int_eq(round_at(&b, "1", 320), NGX_VERIFY_AGAIN);
  ck_assert_ptr_eq(s.probe, &b);
  ck_assert_int_eq(round_at(&b, "1", 320 + NGX_SETTLE_MS - 1),
                   NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&b, "1", 320 + NGX_SETTLE_MS), NGX_VERIFY_SERVED);
  ck_assert(s.done);
}
END_TEST

Suite *make_suite_nginx_verify(void)
{
  Suite *s = suite_create("nginx_verify");
  TCase *tc = tcase_create("nginx_verify");

  tcase_add_test(tc, answers_are_judged_by_route_and_revision);
  tcase_add_test(tc, one_new_answer_is_not_served);
  tcase_add_test(tc, an_old_worker_answer_starts_again);
  tcase_add_test(tc, every_host_must_be_served);
  tcase_add_test(tc, late_when_never_steady);
  tcase_add_test(tc, one_probe_times_the_handover_for_all);
  tcase_add_test(tc, a_late_probe_hands_over_the_part);
  suite_add_tcase(s, tc);
  return s;
}
