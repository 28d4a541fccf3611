/*
 * httpd_internal.h - shared by the HTTP server's files only: httpd.c
 * (connections, requests, answers) and httpd_accept.c (who gets a slot).
 * Loop thread only.
 */
#ifndef TD_HTTPD_INTERNAL_H
#define TD_HTTPD_INTERNAL_H

#include "base/compat.h"

#include <http_parser.h>
#include <sys/socket.h>

#include "server/httpd.h"

/* One read's worth.  A single buffer serves every connection: the parser
 * callbacks copy out all we keep before on_read returns, and a paused
 * parser keeps a copy of the rest, so this is also what one connection
 * may hold of requests not yet parsed. */
#define READ_BUF_SIZE 16384

/* A reserved slot's whole request must arrive within this. */
#define RESERVED_TIMEOUT_MS 1000

/* Reserved slots one address may hold at once. */
#define RESERVED_PER_PEER 2

/* A reserved connection held this long without a whole request is not a
 * health check (those arrive in one packet): its slot goes to a
 * newcomer when all are taken. */
#define RESERVED_STALE_MS 250

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
  /* The answer the handler deferred (httpd_defer); parsing waits. */
  struct httpd_deferred *deferred;
};

/* An answer to come, and how it must be sent. */
struct httpd_deferred {
  struct conn *c; /* NULL once the connection is gone */
  bool head, close, keep_alive;
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

/* Closes at once, whatever is in flight; the close callbacks free c. */
void httpd__conn_close(struct conn *c);

/* (Re)starts c's deadline. */
void httpd__arm(struct conn *c, uint64_t ms);

/* Reads c; closes it when it cannot. */
void httpd__start_reading(struct conn *c);

/* The close callback of a socket refused after accept. */
void httpd__refused_closed(uv_handle_t *handle);

/* "1.2.3.4:5" or "[::1]:5" into text; the port alone when text is NULL. */
int httpd__format_addr(const struct sockaddr_storage *ss, char *text,
                       size_t size);

/* The listener's callback: a connection in a slot, or refused. */
void httpd__on_connection(uv_stream_t *server, int status);

#endif
