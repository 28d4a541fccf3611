/*
 * sql.c - the postgres provider's statements, catalog rows and messages
 * (see internal.h): nothing here talks to a server.
 *
 * Every name and text that goes into a statement goes through the
 * caller's quoting function (libpq's escaping, which depends on the
 * connection's encoding and settings); a read batch sends its names as
 * parameters, unquoted.
 */
#include "base/compat.h"

#include <stdio.h>

#include "providers/postgres/internal.h"

/* ---- statements ---- */

/* The probe's columns about the database and its owner. */
#define DB_COLUMNS                                       \
  "SELECT d.oid IS NOT NULL,"                            \
  " pg_catalog.pg_get_userbyid(d.datdba),"               \
  " d.datconnlimit,"                                     \
  " pg_catalog.shobj_description(d.oid, 'pg_database')," \
  " pg_catalog.shobj_description(d.datdba, 'pg_authid'),"

/* How a value goes into a statement. */
enum qhow { Q_IDENT, Q_LITERAL, Q_RAW };

struct qarg {
  const char *s; /* NULL: the SQL NULL */
  enum qhow how;
};

static void free_all(char **v, size_t n)
{
  /* A statement may carry a password verifier: no copy is left behind. */
  for (size_t i = 0; i < n; i++) {
    if (v[i])
      explicit_bzero(v[i], strlen(v[i]));
    free(v[i]);
    v[i] = NULL;
  }
}

static char *quote_one(const struct pg_quoter *q, const struct qarg *a)
{
  if (!a->s)
    return td_strdup("NULL");
  if (a->how == Q_RAW)
    return td_strdup(a->s);
  return q->quote(q->ctx, a->s, a->how == Q_LITERAL);
}

/*
 * The statement `fmt` with its %1$s .. %4$s replaced by the values of
 * `args` (at most four), each quoted as it says; NULL when one cannot
 * be quoted.
 */
static char *build(const struct pg_quoter *q, const char *fmt,
                   const struct qarg *args, size_t n)
{
  char *v[4] = {NULL, NULL, NULL, NULL};
  char *sql = NULL;

  assert(n <= ARRAY_SIZE(v));
  for (size_t i = 0; i < n; i++) {
    v[i] = quote_one(q, &args[i]);
    if (!v[i])
      goto out;
  }
  sql = td_asprintf(fmt, v[0], v[1], v[2], v[3]);
out:
  free_all(v, n);
  return sql;
}

#define BUILD(q, fmt, ...)                              \
  build((q), (fmt), (const struct qarg[]){__VA_ARGS__}, \
        sizeof((const struct qarg[]){__VA_ARGS__}) / sizeof(struct qarg))

/* The probe: always one row, whether or not the database and role exist. */
char *pg__sql_probe(const struct pg_quoter *q, const char *db, const char *role)
{
  return BUILD(q,
               DB_COLUMNS
               " r.oid IS NOT NULL,"
               " pg_catalog.shobj_description(r.oid, 'pg_authid'),"
               " COALESCE(pg_catalog.pg_has_role(r.oid, 'MEMBER'), false),"
               " d.datname"
               " FROM (VALUES (1)) AS one(x)"
               " LEFT JOIN pg_catalog.pg_database d ON d.datname = %1$s"
               " LEFT JOIN pg_catalog.pg_roles r ON r.rolname = %2$s",
               {db, Q_LITERAL}, {role, Q_LITERAL});
}

/*
 * The probe's columns for n databases named by $1..$n: one row each, in
 * parameter order, whether or not it exists (the role columns empty).
 * A name is cast to `name` as a literal would be, so it matches as the
 * single probe does.
 */
char *pg__sql_read_batch(size_t n)
{
  static const char head[] =
      DB_COLUMNS " false, NULL, false, d.datname FROM (VALUES ";
  static const char tail[] =
      ") AS a(i, n) LEFT JOIN pg_catalog.pg_database d ON d.datname = a.n"
      " ORDER BY a.i";
  size_t cap = sizeof(head) + sizeof(tail) + n * 48;
  char *sql = td_calloc(1, cap);
  size_t len = (size_t)snprintf(sql, cap, "%s", head);

  for (size_t i = 1; i <= n; i++)
    len +=
        (size_t)snprintf(sql + len, cap - len, "%s(%zu, $%zu::pg_catalog.name)",
                         i > 1 ? ", " : "", i, i);
  snprintf(sql + len, cap - len, "%s", tail);
  return sql;
}

/* One implicit transaction: a role never exists without its marker. */
char *pg__sql_role(const struct pg_quoter *q, const char *role,
                   const char *verifier, const char *marker)
{
  return BUILD(q,
               "CREATE ROLE %1$s LOGIN PASSWORD %2$s;"
               " COMMENT ON ROLE %1$s IS %3$s;"
               " GRANT %1$s TO CURRENT_USER",
               {role, Q_IDENT}, {verifier, Q_LITERAL}, {marker, Q_LITERAL});
}

char *pg__sql_grant(const struct pg_quoter *q, const char *role)
{
  return BUILD(q, "GRANT %1$s TO CURRENT_USER", {role, Q_IDENT});
}

/* Alone: PostgreSQL refuses CREATE DATABASE inside a transaction. */
char *pg__sql_createdb(const struct pg_quoter *q, const char *db,
                       const char *role, long long conn_limit)
{
  char limit[24];

  snprintf(limit, sizeof(limit), "%lld", conn_limit);
  return BUILD(q, "CREATE DATABASE %1$s OWNER %2$s CONNECTION LIMIT %3$s",
               {db, Q_IDENT}, {role, Q_IDENT}, {limit, Q_RAW});
}

char *pg__sql_comment(const struct pg_quoter *q, const char *db,
                      const char *comment)
{
  return BUILD(q, "COMMENT ON DATABASE %1$s IS %2$s", {db, Q_IDENT},
               {comment, Q_LITERAL});
}

/* One implicit transaction; OWNER TO the current owner is a no-op. */
char *pg__sql_alter(const struct pg_quoter *q, const char *db,
                    long long conn_limit, const char *role, const char *comment)
{
  char limit[24];

  snprintf(limit, sizeof(limit), "%lld", conn_limit);
  return BUILD(q,
               "ALTER DATABASE %1$s CONNECTION LIMIT %4$s;"
               " ALTER DATABASE %1$s OWNER TO %2$s;"
               " COMMENT ON DATABASE %1$s IS %3$s",
               {db, Q_IDENT}, {role, Q_IDENT}, {comment, Q_LITERAL},
               {limit, Q_RAW});
}

char *pg__sql_dropdb(const struct pg_quoter *q, const char *db)
{
  return BUILD(q, "DROP DATABASE %1$s WITH (FORCE)", {db, Q_IDENT});
}

char *pg__sql_find_roles(const struct pg_quoter *q, const char *marker)
{
  return BUILD(q,
               "SELECT rolname FROM pg_catalog.pg_roles"
               " WHERE pg_catalog.shobj_description(oid,"
               " 'pg_authid') = %1$s ORDER BY rolname",
               {marker, Q_LITERAL});
}

char *pg__sql_drop_roles(const struct pg_quoter *q, const char *const *roles,
                         size_t n)
{
  char **v = td_calloc(n ? n : 1, sizeof(*v));
  size_t len = sizeof("DROP ROLE ");
  char *sql = NULL;

  for (size_t i = 0; i < n; i++) {
    v[i] = q->quote(q->ctx, roles[i], false);
    if (!v[i])
      goto out;
    len += strlen(v[i]) + 2;
  }
  sql = td_calloc(1, len);
  strcpy(sql, "DROP ROLE ");
  for (size_t i = 0; i < n; i++) {
    if (i)
      strcat(sql, ", ");
    strcat(sql, v[i]);
  }
out:
  free_all(v, n);
  free(v);
  return sql;
}

char *pg__sql_list(void)
{
  return td_strdup("SELECT datname,"
                   " pg_catalog.shobj_description(oid, 'pg_database')"
                   " FROM pg_catalog.pg_database"
                   " WHERE pg_catalog.shobj_description(oid,"
                   " 'pg_database') LIKE 'managed-by=tenantd %'"
                   " ORDER BY datname");
}

/* ---- catalog rows ---- */

static const char *cell(const PGresult *res, int row, int col)
{
  return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static bool is_true(const PGresult *res, int row, int col)
{
  return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

int pg__probe_parse(const PGresult *res, int row, struct pg_probe *p)
{
  if (row < 0 || row >= PQntuples(res) || PQnfields(res) != 9)
    return -1;
  memset(p, 0, sizeof(*p));
  p->db = is_true(res, row, 0);
  p->db_owner = cell(res, row, 1);
  p->conn_limit = cell(res, row, 2) ? strtoll(cell(res, row, 2), NULL, 10) : 0;
  p->db_comment = cell(res, row, 3);
  p->owner_comment = cell(res, row, 4);
  p->role = is_true(res, row, 5);
  p->role_comment = cell(res, row, 6);
  p->member = is_true(res, row, 7);
  p->datname = cell(res, row, 8);
  return 0;
}

bool pg__parse_marker(const char *comment, char *marker, char *tenant, char *id)
{
  if (!comment || resource_marker_parse(comment, tenant, RESOURCE_MARKER_MAX,
                                        id, RESOURCE_MARKER_MAX) < 0)
    return false;
  if (strlen(tenant) + strlen(id) + 40 > RESOURCE_MARKER_MAX)
    return false;
  resource_marker(marker, tenant, id);
  return true;
}

bool pg__db_marker(const struct pg_probe *p, char *marker, bool *from_comment)
{
  char tenant[RESOURCE_MARKER_MAX], id[RESOURCE_MARKER_MAX];

  *from_comment = false;
  if (p->db_comment && *p->db_comment) {
    *from_comment = pg__parse_marker(p->db_comment, marker, tenant, id);
    return *from_comment;
  }
  return pg__parse_marker(p->owner_comment, marker, tenant, id);
}

/* The spec keys PostgreSQL holds itself; the others live in the comment. */
static bool is_real_attr(const char *key)
{
  return strcmp(key, "name") == 0 || strcmp(key, "owner") == 0 ||
         strcmp(key, "connection_limit") == 0;
}

/* The attributes recorded after the marker, into `spec`.  Unreadable
 * ones read as absent: the next update rewrites them. */
static void take_attrs(json_t *spec, const char *comment)
{
  const char *a = strstr(comment, " attrs=");
  json_t *attrs = a ? json_loads(a + 7, JSON_REJECT_DUPLICATES, NULL) : NULL;
  const char *key;
  json_t *v;

  if (json_is_object(attrs)) {
    json_object_foreach(attrs, key, v)
    {
      if (!is_real_attr(key))
        json_object_set(spec, key, v);
    }
  }
  json_decref(attrs);
}

json_t *pg__observed(const struct pg_probe *p, const char *host, int port)
{
  char marker[RESOURCE_MARKER_MAX];
  bool from_comment;
  bool marked = pg__db_marker(p, marker, &from_comment);
  const char *name = p->datname ? p->datname : "";
  const char *owner = p->db_owner ? p->db_owner : "";
  json_t *spec, *obs;

  spec = json_pack("{s:s, s:s, s:I}", "name", name, "owner", owner,
                   "connection_limit", (json_int_t)p->conn_limit);
  if (marked && from_comment)
    take_attrs(spec, p->db_comment);
  obs = json_pack("{s:o, s:{s:s, s:i, s:s, s:s}}", "spec", spec, "outputs",
                  "host", host ? host : "", "port", port, "database", name,
                  "user", owner);
  if (marked)
    json_object_set_new(obs, "marker", json_string(marker));
  return obs;
}

char *pg__make_comment(const char *marker, const json_t *spec)
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

/* ---- errors and messages ---- */

int pg__class_of(const char *sqlstate)
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

void pg__first_line(char *out, size_t cap, const char *msg)
{
  size_t n = msg ? strcspn(msg, "\n") : 0;

  while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t' ||
                   msg[n - 1] == '\r' || msg[n - 1] == '.'))
    n--;
  if (n == 0)
    snprintf(out, cap, "unknown error");
  else
    snprintf(out, cap, "%.*s", (int)n, msg);
}

static bool is_state_char(char ch)
{
  return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z');
}

/*
 * A failed connection has no PGresult to ask for its SQLSTATE, so the
 * connection is made with verbose errors, where libpq writes the server's
 * "SEVERITY:  SQLSTATE: message".  The state is cut out of the text.
 */
void pg__connect_error(const char *msg, char *out, size_t cap, char state[6])
{
  char line[RT_MESSAGE_MAX];
  char *p;

  pg__first_line(line, sizeof(line), msg);
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

void pg__retarget(char *out, size_t cap, const char *msg, const char *what,
                  const char *own)
{
  const char *at = *what ? strstr(msg, what) : NULL;

  if (!at)
    snprintf(out, cap, "%s", msg);
  else
    snprintf(out, cap, "%.*s%s%s", (int)(at - msg), msg, own,
             at + strlen(what));
}

void pg__scrub(char *buf, const char *secret)
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
