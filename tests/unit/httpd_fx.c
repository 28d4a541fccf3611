/*
 * httpd_fx.c - the HTTP server suites' fixture: the handler, the client
 * thread and the server side (httpd_fx.h).
 */
#include "httpd_fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"

/* ---- the handler ---- */

static void server_closed(void *arg)
{
  struct hfx *f = arg;

  f->closed++;
}

/* An answer deferred until a timer fires. */
struct later {
  uv_timer_t timer;
  struct httpd_deferred *d;
  char *body;
};

static void later_closed(uv_handle_t *h)
{
  free(container_of((uv_timer_t *)h, struct later, timer));
}

static void later_fire(uv_timer_t *t)
{
  struct later *l = container_of(t, struct later, timer);
  struct httpd_response resp = {.status = 200};

  resp.body = l->body;
  resp.body_len = strlen(l->body);
  httpd_deferred_answer(l->d, &resp);
  uv_close((uv_handle_t *)t, later_closed);
}

/* /later/<ms>: answered <ms> later, from a timer. */
static void defer_answer(struct hfx *f, const struct httpd_request *req,
                         struct httpd_response *resp)
{
  struct later *l = td_calloc(1, sizeof(*l));

  l->d = httpd_defer(resp);
  l->body = td_asprintf("later %s\n", req->path);
  uv_timer_init(&f->loop, &l->timer);
  uv_timer_start(&l->timer, later_fire, (uint64_t)atoi(req->path + 7), 0);
}

/* Echoes the request, except on a few paths that answer otherwise. */
void hx_echo(const struct httpd_request *req, struct httpd_response *resp,
             void *arg)
{
  struct hfx *f = arg;
  const char *x = httpd_header(req, "x-test");
  bool peer_ok =
      strncmp(req->peer, "127.0.0.1:", 10) == 0 && atoi(req->peer + 10) > 0;

  if (strncmp(req->path, "/later/", 7) == 0) {
    defer_answer(f, req, resp);
    __atomic_add_fetch(&f->calls, 1, __ATOMIC_SEQ_CST);
    return;
  }
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
char *hx_ok(const char *body, const char *connection)
{
  return td_asprintf(
      "HTTP/1.1 200 OK\r\n" TEXT_PLAIN "Content-Length: %zu\r\n%s%s%s\r\n%s",
      strlen(body), connection ? "Connection: " : "",
      connection ? connection : "", connection ? "\r\n" : "", body);
}

/* What the server sends when it refuses a request. */
char *hx_refusal(int status, const char *reason, const char *body)
{
  return td_asprintf("HTTP/1.1 %d %s\r\n" TEXT_PLAIN
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, reason, strlen(body), body);
}

/* ---- the client thread (no ck_assert here: it records, we check) ---- */

long hx_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hx_dial(int port, int rcvbuf)
{
  return hx_dial_from(port, rcvbuf, NULL);
}

/* A connection from `source` (another loopback address), or the default. */
int hx_dial_from(int port, int rcvbuf, const char *source)
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

void hx_send_all(int fd, const char *s, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

void hx_sleep_ms(unsigned ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

  nanosleep(&ts, NULL);
}

/* Appends to buf until the server closes, a timeout, or `until` shows. */
enum end hx_read_reply(int fd, char *buf, size_t size, size_t *len,
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

static void run_chunks(struct hfx *f)
{
  struct hclient *cl = &f->cl;
  long start;

  cl->fd = hx_dial(cl->port, cl->rcvbuf);
  if (cl->fd < 0) {
    cl->end = END_NOCONN;
    return;
  }
  for (size_t i = 0; cl->chunks && cl->chunks[i]; i++) {
    if (i > 0)
      hx_sleep_ms(cl->gap_ms);
    hx_send_all(cl->fd, cl->chunks[i], strlen(cl->chunks[i]));
  }
  start = hx_now_ms();
  cl->end = hx_read_reply(cl->fd, cl->resp, cl->cap, &cl->len, cl->until);
  cl->ms = hx_now_ms() - start;
  if (cl->end != END_MATCH) {
    close(cl->fd);
    cl->fd = -1;
  }
}

static void *client_main(void *arg)
{
  struct hfx *f = arg;

  (f->run ? f->run : run_chunks)(f);
  uv_async_send(&f->done);
  return NULL;
}

/* ---- the server side ---- */

static void client_done(uv_async_t *a)
{
  struct hfx *f = container_of(a, struct hfx, done);

  if (f->h)
    httpd_close(f->h, server_closed, f);
  f->h = NULL;
  uv_close((uv_handle_t *)a, NULL);
}

/* Tests run one at a time. */
char hx_resp_buf[NBIG * (BIG_BODY + 256)];

void hfx_init(struct hfx *f)
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
  f->cl.resp = hx_resp_buf;
  f->cl.cap = sizeof(hx_resp_buf);
  hx_resp_buf[0] = '\0';
}

/* Runs the client against a fresh server until it is done and the server
 * has closed, and checks the loop is left empty. */
void hfx_run(struct hfx *f)
{
  pthread_t t;

  ck_assert_int_eq(uv_loop_init(&f->loop), 0);
  ck_assert_int_eq(
      httpd_start(&f->h, &f->loop, "127.0.0.1", 0, &f->limits, hx_echo, f), 0);
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
void hx_expect_exchange(struct hfx *f, const char *const *chunks, char *want)
{
  f->cl.chunks = chunks;
  hfx_run(f);
  ck_assert_str_eq(f->cl.resp, want);
  ck_assert_int_eq(f->cl.end, END_EOF);
  free(want);
}
