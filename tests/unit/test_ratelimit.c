/*
 * A provider instance's rate limit (providers/common/ratelimit.h), around
 * a provider that answers at once and writes down each call.  Buckets
 * live for the process, one per instance name: each test uses names of
 * its own.
 */
#include "base/compat.h"

#include <stdio.h>
#include <uv.h>

#include "providers/common/ratelimit.h"
#include "suites.h"

enum { MAX_CALLS = 16 };

/* The inner provider: every call answered at once, its kind, resource
 * and spec written down in order with the time it came. */
struct counter_provider {
  struct provider base;
  unsigned calls;
  char seen[MAX_CALLS][32];
  uint64_t at[MAX_CALLS];
  bool closed;
};

static void note(struct provider *p, const char *what, const void *r,
                 const json_t *spec)
{
  struct counter_provider *c = (struct counter_provider *)p;

  ck_assert_uint_lt(c->calls, MAX_CALLS);
  ck_assert(!c->closed);
  snprintf(c->seen[c->calls], sizeof(c->seen[0]), "%s %u%s", what,
           (unsigned)(uintptr_t)r, spec ? " spec" : "");
  if (spec)
    ck_assert_int_eq(json_integer_value(json_object_get(spec, "n")),
                     (json_int_t)(uintptr_t)r);
  c->at[c->calls++] = uv_hrtime();
}

static void answer(struct provider *p, provider_cb cb, void *arg)
{
  struct provider_result res = {PROVIDER_OK, NULL, NULL};

  cb(p, &res, arg);
}

static void cp_read(struct provider *p, const struct resource *r,
                    provider_cb cb, void *arg)
{
  note(p, "read", r, NULL);
  answer(p, cb, arg);
}

static void cp_create(struct provider *p, const struct resource *r,
                      const json_t *spec, provider_cb cb, void *arg)
{
  note(p, "create", r, spec);
  answer(p, cb, arg);
}

static void cp_update(struct provider *p, const struct resource *r,
                      const json_t *spec, provider_cb cb, void *arg)
{
  note(p, "update", r, spec);
  answer(p, cb, arg);
}

static void cp_remove(struct provider *p, const struct resource *r,
                      provider_cb cb, void *arg)
{
  note(p, "remove", r, NULL);
  answer(p, cb, arg);
}

static void cp_list(struct provider *p, const char *tenant, provider_list_cb cb,
                    void *arg)
{
  note(p, tenant, NULL, NULL);
  cb(p, 0, NULL, NULL, 0, arg);
}

static void cp_close(struct provider *p, provider_close_cb cb, void *arg)
{
  ((struct counter_provider *)p)->closed = true;
  cb(p, arg);
}

static const struct provider_ops counter_ops = {
    .version = PROVIDER_OPS_VERSION,
    .type = "counter",
    .read = cp_read,
    .create = cp_create,
    .update = cp_update,
    .remove = cp_remove,
    .list_owned = cp_list,
    .close = cp_close,
};

static void counter_init(struct counter_provider *c, const char *instance,
                         uv_loop_t *loop)
{
  memset(c, 0, sizeof(*c));
  c->base.ops = &counter_ops;
  c->base.instance = (char *)instance;
  c->base.loop = loop;
}

/* A resource the counter knows by number. */
#define RES(i) ((const struct resource *)(uintptr_t)(i))

static void count_done(struct provider *p, const struct provider_result *res,
                       void *arg)
{
  (void)p;
  ck_assert_int_eq(res->status, PROVIDER_OK);
  ++*(unsigned *)arg;
}

static void list_done(struct provider *p, int status, const char *message,
                      const struct provider_owned *items, size_t n, void *arg)
{
  (void)p;
  (void)message;
  (void)items;
  ck_assert_int_eq(status, 0);
  ck_assert_uint_eq(n, 0);
  ++*(unsigned *)arg;
}

/* The close callback, which must come after every call's callback. */
struct close_wait {
  bool closed;
  unsigned done_at_close;
  const unsigned *done;
};

static void closed(struct provider *p, void *arg)
{
  struct close_wait *w = arg;

  (void)p;
  w->closed = true;
  w->done_at_close = w->done ? *w->done : 0;
}

static void close_and_finish(uv_loop_t *loop, struct provider *p,
                             const unsigned *done)
{
  struct close_wait w = {false, 0, done};

  provider_close(p, closed, &w);
  ck_assert_int_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
  ck_assert(w.closed);
  if (done)
    ck_assert_uint_eq(w.done_at_close, *done);
  ck_assert_int_eq(uv_loop_close(loop), 0);
}

/* A burst goes at once; the rest waits its turn, in order, and no faster
 * than the rate allows. */
START_TEST(ratelimit_spaces_calls_in_order)
{
  uv_loop_t loop;
  struct counter_provider counter;
  struct provider *p;
  unsigned done = 0;
  uint64_t t0;

  uv_loop_init(&loop);
  counter_init(&counter, "rl-test", &loop);
  p = ratelimit_wrap(&counter.base, 20, 2);
  t0 = uv_hrtime();
  for (uintptr_t i = 1; i <= 5; i++)
    provider_read(p, RES(i), count_done, &done);
  ck_assert_uint_eq(counter.calls, 2); /* the burst, synchronously */
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(done, 5);
  for (unsigned i = 0; i < 5; i++) {
    char want[32];

    snprintf(want, sizeof(want), "read %u", i + 1);
    ck_assert_str_eq(counter.seen[i], want);
  }
  /* Three calls past the burst at 20/s: at least 150 ms. */
  ck_assert_uint_ge(uv_hrtime() - t0, 140 * 1000000ULL);
  close_and_finish(&loop, p, &done);
  ck_assert(counter.closed);
}
END_TEST

/* With a burst of one, call i (from 0) comes no sooner than i/qps after
 * the first was made, and not grossly later: a unit mistake would show
 * as seconds.  Times are taken before the calls, as a late timer or a
 * busy machine may shorten one gap, never the sum. */
START_TEST(ratelimit_rate_between_calls)
{
  uv_loop_t loop;
  struct counter_provider counter;
  struct provider *p;
  unsigned done = 0;
  uint64_t t0;

  uv_loop_init(&loop);
  counter_init(&counter, "rl-rate", &loop);
  p = ratelimit_wrap(&counter.base, 20, 1);
  t0 = uv_hrtime();
  for (uintptr_t i = 1; i <= 6; i++)
    provider_read(p, RES(i), count_done, &done);
  ck_assert_uint_eq(counter.calls, 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(done, 6);
  for (unsigned i = 1; i < 6; i++)
    ck_assert_uint_ge(counter.at[i] - t0, i * 49 * 1000000ULL);
  /* Five waits of 50 ms; a loaded machine may add some, not seconds. */
  ck_assert_uint_lt(counter.at[5] - t0, 3000 * 1000000ULL);
  close_and_finish(&loop, p, &done);
}
END_TEST

/* Every kind of call takes a token, and they reach the provider in the
 * order made, whatever their kind, with their spec and tenant. */
START_TEST(ratelimit_keeps_order_across_kinds)
{
  static const char *const want[] = {
      "read 1",   "create 2 spec", "update 3 spec",
      "remove 4", "acme 0",        "read 6",
  };
  uv_loop_t loop;
  struct counter_provider counter;
  struct provider *p;
  json_t *s2 = json_pack("{s:i}", "n", 2), *s3 = json_pack("{s:i}", "n", 3);
  unsigned done = 0;

  uv_loop_init(&loop);
  counter_init(&counter, "rl-kinds", &loop);
  p = ratelimit_wrap(&counter.base, 20, 1);
  provider_read(p, RES(1), count_done, &done);
  provider_create(p, RES(2), s2, count_done, &done);
  provider_update(p, RES(3), s3, count_done, &done);
  provider_remove(p, RES(4), count_done, &done);
  provider_list_owned(p, "acme", list_done, &done);
  provider_read(p, RES(6), count_done, &done);
  ck_assert_uint_eq(counter.calls, 1);
  ck_assert_uint_eq(done, 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(done, 6);
  ck_assert_uint_eq(counter.calls, 6);
  for (unsigned i = 0; i < ARRAY_SIZE(want); i++)
    ck_assert_str_eq(counter.seen[i], want[i]);
  /* The queue held its own references: ours are the last. */
  ck_assert_int_eq(s2->refcount, 1);
  ck_assert_int_eq(s3->refcount, 1);
  json_decref(s2);
  json_decref(s3);
  close_and_finish(&loop, p, &done);
}
END_TEST

/* A call made while others wait goes behind them, even when a token has
 * come back in the meantime. */
START_TEST(ratelimit_late_call_waits_behind_the_queue)
{
  uv_loop_t loop;
  struct counter_provider counter;
  struct provider *p;
  unsigned done = 0;

  uv_loop_init(&loop);
  counter_init(&counter, "rl-late", &loop);
  p = ratelimit_wrap(&counter.base, 20, 1);
  provider_read(p, RES(1), count_done, &done);
  provider_read(p, RES(2), count_done, &done);
  provider_read(p, RES(3), count_done, &done);
  uv_sleep(100); /* a token comes back while 2 and 3 wait */
  provider_read(p, RES(4), count_done, &done);
  ck_assert_uint_eq(counter.calls, 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(done, 4);
  ck_assert_str_eq(counter.seen[1], "read 2");
  ck_assert_str_eq(counter.seen[2], "read 3");
  ck_assert_str_eq(counter.seen[3], "read 4");
  close_and_finish(&loop, p, &done);
}
END_TEST

/* The bucket belongs to the instance name, not to one wrapper: a second
 * pass (a new wrapper) starts with what the first one left, and another
 * instance has a bucket of its own. */
START_TEST(ratelimit_bucket_outlives_the_wrapper)
{
  uv_loop_t loop;
  struct counter_provider first, second, other;
  struct provider *p;
  unsigned done = 0;
  uint64_t t0;

  uv_loop_init(&loop);
  counter_init(&first, "rl-pass", &loop);
  p = ratelimit_wrap(&first.base, 2, 2);
  t0 = uv_hrtime();
  provider_read(p, RES(1), count_done, &done);
  provider_read(p, RES(2), count_done, &done);
  ck_assert_uint_eq(first.calls, 2);
  close_and_finish(&loop, p, NULL);

  uv_loop_init(&loop);
  counter_init(&other, "rl-pass-other", &loop);
  p = ratelimit_wrap(&other.base, 2, 2);
  provider_read(p, RES(3), count_done, &done);
  ck_assert_uint_eq(other.calls, 1);
  close_and_finish(&loop, p, NULL);

  uv_loop_init(&loop);
  counter_init(&second, "rl-pass", &loop);
  p = ratelimit_wrap(&second.base, 2, 2);
  provider_read(p, RES(4), count_done, &done);
  ck_assert_uint_eq(second.calls, 0); /* the burst is spent */
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(second.calls, 1);
  /* A full bucket of two at t0, three calls since: one token more, which
   * takes 500 ms at 2/s. */
  ck_assert_uint_ge(second.at[0] - t0, 490 * 1000000ULL);
  ck_assert_uint_eq(done, 4);
  close_and_finish(&loop, p, &done);
}
END_TEST

/* Idle for a long while, the bucket refills to `burst` and no more. */
START_TEST(ratelimit_refills_up_to_burst)
{
  uv_loop_t loop;
  struct counter_provider counter;
  struct provider *p;
  unsigned done = 0;

  uv_loop_init(&loop);
  counter_init(&counter, "rl-refill", &loop);
  p = ratelimit_wrap(&counter.base, 10, 3);
  for (uintptr_t i = 1; i <= 3; i++)
    provider_read(p, RES(i), count_done, &done);
  ck_assert_uint_eq(counter.calls, 3);
  uv_sleep(500); /* five tokens' worth of time, three kept */
  for (uintptr_t i = 4; i <= 8; i++)
    provider_read(p, RES(i), count_done, &done);
  ck_assert_uint_eq(counter.calls, 6);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(done, 8);
  close_and_finish(&loop, p, &done);
}
END_TEST

/* Closing the wrapper while calls wait for a token: each is still
 * answered, in turn, before the close completes. */
START_TEST(ratelimit_close_with_queued_calls)
{
  uv_loop_t loop;
  struct counter_provider counter;
  struct provider *p;
  unsigned done = 0;

  uv_loop_init(&loop);
  counter_init(&counter, "rl-close", &loop);
  p = ratelimit_wrap(&counter.base, 20, 1);
  for (uintptr_t i = 1; i <= 4; i++)
    provider_read(p, RES(i), count_done, &done);
  ck_assert_uint_eq(counter.calls, 1);
  close_and_finish(&loop, p, &done);
  ck_assert_uint_eq(done, 4);
}
END_TEST

Suite *make_suite_ratelimit(void)
{
  Suite *s = suite_create("ratelimit");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, ratelimit_spaces_calls_in_order);
  tcase_add_test(tc, ratelimit_rate_between_calls);
  tcase_add_test(tc, ratelimit_keeps_order_across_kinds);
  tcase_add_test(tc, ratelimit_late_call_waits_behind_the_queue);
  tcase_add_test(tc, ratelimit_bucket_outlives_the_wrapper);
  tcase_add_test(tc, ratelimit_refills_up_to_burst);
  tcase_add_test(tc, ratelimit_close_with_queued_calls);
  suite_add_tcase(s, tc);
  return s;
}
