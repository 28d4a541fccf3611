/*
 * The HTTP server's limits across requests and connections: output held
 * back under backpressure, pipelining without reading, the reserved
 * health slots and who may take them.  The fixture is httpd_fx.h.
 */
#include "httpd_fx.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"

/*
 * Answers far larger than the socket buffers, to a client that reads only
 * once it has sent everything: the server stops reading while they queue
 * up and takes the second batch once the client has caught up.
 */
START_TEST(large_answers_pipelined_under_backpressure)
{
  static char batch[2][NBIG / 2 * 64];
  const char *req[] = {batch[0], batch[1], NULL};
  char *want = td_malloc(sizeof(hx_resp_buf));
  char *body = td_malloc(BIG_BODY + 1);
  size_t n = 0;
  struct hfx f;

  hfx_init(&f);
  f.limits.idle_timeout_ms = 5000;
  f.limits.request_timeout_ms = 5000;
  f.cl.gap_ms = 50;
  /* Fixed, so the kernel cannot take in all of the first batch. */
  f.cl.rcvbuf = 64 * 1024;
  for (int b = 0; b < 2; b++) {
    size_t m = 0;

    for (int i = b * NBIG / 2; i < (b + 1) * NBIG / 2; i++)
      m += (size_t)snprintf(batch[b] + m, sizeof(batch[b]) - m,
                            "GET /big/%d HTTP/1.1\r\nHost: x\r\n%s\r\n", i,
                            i == NBIG - 1 ? "Connection: close\r\n" : "");
  }
  for (int i = 0; i < NBIG; i++) {
    int k = snprintf(body, BIG_BODY + 1, "/big/%d", i);

    memset(body + k, 'x', BIG_BODY - (size_t)k);
    body[BIG_BODY] = '\0';
    n += (size_t)snprintf(
        want + n, sizeof(hx_resp_buf) - n,
        "HTTP/1.1 200 OK\r\n" TEXT_PLAIN "Content-Length: %d\r\n%s\r\n%s",
        BIG_BODY, i == NBIG - 1 ? "Connection: close\r\n" : "", body);
  }
  f.cl.chunks = req;
  hfx_run(&f);
  ck_assert_int_eq(f.cl.end, END_EOF);
  ck_assert_uint_eq(f.cl.len, n);
  ck_assert_msg(memcmp(f.cl.resp, want, n) == 0, "answers differ");
  ck_assert_uint_eq(f.calls, NBIG);
  free(want);
  free(body);
}
END_TEST

/*
 * A client pipelines many requests for large answers and never reads
 * them: the server stops parsing once max_in_flight answers or a few
 * KiB are on their way, instead of answering everything it was sent.
 */
static void run_flood_never_reading(struct hfx *f)
{
  struct hclient *cl = &f->cl;
  char req[64];

  cl->fd = hx_dial(cl->port, 4096);
  if (cl->fd < 0) {
    cl->end = END_NOCONN;
    return;
  }
  for (int i = 0; i < 200; i++) {
    int n = snprintf(req, sizeof(req),
                     "GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);

    hx_send_all(cl->fd, req, (size_t)n);
  }
  hx_sleep_ms(500);
  close(cl->fd);
  cl->fd = -1;
  cl->end = END_EOF;
}

START_TEST(pipelining_without_reading_is_bounded)
{
  struct hfx f;

  hfx_init(&f);
  f.limits.idle_timeout_ms = 5000;
  f.limits.request_timeout_ms = 5000;
  f.run = run_flood_never_reading;
  hfx_run(&f);
  /* Answered until the kernel's socket buffers and the high-water mark
   * are full (about ten answers here); without the pause, the one read
   * that brought all 200 requests was answered whole, 50 MB queued. */
  ck_assert_uint_ge(f.calls, 1);
  ck_assert_uint_lt(f.calls, 50);
}
END_TEST

/* Sends one request on a new connection and reads the reply whole. */
static enum end probe(int port, const char *path, char *buf, size_t size,
                      size_t *len)
{
  char req[128];
  int fd = hx_dial(port, 0), n;
  enum end end;

  *len = 0;
  buf[0] = '\0';
  if (fd < 0)
    return END_NOCONN;
  n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
  hx_send_all(fd, req, (size_t)n);
  end = hx_read_reply(fd, buf, size, len, NULL);
  close(fd);
  return end;
}

static char probe_other[512], probe_health[512], probe_full[512];
static enum end probe_ends[3];

/* Fills every slot one address may have with connections that send
 * nothing, then probes: the health path is still answered. */
static void run_crowded(struct hfx *f)
{
  struct hclient *cl = &f->cl;
  int idle[8];
  size_t len, n = f->limits.max_per_peer;

  for (size_t i = 0; i < n; i++)
    idle[i] = hx_dial(cl->port, 0);
  probe_ends[0] =
      probe(cl->port, "/other", probe_other, sizeof(probe_other), &len);
  probe_ends[1] =
      probe(cl->port, "/healthz", probe_health, sizeof(probe_health), &len);
  /* Reserved slots taken by connections that send nothing: refused. */
  idle[n] = hx_dial(cl->port, 0);
  idle[n + 1] = hx_dial(cl->port, 0);
  probe_ends[2] =
      probe(cl->port, "/healthz", probe_full, sizeof(probe_full), &len);
  for (size_t i = 0; i < n + 2; i++)
    if (idle[i] >= 0)
      close(idle[i]);
  cl->end = END_EOF;
}

START_TEST(health_is_answered_past_the_per_peer_limit)
{
  static const char *const reserved[] = {"/healthz", "/readyz", NULL};
  char *busy = hx_refusal(503, "Service Unavailable", "busy\n");
  char *health = hx_ok("GET /healthz ? x=- peer=ok n=0 body=\n", "close");
  struct hfx f;

  hfx_init(&f);
  f.limits.max_connections = 100;
  f.limits.max_per_peer = 3;
  f.limits.reserved_slots = 2;
  f.limits.reserved_paths = reserved;
  f.limits.first_byte_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  f.run = run_crowded;
  hfx_run(&f);
  ck_assert_int_eq(probe_ends[0], END_EOF);
  ck_assert_str_eq(probe_other, busy);
  ck_assert_int_eq(probe_ends[1], END_EOF);
  ck_assert_str_eq(probe_health, health);
  /* Closed at once, with its request unread: a reset, or an EOF. */
  ck_assert(probe_ends[2] == END_EOF || probe_ends[2] == END_RESET);
  ck_assert_str_eq(probe_full, "");
  /* The handler saw the health check only. */
  ck_assert_uint_eq(f.calls, 1);
  free(busy);
  free(health);
}
END_TEST

static char evict_health[512];
static enum end evict_end;

/* Every slot taken by one address, regular and reserved: a health check
 * from another address still gets a reserved slot, the flooding
 * address's oldest. */
static void run_crowded_by_one(struct hfx *f)
{
  struct hclient *cl = &f->cl;
  int idle[5], fd;
  size_t len = 0;
  char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

  for (size_t i = 0; i < ARRAY_SIZE(idle); i++)
    idle[i] = hx_dial(cl->port, 0);
  /* The server has seen them all before the probe comes. */
  hx_sleep_ms(100);
  fd = hx_dial_from(cl->port, 0, "127.0.0.2");
  evict_end = END_NOCONN;
  if (fd >= 0) {
    hx_send_all(fd, req, strlen(req));
    evict_end =
        hx_read_reply(fd, evict_health, sizeof(evict_health), &len, NULL);
    close(fd);
  }
  for (size_t i = 0; i < ARRAY_SIZE(idle); i++)
    if (idle[i] >= 0)
      close(idle[i]);
  cl->end = END_EOF;
}

START_TEST(health_from_another_address_evicts_a_flooder)
{
  static const char *const reserved[] = {"/healthz", NULL};
  char *health =
      hx_ok("GET /healthz ? x=- peer=127.0.0.2 n=0 body=\n", "close");
  struct hfx f;

  hfx_init(&f);
  f.limits.max_connections = 3;
  f.limits.max_per_peer = 3;
  f.limits.reserved_slots = 2;
  f.limits.reserved_paths = reserved;
  f.limits.first_byte_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  f.run = run_crowded_by_one;
  hfx_run(&f);
  ck_assert_int_eq(evict_end, END_EOF);
  /* The echo handler names a peer other than 127.0.0.1 by address. */
  ck_assert_ptr_nonnull(strstr(evict_health, "HTTP/1.1 200 OK"));
  ck_assert_ptr_nonnull(strstr(evict_health, "peer=127.0.0.2:"));
  ck_assert_uint_eq(f.calls, 1);
  free(health);
}
END_TEST

static char body_answer[512];

static void run_body_in_reserved(struct hfx *f)
{
  struct hclient *cl = &f->cl;
  int idle = hx_dial(cl->port, 0), fd;
  size_t len = 0;
  char req[] =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";

  hx_sleep_ms(50);
  fd = hx_dial(cl->port, 0);
  body_answer[0] = '\0';
  if (fd >= 0) {
    hx_send_all(fd, req, strlen(req));
    hx_read_reply(fd, body_answer, sizeof(body_answer), &len, NULL);
    close(fd);
  }
  if (idle >= 0)
    close(idle);
  cl->end = END_EOF;
}

static char stale_health[512];
static enum end stale_end;

/* Reserved slots held by two addresses, one each, that never send a
 * request: a health check from a third still gets in, once they are
 * past the stale mark. */
static void run_reserved_by_idlers(struct hfx *f)
{
  struct hclient *cl = &f->cl;
  int fds[3], fd;
  size_t len = 0;
  char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

  fds[0] = hx_dial(cl->port, 0);
  fds[1] = hx_dial_from(cl->port, 0, "127.0.0.3");
  fds[2] = hx_dial_from(cl->port, 0, "127.0.0.4");
  hx_sleep_ms(400);
  fd = hx_dial_from(cl->port, 0, "127.0.0.2");
  stale_end = END_NOCONN;
  if (fd >= 0) {
    hx_send_all(fd, req, strlen(req));
    stale_end =
        hx_read_reply(fd, stale_health, sizeof(stale_health), &len, NULL);
    close(fd);
  }
  for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
    if (fds[i] >= 0)
      close(fds[i]);
  cl->end = END_EOF;
}

START_TEST(health_takes_a_slot_held_without_a_request)
{
  static const char *const reserved[] = {"/healthz", NULL};
  struct hfx f;

  hfx_init(&f);
  f.limits.max_connections = 1;
  f.limits.reserved_slots = 2;
  f.limits.reserved_paths = reserved;
  f.limits.first_byte_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  f.run = run_reserved_by_idlers;
  hfx_run(&f);
  ck_assert_int_eq(stale_end, END_EOF);
  ck_assert_ptr_nonnull(strstr(stale_health, "HTTP/1.1 200 OK"));
  ck_assert_uint_eq(f.calls, 1);
}
END_TEST

/* A health check's slot has no room for a body. */
START_TEST(reserved_slot_refuses_a_body)
{
  static const char *const reserved[] = {"/healthz", NULL};
  struct hfx f;

  hfx_init(&f);
  f.limits.max_connections = 1;
  f.limits.reserved_slots = 2;
  f.limits.reserved_paths = reserved;
  f.run = run_body_in_reserved;
  hfx_run(&f);
  ck_assert_ptr_nonnull(strstr(body_answer, "HTTP/1.1 413 "));
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

/* A connection that sends nothing is closed after first_byte_timeout_ms,
 * long before an idle keep-alive would be. */
START_TEST(silent_connection_gets_the_short_timeout)
{
  struct hfx f;

  hfx_init(&f);
  f.limits.first_byte_timeout_ms = 100;
  f.limits.idle_timeout_ms = 10000;
  hfx_run(&f);
  ck_assert_int_eq(f.cl.end, END_EOF);
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

Suite *make_suite_httpd_limits(void)
{
  Suite *s = suite_create("httpd_limits");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 10);
  tcase_add_test(tc, large_answers_pipelined_under_backpressure);
  tcase_add_test(tc, pipelining_without_reading_is_bounded);
  tcase_add_test(tc, health_is_answered_past_the_per_peer_limit);
  tcase_add_test(tc, silent_connection_gets_the_short_timeout);
  tcase_add_test(tc, health_from_another_address_evicts_a_flooder);
  tcase_add_test(tc, health_takes_a_slot_held_without_a_request);
  tcase_add_test(tc, reserved_slot_refuses_a_body);
  suite_add_tcase(s, tc);
  return s;
}
