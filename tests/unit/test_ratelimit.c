/*
 * A provider instance's rate limit (providers/common/ratelimit.h), around
 * a provider that answers at once and counts its calls.
 */
#include "base/compat.h"

#include <uv.h>

#include "providers/common/ratelimit.h"
#include "suites.h"

struct counter_provider {
  struct provider base;
  unsigned calls;
  unsigned order[8];
};

static struct counter_provider counter;

static void cp_read(struct provider *p, const struct resource *r,
                    provider_cb cb, void *arg)
{
  struct provider_result res = {PROVIDER_OK, NULL, NULL};

  counter.order[counter.calls++ % 8] = (unsigned)(uintptr_t)r;
  cb(p, &res, arg);
}

static void cp_close(struct provider *p, provider_close_cb cb, void *arg)
{
  cb(p, arg);
}

static const struct provider_ops counter_ops = {
    .version = PROVIDER_OPS_VERSION,
    .type = "counter",
    .read = cp_read,
    .close = cp_close,
};

static void count_done(struct provider *p, const struct provider_result *res,
                       void *arg)
{
  (void)p;
  (void)res;
  ++*(unsigned *)arg;
}

static void closed(struct provider *p, void *arg)
{
  (void)p;
  *(bool *)arg = true;
}

/* A burst goes at once; the rest waits its turn, in order, and no faster
 * than the rate allows. */
START_TEST(ratelimit_spaces_calls_in_order)
{
  uv_loop_t loop;
  struct provider *p;
  unsigned done = 0;
  bool is_closed = false;
  uint64_t t0;

  uv_loop_init(&loop);
  memset(&counter, 0, sizeof(counter));
  counter.base.ops = &counter_ops;
  counter.base.instance = "rl-test";
  counter.base.loop = &loop;
  p = ratelimit_wrap(&counter.base, 20, 2);
  t0 = uv_hrtime();
  for (uintptr_t i = 1; i <= 5; i++)
    provider_read(p, (const struct resource *)i, count_done, &done);
  ck_assert_uint_eq(counter.calls, 2); /* the burst, synchronously */
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(done, 5);
  for (unsigned i = 0; i < 5; i++)
    ck_assert_uint_eq(counter.order[i], i + 1);
  /* Three calls past the burst at 20/s: at least 150 ms. */
  ck_assert_uint_ge(uv_hrtime() - t0, 140 * 1000000ULL);
  provider_close(p, closed, &is_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(is_closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

Suite *make_suite_ratelimit(void)
{
  Suite *s = suite_create("ratelimit");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, ratelimit_spaces_calls_in_order);
  suite_add_tcase(s, tc);
  return s;
}
