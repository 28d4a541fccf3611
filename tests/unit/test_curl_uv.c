/*
 * curl_uv against a real HTTP server on loopback (tenantd's own httpd on
 * the same loop): bodies and headers both ways, every error class, the
 * response cap, a refused connection and a server that never answers.
 */
#include "base/compat.h"

#include <stdio.h>
#include <uv.h>

#include "providers/common/curl_uv.h"
#include "server/httpd.h"
#include "providers/provider.h"
#include "suites.h"

static void serve(const struct httpd_request *req, struct httpd_response *resp,
                  void *arg)
{
  char buf[512];

  (void)arg;
  if (strcmp(req->path, "/echo") == 0) {
    const char *h = httpd_header(req, "X-Test");

    snprintf(buf, sizeof(buf), "%s %s %s", req->method, h ? h : "-", req->body);
    httpd_respond(resp, 200, NULL, buf);
  } else if (strcmp(req->path, "/missing") == 0) {
    httpd_respond(resp, 404, NULL, "no such thing");
  } else if (strcmp(req->path, "/auth") == 0) {
    httpd_respond(resp, 401, NULL, "who are you");
  } else if (strcmp(req->path, "/conflict") == 0) {
    httpd_respond(resp, 409, NULL, "taken");
  } else if (strcmp(req->path, "/boom") == 0) {
    httpd_respond(resp, 503, NULL, "later");
  } else if (strcmp(req->path, "/bad") == 0) {
    httpd_respond(resp, 422, NULL, "{\"error\": \"bad rrset\"}");
  } else if (strcmp(req->path, "/moved") == 0) {
    httpd_respond(resp, 302, NULL, "elsewhere");
  } else if (strcmp(req->path, "/big") == 0) {
    char *big = td_malloc(10001);

    memset(big, 'x', 10000);
    big[10000] = '\0';
    httpd_respond(resp, 200, NULL, big);
    free(big);
  } else {
    httpd_respond(resp, 200, NULL, "hello");
  }
}

struct outcome {
  int status;
  long code;
  char body[256];
  char message[512];
  bool done;
};

static bool in_send;
static unsigned pending;

static void on_done(const struct curl_uv_response *res, void *arg)
{
  struct outcome *o = arg;

  ck_assert(!in_send); /* never from inside the call */
  ck_assert(!o->done);
  o->done = true;
  o->status = res->status;
  o->code = res->http_code;
  snprintf(o->body, sizeof(o->body), "%s", res->body);
  snprintf(o->message, sizeof(o->message), "%s",
           res->message ? res->message : "");
  pending--;
}

static void send_one(struct curl_uv *cu, const char *method, const char *url,
                     const char *body, size_t cap, uint64_t timeout_ms,
                     struct outcome *o)
{
  static const char *const headers[] = {"X-Test: yes",
                                        "X-API-Key: do-not-print-me"};
  struct curl_uv_request req = {.method = method,
                                .url = url,
                                .headers = headers,
                                .nheaders = 2,
                                .body = body,
                                .body_len = body ? strlen(body) : 0,
                                .timeout_ms = timeout_ms,
                                .max_response_bytes = cap};

  pending++;
  in_send = true;
  curl_uv_send(cu, &req, on_done, o);
  in_send = false;
}

/* A port nobody listens on: bound, then closed. */
static int dead_port(uv_loop_t *loop)
{
  uv_tcp_t t;
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = sizeof(got), port;

  uv_tcp_init(loop, &t);
  uv_ip4_addr("127.0.0.1", 0, &a);
  ck_assert_int_eq(uv_tcp_bind(&t, (const struct sockaddr *)&a, 0), 0);
  uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len);
  port = ntohs(((struct sockaddr_in *)&got)->sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return port;
}

/* A server that accepts and never answers. */
static uv_tcp_t silent, silent_peer;

static void on_silent(uv_stream_t *s, int status)
{
  ck_assert_int_eq(status, 0);
  uv_tcp_init(s->loop, &silent_peer);
  ck_assert_int_eq(uv_accept(s, (uv_stream_t *)&silent_peer), 0);
}

/* `server` listening on a free loopback port, which it returns. */
static int listen_local(uv_loop_t *loop, uv_tcp_t *server,
                        uv_connection_cb on_conn)
{
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = sizeof(got);

  uv_tcp_init(loop, server);
  uv_ip4_addr("127.0.0.1", 0, &a);
  ck_assert_int_eq(uv_tcp_bind(server, (const struct sockaddr *)&a, 0), 0);
  ck_assert_int_eq(uv_listen((uv_stream_t *)server, 8, on_conn), 0);
  uv_tcp_getsockname(server, (struct sockaddr *)&got, &len);
  return ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static int silent_port(uv_loop_t *loop)
{
  memset(&silent_peer, 0, sizeof(silent_peer));
  return listen_local(loop, &silent, on_silent);
}

static void closed_flag(void *arg)
{
  *(bool *)arg = true;
}

START_TEST(curl_uv_requests_and_classifies)
{
  struct httpd_limits lim = HTTPD_LIMITS_DEFAULT;
  uv_loop_t loop;
  struct httpd *h;
  struct curl_uv *cu;
  struct outcome ok = {0}, echo = {0}, missing = {0}, auth = {0},
                 conflict = {0}, boom = {0}, bad = {0}, big = {0},
                 refused = {0}, slow = {0}, moved = {0};
  char base[64], url[128];
  bool http_closed = false, cu_closed = false;
  int dead, quiet;

  uv_loop_init(&loop);
  ck_assert_int_eq(httpd_start(&h, &loop, "127.0.0.1", 0, &lim, serve, NULL),
                   0);
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", httpd_port(h));
  dead = dead_port(&loop);
  quiet = silent_port(&loop);
  cu = curl_uv_new(&loop);

#define URL(path) (snprintf(url, sizeof(url), "%s%s", base, path), url)
  send_one(cu, "GET", URL("/ok"), NULL, 0, 0, &ok);
  send_one(cu, "PATCH", URL("/echo"), "{\"rrsets\": []}", 0, 0, &echo);
  send_one(cu, "GET", URL("/missing"), NULL, 0, 0, &missing);
  send_one(cu, "GET", URL("/auth?key=secret-in-query"), NULL, 0, 0, &auth);
  send_one(cu, "PUT", URL("/conflict"), "x", 0, 0, &conflict);
  send_one(cu, "GET", URL("/boom"), NULL, 0, 0, &boom);
  send_one(cu, "PATCH", URL("/bad"), "{}", 0, 0, &bad);
  send_one(cu, "GET", URL("/big"), NULL, 1000, 0, &big);
  send_one(cu, "PATCH", URL("/moved"), "{}", 0, 0, &moved);
#undef URL
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", dead);
  send_one(cu, "GET", url, NULL, 0, 2000, &refused);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", quiet);
  send_one(cu, "GET", url, NULL, 0, 200, &slow);
  while (pending > 0)
    uv_run(&loop, UV_RUN_ONCE);

  ck_assert_int_eq(ok.status, PROVIDER_OK);
  ck_assert_int_eq(ok.code, 200);
  ck_assert_str_eq(ok.body, "hello");
  ck_assert_str_eq(echo.body, "PATCH yes {\"rrsets\": []}");
  ck_assert_int_eq(missing.status, PROVIDER_NOT_FOUND);
  ck_assert_str_eq(missing.message, "GET /missing: HTTP 404: no such thing");
  ck_assert_int_eq(auth.status, PROVIDER_AUTH);
  /* The query (where a key might be) stays out of the message. */
  ck_assert_ptr_null(strstr(auth.message, "secret"));
  ck_assert_int_eq(conflict.status, PROVIDER_CONFLICT);
  ck_assert_int_eq(boom.status, PROVIDER_TRANSIENT);
  ck_assert_int_eq(bad.status, PROVIDER_INVALID);
  ck_assert_ptr_nonnull(strstr(bad.message, "bad rrset"));
  ck_assert_int_eq(big.status, PROVIDER_INVALID);
  ck_assert_str_eq(big.message, "GET /big: response larger than 1000 bytes");
  /* A redirect is not followed, so what was asked was not done. */
  ck_assert_int_eq(moved.status, PROVIDER_INVALID);
  ck_assert_int_eq(moved.code, 302);
  ck_assert_int_eq(refused.status, PROVIDER_TRANSIENT);
  ck_assert_int_eq(refused.code, 0);
  ck_assert_int_eq(slow.status, PROVIDER_TRANSIENT);
  ck_assert_ptr_nonnull(strstr(slow.message, "GET /slow: "));
  ck_assert_ptr_nonnull(strstr(slow.message, "timed out"));
  /* Headers (an API key) never reach a message. */
  ck_assert_ptr_null(strstr(auth.message, "do-not-print-me"));
  ck_assert_ptr_null(strstr(slow.message, "do-not-print-me"));

  curl_uv_close(cu, closed_flag, &cu_closed);
  httpd_close(h, closed_flag, &http_closed);
  uv_close((uv_handle_t *)&silent, NULL);
  if (silent_peer.loop)
    uv_close((uv_handle_t *)&silent_peer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(cu_closed && http_closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Closing with requests in flight answers each of them, once. */
START_TEST(curl_uv_close_cancels_in_flight)
{
  uv_loop_t loop;
  struct curl_uv *cu;
  struct outcome o = {0};
  char url[64];
  bool closed = false;

  uv_loop_init(&loop);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", silent_port(&loop));
  cu = curl_uv_new(&loop);
  send_one(cu, "GET", url, NULL, 0, 5000, &o);
  uv_run(&loop, UV_RUN_NOWAIT);
  curl_uv_close(cu, closed_flag, &closed);
  ck_assert(o.done);
  ck_assert_int_eq(o.status, PROVIDER_TRANSIENT);
  ck_assert_str_eq(o.message, "cancelled: the provider is closing");
  uv_close((uv_handle_t *)&silent, NULL);
  if (silent_peer.loop)
    uv_close((uv_handle_t *)&silent_peer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A request cancelled is answered at once; the instance goes on. */
START_TEST(curl_uv_cancel_ends_one)
{
  uv_loop_t loop;
  struct curl_uv *cu;
  struct curl_uv_req *req;
  struct outcome gone = {0}, next = {0};
  struct curl_uv_request r = {.method = "GET", .timeout_ms = 5000};
  char url[64];
  bool closed = false;

  uv_loop_init(&loop);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", silent_port(&loop));
  r.url = url;
  cu = curl_uv_new(&loop);
  pending++;
  req = curl_uv_send(cu, &r, on_done, &gone);
  uv_run(&loop, UV_RUN_NOWAIT);
  curl_uv_cancel(cu, req);
  ck_assert(gone.done);
  ck_assert_int_eq(gone.status, PROVIDER_TRANSIENT);
  ck_assert_str_eq(gone.message, "cancelled");
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", dead_port(&loop));
  send_one(cu, "GET", url, NULL, 0, 2000, &next);
  while (pending > 0)
    uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(next.status, PROVIDER_TRANSIENT); /* refused */
  curl_uv_close(cu, closed_flag, &closed);
  uv_close((uv_handle_t *)&silent, NULL);
  if (silent_peer.loop)
    uv_close((uv_handle_t *)&silent_peer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A proxy from the environment never carries loopback calls, and the
 * environment's no_proxy still counts (setting curl's own no-proxy list
 * replaces it unless it is kept). */
START_TEST(curl_uv_proxy_spares_loopback_and_no_proxy)
{
  struct httpd_limits lim = HTTPD_LIMITS_DEFAULT;
  uv_loop_t loop;
  struct httpd *h;
  struct curl_uv *with, *without;
  struct outcome direct = {0}, listed = {0}, proxied = {0};
  char proxy[64], url[64];
  bool c1 = false, c2 = false, c3 = false;

  uv_loop_init(&loop);
  ck_assert_int_eq(httpd_start(&h, &loop, "0.0.0.0", 0, &lim, serve, NULL), 0);
  snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", dead_port(&loop));
  setenv("http_proxy", proxy, 1);
  setenv("no_proxy", "127.0.0.2", 1);
  with = curl_uv_new(&loop);
  unsetenv("no_proxy");
  without = curl_uv_new(&loop);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", httpd_port(h));
  send_one(without, "GET", url, NULL, 0, 2000, &direct);
  snprintf(url, sizeof(url), "http://127.0.0.2:%d/ok", httpd_port(h));
  send_one(with, "GET", url, NULL, 0, 2000, &listed);
  send_one(without, "GET", url, NULL, 0, 2000, &proxied);
  while (pending > 0)
    uv_run(&loop, UV_RUN_ONCE);
  unsetenv("http_proxy");
  ck_assert_int_eq(direct.status, PROVIDER_OK);         /* loopback: no proxy */
  ck_assert_int_eq(listed.status, PROVIDER_OK);         /* in no_proxy */
  ck_assert_int_eq(proxied.status, PROVIDER_TRANSIENT); /* the dead proxy */
  curl_uv_close(with, closed_flag, &c1);
  curl_uv_close(without, closed_flag, &c2);
  httpd_close(h, closed_flag, &c3);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(c1 && c2 && c3);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* ---- over a unix socket, streamed ---- */

/* A one-request-per-connection HTTP server on a unix socket: enough of
 * the Docker Engine API's shape (a plain answer, an error with a JSON
 * message, a chunked stream of lines). */
struct pipe_peer {
  uv_pipe_t pipe;
  char req[2048];
  size_t len;
  bool answered;
};

static uv_pipe_t pipe_server;

static void peer_closed(uv_handle_t *h)
{
  free(h->data);
}

static void peer_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
  struct pipe_peer *p = h->data;

  (void)want;
  *buf = uv_buf_init(p->req + p->len, (unsigned)(sizeof(p->req) - 1 - p->len));
}

static void peer_wrote(uv_write_t *w, int status)
{
  (void)status;
  free(w->data);
  free(w);
}

static void peer_send(struct pipe_peer *p, const char *text)
{
  uv_write_t *w = td_calloc(1, sizeof(*w));
  uv_buf_t buf;

  w->data = td_strdup(text);
  buf = uv_buf_init(w->data, (unsigned)strlen(text));
  uv_write(w, (uv_stream_t *)&p->pipe, &buf, 1, peer_wrote);
}

static void peer_answer(struct pipe_peer *p)
{
  if (strncmp(p->req, "GET /stream ", 12) == 0 ||
      strncmp(p->req, "GET /stop ", 10) == 0) {
    peer_send(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                 "Connection: close\r\n\r\n");
    peer_send(p, "6\r\nline1\n\r\n");
    peer_send(p, "c\r\nline2\nline3\n\r\n");
    peer_send(p, "0\r\n\r\n");
  } else if (strncmp(p->req, "GET /err ", 9) == 0) {
    peer_send(p, "HTTP/1.1 404 Not Found\r\nContent-Length: 25\r\n"
                 "Connection: close\r\n\r\n"
                 "{\"message\":\"no such one\"}");
  } else {
    peer_send(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                 "Connection: close\r\n\r\nhello");
  }
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct pipe_peer *p = s->data;

  (void)buf;
  if (n < 0) {
    uv_close((uv_handle_t *)s, peer_closed);
    return;
  }
  p->len += (size_t)n;
  p->req[p->len] = '\0';
  if (!p->answered && strstr(p->req, "\r\n\r\n")) {
    p->answered = true;
    peer_answer(p);
  }
}

static void on_pipe_conn(uv_stream_t *s, int status)
{
  struct pipe_peer *p = td_calloc(1, sizeof(*p));

  ck_assert_int_eq(status, 0);
  uv_pipe_init(s->loop, &p->pipe, 0);
  p->pipe.data = p;
  ck_assert_int_eq(uv_accept(s, (uv_stream_t *)&p->pipe), 0);
  uv_read_start((uv_stream_t *)&p->pipe, peer_alloc, peer_read);
}

struct streamed {
  struct outcome o;
  char got[256];
  size_t chunks;
  bool stop;
};

static bool on_chunk(const char *data, size_t len, void *arg)
{
  struct streamed *st = arg;
  size_t have = strlen(st->got);

  ck_assert(!st->o.done);
  snprintf(st->got + have, sizeof(st->got) - have, "%.*s", (int)len, data);
  st->chunks++;
  return !st->stop;
}

static void on_stream_done(const struct curl_uv_response *res, void *arg)
{
  on_done(res, &((struct streamed *)arg)->o);
}

static void send_unix(struct curl_uv *cu, const char *sock, const char *path,
                      struct streamed *st)
{
  char url[128];
  struct curl_uv_request req = {.method = "GET", .url = url};

  snprintf(url, sizeof(url), "http://localhost%s", path);
  req.unix_socket = sock;
  req.on_body = on_chunk;
  pending++;
  curl_uv_send(cu, &req, on_stream_done, st);
}

START_TEST(curl_uv_unix_socket_and_streaming)
{
  uv_loop_t loop;
  struct curl_uv *cu;
  struct streamed plain = {0}, stream = {0}, err = {0}, stop = {.stop = true};
  char *dir = test_tmpdir(), sock[512];
  bool closed = false;

  uv_loop_init(&loop);
  snprintf(sock, sizeof(sock), "%s/api.sock", dir);
  uv_pipe_init(&loop, &pipe_server, 0);
  ck_assert_int_eq(uv_pipe_bind(&pipe_server, sock), 0);
  ck_assert_int_eq(uv_listen((uv_stream_t *)&pipe_server, 8, on_pipe_conn), 0);
  setenv("http_proxy", "http://127.0.0.1:9", 1); /* never used here */
  cu = curl_uv_new(&loop);
  send_unix(cu, sock, "/ok", &plain);
  send_unix(cu, sock, "/stream", &stream);
  send_unix(cu, sock, "/err", &err);
  send_unix(cu, sock, "/stop", &stop);
  while (pending > 0)
    uv_run(&loop, UV_RUN_ONCE);
  unsetenv("http_proxy");

  /* A 2xx body streams to the reader and is not kept. */
  ck_assert_int_eq(plain.o.status, PROVIDER_OK);
  ck_assert_str_eq(plain.got, "hello");
  ck_assert_str_eq(plain.o.body, "");
  ck_assert_int_eq(stream.o.status, PROVIDER_OK);
  ck_assert_str_eq(stream.got, "line1\nline2\nline3\n");
  ck_assert_uint_ge(stream.chunks, 1);
  /* An error's body is kept for the message, never streamed. */
  ck_assert_int_eq(err.o.status, PROVIDER_NOT_FOUND);
  ck_assert_str_eq(err.got, "");
  ck_assert_ptr_nonnull(strstr(err.o.message, "no such one"));
  /* A reader that stops ends the transfer, said so. */
  ck_assert_int_eq(stop.o.status, PROVIDER_INVALID);
  ck_assert_str_eq(stop.o.message, "GET /stop: stopped by its reader");
  ck_assert_uint_eq(stop.chunks, 1);

  curl_uv_close(cu, closed_flag, &closed);
  uv_close((uv_handle_t *)&pipe_server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  test_rm_rf(dir);
  free(dir);
}
END_TEST

/* A keep-alive server that counts its connections and the requests and
 * ends (the client leaving) it saw. */
struct kept {
  uv_tcp_t server;
  unsigned accepted, requests, ended;
};

struct kept_conn {
  uv_tcp_t tcp;
  struct kept *k;
  char buf[2048];
  size_t len;
  uv_write_t write;
};

static void kept_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
  struct kept_conn *c = h->data;

  (void)size;
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void kept_written(uv_write_t *w, int status)
{
  (void)w;
  (void)status;
}

static void kept_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
  static char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  struct kept_conn *c = st->data;
  uv_buf_t out = uv_buf_init(answer, sizeof(answer) - 1);

  (void)buf;
  if (n < 0) {
    c->k->ended++;
    uv_close((uv_handle_t *)&c->tcp, peer_closed);
    return;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  /* One request at a time: the client waits for each answer. */
  if (!strstr(c->buf, "\r\n\r\n"))
    return;
  c->k->requests++;
  c->len = 0;
  uv_write(&c->write, st, &out, 1, kept_written);
}

static void kept_accept(uv_stream_t *server, int status)
{
  struct kept *k = server->data;
  struct kept_conn *c = td_calloc(1, sizeof(*c));

  ck_assert_int_eq(status, 0);
  c->k = k;
  uv_tcp_init(server->loop, &c->tcp);
  c->tcp.data = c;
  ck_assert_int_eq(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
  k->accepted++;
  uv_read_start((uv_stream_t *)&c->tcp, kept_alloc, kept_read);
}

static int kept_start(struct kept *k, uv_loop_t *loop)
{
  int port = listen_local(loop, &k->server, kept_accept);

  k->server.data = k;
  return port;
}

/* Three requests one after the other; what the server saw. */
static void three_in_turn(bool fresh, struct kept *k)
{
  uv_loop_t loop;
  struct curl_uv *cu;
  char url[64];
  bool closed = false;

  uv_loop_init(&loop);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", kept_start(k, &loop));
  cu = curl_uv_new(&loop);
  for (int i = 0; i < 3; i++) {
    struct curl_uv_request req = {
        .method = "HEAD", .url = url, .fresh_connection = fresh};
    struct outcome o = {0};

    pending++;
    curl_uv_send(cu, &req, on_done, &o);
    while (!o.done)
      uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(o.status, PROVIDER_OK);
  }
  /* A fresh connection is closed after its answer; let the server see
   * each close before the instance closes the rest. */
  for (int i = 0; i < 1000 && fresh && k->ended < 3; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(1);
  }
  curl_uv_close(cu, closed_flag, &closed);
  uv_close((uv_handle_t *)&k->server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(curl_uv_fresh_connection_is_its_own)
{
  struct kept reused = {0}, fresh = {0};

  /* By default a kept-alive connection serves the next request. */
  three_in_turn(false, &reused);
  ck_assert_uint_eq(reused.requests, 3);
  ck_assert_uint_eq(reused.accepted, 1);
  /* A fresh connection is opened for each and closed after it. */
  three_in_turn(true, &fresh);
  ck_assert_uint_eq(fresh.requests, 3);
  ck_assert_uint_eq(fresh.accepted, 3);
  ck_assert_uint_eq(fresh.ended, 3);
}
END_TEST

Suite *make_suite_curl_uv(void)
{
  Suite *s = suite_create("curl_uv");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, curl_uv_requests_and_classifies);
  tcase_add_test(tc, curl_uv_close_cancels_in_flight);
  tcase_add_test(tc, curl_uv_proxy_spares_loopback_and_no_proxy);
  tcase_add_test(tc, curl_uv_unix_socket_and_streaming);
  tcase_add_test(tc, curl_uv_cancel_ends_one);
  tcase_add_test(tc, curl_uv_fresh_connection_is_its_own);
  suite_add_tcase(s, tc);
  return s;
}
