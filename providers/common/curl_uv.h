/*
 * curl_uv.h - HTTP requests for providers, on the controller's libuv loop.
 *
 * One libcurl multi handle per instance, driven by libuv: curl's sockets
 * are watched with uv_poll and its timeouts with a uv_timer (the
 * multi-socket API), so any number of requests run at once and none
 * blocks the loop.
 *
 *   struct curl_uv *cu = curl_uv_new(loop);
 *   curl_uv_send(cu, &req, done, arg);     -- done runs later, once
 *   curl_uv_close(cu, closed, arg);        -- after the last done
 *
 * Every request has a timeout and a cap on the response size.  Outcomes
 * are classified for the controller (provider.h):
 *   refused, unreachable, timed out, 5xx, 429  -> PROVIDER_TRANSIENT
 *   401, 403                                   -> PROVIDER_AUTH
 *   404                                        -> PROVIDER_NOT_FOUND
 *   409                                        -> PROVIDER_CONFLICT
 *   3xx (not followed), other 4xx, a response
 *   over the cap                               -> PROVIDER_INVALID
 *   1xx, 2xx                                   -> PROVIDER_OK
 * Proxies from the environment (http_proxy, ...) are used, except for
 * loopback addresses.  curl_uv_close answers requests still in flight
 * from inside the call.
 * Messages name the method, the URL's path and the reason; request
 * headers (where API keys go) are never part of one.
 *
 * Two things a local API needs (the Docker Engine API, for one):
 *   - `unix_socket`: the request goes over that unix socket instead of
 *     TCP; the URL's host then only fills the Host header, and no proxy
 *     is ever used.
 *   - `on_body`: a streamed response (an event stream, a pull's
 *     progress).  A 2xx response's body is handed to on_body as it
 *     arrives, chunk by chunk, and is not kept: the response's body is
 *     then "" and max_response_bytes does not apply (on_body keeps what
 *     it needs, capped).  Any other status keeps its body as usual, for
 *     the message.  on_body runs on the loop thread from inside curl: it
 *     must not call curl_uv_send or curl_uv_close (defer those to a
 *     timer or to done).  It returns true to go on, false to stop the
 *     transfer, which then ends as PROVIDER_INVALID "stopped by its
 *     reader".  done still runs once, last.
 */
#ifndef TD_CURL_UV_H
#define TD_CURL_UV_H

#include "base/compat.h"

#include <uv.h>

struct curl_uv;

struct curl_uv_request {
  const char *method;         /* "GET", "PATCH", ... */
  const char *url;            /* full URL */
  const char *const *headers; /* "Name: value" lines */
  size_t nheaders;
  const char *body; /* NULL: none */
  size_t body_len;
  uint64_t timeout_ms;       /* 0: 10 s */
  size_t max_response_bytes; /* 0: 4 MiB */
  const char *unix_socket;   /* NULL: TCP; else the socket's path */
  /* A connection of its own, opened for this request and closed after
   * it: no connection is looked for among those open (which costs a walk
   * of every connection to the host) and none is kept. */
  bool fresh_connection;
  /* NULL: the body is kept; else a 2xx body streams here (above); `arg`
   * is done's. */
  bool (*on_body)(const char *data, size_t len, void *arg);
};

struct curl_uv_response {
  int status;       /* PROVIDER_OK or an error class */
  long http_code;   /* 0 when there was no response */
  const char *body; /* NUL-terminated; "" when none */
  size_t body_len;
  const char *message; /* why, when status < 0 */
  /* The final response's status line and header lines as received
   * ("HTTP/1.1 200 OK\r\nName: value\r\n..."), capped like the body;
   * NUL-terminated, "" when none. */
  const char *headers;
  size_t headers_len;
};

/* `res` and what it points to are borrowed for the call. */
typedef void (*curl_uv_cb)(const struct curl_uv_response *res, void *arg);

struct curl_uv *curl_uv_new(uv_loop_t *loop);

/* A request in flight, for curl_uv_cancel: valid until its done runs. */
struct curl_uv_req;

/* Copies what it needs from `req`; `done` runs on the loop, never from
 * inside this call.  Not after curl_uv_close.  The handle returned may
 * be ignored. */
struct curl_uv_req *curl_uv_send(struct curl_uv *cu,
                                 const struct curl_uv_request *req,
                                 curl_uv_cb done, void *arg);

/* Ends a request before its time (a stream nobody reads any more): its
 * done runs inside this call with PROVIDER_TRANSIENT "cancelled".  Not
 * from inside that request's own on_body or done. */
void curl_uv_cancel(struct curl_uv *cu, struct curl_uv_req *req);

/* Requests still running are cancelled (their callbacks run with
 * PROVIDER_TRANSIENT "cancelled"); `closed` runs once every handle is
 * closed and cu is freed. */
void curl_uv_close(struct curl_uv *cu, void (*closed)(void *arg), void *arg);

/* The class of an HTTP status code (0: no response). */
int curl_uv_classify(long http_code);

#endif
