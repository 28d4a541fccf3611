/*
 * postgres.c - tenant databases on a PostgreSQL cluster (see postgres.h
 * for the contract, internal.h for the split).
 *
 * Written on the provider runtime (providers/common/runtime.h): check()
 * takes the spec in the starting call; start() gets the ops of a loop
 * turn together.  Its reads become read batches: one catalog query for
 * every database they name (up to BATCH_MAX a query), each read answered
 * from its own row.  Every other op is a job of its own: a small state
 * machine that runs one statement at a time on one pooled connection
 * (op_step), each state's statement built in sql.c.
 */
#include "base/compat.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include <openssl/rand.h>

#include "providers/postgres/internal.h"

#define MAX_CONNECT_TIMEOUT_MS 600000
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define MAX_POOL 100
#define DEFAULT_POOL 4
#define MAX_LIST 100000
/* Reads answered by one query; more in a turn make more queries, which
 * run on connections of their own. */
#define BATCH_MAX 512

/* Reads of one loop turn, answered by one catalog query. */
struct pg_batch {
  struct pg_job job;
  size_t n;
  struct pg_op *ops[]; /* n of them */
};

/* ---- answers ---- */

static int fail_op(struct pg_op *op, int status, const char *fmt, ...)
    TD_PRINTF(3, 4);

/* Fails the op with a message cleaned of the connection string and its
 * password; does not deliver.  Returns `status`. */
static int fail_op(struct pg_op *op, int status, const char *fmt, ...)
{
  struct pg *pg = pg_of(&op->base);
  char buf[RT_MESSAGE_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  /* Messages never carry the connection string or its password. */
  pg__scrub(buf, pg->conninfo.value);
  pg__scrub(buf, pg->ci.password);
  return rt_op_fail(&op->base, status, "%s", buf);
}

/* Answers the op (already set) and gives its connection back. */
static void finish(struct pg_op *op, struct pg_conn *c)
{
  rt_op_deliver(&op->base);
  pg__release(c);
}

static void fail_not_found(struct pg_op *op)
{
  fail_op(op, PROVIDER_NOT_FOUND, "postgres: database \"%s\" does not exist",
          op->base.name);
}

/* What the connection reports as its server, for outputs. */
static json_t *observed_on(struct pg_conn *c, const struct pg_probe *p)
{
  const char *port = PQport(c->pq);

  return pg__observed(p, PQhost(c->pq), port && *port ? atoi(port) : 5432);
}

/* ---- statements ---- */

static char *pq_quote(void *ctx, const char *s, bool literal)
{
  PGconn *pq = ctx;
  char *e = literal ? PQescapeLiteral(pq, s, strlen(s))
                    : PQescapeIdentifier(pq, s, strlen(s));
  char *out;

  if (!e)
    return NULL;
  out = td_strdup(e);
  PQfreemem(e);
  return out;
}

static struct pg_quoter quoter(struct pg_conn *c)
{
  return (struct pg_quoter){pq_quote, c->pq};
}

static void begin(struct pg_op *op, struct pg_conn *c, enum pg_step step,
                  char *sql, const char *fmt, ...) TD_PRINTF(5, 6);

/* Sends the op's next statement; `sql` NULL: a name could not be quoted. */
static void begin(struct pg_op *op, struct pg_conn *c, enum pg_step step,
                  char *sql, const char *fmt, ...)
{
  char line[RT_MESSAGE_MAX];
  va_list ap;

  if (!sql) {
    pg__first_line(line, sizeof(line), PQerrorMessage(c->pq));
    fail_op(op, PROVIDER_INVALID, "postgres: cannot quote a name: %s", line);
    finish(op, c);
    return;
  }
  op->step = step;
  va_start(ap, fmt);
  vsnprintf(op->job.what, sizeof(op->job.what), fmt, ap);
  va_end(ap);
  pg__send(c, sql);
}

static void send_probe(struct pg_op *op, struct pg_conn *c, enum pg_step step)
{
  struct pg_quoter q = quoter(c);

  begin(op, c, step, pg__sql_probe(&q, op->base.name, op->owner),
        "cannot read database \"%s\"", op->base.name);
}

/* A random password only the server sees, and only as a SCRAM verifier;
 * NULL with the op failed when there is none. */
static char *role_verifier(struct pg_op *op, struct pg_conn *c)
{
  unsigned char raw[16];
  char pw[sizeof(raw) * 2 + 1];
  char *verifier;

  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    fail_op(op, PROVIDER_TRANSIENT,
            "postgres: cannot create role \"%s\": no random bytes for its "
            "password",
            op->owner);
    return NULL;
  }
  for (size_t i = 0; i < sizeof(raw); i++)
    snprintf(pw + 2 * i, 3, "%02x", raw[i]);
  /* With the algorithm named, libpq asks the server nothing, so this
   * does not block. */
  verifier = PQencryptPasswordConn(c->pq, pw, op->owner, "scram-sha-256");
  explicit_bzero(pw, sizeof(pw));
  explicit_bzero(raw, sizeof(raw));
  if (!verifier)
    fail_op(op, PROVIDER_INVALID,
            "postgres: cannot create role \"%s\": cannot encrypt its password",
            op->owner);
  return verifier;
}

static void send_role(struct pg_op *op, struct pg_conn *c)
{
  struct pg_quoter q = quoter(c);
  char *verifier = role_verifier(op, c);
  char *sql;

  if (!verifier) {
    finish(op, c);
    return;
  }
  sql = pg__sql_role(&q, op->owner, verifier, op->base.marker);
  explicit_bzero(verifier, strlen(verifier));
  PQfreemem(verifier);
  begin(op, c, ST_ROLE, sql, "cannot create role \"%s\"", op->owner);
}

/* The role is ready: on to the database. */
static void send_database(struct pg_op *op, struct pg_conn *c)
{
  struct pg_quoter q = quoter(c);
  const char *db = op->base.name;

  if (op->db_existed)
    begin(op, c, ST_ALTER,
          pg__sql_alter(&q, db, op->conn_limit, op->owner, op->comment),
          "cannot alter database \"%s\"", db);
  else
    begin(op, c, ST_CREATEDB,
          pg__sql_createdb(&q, db, op->owner, op->conn_limit),
          "cannot create database \"%s\"", db);
}

static void send_find_roles(struct pg_op *op, struct pg_conn *c)
{
  struct pg_quoter q = quoter(c);

  begin(op, c, ST_FIND_ROLES, pg__sql_find_roles(&q, op->base.marker),
        "cannot list the roles of \"%s\"", op->base.name);
}

static void send_drop_roles(struct pg_op *op, struct pg_conn *c,
                            const PGresult *res)
{
  struct pg_quoter q = quoter(c);
  size_t n = (size_t)PQntuples(res);
  const char **names = td_calloc(n, sizeof(*names));

  for (size_t i = 0; i < n; i++)
    names[i] = PQgetvalue(res, (int)i, 0);
  begin(op, c, ST_DROP_ROLES, pg__sql_drop_roles(&q, names, n),
        "cannot drop the role of \"%s\"", op->base.name);
  free(names);
}

/* ---- the ops' states ---- */

static void collect_list(struct pg_op *op, const PGresult *res)
{
  int n = PQntuples(res);
  size_t found = 0;

  for (int i = 0; i < n; i++) {
    char marker[RESOURCE_MARKER_MAX], tenant[RESOURCE_MARKER_MAX];
    char id[RESOURCE_MARKER_MAX];

    if (!pg__parse_marker(PQgetvalue(res, i, 1), marker, tenant, id) ||
        strcmp(tenant, op->base.tenant) != 0)
      continue;
    if (found++ == MAX_LIST) {
      fail_op(op, PROVIDER_INVALID,
              "postgres: more than %d databases carry tenant %s's marker",
              MAX_LIST, op->base.tenant);
      return;
    }
    rt_op_add_item(&op->base, id, RTYPE_DATABASE, PQgetvalue(res, i, 0));
  }
  rt_op_ok(&op->base, NULL);
}

/* Refuses to touch a database that is not marked as this resource. */
static void conflict(struct pg_op *op, struct pg_conn *c,
                     const struct pg_probe *p)
{
  char marker[RESOURCE_MARKER_MAX];
  bool from_comment;

  if (pg__db_marker(p, marker, &from_comment))
    fail_op(op, PROVIDER_CONFLICT,
            "postgres: database \"%s\" is held by another resource (%s)",
            op->base.name, marker);
  else
    fail_op(op, PROVIDER_CONFLICT,
            "postgres: database \"%s\" exists without tenantd's marker",
            op->base.name);
  finish(op, c);
}

/* Whether the probe shows the database marked as this op's resource. */
static bool marked_as_this(const struct pg_op *op, const struct pg_probe *p)
{
  char marker[RESOURCE_MARKER_MAX];
  bool from_comment;

  return pg__db_marker(p, marker, &from_comment) &&
         strcmp(marker, op->base.marker) == 0;
}

/* After the probe of create or update: the role first, as needed. */
static void ensure_role(struct pg_op *op, struct pg_conn *c,
                        const struct pg_probe *p)
{
  char marker[RESOURCE_MARKER_MAX], tenant[RESOURCE_MARKER_MAX];
  char id[RESOURCE_MARKER_MAX];
  struct pg_quoter q = quoter(c);

  if (!p->role) {
    send_role(op, c);
    return;
  }
  if (!pg__parse_marker(p->role_comment, marker, tenant, id)) {
    fail_op(op, PROVIDER_CONFLICT,
            "postgres: role \"%s\" exists without tenantd's marker", op->owner);
    finish(op, c);
  } else if (strcmp(marker, op->base.marker) != 0) {
    fail_op(op, PROVIDER_CONFLICT,
            "postgres: role \"%s\" is held by another resource (%s)", op->owner,
            marker);
    finish(op, c);
  } else if (!p->member) {
    begin(op, c, ST_GRANT, pg__sql_grant(&q, op->owner),
          "cannot grant role \"%s\"", op->owner);
  } else {
    send_database(op, c);
  }
}

static void after_probe(struct pg_op *op, struct pg_conn *c,
                        const struct pg_probe *p)
{
  struct pg_quoter q = quoter(c);

  op->db_existed = p->db;
  if (op->base.kind == RT_UPDATE && !p->db) {
    fail_not_found(op);
    finish(op, c);
  } else if (p->db && !marked_as_this(op, p)) {
    /* A database marked as this resource is brought to the spec (a
     * re-create after a crash); anything else there is left alone. */
    conflict(op, c, p);
  } else if (op->base.kind != RT_REMOVE) {
    ensure_role(op, c, p);
  } else if (p->db) {
    begin(op, c, ST_DROPDB, pg__sql_dropdb(&q, op->base.name),
          "cannot drop database \"%s\"", op->base.name);
  } else {
    send_find_roles(op, c);
  }
}

/* What create and update leave behind, from the probe after them. */
static void after_final(struct pg_op *op, struct pg_conn *c,
                        const struct pg_probe *p)
{
  if (!p->db)
    /* Dropped by someone else in between. */
    fail_op(op, PROVIDER_TRANSIENT,
            "postgres: database \"%s\" vanished after it was written",
            op->base.name);
  else
    rt_op_ok(&op->base, observed_on(c, p));
  finish(op, c);
}

/* A remove ends OK, or NOT_FOUND when the database was already gone
 * (a marked role it left behind is dropped all the same). */
static void remove_done(struct pg_op *op, struct pg_conn *c)
{
  if (op->db_existed)
    rt_op_ok(&op->base, NULL);
  else
    fail_not_found(op);
  finish(op, c);
}

static void probe_done(struct pg_op *op, struct pg_conn *c, const PGresult *res)
{
  struct pg_probe p;

  if (PQntuples(res) != 1 || pg__probe_parse(res, 0, &p) < 0) {
    fail_op(op, PROVIDER_INVALID, "postgres: %s: unexpected reply",
            op->job.what);
    finish(op, c);
  } else if (op->step == ST_PROBE) {
    after_probe(op, c, &p);
  } else {
    after_final(op, c, &p);
  }
}

/*
 * The op's next statement, given the result of the last one (NULL when
 * the op has just been given a connection).  Errors were handled by the
 * pool; every path ends in begin() or finish().
 */
static void op_step(struct pg_job *job, struct pg_conn *c, const PGresult *res)
{
  struct pg_op *op = container_of(job, struct pg_op, job);
  struct pg_quoter q = quoter(c);

  switch (op->step) {
  case ST_NONE:
    if (op->base.kind == RT_LIST)
      begin(op, c, ST_LIST, pg__sql_list(), "cannot list databases");
    else
      send_probe(op, c, ST_PROBE);
    return;
  case ST_PROBE:
  case ST_FINAL:
    probe_done(op, c, res);
    return;
  case ST_ROLE:
  case ST_GRANT:
    send_database(op, c);
    return;
  case ST_CREATEDB:
    begin(op, c, ST_COMMENT, pg__sql_comment(&q, op->base.name, op->comment),
          "cannot comment database \"%s\"", op->base.name);
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
    finish(op, c);
    return;
  }
}

static void op_fail(struct pg_job *job, int status, const char *message)
{
  struct pg_op *op = container_of(job, struct pg_op, job);

  fail_op(op, status, "%s", message);
  rt_op_deliver(&op->base);
}

/* ---- read batches ---- */

/* Answers read `op` from its row of the batch's result. */
static void answer_read(struct pg_op *op, struct pg_conn *c,
                        const PGresult *res, int row)
{
  struct pg_probe p;

  if (pg__probe_parse(res, row, &p) < 0)
    fail_op(op, PROVIDER_INVALID,
            "postgres: cannot read database \"%s\": unexpected reply",
            op->base.name);
  else if (!p.db)
    fail_not_found(op);
  else
    rt_op_ok(&op->base, observed_on(c, &p));
  rt_op_deliver(&op->base);
}

static void batch_step(struct pg_job *job, struct pg_conn *c,
                       const PGresult *res)
{
  struct pg_batch *b = container_of(job, struct pg_batch, job);
  const char **names;

  if (res) {
    bool whole = PQntuples(res) == (int)b->n;

    for (size_t i = 0; i < b->n; i++)
      answer_read(b->ops[i], c, res, whole ? (int)i : -1);
    free(b);
    pg__release(c);
    return;
  }
  names = td_calloc(b->n, sizeof(*names));
  for (size_t i = 0; i < b->n; i++)
    names[i] = b->ops[i]->base.name;
  pg__send_params(c, pg__sql_read_batch(b->n), (int)b->n, names);
  free(names);
}

/*
 * The batch's statement failed, or its connection: every read fails with
 * the message, where each names its own database in place of the batch.
 */
static void batch_fail(struct pg_job *job, int status, const char *message)
{
  struct pg_batch *b = container_of(job, struct pg_batch, job);
  char own[PG_WHAT_MAX], buf[RT_MESSAGE_MAX];

  for (size_t i = 0; i < b->n; i++) {
    struct pg_op *op = b->ops[i];

    snprintf(own, sizeof(own), "cannot read database \"%s\"", op->base.name);
    pg__retarget(buf, sizeof(buf), message, job->what, own);
    fail_op(op, status, "%s", buf);
    rt_op_deliver(&op->base);
  }
  free(b);
}

/* Submits the reads ops[0..n) as one batch. */
static void submit_batch(struct pg *pg, struct pg_op **ops, size_t n)
{
  struct pg_batch *b = td_calloc(1, sizeof(*b) + n * sizeof(b->ops[0]));

  b->job.step = batch_step;
  b->job.fail = batch_fail;
  b->n = n;
  memcpy(b->ops, ops, n * sizeof(ops[0]));
  if (n == 1)
    snprintf(b->job.what, sizeof(b->job.what), "cannot read database \"%s\"",
             ops[0]->base.name);
  else
    snprintf(b->job.what, sizeof(b->job.what), "cannot read %zu databases", n);
  pg__submit(pg, &b->job);
}

/* ---- the instance ---- */

static const struct opt pg_options[] = {
    OPT_SECRET("conninfoEnv", struct pg, conninfo,
               POSTGRES_DEFAULT_CONNINFO_ENV, "the libpq connection string"),
    OPT_UINT("connectTimeoutMs", struct pg, connect_timeout_ms, 1,
             MAX_CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS),
    OPT_UINT("maxConnections", struct pg, max_conns, 1, MAX_POOL, DEFAULT_POOL),
};

/* Reads the connection string; does not connect. */
static int pg_open(struct rt *rt, char *err, size_t errcap)
{
  struct pg *pg = container_of(rt, struct pg, rt);
  const char *env = pg->conninfo.name;
  /* One catalog query answers a turn's reads, and the pool bounds the
   * statements: the pass may hand over every call at once. */
  rt->base.batches = true;

  switch (pg__conninfo_parse(pg->conninfo.value, &pg->ci)) {
  case -1:
    snprintf(err, errcap,
             "postgres: the connection string in %.100s is not valid for "
             "libpq (not shown: it may hold a password)",
             env);
    return -1;
  case -2:
    snprintf(err, errcap,
             "postgres: the connection string in %.100s lists more than %d "
             "hosts or ports",
             env, PG_MAX_HOSTS);
    return -1;
  case -3:
    snprintf(err, errcap,
             "postgres: the connection string in %.100s lists %zu ports for "
             "%zu hosts",
             env, pg->ci.nports, pg->ci.nhosts);
    return -1;
  }
  pg->slots = td_calloc(pg->max_conns, sizeof(*pg->slots));
  pg->wait_tail = &pg->wait_head;
  return 0;
}

/* Checks create's and update's spec, and takes what they need of it. */
static int check_spec(struct pg_op *op, const json_t *spec)
{
  const char *db = op->base.name;
  const json_t *name = json_object_get(spec, "name");
  const json_t *limit = json_object_get(spec, "connection_limit");
  const char *owner = json_string_value(json_object_get(spec, "owner"));

  if (!*db || strlen(db) > PG_MAX_IDENT)
    return fail_op(op, PROVIDER_INVALID,
                   "postgres: database name \"%.100s\" must have 1 to %d "
                   "bytes",
                   db, PG_MAX_IDENT);
  if (name &&
      (!json_is_string(name) || strcmp(json_string_value(name), db) != 0))
    return fail_op(op, PROVIDER_INVALID,
                   "postgres: spec.name differs from the database name "
                   "\"%s\"",
                   db);
  if (!owner || !*owner || strlen(owner) > PG_MAX_IDENT)
    return fail_op(op, PROVIDER_INVALID,
                   "postgres: spec.owner must be a role name of 1 to %d "
                   "bytes",
                   PG_MAX_IDENT);
  if (!json_is_integer(limit) || json_integer_value(limit) < -1 ||
      json_integer_value(limit) > INT_MAX)
    return fail_op(op, PROVIDER_INVALID,
                   "postgres: spec.connection_limit must be an integer "
                   "from -1 to %d",
                   INT_MAX);
  op->owner = td_strdup(owner);
  op->conn_limit = (long long)json_integer_value(limit);
  op->comment = pg__make_comment(op->base.marker, spec);
  if (!op->comment || strlen(op->comment) > PG_MAX_COMMENT)
    return fail_op(op, PROVIDER_INVALID,
                   "postgres: the attributes of \"%s\" do not fit in a "
                   "comment",
                   db);
  return PROVIDER_OK;
}

/* Frees what check_spec took. */
static void pg_op_release(struct rt_op *base)
{
  struct pg_op *op = container_of(base, struct pg_op, base);

  free(op->owner);
  free(op->comment);
}

static int pg_check(struct rt_op *base, const struct resource *r)
{
  struct pg_op *op = container_of(base, struct pg_op, base);

  op->job.step = op_step;
  op->job.fail = op_fail;
  if (!r)
    return PROVIDER_OK; /* list_owned */
  if (r->type != RTYPE_DATABASE)
    return fail_op(op, PROVIDER_INVALID,
                   "postgres: only databases are managed here, not %s",
                   resource_type_name(r->type));
  return base->spec ? check_spec(op, base->spec) : PROVIDER_OK;
}

/* The turn's reads go in batches; every other op is a job of its own. */
static void pg_start(struct rt *rt, struct rt_op *ops, size_t n)
{
  struct pg *pg = container_of(rt, struct pg, rt);
  struct pg_op **reads = td_calloc(n, sizeof(*reads));
  size_t nreads = 0;
  struct rt_op *next;

  for (struct rt_op *base = ops; base; base = next) {
    struct pg_op *op = container_of(base, struct pg_op, base);

    next = base->next;
    if (base->kind == RT_READ)
      reads[nreads++] = op;
    else
      pg__submit(pg, &op->job);
  }
  for (size_t i = 0; i < nreads; i += BATCH_MAX)
    submit_batch(pg, reads + i,
                 nreads - i < BATCH_MAX ? nreads - i : BATCH_MAX);
  free(reads);
}

static void pg_closing(struct rt *rt)
{
  pg__pool_closing(container_of(rt, struct pg, rt));
}

static void pg_shutdown(struct rt *rt)
{
  pg__pool_shutdown(container_of(rt, struct pg, rt));
}

static void pg_release(struct rt *rt)
{
  struct pg *pg = container_of(rt, struct pg, rt);

  pg__conninfo_release(&pg->ci);
  free(pg->slots);
}

RT_PROVIDER(postgres_provider_ops, "postgres", struct pg, struct pg_op,
            pg_options, .open = pg_open, .check = pg_check, .start = pg_start,
            .closing = pg_closing, .shutdown = pg_shutdown,
            .release = pg_release, .op_release = pg_op_release);
