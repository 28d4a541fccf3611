/*
 * pool.c - the postgres provider's connections (see internal.h).
 *
 * A connection is a PGconn in non-blocking mode watched by a uv_poll
 * handle: connecting, it follows PQconnectPoll's reading/writing wishes;
 * busy, it flushes the query and reads results as they come; idle, it
 * only watches for the server closing it, unreferenced so it does not
 * keep the loop alive.  Jobs wait in a FIFO when every connection is busy
 * and the pool is full.
 *
 * Lifetimes: a poll handle is its own allocation, closed (and freed in its
 * close callback) whenever the socket may have changed: libpq may close a
 * socket and open another with the same number while connecting, and
 * libuv must never be left watching a descriptor it did not register.  A
 * connection is freed once its timer has closed and no name lookup of its
 * is outstanding; shutdown ends once every handle and lookup is gone.
 */
#include "base/compat.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>

#include "providers/postgres/internal.h"

#define MAX_ADDRS_PER_HOST 8

/* A poll handle; freed in its close callback. */
struct pg_poll {
  uv_poll_t h;
  struct pg_conn *c; /* NULL once closing */
};

struct resolve {
  uv_getaddrinfo_t req;
  struct pg_conn *c;
  size_t index;
};

static void dispatch(struct pg *pg);
static void on_poll(uv_poll_t *h, int status, int events);

/* ---- handles ---- */

/* One handle or lookup fewer; the last one ends a shutdown. */
static void pending_done(struct pg *pg)
{
  assert(pg->pending > 0);
  if (--pg->pending == 0 && pg->shutting)
    rt_shutdown_done(&pg->rt);
}

static void on_poll_closed(uv_handle_t *h)
{
  struct pg_poll *ph = container_of((uv_poll_t *)h, struct pg_poll, h);
  struct pg *pg = h->data;

  free(ph);
  pending_done(pg);
}

static void poll_close(struct pg_conn *c)
{
  if (!c->poll)
    return;
  c->poll->c = NULL;
  c->poll->h.data = c->pg;
  uv_close((uv_handle_t *)&c->poll->h, on_poll_closed);
  c->poll = NULL;
}

/*
 * Watches `fd` for `events`.  `fresh` replaces the handle: while
 * connecting, libpq may have closed the old socket and opened another,
 * possibly with the same number.  An idle connection does not keep the
 * loop alive.
 */
static int poll_set(struct pg_conn *c, int fd, int events, bool fresh)
{
  int err;

  if (fresh)
    poll_close(c);
  if (!c->poll) {
    struct pg_poll *ph = td_calloc(1, sizeof(*ph));

    err = uv_poll_init(c->pg->rt.base.loop, &ph->h, fd);
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

static void conn_maybe_free(struct pg_conn *c)
{
  if (c->state != C_DROPPED || !c->timer_closed || c->resolving > 0)
    return;
  for (size_t i = 0; c->addrs && i < c->pg->ci.nhosts; i++)
    free(c->addrs[i]);
  free(c->addrs);
  free(c);
}

static void on_conn_timer_closed(uv_handle_t *h)
{
  struct pg_conn *c = container_of((uv_timer_t *)h, struct pg_conn, timer);
  struct pg *pg = c->pg;

  c->timer_closed = true;
  conn_maybe_free(c);
  pending_done(pg);
}

/* Closes the connection; its job, if any, was ended by the caller. */
static void conn_drop(struct pg_conn *c)
{
  struct pg *pg = c->pg;

  if (c->state == C_DROPPED)
    return;
  assert(pg->slots[c->slot] == c);
  pg->slots[c->slot] = NULL;
  c->state = C_DROPPED;
  c->job = NULL;
  /* Before PQfinish closes the socket the handle watches. */
  poll_close(c);
  PQclear(c->result);
  c->result = NULL;
  if (c->pq)
    PQfinish(c->pq);
  c->pq = NULL;
  uv_close((uv_handle_t *)&c->timer, on_conn_timer_closed);
}

static void job_fail(struct pg_job *job, int status, const char *fmt, ...)
    TD_PRINTF(3, 4);

/* Ends the job with a failure; it no longer runs anywhere. */
static void job_fail(struct pg_job *job, int status, const char *fmt, ...)
{
  char buf[RT_MESSAGE_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  job->fail(job, status, buf);
}

/* Fails the connection's job (if any) and drops the connection. */
static void conn_fail(struct pg_conn *c, int status, const char *message)
{
  struct pg_job *job = c->job;

  c->job = NULL;
  if (job)
    job_fail(job, status, "postgres: %s", message);
  conn_drop(c);
}

static void poll_fail(struct pg_conn *c, int err)
{
  char buf[RT_MESSAGE_MAX];

  snprintf(buf, sizeof(buf), "%s: cannot watch the connection: %s",
           c->pg->ci.target, uv_strerror(err));
  conn_fail(c, PROVIDER_TRANSIENT, buf);
}

/* The connection broke under its job's statement. */
static void conn_lost(struct pg_conn *c)
{
  char line[RT_MESSAGE_MAX], buf[RT_MESSAGE_MAX];

  pg__first_line(line, sizeof(line), PQerrorMessage(c->pq));
  snprintf(buf, sizeof(buf), "%.200s: %.250s: connection lost: %.500s",
           c->pg->ci.target, c->job ? c->job->what : "statement", line);
  conn_fail(c, PROVIDER_TRANSIENT, buf);
}

void pg__release(struct pg_conn *c)
{
  c->job = NULL;
  uv_timer_stop(&c->timer);
  if (PQstatus(c->pq) != CONNECTION_OK ||
      PQtransactionStatus(c->pq) != PQTRANS_IDLE) {
    conn_drop(c);
    return;
  }
  c->state = C_IDLE;
  if (poll_set(c, PQsocket(c->pq), UV_READABLE, false) < 0)
    conn_drop(c);
}

static void on_conn_timer(uv_timer_t *t)
{
  struct pg_conn *c = container_of(t, struct pg_conn, timer);
  struct pg *pg = c->pg;
  char buf[RT_MESSAGE_MAX];

  if (c->state == C_RESOLVING || c->state == C_CONNECTING)
    snprintf(buf, sizeof(buf), "%s: connection timed out after %llu ms",
             pg->ci.target, (unsigned long long)pg->connect_timeout_ms);
  else
    snprintf(buf, sizeof(buf), "%s: %s: timed out after %d ms", pg->ci.target,
             c->job ? c->job->what : "statement",
             POSTGRES_STATEMENT_TIMEOUT_MS);
  conn_fail(c, PROVIDER_TRANSIENT, buf);
  dispatch(pg);
}

/* ---- connecting ---- */

/* Server notices (e.g. "role is already a member") are not ours to
 * print: libpq's default writes them to stderr. */
static void ignore_notice(void *arg, const PGresult *res)
{
  (void)arg;
  (void)res;
}

/* A server refusing at startup for a reason outside the transient and
 * auth classes (an unknown database, say) is a setup problem: invalid. */
static void connect_failed(struct pg_conn *c)
{
  char line[RT_MESSAGE_MAX], state[6];

  pg__connect_error(PQerrorMessage(c->pq), line, sizeof(line), state);
  conn_fail(c, pg__class_of(state[0] ? state : NULL), line);
}

/* Drives PQconnectPoll one step. */
static void connect_step(struct pg_conn *c)
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
    c->job->step(c->job, c, NULL);
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

struct hostlists {
  char *hosts, *addrs, *ports;
  size_t nh, na, np;
};

/*
 * Every address of every looked-up name becomes an entry of its own
 * (the name repeated as host, for TLS and .pgpass), so libpq still
 * tries them all in turn, as it does with names it resolves itself.
 */
static void host_lists(const struct pg_conn *c, struct hostlists *l)
{
  const struct pg_conninfo *ci = &c->pg->ci;

  for (size_t i = 0; i < ci->nhosts; i++) {
    const char *list = c->addrs[i];

    do {
      size_t len = list ? strcspn(list, ",") : 0;
      char *one = td_strndup(list ? list : "", len);

      list_add(&l->hosts, &l->nh, ci->hosts[i]);
      list_add(&l->addrs, &l->na, one);
      if (ci->nports > 1)
        list_add(&l->ports, &l->np, ci->ports[i]);
      free(one);
      list = list && list[len] ? list + len + 1 : NULL;
    } while (list);
  }
}

/* libpq's connection, with the looked-up addresses when there are any. */
static PGconn *connect_params(struct pg_conn *c)
{
  const char *keys[6], *values[6];
  struct hostlists l = {0};
  int n = 0;
  PGconn *pq;

  keys[n] = "fallback_application_name";
  values[n++] = "tenantd";
  keys[n] = "dbname";
  values[n++] = c->pg->conninfo.value;
  if (c->addrs) {
    host_lists(c, &l);
    keys[n] = "host";
    values[n++] = l.hosts;
    keys[n] = "hostaddr";
    values[n++] = l.addrs;
    if (l.ports) {
      keys[n] = "port";
      values[n++] = l.ports;
    }
  }
  keys[n] = NULL;
  values[n] = NULL;
  /* expand_dbname: the conninfo is parsed; what follows it overrides. */
  pq = PQconnectStartParams(keys, values, 1);
  free(l.hosts);
  free(l.addrs);
  free(l.ports);
  return pq;
}

/* Starts libpq's connection, the name lookups done. */
static void conn_start(struct pg_conn *c)
{
  int fd, err;

  c->state = C_CONNECTING;
  c->pq = connect_params(c);
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

/* A lookup's addresses as a comma-separated list; NULL when none. */
static char *addr_list(int status, struct addrinfo *res)
{
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
  return list;
}

static void resolve_failed(struct pg_conn *c, size_t index, int status)
{
  if (!c->resolve_failed)
    snprintf(c->resolve_error, sizeof(c->resolve_error),
             "cannot resolve host \"%.100s\": %s", c->pg->ci.hosts[index],
             status < 0 ? uv_strerror(status) : "no address");
  c->resolve_failed = true;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
  struct resolve *rs = container_of(req, struct resolve, req);
  struct pg_conn *c = rs->c;
  struct pg *pg = c->pg;
  char *list = addr_list(status, res);

  uv_freeaddrinfo(res);
  if (c->state == C_RESOLVING && !list)
    resolve_failed(c, rs->index, status);
  else if (c->state == C_RESOLVING)
    c->addrs[rs->index] = list;
  else
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

/* Starts the lookups of the names among the hosts. */
static void resolve_all(struct pg_conn *c)
{
  struct pg *pg = c->pg;

  c->addrs = td_calloc(pg->ci.nhosts, sizeof(*c->addrs));
  for (size_t i = 0; i < pg->ci.nhosts; i++) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct resolve *rs;
    int err;

    if (!pg->ci.lookup[i])
      continue;
    rs = td_calloc(1, sizeof(*rs));
    rs->c = c;
    rs->index = i;
    err = uv_getaddrinfo(pg->rt.base.loop, &rs->req, on_resolved,
                         pg->ci.hosts[i], NULL, &hints);
    if (err < 0) {
      free(rs);
      resolve_failed(c, i, err);
      break;
    }
    c->resolving++;
    pg->pending++;
  }
}

/*
 * Opens a connection in `slot` for `job`.  libpq resolves host names with
 * a blocking getaddrinfo() inside PQconnectStart, so names are looked up
 * on the threadpool first and handed to libpq as hostaddr.
 */
static void conn_open(struct pg *pg, size_t slot, struct pg_job *job)
{
  struct pg_conn *c = td_calloc(1, sizeof(*c));

  c->pg = pg;
  c->slot = slot;
  c->job = job;
  c->state = C_RESOLVING;
  pg->slots[slot] = c;
  uv_timer_init(pg->rt.base.loop, &c->timer);
  pg->pending++;
  uv_timer_start(&c->timer, on_conn_timer, pg->connect_timeout_ms, 0);
  if (pg->ci.need_lookup)
    resolve_all(c);
  if (c->resolving > 0)
    return;
  if (c->resolve_failed)
    conn_fail(c, PROVIDER_TRANSIENT, c->resolve_error);
  else
    conn_start(c);
}

/* ---- statements ---- */

/* Keeps the first error of a statement, or else its last result. */
static void keep_result(struct pg_conn *c, PGresult *res)
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

/* A statement's error: the job fails, the connection goes back. */
static void statement_failed(struct pg_conn *c, const PGresult *res)
{
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *primary =
      res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  struct pg_job *job = c->job;
  char line[RT_MESSAGE_MAX];
  int status = pg__class_of(state);

  if (PQstatus(c->pq) != CONNECTION_OK)
    status = PROVIDER_TRANSIENT;
  if (primary)
    snprintf(line, sizeof(line), "%s", primary);
  else if (res && *PQresultErrorMessage(res))
    pg__first_line(line, sizeof(line), PQresultErrorMessage(res));
  else
    pg__first_line(line, sizeof(line), PQerrorMessage(c->pq));
  c->job = NULL;
  job_fail(job, status, "postgres: %s: %s", job->what, line);
  pg__release(c);
}

/* The statement ended: hand its result to the job, or fail the job. */
static void statement_done(struct pg_conn *c)
{
  PGresult *res = c->result;
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

  c->result = NULL;
  uv_timer_stop(&c->timer);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    statement_failed(c, res);
  else
    c->job->step(c->job, c, res);
  PQclear(res);
}

/* Flushes, reads and collects results as the socket allows. */
static void busy_step(struct pg_conn *c, int events)
{
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
  conn_lost(c);
}

/*
 * An idle connection: only the server closing it is expected.  Its last
 * words (a FATAL message) and the end of the stream may need two reads:
 * libpq sees the end only on the read after the data.
 */
static void idle_step(struct pg_conn *c)
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
  struct pg_poll *ph = container_of(h, struct pg_poll, h);
  struct pg_conn *c = ph->c;
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

/* After PQsendQuery or PQsendQueryParams (`sent_ok`): flush, watch,
 * time. */
static void sent(struct pg_conn *c, int sent_ok)
{
  int rc, err;

  if (!sent_ok)
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
  conn_lost(c);
}

void pg__send(struct pg_conn *c, char *sql)
{
  int rc;

  c->state = C_BUSY;
  rc = PQsendQuery(c->pq, sql);
  explicit_bzero(sql, strlen(sql));
  free(sql);
  sent(c, rc);
}

void pg__send_params(struct pg_conn *c, char *sql, int n,
                     const char *const *values)
{
  int rc;

  c->state = C_BUSY;
  rc = PQsendQueryParams(c->pq, sql, n, NULL, values, NULL, NULL, 0);
  free(sql);
  sent(c, rc);
}

/* ---- the queue ---- */

/* The first idle connection, or else a free slot (*slot); NULL and
 * SIZE_MAX when the pool is full and busy. */
static struct pg_conn *find_conn(struct pg *pg, size_t *slot)
{
  *slot = SIZE_MAX;
  for (size_t i = 0; i < pg->max_conns; i++) {
    struct pg_conn *c = pg->slots[i];

    if (!c && *slot == SIZE_MAX)
      *slot = i;
    if (c && c->state == C_IDLE)
      return c;
  }
  return NULL;
}

/* Starts queued jobs on idle connections, opening new ones up to the
 * pool size. */
static void dispatch(struct pg *pg)
{
  while (pg->wait_head && !pg->shutting) {
    struct pg_job *job = pg->wait_head;
    size_t slot;
    struct pg_conn *idle = find_conn(pg, &slot);

    if (!idle && slot == SIZE_MAX)
      return;
    /* A connection the server closed while idle (a restart, an idle
     * timeout) shows it now, without a round trip: take another. */
    if (idle) {
      idle_step(idle);
      if (idle->state == C_DROPPED)
        continue;
    }
    pg->wait_head = job->next;
    if (!pg->wait_head)
      pg->wait_tail = &pg->wait_head;
    job->next = NULL;
    if (idle) {
      idle->job = job;
      idle->state = C_BUSY;
      job->step(job, idle, NULL);
    } else {
      conn_open(pg, slot, job);
    }
  }
}

void pg__submit(struct pg *pg, struct pg_job *job)
{
  if (pg->rt.closing) {
    job->fail(job, PROVIDER_TRANSIENT, "provider closing");
    return;
  }
  job->next = NULL;
  *pg->wait_tail = job;
  pg->wait_tail = &job->next;
  dispatch(pg);
}

void pg__pool_closing(struct pg *pg)
{
  /* Queued jobs never started: they fail.  Running ones finish. */
  while (pg->wait_head) {
    struct pg_job *job = pg->wait_head;

    pg->wait_head = job->next;
    job->fail(job, PROVIDER_TRANSIENT, "provider closing");
  }
  pg->wait_tail = &pg->wait_head;
}

void pg__pool_shutdown(struct pg *pg)
{
  pg->shutting = true;
  for (size_t i = 0; i < pg->max_conns; i++)
    if (pg->slots[i])
      conn_drop(pg->slots[i]);
  if (pg->pending == 0)
    rt_shutdown_done(&pg->rt);
}
