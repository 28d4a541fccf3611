#include "base/compat.h"

#include <curl/curl.h>
#include <stdio.h>

#include "providers/common/curl_uv.h"
#include "providers/provider.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BYTES (4 * 1024 * 1024)

struct curl_uv {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  struct request *requests; /* in flight, for close */
  size_t open_handles;
  bool closing;
  struct request *refused; /* curl would not take them: answered later */
  void (*closed)(void *arg);
  void *closed_arg;
  char *noproxy; /* the environment's no_proxy and loopback */
};

/* A socket curl asked us to watch. */
struct watch {
  uv_poll_t poll;
  curl_socket_t fd;
  struct curl_uv *cu;
};

struct request {
  struct curl_uv *cu;
  CURL *easy;
  struct curl_slist *headers;
  char *body;   /* the request body, owned */
  char *method; /* for messages */
  char *path;   /* the URL's path, for messages */
  char *resp;   /* the response body */
  size_t resp_len, resp_cap, max_bytes;
  char *hdr; /* the response's header lines */
  size_t hdr_len, hdr_cap;
  bool too_big;
  bool (*on_body)(const char *data, size_t len, void *arg);
  bool stopped; /* on_body said to stop */
  char error[CURL_ERROR_SIZE];
  curl_uv_cb done;
  void *arg;
  struct request *prev, *next;
};

int curl_uv_classify(long code)
{
  if (code == 0 || code >= 500 || code == 429 || code == 408)
    return PROVIDER_TRANSIENT;
  if (code == 401 || code == 403)
    return PROVIDER_AUTH;
  if (code == 404)
    return PROVIDER_NOT_FOUND;
  if (code == 409)
    return PROVIDER_CONFLICT;
  /* Redirects are not followed: a 3xx did not do what was asked. */
  if (code >= 300)
    return PROVIDER_INVALID;
  return PROVIDER_OK;
}

/* ---- one request ---- */

/* Appends to a NUL-terminated buffer capped at the request's max_bytes;
 * 0 (curl then stops with CURLE_WRITE_ERROR) when it would pass it. */
static size_t append(struct request *r, char **buf, size_t *len, size_t *cap,
                     const char *data, size_t n)
{
  if (*len + n > r->max_bytes) {
    r->too_big = true;
    return 0;
  }
  if (*len + n + 1 > *cap) {
    *cap = (*len + n + 1) * 2;
    *buf = td_realloc(*buf, *cap);
  }
  memcpy(*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = '\0';
  return n;
}

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
  struct request *r = arg;
  long code = 0;

  if (r->on_body) {
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) {
      if (r->on_body(data, size * n, r->arg))
        return size * n;
      r->stopped = true;
      return 0;
    }
  }
  return append(r, &r->resp, &r->resp_len, &r->resp_cap, data, size * n);
}

/* Keeps the last response's header block (an interim 1xx is replaced). */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
  struct request *r = arg;
  size_t len = size * n;

  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
    r->hdr_len = 0;
  return append(r, &r->hdr, &r->hdr_len, &r->hdr_cap, data, len);
}

static void request_free(struct request *r)
{
  /* Header lines carry API keys: leave no copy in freed memory. */
  for (struct curl_slist *h = r->headers; h; h = h->next)
    explicit_bzero(h->data, strlen(h->data));
  curl_slist_free_all(r->headers);
  free(r->body);
  free(r->method);
  free(r->path);
  free(r->resp);
  free(r->hdr);
  free(r);
}

static void unlink_request(struct request *r)
{
  if (r->prev)
    r->prev->next = r->next;
  else
    r->cu->requests = r->next;
  if (r->next)
    r->next->prev = r->prev;
}

static void finish(struct request *r, CURLcode rc)
{
  struct curl_uv_response res = {0};
  char msg[CURL_ERROR_SIZE + 256];
  long code = 0;

  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  res.http_code = code;
  res.body = r->resp ? r->resp : "";
  res.body_len = r->resp_len;
  res.headers = r->hdr ? r->hdr : "";
  res.headers_len = r->hdr_len;
  if (r->too_big) {
    res.status = PROVIDER_INVALID;
    snprintf(msg, sizeof(msg), "%s %s: response larger than %zu bytes",
             r->method, r->path, r->max_bytes);
    res.message = msg;
  } else if (r->stopped) {
    res.status = PROVIDER_INVALID;
    snprintf(msg, sizeof(msg), "%s %s: stopped by its reader", r->method,
             r->path);
    res.message = msg;
  } else if (rc != CURLE_OK) {
    /* Refused, unreachable, timed out, reset: try again later. */
    res.status = PROVIDER_TRANSIENT;
    snprintf(msg, sizeof(msg), "%s %s: %s", r->method, r->path,
             r->error[0] ? r->error : curl_easy_strerror(rc));
    res.message = msg;
  } else {
    res.status = curl_uv_classify(code);
    if (res.status != PROVIDER_OK) {
      snprintf(msg, sizeof(msg), "%s %s: HTTP %ld%s%.200s", r->method, r->path,
               code, r->resp_len ? ": " : "", r->resp ? r->resp : "");
      res.message = msg;
    }
  }
  curl_multi_remove_handle(r->cu->multi, r->easy);
  curl_easy_cleanup(r->easy);
  unlink_request(r);
  r->done(&res, r->arg);
  request_free(r);
}

static void check_done(struct curl_uv *cu)
{
  CURLMsg *m;
  int left;

  while ((m = curl_multi_info_read(cu->multi, &left)) != NULL) {
    struct request *r;

    if (m->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    finish(r, m->data.result);
  }
}

/* ---- curl's sockets and timer on the loop ---- */

static void on_poll(uv_poll_t *p, int status, int events)
{
  struct watch *w = p->data;
  int flags = 0, running;

  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(w->cu->multi, w->fd, flags, &running);
  check_done(w->cu);
}

/* One of cu's handles is closed; the last one frees cu. */
static void handle_gone(struct curl_uv *cu)
{
  void (*closed)(void *) = cu->closed;
  void *arg = cu->closed_arg;

  if (--cu->open_handles > 0 || !cu->closing)
    return;
  free(cu->noproxy);
  free(cu);
  if (closed)
    closed(arg);
}

static void watch_closed(uv_handle_t *h)
{
  struct watch *w = h->data;
  struct curl_uv *cu = w->cu;

  free(w);
  handle_gone(cu);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg,
                     void *sockp)
{
  struct curl_uv *cu = arg;
  struct watch *w = sockp;
  int events = 0;

  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (w) {
      uv_poll_stop(&w->poll);
      curl_multi_assign(cu->multi, fd, NULL);
      uv_close((uv_handle_t *)&w->poll, watch_closed);
    }
    return 0;
  }
  if (!w) {
    w = td_calloc(1, sizeof(*w));
    w->fd = fd;
    w->cu = cu;
    if (uv_poll_init_socket(cu->loop, &w->poll, fd) != 0) {
      free(w);
      return -1;
    }
    w->poll.data = w;
    cu->open_handles++;
    curl_multi_assign(cu->multi, fd, w);
  }
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    events |= UV_WRITABLE;
  uv_poll_start(&w->poll, events, on_poll);
  return 0;
}

static void answer_refused(struct curl_uv *cu)
{
  while (cu->refused) {
    struct request *r = cu->refused;
    struct curl_uv_response res = {.status = PROVIDER_TRANSIENT,
                                   .body = "",
                                   .headers = "",
                                   .message = "the request could not be "
                                              "started"};

    cu->refused = r->next;
    curl_easy_cleanup(r->easy);
    r->done(&res, r->arg);
    request_free(r);
  }
}

static void on_timeout(uv_timer_t *t)
{
  struct curl_uv *cu = t->data;
  int running;

  answer_refused(cu);
  curl_multi_socket_action(cu->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(cu);
}

static int on_timer_change(CURLM *multi, long ms, void *arg)
{
  struct curl_uv *cu = arg;

  (void)multi;
  if (ms < 0)
    uv_timer_stop(&cu->timer);
  else /* 0: act now, but from the loop, never inside curl's call */
    uv_timer_start(&cu->timer, on_timeout, (uint64_t)ms, 0);
  return 0;
}

/* ---- the instance ---- */

static void global_init(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct curl_uv *curl_uv_new(uv_loop_t *loop)
{
  static uv_once_t once = UV_ONCE_INIT;
  struct curl_uv *cu = td_calloc(1, sizeof(*cu));

  const char *env = getenv("no_proxy");

  uv_once(&once, global_init);
  if (!env || !*env)
    env = getenv("NO_PROXY");
  if (env && *env) {
    size_t n = strlen(env) + sizeof(",localhost,127.0.0.1,::1");

    cu->noproxy = td_malloc(n);
    snprintf(cu->noproxy, n, "%s,localhost,127.0.0.1,::1", env);
  } else {
    cu->noproxy = td_strdup("localhost,127.0.0.1,::1");
  }
  cu->loop = loop;
  cu->multi = curl_multi_init();
  if (!cu->multi)
    abort();
  curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu);
  curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
  curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu);
  uv_timer_init(loop, &cu->timer);
  cu->timer.data = cu;
  cu->open_handles = 1;
  return cu;
}

/* The path of a URL, without its query (which may hold a key). */
static char *url_path(const char *url)
{
  const char *p = strstr(url, "://");

  p = p ? strchr(p + 3, '/') : NULL;
  if (!p)
    return td_strdup("/");
  return td_strndup(p, strcspn(p, "?#"));
}

struct curl_uv_req *curl_uv_send(struct curl_uv *cu,
                                 const struct curl_uv_request *req,
                                 curl_uv_cb done, void *arg)
{
  struct request *r = td_calloc(1, sizeof(*r));

  r->cu = cu;
  r->done = done;
  r->arg = arg;
  r->method = td_strdup(req->method);
  r->path = url_path(req->url);
  r->max_bytes =
      req->max_response_bytes ? req->max_response_bytes : DEFAULT_MAX_BYTES;
  r->on_body = req->on_body;
  r->easy = curl_easy_init();
  if (!r->easy)
    abort();
  for (size_t i = 0; i < req->nheaders; i++)
    r->headers = curl_slist_append(r->headers, req->headers[i]);
  /* No "Expect: 100-continue" round trip on small bodies. */
  r->headers = curl_slist_append(r->headers, "Expect:");
  curl_easy_setopt(r->easy, CURLOPT_URL, req->url);
  curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, req->method);
  curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
  curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
  curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->error);
  curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(
      r->easy, CURLOPT_TIMEOUT_MS,
      (long)(req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS));
  curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
  /* Never wait for a name lookup's thread when a request ends early: the
   * loop must not stall on a DNS outage. */
  curl_easy_setopt(r->easy, CURLOPT_QUICK_EXIT, 1L);
  /* A proxy from the environment may serve the rest, never loopback;
   * setting the option replaces no_proxy, so it is kept.  A unix socket
   * is local by nature: no proxy at all. */
  if (req->unix_socket) {
    curl_easy_setopt(r->easy, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
    curl_easy_setopt(r->easy, CURLOPT_NOPROXY, "*");
  } else {
    curl_easy_setopt(r->easy, CURLOPT_NOPROXY, cu->noproxy);
  }
  curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
  if (req->fresh_connection) {
    curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
  }
  if (strcmp(req->method, "HEAD") == 0)
    curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
  if (req->body) {
    r->body = td_malloc(req->body_len + 1);
    memcpy(r->body, req->body, req->body_len);
    r->body[req->body_len] = '\0';
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)req->body_len);
  }
  /* curl_multi_add_handle only arms the timer: nothing completes here.
   * Should curl refuse it, the answer comes from the timer. */
  assert(!cu->closing);
  if (curl_multi_add_handle(cu->multi, r->easy) != CURLM_OK) {
    r->next = cu->refused;
    cu->refused = r;
    uv_timer_start(&cu->timer, on_timeout, 0, 0);
    return (struct curl_uv_req *)r;
  }
  r->next = cu->requests;
  if (r->next)
    r->next->prev = r;
  cu->requests = r;
  return (struct curl_uv_req *)r;
}

void curl_uv_cancel(struct curl_uv *cu, struct curl_uv_req *req)
{
  struct request *r = (struct request *)req, **at = &cu->refused;
  struct curl_uv_response res = {
      .status = PROVIDER_TRANSIENT,
      .body = "",
      .headers = "",
      .message = "cancelled",
  };

  while (*at && *at != r)
    at = &(*at)->next;
  if (*at) {
    *at = r->next; /* refused by curl: never added */
  } else {
    curl_multi_remove_handle(cu->multi, r->easy);
    unlink_request(r);
  }
  curl_easy_cleanup(r->easy);
  r->done(&res, r->arg);
  request_free(r);
}

static void timer_closed(uv_handle_t *h)
{
  handle_gone(h->data);
}

void curl_uv_close(struct curl_uv *cu, void (*closed)(void *arg), void *arg)
{
  cu->closing = true;
  cu->closed = closed;
  cu->closed_arg = arg;
  answer_refused(cu);
  while (cu->requests) {
    struct request *r = cu->requests;
    struct curl_uv_response res = {
        .status = PROVIDER_TRANSIENT,
        .body = "",
        .message = "cancelled: the provider is closing",
        .headers = "",
    };

    curl_multi_remove_handle(cu->multi, r->easy);
    curl_easy_cleanup(r->easy);
    unlink_request(r);
    r->done(&res, r->arg);
    request_free(r);
  }
  /* Removing the handles made curl drop its sockets (CURL_POLL_REMOVE). */
  curl_multi_cleanup(cu->multi);
  cu->multi = NULL;
  uv_timer_stop(&cu->timer);
  uv_close((uv_handle_t *)&cu->timer, timer_closed);
}
