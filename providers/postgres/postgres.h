/*
 * postgres.h - the "postgres" provider: tenant databases on a PostgreSQL
 * cluster (tested against PostgreSQL 15).
 *
 * Each `database` resource is a role and a database of the same cluster:
 *
 *   role      LOGIN, named spec.owner, with a random password nobody is
 *             told (see "Credentials" below)
 *   database  named spec.name (the resource's external name), owned by the
 *             role, CONNECTION LIMIT spec.connection_limit
 *
 * Both carry the ownership marker in their comments (COMMENT ON ROLE and
 * COMMENT ON DATABASE):
 *
 *   managed-by=tenantd tenant=<t> id=<id>
 *
 * The database comment also records the attributes PostgreSQL has no
 * notion of (every spec key other than name, owner and connection_limit:
 * today class, ha and backup_retention_days) after the marker, as compact
 * JSON with sorted keys:
 *
 *   managed-by=tenantd tenant=acme id=database/acme.staging
 *   attrs={"backup_retention_days":30,"class":"db-g1-small","ha":false}
 *
 * (one line).  They are read back from it, so an unchanged resource diffs
 * equal, while the attributes PostgreSQL does hold (owner, connection
 * limit) are read from the catalog and their drift is seen and corrected.
 *
 * Options (the instance's entry in the controller config, borrowed):
 *
 *   {"type": "postgres",
 *    "conninfoEnv": "TENANTD_PG_CONNINFO",  the environment variable that
 *                             holds the libpq connection string (key=value
 *                             or postgresql:// URI; default variable
 *                             TENANTD_PG_CONNINFO).  It may hold a
 *                             password: it never appears in a message, a
 *                             log line, a status or a plan.
 *    "connectTimeoutMs": 5000,  a connection attempt that takes longer is
 *                             abandoned, PROVIDER_TRANSIENT (1 to 600000)
 *    "maxConnections": 4}     the pool size: at most this many
 *                             connections, and operations, at a time;
 *                             more wait in FIFO order (1 to 100)
 *
 * Unknown options, values of the wrong type or range, an unset variable
 * and a connection string libpq cannot parse make open() fail with a
 * message in err.  open() does not connect: the first operation does.
 *
 * The connecting role needs CREATEDB and CREATEROLE (or superuser).  On
 * PostgreSQL 15 a CREATEROLE role must be a member of a role to create a
 * database owned by it, so the provider grants each role it creates to
 * CURRENT_USER.
 *
 * Credentials: the role's password is 32 random hex digits (OpenSSL
 * RAND_bytes), sent to the server only as a SCRAM-SHA-256 verifier, and
 * never returned, logged or written anywhere by tenantd: nobody knows it.
 * An application obtains credentials from the operator, out of band:
 * either the operator sets a password it keeps in its own secret store
 * (`ALTER ROLE mwc_murata_staging PASSWORD '...'` as a CREATEROLE role),
 * or the server's own authentication admits the application without one
 * (pg_hba.conf `cert` with a client certificate whose CN is the role, or
 * `peer`/`trust` for local sockets).  tenantd never changes a password
 * once the role exists.  A database's outputs are
 * {"host", "port", "database", "user"}: where to connect and as whom.
 *
 * Semantics beyond provider.h:
 *   read     NOT_FOUND when the database does not exist.  spec is
 *            {name, owner (the database's owner), connection_limit
 *            (datconnlimit), and the recorded attributes}; marker is the
 *            marker part of the comment only, absent when the comment
 *            holds none.  A database with no comment at all whose owner
 *            role carries a marker reports the role's marker: it is one
 *            tenantd created and lost the connection before commenting,
 *            and the next update writes the comment.  The reads started
 *            in one loop turn share one catalog query (up to 512
 *            databases a query), each answered from its own row.
 *   create   CONFLICT, touching nothing, when the database exists without
 *            this resource's marker, or the role exists without it (or
 *            the creation races someone else's, SQLSTATE 42P04/42710).
 *            The role is created (with its comment and grant, in one
 *            transaction) when absent, then CREATE DATABASE (outside a
 *            transaction: PostgreSQL requires it), then the database
 *            comment.  A database already marked as this resource is
 *            brought to the spec instead (a re-create after a crash).
 *   update   NOT_FOUND when absent, CONFLICT unless marked as this
 *            resource; the connection limit, the owner (created first if
 *            absent, as by create) and the comment change in one
 *            transaction.
 *   remove   CONFLICT unless marked as this resource; DROP DATABASE ...
 *            WITH (FORCE), then DROP ROLE of every role whose comment is
 *            exactly this resource's marker.  NOT_FOUND when the database
 *            is gone (a marked role left behind is still dropped).
 *   list_owned  every database whose comment carries the tenant's marker,
 *            sorted by name.
 * Names (database and owner) longer than 63 bytes, which PostgreSQL would
 * silently truncate, and specs without a string owner or an integer
 * connection_limit (-1 to 2147483647) are PROVIDER_INVALID.
 *
 * Errors: a refused, broken or timed-out connection is PROVIDER_TRANSIENT
 * (the connection is dropped; a later operation reconnects), as are SQLSTATE
 * classes 08, 40, 53, 57, 58 and 55006/55P03 (object in use, lock not
 * available).  Class 28 (authentication) is PROVIDER_AUTH, 42P04/42710
 * (duplicate database or role) PROVIDER_CONFLICT, any other SQL error
 * PROVIDER_INVALID with the server's primary message.  Messages name the
 * server as host:port, never the connection string.
 *
 * Everything runs on the loop thread with libpq's non-blocking API
 * (PQconnectStart/PQconnectPoll, PQsendQuery/PQconsumeInput/PQgetResult)
 * driven by uv_poll on the connection's socket.  Host names in the
 * connection string are looked up on the libuv threadpool first (libpq's
 * own lookup would block the loop) and handed to libpq as hostaddr, every
 * address in turn.  A statement that takes longer than
 * POSTGRES_STATEMENT_TIMEOUT_MS fails PROVIDER_TRANSIENT and drops its
 * connection.  Idle connections do not keep the loop alive; one the server
 * closed is noticed and replaced before it is used.
 * close() lets operations in flight finish (queued ones fail with
 * PROVIDER_TRANSIENT "provider closing"), closes every connection and
 * handle, then calls back.
 */
#ifndef TD_POSTGRES_H
#define TD_POSTGRES_H

#include "providers/provider.h"

#define POSTGRES_DEFAULT_CONNINFO_ENV "TENANTD_PG_CONNINFO"
#define POSTGRES_STATEMENT_TIMEOUT_MS 60000

extern const struct provider_ops postgres_provider_ops;

#endif
