/*
 * test_postgres.c - the postgres provider's parts that need no server:
 * statements (built through a quoting function: here a stand-in that
 * records each call; libpq's own escaping needs a connection, and is
 * checked against the real server in tests/providers/postgres.sh),
 * catalog rows parsed into observed specs, error classes and messages,
 * the option table, and the connection string.
 */
#include "base/compat.h"

#include <stdio.h>

#include "providers/postgres/internal.h"
#include "suites.h"

#define SECRET "pw-never-shown"

/* ---- a quoting stand-in ---- */

struct quotes {
  int idents, literals;
  const char *refuse; /* a value it cannot quote, like an encoding error */
};

/* Doubles `q` inside `q`s: how PostgreSQL quotes with
 * standard_conforming_strings on and no backslash in sight. */
static char *wrap(const char *s, char q)
{
  char *out = td_calloc(1, 2 * strlen(s) + 3);
  char *o = out;

  *o++ = q;
  for (; *s; s++) {
    if (*s == q)
      *o++ = q;
    *o++ = *s;
  }
  *o = q;
  return out;
}

static char *fake_quote(void *ctx, const char *s, bool literal)
{
  struct quotes *qs = ctx;

  if (qs->refuse && strcmp(s, qs->refuse) == 0)
    return NULL;
  if (literal)
    qs->literals++;
  else
    qs->idents++;
  return wrap(s, literal ? '\'' : '"');
}

#define QUOTER(qs)    \
  {                   \
    fake_quote, &(qs) \
  }

/* ---- statements ---- */

START_TEST(statements_quote_every_name)
{
  struct quotes qs = {0};
  struct pg_quoter q = QUOTER(qs);
  char *sql;

  sql = pg__sql_createdb(&q, "acme_staging", "acme_staging", 200);
  ck_assert_str_eq(sql, "CREATE DATABASE \"acme_staging\" OWNER "
                        "\"acme_staging\" CONNECTION LIMIT 200");
  free(sql);
  sql = pg__sql_alter(&q, "db", -1, "own", "c");
  ck_assert_str_eq(sql, "ALTER DATABASE \"db\" CONNECTION LIMIT -1;"
                        " ALTER DATABASE \"db\" OWNER TO \"own\";"
                        " COMMENT ON DATABASE \"db\" IS 'c'");
  free(sql);
  sql = pg__sql_comment(&q, "db", "m");
  ck_assert_str_eq(sql, "COMMENT ON DATABASE \"db\" IS 'm'");
  free(sql);
  sql = pg__sql_grant(&q, "r");
  ck_assert_str_eq(sql, "GRANT \"r\" TO CURRENT_USER");
  free(sql);
  sql = pg__sql_dropdb(&q, "db");
  ck_assert_str_eq(sql, "DROP DATABASE \"db\" WITH (FORCE)");
  free(sql);
  ck_assert_int_eq(qs.idents, 7);
  ck_assert_int_eq(qs.literals, 2);
}
END_TEST

START_TEST(role_statement_is_one_transaction)
{
  struct quotes qs = {0};
  struct pg_quoter q = QUOTER(qs);
  char *sql = pg__sql_role(&q, "r", "SCRAM-SHA-256$4096:x", "managed-by=t");

  /* Three statements in one query string: one implicit transaction. */
  ck_assert_str_eq(sql, "CREATE ROLE \"r\" LOGIN PASSWORD "
                        "'SCRAM-SHA-256$4096:x';"
                        " COMMENT ON ROLE \"r\" IS 'managed-by=t';"
                        " GRANT \"r\" TO CURRENT_USER");
  ck_assert_int_eq(qs.idents, 1);
  ck_assert_int_eq(qs.literals, 2);
  free(sql);
}
END_TEST

START_TEST(hostile_values_stay_values)
{
  static const char *const hostile[] = {
      "a\"b; DROP DATABASE postgres; --",
      "it's",
      "back\\slash",
      "%s %n %1$s %%",
      "line\nbreak",
      "",
  };
  struct quotes qs = {0};
  struct pg_quoter q = QUOTER(qs);

  for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
    char *ident = wrap(hostile[i], '"'), *lit = wrap(hostile[i], '\'');
    char *want = td_asprintf("COMMENT ON DATABASE %s IS %s", ident, lit);
    char *sql = pg__sql_comment(&q, hostile[i], hostile[i]);

    /* Exactly the quoted forms, whatever the value holds: no format
     * directive in a value is ever interpreted. */
    ck_assert_str_eq(sql, want);
    free(sql);
    free(want);
    free(ident);
    free(lit);
  }
}
END_TEST

START_TEST(probe_and_lists)
{
  struct quotes qs = {0};
  struct pg_quoter q = QUOTER(qs);
  const char *roles[] = {"a", "b\"c"};
  char *sql;

  sql = pg__sql_probe(&q, "db", NULL);
  ck_assert_ptr_nonnull(strstr(sql, "ON d.datname = 'db'"));
  /* No role wanted: the SQL NULL, matching nothing. */
  ck_assert_ptr_nonnull(strstr(sql, "ON r.rolname = NULL"));
  free(sql);
  sql = pg__sql_probe(&q, "db", "o'wner");
  ck_assert_ptr_nonnull(strstr(sql, "ON r.rolname = 'o''wner'"));
  free(sql);
  sql = pg__sql_find_roles(&q, "managed-by=tenantd tenant=t id=x");
  ck_assert_ptr_nonnull(
      strstr(sql, "= 'managed-by=tenantd tenant=t id=x' ORDER BY rolname"));
  free(sql);
  sql = pg__sql_drop_roles(&q, roles, 2);
  ck_assert_str_eq(sql, "DROP ROLE \"a\", \"b\"\"c\"");
  free(sql);
  sql = pg__sql_list();
  ck_assert_ptr_nonnull(strstr(sql, "LIKE 'managed-by=tenantd %'"));
  free(sql);
}
END_TEST

START_TEST(unquotable_value_builds_nothing)
{
  struct quotes qs = {.refuse = "bad"};
  struct pg_quoter q = QUOTER(qs);
  const char *roles[] = {"ok", "bad", "ok2"};

  /* Whichever position the value holds; nothing leaks (ASan). */
  ck_assert_ptr_null(pg__sql_createdb(&q, "bad", "r", 1));
  ck_assert_ptr_null(pg__sql_createdb(&q, "db", "bad", 1));
  ck_assert_ptr_null(pg__sql_alter(&q, "db", 1, "r", "bad"));
  ck_assert_ptr_null(pg__sql_role(&q, "r", "v", "bad"));
  ck_assert_ptr_null(pg__sql_probe(&q, "db", "bad"));
  ck_assert_ptr_null(pg__sql_drop_roles(&q, roles, 3));
}
END_TEST

START_TEST(read_batch_names_are_parameters)
{
  char *sql = pg__sql_read_batch(3);

  /* One row per name, in the order given, whether it exists or not; the
   * names are parameters, never in the text. */
  ck_assert_ptr_nonnull(
      strstr(sql, "FROM (VALUES (1, $1::pg_catalog.name), "
                  "(2, $2::pg_catalog.name), (3, $3::pg_catalog.name)) "
                  "AS a(i, n) LEFT JOIN pg_catalog.pg_database d ON "
                  "d.datname = a.n ORDER BY a.i"));
  ck_assert_ptr_null(strstr(sql, "$4"));
  free(sql);
  sql = pg__sql_read_batch(512);
  ck_assert_ptr_nonnull(strstr(sql, "(512, $512::pg_catalog.name)) AS a"));
  free(sql);
}
END_TEST

/* ---- catalog rows ---- */

/* A result of probe rows without a server; NULL cells are NULLs. */
static PGresult *probe_result(const char *const (*rows)[9], int n)
{
  PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
  PGresAttDesc attrs[9];

  memset(attrs, 0, sizeof(attrs));
  for (int i = 0; i < 9; i++) {
    attrs[i].name = (char *)"c";
    attrs[i].typid = 25; /* text */
    attrs[i].typlen = -1;
    attrs[i].atttypmod = -1;
  }
  ck_assert_int_eq(PQsetResultAttrs(res, 9, attrs), 1);
  for (int r = 0; r < n; r++)
    for (int c = 0; c < 9; c++)
      ck_assert_int_eq(PQsetvalue(res, r, c, (char *)rows[r][c],
                                  rows[r][c] ? (int)strlen(rows[r][c]) : -1),
                       1);
  return res;
}

static json_t *desired_spec(void)
{
  return json_pack("{s:s, s:s, s:i, s:s, s:b, s:i}", "name", "acme_staging",
                   "owner", "acme_staging", "connection_limit", 200, "class",
                   "db-g1-small", "ha", 0, "backup_retention_days", 30);
}

#define MARKER "managed-by=tenantd tenant=acme id=database/acme.staging"

START_TEST(comment_records_the_other_attributes)
{
  json_t *spec = desired_spec();
  char *comment = pg__make_comment(MARKER, spec);

  /* Compact, sorted: the same spec always writes the same comment. */
  ck_assert_str_eq(comment, MARKER " attrs={\"backup_retention_days\":30,"
                                   "\"class\":\"db-g1-small\",\"ha\":false}");
  free(comment);
  json_decref(spec);
}
END_TEST

START_TEST(unchanged_database_reads_as_desired)
{
  json_t *spec = desired_spec();
  char *comment = pg__make_comment(MARKER, spec);
  const char *const rows[1][9] = {{"t", "acme_staging", "200", comment, MARKER,
                                   "f", NULL, "f", "acme_staging"}};
  PGresult *res = probe_result(rows, 1);
  struct pg_probe p;
  json_t *obs;
  const json_t *out;

  ck_assert_int_eq(pg__probe_parse(res, 0, &p), 0);
  ck_assert(p.db && !p.role && !p.member);
  ck_assert_int_eq(p.conn_limit, 200);
  ck_assert_ptr_null(p.role_comment);
  obs = pg__observed(&p, "db.example", 5433);
  /* What the diff compares: equal to the desired spec, so no change. */
  ck_assert(json_equal(json_object_get(obs, "spec"), spec));
  ck_assert_str_eq(json_string_value(json_object_get(obs, "marker")), MARKER);
  out = json_object_get(obs, "outputs");
  ck_assert_str_eq(json_string_value(json_object_get(out, "host")),
                   "db.example");
  ck_assert_int_eq(json_integer_value(json_object_get(out, "port")), 5433);
  ck_assert_str_eq(json_string_value(json_object_get(out, "user")),
                   "acme_staging");
  json_decref(obs);
  PQclear(res);
  free(comment);
  json_decref(spec);
}
END_TEST

/* The observed object of one probe row (db present). */
static json_t *observe_row(const char *db_comment, const char *owner_comment)
{
  const char *const rows[1][9] = {
      {"t", "own", "-1", db_comment, owner_comment, "f", NULL, "f", "db"}};
  PGresult *res = probe_result(rows, 1);
  struct pg_probe p;
  json_t *obs;

  ck_assert_int_eq(pg__probe_parse(res, 0, &p), 0);
  obs = pg__observed(&p, NULL, 5432);
  PQclear(res);
  return obs;
}

START_TEST(what_a_comment_may_say)
{
  json_t *obs, *want;

  /* Attributes PostgreSQL holds itself are read from the catalog, never
   * from the comment. */
  obs = observe_row(MARKER " attrs={\"owner\":\"x\",\"connection_limit\":9,"
                           "\"class\":\"c\"}",
                    NULL);
  want = json_pack("{s:s, s:s, s:i, s:s}", "name", "db", "owner", "own",
                   "connection_limit", -1, "class", "c");
  ck_assert(json_equal(json_object_get(obs, "spec"), want));
  json_decref(want);
  json_decref(obs);
  /* Unreadable attributes read as absent; the marker still counts. */
  obs = observe_row(MARKER " attrs={broken", NULL);
  ck_assert_int_eq(json_object_size(json_object_get(obs, "spec")), 3);
  ck_assert_ptr_nonnull(json_object_get(obs, "marker"));
  json_decref(obs);
  /* A hand-written comment: no marker, even with a marked owner. */
  obs = observe_row("made by hand", MARKER);
  ck_assert_ptr_null(json_object_get(obs, "marker"));
  json_decref(obs);
  /* No comment at all: the owner role's marker (a lost COMMENT). */
  obs = observe_row(NULL, MARKER);
  ck_assert_str_eq(json_string_value(json_object_get(obs, "marker")), MARKER);
  ck_assert_int_eq(json_object_size(json_object_get(obs, "spec")), 3);
  json_decref(obs);
  obs = observe_row("", MARKER);
  ck_assert_ptr_nonnull(json_object_get(obs, "marker"));
  json_decref(obs);
  obs = observe_row(NULL, NULL);
  ck_assert_ptr_null(json_object_get(obs, "marker"));
  json_decref(obs);
}
END_TEST

START_TEST(probe_shapes)
{
  const char *const rows[2][9] = {
      {"f", NULL, NULL, NULL, NULL, "t", MARKER, "t", NULL},
      {"t", "o", "5", NULL, NULL, "f", NULL, "f", "d"},
  };
  PGresult *res = probe_result(rows, 2);
  PGresult *empty = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
  struct pg_probe p;

  ck_assert_int_eq(pg__probe_parse(res, 0, &p), 0);
  ck_assert(!p.db && p.role && p.member);
  ck_assert_ptr_null(p.datname);
  ck_assert_str_eq(p.role_comment, MARKER);
  ck_assert_int_eq(pg__probe_parse(res, 1, &p), 0);
  ck_assert_str_eq(p.datname, "d");
  ck_assert_int_eq(pg__probe_parse(res, 2, &p), -1);
  ck_assert_int_eq(pg__probe_parse(res, -1, &p), -1);
  ck_assert_int_eq(pg__probe_parse(empty, 0, &p), -1);
  PQclear(empty);
  PQclear(res);
}
END_TEST

START_TEST(markers)
{
  char marker[RESOURCE_MARKER_MAX], tenant[RESOURCE_MARKER_MAX];
  char id[RESOURCE_MARKER_MAX];

  ck_assert(pg__parse_marker(MARKER " attrs={}", marker, tenant, id));
  ck_assert_str_eq(marker, MARKER);
  ck_assert_str_eq(tenant, "acme");
  ck_assert_str_eq(id, "database/acme.staging");
  ck_assert(!pg__parse_marker(NULL, marker, tenant, id));
  ck_assert(!pg__parse_marker("managed-by=someone-else tenant=a id=b", marker,
                              tenant, id));
}
END_TEST

/* ---- errors and messages ---- */

START_TEST(error_classes)
{
  ck_assert_int_eq(pg__class_of(NULL), PROVIDER_TRANSIENT);
  ck_assert_int_eq(pg__class_of("28P01"), PROVIDER_AUTH);
  ck_assert_int_eq(pg__class_of("42P04"), PROVIDER_CONFLICT);
  ck_assert_int_eq(pg__class_of("42710"), PROVIDER_CONFLICT);
  ck_assert_int_eq(pg__class_of("08006"), PROVIDER_TRANSIENT);
  ck_assert_int_eq(pg__class_of("40001"), PROVIDER_TRANSIENT);
  ck_assert_int_eq(pg__class_of("53300"), PROVIDER_TRANSIENT);
  ck_assert_int_eq(pg__class_of("57P01"), PROVIDER_TRANSIENT);
  ck_assert_int_eq(pg__class_of("55006"), PROVIDER_TRANSIENT);
  ck_assert_int_eq(pg__class_of("55P03"), PROVIDER_TRANSIENT);
  ck_assert_int_eq(pg__class_of("55000"), PROVIDER_INVALID);
  ck_assert_int_eq(pg__class_of("3D000"), PROVIDER_INVALID);
  ck_assert_int_eq(pg__class_of("42601"), PROVIDER_INVALID);
  ck_assert_int_eq(pg__class_of("4260"), PROVIDER_TRANSIENT);
}
END_TEST

START_TEST(connect_messages)
{
  char out[RT_MESSAGE_MAX], state[6];

  pg__connect_error("connection to server at \"127.0.0.1\", port 5 failed: "
                    "FATAL:  28P01: password authentication failed for user "
                    "\"tenantd\"\n",
                    out, sizeof(out), state);
  ck_assert_str_eq(state, "28P01");
  ck_assert_str_eq(out, "connection to server at \"127.0.0.1\", port 5 "
                        "failed: FATAL:  password authentication failed for "
                        "user \"tenantd\"");
  pg__connect_error("connection to server at \"127.0.0.1\", port 5 failed: "
                    "Connection refused\n\tIs the server running?\n",
                    out, sizeof(out), state);
  ck_assert_str_eq(state, "");
  ck_assert_str_eq(out, "connection to server at \"127.0.0.1\", port 5 "
                        "failed: Connection refused");
  pg__first_line(out, sizeof(out), "syntax error.  \nmore");
  ck_assert_str_eq(out, "syntax error");
  pg__first_line(out, sizeof(out), NULL);
  ck_assert_str_eq(out, "unknown error");
}
END_TEST

START_TEST(batch_failure_told_per_read)
{
  char out[RT_MESSAGE_MAX];

  pg__retarget(out, sizeof(out),
               "postgres: h:5432: cannot read 3 databases: timed out after "
               "60000 ms",
               "cannot read 3 databases", "cannot read database \"a\"");
  ck_assert_str_eq(out, "postgres: h:5432: cannot read database \"a\": timed "
                        "out after 60000 ms");
  /* A failure that names no statement (a refused connection) stays. */
  pg__retarget(out, sizeof(out), "postgres: connection refused",
               "cannot read 3 databases", "cannot read database \"a\"");
  ck_assert_str_eq(out, "postgres: connection refused");
  pg__retarget(out, sizeof(out), "provider closing", "", "x");
  ck_assert_str_eq(out, "provider closing");
}
END_TEST

START_TEST(secrets_are_scrubbed)
{
  char buf[128];

  snprintf(buf, sizeof(buf), "a " SECRET " b " SECRET);
  pg__scrub(buf, SECRET);
  ck_assert_str_eq(buf, "a *** b ***");
  /* Too short to tell from ordinary text: left alone. */
  snprintf(buf, sizeof(buf), "a b");
  pg__scrub(buf, "a");
  ck_assert_str_eq(buf, "a b");
  pg__scrub(buf, NULL);
  ck_assert_str_eq(buf, "a b");
}
END_TEST

/* ---- options ---- */

/* The variables a test changes, as they were before it (CK_FORK=no runs
 * every test in one process). */
static const char *const saved_names[] = {POSTGRES_DEFAULT_CONNINFO_ENV,
                                          "PGHOST", "PGPORT", "PGHOSTADDR"};
static char *saved[ARRAY_SIZE(saved_names)];

static void env_save(void)
{
  for (size_t i = 0; i < ARRAY_SIZE(saved_names); i++) {
    const char *v = getenv(saved_names[i]);

    saved[i] = v ? td_strdup(v) : NULL;
  }
}

static void env_restore(void)
{
  for (size_t i = 0; i < ARRAY_SIZE(saved_names); i++) {
    if (saved[i])
      setenv(saved_names[i], saved[i], 1);
    else
      unsetenv(saved_names[i]);
    free(saved[i]);
    saved[i] = NULL;
  }
}

static void on_closed(struct provider *p, void *arg)
{
  (void)p;
  *(bool *)arg = true;
}

/* Opens with `config` (JSON text); returns provider_open's result, the
 * message in err.  An instance that opened is closed again, and the
 * loop must end with nothing left on it. */
static int try_open(const char *config, char *err, size_t errcap)
{
  uv_loop_t loop;
  struct provider *p = NULL;
  json_t *cfg = json_loads(config, 0, NULL);
  int rc;

  ck_assert_ptr_nonnull(cfg);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  err[0] = '\0';
  rc = provider_open(&p, &postgres_provider_ops, "pg", cfg, &loop, err, errcap);
  if (rc == 0) {
    bool closed = false;

    provider_close(p, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(closed);
  }
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  json_decref(cfg);
  return rc;
}

static void expect_refused(const char *config, const char *want)
{
  char err[512];

  ck_assert_int_eq(try_open(config, err, sizeof(err)), -1);
  ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
  ck_assert_msg(strstr(err, SECRET) == NULL, "'%s' shows the secret", err);
}

START_TEST(options_are_checked)
{
  char err[512];

  setenv("TD_TEST_PG", "host=127.0.0.1 port=1 password=" SECRET, 1);
  unsetenv("TD_TEST_PG_UNSET");
  ck_assert_int_eq(
      try_open("{\"type\": \"postgres\", \"conninfoEnv\": \"TD_TEST_PG\", "
               "\"connectTimeoutMs\": 1, \"maxConnections\": 100}",
               err, sizeof(err)),
      0);
  expect_refused("{\"conninfoEnv\": \"TD_TEST_PG\", \"poolSize\": 2}",
                 "postgres: unknown option 'poolSize'");
  expect_refused("{\"conninfoEnv\": \"TD_TEST_PG\", \"maxConnection\": 2}",
                 "(did you mean 'maxConnections'?)");
  expect_refused("{\"conninfoEnv\": \"TD_TEST_PG\", \"maxConnections\": 101}",
                 "postgres: maxConnections must be an integer between 1 "
                 "and 100");
  expect_refused("{\"conninfoEnv\": \"TD_TEST_PG\", \"connectTimeoutMs\": 0}",
                 "postgres: connectTimeoutMs must be an integer between 1 "
                 "and 600000");
  expect_refused("{\"conninfoEnv\": \"TD_TEST_PG\", "
                 "\"connectTimeoutMs\": \"5s\"}",
                 "connectTimeoutMs must be an integer");
  expect_refused("{\"conninfoEnv\": \"\"}",
                 "postgres: conninfoEnv must name an environment variable");
  expect_refused("{\"conninfoEnv\": \"TD_TEST_PG_UNSET\"}",
                 "postgres: the environment variable TD_TEST_PG_UNSET "
                 "(conninfoEnv) is not set; it must hold the libpq "
                 "connection string");
  expect_refused("[]", "postgres: the config must be an object");
  unsetenv("TD_TEST_PG");
}
END_TEST

START_TEST(default_variable)
{
  char err[512];

  unsetenv(POSTGRES_DEFAULT_CONNINFO_ENV);
  expect_refused("{}", "the environment variable " POSTGRES_DEFAULT_CONNINFO_ENV
                       " (conninfoEnv) is not set");
  setenv(POSTGRES_DEFAULT_CONNINFO_ENV, "dbname=x", 1);
  ck_assert_int_eq(try_open("{}", err, sizeof(err)), 0);
  unsetenv(POSTGRES_DEFAULT_CONNINFO_ENV);
}
END_TEST

START_TEST(bad_connection_strings)
{
  static const char cfg[] = "{\"conninfoEnv\": \"TD_TEST_PG\"}";

  /* libpq's own message may quote the password: not shown. */
  setenv("TD_TEST_PG", "host=h password='" SECRET, 1);
  expect_refused(cfg, "the connection string in TD_TEST_PG is not valid for "
                      "libpq (not shown: it may hold a password)");
  setenv("TD_TEST_PG", "postgresql://u:" SECRET "@h/db?nosuchoption=1", 1);
  expect_refused(cfg, "not valid for libpq");
  setenv("TD_TEST_PG", "host=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", 1);
  expect_refused(cfg, "lists more than 16 hosts or ports");
  setenv("TD_TEST_PG", "host=a,b,c port=1,2", 1);
  expect_refused(cfg, "the connection string in TD_TEST_PG lists 2 ports "
                      "for 3 hosts");
  unsetenv("TD_TEST_PG");
}
END_TEST

/* ---- the connection string ---- */

START_TEST(conninfo_hosts_and_ports)
{
  struct pg_conninfo ci;

  ck_assert_int_eq(
      pg__conninfo_parse("host=db.example,10.0.0.2,/run/pg port=6000 "
                         "user=u password=" SECRET,
                         &ci),
      0);
  ck_assert_str_eq(ci.password, SECRET);
  ck_assert_str_eq(ci.target, "db.example,10.0.0.2,/run/pg:6000");
  ck_assert_uint_eq(ci.nhosts, 3);
  ck_assert_uint_eq(ci.nports, 1);
  /* Only names are looked up: not addresses, not socket directories. */
  ck_assert(ci.lookup[0] && !ci.lookup[1] && !ci.lookup[2]);
  ck_assert(ci.need_lookup);
  pg__conninfo_release(&ci);

  ck_assert_int_eq(pg__conninfo_parse(
                       "postgresql://u:" SECRET "@[::1]:5433,h2:5434/db", &ci),
                   0);
  ck_assert_str_eq(ci.password, SECRET);
  ck_assert_uint_eq(ci.nhosts, 2);
  ck_assert_uint_eq(ci.nports, 2);
  ck_assert_str_eq(ci.ports[1], "5434");
  ck_assert(!ci.lookup[0] && ci.lookup[1]);
  pg__conninfo_release(&ci);

  /* A given hostaddr: libpq looks nothing up, nor do we. */
  ck_assert_int_eq(pg__conninfo_parse("host=db.example hostaddr=10.0.0.9", &ci),
                   0);
  ck_assert(!ci.need_lookup);
  ck_assert_ptr_null(ci.password);
  pg__conninfo_release(&ci);
}
END_TEST

START_TEST(conninfo_environment)
{
  struct pg_conninfo ci;

  unsetenv("PGHOSTADDR");
  setenv("PGHOST", "envhost", 1);
  setenv("PGPORT", "6543", 1);
  ck_assert_int_eq(pg__conninfo_parse("dbname=x", &ci), 0);
  ck_assert_str_eq(ci.target, "envhost:6543");
  ck_assert(ci.need_lookup);
  pg__conninfo_release(&ci);
  setenv("PGHOSTADDR", "10.1.1.1", 1);
  ck_assert_int_eq(pg__conninfo_parse("dbname=x", &ci), 0);
  ck_assert(!ci.need_lookup);
  pg__conninfo_release(&ci);
  unsetenv("PGHOST");
  unsetenv("PGPORT");
  unsetenv("PGHOSTADDR");
  ck_assert_int_eq(pg__conninfo_parse("dbname=x", &ci), 0);
  ck_assert_str_eq(ci.target, "localhost:5432");
  ck_assert_uint_eq(ci.nhosts, 0);
  pg__conninfo_release(&ci);
}
END_TEST

Suite *make_suite_postgres(void)
{
  Suite *s = suite_create("postgres");
  TCase *tc = tcase_create("core");

  tcase_add_checked_fixture(tc, env_save, env_restore);
  tcase_add_test(tc, statements_quote_every_name);
  tcase_add_test(tc, role_statement_is_one_transaction);
  tcase_add_test(tc, hostile_values_stay_values);
  tcase_add_test(tc, probe_and_lists);
  tcase_add_test(tc, unquotable_value_builds_nothing);
  tcase_add_test(tc, read_batch_names_are_parameters);
  tcase_add_test(tc, comment_records_the_other_attributes);
  tcase_add_test(tc, unchanged_database_reads_as_desired);
  tcase_add_test(tc, what_a_comment_may_say);
  tcase_add_test(tc, probe_shapes);
  tcase_add_test(tc, markers);
  tcase_add_test(tc, error_classes);
  tcase_add_test(tc, connect_messages);
  tcase_add_test(tc, batch_failure_told_per_read);
  tcase_add_test(tc, secrets_are_scrubbed);
  tcase_add_test(tc, options_are_checked);
  tcase_add_test(tc, default_variable);
  tcase_add_test(tc, bad_connection_strings);
  tcase_add_test(tc, conninfo_hosts_and_ports);
  tcase_add_test(tc, conninfo_environment);
  suite_add_tcase(s, tc);
  return s;
}
