/*
 * The provider runtime, through a tiny backend defined here: its ops
 * answer after `delay_ms` on a timer of their own (0: inside start()),
 * in the order start() saw them or, with `reverse`, the other way round.
 */
#include "base/compat.h"

#include <stdio.h>

#include "providers/common/runtime.h"
#include "suites.h"

/* Set around every starting call: a callback that sees it ran inside. */
static bool in_call;

#define START(call)  \
  do {               \
    in_call = true;  \
    call;            \
    in_call = false; \
  } while (0)

struct tb {
  struct rt rt;
  uint64_t delay_ms;
  bool reverse;
  uv_timer_t linger; /* a handle of the backend's own, closed at shutdown */
  bool opened;
};

/* What the backend saw, for the tests to check: outside the instance,
 * which the runtime frees. */
static struct {
  size_t start_calls, started, closing_calls, shutdown_calls;
  size_t last_batch;
  bool shutdown_done, released;
} seen;

struct tb_op {
  struct rt_op op;
  uv_timer_t timer;
  int mine; /* the backend's own state: set when answered */
};

static const struct opt tb_options[] = {
    OPT_UINT("delayMs", struct tb, delay_ms, 0, 1000, 0),
    OPT_BOOL("reverse", struct tb, reverse, false),
};

static int tb_open(struct rt *rt, char *err, size_t errcap)
{
  struct tb *tb = container_of(rt, struct tb, rt);

  if (tb->delay_ms == 999) {
    snprintf(err, errcap, "test: delayMs 999 is refused by open");
    return -1;
  }
  uv_timer_init(rt->base.loop, &tb->linger);
  tb->opened = true;
  return 0;
}

/* Names starting with "bad" are refused in the starting call. */
static int tb_check(struct rt_op *op, const struct resource *r)
{
  ck_assert(in_call);
  /* A new op starts zeroed, the backend's part too, and with no
   * message, however the memory of an op answered before was left; its
   * marker is the resource's (a list's is empty). */
  ck_assert_int_eq(container_of(op, struct tb_op, op)->mine, 0);
  ck_assert_int_eq(op->status, 0);
  ck_assert(!op->observed && !op->items && op->nitems == 0);
  ck_assert_ptr_null(op->message);
  if (r) {
    char want[RESOURCE_MARKER_MAX];

    resource_marker(want, op->tenant, op->id);
    ck_assert_str_eq(op->marker, want);
  } else {
    ck_assert_str_eq(op->marker, "");
  }
  if (r && strncmp(r->name, "bad", 3) == 0)
    return rt_op_fail(op, PROVIDER_INVALID, "test: bad name '%s'", r->name);
  return PROVIDER_OK;
}

static void finish(struct rt_op *op)
{
  container_of(op, struct tb_op, op)->mine = 1;
  if (op->kind == RT_LIST) {
    rt_op_add_item(op, "z/2", RTYPE_SERVICE, "b");
    rt_op_add_item(op, "z/1", RTYPE_NETWORK, "z");
    rt_op_add_item(op, "z/3", RTYPE_SERVICE, "a");
    rt_op_sort_items(op);
    rt_op_ok(op, NULL);
  } else if (op->kind == RT_REMOVE) {
    rt_op_fail(op, PROVIDER_NOT_FOUND, "test: %s does not exist", op->name);
  } else if (op->kind == RT_READ && strncmp(op->name, "gone", 4) == 0) {
    rt_op_absent(op);
  } else {
    rt_op_ok(op,
             json_pack("{s:s, s:s}", "name", op->name, "marker", op->marker));
  }
  rt_op_deliver(op);
}

static void on_op_timer_closed(uv_handle_t *h)
{
  finish(&container_of((uv_timer_t *)h, struct tb_op, timer)->op);
}

static void on_op_timer(uv_timer_t *t)
{
  uv_close((uv_handle_t *)t, on_op_timer_closed);
}

static void begin(struct tb *tb, struct rt_op *op)
{
  struct tb_op *to = container_of(op, struct tb_op, op);

  ck_assert(!in_call);
  seen.started++;
  if (tb->delay_ms == 0) {
    finish(op);
    return;
  }
  uv_timer_init(tb->rt.base.loop, &to->timer);
  uv_timer_start(&to->timer, on_op_timer, tb->delay_ms, 0);
}

static void tb_start(struct rt *rt, struct rt_op *ops, size_t n)
{
  struct tb *tb = container_of(rt, struct tb, rt);
  struct rt_op *v[64];
  size_t k = 0;

  seen.start_calls++;
  seen.last_batch = n;
  for (struct rt_op *op = ops; op; op = op->next) {
    ck_assert_uint_lt(k, ARRAY_SIZE(v));
    v[k++] = op;
  }
  ck_assert_uint_eq(k, n);
  for (size_t i = 0; i < n; i++)
    begin(tb, v[tb->reverse ? n - 1 - i : i]);
}

static void tb_closing(struct rt *rt)
{
  (void)rt;
  seen.closing_calls++;
}

static void on_linger_closed(uv_handle_t *h)
{
  struct tb *tb = container_of((uv_timer_t *)h, struct tb, linger);

  seen.shutdown_done = true;
  rt_shutdown_done(&tb->rt);
}

static void tb_shutdown(struct rt *rt)
{
  struct tb *tb = container_of(rt, struct tb, rt);

  ck_assert_uint_eq(rt->inflight, 0);
  seen.shutdown_calls++;
  uv_close((uv_handle_t *)&tb->linger, on_linger_closed);
}

static void tb_release(struct rt *rt)
{
  /* A failed open gets here too, with nothing to close. */
  if (container_of(rt, struct tb, rt)->opened)
    seen.released = true;
}

RT_PROVIDER(rt_test_provider_ops, "test", struct tb, struct tb_op, tb_options,
            .open = tb_open, .check = tb_check, .start = tb_start,
            .closing = tb_closing, .shutdown = tb_shutdown,
            .release = tb_release);

/* ---- the caller's side ---- */

struct fx {
  uv_loop_t loop;
  struct provider *p;
};

/* One answer, and where it came in the order of all answers. */
struct ans {
  bool done;
  int status;
  char message[256];
  bool has_message;
  char name[64];
  size_t seq;
  size_t nitems;
  char items[3][32];
};

static size_t answers;

static void fx_open(struct fx *f, const char *config_text)
{
  json_t *config = json_loads(config_text, 0, NULL);
  char err[256] = "";

  ck_assert_ptr_nonnull(config);
  ck_assert_int_eq(uv_loop_init(&f->loop), 0);
  memset(&seen, 0, sizeof(seen));
  answers = 0;
  ck_assert_int_eq(provider_open(&f->p, &rt_test_provider_ops, "t1", config,
                                 &f->loop, err, sizeof(err)),
                   0);
  ck_assert_str_eq(err, "");
  json_decref(config);
}

static void on_closed(struct provider *p, void *arg)
{
  struct fx *f = arg;

  (void)p;
  ck_assert(!in_call);
  /* After the backend's own handles, before the instance is freed. */
  ck_assert(seen.shutdown_done);
  ck_assert_uint_eq(seen.shutdown_calls, 1);
  ck_assert(!seen.released);
  f->p = NULL;
}

/* Closes, runs the loop dry and checks that nothing is left. */
static void fx_close(struct fx *f)
{
  START(provider_close(f->p, on_closed, f));
  ck_assert_ptr_nonnull(f->p);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ck_assert_ptr_null(f->p);
  ck_assert(seen.released);
  ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void on_res(struct provider *p, const struct provider_result *r,
                   void *arg)
{
  struct ans *a = arg;

  (void)p;
  ck_assert(!in_call);
  ck_assert(!a->done);
  a->done = true;
  a->seq = answers++;
  a->status = r->status;
  snprintf(a->message, sizeof(a->message), "%s", r->message ? r->message : "");
  a->has_message = r->message != NULL;
  snprintf(a->name, sizeof(a->name), "%s",
           r->observed ? json_string_value(json_object_get(r->observed, "name"))
                       : "");
  if (r->status < 0) {
    ck_assert(r->message || r->status == PROVIDER_NOT_FOUND);
    ck_assert_ptr_null(r->observed);
  }
}

static void on_list(struct provider *p, int status, const char *message,
                    const struct provider_owned *items, size_t n, void *arg)
{
  struct ans *a = arg;

  (void)p;
  ck_assert(!in_call);
  ck_assert(!a->done);
  a->done = true;
  a->seq = answers++;
  a->status = status;
  snprintf(a->message, sizeof(a->message), "%s", message ? message : "");
  ck_assert_uint_le(n, ARRAY_SIZE(a->items));
  a->nitems = n;
  for (size_t i = 0; i < n; i++)
    snprintf(a->items[i], sizeof(a->items[i]), "%s", items[i].name);
}

static struct resource *res_new(const char *name)
{
  struct resource *r = td_calloc(1, sizeof(*r));

  r->id = td_asprintf("service/%s", name);
  r->type = RTYPE_SERVICE;
  r->tenant = td_strdup("acme");
  r->name = td_strdup(name);
  r->spec = json_pack("{s:i}", "port", 80);
  return r;
}

/* ---- tests ---- */

/* A joined message is what the same pieces formatted give: cut at the
 * buffer's end (a character cut there made valid), bad bytes escaped,
 * "failed" for nothing. */
START_TEST(joined_message_is_the_formatted_one)
{
  static const char *const texts[] = {
      "/var/lib/tenantd/network/acme-prod.json",
      "caf\xc3\xa9 \xff\xfe bad bytes",
      "",
  };
  static struct rt_op a, b;
  char long_text[RT_MESSAGE_MAX + 16];

  for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
    ck_assert_int_eq(rt_op_fail_text(&a, PROVIDER_NOT_FOUND,
                                     "local: ", texts[i], " does not exist"),
                     PROVIDER_NOT_FOUND);
    rt_op_fail(&b, PROVIDER_NOT_FOUND, "local: %s does not exist", texts[i]);
    ck_assert_str_eq(a.message, b.message);
    ck_assert_int_eq(a.status, PROVIDER_NOT_FOUND);
  }
  /* Two-byte characters across the end of the buffer. */
  for (size_t i = 0; i + 2 < sizeof(long_text); i += 2)
    memcpy(long_text + i, "\xc3\xa9", 2);
  long_text[sizeof(long_text) - 2] = '\0';
  for (size_t shift = 0; shift < 3; shift++) {
    const char *head = shift == 0 ? "" : shift == 1 ? "x" : "xy";

    rt_op_fail_text(&a, PROVIDER_INVALID, head, long_text, " tail");
    rt_op_fail(&b, PROVIDER_INVALID, "%s%s tail", head, long_text);
    ck_assert_str_eq(a.message, b.message);
    ck_assert_uint_lt(strlen(a.message), RT_MESSAGE_MAX);
  }
  rt_op_fail_text(&a, PROVIDER_INVALID, "", "", "");
  ck_assert_str_eq(a.message, "failed");
  /* A success after a failure holds no message. */
  rt_op_ok(&a, NULL);
  ck_assert_ptr_null(a.message);
  ck_assert_int_eq(a.status, PROVIDER_OK);
  rt_op_ok(&b, NULL);
}
END_TEST

START_TEST(answered_after_the_call)
{
  struct fx f;
  struct resource *r = res_new("api"), *bad = res_new("bad-one");
  struct resource *gone = res_new("gone");
  struct ans a[6];

  memset(a, 0, sizeof(a));
  fx_open(&f, "{\"type\": \"test\"}");
  /* The backend answers inside start(): still never inside the call. */
  START(provider_read(f.p, r, on_res, &a[0]));
  START(provider_create(f.p, r, r->spec, on_res, &a[1]));
  START(provider_remove(f.p, r, on_res, &a[2]));
  START(provider_list_owned(f.p, "acme", on_list, &a[3]));
  START(provider_update(f.p, bad, bad->spec, on_res, &a[4]));
  START(provider_read(f.p, gone, on_res, &a[5]));
  for (size_t i = 0; i < ARRAY_SIZE(a); i++)
    ck_assert(!a[i].done);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < ARRAY_SIZE(a); i++)
    ck_assert(a[i].done);
  ck_assert_int_eq(a[0].status, PROVIDER_OK);
  ck_assert_str_eq(a[0].name, "api");
  ck_assert_int_eq(a[1].status, PROVIDER_OK);
  ck_assert_int_eq(a[2].status, PROVIDER_NOT_FOUND);
  ck_assert_str_eq(a[2].message, "test: api does not exist");
  ck_assert_int_eq(a[3].status, PROVIDER_OK);
  ck_assert_uint_eq(a[3].nitems, 3);
  /* By type (network before service), then name. */
  ck_assert_str_eq(a[3].items[0], "z");
  ck_assert_str_eq(a[3].items[1], "a");
  ck_assert_str_eq(a[3].items[2], "b");
  /* Refused by check: answered the same way, never started. */
  ck_assert_int_eq(a[4].status, PROVIDER_INVALID);
  ck_assert_str_eq(a[4].message, "test: bad name 'bad-one'");
  /* A read that found nothing: absent, with no message, where a remove
   * of what is gone said why it failed. */
  ck_assert_int_eq(a[5].status, PROVIDER_NOT_FOUND);
  ck_assert(!a[5].has_message);
  ck_assert(a[2].has_message);
  ck_assert_uint_eq(seen.started, 5);
  ck_assert_uint_eq(seen.start_calls, 1);
  fx_close(&f);
  resource_free(r);
  resource_free(bad);
  resource_free(gone);
}
END_TEST

START_TEST(delivery_is_fifo)
{
  struct fx f;
  struct resource *r[6];
  struct ans a[6];

  memset(a, 0, sizeof(a));
  /* The backend delivers in the reverse of the starting order. */
  fx_open(&f, "{\"reverse\": true}");
  for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
    char name[16];

    snprintf(name, sizeof(name), "r%zu", i);
    r[i] = res_new(name);
    START(provider_read(f.p, r[i], on_res, &a[i]));
  }
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(seen.start_calls, 1);
  ck_assert_uint_eq(seen.last_batch, ARRAY_SIZE(r));
  for (size_t i = 0; i < ARRAY_SIZE(a); i++) {
    ck_assert(a[i].done);
    ck_assert_uint_eq(a[i].seq, ARRAY_SIZE(a) - 1 - i);
  }
  fx_close(&f);
  for (size_t i = 0; i < ARRAY_SIZE(r); i++)
    resource_free(r[i]);
}
END_TEST

/* Each answer starts the next read: those of one turn form one batch. */
struct chain {
  struct fx *f;
  struct resource *r;
  struct ans a[8];
  size_t next, started;
};

static void on_chain(struct provider *p, const struct provider_result *res,
                     void *arg)
{
  struct chain *c = arg;

  on_res(p, res, &c->a[c->next++]);
  if (c->started < ARRAY_SIZE(c->a)) {
    START(provider_read(p, c->r, on_chain, c));
    c->started++;
  }
}

START_TEST(ops_started_by_callbacks_batch)
{
  struct fx f;
  struct chain c;

  memset(&c, 0, sizeof(c));
  fx_open(&f, "{\"delayMs\": 1}");
  c.f = &f;
  c.r = res_new("api");
  for (size_t i = 0; i < 4; i++) {
    START(provider_read(f.p, c.r, on_chain, &c));
    c.started++;
  }
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(c.next, ARRAY_SIZE(c.a));
  ck_assert_uint_eq(seen.started, ARRAY_SIZE(c.a));
  /* Four, then the four their answers started: their timers fire in one
   * turn, so the answers come in one turn and the new reads start in
   * one batch. */
  ck_assert_uint_eq(seen.start_calls, 2);
  ck_assert_uint_eq(seen.last_batch, 4);
  fx_close(&f);
  resource_free(c.r);
}
END_TEST

struct closing {
  struct fx *f;
  struct ans a[6];
  bool closed;
};

static void on_closed_after_ops(struct provider *p, void *arg)
{
  struct closing *w = arg;

  (void)p;
  ck_assert(!in_call);
  for (size_t i = 0; i < ARRAY_SIZE(w->a); i++)
    ck_assert(w->a[i].done);
  ck_assert(seen.shutdown_done);
  ck_assert(!seen.released);
  w->closed = true;
}

START_TEST(close_waits_for_the_last_op)
{
  struct fx f;
  struct resource *r = res_new("api");
  struct closing w;

  memset(&w, 0, sizeof(w));
  w.f = &f;
  fx_open(&f, "{\"delayMs\": 20}");
  for (size_t i = 0; i < 3; i++)
    START(provider_read(f.p, r, on_res, &w.a[i]));
  START(provider_close(f.p, on_closed_after_ops, &w));
  ck_assert_uint_eq(seen.closing_calls, 1);
  /* After close: refused, through the same delivery, never started. */
  START(provider_create(f.p, r, r->spec, on_res, &w.a[3]));
  START(provider_remove(f.p, r, on_res, &w.a[4]));
  START(provider_list_owned(f.p, "acme", on_list, &w.a[5]));
  ck_assert(!w.closed);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert(w.closed);
  ck_assert(seen.released);
  for (size_t i = 0; i < 3; i++) {
    ck_assert_int_eq(w.a[i].status, PROVIDER_OK);
    /* The refused ones came first: the reads waited on their timers. */
    ck_assert_uint_ge(w.a[i].seq, 3);
  }
  for (size_t i = 3; i < 6; i++) {
    ck_assert_int_eq(w.a[i].status, PROVIDER_TRANSIENT);
    ck_assert_str_eq(w.a[i].message, "provider closing");
  }
  ck_assert_uint_eq(seen.started, 3);
  ck_assert_uint_eq(seen.shutdown_calls, 1);
  ck_assert_int_eq(uv_loop_close(&f.loop), 0);
  resource_free(r);
}
END_TEST

START_TEST(close_when_idle_is_deferred)
{
  struct fx f;
  struct resource *r = res_new("api");
  struct closing w;

  memset(&w, 0, sizeof(w));
  w.f = &f;
  fx_open(&f, "{}");
  START(provider_close(f.p, on_closed_after_ops, &w));
  ck_assert(!w.closed);
  /* Started before the deferred close went on: answered before it. */
  for (size_t i = 0; i < ARRAY_SIZE(w.a); i++)
    START(provider_read(f.p, r, on_res, &w.a[i]));
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ck_assert(w.closed);
  ck_assert(seen.released);
  for (size_t i = 0; i < ARRAY_SIZE(w.a); i++) {
    ck_assert_int_eq(w.a[i].status, PROVIDER_TRANSIENT);
    ck_assert_uint_eq(w.a[i].seq, i);
  }
  ck_assert_uint_eq(seen.start_calls, 0);
  ck_assert_int_eq(uv_loop_close(&f.loop), 0);
  resource_free(r);
}
END_TEST

START_TEST(open_failures_leave_nothing)
{
  static const struct {
    const char *json, *message;
  } cases[] = {
      {"{\"delayMs\": 5000}", "test: delayMs must be an integer between 0 "
                              "and 1000"},
      {"{\"delayMS\": 5}", "test: unknown option 'delayMS' (did you mean "
                           "'delayMs'?)"},
      {"{\"delayMs\": 999}", "test: delayMs 999 is refused by open"},
  };
  uv_loop_t loop;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    json_t *config = json_loads(cases[i].json, 0, NULL);
    struct provider *p = (struct provider *)1;
    char err[256] = "";

    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(provider_open(&p, &rt_test_provider_ops, "t1", config,
                                   &loop, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(err, cases[i].message);
    ck_assert(!seen.released);
    json_decref(config);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

Suite *make_suite_runtime(void)
{
  Suite *s = suite_create("runtime");
  TCase *tc = tcase_create("runtime");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, joined_message_is_the_formatted_one);
  tcase_add_test(tc, answered_after_the_call);
  tcase_add_test(tc, delivery_is_fifo);
  tcase_add_test(tc, ops_started_by_callbacks_batch);
  tcase_add_test(tc, close_waits_for_the_last_op);
  tcase_add_test(tc, close_when_idle_is_deferred);
  tcase_add_test(tc, open_failures_leave_nothing);
  suite_add_tcase(s, tc);
  return s;
}
