/*
 * postgres.c - tenant databases on a PostgreSQL cluster (see postgres.h for
 * the contract).
 *
 * Each operation is an `op`: a small state machine that runs one statement
 * at a time on one pooled connection.  A connection is a PGconn in
 * non-blocking mode watched by a uv_poll handle: connecting, it follows
 * PQconnectPoll's reading/writing wishes; busy, it flushes the query and
 * reads results as they come; idle, it only watches for the server closing
 * it, unreferenced so it does not keep the loop alive.  Ops wait in a FIFO
 * when every connection is busy and the pool is full.
 *
 * Finished ops go to a done list that a timer delivers on a later loop
 * iteration: no callback ever runs from inside the call that started the
 * op, nor from deep inside the connection code, where a caller's new
 * operation could otherwise re-enter it.
 *
 * Lifetimes: a poll handle is its own allocation, closed (and freed in its
 * close callback) whenever the socket may have changed: libpq may close a
 * socket and open another with the same number while connecting, and
 * libuv must never be left watching a descriptor it did not register.  A
 * connection is freed once its timer has closed and no name lookup of its
 * is outstanding; the instance once every handle and request is gone.
 */
#include "base/compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include <libpq-fe.h>
#include <openssl/rand.h>

#include "providers/postgres/postgres.h"
#include "base/fsutil.h"
#include "model/resource.h"

/* PostgreSQL truncates longer identifiers (NAMEDATALEN - 1). */
#define MAX_IDENT 63
#define MAX_CONNECT_TIMEOUT_MS 600000
#define MAX_POOL 100
/* A comment this large is not one tenantd wrote. */
#define MAX_COMMENT 8192
#define MAX_LIST 100000
#define MAX_HOSTS 16
#define MAX_ADDRS_PER_HOST 8
#define MESSAGE_MAX 1024

enum op_kind { OP_READ, OP_CREATE, OP_UPDATE, OP_REMOVE, OP_LIST };

/* The statement an op has in flight; its result drives the next step. */
enum step {
  ST_NONE,
  ST_PROBE,      /* the database, its owner and the wanted role */
  ST_ROLE,       /* CREATE ROLE + COMMENT ON ROLE + GRANT, one tx */
  ST_GRANT,      /* GRANT an existing marked role to CURRENT_USER */
  ST_CREATEDB,   /* CREATE DATABASE, alone: never in a transaction */
  ST_COMMENT,    /* COMMENT ON DATABASE */
  ST_ALTER,      /* CONNECTION LIMIT + OWNER + COMMENT, one tx */
  ST_FINAL,      /* the probe again: what now exists */
  ST_DROPDB,     /* DROP DATABASE ... WITH (FORCE) */
  ST_FIND_ROLES, /* roles carrying exactly this resource's marker */
  ST_DROP_ROLES, /* DROP ROLE of those */
  ST_LIST,       /* every marked database */
};

struct pg;
struct conn;

struct op {
  struct pg *pg;
  struct op *next; /* in the wait queue, then in the done list */
  enum op_kind kind;
  enum step step;
  provider_cb cb;
  provider_list_cb list_cb;
  void *arg;

  /* Inputs, owned. */
  char *name;  /* the database */
  char *owner; /* the role: spec.owner; NULL for read, remove and list */
  char *tenant;
  char *id;
  long long conn_limit;
  char marker[RESOURCE_MARKER_MAX];
  char *comment; /* the database comment create and update write */

  /* Progress. */
  char what[256]; /* the statement in flight, for messages */
  bool db_existed;

  /* Results. */
  int status;
  char message[MESSAGE_MAX];
  json_t *observed;
  struct provider_owned *items; /* strings owned here */
  size_t nitems;
};

/* A poll handle; freed in its close callback. */
struct pollh {
  uv_poll_t h;
  struct conn *c; /* NULL once closing */
};

struct resolve {
  uv_getaddrinfo_t req;
  struct conn *c;
  size_t index;
};

enum conn_state { C_RESOLVING, C_CONNECTING, C_IDLE, C_BUSY, C_DROPPED };

struct conn {
  struct pg *pg;
  size_t slot;
  enum conn_state state;
  PGconn *pq;
  struct pollh *poll;
  uv_timer_t timer; /* connect timeout, then statement timeout */
  bool timer_closed;
  bool flushing;    /* the query is not all sent yet */
  struct op *op;    /* the op it runs (or connects for) */
  PGresult *result; /* the statement's first error, or its last result */
  /* Name lookups: per host, its addresses comma-separated, or NULL. */
  char **addrs;
  size_t resolving;
  bool resolve_failed;
  char resolve_error[256];
};

struct pg {
  struct provider base; /* first: the controller only sees this */
  char *conninfo;       /* secret: never in a message */
  char *password;       /* from the conninfo, to scrub messages */
  char *env;            /* the variable it came from */
  char target[320];     /* "host:port", for messages */
  /* The conninfo's host and port lists. */
  char *hosts[MAX_HOSTS];
  bool lookup[MAX_HOSTS]; /* a name to look up: not an IP, not a path */
  size_t nhosts;
  char *ports[MAX_HOSTS];
  size_t nports;
  bool need_lookup;
  uint64_t connect_timeout_ms;
  size_t max_conns;
  struct conn **slots;
  struct op *wait_head, *wait_tail;
  struct op *done_head, *done_tail;
  uv_timer_t deliver;
  size_t inflight; /* ops not yet delivered */
  size_t pending;  /* open handles and outstanding requests */
  bool closing, torn_down;
  provider_close_cb close_cb;
  void *close_arg;
};

static void dispatch(struct pg *pg);
static void on_deliver(uv_timer_t *t);
static void op_advance(struct op *op, struct conn *c, const PGresult *res);

/* ---- messages ---- */

/* Replaces every occurrence of `secret` in `buf` with "***". */
static void scrub(char *buf, const char *secret)
{
  size_t slen = secret ? strlen(secret) : 0;
  char *p = buf;

  /* A one- or two-character secret would blank out ordinary text; any
   * longer one shrinks or keeps its length, so `buf` never grows. */
  if (slen < 3)
    return;
  while ((p = strstr(p, secret)) != NULL) {
    memmove(p + 3, p + slen, strlen(p + slen) + 1);
    memcpy(p, "***", 3);
    p += 3;
  }
}

static void op_set(struct op *op, int status, const char *fmt, ...)
    TD_PRINTF(3, 4);

/* Records the outcome; messages never carry the conninfo or password. */
static void op_set(struct op *op, int status, const char *fmt, ...)
{
  va_list ap;

  op->status = status;
  if (!fmt) {
    op->message[0] = '\0';
    return;
  }
  va_start(ap, fmt);
  vsnprintf(op->message, sizeof(op->message), fmt, ap);
  va_end(ap);
  scrub(op->message, op->pg->conninfo);
  scrub(op->message, op->pg->password);
}

/* The first line of a libpq message, without trailing blanks or dot. */
static void first_line(char *out, size_t cap, const char *msg)
{
  size_t n = msg ? strcspn(msg, "\n") : 0;

  while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t' ||
                   msg[n - 1] == '\r' || msg[n - 1] == '.'))
    n--;
  snprintf(out, cap, "%.*s", (int)n, n ? msg : "unknown error");
}

static int class_of(const char *sqlstate)
{
  static const char *const transient_states[] = {"55006", "55P03"};
  static const char *const transient_classes[] = {"08", "40", "53", "57", "58"};

  if (!sqlstate || strlen(sqlstate) != 5)
    return PROVIDER_TRANSIENT; /* libpq's own: the connection failed */
  if (strncmp(sqlstate, "28", 2) == 0)
    return PROVIDER_AUTH;
  if (strcmp(sqlstate, "42P04") == 0 || strcmp(sqlstate, "42710") == 0)
    return PROVIDER_CONFLICT;
  for (size_t i = 0; i < ARRAY_SIZE(transient_states); i++)
    if (strcmp(sqlstate, transient_states[i]) == 0)
      return PROVIDER_TRANSIENT;
  for (size_t i = 0; i < ARRAY_SIZE(transient_classes); i++)
    if (strncmp(sqlstate, transient_classes[i], 2) == 0)
      return PROVIDER_TRANSIENT;
  return PROVIDER_INVALID;
}

static bool is_state_char(char ch)
{
  return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z');
}

/*
 * A failed connection has no PGresult to ask for its SQLSTATE, so the
 * connection is made with verbose errors, where libpq writes the server's
 * "SEVERITY:  SQLSTATE: message".  The state is cut out of the text (into
 * `state`, "" when the server sent none: a network failure).
 */
static void connect_error(const char *msg, char *out, size_t cap, char state[6])
{
  char line[MESSAGE_MAX];
  char *p;

  first_line(line, sizeof(line), msg);
  state[0] = '\0';
  for (p = line; (p = strstr(p, ":  ")) != NULL; p++) {
    char *s = p + 3;
    bool ok = strlen(s) >= 7 && s[5] == ':' && s[6] == ' ';

    for (int i = 0; ok && i < 5; i++)
      ok = is_state_char(s[i]);
    if (ok) {
      memcpy(state, s, 5);
      state[5] = '\0';
      memmove(s, s + 7, strlen(s + 7) + 1);
      break;
    }
  }
  snprintf(out, cap, "%s", line);
}

/* ---- delivery (always from the timer, never from the call) ---- */

static void op_free(struct op *op)
{
  for (size_t i = 0; i < op->nitems; i++) {
    free((char *)op->items[i].id);
    free((char *)op->items[i].name);
  }
  free(op->items);
  json_decref(op->observed);
  free(op->name);
  free(op->owner);
  free(op->tenant);
  free(op->id);
  free(op->comment);
  free(op);
}

/* Queues the op's result for delivery; it no longer runs anywhere. */
static void op_done(struct op *op)
{
  struct pg *pg = op->pg;

  op->next = NULL;
  if (pg->done_tail)
    pg->done_tail->next = op;
  else
    pg->done_head = op;
  pg->done_tail = op;
  assert(!pg->torn_down);
  uv_timer_start(&pg->deliver, on_deliver, 0, 0);
}

static void pg_free(struct pg *pg)
{
  if (pg->conninfo)
    explicit_bzero(pg->conninfo, strlen(pg->conninfo));
  if (pg->password)
    explicit_bzero(pg->password, strlen(pg->password));
  free(pg->conninfo);
  free(pg->password);
  free(pg->env);
  for (size_t i = 0; i < pg->nhosts; i++)
    free(pg->hosts[i]);
  for (size_t i = 0; i < pg->nports; i++)
    free(pg->ports[i]);
  free(pg->slots);
  free(pg->base.instance);
  free(pg);
}

/* One handle or request fewer; the last one ends a close(). */
static void pending_done(struct pg *pg)
{
  provider_close_cb cb;
  void *arg;

  assert(pg->pending > 0);
  if (--pg->pending > 0 || !pg->torn_down)
    return;
  cb = pg->close_cb;
  arg = pg->close_arg;
  cb(&pg->base, arg);
  pg_free(pg);
}

static void conn_drop(struct conn *c);

static void on_deliver_closed(uv_handle_t *h)
{
  struct pg *pg = container_of((uv_timer_t *)h, struct pg, deliver);

  pending_done(pg);
}

/* Every op is delivered: close the connections, then call back. */
static void teardown(struct pg *pg)
{
  assert(pg->inflight == 0 && !pg->torn_down);
  pg->torn_down = true;
  for (size_t i = 0; i < pg->max_conns; i++)
    if (pg->slots[i])
      conn_drop(pg->slots[i]);
  uv_close((uv_handle_t *)&pg->deliver, on_deliver_closed);
}

static void on_deliver(uv_timer_t *t)
{
  struct pg *pg = container_of(t, struct pg, deliver);
  struct op *list = pg->done_head;

  /* What the callbacks start is delivered on a later turn. */
  pg->done_head = pg->done_tail = NULL;
  while (list) {
    struct op *op = list;
    const char *message = op->status < 0 ? op->message : NULL;

    list = op->next;
    if (op->kind == OP_LIST) {
      op->list_cb(&pg->base, op->status, message, op->items, op->nitems,
                  op->arg);
    } else {
      struct provider_result res = {op->status, message, op->observed};

      op->cb(&pg->base, &res, op->arg);
    }
    op_free(op);
    assert(pg->inflight > 0);
    pg->inflight--;
  }
  if (pg->closing && pg->inflight == 0 && !pg->torn_down)
    teardown(pg);
}

/* ---- connections ---- */

static void on_poll_closed(uv_handle_t *h)
{
  struct pollh *ph = container_of((uv_poll_t *)h, struct pollh, h);
  struct pg *pg = h->data;

  free(ph);
  pending_done(pg);
}

static void poll_close(struct conn *c)
{
  if (!c->poll)
    return;
  c->poll->c = NULL;
  c->poll->h.data = c->pg;
  uv_close((uv_handle_t *)&c->poll->h, on_poll_closed);
  c->poll = NULL;
}

static void conn_maybe_free(struct conn *c)
{
  if (c->state != C_DROPPED || !c->timer_closed || c->resolving > 0)
    return;
  for (size_t i = 0; c->addrs && i < c->pg->nhosts; i++)
    free(c->addrs[i]);
  free(c->addrs);
  free(c);
}

static void on_conn_timer_closed(uv_handle_t *h)
{
  struct conn *c = container_of((uv_timer_t *)h, struct conn, timer);
  struct pg *pg = c->pg;

  c->timer_closed = true;
  conn_maybe_free(c);
  pending_done(pg);
}

/* Closes the connection; its op, if any, was finished by the caller. */
static void conn_drop(struct conn *c)
{
  struct pg *pg = c->pg;

  if (c->state == C_DROPPED)
    return;
  assert(pg->slots[c->slot] == c);
  pg->slots[c->slot] = NULL;
  c->state = C_DROPPED;
  c->op = NULL;
  /* Before PQfinish closes the socket the handle watches. */
  poll_close(c);
  PQclear(c->result);
  c->result = NULL;
  if (c->pq)
    PQfinish(c->pq);
  c->pq = NULL;
  uv_close((uv_handle_t *)&c->timer, on_conn_timer_closed);
}

/* Fails the connection's op (if any) and drops the connection. */
static void conn_fail(struct conn *c, int status, const char *message)
{
  struct op *op = c->op;

  if (op) {
    op_set(op, status, "postgres: %s", message);
    c->op = NULL;
    op_done(op);
  }
  conn_drop(c);
}

static void on_poll(uv_poll_t *h, int status, int events);

/*
 * Watches `fd` for `events`.  `fresh` replaces the handle: while
 * connecting, libpq may have closed the old socket and opened another,
 * possibly with the same number.  An idle connection does not keep the
 * loop alive.
 */
static int poll_set(struct conn *c, int fd, int events, bool fresh)
{
  int err;

  if (fresh)
    poll_close(c);
  if (!c->poll) {
    struct pollh *ph = td_calloc(1, sizeof(*ph));

    err = uv_poll_init(c->pg->base.loop, &ph->h, fd);
    if (err < 0) {
      free(ph);
      return err;
    }
    ph->c = c;
    c->poll = ph;
    c->pg->pending++;
  }
  err = uv_poll_start(&c->poll->h, events, on_poll);
  if (err < 0)
    return err;
  if (c->state == C_IDLE)
    uv_unref((uv_handle_t *)&c->poll->h);
  else
    uv_ref((uv_handle_t *)&c->poll->h);
  return 0;
}

static void poll_fail(struct conn *c, int err)
{
  char buf[MESSAGE_MAX];

  snprintf(buf, sizeof(buf), "%s: cannot watch the connection: %s",
           c->pg->target, uv_strerror(err));
  conn_fail(c, PROVIDER_TRANSIENT, buf);
}

/* Back to the pool, or dropped when it is not fit for another op. */
static void conn_release(struct conn *c)
{
  int err;

  c->op = NULL;
  uv_timer_stop(&c->timer);
  if (PQstatus(c->pq) != CONNECTION_OK ||
      PQtransactionStatus(c->pq) != PQTRANS_IDLE) {
    conn_drop(c);
    return;
  }
  c->state = C_IDLE;
  err = poll_set(c, PQsocket(c->pq), UV_READABLE, false);
  if (err < 0)
    conn_drop(c);
}

/* Finishes the op running on `c` and frees the connection for the next. */
static void op_complete(struct op *op, struct conn *c)
{
  c->op = NULL;
  op_done(op);
  conn_release(c);
}

static void on_conn_timer(uv_timer_t *t)
{
  struct conn *c = container_of(t, struct conn, timer);
  struct pg *pg = c->pg;
  char buf[MESSAGE_MAX];

  if (c->state == C_RESOLVING || c->state == C_CONNECTING)
    snprintf(buf, sizeof(buf), "%s: connection timed out after %llu ms",
             pg->target, (unsigned long long)pg->connect_timeout_ms);
  else
    snprintf(buf, sizeof(buf), "%s: %s: timed out after %d ms", pg->target,
             c->op ? c->op->what : "statement", POSTGRES_STATEMENT_TIMEOUT_MS);
  conn_fail(c, PROVIDER_TRANSIENT, buf);
  dispatch(pg);
}

/* Server notices (e.g. "role is already a member") are not ours to
 * print: libpq's default writes them to stderr. */
static void ignore_notice(void *arg, const PGresult *res)
{
  (void)arg;
  (void)res;
}

/* A server refusing at startup for a reason outside the transient and
 * auth classes (an unknown database, say) is a setup problem: invalid. */
static void connect_failed(struct conn *c)
{
  char line[MESSAGE_MAX], state[6];

  connect_error(PQerrorMessage(c->pq), line, sizeof(line), state);
  conn_fail(c, class_of(state[0] ? state : NULL), line);
}

/* Drives PQconnectPoll one step. */
static void connect_step(struct conn *c)
{
  PostgresPollingStatusType st = PQconnectPoll(c->pq);
  int fd = PQsocket(c->pq), err;

  switch (st) {
  case PGRES_POLLING_READING:
  case PGRES_POLLING_WRITING:
    if (fd < 0) {
      connect_failed(c);
      return;
    }
    err = poll_set(
        c, fd, st == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE, true);
    if (err < 0)
      poll_fail(c, err);
    return;
  case PGRES_POLLING_OK:
    if (PQsetnonblocking(c->pq, 1) != 0) {
      connect_failed(c);
      return;
    }
    PQsetErrorVerbosity(c->pq, PQERRORS_DEFAULT);
    uv_timer_stop(&c->timer);
    c->state = C_BUSY;
    op_advance(c->op, c, NULL);
    return;
  case PGRES_POLLING_FAILED:
  default:
    connect_failed(c);
    return;
  }
}

/* Appends `item` to the comma-separated list *list of *n entries. */
static void list_add(char **list, size_t *n, const char *item)
{
  char *grown = td_asprintf("%s%s%s", *n ? *list : "", *n ? "," : "", item);

  free(*list);
  *list = grown;
  (*n)++;
}

/* Starts libpq's connection, the name lookups done. */
static void conn_start(struct conn *c)
{
  struct pg *pg = c->pg;
  const char *keys[6], *values[6];
  char *hosts = NULL, *addrs = NULL, *ports = NULL;
  size_t nh = 0, na = 0, np = 0;
  int n = 0, fd, err;

  keys[n] = "fallback_application_name";
  values[n++] = "tenantd";
  keys[n] = "dbname";
  values[n++] = pg->conninfo;
  /*
   * Every address of every looked-up name becomes an entry of its own
   * (the name repeated as host, for TLS and .pgpass), so libpq still
   * tries them all in turn, as it does with names it resolves itself.
   */
  for (size_t i = 0; c->addrs && i < pg->nhosts; i++) {
    const char *list = c->addrs[i];

    do {
      size_t len = list ? strcspn(list, ",") : 0;
      char *one = td_strndup(list ? list : "", len);

      list_add(&hosts, &nh, pg->hosts[i]);
      list_add(&addrs, &na, one);
      if (pg->nports > 1)
        list_add(&ports, &np, pg->ports[i]);
      free(one);
      list = list && list[len] ? list + len + 1 : NULL;
    } while (list);
  }
  if (c->addrs) {
    keys[n] = "host";
    values[n++] = hosts;
    keys[n] = "hostaddr";
    values[n++] = addrs;
    if (ports) {
      keys[n] = "port";
      values[n++] = ports;
    }
  }
  keys[n] = NULL;
  values[n] = NULL;
  c->state = C_CONNECTING;
  /* expand_dbname: the conninfo is parsed; what follows it overrides. */
  c->pq = PQconnectStartParams(keys, values, 1);
  free(hosts);
  free(addrs);
  free(ports);
  if (!c->pq) {
    conn_fail(c, PROVIDER_TRANSIENT, "out of memory");
    return;
  }
  PQsetNoticeReceiver(c->pq, ignore_notice, NULL);
  PQsetErrorVerbosity(c->pq, PQERRORS_VERBOSE);
  if (PQstatus(c->pq) == CONNECTION_BAD) {
    connect_failed(c);
    return;
  }
  /* libpq's contract: wait for writability first. */
  fd = PQsocket(c->pq);
  err = fd < 0 ? UV_EBADF : poll_set(c, fd, UV_WRITABLE, true);
  if (err < 0)
    poll_fail(c, err);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
  struct resolve *rs = container_of(req, struct resolve, req);
  struct conn *c = rs->c;
  struct pg *pg = c->pg;
  char *list = NULL;
  size_t n = 0;

  for (struct addrinfo *ai = status == 0 ? res : NULL;
       ai && n < MAX_ADDRS_PER_HOST; ai = ai->ai_next) {
    char addr[INET6_ADDRSTRLEN] = "";

    if (ai->ai_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)ai->ai_addr, addr, sizeof(addr));
    else if (ai->ai_family == AF_INET)
      uv_ip4_name((struct sockaddr_in *)ai->ai_addr, addr, sizeof(addr));
    if (addr[0])
      list_add(&list, &n, addr);
  }
  uv_freeaddrinfo(res);
  if (c->state == C_RESOLVING && n == 0) {
    if (!c->resolve_failed)
      snprintf(c->resolve_error, sizeof(c->resolve_error),
               "cannot resolve host \"%.100s\": %s", pg->hosts[rs->index],
               status < 0 ? uv_strerror(status) : "no address");
    c->resolve_failed = true;
  } else if (c->state == C_RESOLVING) {
    c->addrs[rs->index] = list;
    list = NULL;
  }
  free(list);
  free(rs);
  c->resolving--;
  if (c->state == C_RESOLVING && c->resolving == 0) {
    if (c->resolve_failed)
      conn_fail(c, PROVIDER_TRANSIENT, c->resolve_error);
    else
      conn_start(c);
    dispatch(pg);
  } else {
    conn_maybe_free(c);
  }
  pending_done(pg);
}

/*
 * Opens a connection in `slot` for `op`.  libpq resolves host names with
 * a blocking getaddrinfo() inside PQconnectStart, so names are looked up
 * on the threadpool first and handed to libpq as hostaddr.
 */
static void conn_open(struct pg *pg, size_t slot, struct op *op)
{
  struct conn *c = td_calloc(1, sizeof(*c));

  c->pg = pg;
  c->slot = slot;
  c->op = op;
  c->state = C_RESOLVING;
  pg->slots[slot] = c;
  uv_timer_init(pg->base.loop, &c->timer);
  pg->pending++;
  uv_timer_start(&c->timer, on_conn_timer, pg->connect_timeout_ms, 0);
  if (!pg->need_lookup) {
    conn_start(c);
    return;
  }
  c->addrs = td_calloc(pg->nhosts, sizeof(*c->addrs));
  for (size_t i = 0; i < pg->nhosts; i++) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct resolve *rs;
    int err;

    if (!pg->lookup[i])
      continue;
    rs = td_calloc(1, sizeof(*rs));
    rs->c = c;
    rs->index = i;
    err = uv_getaddrinfo(pg->base.loop, &rs->req, on_resolved, pg->hosts[i],
                         NULL, &hints);
    if (err < 0) {
      free(rs);
      c->resolve_failed = true;
      snprintf(c->resolve_error, sizeof(c->resolve_error),
               "cannot resolve host \"%.100s\": %s", pg->hosts[i],
               uv_strerror(err));
      break;
    }
    c->resolving++;
    pg->pending++;
  }
  if (c->resolving == 0 && c->resolve_failed)
    conn_fail(c, PROVIDER_TRANSIENT, c->resolve_error);
  else if (c->resolving == 0)
    conn_start(c);
}

/* Keeps the first error of a statement, or else its last result. */
static void keep_result(struct conn *c, PGresult *res)
{
  ExecStatusType kept =
      c->result ? PQresultStatus(c->result) : PGRES_EMPTY_QUERY;

  if (kept == PGRES_FATAL_ERROR || kept == PGRES_BAD_RESPONSE ||
      PQresultStatus(res) == PGRES_NONFATAL_ERROR) {
    PQclear(res);
    return;
  }
  PQclear(c->result);
  c->result = res;
}

/* The statement ended: hand its result to the op, or fail the op. */
static void statement_done(struct conn *c)
{
  PGresult *res = c->result;
  struct op *op = c->op;
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

  c->result = NULL;
  uv_timer_stop(&c->timer);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[MESSAGE_MAX];
    int status = class_of(state);

    if (PQstatus(c->pq) != CONNECTION_OK)
      status = PROVIDER_TRANSIENT;
    if (primary)
      snprintf(line, sizeof(line), "%s", primary);
    else if (res && *PQresultErrorMessage(res))
      first_line(line, sizeof(line), PQresultErrorMessage(res));
    else
      first_line(line, sizeof(line), PQerrorMessage(c->pq));
    op_set(op, status, "postgres: %s: %s", op->what, line);
    PQclear(res);
    op_complete(op, c);
    return;
  }
  op_advance(op, c, res);
  PQclear(res);
}

/* Flushes, reads and collects results as the socket allows. */
static void busy_step(struct conn *c, int events)
{
  char line[MESSAGE_MAX], buf[MESSAGE_MAX];

  if ((events & UV_READABLE) && !PQconsumeInput(c->pq))
    goto broken;
  if (c->flushing) {
    int rc = PQflush(c->pq);

    if (rc < 0)
      goto broken;
    if (rc == 0)
      c->flushing = false;
  }
  while (!PQisBusy(c->pq)) {
    PGresult *res = PQgetResult(c->pq);

    if (!res) {
      statement_done(c);
      return;
    }
    keep_result(c, res);
  }
  if (PQstatus(c->pq) == CONNECTION_BAD)
    goto broken;
  /* Re-armed: libuv stops a handle after reporting an error on it. */
  if (poll_set(c, PQsocket(c->pq),
               UV_READABLE | (c->flushing ? UV_WRITABLE : 0), false) < 0)
    goto broken;
  return;
broken:
  first_line(line, sizeof(line), PQerrorMessage(c->pq));
  snprintf(buf, sizeof(buf), "%.200s: %.250s: connection lost: %.500s",
           c->pg->target, c->op ? c->op->what : "statement", line);
  conn_fail(c, PROVIDER_TRANSIENT, buf);
}

/*
 * An idle connection: only the server closing it is expected.  Its last
 * words (a FATAL message) and the end of the stream may need two reads:
 * libpq sees the end only on the read after the data.
 */
static void idle_step(struct conn *c)
{
  PGnotify *n;

  for (int i = 0; i < 2 && PQstatus(c->pq) == CONNECTION_OK; i++) {
    if (!PQconsumeInput(c->pq)) {
      conn_drop(c);
      return;
    }
    /* Parses what came, the FATAL message included. */
    while ((n = PQnotifies(c->pq)) != NULL)
      PQfreemem(n);
  }
  if (PQstatus(c->pq) != CONNECTION_OK ||
      poll_set(c, PQsocket(c->pq), UV_READABLE, false) < 0)
    conn_drop(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
  struct pollh *ph = container_of(h, struct pollh, h);
  struct conn *c = ph->c;
  struct pg *pg;

  if (!c)
    return;
  pg = c->pg;
  /*
   * libuv reports POLLERR (a refused connect, a reset) as a negative
   * status and stops the handle; libpq finds the socket's error itself
   * and says what it was, so it is asked in every case.
   */
  if (status < 0)
    events = UV_READABLE | UV_WRITABLE;
  switch (c->state) {
  case C_CONNECTING:
    connect_step(c);
    break;
  case C_BUSY:
    busy_step(c, events);
    break;
  case C_IDLE:
    idle_step(c);
    break;
  case C_RESOLVING:
  case C_DROPPED:
    break;
  }
  dispatch(pg);
}

/* Sends one statement (a query string; several statements in it run as
 * one implicit transaction).  `sql` is freed, and wiped first. */
static void conn_send(struct conn *c, char *sql)
{
  char line[MESSAGE_MAX], buf[MESSAGE_MAX];
  int rc, err;

  c->state = C_BUSY;
  rc = PQsendQuery(c->pq, sql);
  explicit_bzero(sql, strlen(sql));
  free(sql);
  if (!rc)
    goto broken;
  rc = PQflush(c->pq);
  if (rc < 0)
    goto broken;
  c->flushing = rc == 1;
  err = poll_set(c, PQsocket(c->pq),
                 UV_READABLE | (c->flushing ? UV_WRITABLE : 0), false);
  if (err < 0) {
    poll_fail(c, err);
    return;
  }
  uv_timer_start(&c->timer, on_conn_timer, POSTGRES_STATEMENT_TIMEOUT_MS, 0);
  return;
broken:
  first_line(line, sizeof(line), PQerrorMessage(c->pq));
  snprintf(buf, sizeof(buf), "%.200s: %.250s: connection lost: %.500s",
           c->pg->target, c->op->what, line);
  conn_fail(c, PROVIDER_TRANSIENT, buf);
}

/* Starts queued ops on idle connections, opening new ones up to the
 * pool size. */
static void dispatch(struct pg *pg)
{
  while (pg->wait_head && !pg->torn_down) {
    struct op *op = pg->wait_head;
    struct conn *idle = NULL;
    size_t free_slot = SIZE_MAX;

    for (size_t i = 0; i < pg->max_conns; i++) {
      struct conn *c = pg->slots[i];

      if (!c && free_slot == SIZE_MAX)
        free_slot = i;
      if (c && c->state == C_IDLE) {
        idle = c;
        break;
      }
    }
    if (!idle && free_slot == SIZE_MAX)
      return;
    /* A connection the server closed while idle (a restart, an idle
     * timeout) shows it now, without a round trip: take another. */
    if (idle) {
      idle_step(idle);
      if (idle->state == C_DROPPED)
        continue;
    }
    pg->wait_head = op->next;
    if (!pg->wait_head)
      pg->wait_tail = NULL;
    op->next = NULL;
    if (idle) {
      idle->op = op;
      idle->state = C_BUSY;
      op_advance(op, idle, NULL);
    } else {
      conn_open(pg, free_slot, op);
    }
  }
}

/* ---- SQL ---- */

/* PQescapeIdentifier / PQescapeLiteral into malloc'd strings we own;
 * NULL becomes the literal NULL. */
static char *esc(PGconn *pq, const char *s, bool literal)
{
  char *e, *out;

  if (!s)
    return td_strdup("NULL");
  e = literal ? PQescapeLiteral(pq, s, strlen(s))
              : PQescapeIdentifier(pq, s, strlen(s));
  if (!e)
    return NULL;
  out = td_strdup(e);
  PQfreemem(e);
  return out;
}

static void op_fail_escape(struct op *op, struct conn *c)
{
  char line[MESSAGE_MAX];

  first_line(line, sizeof(line), PQerrorMessage(c->pq));
  op_set(op, PROVIDER_INVALID, "postgres: cannot quote a name: %s", line);
  op_complete(op, c);
}

/* The probe: always one row, whether or not the database and role exist. */
static void send_probe(struct op *op, struct conn *c, enum step step)
{
  char *db = esc(c->pq, op->name, true);
  char *role = esc(c->pq, op->owner, true);

  if (!db || !role) {
    free(db);
    free(role);
    op_fail_escape(op, c);
    return;
  }
  op->step = step;
  snprintf(op->what, sizeof(op->what), "cannot read database \"%s\"", op->name);
  conn_send(c, td_asprintf(
                   "SELECT d.oid IS NOT NULL,"
                   " pg_catalog.pg_get_userbyid(d.datdba),"
                   " d.datconnlimit,"
                   " pg_catalog.shobj_description(d.oid, 'pg_database'),"
                   " pg_catalog.shobj_description(d.datdba, 'pg_authid'),"
                   " r.oid IS NOT NULL,"
                   " pg_catalog.shobj_description(r.oid, 'pg_authid'),"
                   " COALESCE(pg_catalog.pg_has_role(r.oid, 'MEMBER'), false),"
                   " d.datname"
                   " FROM (VALUES (1)) AS one(x)"
                   " LEFT JOIN pg_catalog.pg_database d ON d.datname = %s"
                   " LEFT JOIN pg_catalog.pg_roles r ON r.rolname = %s",
                   db, role));
  free(db);
  free(role);
}

/* What the probe found. */
struct probe {
  bool db;
  const char *db_owner;
  long long conn_limit;
  const char *db_comment;    /* NULL when none */
  const char *owner_comment; /* the database owner's */
  bool role;
  const char *role_comment;
  bool member;
  const char *datname;
};

static const char *cell(const PGresult *res, int col)
{
  return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

static int probe_parse(const PGresult *res, struct probe *p)
{
  if (PQntuples(res) != 1 || PQnfields(res) != 9)
    return -1;
  memset(p, 0, sizeof(*p));
  p->db = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
  p->db_owner = cell(res, 1);
  p->conn_limit = cell(res, 2) ? strtoll(cell(res, 2), NULL, 10) : 0;
  p->db_comment = cell(res, 3);
  p->owner_comment = cell(res, 4);
  p->role = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
  p->role_comment = cell(res, 6);
  p->member = strcmp(PQgetvalue(res, 0, 7), "t") == 0;
  p->datname = cell(res, 8);
  return 0;
}

/* The tenantd marker in a comment, rebuilt into `marker`; false if none. */
static bool parse_marker(const char *comment, char *marker, char *tenant,
                         char *id)
{
  if (!comment || resource_marker_parse(comment, tenant, RESOURCE_MARKER_MAX,
                                        id, RESOURCE_MARKER_MAX) < 0)
    return false;
  if (strlen(tenant) + strlen(id) + 40 > RESOURCE_MARKER_MAX)
    return false;
  resource_marker(marker, tenant, id);
  return true;
}

/*
 * The database's marker: its comment's, or, when it has no comment at
 * all, its owner role's (tenantd created it and lost the connection
 * before commenting).  `from_comment` says which.
 */
static bool db_marker(const struct probe *p, char *marker, bool *from_comment)
{
  char tenant[RESOURCE_MARKER_MAX], id[RESOURCE_MARKER_MAX];

  *from_comment = false;
  if (p->db_comment && *p->db_comment) {
    *from_comment = parse_marker(p->db_comment, marker, tenant, id);
    return *from_comment;
  }
  return parse_marker(p->owner_comment, marker, tenant, id);
}

static bool is_real_attr(const char *key)
{
  return strcmp(key, "name") == 0 || strcmp(key, "owner") == 0 ||
         strcmp(key, "connection_limit") == 0;
}

/* The observed object for a database the probe found. */
static json_t *observed_of(struct conn *c, const struct probe *p)
{
  char marker[RESOURCE_MARKER_MAX];
  bool from_comment;
  bool marked = db_marker(p, marker, &from_comment);
  const char *port = PQport(c->pq);
  json_t *spec, *obs;

  spec = json_pack("{s:s, s:s, s:I}", "name", p->datname ? p->datname : "",
                   "owner", p->db_owner ? p->db_owner : "", "connection_limit",
                   (json_int_t)p->conn_limit);
  if (marked && from_comment) {
    const char *a = strstr(p->db_comment, " attrs=");
    json_t *attrs = a ? json_loads(a + 7, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *key;
    json_t *v;

    /* Unreadable attrs read as absent: the next update rewrites them. */
    if (json_is_object(attrs)) {
      json_object_foreach(attrs, key, v)
      {
        if (!is_real_attr(key))
          json_object_set(spec, key, v);
      }
    }
    json_decref(attrs);
  }
  obs = json_pack("{s:o, s:{s:s, s:i, s:s, s:s}}", "spec", spec, "outputs",
                  "host", PQhost(c->pq) ? PQhost(c->pq) : "", "port",
                  port && *port ? atoi(port) : 5432, "database",
                  p->datname ? p->datname : "", "user",
                  p->db_owner ? p->db_owner : "");
  if (marked)
    json_object_set_new(obs, "marker", json_string(marker));
  return obs;
}

/* Whether the probe shows the database marked as this op's resource. */
static bool marked_as_this(const struct op *op, const struct probe *p,
                           char *marker)
{
  bool from_comment;

  return db_marker(p, marker, &from_comment) && strcmp(marker, op->marker) == 0;
}

static void send_role(struct op *op, struct conn *c)
{
  unsigned char raw[16];
  char pw[sizeof(raw) * 2 + 1];
  char *verifier = NULL, *role = NULL, *lit_pw = NULL, *lit_marker = NULL;

  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    op_set(op, PROVIDER_TRANSIENT,
           "postgres: cannot create role \"%s\": no random bytes for its "
           "password",
           op->owner);
    op_complete(op, c);
    return;
  }
  for (size_t i = 0; i < sizeof(raw); i++)
    snprintf(pw + 2 * i, 3, "%02x", raw[i]);
  /* Only a SCRAM verifier goes to the server: the password itself never
   * leaves this function.  With the algorithm named, libpq asks the
   * server nothing, so this does not block. */
  verifier = PQencryptPasswordConn(c->pq, pw, op->owner, "scram-sha-256");
  explicit_bzero(pw, sizeof(pw));
  explicit_bzero(raw, sizeof(raw));
  if (!verifier) {
    op_set(op, PROVIDER_INVALID,
           "postgres: cannot create role \"%s\": cannot encrypt its password",
           op->owner);
    op_complete(op, c);
    return;
  }
  role = esc(c->pq, op->owner, false);
  lit_pw = esc(c->pq, verifier, true);
  lit_marker = esc(c->pq, op->marker, true);
  explicit_bzero(verifier, strlen(verifier));
  PQfreemem(verifier);
  if (!role || !lit_pw || !lit_marker) {
    op_fail_escape(op, c);
    goto out;
  }
  op->step = ST_ROLE;
  snprintf(op->what, sizeof(op->what), "cannot create role \"%s\"", op->owner);
  /* One implicit transaction: a role never exists without its marker. */
  conn_send(c, td_asprintf("CREATE ROLE %s LOGIN PASSWORD %s;"
                           " COMMENT ON ROLE %s IS %s;"
                           " GRANT %s TO CURRENT_USER",
                           role, lit_pw, role, lit_marker, role));
out:
  free(role);
  if (lit_pw)
    explicit_bzero(lit_pw, strlen(lit_pw));
  free(lit_pw);
  free(lit_marker);
}

static void send_grant(struct op *op, struct conn *c)
{
  char *role = esc(c->pq, op->owner, false);

  if (!role) {
    op_fail_escape(op, c);
    return;
  }
  op->step = ST_GRANT;
  snprintf(op->what, sizeof(op->what), "cannot grant role \"%s\"", op->owner);
  conn_send(c, td_asprintf("GRANT %s TO CURRENT_USER", role));
  free(role);
}

static void send_createdb(struct op *op, struct conn *c)
{
  char *db = esc(c->pq, op->name, false);
  char *role = esc(c->pq, op->owner, false);

  if (!db || !role) {
    op_fail_escape(op, c);
    goto out;
  }
  op->step = ST_CREATEDB;
  snprintf(op->what, sizeof(op->what), "cannot create database \"%s\"",
           op->name);
  conn_send(c, td_asprintf("CREATE DATABASE %s OWNER %s CONNECTION LIMIT %lld",
                           db, role, op->conn_limit));
out:
  free(db);
  free(role);
}

static void send_comment(struct op *op, struct conn *c)
{
  char *db = esc(c->pq, op->name, false);
  char *text = esc(c->pq, op->comment, true);

  if (!db || !text) {
    op_fail_escape(op, c);
    goto out;
  }
  op->step = ST_COMMENT;
  snprintf(op->what, sizeof(op->what), "cannot comment database \"%s\"",
           op->name);
  conn_send(c, td_asprintf("COMMENT ON DATABASE %s IS %s", db, text));
out:
  free(db);
  free(text);
}

static void send_alter(struct op *op, struct conn *c)
{
  char *db = esc(c->pq, op->name, false);
  char *role = esc(c->pq, op->owner, false);
  char *text = esc(c->pq, op->comment, true);

  if (!db || !role || !text) {
    op_fail_escape(op, c);
    goto out;
  }
  op->step = ST_ALTER;
  snprintf(op->what, sizeof(op->what), "cannot alter database \"%s\"",
           op->name);
  /* One implicit transaction; OWNER TO the current owner is a no-op. */
  conn_send(c, td_asprintf("ALTER DATABASE %s CONNECTION LIMIT %lld;"
                           " ALTER DATABASE %s OWNER TO %s;"
                           " COMMENT ON DATABASE %s IS %s",
                           db, op->conn_limit, db, role, db, text));
out:
  free(db);
  free(role);
  free(text);
}

static void send_dropdb(struct op *op, struct conn *c)
{
  char *db = esc(c->pq, op->name, false);

  if (!db) {
    op_fail_escape(op, c);
    return;
  }
  op->step = ST_DROPDB;
  snprintf(op->what, sizeof(op->what), "cannot drop database \"%s\"", op->name);
  conn_send(c, td_asprintf("DROP DATABASE %s WITH (FORCE)", db));
  free(db);
}

static void send_find_roles(struct op *op, struct conn *c)
{
  char *lit = esc(c->pq, op->marker, true);

  if (!lit) {
    op_fail_escape(op, c);
    return;
  }
  op->step = ST_FIND_ROLES;
  snprintf(op->what, sizeof(op->what), "cannot list the roles of \"%s\"",
           op->name);
  conn_send(c, td_asprintf("SELECT rolname FROM pg_catalog.pg_roles"
                           " WHERE pg_catalog.shobj_description(oid,"
                           " 'pg_authid') = %s ORDER BY rolname",
                           lit));
  free(lit);
}

static void send_drop_roles(struct op *op, struct conn *c, const PGresult *res)
{
  int n = PQntuples(res);
  char **names = td_calloc((size_t)n + 1, sizeof(*names));
  size_t len = 16;
  char *sql;

  for (int i = 0; i < n; i++) {
    names[i] = esc(c->pq, PQgetvalue(res, i, 0), false);
    if (!names[i]) {
      op_fail_escape(op, c);
      goto out;
    }
    len += strlen(names[i]) + 2;
  }
  sql = td_calloc(1, len);
  strcpy(sql, "DROP ROLE ");
  for (int i = 0; i < n; i++) {
    if (i)
      strcat(sql, ", ");
    strcat(sql, names[i]);
  }
  op->step = ST_DROP_ROLES;
  snprintf(op->what, sizeof(op->what), "cannot drop the role of \"%s\"",
           op->name);
  conn_send(c, sql);
out:
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

static void send_list(struct op *op, struct conn *c)
{
  op->step = ST_LIST;
  snprintf(op->what, sizeof(op->what), "cannot list databases");
  conn_send(c, td_strdup("SELECT datname,"
                         " pg_catalog.shobj_description(oid, 'pg_database')"
                         " FROM pg_catalog.pg_database"
                         " WHERE pg_catalog.shobj_description(oid,"
                         " 'pg_database') LIKE 'managed-by=tenantd %'"
                         " ORDER BY datname"));
}

static void collect_list(struct op *op, const PGresult *res)
{
  int n = PQntuples(res);
  size_t alloc = 0;

  for (int i = 0; i < n; i++) {
    char marker[RESOURCE_MARKER_MAX], tenant[RESOURCE_MARKER_MAX];
    char id[RESOURCE_MARKER_MAX];
    struct provider_owned *item;

    if (!parse_marker(PQgetvalue(res, i, 1), marker, tenant, id) ||
        strcmp(tenant, op->tenant) != 0)
      continue;
    if (op->nitems == MAX_LIST) {
      op_set(op, PROVIDER_INVALID,
             "postgres: more than %d databases carry tenant %s's marker",
             MAX_LIST, op->tenant);
      return;
    }
    if (op->nitems == alloc) {
      alloc = alloc ? alloc * 2 : 16;
      op->items = td_realloc(op->items, alloc * sizeof(*op->items));
    }
    item = &op->items[op->nitems++];
    item->id = td_strdup(id);
    item->type = RTYPE_DATABASE;
    item->name = td_strdup(PQgetvalue(res, i, 0));
  }
  op_set(op, PROVIDER_OK, NULL);
}

/* Refuses to touch a database that is not marked as this resource. */
static void conflict(struct op *op, struct conn *c, const struct probe *p)
{
  char marker[RESOURCE_MARKER_MAX];
  bool from_comment;

  if (db_marker(p, marker, &from_comment))
    op_set(op, PROVIDER_CONFLICT,
           "postgres: database \"%s\" is held by another resource (%s)",
           op->name, marker);
  else
    op_set(op, PROVIDER_CONFLICT,
           "postgres: database \"%s\" exists without tenantd's marker",
           op->name);
  op_complete(op, c);
}

/* After the probe of create or update: the role first, as needed. */
static void ensure_role(struct op *op, struct conn *c, const struct probe *p)
{
  char marker[RESOURCE_MARKER_MAX], tenant[RESOURCE_MARKER_MAX];
  char id[RESOURCE_MARKER_MAX];

  if (!p->role) {
    send_role(op, c);
    return;
  }
  if (!parse_marker(p->role_comment, marker, tenant, id)) {
    op_set(op, PROVIDER_CONFLICT,
           "postgres: role \"%s\" exists without tenantd's marker", op->owner);
    op_complete(op, c);
    return;
  }
  if (strcmp(marker, op->marker) != 0) {
    op_set(op, PROVIDER_CONFLICT,
           "postgres: role \"%s\" is held by another resource (%s)", op->owner,
           marker);
    op_complete(op, c);
    return;
  }
  if (!p->member) {
    send_grant(op, c);
    return;
  }
  /* The role is ready: on to the database. */
  if (op->db_existed)
    send_alter(op, c);
  else
    send_createdb(op, c);
}

static void after_probe(struct op *op, struct conn *c, const struct probe *p)
{
  char marker[RESOURCE_MARKER_MAX];

  op->db_existed = p->db;
  switch (op->kind) {
  case OP_READ:
    if (!p->db) {
      op_set(op, PROVIDER_NOT_FOUND, "postgres: database \"%s\" does not exist",
             op->name);
    } else {
      op->observed = observed_of(c, p);
      op_set(op, PROVIDER_OK, NULL);
    }
    op_complete(op, c);
    return;
  case OP_CREATE:
  case OP_UPDATE:
    if (!p->db && op->kind == OP_UPDATE) {
      op_set(op, PROVIDER_NOT_FOUND, "postgres: database \"%s\" does not exist",
             op->name);
      op_complete(op, c);
      return;
    }
    /* A database marked as this resource is brought to the spec (a
     * re-create after a crash); anything else there is left alone. */
    if (p->db && !marked_as_this(op, p, marker)) {
      conflict(op, c, p);
      return;
    }
    ensure_role(op, c, p);
    return;
  case OP_REMOVE:
    if (p->db && !marked_as_this(op, p, marker)) {
      conflict(op, c, p);
      return;
    }
    if (p->db)
      send_dropdb(op, c);
    else
      send_find_roles(op, c);
    return;
  case OP_LIST:
    break;
  }
  assert(0 && "a list never probes");
}

/* A remove ends OK, or NOT_FOUND when the database was already gone
 * (a marked role it left behind is dropped all the same). */
static void remove_done(struct op *op, struct conn *c)
{
  if (op->db_existed)
    op_set(op, PROVIDER_OK, NULL);
  else
    op_set(op, PROVIDER_NOT_FOUND, "postgres: database \"%s\" does not exist",
           op->name);
  op_complete(op, c);
}

/*
 * The op's next statement, given the result of the last one (NULL when
 * the op has just been given a connection).  Errors were handled by
 * statement_done(); every path ends in conn_send() or op_complete().
 */
static void op_advance(struct op *op, struct conn *c, const PGresult *res)
{
  struct probe p;

  switch (op->step) {
  case ST_NONE:
    if (op->kind == OP_LIST)
      send_list(op, c);
    else
      send_probe(op, c, ST_PROBE);
    return;
  case ST_PROBE:
  case ST_FINAL:
    if (probe_parse(res, &p) < 0) {
      op_set(op, PROVIDER_INVALID, "postgres: %s: unexpected reply", op->what);
      op_complete(op, c);
      return;
    }
    if (op->step == ST_PROBE) {
      after_probe(op, c, &p);
      return;
    }
    if (!p.db) {
      /* Dropped by someone else in between. */
      op_set(op, PROVIDER_TRANSIENT,
             "postgres: database \"%s\" vanished after it was written",
             op->name);
    } else {
      op->observed = observed_of(c, &p);
      op_set(op, PROVIDER_OK, NULL);
    }
    op_complete(op, c);
    return;
  case ST_ROLE:
  case ST_GRANT:
    if (op->db_existed)
      send_alter(op, c);
    else
      send_createdb(op, c);
    return;
  case ST_CREATEDB:
    send_comment(op, c);
    return;
  case ST_COMMENT:
  case ST_ALTER:
    send_probe(op, c, ST_FINAL);
    return;
  case ST_DROPDB:
    send_find_roles(op, c);
    return;
  case ST_FIND_ROLES:
    if (PQntuples(res) > 0)
      send_drop_roles(op, c, res);
    else
      remove_done(op, c);
    return;
  case ST_DROP_ROLES:
    remove_done(op, c);
    return;
  case ST_LIST:
    collect_list(op, res);
    op_complete(op, c);
    return;
  }
}

/* ---- operations ---- */

static struct op *op_new(struct pg *pg, enum op_kind kind, void *arg)
{
  struct op *op = td_calloc(1, sizeof(*op));

  op->pg = pg;
  op->kind = kind;
  op->arg = arg;
  pg->inflight++;
  return op;
}

/* Queues the op, or fails it at once (delivered later all the same). */
static void submit(struct op *op, bool failed)
{
  struct pg *pg = op->pg;

  assert(!pg->torn_down);
  if (!failed && pg->closing)
    op_set(op, PROVIDER_TRANSIENT, "provider closing");
  if (failed || pg->closing) {
    op_done(op);
    return;
  }
  op->next = NULL;
  if (pg->wait_tail)
    pg->wait_tail->next = op;
  else
    pg->wait_head = op;
  pg->wait_tail = op;
  dispatch(pg);
}

/* The comment create and update write: marker, then the other attrs. */
static char *make_comment(const char *marker, const json_t *spec)
{
  json_t *attrs = json_object();
  const char *key;
  json_t *v;
  char *text, *out;

  json_object_foreach((json_t *)spec, key, v)
  {
    if (!is_real_attr(key))
      json_object_set(attrs, key, v);
  }
  text = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(attrs);
  if (!text)
    return NULL;
  out = td_asprintf("%s attrs=%s", marker, text);
  free(text);
  return out;
}

/* Checks create's and update's spec; false with the op's message set. */
static bool check_spec(struct op *op, const struct resource *r,
                       const json_t *spec)
{
  const json_t *name = json_object_get(spec, "name");
  const json_t *limit = json_object_get(spec, "connection_limit");
  const char *owner = json_string_value(json_object_get(spec, "owner"));

  if (!*r->name || strlen(r->name) > MAX_IDENT) {
    op_set(op, PROVIDER_INVALID,
           "postgres: database name \"%.100s\" must have 1 to %d bytes",
           r->name, MAX_IDENT);
    return false;
  }
  if (name && (!json_is_string(name) ||
               strcmp(json_string_value(name), r->name) != 0)) {
    op_set(op, PROVIDER_INVALID,
           "postgres: spec.name differs from the database name \"%s\"",
           r->name);
    return false;
  }
  if (!owner || !*owner || strlen(owner) > MAX_IDENT) {
    op_set(op, PROVIDER_INVALID,
           "postgres: spec.owner must be a role name of 1 to %d bytes",
           MAX_IDENT);
    return false;
  }
  if (!json_is_integer(limit) || json_integer_value(limit) < -1 ||
      json_integer_value(limit) > INT_MAX) {
    op_set(op, PROVIDER_INVALID,
           "postgres: spec.connection_limit must be an integer from -1 to %d",
           INT_MAX);
    return false;
  }
  op->owner = td_strdup(owner);
  op->conn_limit = (long long)json_integer_value(limit);
  op->comment = make_comment(op->marker, spec);
  if (!op->comment || strlen(op->comment) > MAX_COMMENT) {
    op_set(op, PROVIDER_INVALID,
           "postgres: the attributes of \"%s\" do not fit in a comment",
           r->name);
    return false;
  }
  return true;
}

static void start_op(struct provider *p, enum op_kind kind,
                     const struct resource *r, const json_t *spec,
                     provider_cb cb, void *arg)
{
  struct pg *pg = container_of(p, struct pg, base);
  struct op *op = op_new(pg, kind, arg);
  bool failed = false;

  op->cb = cb;
  op->name = td_strdup(r->name);
  op->tenant = td_strdup(r->tenant ? r->tenant : "");
  op->id = td_strdup(r->id);
  resource_marker(op->marker, op->tenant, op->id);
  if (r->type != RTYPE_DATABASE) {
    op_set(op, PROVIDER_INVALID,
           "postgres: only databases are managed here, not %s",
           resource_type_name(r->type));
    failed = true;
  } else if (spec) {
    failed = !check_spec(op, r, spec);
  }
  submit(op, failed);
}

static void pg_read(struct provider *p, const struct resource *r,
                    provider_cb cb, void *arg)
{
  start_op(p, OP_READ, r, NULL, cb, arg);
}

static void pg_create(struct provider *p, const struct resource *r,
                      const json_t *spec, provider_cb cb, void *arg)
{
  assert(json_is_object(spec));
  start_op(p, OP_CREATE, r, spec, cb, arg);
}

static void pg_update(struct provider *p, const struct resource *r,
                      const json_t *spec, provider_cb cb, void *arg)
{
  assert(json_is_object(spec));
  start_op(p, OP_UPDATE, r, spec, cb, arg);
}

static void pg_remove(struct provider *p, const struct resource *r,
                      provider_cb cb, void *arg)
{
  start_op(p, OP_REMOVE, r, NULL, cb, arg);
}

static void pg_list_owned(struct provider *p, const char *tenant,
                          provider_list_cb cb, void *arg)
{
  struct pg *pg = container_of(p, struct pg, base);
  struct op *op = op_new(pg, OP_LIST, arg);

  op->list_cb = cb;
  op->tenant = td_strdup(tenant);
  submit(op, false);
}

static void pg_close(struct provider *p, provider_close_cb cb, void *arg)
{
  struct pg *pg = container_of(p, struct pg, base);

  assert(!pg->closing);
  pg->closing = true;
  pg->close_cb = cb;
  pg->close_arg = arg;
  /* Queued ops never started: they fail.  Running ones finish. */
  while (pg->wait_head) {
    struct op *op = pg->wait_head;

    pg->wait_head = op->next;
    op_set(op, PROVIDER_TRANSIENT, "provider closing");
    op_done(op);
  }
  pg->wait_tail = NULL;
  if (pg->inflight == 0)
    teardown(pg);
}

/* ---- open ---- */

static int parse_int(const json_t *config, const char *key, long long lo,
                     long long hi, uint64_t *out, char *err, size_t errcap)
{
  const json_t *v = json_object_get(config, key);

  if (!v)
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo ||
      json_integer_value(v) > hi) {
    snprintf(err, errcap, "postgres: %s must be an integer from %lld to %lld",
             key, lo, hi);
    return -1;
  }
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

static bool is_numeric_addr(const char *host)
{
  unsigned char buf[sizeof(struct in6_addr)];

  return inet_pton(AF_INET, host, buf) == 1 ||
         inet_pton(AF_INET6, host, buf) == 1;
}

/* Splits a comma-separated conninfo list; -1 beyond MAX_HOSTS entries. */
static int split_list(const char *s, char **out, size_t *n)
{
  for (;;) {
    size_t len = strcspn(s, ",");

    if (*n == MAX_HOSTS)
      return -1;
    out[(*n)++] = td_strndup(s, len);
    if (!s[len])
      return 0;
    s += len + 1;
  }
}

/*
 * Reads what messages and name lookups need from the conninfo: the
 * password (to scrub), the host and port lists.  Returns -1 when libpq
 * cannot parse it (its error text is not shown, as it may quote the
 * password), -2 when it lists more than MAX_HOSTS hosts, -3 when its
 * host and port lists do not match.
 */
static int parse_conninfo(struct pg *pg)
{
  PQconninfoOption *opts = PQconninfoParse(pg->conninfo, NULL);
  const char *host = NULL, *hostaddr = NULL, *port = NULL;
  int rc = 0;

  if (!opts)
    return -1;
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    if (!o->val)
      continue;
    if (strcmp(o->keyword, "password") == 0 && *o->val)
      pg->password = td_strdup(o->val);
    else if (strcmp(o->keyword, "host") == 0 && *o->val)
      host = o->val;
    else if (strcmp(o->keyword, "hostaddr") == 0 && *o->val)
      hostaddr = o->val;
    else if (strcmp(o->keyword, "port") == 0 && *o->val)
      port = o->val;
  }
  /* libpq falls back on these, so the lookups must too. */
  if (!host && !hostaddr)
    host = getenv("PGHOST");
  if (!hostaddr && getenv("PGHOSTADDR") && *getenv("PGHOSTADDR"))
    hostaddr = getenv("PGHOSTADDR");
  if (!port)
    port = getenv("PGPORT");
  snprintf(pg->target, sizeof(pg->target), "%.200s:%.16s",
           host && *host ? host : (hostaddr ? hostaddr : "localhost"),
           port && *port ? port : "5432");
  if ((host && *host && split_list(host, pg->hosts, &pg->nhosts) < 0) ||
      (port && *port && split_list(port, pg->ports, &pg->nports) < 0)) {
    rc = -2;
    goto out;
  }
  if (pg->nports > 1 && pg->nports != pg->nhosts) {
    rc = -3;
    goto out;
  }
  /* Names need a lookup off the loop; IPs, socket paths and a given
   * hostaddr do not. */
  for (size_t i = 0; !hostaddr && i < pg->nhosts; i++) {
    const char *h = pg->hosts[i];

    pg->lookup[i] = *h && h[0] != '/' && h[0] != '@' && !is_numeric_addr(h);
    pg->need_lookup |= pg->lookup[i];
  }
out:
  PQconninfoFree(opts);
  return rc;
}

static int pg_open(struct provider **out, const char *instance,
                   const json_t *config, uv_loop_t *loop, char *err,
                   size_t errcap)
{
  static const char *const known[] = {"type", "conninfoEnv", "connectTimeoutMs",
                                      "maxConnections"};
  struct pg *pg = td_calloc(1, sizeof(*pg));
  const char *key, *env, *conninfo;
  const json_t *v;
  uint64_t pool = 4;
  int rc = -1, prc;

  *out = NULL;
  pg->connect_timeout_ms = 5000;
  if (!json_is_object(config)) {
    snprintf(err, errcap, "postgres: the config must be an object");
    goto out;
  }
  json_object_foreach((json_t *)config, key, v)
  {
    size_t i = 0;

    while (i < ARRAY_SIZE(known) && strcmp(known[i], key) != 0)
      i++;
    if (i == ARRAY_SIZE(known)) {
      snprintf(err, errcap,
               "postgres: unknown option '%.100s' (expected: conninfoEnv, "
               "connectTimeoutMs, maxConnections)",
               key);
      goto out;
    }
  }
  v = json_object_get(config, "conninfoEnv");
  if (v && (!json_is_string(v) || !*json_string_value(v))) {
    snprintf(err, errcap,
             "postgres: conninfoEnv must name an environment variable");
    goto out;
  }
  env = v ? json_string_value(v) : POSTGRES_DEFAULT_CONNINFO_ENV;
  if (parse_int(config, "connectTimeoutMs", 1, MAX_CONNECT_TIMEOUT_MS,
                &pg->connect_timeout_ms, err, errcap) < 0 ||
      parse_int(config, "maxConnections", 1, MAX_POOL, &pool, err, errcap) < 0)
    goto out;
  conninfo = getenv(env);
  if (!conninfo || !*conninfo) {
    snprintf(err, errcap,
             "postgres: the environment variable %.100s (conninfoEnv) is "
             "not set; it must hold the libpq connection string",
             env);
    goto out;
  }
  pg->conninfo = td_strdup(conninfo);
  prc = parse_conninfo(pg);
  if (prc == -1) {
    snprintf(err, errcap,
             "postgres: the connection string in %.100s is not valid for "
             "libpq (not shown: it may hold a password)",
             env);
    goto out;
  }
  if (prc == -2) {
    snprintf(err, errcap,
             "postgres: the connection string in %.100s lists more than %d "
             "hosts or ports",
             env, MAX_HOSTS);
    goto out;
  }
  if (prc == -3) {
    snprintf(err, errcap,
             "postgres: the connection string in %.100s lists %zu ports for "
             "%zu hosts",
             env, pg->nports, pg->nhosts);
    goto out;
  }
  pg->env = td_strdup(env);
  pg->max_conns = (size_t)pool;
  pg->slots = td_calloc(pg->max_conns, sizeof(*pg->slots));
  pg->base.ops = &postgres_provider_ops;
  pg->base.instance = td_strdup(instance);
  pg->base.loop = loop;
  uv_timer_init(loop, &pg->deliver);
  pg->pending = 1; /* the deliver timer */
  *out = &pg->base;
  pg = NULL;
  rc = 0;
out:
  if (pg)
    pg_free(pg);
  return rc;
}

const struct provider_ops postgres_provider_ops = {
    /* Checked by provider_open(). */
    .version = PROVIDER_OPS_VERSION,
    /* The "type" the controller config names. */
    .type = "postgres",
    /* Validates the options and reads the conninfo; does not connect. */
    .open = pg_open,
    /* One catalog query: the database, its owner, limit and comment. */
    .read = pg_read,
    /* Role, database and comments; refuses names held by others. */
    .create = pg_create,
    /* Connection limit, owner and comment of a marked database. */
    .update = pg_update,
    /* DROP DATABASE ... WITH (FORCE), then its marked roles. */
    .remove = pg_remove,
    /* Every database whose comment carries the tenant's marker. */
    .list_owned = pg_list_owned,
    /* Lets running ops finish, then closes every connection. */
    .close = pg_close,
};
