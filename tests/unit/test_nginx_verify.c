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

/* One round of answers (1 right, 0 wrong), asked at `asked` and answered
 * at `now`. */
static enum ngx_verdict round_asked(struct ngx_verify *v, const char *answers,
                                    uint64_t asked, uint64_t now)
{
  enum ngx_verdict last = NGX_VERIFY_ASKING;

  ngx__verify_asking(v, asked);
  for (const char *a = answers; *a; a++) {
    ck_assert_int_eq(last, NGX_VERIFY_ASKING);
    last = ngx__verify_answer(v, *a == '1', now);
  }
  return last;
}

/* The same, asked and answered at `now`. */
static enum ngx_verdict round_at(struct ngx_verify *v, const char *answers,
                                 uint64_t now)
{
  return round_asked(v, answers, now, now);
}

/* Rounds of `answers` every 20 ms from `from`: another round until they
 * have lasted NGX_SETTLE_MS, then served. */
static void served_by_its_run(struct ngx_verify *v, const char *answers,
                              uint64_t from)
{
  uint64_t t;

  for (t = from; t < from + NGX_SETTLE_MS; t += 20)
    ck_assert_int_eq(round_at(v, answers, t), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(v, answers, t), NGX_VERIFY_SERVED);
}

START_TEST(one_new_answer_is_not_served)
{
  struct ngx_settle s = {0};
  struct ngx_verify v;

  /* nginx answers with the new config at once, and keeps doing so: still
   * the write waits out the handover before it counts as served. */
  ngx__verify_init(&v, 1, 5000 + NGX_SETTLE_MS, false, &s);
  served_by_its_run(&v, "1", 0);
}
END_TEST

START_TEST(an_old_worker_answer_starts_again)
{
  struct ngx_settle s = {0};
  struct ngx_verify v;

  /* New, new, then an old worker still accepting: the run restarts. */
  ngx__verify_init(&v, 1, 5000 + NGX_SETTLE_MS, false, &s);
  ck_assert_int_eq(round_at(&v, "1", 0), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "1", 20), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "0", 90), NGX_VERIFY_AGAIN);
  served_by_its_run(&v, "1", 110);
}
END_TEST

START_TEST(every_host_must_be_served)
{
  struct ngx_settle s = {0};
  struct ngx_verify v;
  uint64_t t;

  /* The first host is served, the alias never: late, never served. */
  ngx__verify_init(&v, 2, 1000, false, &s);
  for (t = 0; t < 1000; t += 20) {
    ck_assert_int_eq(ngx__verify_answer(&v, true, t), NGX_VERIFY_ASKING);
    ck_assert_int_eq(ngx__verify_answer(&v, false, t), NGX_VERIFY_AGAIN);
  }
  ck_assert_int_eq(ngx__verify_answer(&v, true, t), NGX_VERIFY_ASKING);
  ck_assert_int_eq(ngx__verify_answer(&v, false, t), NGX_VERIFY_LATE);

  /* Three hosts: a round with a wrong answer anywhere is not right; once
   * every answer is, served when the rounds stayed so. */
  memset(&s, 0, sizeof(s));
  ngx__verify_init(&v, 3, 5000, false, &s);
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

  ngx__verify_init(&v, 1, 300, false, &s);
  ck_assert_int_eq(round_at(&v, "0", 0), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "0", 299), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "0", 300), NGX_VERIFY_LATE);
  /* Right only near the deadline: not steady long enough. */
  memset(&s, 0, sizeof(s));
  ngx__verify_init(&v, 1, 300, false, &s);
  ck_assert_int_eq(round_at(&v, "1", 200), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&v, "1", 300), NGX_VERIFY_LATE);
}
END_TEST

/* Writes of one reload, each with `nhosts` hosts and `deadline`. */
static void writes_init(struct ngx_verify *w, size_t n, size_t nhosts,
                        uint64_t deadline, struct ngx_settle *s)
{
  memset(s, 0, sizeof(*s));
  for (size_t i = 0; i < n; i++)
    ngx__verify_init(&w[i], nhosts, deadline, false, s);
}

START_TEST(probes_time_the_handover_for_all)
{
  struct ngx_verify w[NGX_PROBES + 2];
  struct ngx_settle s;
  uint64_t t;

  writes_init(w, NGX_PROBES + 2, 2, 5000, &s);
  /* No write is right yet: the first round of the last one meets an old
   * worker, and it is asked again. */
  ck_assert_int_eq(round_at(&w[NGX_PROBES + 1], "10", 0), NGX_VERIFY_AGAIN);
  /* The first NGX_PROBES writes with a right round time the handover;
   * another right one waits for them, and so does a wrong one now. */
  for (size_t i = 0; i < NGX_PROBES; i++)
    ck_assert_int_eq(round_at(&w[i], "11", 0), NGX_VERIFY_AGAIN);
  ck_assert_uint_eq(s.probes, NGX_PROBES);
  ck_assert_int_eq(round_at(&w[NGX_PROBES], "11", 0), NGX_VERIFY_WAIT);
  ck_assert_int_eq(round_at(&w[NGX_PROBES + 1], "01", 20), NGX_VERIFY_WAIT);
  ck_assert_uint_eq(s.waiting, 2);
  /* w[0]'s run lasts: the handover is done, the waiting are woken. */
  for (t = 20; t < NGX_SETTLE_MS; t += 20)
    ck_assert_int_eq(round_at(&w[0], "11", t), NGX_VERIFY_AGAIN);
  ck_assert(!s.done);
  ck_assert(!ngx__verify_wake_due(&s, NGX_VERIFY_AGAIN));
  ck_assert_int_eq(round_at(&w[0], "11", t), NGX_VERIFY_SERVED);
  ck_assert(s.done);
  ck_assert_uint_eq(s.done_at, t);
  ck_assert(ngx__verify_wake_due(&s, NGX_VERIFY_SERVED));
  ngx__verify_woken(&w[NGX_PROBES], t);
  ngx__verify_woken(&w[NGX_PROBES + 1], t);
  ck_assert_uint_eq(s.waiting, 0);
  /* With time enough left, waking moves no deadline. */
  ck_assert_uint_eq(w[NGX_PROBES].deadline, 5000);
  /* A round asked before it ended proves nothing, even answered after;
   * one asked after it serves with right answers, and a wrong answer
   * then is nginx's own, asked again. */
  ck_assert_int_eq(round_asked(&w[1], "11", t - 1, t + 5), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_asked(&w[1], "11", t + 20, t + 25), NGX_VERIFY_SERVED);
  ck_assert_int_eq(round_asked(&w[2], "11", t, t + 3), NGX_VERIFY_SERVED);
  ck_assert_int_eq(round_at(&w[NGX_PROBES], "11", t + 20), NGX_VERIFY_SERVED);
  ck_assert_int_eq(round_at(&w[NGX_PROBES + 1], "10", t + 20),
                   NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&w[NGX_PROBES + 1], "11", t + 40),
                   NGX_VERIFY_SERVED);
}
END_TEST

START_TEST(a_remove_judges_itself)
{
  struct ngx_verify w[2];
  struct ngx_settle s;

  /* The old config may already lack a removed route: a remove right from
   * the first round is neither a probe nor a sign of the handover.  It
   * is served by its own run, and a write beside it, with no probe
   * running, is asked again. */
  writes_init(w, 2, 1, 5000, &s);
  ngx__verify_init(&w[0], 1, 5000, true, &s);
  served_by_its_run(&w[0], "1", 0);
  ck_assert_uint_eq(s.probes, 0);
  ck_assert(!s.done);
  ck_assert_int_eq(round_at(&w[1], "0", 300), NGX_VERIFY_AGAIN);

  /* Nor does a remove wait while a write probes: it goes on alone. */
  writes_init(w, 2, 1, 5000, &s);
  ngx__verify_init(&w[0], 1, 5000, true, &s);
  ck_assert_int_eq(round_at(&w[1], "1", 0), NGX_VERIFY_AGAIN);
  ck_assert_uint_eq(s.probes, 1);
  ck_assert_int_eq(round_at(&w[0], "0", 0), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&w[0], "1", 20), NGX_VERIFY_AGAIN);
  ck_assert_uint_eq(s.waiting, 0);
}
END_TEST

START_TEST(every_wake_leaves_time_up_to_a_limit)
{
  enum { A = 0, B = NGX_PROBES, W = 2 * NGX_PROBES, N };
  struct ngx_verify w[N];
  struct ngx_settle s;
  const uint64_t end = 300;

  /* Writes A.. probe, B.. and W wait; all share one deadline. */
  writes_init(w, N, 1, end, &s);
  for (size_t i = 0; i < N; i++)
    ck_assert_int_eq(round_at(&w[i], "1", 0),
                     i < B ? NGX_VERIFY_AGAIN : NGX_VERIFY_WAIT);
  /* The A probes end late: the others are woken with NGX_WOKEN_MS. */
  for (size_t i = A; i < B; i++)
    ck_assert_int_eq(round_at(&w[i], "0", end), NGX_VERIFY_LATE);
  for (size_t i = B; i < N; i++) {
    ngx__verify_woken(&w[i], end);
    ck_assert_uint_eq(w[i].deadline, end + NGX_WOKEN_MS);
  }
  /* The B writes probe now, W waits again; the B probes end late too,
   * the last a round after its deadline. */
  for (size_t i = B; i < W; i++)
    ck_assert_int_eq(round_at(&w[i], "1", end + 20), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&w[W], "1", end + 20), NGX_VERIFY_WAIT);
  for (size_t i = B; i < W; i++)
    ck_assert_int_eq(round_at(&w[i], "0", end + 600), NGX_VERIFY_LATE);
  ck_assert(ngx__verify_wake_due(&s, NGX_VERIFY_LATE));
  /* W has time again, but never past NGX_WAIT_MAX_MS after its first
   * deadline. */
  ngx__verify_woken(&w[W], end + 600);
  ck_assert_uint_eq(w[W].deadline, end + NGX_WAIT_MAX_MS);
  ck_assert_uint_eq(s.waiting, 0);
}
END_TEST

START_TEST(late_probes_wake_the_waiting_with_time_left)
{
  struct ngx_verify w[NGX_PROBES + 1];
  struct ngx_settle s;
  const uint64_t end = 300;

  /* Every write of a reload has the same deadline.  The probes were right
   * once, then met old workers until it came. */
  writes_init(w, NGX_PROBES + 1, 1, end, &s);
  for (size_t i = 0; i < NGX_PROBES; i++)
    ck_assert_int_eq(round_at(&w[i], "1", 0), NGX_VERIFY_AGAIN);
  ck_assert_int_eq(round_at(&w[NGX_PROBES], "1", 0), NGX_VERIFY_WAIT);
  for (size_t i = 0; i < NGX_PROBES; i++) {
    ck_assert_int_eq(round_at(&w[i], "0", 100), NGX_VERIFY_AGAIN);
    ck_assert_int_eq(round_at(&w[i], "0", end), NGX_VERIFY_LATE);
    /* Woken only when no probe is left. */
    ck_assert(ngx__verify_wake_due(&s, NGX_VERIFY_LATE) ==
              (i == NGX_PROBES - 1));
  }
  ck_assert_uint_eq(s.probes, 0);
  ck_assert(!s.done);
  /* Woken at the deadline, the write still has NGX_WOKEN_MS: it becomes a
   * probe, and is served by its own run. */
  ngx__verify_woken(&w[NGX_PROBES], end);
  ck_assert_uint_eq(w[NGX_PROBES].deadline, end + NGX_WOKEN_MS);
  ck_assert_int_eq(round_at(&w[NGX_PROBES], "1", end + 20), NGX_VERIFY_AGAIN);
  ck_assert_uint_eq(s.probes, 1);
  ck_assert_int_eq(round_at(&w[NGX_PROBES], "1", end + 20 + NGX_SETTLE_MS),
                   NGX_VERIFY_SERVED);
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
  tcase_add_test(tc, probes_time_the_handover_for_all);
  tcase_add_test(tc, a_remove_judges_itself);
  tcase_add_test(tc, late_probes_wake_the_waiting_with_time_left);
  tcase_add_test(tc, every_wake_leaves_time_up_to_a_limit);
  suite_add_tcase(s, tc);
  return s;
}
