/*
 * httpd.c - see httpd.h.
 *
 * One struct conn per accepted socket, with its own parser, timer and
 * buffers.  The handler runs inside http_parser_execute() from
 * on_message_complete, and its response is queued with uv_write() there
 * and then; libuv writes a stream's requests in order, so pipelined
 * requests are answered in order without a queue of our own.  When a
 * connection has too many answers on their way, on_message_complete
 * pauses the parser: the bytes of the read not yet parsed are kept (at
 * most one read's worth), reading stops, and on_write resumes parsing
 * once the answers are out.
 *
 * Lifetimes: a conn is freed in the close callback of the last of its two
 * handles (socket and timer), the server in the close callback of its last
 * handle once httpd_close() has been called.  Everything in between only
 * marks things closing and checks the mark after each call that may have
 * closed them (the handler, a failed write).
 */
#include "base/compat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "server/httpd.h"

/* One read's worth.  A single buffer serves every connection: the parser
 * callbacks copy out all we keep before on_read returns, and a paused
 * parser keeps a copy of the rest, so this is also what one connection
 * may hold of requests not yet parsed. */
#define READ_BUF_SIZE 16384

/* Response bytes libuv may hold for one connection before we stop parsing
 * and reading it, so a client that pipelines without reading its answers
 * cannot make us buffer them without bound. */
#define WRITE_HIGH_WATER (32 * 1024)

/* A reserved slot's whole request must arrive within this. */
#define RESERVED_TIMEOUT_MS 1000

/* Reserved slots one address may hold at once. */
#define RESERVED_PER_PEER 2

/* A reserved connection held this long without a whole request is not a
 * health check (those arrive in one packet): its slot goes to a
 * newcomer when all are taken. */
#define RESERVED_STALE_MS 250

/* Response bytes queued for all connections together; past it, the
 * connection holding the most is closed.  Each connection is bounded
 * already; this bounds the sum when many read slowly. */
#define QUEUED_MAX (64 * 1024 * 1024)

#define DEFAULT_CONTENT_TYPE "text/plain; charset=utf-8"

/* Where the bytes a parser callback delivers belong. */
enum part {
  PART_NONE,  /* nothing of this request yet */
  PART_URL,   /* the request target */
  PART_FIELD, /* a header name */
  PART_VALUE, /* a header value */
  PART_DONE,  /* headers complete */
};

struct field {
  size_t name, value; /* offsets into conn.head */
};

struct conn {
  struct httpd *h;
  struct conn *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t timer; /* idle, request or closing deadline */
  uv_shutdown_t shutdown;
  http_parser parser;
  char peer[64];
  char ip[48]; /* the peer's address without the port */

  /* The request being parsed: the URL and each header's name and value,
   * NUL-terminated, one after the other; at most max_header_bytes. */
  char *head;
  size_t head_len, head_alloc;
  enum part part;
  struct field *fields;
  struct httpd_header *headers; /* as many as fields, filled at the end */
  size_t nfields, fields_alloc;
  char *body; /* at most max_body_bytes, and room for a NUL */
  size_t body_len, body_alloc;

  /* Received but not parsed while the parser is paused; malloc'd, at
   * most READ_BUF_SIZE. */
  char *held;
  size_t held_len;

  int error_status; /* why a callback stopped the parser */
  unsigned nwrites; /* uv_write requests not yet called back */
  size_t queued;    /* bytes of those requests */
  unsigned open_handles;
  bool in_request;   /* between on_message_begin and the response */
  bool finishing;    /* no more requests: close once the writes are out */
  bool draining;     /* write side shut down; reading until the client's EOF */
  bool eof;          /* the client shut down its side */
  bool paused;       /* parsing and reading stopped until the writes drain */
  bool closing;      /* uv_close() called on both handles */
  bool reserved;     /* in a reserved slot: one request, reserved paths */
  bool short_drain;  /* was reserved: finishing gets a reserved slot's time */
  uint64_t accepted; /* uv_now() at accept */
};

struct httpd {
  uv_loop_t *loop;
  uv_tcp_t listener;
  struct httpd_limits limits;
  httpd_handler handler;
  void *arg;
  int port;
  struct conn *conns;
  unsigned nconns;    /* in the list, closing or not */
  unsigned nclosing;  /* of which closing */
  unsigned ndraining; /* of which answered in a reserved slot, not closing */
  unsigned nreserved; /* of which in reserved slots, not closing */
  size_t queued;      /* response bytes queued for all connections */
  unsigned nhandles;  /* listener, conns and refused sockets not yet closed */
  bool closing;
  void (*close_cb)(void *arg);
  void *close_arg;
  char rbuf[READ_BUF_SIZE];
};

/* A uv_write request and the bytes it sends, freed together in on_write. */
struct write_req {
  uv_write_t req;
  struct conn *c;
  size_t len;
  char data[];
};

/* What send_reply() puts on the wire. */
struct reply {
  int status;
  const char *content_type;
  const char *www_authenticate;
  const char *headers; /* "Name: value\r\n" lines, or NULL */
  const char *body;
  size_t body_len;
  bool head;       /* answers HEAD: headers only */
  bool close;      /* the last response on this connection */
  bool keep_alive; /* an HTTP/1.0 client asked to keep the connection */
};

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void start_shutdown(struct conn *c);
static void fail(struct conn *c, int status);
static bool too_busy(const struct conn *c);
static void resume(struct conn *c);

/* ---- the server and its handles ---- */

static void put_handle(struct httpd *h)
{
  void (*cb)(void *arg) = h->close_cb;
  void *arg = h->close_arg;

  assert(h->nhandles > 0);
  if (--h->nhandles > 0 || !h->closing)
    return;
  free(h);
  if (cb)
    cb(arg);
}

static void listener_closed(uv_handle_t *handle)
{
  put_handle(container_of((uv_tcp_t *)handle, struct httpd, listener));
}

static void refused_closed(uv_handle_t *handle)
{
  struct httpd *h = handle->data;

  free(handle);
  put_handle(h);
}

/* ---- connection lifetime ---- */

static void conn_free(struct conn *c)
{
  struct httpd *h = c->h;

  if (c->prev)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  h->nconns--;
  h->nclosing--;
  free(c->held);
  free(c->head);
  free(c->fields);
  free(c->headers);
  free(c->body);
  free(c);
  put_handle(h);
}

static void conn_handle_closed(uv_handle_t *handle)
{
  struct conn *c = handle->data;

  if (--c->open_handles == 0)
    conn_free(c);
}

/* Closes at once, whatever is in flight; write callbacks still run (with
 * UV_ECANCELED) before the close callbacks free c. */
static void conn_close(struct conn *c)
{
  if (c->closing)
    return;
  c->closing = true;
  c->h->nclosing++;
  if (c->short_drain)
    c->h->ndraining--;
  /* Its reserved slot is free at once: a closing connection reads and
   * answers nothing more. */
  if (c->reserved) {
    c->reserved = false;
    c->h->nreserved--;
  }
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_timer(uv_timer_t *t)
{
  struct conn *c = container_of(t, struct conn, timer);

  if (c->in_request && !c->finishing)
    fail(c, 408);
  else
    conn_close(c);
}

static void arm(struct conn *c, uint64_t ms)
{
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
  struct conn *c = handle->data;

  (void)suggested;
  *buf = uv_buf_init(c->h->rbuf, sizeof(c->h->rbuf));
}

/* How long a finishing connection may take to see its answers out. */
static uint64_t drain_ms(const struct conn *c)
{
  return c->short_drain ? RESERVED_TIMEOUT_MS : c->h->limits.request_timeout_ms;
}

static void start_reading(struct conn *c)
{
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
    conn_close(c);
}

/*
 * No more requests on this connection: once the queued responses are out,
 * shut down our side and wait for the client to close its own, so what it
 * sent after the last request we read cannot turn our close into a reset
 * that destroys the response before it is read.  request_timeout_ms bounds
 * the whole of it.
 */
static void finish(struct conn *c)
{
  if (c->closing || c->finishing)
    return;
  c->finishing = true;
  /* A reserved slot serves one request: answered, it is free for the
   * next health check, and what is left of the connection gets no more
   * than a reserved slot's time. */
  if (c->reserved) {
    c->reserved = false;
    c->h->nreserved--;
    c->short_drain = true;
    c->h->ndraining++;
  }
  uv_read_stop((uv_stream_t *)&c->tcp);
  arm(c, drain_ms(c));
  if (c->nwrites == 0)
    start_shutdown(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
  struct conn *c = container_of(req, struct conn, shutdown);

  if (c->closing)
    return;
  if (status < 0 || c->eof) {
    conn_close(c);
    return;
  }
  c->draining = true;
  start_reading(c);
}

static void start_shutdown(struct conn *c)
{
  if (c->eof) {
    conn_close(c);
    return;
  }
  arm(c, drain_ms(c));
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
    conn_close(c);
}

/* ---- responses ---- */

static void on_write(uv_write_t *req, int status)
{
  struct write_req *w = container_of(req, struct write_req, req);
  struct conn *c = w->c;

  c->queued -= w->len;
  c->h->queued -= w->len;
  free(w);
  c->nwrites--;
  if (c->closing)
    return;
  if (status < 0) {
    conn_close(c);
  } else if (c->finishing) {
    if (c->nwrites == 0)
      start_shutdown(c);
  } else {
    /* A client slowly reading a long answer is not idle. */
    if (!c->in_request)
      arm(c, c->h->limits.idle_timeout_ms);
    if (c->paused && !too_busy(c))
      resume(c);
  }
}

/* A write request holding the formatted text and room for `extra` more
 * bytes after it; *len is the text's length. */
static TD_PRINTF(3, 4) struct write_req *wr_new(size_t extra, size_t *len,
                                                const char *fmt, ...)
{
  struct write_req *w;
  va_list ap, aq;
  int n;

  va_start(ap, fmt);
  va_copy(aq, ap);
  n = vsnprintf(NULL, 0, fmt, ap);
  assert(n >= 0);
  w = td_malloc(sizeof(*w) + (size_t)n + 1 + extra);
  vsnprintf(w->data, (size_t)n + 1, fmt, aq);
  va_end(aq);
  va_end(ap);
  *len = (size_t)n;
  return w;
}

/* Closes the connection with the most bytes queued, the slowest reader,
 * until the server holds less than QUEUED_MAX.  Closing cancels its
 * writes; their callbacks give the bytes back. */
static void shed(struct httpd *h)
{
  size_t pending = h->queued;

  while (pending > QUEUED_MAX) {
    struct conn *worst = NULL;

    for (struct conn *o = h->conns; o; o = o->next)
      if (!o->closing && (!worst || o->queued > worst->queued))
        worst = o;
    if (!worst || worst->queued == 0)
      return;
    pending -= worst->queued;
    conn_close(worst);
  }
}

static void queue_write(struct conn *c, struct write_req *w, size_t len)
{
  uv_buf_t buf = uv_buf_init(w->data, len);
  uv_stream_t *s = (uv_stream_t *)&c->tcp;

  w->c = c;
  w->len = len;
  if (uv_write(&w->req, s, &buf, 1, on_write) < 0) {
    free(w);
    conn_close(c);
    return;
  }
  c->nwrites++;
  c->queued += len;
  c->h->queued += len;
  if (c->h->queued > QUEUED_MAX)
    shed(c->h);
}

static const char *reason_phrase(int status)
{
  const char *r = http_status_str((enum http_status)status);

  /* http_parser says "<unknown>" for codes it has no name for. */
  return r[0] == '<' ? "Unknown" : r;
}

static void send_reply(struct conn *c, const struct reply *r)
{
  const char *type = r->content_type ? r->content_type : DEFAULT_CONTENT_TYPE;
  const char *auth = r->www_authenticate;
  /* RFC 9110: no Content-Length on 1xx and 204, no body on those, 304
   * and answers to HEAD. */
  bool no_length = r->status < 200 || r->status == 204;
  bool no_body = no_length || r->status == 304 || r->head;
  size_t body_len = no_body ? 0 : r->body_len;
  char length[48] = "";
  struct write_req *w;
  size_t len;

  assert(r->status >= 100 && r->status <= 999);
  const char *more = r->headers ? r->headers : "";
  size_t nmore = strlen(more);

  assert(!strpbrk(type, "\r\n") && !(auth && strpbrk(auth, "\r\n")));
  /* Whole lines, and none empty: the handler cannot end the header. */
  assert(nmore == 0 || (more[0] != '\r' && !strstr(more, "\n\r") &&
                        nmore >= 2 && strcmp(more + nmore - 2, "\r\n") == 0));
  if (!no_length)
    snprintf(length, sizeof(length), "Content-Length: %zu\r\n", r->body_len);
  w = wr_new(body_len, &len,
             "HTTP/1.1 %d %s\r\n"
             "Content-Type: %s\r\n"
             "%s%s%s%s%s%s\r\n",
             r->status, reason_phrase(r->status), type, length, more,
             auth ? "WWW-Authenticate: " : "", auth ? auth : "",
             auth ? "\r\n" : "",
             r->close        ? "Connection: close\r\n"
             : r->keep_alive ? "Connection: keep-alive\r\n"
                             : "");
  if (body_len)
    memcpy(w->data + len, r->body, body_len);
  queue_write(c, w, len + body_len);
}

/* Answers with `status` and a short text body, and closes. */
static void fail(struct conn *c, int status)
{
  const char *reason = reason_phrase(status);
  struct reply r = {.status = status, .close = true};
  char text[64];
  size_t n = 0;

  while (reason[n] && n < sizeof(text) - 2) {
    text[n] = (char)tolower((unsigned char)reason[n]);
    n++;
  }
  text[n++] = '\n';
  r.body = text;
  r.body_len = n;
  c->in_request = false;
  send_reply(c, &r);
  finish(c);
}

/* ---- collecting a request ---- */

static struct conn *parser_conn(http_parser *p)
{
  return p->data;
}

/* Fails with 431 rather than keep more than max_header_bytes. */
static int head_append(struct conn *c, const char *at, size_t len)
{
  size_t max = c->h->limits.max_header_bytes;

  if (len > max - c->head_len) {
    c->error_status = 431;
    return -1;
  }
  if (c->head_len + len > c->head_alloc) {
    size_t n = c->head_alloc ? c->head_alloc : 256;

    while (n < c->head_len + len)
      n *= 2;
    c->head_alloc = n < max ? n : max;
    c->head = td_realloc(c->head, c->head_alloc);
  }
  memcpy(c->head + c->head_len, at, len);
  c->head_len += len;
  return 0;
}

static int head_end_string(struct conn *c)
{
  return head_append(c, "", 1);
}

static void add_field(struct conn *c)
{
  if (c->nfields == c->fields_alloc) {
    c->fields_alloc = c->fields_alloc ? 2 * c->fields_alloc : 16;
    c->fields = td_realloc(c->fields, c->fields_alloc * sizeof(*c->fields));
    c->headers = td_realloc(c->headers, c->fields_alloc * sizeof(*c->headers));
  }
  c->fields[c->nfields++] = (struct field){.name = c->head_len};
}

/*
 * The parser hands the URL, names and values over in pieces (a read may
 * end anywhere), so a piece for another part than the last one ends that
 * part.  A name without a value gets an empty one.
 */
static int switch_part(struct conn *c, enum part next)
{
  switch (c->part) {
  case PART_NONE:
  case PART_URL:
  case PART_VALUE:
    if (head_end_string(c) < 0)
      return -1;
    break;
  case PART_FIELD:
    if (head_end_string(c) < 0)
      return -1;
    c->fields[c->nfields - 1].value = c->head_len;
    if (next != PART_VALUE && head_end_string(c) < 0)
      return -1;
    break;
  case PART_DONE:
    assert(0);
  }
  if (next == PART_FIELD)
    add_field(c);
  c->part = next;
  return 0;
}

static int collect(http_parser *p, enum part part, const char *at, size_t len)
{
  struct conn *c = parser_conn(p);

  /* The URL starts the head: nothing to end before it. */
  if (part == PART_URL && c->part == PART_NONE)
    c->part = PART_URL;
  /* Trailers after a chunked body are not kept, but the bytes count. */
  if (c->part == PART_DONE)
    return head_append(c, at, len);
  if (c->part != part && switch_part(c, part) < 0)
    return -1;
  return head_append(c, at, len);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
  return collect(p, PART_URL, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
  return collect(p, PART_FIELD, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
  return collect(p, PART_VALUE, at, len);
}

static int on_message_begin(http_parser *p)
{
  struct conn *c = parser_conn(p);

  c->in_request = true;
  c->head_len = 0;
  c->part = PART_NONE;
  c->nfields = 0;
  c->body_len = 0;
  /* A reserved slot's deadline covers the whole of its one request. */
  if (!c->reserved)
    arm(c, c->h->limits.request_timeout_ms);
  return 0;
}

static const char *field_value(const struct conn *c, const char *name)
{
  for (size_t i = 0; i < c->nfields; i++)
    if (strcasecmp(c->head + c->fields[i].name, name) == 0)
      return c->head + c->fields[i].value;
  return NULL;
}

/* Room for `len` bytes and a NUL; len is at most max_body_bytes. */
static void body_reserve(struct conn *c, size_t len)
{
  size_t n = c->body_alloc ? 2 * c->body_alloc : 256;

  if (len + 1 <= c->body_alloc)
    return;
  if (n < len + 1)
    n = len + 1;
  if (n > c->h->limits.max_body_bytes + 1)
    n = c->h->limits.max_body_bytes + 1;
  c->body = td_realloc(c->body, n);
  c->body_alloc = n;
}

/*
 * curl and others send "Expect: 100-continue" and hold a large body back
 * for a second unless told to go on; a body over the cap gets its 413
 * instead, before it is sent.
 */
static void maybe_continue(struct conn *c)
{
  const http_parser *p = &c->parser;
  const char *expect = field_value(c, "expect");
  struct write_req *w;
  size_t len;

  if (!expect || strcasecmp(expect, "100-continue") != 0)
    return;
  if (p->http_major != 1 || p->http_minor < 1)
    return;
  if (!(p->flags & F_CHUNKED) &&
      !((p->flags & F_CONTENTLENGTH) && p->content_length > 0))
    return;
  w = wr_new(0, &len, "HTTP/1.1 100 Continue\r\n\r\n");
  queue_write(c, w, len);
}

static int on_headers_complete(http_parser *p)
{
  struct conn *c = parser_conn(p);
  size_t max = c->h->limits.max_body_bytes;

  if (switch_part(c, PART_DONE) < 0)
    return -1;
  /* A health check has no body to send: a reserved slot takes none. */
  if (c->reserved)
    max = 0;
  if (p->flags & F_CONTENTLENGTH) {
    if (p->content_length > max) {
      c->error_status = 413;
      return -1;
    }
  }
  maybe_continue(c);
  return c->closing ? -1 : 0;
}

/* Chunked bodies have no length up front: the cap is checked as they
 * grow. */
static int on_body(http_parser *p, const char *at, size_t len)
{
  struct conn *c = parser_conn(p);
  size_t max = c->reserved ? 0 : c->h->limits.max_body_bytes;

  /* The buffer grows as bytes arrive, never ahead of them from a
   * Content-Length a client may never fill. */
  if (len > max - c->body_len) {
    c->error_status = 413;
    return -1;
  }
  body_reserve(c, c->body_len + len);
  memcpy(c->body + c->body_len, at, len);
  c->body_len += len;
  return 0;
}

/*
 * Splits the URL in place into path and query.  Origin-form ("/a?b") is
 * what clients send; absolute-form ("http://host/a?b") is what proxies
 * send and what servers must accept; CONNECT's "host:port" has no path
 * and is passed whole.
 */
static int split_url(struct conn *c, struct httpd_request *req)
{
  char *url = c->head;
  size_t len = strlen(url);
  struct http_parser_url u;

  req->path = url;
  req->query = "";
  if (c->parser.method == HTTP_CONNECT)
    return 0;
  /* The parser's offsets are 16 bits wide. */
  if (len > UINT16_MAX)
    return -1;
  http_parser_url_init(&u);
  if (http_parser_parse_url(url, len, 0, &u) != 0)
    return -1;
  if (u.field_set & (1 << UF_QUERY)) {
    req->query = url + u.field_data[UF_QUERY].off;
    url[u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len] = '\0';
  }
  if (u.field_set & (1 << UF_PATH)) {
    req->path = url + u.field_data[UF_PATH].off;
    url[u.field_data[UF_PATH].off + u.field_data[UF_PATH].len] = '\0';
  } else {
    req->path = "/";
  }
  return 0;
}

/* The request as the handler sees it, pointing into c's buffers. */
static int build_request(struct conn *c, struct httpd_request *req)
{
  const http_parser *p = &c->parser;

  *req = (struct httpd_request){
      .method = http_method_str((enum http_method)p->method),
      .headers = c->headers,
      .nheaders = c->nfields,
      .body = "",
      .peer = c->peer,
  };
  if (c->part != PART_DONE || split_url(c, req) < 0)
    return -1;
  for (size_t i = 0; i < c->nfields; i++) {
    c->headers[i].name = c->head + c->fields[i].name;
    c->headers[i].value = c->head + c->fields[i].value;
  }
  if (c->body) {
    c->body[c->body_len] = '\0';
    req->body = c->body;
    req->body_len = c->body_len;
  }
  return 0;
}

/* Whether a reserved slot may answer `req`. */
static bool reserved_path(const struct httpd *h,
                          const struct httpd_request *req)
{
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
    return false;
  for (const char *const *p = h->limits.reserved_paths; p && *p; p++)
    if (strcmp(*p, req->path) == 0)
      return true;
  return false;
}

/* Runs the handler and queues its answer; true when it was the last. */
static bool respond(struct conn *c, const struct httpd_request *req)
{
  const http_parser *p = &c->parser;
  struct httpd *h = c->h;
  struct httpd_response resp = {.status = 200};
  bool close = !http_should_keep_alive(p) || p->upgrade || c->reserved;
  struct reply r;

  if (c->reserved && !reserved_path(h, req))
    httpd_respond(&resp, 503, NULL, "busy\n");
  else
    h->handler(req, &resp, h->arg);
  r = (struct reply){
      .status = resp.status,
      .content_type = resp.content_type,
      .www_authenticate = resp.www_authenticate,
      .headers = resp.headers,
      .body = resp.body,
      .body_len = resp.body ? resp.body_len : 0,
      .head = p->method == HTTP_HEAD,
      .close = close,
      .keep_alive = !close && p->http_major == 1 && p->http_minor == 0,
  };
  /* The handler may have closed the server, and with it this conn. */
  if (!c->closing)
    send_reply(c, &r);
  free(resp.body);
  return close;
}

static int on_message_complete(http_parser *p)
{
  struct conn *c = parser_conn(p);
  struct httpd_request req;
  bool last;

  if (build_request(c, &req) < 0) {
    c->error_status = 400;
    return -1;
  }
  last = respond(c, &req);
  c->in_request = false;
  /* A body may reach the cap; connections that live long should not
   * hold on to it. */
  free(c->body);
  c->body = NULL;
  c->body_alloc = 0;
  if (c->closing)
    return -1;
  if (last) {
    finish(c);
    return -1;
  }
  arm(c, c->h->limits.idle_timeout_ms);
  /* Enough answers on their way: parse no more until they are out. */
  if (too_busy(c)) {
    c->paused = true;
    http_parser_pause(p, 1);
  }
  return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading ---- */

static bool too_busy(const struct conn *c)
{
  return c->nwrites >= c->h->limits.max_in_flight ||
         uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) >
             WRITE_HIGH_WATER;
}

/* Keeps what the paused parser did not take, and stops reading. */
static void hold(struct conn *c, const char *data, size_t len)
{
  char *copy = len ? td_malloc(len) : NULL;

  if (len)
    memcpy(copy, data, len); /* before freeing: data may be c->held */
  free(c->held);
  c->held = copy;
  c->held_len = len;
  uv_read_stop((uv_stream_t *)&c->tcp);
}

/* Parses what arrived, answering each request it completes. */
static void feed(struct conn *c, const char *data, size_t len)
{
  enum http_errno err;
  size_t used;

  c->error_status = 0;
  used = http_parser_execute(&c->parser, &parser_settings, data, len);
  if (c->closing || c->finishing)
    return;
  err = HTTP_PARSER_ERRNO(&c->parser);
  if (err == HPE_PAUSED)
    hold(c, data + used, len - used);
  else if (c->error_status)
    fail(c, c->error_status);
  else if (err == HPE_HEADER_OVERFLOW)
    fail(c, 431);
  else if (err != HPE_OK)
    fail(c, 400);
  else if (c->parser.upgrade)
    finish(c);
}

/* The answers went out: parse what was held, then read again. */
static void resume(struct conn *c)
{
  char *data = c->held;
  size_t len = c->held_len;

  c->paused = false;
  c->held = NULL;
  c->held_len = 0;
  http_parser_pause(&c->parser, 0);
  if (len)
    feed(c, data, len);
  free(data);
  if (!c->closing && !c->finishing && !c->paused)
    start_reading(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
  struct conn *c = container_of((uv_tcp_t *)stream, struct conn, tcp);

  if (c->closing)
    return;
  if (nread < 0) {
    if (nread != UV_EOF || c->draining || c->in_request || c->nwrites == 0) {
      conn_close(c);
      return;
    }
    /* Half-closed after its last request: the answers still go out. */
    c->eof = true;
    finish(c);
    return;
  }
  if (nread > 0 && !c->draining)
    feed(c, buf->base, (size_t)nread);
}

/* ---- accepting ---- */

/* "1.2.3.4:5" or "[::1]:5"; the port alone when `text` is NULL. */
static int format_addr(const struct sockaddr_storage *ss, char *text,
                       size_t size)
{
  char ip[INET6_ADDRSTRLEN] = "";
  int port = -1;

  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

    uv_ip4_name(in, ip, sizeof(ip));
    port = ntohs(in->sin_port);
    if (text)
      snprintf(text, size, "%s:%d", ip, port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

    uv_ip6_name(in6, ip, sizeof(ip));
    port = ntohs(in6->sin6_port);
    if (text)
      snprintf(text, size, "[%s]:%d", ip, port);
  }
  return port;
}

static void name_peer(struct conn *c)
{
  struct sockaddr_storage ss;
  int len = sizeof(ss);

  snprintf(c->peer, sizeof(c->peer), "unknown");
  snprintf(c->ip, sizeof(c->ip), "unknown");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
    return;
  format_addr(&ss, c->peer, sizeof(c->peer));
  if (ss.ss_family == AF_INET)
    uv_ip4_name((const struct sockaddr_in *)&ss, c->ip, sizeof(c->ip));
  else if (ss.ss_family == AF_INET6) {
    /* One host may own a whole /64: count its prefix, not each address. */
    const uint8_t *a = ((const struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;

    snprintf(c->ip, sizeof(c->ip), "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64",
             a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
  }
}

/*
 * Whether c may have a regular slot: fewer than max_connections taken,
 * and fewer than max_per_peer from its address.  The list is at most
 * max_connections + reserved_slots long.
 */
static bool regular_slot_free(const struct httpd *h, const struct conn *c)
{
  unsigned regular = 0, same_peer = 0;

  for (const struct conn *o = h->conns; o; o = o->next) {
    if (o == c || o->reserved || o->closing)
      continue;
    regular++;
    if (strcmp(o->ip, c->ip) == 0)
      same_peer++;
  }
  return regular < h->limits.max_connections &&
         same_peer < h->limits.max_per_peer;
}

/* Taken off the backlog and closed, so it does not wait there. */
static void refuse(struct httpd *h)
{
  uv_tcp_t *t = td_malloc(sizeof(*t));

  uv_tcp_init(h->loop, t);
  t->data = h;
  h->nhandles++;
  uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)t);
  uv_close((uv_handle_t *)t, refused_closed);
}

/* Reserved connections from c's address (c itself excluded). */
static unsigned reserved_from(const struct httpd *h, const struct conn *c)
{
  unsigned n = 0;

  for (const struct conn *o = h->conns; o; o = o->next)
    if (o != c && o->reserved && strcmp(o->ip, c->ip) == 0)
      n++;
  return n;
}

/* The oldest reserved connection held past RESERVED_STALE_MS, or NULL.
 * The list is newest first: the last one found is the oldest. */
static struct conn *stale_reserved(const struct httpd *h)
{
  uint64_t now = uv_now(h->loop);
  struct conn *oldest = NULL;

  for (struct conn *o = h->conns; o; o = o->next)
    if (o->reserved && now - o->accepted >= RESERVED_STALE_MS)
      oldest = o;
  return oldest;
}

/* A reserved connection of the address holding the most, if that is more
 * than `mine` + 1 (what c's address would then hold). */
static struct conn *crowding_reserved(const struct httpd *h, unsigned mine)
{
  struct conn *victim = NULL;
  unsigned most = 0;

  for (struct conn *o = h->conns; o; o = o->next) {
    unsigned n;

    if (!o->reserved)
      continue;
    n = reserved_from(h, o) + 1;
    if (n >= most) {
      most = n;
      victim = o;
    }
  }
  return most > mine + 1 ? victim : NULL;
}

/*
 * A reserved slot for c.  One address holds at most RESERVED_PER_PEER;
 * when all are taken, c takes the slot of the oldest connection that has
 * held one past RESERVED_STALE_MS without a whole request (a health check
 * sends its request at once), else of the address holding the most.  So
 * connections flooding in cannot keep a health check out, however many
 * addresses they come from and however fast they come back.
 */
static bool take_reserved_slot(struct httpd *h, struct conn *c)
{
  struct conn *victim;
  unsigned mine;

  if (!h->limits.reserved_paths)
    return false;
  mine = reserved_from(h, c);
  if (mine >= RESERVED_PER_PEER)
    return false;
  if (h->nreserved >= h->limits.reserved_slots) {
    victim = stale_reserved(h);
    if (!victim)
      victim = crowding_reserved(h, mine);
    if (!victim)
      return false;
    conn_close(victim);
  }
  c->reserved = true;
  h->nreserved++;
  return true;
}

/* The list is newest first: the last draining one is the oldest. */
static void close_oldest_draining(struct httpd *h)
{
  struct conn *oldest = NULL;

  for (struct conn *o = h->conns; o; o = o->next)
    if (o->short_drain && !o->closing)
      oldest = o;
  if (oldest)
    conn_close(oldest);
}

static void on_connection(uv_stream_t *server, int status)
{
  struct httpd *h = container_of((uv_tcp_t *)server, struct httpd, listener);
  /* Connections in slots: the slots, and one more that may take a
   * reserved slot from a flooder.  Not counted: those refused after
   * accept, closing until the next loop turn frees them (bounded by what
   * one turn accepts, the listen backlog), and those answered in a
   * reserved slot, waiting a moment for their client to close (bounded
   * below); or a storm of reconnects would crowd a health check out. */
  unsigned slots = h->limits.max_connections +
                   (h->limits.reserved_paths ? h->limits.reserved_slots : 0);
  struct conn *c;

  /* Out of descriptors and the like: libuv tries again later. */
  if (status < 0)
    return;
  if (h->nconns - h->nclosing - h->ndraining > slots) {
    refuse(h);
    return;
  }
  /* Answered health checks waiting for their client to close: a short
   * wait each, but a flood of them must not grow without bound. */
  if (h->ndraining > 2 * h->limits.reserved_slots)
    close_oldest_draining(h);
  c = td_calloc(1, sizeof(*c));
  c->h = h;
  c->accepted = uv_now(h->loop);
  uv_tcp_init(h->loop, &c->tcp);
  uv_timer_init(h->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  c->next = h->conns;
  if (h->conns)
    h->conns->prev = c;
  h->conns = c;
  h->nconns++;
  h->nhandles++;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    conn_close(c);
    return;
  }
  name_peer(c);
  if (!regular_slot_free(h, c) && !take_reserved_slot(h, c)) {
    conn_close(c);
    return;
  }
  /* Answers are written whole; waiting for more to coalesce only adds a
   * delayed-ACK round trip to each one. */
  uv_tcp_nodelay(&c->tcp, 1);
  arm(c, c->reserved ? RESERVED_TIMEOUT_MS : h->limits.first_byte_timeout_ms);
  start_reading(c);
}

/* ---- the public side ---- */

/*
 * The listening socket is made by hand rather than with uv_tcp_bind():
 * libuv reports a busy address only at uv_listen(), with the handle
 * already on the loop, and a handle goes away only through uv_close() and
 * a later loop run, so a failed start would leave the caller a loop it
 * cannot close at once.  Made here, a failure is one close(2).
 */
static int open_listener(const struct sockaddr *addr, int *fd_out, int *port)
{
  socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
  struct sockaddr_storage ss;
  socklen_t ss_len = sizeof(ss);
  int one = 1;
  int fd, err;

  fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return uv_translate_sys_error(errno);
  /* As uv_tcp_bind() does: a restarted daemon need not wait out
   * TIME_WAIT on its port. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
      bind(fd, addr, len) < 0 || listen(fd, SOMAXCONN) < 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &ss_len) < 0) {
    err = uv_translate_sys_error(errno);
    close(fd);
    return err;
  }
  *port = format_addr(&ss, NULL, 0);
  *fd_out = fd;
  return 0;
}

int httpd_start(struct httpd **out, uv_loop_t *loop, const char *host, int port,
                const struct httpd_limits *limits, httpd_handler handler,
                void *arg)
{
  bool v6 = strchr(host, ':') != NULL;
  struct sockaddr_storage addr;
  struct httpd *h = NULL;
  char where[300];
  int fd = -1;
  int err;

  assert(port >= 0 && port <= 65535);
  assert(limits->max_in_flight > 0 && limits->max_connections > 0);
  assert(!limits->reserved_paths || limits->reserved_slots > 0);
  *out = NULL;
  snprintf(where, sizeof(where), "%s%s%s:%d", v6 ? "[" : "", host,
           v6 ? "]" : "", port);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
    return td_error("listen %s: not an IP address", where);

  h = td_calloc(1, sizeof(*h));
  h->loop = loop;
  h->limits = *limits;
  h->handler = handler;
  h->arg = arg;
  err = open_listener((const struct sockaddr *)&addr, &fd, &h->port);
  if (err == 0)
    err = uv_tcp_init(loop, &h->listener);
  if (err < 0) {
    if (fd >= 0)
      close(fd);
    free(h);
    goto out;
  }
  h->nhandles = 1;
  err = uv_tcp_open(&h->listener, fd);
  if (err < 0)
    close(fd);
  else
    err = uv_listen((uv_stream_t *)&h->listener, SOMAXCONN, on_connection);
  if (err < 0) {
    /* Not expected of a socket that listens already; h goes in the close
     * callback, when the loop next runs. */
    h->closing = true;
    uv_close((uv_handle_t *)&h->listener, listener_closed);
    goto out;
  }
  *out = h;
out:
  if (err < 0)
    return td_error("listen %s: %s", where, uv_strerror(err));
  return 0;
}

int httpd_port(const struct httpd *h)
{
  return h->port;
}

const char *httpd_header(const struct httpd_request *req, const char *name)
{
  for (size_t i = 0; i < req->nheaders; i++)
    if (strcasecmp(req->headers[i].name, name) == 0)
      return req->headers[i].value;
  return NULL;
}

void httpd_respond(struct httpd_response *resp, int status,
                   const char *content_type, const char *text)
{
  free(resp->body);
  resp->status = status;
  if (content_type)
    resp->content_type = content_type;
  resp->body = td_strdup(text);
  resp->body_len = strlen(text);
}

void httpd_close(struct httpd *h, void (*cb)(void *arg), void *arg)
{
  assert(!h->closing);
  h->closing = true;
  h->close_cb = cb;
  h->close_arg = arg;
  uv_close((uv_handle_t *)&h->listener, listener_closed);
  for (struct conn *c = h->conns; c; c = c->next)
    conn_close(c);
}
