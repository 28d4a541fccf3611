/*
 * observe: how many reads it keeps in flight, through a tiny provider
 * defined here that answers every read it holds at once, on a later
 * turn, and counts how many it held at most.
 */
#include "base/compat.h"

#include <stdio.h>

#include "engine/observe.h"
#include "providers/local/local.h"
#include "suites.h"

struct pending {
  provider_cb cb;
  void *arg;
};

struct counting {
  struct provider base; /* first */
  uv_timer_t timer;     /* answers what is pending, next turn */
  struct pending *v;
  size_t n, max_n, answered;
};

static struct counting cp;

static void answer(uv_timer_t *t)
{
  struct provider_result res = {.status = PROVIDER_NOT_FOUND};
  size_t n = cp.n;
  struct pending *v = cp.v;

  (void)t;
  /* Callbacks start new reads: they go to a fresh list. */
  cp.v = td_calloc(5000, sizeof(*cp.v));
  cp.n = 0;
  for (size_t i = 0; i < n; i++) {
    cp.answered++;
    v[i].cb(&cp.base, &res, v[i].arg);
  }
  free(v);
}

static void counting_read(struct provider *p, const struct resource *r,
                          provider_cb cb, void *arg)
{
  (void)p;
  (void)r;
  ck_assert_uint_lt(cp.n, 5000);
  cp.v[cp.n++] = (struct pending){cb, arg};
  if (cp.n > cp.max_n)
    cp.max_n = cp.n;
  uv_timer_start(&cp.timer, answer, 0, 0);
}

static const struct provider_ops counting_ops = {
    .version = PROVIDER_OPS_VERSION,
    .type = "counting",
    .read = counting_read,
};

static struct provider *find(const char *instance, void *arg)
{
  (void)arg;
  return strcmp(instance, "counting") == 0 ? &cp.base : NULL;
}

static void timer_closed(uv_handle_t *h)
{
  (void)h;
}

static void closed(struct provider *p, void *arg)
{
  (void)p;
  (void)arg;
}

/* `n` reads of one tenant through a provider answering read_batch reads
 * together; returns the most it held at once. */
static size_t run_reads(size_t n, unsigned read_batch, unsigned concurrency)
{
  uv_loop_t loop;
  struct resource_set set = RESOURCE_SET_INIT;
  struct observe_read *reads = td_calloc(n, sizeof(*reads));
  struct observe_opts o = {
      .concurrency = concurrency, .max_attempts = 1, .provider = find};
  json_t *observed = json_object();
  char *hold = NULL;

  uv_loop_init(&loop);
  memset(&cp, 0, sizeof(cp));
  cp.base.ops = &counting_ops;
  cp.base.instance = "counting";
  cp.base.loop = &loop;
  cp.base.read_batch = read_batch;
  cp.v = td_calloc(5000, sizeof(*cp.v));
  uv_timer_init(&loop, &cp.timer);
  for (size_t i = 0; i < n; i++) {
    char id[32];

    snprintf(id, sizeof(id), "network/n%zu", i);
    resource_set_add(
        &set, resource_new(RTYPE_NETWORK, id, "counting", "t", id + 8, NULL));
    reads[i] = (struct observe_read){set.v[i], observed, &hold};
  }
  observe_run(&loop, reads, n, &o);
  ck_assert_uint_eq(cp.answered, n);
  ck_assert_ptr_null(hold);
  ck_assert_uint_eq(json_object_size(observed), 0);
  uv_close((uv_handle_t *)&cp.timer, timer_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  free(cp.v);
  json_decref(observed);
  resource_set_release(&set);
  free(reads);
  return cp.max_n;
}

START_TEST(observe_one_read_a_call)
{
  /* No read_batch: `concurrency` reads at once, as ever. */
  ck_assert_uint_eq(run_reads(100, 0, 3), 3);
  ck_assert_uint_eq(run_reads(100, 1, 8), 8);
}
END_TEST

START_TEST(observe_batches_count_as_one_call)
{
  /* read_batch reads make one call: that many for each allowed. */
  ck_assert_uint_eq(run_reads(1000, 16, 2), 32);
  ck_assert_uint_eq(run_reads(1000, 512, 8), 1000);
  /* A batch wider than a call's units still counts. */
  ck_assert_uint_eq(run_reads(3000, 100000, 1), 3000);
}
END_TEST

START_TEST(observe_local_reads_in_bulk)
{
  /* The local provider answers its reads in bulk, and says so. */
  char *dir = test_tmpdir();
  json_t *cfg = json_pack("{s:s}", "stateDir", dir);
  uv_loop_t loop;
  struct provider *p = NULL;
  char err[256] = "";

  uv_loop_init(&loop);
  ck_assert_int_eq(provider_open(&p, &local_provider_ops, "local", cfg, &loop,
                                 err, sizeof(err)),
                   0);
  ck_assert_uint_ge(provider_read_batch(p), 64);
  provider_close(p, closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  json_decref(cfg);
  test_rm_rf(dir);
  free(dir);
}
END_TEST

Suite *make_suite_observe(void)
{
  Suite *s = suite_create("observe");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, observe_one_read_a_call);
  tcase_add_test(tc, observe_batches_count_as_one_call);
  tcase_add_test(tc, observe_local_reads_in_bulk);
  suite_add_tcase(s, tc);
  return s;
}
