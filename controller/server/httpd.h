/*
 * httpd.h - a small HTTP/1.1 server on the libuv loop (http_parser).
 *
 * It serves tenantd's health, metrics, API and webhook endpoints, on
 * loopback by default.  Requests are parsed with http_parser and handed
 * to one handler, which answers synchronously on the loop thread; the
 * server owns sockets, buffers and timers.
 *
 * Hostile or broken clients cost bounded memory and time:
 *   - the request target and the header names and values together (as
 *     kept: one NUL after each, no separators) may not exceed
 *     max_header_bytes (431), the body max_body_bytes (413, checked
 *     against Content-Length before any of the body is read, and as a
 *     chunked body grows);
 *   - a connection must send its first byte within first_byte_timeout_ms,
 *     a request must arrive whole within request_timeout_ms of its first
 *     byte (slow clients get 408 and are closed), and an idle keep-alive
 *     connection is closed after idle_timeout_ms;
 *   - malformed requests get 400 and the connection is closed;
 *   - pipelined requests are answered in order, one response each; the
 *     server stops parsing (and reading) a connection while it has
 *     max_in_flight answers not yet sent or more than a few KiB queued,
 *     so a client that sends requests and never reads the answers holds
 *     a bounded amount of memory, whatever it sent;
 *   - past max_connections in all, or max_per_peer from one address, a
 *     new connection goes to one of reserved_slots kept for the paths in
 *     reserved_paths (health checks): it must send one request, without a
 *     body, within a second; the request is answered if its path is
 *     reserved and refused with 503 otherwise, the slot is free again,
 *     and the connection gets another second to close.  One address
 *     holds at most two reserved slots; when all are taken, a newcomer
 *     takes the slot of the oldest one held a quarter second without a
 *     request, else of the address holding the most.  So a flood of
 *     connections, from however many addresses, cannot keep health
 *     checks from being answered;
 *   - the answers queued for all clients together stay under 64 MiB: past
 *     it, the client holding the most is disconnected.
 * Error responses the server makes itself carry a short text body
 * ("payload too large\n") and close the connection after it is sent.
 *
 *   struct httpd *h;
 *   httpd_start(&h, loop, "127.0.0.1", 9400, &limits, handler, arg);
 *   ... uv_run ...
 *   httpd_close(h, closed_cb, arg);  -- closes every connection; frees h
 */
#ifndef TD_HTTPD_H
#define TD_HTTPD_H

#include "base/compat.h"

#include <uv.h>

struct httpd_header {
  const char *name; /* as sent */
  const char *value;
};

struct httpd_request {
  const char *method; /* "GET", "POST", ... */
  const char *path;   /* "/api/v1/tenants/acme", percent-decoding not done */
  const char *query;  /* after '?', "" when none */
  const struct httpd_header *headers;
  size_t nheaders;
  const char *body; /* NUL-terminated for convenience; "" when none */
  size_t body_len;
  const char *peer; /* "127.0.0.1:53211", "[::1]:53211" */
};

struct httpd_response {
  int status;               /* 200 unless the handler sets it */
  const char *content_type; /* "text/plain; charset=utf-8" unless set */
  char *body;               /* malloc'd, owned by the server once set */
  size_t body_len;
  const char *www_authenticate; /* set on 401 responses that want it */
  /* More header lines, each "Name: value\r\n", or NULL; borrowed: text
   * that outlives the handler's call (static, or the server's arg's). */
  const char *headers;
};

typedef void (*httpd_handler)(const struct httpd_request *req,
                              struct httpd_response *resp, void *arg);

struct httpd_limits {
  size_t max_header_bytes;
  size_t max_body_bytes;
  uint64_t first_byte_timeout_ms;
  uint64_t request_timeout_ms;
  uint64_t idle_timeout_ms;
  unsigned max_connections;
  unsigned max_per_peer;  /* connections from one IP address */
  unsigned max_in_flight; /* pipelined answers queued per connection */
  unsigned reserved_slots;
  /* Exact paths a reserved slot answers (GET and HEAD), NULL-terminated;
   * NULL: no reserved slots. */
  const char *const *reserved_paths;
};

/* clang-format off */
#define HTTPD_LIMITS_DEFAULT                                              \
  {.max_header_bytes = 8192, .max_body_bytes = 1024 * 1024,               \
   .first_byte_timeout_ms = 5000, .request_timeout_ms = 10000,            \
   .idle_timeout_ms = 60000, .max_connections = 256, .max_per_peer = 64,  \
   .max_in_flight = 8, .reserved_slots = 256, .reserved_paths = NULL}
/* clang-format on */

struct httpd;

/*
 * Listens on host:port (port 0: any free port; httpd_port() tells); host
 * is an IPv4 or IPv6 address, not a name.  0, or -1 with td_error_last()
 * ("listen 127.0.0.1:9400: address already in use"); a failure leaves
 * nothing on the loop.
 */
int httpd_start(struct httpd **out, uv_loop_t *loop, const char *host, int port,
                const struct httpd_limits *limits, httpd_handler handler,
                void *arg);

int httpd_port(const struct httpd *h);

/* The value of header `name` (case-insensitive), or NULL.  Borrowed. */
const char *httpd_header(const struct httpd_request *req, const char *name);

/* Sets resp's status and its body to a copy of `text` (replacing any
 * body set before); a NULL content_type leaves the content type as is. */
void httpd_respond(struct httpd_response *resp, int status,
                   const char *content_type, const char *text);

/* Stops listening and closes every connection; `cb` runs once everything
 * is closed and h is freed. */
void httpd_close(struct httpd *h, void (*cb)(void *arg), void *arg);

#endif
