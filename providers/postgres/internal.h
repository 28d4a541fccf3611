/*
 * internal.h - what the postgres provider's files share (see postgres.h
 * for the contract).
 *
 *   postgres.c  the instance (options, open, check, start, close) and the
 *               ops: each create, update, remove and list a small state
 *               machine of statements (probe, role, grant, create,
 *               comment, alter, drop, list); the reads of a loop turn
 *               answered by one catalog query (a read batch);
 *   pool.c      the pool: libpq's non-blocking connect driven by
 *               uv_poll, host names looked up on the threadpool, idle and
 *               busy connections, connect and statement timeouts, a
 *               connection dropped on any doubt and replaced by the next
 *               job;
 *   conninfo.c  what the connection string says before connecting: the
 *               password (scrubbed from messages), hosts and ports;
 *   sql.c       what needs no connection: statements built through a
 *               quoting function (libpq's escaping in production), catalog
 *               rows parsed into observed specs, markers and comments,
 *               SQLSTATE classes and message cleaning.
 *
 * The provider is written on the runtime (providers/common/runtime.h).
 * The pool runs *jobs*, one at a time per connection: a job is an op's
 * state machine (struct pg_op) or a read batch (struct pg_batch).  Given
 * a connection, a job sends its next statement (pg__send, pg__send_params)
 * or finishes and gives the connection back (pg__release).  Everything
 * here runs on the loop thread.
 */
#ifndef TD_POSTGRES_INTERNAL_H
#define TD_POSTGRES_INTERNAL_H

#include "base/compat.h"

#include <libpq-fe.h>

#include "model/resource.h"
#include "providers/common/runtime.h"
#include "providers/postgres/postgres.h"

/* PostgreSQL truncates longer identifiers (NAMEDATALEN - 1). */
#define PG_MAX_IDENT 63
/* A comment this large is not one tenantd wrote. */
#define PG_MAX_COMMENT 8192
#define PG_MAX_HOSTS 16
/* A job's description of its statement, for messages. */
#define PG_WHAT_MAX 256

struct pg_conn;
struct pg_job;

/*
 * A unit of work for the pool.  step() runs with the connection the job
 * was given: `res` is NULL the first time, then the result of its last
 * statement (a success: errors go to fail()).  Every step ends in
 * pg__send / pg__send_params, or in the job answering its ops and calling
 * pg__release(c).  fail() ends the job: `message` ("postgres: ...", or
 * "provider closing") says why; the pool keeps or drops the connection.
 */
struct pg_job {
  struct pg_job *next; /* in the pool's wait queue */
  char what[PG_WHAT_MAX];
  void (*step)(struct pg_job *job, struct pg_conn *c, const PGresult *res);
  void (*fail)(struct pg_job *job, int status, const char *message);
};

/* What the connection string says about where the server is. */
struct pg_conninfo {
  char *password;   /* to scrub from messages; NULL when none */
  char target[320]; /* "host:port", for messages */
  char *hosts[PG_MAX_HOSTS];
  bool lookup[PG_MAX_HOSTS]; /* a name to look up: not an IP, not a path */
  size_t nhosts;
  char *ports[PG_MAX_HOSTS];
  size_t nports;
  bool need_lookup;
};

struct pg {
  struct rt rt; /* first: the runtime's */
  /* Options (postgres.h).  conninfo.value is the connection string: a
   * secret, never in a message. */
  struct opt_secret conninfo;
  uint64_t connect_timeout_ms;
  uint64_t max_conns;

  struct pg_conninfo ci;
  struct pg_conn **slots; /* max_conns of them, NULL when free */
  struct pg_job *wait_head, **wait_tail;
  size_t pending; /* open handles and outstanding lookups */
  bool shutting;  /* shutdown() was called */
};

/* The statement an op has in flight; its result drives the next step. */
enum pg_step {
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

struct pg_op {
  struct rt_op base; /* first: kind, name, tenant, id, marker, spec */
  struct pg_job job; /* create, update, remove, list; reads batch */
  enum pg_step step;
  char *owner; /* spec.owner: create and update */
  long long conn_limit;
  char *comment; /* the database comment create and update write */
  bool db_existed;
};

static inline struct pg *pg_of(const struct rt_op *op)
{
  return container_of(op->rt, struct pg, rt);
}

/* ---- pool.c ---- */

enum pg_conn_state { C_RESOLVING, C_CONNECTING, C_IDLE, C_BUSY, C_DROPPED };

struct pg_conn {
  struct pg *pg;
  size_t slot;
  enum pg_conn_state state;
  PGconn *pq;
  struct pg_poll *poll;
  uv_timer_t timer; /* connect timeout, then statement timeout */
  bool timer_closed;
  bool flushing;      /* the query is not all sent yet */
  struct pg_job *job; /* the job it runs (or connects for) */
  PGresult *result;   /* the statement's first error, or its last result */
  /* Name lookups: per host, its addresses comma-separated, or NULL. */
  char **addrs;
  size_t resolving;
  bool resolve_failed;
  char resolve_error[256];
};

/* Queues the job and starts what the pool can; once the instance is
 * closing, fails it with "provider closing" instead. */
void pg__submit(struct pg *pg, struct pg_job *job);

/* Fails every queued job "provider closing" (close() was called). */
void pg__pool_closing(struct pg *pg);

/* Closes every connection; rt_shutdown_done() once all are gone. */
void pg__pool_shutdown(struct pg *pg);

/* Sends one query string (several statements in it run as one implicit
 * transaction) for the connection's job.  `sql` is wiped and freed. */
void pg__send(struct pg_conn *c, char *sql);

/* Sends one statement with text parameters $1..$n (`values`, borrowed
 * for the call); `sql` is freed. */
void pg__send_params(struct pg_conn *c, char *sql, int n,
                     const char *const *values);

/* The connection's job is over: back to the pool, or dropped when it is
 * not fit for another. */
void pg__release(struct pg_conn *c);

/* ---- conninfo.c ---- */

/*
 * Reads what messages and name lookups need from a connection string:
 * the password, "host:port", the host and port lists (PGHOST, PGHOSTADDR
 * and PGPORT stand in for missing ones, as in libpq).  Returns 0; -1
 * when libpq cannot parse it; -2 when it lists more than PG_MAX_HOSTS
 * hosts or ports; -3 when its host and port lists do not match.  Release
 * `out` in every case.
 */
int pg__conninfo_parse(const char *conninfo, struct pg_conninfo *out);
void pg__conninfo_release(struct pg_conninfo *ci);

/* ---- sql.c: statements ---- */

/*
 * Quotes `s` as an identifier (literal false) or a string literal; a new
 * string, or NULL when it cannot (an encoding error).  In production
 * libpq's PQescapeIdentifier / PQescapeLiteral on the connection, which
 * know its encoding and standard_conforming_strings.
 */
struct pg_quoter {
  char *(*quote)(void *ctx, const char *s, bool literal);
  void *ctx;
};

/* Each builder returns a new statement, or NULL when a value could not be
 * quoted.  A NULL `role` in the probe is the SQL NULL (no role wanted). */
char *pg__sql_probe(const struct pg_quoter *q, const char *db,
                    const char *role);
char *pg__sql_read_batch(size_t n);
char *pg__sql_role(const struct pg_quoter *q, const char *role,
                   const char *verifier, const char *marker);
char *pg__sql_grant(const struct pg_quoter *q, const char *role);
char *pg__sql_createdb(const struct pg_quoter *q, const char *db,
                       const char *role, long long conn_limit);
char *pg__sql_comment(const struct pg_quoter *q, const char *db,
                      const char *comment);
char *pg__sql_alter(const struct pg_quoter *q, const char *db,
                    long long conn_limit, const char *role,
                    const char *comment);
char *pg__sql_dropdb(const struct pg_quoter *q, const char *db);
char *pg__sql_find_roles(const struct pg_quoter *q, const char *marker);
char *pg__sql_drop_roles(const struct pg_quoter *q, const char *const *roles,
                         size_t n);
char *pg__sql_list(void);

/* ---- sql.c: catalog rows ---- */

/* A row of the probe or of a read batch (strings borrowed from the
 * result). */
struct pg_probe {
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

/* Row `row` of a probe's or a read batch's result; -1 when its shape is
 * not the probe's. */
int pg__probe_parse(const PGresult *res, int row, struct pg_probe *p);

/* The tenantd marker in a comment, rebuilt into `marker` (tenant and id
 * into theirs, each RESOURCE_MARKER_MAX); false when there is none. */
bool pg__parse_marker(const char *comment, char *marker, char *tenant,
                      char *id);

/* The database's marker: its comment's, or, when it has no comment at
 * all, its owner role's (tenantd created it and lost the connection
 * before commenting).  `from_comment` says which. */
bool pg__db_marker(const struct pg_probe *p, char *marker, bool *from_comment);

/* The observed object of a database the probe found, normalised like a
 * desired spec: {spec, outputs {host, port, database, user}, marker}. */
json_t *pg__observed(const struct pg_probe *p, const char *host, int port);

/* The comment create and update write: the marker, then every spec key
 * PostgreSQL has no place for, as compact JSON with sorted keys.  NULL
 * when it cannot be written. */
char *pg__make_comment(const char *marker, const json_t *spec);

/* ---- sql.c: errors and messages ---- */

/* The provider.h class of a SQLSTATE; NULL (none: libpq's own failure)
 * is transient. */
int pg__class_of(const char *sqlstate);

/* The first line of a libpq message, without trailing blanks or dot. */
void pg__first_line(char *out, size_t cap, const char *msg);

/* A failed connection's verbose message ("SEVERITY:  SQLSTATE:  text"):
 * its first line without the SQLSTATE, which goes to `state` ("" when
 * there is none: a network failure). */
void pg__connect_error(const char *msg, char *out, size_t cap, char state[6]);

/* `msg` with its first `what` replaced by `own` (a batch's failure told
 * as one of its ops'); `msg` as it is when `what` is not in it. */
void pg__retarget(char *out, size_t cap, const char *msg, const char *what,
                  const char *own);

/* Replaces every occurrence of `secret` (3 bytes or more) in `buf` with
 * "***"; `buf` never grows. */
void pg__scrub(char *buf, const char *secret);

#endif
