/*
 * conninfo.c - what the postgres provider reads from its connection
 * string before connecting (see internal.h): the password, to scrub it
 * from messages; "host:port" for messages; the hosts and ports, and which
 * hosts are names to look up off the loop.
 */
#include "base/compat.h"

#include <arpa/inet.h>
#include <stdio.h>

#include "providers/postgres/internal.h"

static bool is_numeric_addr(const char *host)
{
  unsigned char buf[sizeof(struct in6_addr)];

  return inet_pton(AF_INET, host, buf) == 1 ||
         inet_pton(AF_INET6, host, buf) == 1;
}

/* Splits a comma-separated conninfo list; -1 beyond PG_MAX_HOSTS. */
static int split_list(const char *s, char **out, size_t *n)
{
  for (;;) {
    size_t len = strcspn(s, ",");

    if (*n == PG_MAX_HOSTS)
      return -1;
    out[(*n)++] = td_strndup(s, len);
    if (!s[len])
      return 0;
    s += len + 1;
  }
}

/* The host and port lists, then which hosts need a lookup. */
static int take_hosts(struct pg_conninfo *ci, const char *host,
                      const char *hostaddr, const char *port)
{
  snprintf(ci->target, sizeof(ci->target), "%.200s:%.16s",
           host && *host ? host : (hostaddr ? hostaddr : "localhost"),
           port && *port ? port : "5432");
  if ((host && *host && split_list(host, ci->hosts, &ci->nhosts) < 0) ||
      (port && *port && split_list(port, ci->ports, &ci->nports) < 0))
    return -2;
  if (ci->nports > 1 && ci->nports != ci->nhosts)
    return -3;
  /* Names need a lookup off the loop; IPs, socket paths and a given
   * hostaddr do not. */
  for (size_t i = 0; !hostaddr && i < ci->nhosts; i++) {
    const char *h = ci->hosts[i];

    ci->lookup[i] = *h && h[0] != '/' && h[0] != '@' && !is_numeric_addr(h);
    ci->need_lookup |= ci->lookup[i];
  }
  return 0;
}

int pg__conninfo_parse(const char *conninfo, struct pg_conninfo *ci)
{
  PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
  const char *host = NULL, *hostaddr = NULL, *port = NULL;
  int rc;

  memset(ci, 0, sizeof(*ci));
  /* libpq's error text is not kept: it may quote the password. */
  if (!opts)
    return -1;
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    if (!o->val || !*o->val)
      continue;
    if (strcmp(o->keyword, "password") == 0)
      ci->password = td_strdup(o->val);
    else if (strcmp(o->keyword, "host") == 0)
      host = o->val;
    else if (strcmp(o->keyword, "hostaddr") == 0)
      hostaddr = o->val;
    else if (strcmp(o->keyword, "port") == 0)
      port = o->val;
  }
  /* libpq falls back on these, so the lookups must too. */
  if (!host && !hostaddr)
    host = getenv("PGHOST");
  if (!hostaddr && getenv("PGHOSTADDR") && *getenv("PGHOSTADDR"))
    hostaddr = getenv("PGHOSTADDR");
  if (!port)
    port = getenv("PGPORT");
  rc = take_hosts(ci, host, hostaddr, port);
  PQconninfoFree(opts);
  return rc;
}

void pg__conninfo_release(struct pg_conninfo *ci)
{
  if (ci->password)
    explicit_bzero(ci->password, strlen(ci->password));
  free(ci->password);
  for (size_t i = 0; i < ci->nhosts; i++)
    free(ci->hosts[i]);
  for (size_t i = 0; i < ci->nports; i++)
    free(ci->ports[i]);
  memset(ci, 0, sizeof(*ci));
}
