/*
 * httpd_fx.h - the fixture the HTTP server's suites share (test_httpd.c,
 * test_httpd_limits.c): a real server on loopback, run on a private loop
 * in the test's thread, and a client in a second thread speaking raw
 * bytes over a blocking socket (with a receive timeout, so nothing can
 * hang).  The client records what came back and how the connection
 * ended; the test thread asserts once it is done, after closing the
 * server and checking that the loop has nothing left (a leaked handle
 * fails the test).  Tests run one at a time: the fixture's buffers are
 * shared.
 */
#ifndef TD_TEST_HTTPD_FX_H
#define TD_TEST_HTTPD_FX_H

#include "base/compat.h"

#include <uv.h>

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

struct hclient {
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

struct hfx {
  uv_loop_t loop;
  struct httpd *h;
  uv_async_t done;
  struct httpd_limits limits;
  struct hclient cl;
  void (*run)(struct hfx *f); /* the client; run_chunks unless set */
  unsigned calls;             /* handler calls */
  unsigned closed;            /* httpd_close callbacks */
};

/* What the client reads into; big enough for NBIG big answers. */
extern char hx_resp_buf[NBIG * (BIG_BODY + 256)];

/* The handler: echoes the request, except on a few paths that answer
 * otherwise (/auth, /json, /empty, /big/..., /quit, /later/<ms>). */
void hx_echo(const struct httpd_request *req, struct httpd_response *resp,
             void *arg);
/* What the server sends for a 200 with `body`, and for a refusal. */
char *hx_ok(const char *body, const char *connection);
char *hx_refusal(int status, const char *reason, const char *body);

/* The client thread's tools (no ck_assert in them: they record). */
long hx_now_ms(void);
int hx_dial(int port, int rcvbuf);
/* A connection from `source` (another loopback address), or the default. */
int hx_dial_from(int port, int rcvbuf, const char *source);
void hx_send_all(int fd, const char *s, size_t n);
void hx_sleep_ms(unsigned ms);
/* Appends to buf until the server closes, a timeout, or `until` shows. */
enum end hx_read_reply(int fd, char *buf, size_t size, size_t *len,
                       const char *until);

/* Small limits, so the tests reach them quickly. */
void hfx_init(struct hfx *f);
/* Runs the client against a fresh server until it is done and the server
 * has closed, and checks the loop is left empty. */
void hfx_run(struct hfx *f);
/* Sends `chunks` and expects exactly `want` back (freed), then the
 * server's close. */
void hx_expect_exchange(struct hfx *f, const char *const *chunks, char *want);

#endif
