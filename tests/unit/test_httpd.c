/*
 * The HTTP server's protocol: requests in pieces, pipelining, the limits
 * on one request, timeouts, closing, deferred answers.  The fixture is
 * httpd_fx.h; the limits across connections are test_httpd_limits.c.
 */
#include "httpd_fx.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"

/* ---- tests ---- */

START_TEST(get_reaches_the_handler_whole)
{
  static const char *const req[] = {
      "GET /api/v1/tenants/acme?verbose=1&x=y HTTP/1.1\r\n"
      "Host: localhost\r\nX-Test: hello\r\nConnection: close\r\n\r\n",
      NULL};
  struct hfx f;

  hfx_init(&f);
  hx_expect_exchange(&f, req,
                     hx_ok("GET /api/v1/tenants/acme ?verbose=1&x=y x=hello "
                           "peer=ok n=0 body=\n",
                           "close"));
  ck_assert_uint_eq(f.calls, 1);
}
END_TEST

/* Every piece of the request split across reads, mid-name and mid-value. */
START_TEST(post_body_and_headers_in_pieces)
{
  static const char *const req[] = {
      "PO",
      "ST /hook HTTP/1.1\r\nHo",
      "st: x\r\nX-Te",
      "st: spl",
      "it\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello",
      " world",
      NULL};
  struct hfx f;

  hfx_init(&f);
  /* Not about timeouts: the pieces may take long on a loaded machine. */
  f.limits.request_timeout_ms = 5000;
  f.cl.gap_ms = 20;
  hx_expect_exchange(
      &f, req,
      hx_ok("POST /hook ? x=split peer=ok n=11 body=hello world\n", "close"));
}
END_TEST

START_TEST(chunked_body_with_trailer)
{
  static const char *const req[] = {
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n5\r\nhello\r\n",
      "6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", NULL};
  struct hfx f;

  hfx_init(&f);
  /* Not about timeouts: the pieces may take long on a loaded machine. */
  f.limits.request_timeout_ms = 5000;
  f.cl.gap_ms = 20;
  hx_expect_exchange(
      &f, req, hx_ok("POST /c ? x=- peer=ok n=11 body=hello world\n", "close"));
}
END_TEST

START_TEST(pipelined_two_answered_in_order)
{
  static const char *const req[] = {
      "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /2?q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      NULL};
  char *a = hx_ok("GET /1 ? x=- peer=ok n=0 body=\n", NULL);
  char *b = hx_ok("GET /2 ?q x=- peer=ok n=0 body=\n", "close");
  struct hfx f;

  hfx_init(&f);
  hx_expect_exchange(&f, req, td_asprintf("%s%s", a, b));
  ck_assert_uint_eq(f.calls, 2);
  free(a);
  free(b);
}
END_TEST

START_TEST(pipelined_three_answered_in_order)
{
  static const char *const req[] = {
      "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: x\r\nX-Test: two\r\nContent-Length: 3\r\n"
      "\r\nabc"
      "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      NULL};
  char *a = hx_ok("GET /1 ? x=- peer=ok n=0 body=\n", NULL);
  char *b = hx_ok("POST /2 ? x=two peer=ok n=3 body=abc\n", NULL);
  char *c = hx_ok("GET /3 ? x=- peer=ok n=0 body=\n", "close");
  struct hfx f;

  hfx_init(&f);
  hx_expect_exchange(&f, req, td_asprintf("%s%s%s", a, b, c));
  ck_assert_uint_eq(f.calls, 3);
  free(a);
  free(b);
  free(c);
}
END_TEST

/* Status, content type, WWW-Authenticate; no body for HEAD or 204. */
START_TEST(responses_carry_what_the_handler_set)
{
  static const char *const req[] = {
      "GET /auth HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
      "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n"
      "HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      NULL};
  struct hfx f;

  hfx_init(&f);
  hx_expect_exchange(
      &f, req,
      td_asprintf("HTTP/1.1 401 Unauthorized\r\n" TEXT_PLAIN
                  "Content-Length: 13\r\n"
                  "WWW-Authenticate: Bearer realm=\"tenantd\"\r\n\r\n"
                  "who are you?\n"
                  "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                  "Content-Length: 2\r\n\r\n{}"
                  "HTTP/1.1 204 No Content\r\n" TEXT_PLAIN "\r\n"
                  "HTTP/1.1 200 OK\r\n" TEXT_PLAIN "Content-Length: %zu\r\n"
                  "Connection: close\r\n\r\n",
                  strlen("HEAD /h ? x=- peer=ok n=0 body=\n")));
  ck_assert_uint_eq(f.calls, 4);
}
END_TEST

START_TEST(oversized_headers_get_431)
{
  char big[1200];
  const char *req[] = {big, NULL};
  struct hfx f;

  hfx_init(&f);
  snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %0*d\r\n\r\n",
           1100, 7);
  hx_expect_exchange(&f, req,
                     hx_refusal(431, "Request Header Fields Too Large",
                                "request header fields too large\n"));
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

/* Many small headers add up; the previous request is still answered. */
START_TEST(many_headers_add_up_to_431)
{
  char big[4096];
  const char *req[] = {big, NULL};
  char *good = hx_ok("GET /ok ? x=- peer=ok n=0 body=\n", NULL);
  char *bad = hx_refusal(431, "Request Header Fields Too Large",
                         "request header fields too large\n");
  size_t n = 0;
  struct hfx f;

  hfx_init(&f);
  n += (size_t)snprintf(big, sizeof(big),
                        "GET /ok HTTP/1.1\r\n\r\n"
                        "GET / HTTP/1.1\r\n");
  /* 200 headers of 3 to 6 bytes: each small, 1290 bytes together. */
  for (int i = 0; i < 200; i++)
    n += (size_t)snprintf(big + n, sizeof(big) - n, "H%d: v\r\n", i);
  snprintf(big + n, sizeof(big) - n, "\r\n");
  hx_expect_exchange(&f, req, td_asprintf("%s%s", good, bad));
  ck_assert_uint_eq(f.calls, 1);
  free(good);
  free(bad);
}
END_TEST

/*
 * Answered from the headers alone.  The client sends its body anyway, as
 * clients without "Expect: 100-continue" do; arriving at a closed socket
 * it would draw a reset, which some TCP stacks let destroy the answer
 * before it is read, so the server shuts down and drains instead.
 */
START_TEST(content_length_over_cap_gets_413)
{
  static const char *const req[] = {
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n",
      "0123456789012345678901234567890123456789012345678901234567890123\n",
      NULL};
  struct hfx f;

  hfx_init(&f);
  /* Not about timeouts: the pieces may take long on a loaded machine. */
  f.limits.request_timeout_ms = 5000;
  f.cl.gap_ms = 50;
  hx_expect_exchange(
      &f, req, hx_refusal(413, "Payload Too Large", "payload too large\n"));
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

START_TEST(chunked_body_over_cap_gets_413)
{
  static const char *const req[] = {
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "40\r\n0123456789012345678901234567890123456789012345678901234567890123"
      "\r\n1\r\nX\r\n0\r\n\r\n",
      NULL};
  struct hfx f;

  hfx_init(&f);
  hx_expect_exchange(
      &f, req, hx_refusal(413, "Payload Too Large", "payload too large\n"));
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

START_TEST(expect_continue_gets_100_first)
{
  static const char *const req[] = {
      "PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: 4\r\nConnection: close\r\n\r\n",
      "data", NULL};
  char *body = hx_ok("PUT /e ? x=- peer=ok n=4 body=data\n", "close");
  struct hfx f;

  hfx_init(&f);
  /* Not about timeouts: the pieces may take long on a loaded machine. */
  f.limits.request_timeout_ms = 5000;
  f.cl.gap_ms = 50;
  hx_expect_exchange(&f, req,
                     td_asprintf("HTTP/1.1 100 Continue\r\n\r\n%s", body));
  free(body);
}
END_TEST

/* A good request before the bad one is still answered first. */
START_TEST(malformed_request_line_gets_400)
{
  static const char *const req[] = {"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                                    "NONSENSE\r\n\r\n",
                                    NULL};
  char *good = hx_ok("GET /ok ? x=- peer=ok n=0 body=\n", NULL);
  char *bad = hx_refusal(400, "Bad Request", "bad request\n");
  struct hfx f;

  hfx_init(&f);
  hx_expect_exchange(&f, req, td_asprintf("%s%s", good, bad));
  ck_assert_uint_eq(f.calls, 1);
  free(good);
  free(bad);
}
END_TEST

START_TEST(slow_request_gets_408)
{
  static const char *const req[] = {"GET / HTTP/1.1\r\nHost: x\r\n", NULL};
  struct hfx f;

  hfx_init(&f);
  f.limits.idle_timeout_ms = 5000;
  hx_expect_exchange(&f, req,
                     hx_refusal(408, "Request Timeout", "request timeout\n"));
  ck_assert_int_ge(f.cl.ms, 150);
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

/* Closed without a word, idle_timeout_ms after the answer. */
START_TEST(idle_keep_alive_is_closed)
{
  static const char *const req[] = {"GET /k HTTP/1.1\r\nHost: x\r\n\r\n", NULL};
  struct hfx f;

  hfx_init(&f);
  f.limits.request_timeout_ms = 5000;
  hx_expect_exchange(&f, req, hx_ok("GET /k ? x=- peer=ok n=0 body=\n", NULL));
  ck_assert_int_ge(f.cl.ms, 250);
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
}
END_TEST

START_TEST(silent_connection_is_closed)
{
  struct hfx f;

  hfx_init(&f);
  f.limits.request_timeout_ms = 5000;
  hfx_run(&f);
  ck_assert_int_eq(f.cl.end, END_EOF);
  ck_assert_uint_eq(f.cl.len, 0);
  ck_assert_int_ge(f.cl.ms, 250);
}
END_TEST

/* With timeouts far away, only honouring the close ends it in time. */
START_TEST(connection_close_is_honoured)
{
  static const char *const req[] = {
      "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL};
  struct hfx f;

  hfx_init(&f);
  f.limits.request_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  hx_expect_exchange(&f, req,
                     hx_ok("GET /c ? x=- peer=ok n=0 body=\n", "close"));
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
}
END_TEST

START_TEST(http10_closes_unless_kept_alive)
{
  static const char *const req[] = {
      "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      "GET /b HTTP/1.0\r\n\r\n",
      NULL};
  char *a = hx_ok("GET /a ? x=- peer=ok n=0 body=\n", "keep-alive");
  char *b = hx_ok("GET /b ? x=- peer=ok n=0 body=\n", "close");
  struct hfx f;

  hfx_init(&f);
  f.limits.request_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  hx_expect_exchange(&f, req, td_asprintf("%s%s", a, b));
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
  free(a);
  free(b);
}
END_TEST

/* One connection allowed: a second is closed at once, the first served. */
static void run_two_connections(struct hfx *f)
{
  struct hclient *cl = &f->cl;
  static const char first[] = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n";
  static const char last[] =
      "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  char buf[256];
  int fd2;

  cl->fd = hx_dial(cl->port, 0);
  if (cl->fd < 0) {
    cl->end = END_NOCONN;
    return;
  }
  /* Answered, so the server has surely taken it as its one connection. */
  hx_send_all(cl->fd, first, strlen(first));
  cl->end = hx_read_reply(cl->fd, cl->resp, cl->cap, &cl->len, "body=\n");
  fd2 = hx_dial(cl->port, 0);
  if (fd2 < 0) {
    cl->end2 = END_NOCONN;
  } else {
    cl->end2 = hx_read_reply(fd2, buf, sizeof(buf), &cl->len2, NULL);
    close(fd2);
  }
  hx_send_all(cl->fd, last, strlen(last));
  cl->end = hx_read_reply(cl->fd, cl->resp, cl->cap, &cl->len, NULL);
  close(cl->fd);
  cl->fd = -1;
}

START_TEST(past_max_connections_is_closed)
{
  char *a = hx_ok("GET /1 ? x=- peer=ok n=0 body=\n", NULL);
  char *b = hx_ok("GET /2 ? x=- peer=ok n=0 body=\n", "close");
  char *want = td_asprintf("%s%s", a, b);
  struct hfx f;

  hfx_init(&f);
  f.limits.max_connections = 1;
  f.limits.idle_timeout_ms = 5000;
  f.run = run_two_connections;
  hfx_run(&f);
  ck_assert_int_eq(f.cl.end2, END_EOF);
  ck_assert_uint_eq(f.cl.len2, 0);
  ck_assert_str_eq(f.cl.resp, want);
  ck_assert_int_eq(f.cl.end, END_EOF);
  ck_assert_uint_eq(f.calls, 2);
  free(a);
  free(b);
  free(want);
}
END_TEST

static void count_close(void *arg)
{
  (*(unsigned *)arg)++;
}

/* Failing, it leaves nothing on the loop: that closes at once. */
START_TEST(port_in_use_is_an_error)
{
  struct httpd_limits limits = HTTPD_LIMITS_DEFAULT;
  struct httpd *h, *h2;
  unsigned closed = 0;
  uv_loop_t loop, loop2;
  char want[64];

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(uv_loop_init(&loop2), 0);
  ck_assert_int_eq(
      httpd_start(&h, &loop, "127.0.0.1", 0, &limits, hx_echo, NULL), 0);
  h2 = h;
  ck_assert_int_eq(httpd_start(&h2, &loop2, "127.0.0.1", httpd_port(h), &limits,
                               hx_echo, NULL),
                   -1);
  ck_assert_ptr_null(h2);
  snprintf(want, sizeof(want), "listen 127.0.0.1:%d: address already in use",
           httpd_port(h));
  ck_assert_str_eq(td_error_last(), want);
  ck_assert_int_eq(
      httpd_start(&h2, &loop2, "localhost", 9400, &limits, hx_echo, NULL), -1);
  ck_assert_str_eq(td_error_last(), "listen localhost:9400: not an IP address");
  ck_assert_int_eq(uv_loop_close(&loop2), 0);
  httpd_close(h, count_close, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(closed, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST
/* A kept-alive connection with half a request in flight: closing the
 * server closes it too, and frees everything (ASan checks the latter). */
START_TEST(close_with_open_connection)
{
  static const char *const req[] = {"GET /open HTTP/1.1\r\nHost: x\r\n\r\n"
                                    "GET /half HTTP/1.1\r\nHo",
                                    NULL};
  char *want = hx_ok("GET /open ? x=- peer=ok n=0 body=\n", NULL);
  struct hfx f;
  char buf[64];

  hfx_init(&f);
  f.limits.request_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  f.cl.chunks = req;
  f.cl.until = "body=\n";
  hfx_run(&f);
  ck_assert_int_eq(f.cl.end, END_MATCH);
  ck_assert_str_eq(f.cl.resp, want);
  ck_assert_int_le(recv(f.cl.fd, buf, sizeof(buf), 0), 0);
  close(f.cl.fd);
  ck_assert_uint_eq(f.calls, 1);
  free(want);
}
END_TEST

/* The handler may close the server under its own request. */
START_TEST(handler_may_close_the_server)
{
  static const char *const req[] = {"GET /quit HTTP/1.1\r\nHost: x\r\n\r\n",
                                    NULL};
  struct hfx f;

  hfx_init(&f);
  f.limits.idle_timeout_ms = 5000;
  f.cl.chunks = req;
  hfx_run(&f);
  ck_assert_int_eq(f.cl.end, END_EOF);
  ck_assert_uint_eq(f.cl.len, 0);
  ck_assert_uint_eq(f.calls, 1);
}
END_TEST

/* A deferred answer comes after the timeouts would have struck, and the
 * request pipelined behind it waits for it: answers stay in order. */
START_TEST(deferred_answer_keeps_the_order)
{
  static const char *const req[] = {
      "GET /later/500 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      NULL};
  char *a = hx_ok("later /later/500\n", NULL);
  char *b = hx_ok("GET /2 ? x=- peer=ok n=0 body=\n", "close");
  struct hfx f;

  hfx_init(&f);
  hx_expect_exchange(&f, req, td_asprintf("%s%s", a, b));
  ck_assert_uint_eq(f.calls, 2);
  free(a);
  free(b);
}
END_TEST

static void run_and_leave(struct hfx *f)
{
  int fd = hx_dial(f->cl.port, 0);

  if (fd < 0) {
    f->cl.end = END_NOCONN;
    return;
  }
  hx_send_all(fd, f->cl.chunks[0], strlen(f->cl.chunks[0]));
  /* Until the handler has deferred its answer. */
  for (int i = 0; i < 400 && __atomic_load_n(&f->calls, __ATOMIC_SEQ_CST) == 0;
       i++)
    hx_sleep_ms(5);
  close(fd);
  f->cl.end = END_EOF;
}

/* The client leaves and the server closes before the answer: it is
 * dropped when it comes, nothing leaks (ASan), the loop ends clean. */
START_TEST(deferred_answer_to_a_client_gone)
{
  static const char *const req[] = {
      "GET /later/150 HTTP/1.1\r\nHost: x\r\n\r\n", NULL};
  struct hfx f;

  hfx_init(&f);
  f.cl.chunks = req;
  f.run = run_and_leave;
  hfx_run(&f);
  ck_assert_uint_eq(f.calls, 1);
}
END_TEST

Suite *make_suite_httpd(void)
{
  Suite *s = suite_create("httpd");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 10);
  tcase_add_test(tc, get_reaches_the_handler_whole);
  tcase_add_test(tc, post_body_and_headers_in_pieces);
  tcase_add_test(tc, chunked_body_with_trailer);
  tcase_add_test(tc, pipelined_two_answered_in_order);
  tcase_add_test(tc, pipelined_three_answered_in_order);
  tcase_add_test(tc, responses_carry_what_the_handler_set);
  tcase_add_test(tc, oversized_headers_get_431);
  tcase_add_test(tc, many_headers_add_up_to_431);
  tcase_add_test(tc, content_length_over_cap_gets_413);
  tcase_add_test(tc, chunked_body_over_cap_gets_413);
  tcase_add_test(tc, expect_continue_gets_100_first);
  tcase_add_test(tc, malformed_request_line_gets_400);
  tcase_add_test(tc, slow_request_gets_408);
  tcase_add_test(tc, idle_keep_alive_is_closed);
  tcase_add_test(tc, silent_connection_is_closed);
  tcase_add_test(tc, connection_close_is_honoured);
  tcase_add_test(tc, http10_closes_unless_kept_alive);
  tcase_add_test(tc, past_max_connections_is_closed);
  tcase_add_test(tc, port_in_use_is_an_error);
  tcase_add_test(tc, close_with_open_connection);
  tcase_add_test(tc, handler_may_close_the_server);
  tcase_add_test(tc, deferred_answer_keeps_the_order);
  tcase_add_test(tc, deferred_answer_to_a_client_gone);
  suite_add_tcase(s, tc);
  return s;
}
