/*
 * The HTTP server: a real one on loopback, run on a private loop in the
 * test's thread, and a client in a second thread speaking raw bytes over
 * a blocking socket (with a receive timeout, so nothing can hang).  The
 * client records what came back and how the connection ended; the test
 * thread asserts once it is done, after closing the server and checking
 * that the loop has nothing left (a leaked handle fails the test).
 */
#include "base/compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "server/httpd.h"
#include "suites.h"

/* Big answers, and room for 40 of them. */
#define BIG_BODY (256 * 1024)
#define NBIG 40

/* Long enough that a server meant to close never looks like one that did. */
#define CLIENT_TIMEOUT_MS 2000

#define TEXT_PLAIN "Content-Type: text/plain; charset=utf-8\r\n"

/* How the client's last read ended. */
enum end {
  END_NONE,
  END_EOF,     /* the server closed */
  END_RESET,   /* ECONNRESET */
  END_TIMEOUT, /* nothing for CLIENT_TIMEOUT_MS */
  END_MATCH,   /* saw what it waited for */
  END_NOCONN,  /* could not connect */
};

struct client {
  int port;
  const char *const *chunks; /* sent in turn, NULL-terminated */
  unsigned gap_ms;           /* pause between chunks */
  const char *until;         /* stop reading once this arrived; keep fd */
  int rcvbuf;                /* SO_RCVBUF unless 0 */
  char *resp;                /* what came back, NUL-terminated */
  size_t cap, len;
  enum end end;
  long ms; /* from the last send to the end */
  int fd;  /* left open when `until` matched */
  /* a second connection (max_connections) */
  enum end end2;
  size_t len2;
};

struct fx {
  uv_loop_t loop;
  struct httpd *h;
  uv_async_t done;
  struct httpd_limits limits;
  struct client cl;
  void (*run)(struct fx *f); /* the client; run_chunks unless set */
  unsigned calls;            /* handler calls */
  unsigned closed;           /* httpd_close callbacks */
};

/* ---- the handler ---- */

static void server_closed(void *arg)
{
  struct fx *f = arg;

  f->closed++;
}

/* Echoes the request, except on a few paths that answer otherwise. */
static void echo(const struct httpd_request *req, struct httpd_response *resp,
                 void *arg)
{
  struct fx *f = arg;
  const char *x = httpd_header(req, "x-test");
  bool peer_ok =
      strncmp(req->peer, "127.0.0.1:", 10) == 0 && atoi(req->peer + 10) > 0;

  f->calls++;
  if (strcmp(req->path, "/auth") == 0) {
    httpd_respond(resp, 401, NULL, "who are you?\n");
    resp->www_authenticate = "Bearer realm=\"tenantd\"";
    return;
  }
  if (strcmp(req->path, "/json") == 0) {
    httpd_respond(resp, 201, "application/json", "{}");
    return;
  }
  if (strcmp(req->path, "/empty") == 0) {
    resp->status = 204;
    return;
  }
  if (strncmp(req->path, "/big/", 5) == 0) {
    resp->body = td_malloc(BIG_BODY);
    memset(resp->body, 'x', BIG_BODY);
    memcpy(resp->body, req->path, strlen(req->path));
    resp->body_len = BIG_BODY;
    return;
  }
  if (strcmp(req->path, "/quit") == 0) {
    httpd_close(f->h, server_closed, f);
    f->h = NULL;
    return;
  }
  resp->body =
      td_asprintf("%s %s ?%s x=%s peer=%s n=%zu body=%s\n", req->method,
                  req->path, req->query, x ? x : "-",
                  peer_ok ? "ok" : req->peer, req->body_len, req->body);
  resp->body_len = strlen(resp->body);
}

/* What the server sends for a 200 with `body`. */
static char *ok(const char *body, const char *connection)
{
  return td_asprintf(
      "HTTP/1.1 200 OK\r\n" TEXT_PLAIN "Content-Length: %zu\r\n%s%s%s\r\n%s",
      strlen(body), connection ? "Connection: " : "",
      connection ? connection : "", connection ? "\r\n" : "", body);
}

/* What the server sends when it refuses a request. */
static char *refusal(int status, const char *reason, const char *body)
{
  return td_asprintf("HTTP/1.1 %d %s\r\n" TEXT_PLAIN
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, reason, strlen(body), body);
}

/* ---- the client thread (no ck_assert here: it records, we check) ---- */

static long now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial_from(int port, int rcvbuf, const char *source);

static int dial(int port, int rcvbuf)
{
  return dial_from(port, rcvbuf, NULL);
}

/* A connection from `source` (another loopback address), or the default. */
static int dial_from(int port, int rcvbuf, const char *source)
{
  struct sockaddr_in sin = {
      .sin_family = AF_INET,
      .sin_port = htons((uint16_t)port),
      .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
  };
  struct timeval tv = {
      .tv_sec = CLIENT_TIMEOUT_MS / 1000,
      .tv_usec = CLIENT_TIMEOUT_MS % 1000 * 1000,
  };
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  if (fd < 0)
    return -1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  /* Each chunk its own segment, so the server sees the pieces. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (rcvbuf)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (source) {
    struct sockaddr_in src = {.sin_family = AF_INET};

    inet_pton(AF_INET, source, &src.sin_addr);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
      close(fd);
      return -1;
    }
  }
  if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void sleep_ms(unsigned ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

  nanosleep(&ts, NULL);
}

/* Appends to buf until the server closes, a timeout, or `until` shows. */
static enum end read_reply(int fd, char *buf, size_t size, size_t *len,
                           const char *until)
{
  for (;;) {
    ssize_t n;

    buf[*len] = '\0';
    if (until && strstr(buf, until))
      return END_MATCH;
    if (*len + 1 >= size)
      return END_NONE;
    n = recv(fd, buf + *len, size - 1 - *len, 0);
    if (n == 0)
      return END_EOF;
    if (n < 0)
      return errno == ECONNRESET ? END_RESET : END_TIMEOUT;
    *len += (size_t)n;
  }
}

static void run_chunks(struct fx *f)
{
  struct client *cl = &f->cl;
  long start;

  cl->fd = dial(cl->port, cl->rcvbuf);
  if (cl->fd < 0) {
    cl->end = END_NOCONN;
    return;
  }
  for (size_t i = 0; cl->chunks && cl->chunks[i]; i++) {
    if (i > 0)
      sleep_ms(cl->gap_ms);
    send_all(cl->fd, cl->chunks[i], strlen(cl->chunks[i]));
  }
  start = now_ms();
  cl->end = read_reply(cl->fd, cl->resp, cl->cap, &cl->len, cl->until);
  cl->ms = now_ms() - start;
  if (cl->end != END_MATCH) {
    close(cl->fd);
    cl->fd = -1;
  }
}

static void *client_main(void *arg)
{
  struct fx *f = arg;

  (f->run ? f->run : run_chunks)(f);
  uv_async_send(&f->done);
  return NULL;
}

/* ---- the server side ---- */

static void client_done(uv_async_t *a)
{
  struct fx *f = container_of(a, struct fx, done);

  if (f->h)
    httpd_close(f->h, server_closed, f);
  f->h = NULL;
  uv_close((uv_handle_t *)a, NULL);
}

/* Tests run one at a time. */
static char resp_buf[NBIG * (BIG_BODY + 256)];

static void fx_init(struct fx *f)
{
  memset(f, 0, sizeof(*f));
  f->limits = (struct httpd_limits)HTTPD_LIMITS_DEFAULT;
  f->limits.max_header_bytes = 1024;
  f->limits.max_body_bytes = 64;
  f->limits.first_byte_timeout_ms = 300;
  f->limits.request_timeout_ms = 200;
  f->limits.idle_timeout_ms = 300;
  f->limits.max_connections = 4;
  f->cl.fd = -1;
  f->cl.resp = resp_buf;
  f->cl.cap = sizeof(resp_buf);
  resp_buf[0] = '\0';
}

/* Runs the client against a fresh server until it is done and the server
 * has closed, and checks the loop is left empty. */
static void fx_run(struct fx *f)
{
  pthread_t t;

  ck_assert_int_eq(uv_loop_init(&f->loop), 0);
  ck_assert_int_eq(
      httpd_start(&f->h, &f->loop, "127.0.0.1", 0, &f->limits, echo, f), 0);
  f->cl.port = httpd_port(f->h);
  ck_assert_int_gt(f->cl.port, 0);
  ck_assert_int_eq(uv_async_init(&f->loop, &f->done, client_done), 0);
  ck_assert_int_eq(pthread_create(&t, NULL, client_main, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(pthread_join(t, NULL), 0);
  ck_assert_uint_eq(f->closed, 1);
  ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

/* Sends `chunks` and expects exactly `want` back, then the server's close. */
static void expect_exchange(struct fx *f, const char *const *chunks, char *want)
{
  f->cl.chunks = chunks;
  fx_run(f);
  ck_assert_str_eq(f->cl.resp, want);
  ck_assert_int_eq(f->cl.end, END_EOF);
  free(want);
}

/* ---- tests ---- */

START_TEST(get_reaches_the_handler_whole)
{
  static const char *const req[] = {
      "GET /api/v1/tenants/acme?verbose=1&x=y HTTP/1.1\r\n"
      "Host: localhost\r\nX-Test: hello\r\nConnection: close\r\n\r\n",
      NULL};
  struct fx f;

  fx_init(&f);
  expect_exchange(&f, req,
                  ok("GET /api/v1/tenants/acme ?verbose=1&x=y x=hello "
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
  struct fx f;

  fx_init(&f);
  /* Not about timeouts: the pieces may take long on a loaded machine. */
  f.limits.request_timeout_ms = 5000;
  f.cl.gap_ms = 20;
  expect_exchange(
      &f, req,
      ok("POST /hook ? x=split peer=ok n=11 body=hello world\n", "close"));
}
END_TEST

START_TEST(chunked_body_with_trailer)
{
  static const char *const req[] = {
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n5\r\nhello\r\n",
      "6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", NULL};
  struct fx f;

  fx_init(&f);
  /* Not about timeouts: the pieces may take long on a loaded machine. */
  f.limits.request_timeout_ms = 5000;
  f.cl.gap_ms = 20;
  expect_exchange(&f, req,
                  ok("POST /c ? x=- peer=ok n=11 body=hello world\n", "close"));
}
END_TEST

START_TEST(pipelined_two_answered_in_order)
{
  static const char *const req[] = {
      "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /2?q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      NULL};
  char *a = ok("GET /1 ? x=- peer=ok n=0 body=\n", NULL);
  char *b = ok("GET /2 ?q x=- peer=ok n=0 body=\n", "close");
  struct fx f;

  fx_init(&f);
  expect_exchange(&f, req, td_asprintf("%s%s", a, b));
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
  char *a = ok("GET /1 ? x=- peer=ok n=0 body=\n", NULL);
  char *b = ok("POST /2 ? x=two peer=ok n=3 body=abc\n", NULL);
  char *c = ok("GET /3 ? x=- peer=ok n=0 body=\n", "close");
  struct fx f;

  fx_init(&f);
  expect_exchange(&f, req, td_asprintf("%s%s%s", a, b, c));
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
  struct fx f;

  fx_init(&f);
  expect_exchange(
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
  struct fx f;

  fx_init(&f);
  snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %0*d\r\n\r\n",
           1100, 7);
  expect_exchange(&f, req,
                  refusal(431, "Request Header Fields Too Large",
                          "request header fields too large\n"));
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

/* Many small headers add up; the previous request is still answered. */
START_TEST(many_headers_add_up_to_431)
{
  char big[4096];
  const char *req[] = {big, NULL};
  char *good = ok("GET /ok ? x=- peer=ok n=0 body=\n", NULL);
  char *bad = refusal(431, "Request Header Fields Too Large",
                      "request header fields too large\n");
  size_t n = 0;
  struct fx f;

  fx_init(&f);
  n += (size_t)snprintf(big, sizeof(big),
                        "GET /ok HTTP/1.1\r\n\r\n"
                        "GET / HTTP/1.1\r\n");
  /* 200 headers of 3 to 6 bytes: each small, 1290 bytes together. */
  for (int i = 0; i < 200; i++)
    n += (size_t)snprintf(big + n, sizeof(big) - n, "H%d: v\r\n", i);
  snprintf(big + n, sizeof(big) - n, "\r\n");
  expect_exchange(&f, req, td_asprintf("%s%s", good, bad));
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
  struct fx f;

  fx_init(&f);
  /* Not about timeouts: the pieces may take long on a loaded machine. */
  f.limits.request_timeout_ms = 5000;
  f.cl.gap_ms = 50;
  expect_exchange(&f, req,
                  refusal(413, "Payload Too Large", "payload too large\n"));
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
  struct fx f;

  fx_init(&f);
  expect_exchange(&f, req,
                  refusal(413, "Payload Too Large", "payload too large\n"));
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

START_TEST(expect_continue_gets_100_first)
{
  static const char *const req[] = {
      "PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: 4\r\nConnection: close\r\n\r\n",
      "data", NULL};
  char *body = ok("PUT /e ? x=- peer=ok n=4 body=data\n", "close");
  struct fx f;

  fx_init(&f);
  /* Not about timeouts: the pieces may take long on a loaded machine. */
  f.limits.request_timeout_ms = 5000;
  f.cl.gap_ms = 50;
  expect_exchange(&f, req,
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
  char *good = ok("GET /ok ? x=- peer=ok n=0 body=\n", NULL);
  char *bad = refusal(400, "Bad Request", "bad request\n");
  struct fx f;

  fx_init(&f);
  expect_exchange(&f, req, td_asprintf("%s%s", good, bad));
  ck_assert_uint_eq(f.calls, 1);
  free(good);
  free(bad);
}
END_TEST

START_TEST(slow_request_gets_408)
{
  static const char *const req[] = {"GET / HTTP/1.1\r\nHost: x\r\n", NULL};
  struct fx f;

  fx_init(&f);
  f.limits.idle_timeout_ms = 5000;
  expect_exchange(&f, req,
                  refusal(408, "Request Timeout", "request timeout\n"));
  ck_assert_int_ge(f.cl.ms, 150);
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

/* Closed without a word, idle_timeout_ms after the answer. */
START_TEST(idle_keep_alive_is_closed)
{
  static const char *const req[] = {"GET /k HTTP/1.1\r\nHost: x\r\n\r\n", NULL};
  struct fx f;

  fx_init(&f);
  f.limits.request_timeout_ms = 5000;
  expect_exchange(&f, req, ok("GET /k ? x=- peer=ok n=0 body=\n", NULL));
  ck_assert_int_ge(f.cl.ms, 250);
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
}
END_TEST

START_TEST(silent_connection_is_closed)
{
  struct fx f;

  fx_init(&f);
  f.limits.request_timeout_ms = 5000;
  fx_run(&f);
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
  struct fx f;

  fx_init(&f);
  f.limits.request_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  expect_exchange(&f, req, ok("GET /c ? x=- peer=ok n=0 body=\n", "close"));
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
}
END_TEST

START_TEST(http10_closes_unless_kept_alive)
{
  static const char *const req[] = {
      "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      "GET /b HTTP/1.0\r\n\r\n",
      NULL};
  char *a = ok("GET /a ? x=- peer=ok n=0 body=\n", "keep-alive");
  char *b = ok("GET /b ? x=- peer=ok n=0 body=\n", "close");
  struct fx f;

  fx_init(&f);
  f.limits.request_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  expect_exchange(&f, req, td_asprintf("%s%s", a, b));
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
  free(a);
  free(b);
}
END_TEST

/* One connection allowed: a second is closed at once, the first served. */
static void run_two_connections(struct fx *f)
{
  struct client *cl = &f->cl;
  static const char first[] = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n";
  static const char last[] =
      "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  char buf[256];
  int fd2;

  cl->fd = dial(cl->port, 0);
  if (cl->fd < 0) {
    cl->end = END_NOCONN;
    return;
  }
  /* Answered, so the server has surely taken it as its one connection. */
  send_all(cl->fd, first, strlen(first));
  cl->end = read_reply(cl->fd, cl->resp, cl->cap, &cl->len, "body=\n");
  fd2 = dial(cl->port, 0);
  if (fd2 < 0) {
    cl->end2 = END_NOCONN;
  } else {
    cl->end2 = read_reply(fd2, buf, sizeof(buf), &cl->len2, NULL);
    close(fd2);
  }
  send_all(cl->fd, last, strlen(last));
  cl->end = read_reply(cl->fd, cl->resp, cl->cap, &cl->len, NULL);
  close(cl->fd);
  cl->fd = -1;
}

START_TEST(past_max_connections_is_closed)
{
  char *a = ok("GET /1 ? x=- peer=ok n=0 body=\n", NULL);
  char *b = ok("GET /2 ? x=- peer=ok n=0 body=\n", "close");
  char *want = td_asprintf("%s%s", a, b);
  struct fx f;

  fx_init(&f);
  f.limits.max_connections = 1;
  f.limits.idle_timeout_ms = 5000;
  f.run = run_two_connections;
  fx_run(&f);
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
  ck_assert_int_eq(httpd_start(&h, &loop, "127.0.0.1", 0, &limits, echo, NULL),
                   0);
  h2 = h;
  ck_assert_int_eq(
      httpd_start(&h2, &loop2, "127.0.0.1", httpd_port(h), &limits, echo, NULL),
      -1);
  ck_assert_ptr_null(h2);
  snprintf(want, sizeof(want), "listen 127.0.0.1:%d: address already in use",
           httpd_port(h));
  ck_assert_str_eq(td_error_last(), want);
  ck_assert_int_eq(
      httpd_start(&h2, &loop2, "localhost", 9400, &limits, echo, NULL), -1);
  ck_assert_str_eq(td_error_last(), "listen localhost:9400: not an IP address");
  ck_assert_int_eq(uv_loop_close(&loop2), 0);
  httpd_close(h, count_close, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(closed, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/*
 * Answers far larger than the socket buffers, to a client that reads only
 * once it has sent everything: the server stops reading while they queue
 * up and takes the second batch once the client has caught up.
 */
START_TEST(large_answers_pipelined_under_backpressure)
{
  static char batch[2][NBIG / 2 * 64];
  const char *req[] = {batch[0], batch[1], NULL};
  char *want = td_malloc(sizeof(resp_buf));
  char *body = td_malloc(BIG_BODY + 1);
  size_t n = 0;
  struct fx f;

  fx_init(&f);
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
        want + n, sizeof(resp_buf) - n,
        "HTTP/1.1 200 OK\r\n" TEXT_PLAIN "Content-Length: %d\r\n%s\r\n%s",
        BIG_BODY, i == NBIG - 1 ? "Connection: close\r\n" : "", body);
  }
  f.cl.chunks = req;
  fx_run(&f);
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
static void run_flood_never_reading(struct fx *f)
{
  struct client *cl = &f->cl;
  char req[64];

  cl->fd = dial(cl->port, 4096);
  if (cl->fd < 0) {
    cl->end = END_NOCONN;
    return;
  }
  for (int i = 0; i < 200; i++) {
    int n = snprintf(req, sizeof(req),
                     "GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);

    send_all(cl->fd, req, (size_t)n);
  }
  sleep_ms(500);
  close(cl->fd);
  cl->fd = -1;
  cl->end = END_EOF;
}

START_TEST(pipelining_without_reading_is_bounded)
{
  struct fx f;

  fx_init(&f);
  f.limits.idle_timeout_ms = 5000;
  f.limits.request_timeout_ms = 5000;
  f.run = run_flood_never_reading;
  fx_run(&f);
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
  int fd = dial(port, 0), n;
  enum end end;

  *len = 0;
  buf[0] = '\0';
  if (fd < 0)
    return END_NOCONN;
  n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
  send_all(fd, req, (size_t)n);
  end = read_reply(fd, buf, size, len, NULL);
  close(fd);
  return end;
}

static char probe_other[512], probe_health[512], probe_full[512];
static enum end probe_ends[3];

/* Fills every slot one address may have with connections that send
 * nothing, then probes: the health path is still answered. */
static void run_crowded(struct fx *f)
{
  struct client *cl = &f->cl;
  int idle[8];
  size_t len, n = f->limits.max_per_peer;

  for (size_t i = 0; i < n; i++)
    idle[i] = dial(cl->port, 0);
  probe_ends[0] =
      probe(cl->port, "/other", probe_other, sizeof(probe_other), &len);
  probe_ends[1] =
      probe(cl->port, "/healthz", probe_health, sizeof(probe_health), &len);
  /* Reserved slots taken by connections that send nothing: refused. */
  idle[n] = dial(cl->port, 0);
  idle[n + 1] = dial(cl->port, 0);
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
  char *busy = refusal(503, "Service Unavailable", "busy\n");
  char *health = ok("GET /healthz ? x=- peer=ok n=0 body=\n", "close");
  struct fx f;

  fx_init(&f);
  f.limits.max_connections = 100;
  f.limits.max_per_peer = 3;
  f.limits.reserved_slots = 2;
  f.limits.reserved_paths = reserved;
  f.limits.first_byte_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  f.run = run_crowded;
  fx_run(&f);
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
static void run_crowded_by_one(struct fx *f)
{
  struct client *cl = &f->cl;
  int idle[5], fd;
  size_t len = 0;
  char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

  for (size_t i = 0; i < ARRAY_SIZE(idle); i++)
    idle[i] = dial(cl->port, 0);
  /* The server has seen them all before the probe comes. */
  sleep_ms(100);
  fd = dial_from(cl->port, 0, "127.0.0.2");
  evict_end = END_NOCONN;
  if (fd >= 0) {
    send_all(fd, req, strlen(req));
    evict_end = read_reply(fd, evict_health, sizeof(evict_health), &len, NULL);
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
  char *health = ok("GET /healthz ? x=- peer=127.0.0.2 n=0 body=\n", "close");
  struct fx f;

  fx_init(&f);
  f.limits.max_connections = 3;
  f.limits.max_per_peer = 3;
  f.limits.reserved_slots = 2;
  f.limits.reserved_paths = reserved;
  f.limits.first_byte_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  f.run = run_crowded_by_one;
  fx_run(&f);
  ck_assert_int_eq(evict_end, END_EOF);
  /* The echo handler names a peer other than 127.0.0.1 by address. */
  ck_assert_ptr_nonnull(strstr(evict_health, "HTTP/1.1 200 OK"));
  ck_assert_ptr_nonnull(strstr(evict_health, "peer=127.0.0.2:"));
  ck_assert_uint_eq(f.calls, 1);
  free(health);
}
END_TEST

static char body_answer[512];

static void run_body_in_reserved(struct fx *f)
{
  struct client *cl = &f->cl;
  int idle = dial(cl->port, 0), fd;
  size_t len = 0;
  char req[] =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";

  sleep_ms(50);
  fd = dial(cl->port, 0);
  body_answer[0] = '\0';
  if (fd >= 0) {
    send_all(fd, req, strlen(req));
    read_reply(fd, body_answer, sizeof(body_answer), &len, NULL);
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
static void run_reserved_by_idlers(struct fx *f)
{
  struct client *cl = &f->cl;
  int fds[3], fd;
  size_t len = 0;
  char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

  fds[0] = dial(cl->port, 0);
  fds[1] = dial_from(cl->port, 0, "127.0.0.3");
  fds[2] = dial_from(cl->port, 0, "127.0.0.4");
  sleep_ms(400);
  fd = dial_from(cl->port, 0, "127.0.0.2");
  stale_end = END_NOCONN;
  if (fd >= 0) {
    send_all(fd, req, strlen(req));
    stale_end = read_reply(fd, stale_health, sizeof(stale_health), &len, NULL);
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
  struct fx f;

  fx_init(&f);
  f.limits.max_connections = 1;
  f.limits.reserved_slots = 2;
  f.limits.reserved_paths = reserved;
  f.limits.first_byte_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  f.run = run_reserved_by_idlers;
  fx_run(&f);
  ck_assert_int_eq(stale_end, END_EOF);
  ck_assert_ptr_nonnull(strstr(stale_health, "HTTP/1.1 200 OK"));
  ck_assert_uint_eq(f.calls, 1);
}
END_TEST

/* A health check's slot has no room for a body. */
START_TEST(reserved_slot_refuses_a_body)
{
  static const char *const reserved[] = {"/healthz", NULL};
  struct fx f;

  fx_init(&f);
  f.limits.max_connections = 1;
  f.limits.reserved_slots = 2;
  f.limits.reserved_paths = reserved;
  f.run = run_body_in_reserved;
  fx_run(&f);
  ck_assert_ptr_nonnull(strstr(body_answer, "HTTP/1.1 413 "));
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

/* A connection that sends nothing is closed after first_byte_timeout_ms,
 * long before an idle keep-alive would be. */
START_TEST(silent_connection_gets_the_short_timeout)
{
  struct fx f;

  fx_init(&f);
  f.limits.first_byte_timeout_ms = 100;
  f.limits.idle_timeout_ms = 10000;
  fx_run(&f);
  ck_assert_int_eq(f.cl.end, END_EOF);
  ck_assert_int_lt(f.cl.ms, CLIENT_TIMEOUT_MS);
  ck_assert_uint_eq(f.calls, 0);
}
END_TEST

/* A kept-alive connection with half a request in flight: closing the
 * server closes it too, and frees everything (ASan checks the latter). */
START_TEST(close_with_open_connection)
{
  static const char *const req[] = {"GET /open HTTP/1.1\r\nHost: x\r\n\r\n"
                                    "GET /half HTTP/1.1\r\nHo",
                                    NULL};
  char *want = ok("GET /open ? x=- peer=ok n=0 body=\n", NULL);
  struct fx f;
  char buf[64];

  fx_init(&f);
  f.limits.request_timeout_ms = 5000;
  f.limits.idle_timeout_ms = 5000;
  f.cl.chunks = req;
  f.cl.until = "body=\n";
  fx_run(&f);
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
  struct fx f;

  fx_init(&f);
  f.limits.idle_timeout_ms = 5000;
  f.cl.chunks = req;
  fx_run(&f);
  ck_assert_int_eq(f.cl.end, END_EOF);
  ck_assert_uint_eq(f.cl.len, 0);
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
  tcase_add_test(tc, large_answers_pipelined_under_backpressure);
  tcase_add_test(tc, close_with_open_connection);
  tcase_add_test(tc, handler_may_close_the_server);
  tcase_add_test(tc, pipelining_without_reading_is_bounded);
  tcase_add_test(tc, health_is_answered_past_the_per_peer_limit);
  tcase_add_test(tc, silent_connection_gets_the_short_timeout);
  tcase_add_test(tc, health_from_another_address_evicts_a_flooder);
  tcase_add_test(tc, health_takes_a_slot_held_without_a_request);
  tcase_add_test(tc, reserved_slot_refuses_a_body);
  suite_add_tcase(s, tc);
  return s;
}
