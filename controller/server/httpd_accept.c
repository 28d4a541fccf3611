/*
 * httpd_accept.c - who gets a slot (see httpd.h's limits): regular slots
 * bounded in all and per address, and reserved slots for the health
 * paths that a flood of connections cannot keep a health check out of.
 */
#include "base/compat.h"

#include <arpa/inet.h>
#include <stdio.h>

#include "server/httpd.h"
#include "server/httpd_internal.h"

/* "1.2.3.4:5" or "[::1]:5"; the port alone when `text` is NULL. */
int httpd__format_addr(const struct sockaddr_storage *ss, char *text,
                       size_t size)
{
  char ip[INET6_ADDRSTRLEN] = "";
  int port = -1;

  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

    uv_ip4_name(in, ip, sizeof(ip));
    port = ntohs(in->sin_port);
    if (text)
      snprintf(text, size, "%s:%d", ip, port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

    uv_ip6_name(in6, ip, sizeof(ip));
    port = ntohs(in6->sin6_port);
    if (text)
      snprintf(text, size, "[%s]:%d", ip, port);
  }
  return port;
}

static void name_peer(struct conn *c)
{
  struct sockaddr_storage ss;
  int len = sizeof(ss);

  snprintf(c->peer, sizeof(c->peer), "unknown");
  snprintf(c->ip, sizeof(c->ip), "unknown");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
    return;
  httpd__format_addr(&ss, c->peer, sizeof(c->peer));
  if (ss.ss_family == AF_INET)
    uv_ip4_name((const struct sockaddr_in *)&ss, c->ip, sizeof(c->ip));
  else if (ss.ss_family == AF_INET6) {
    /* One host may own a whole /64: count its prefix, not each address. */
    const uint8_t *a = ((const struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;

    snprintf(c->ip, sizeof(c->ip), "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64",
             a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
  }
}

/*
 * Whether c may have a regular slot: fewer than max_connections taken,
 * and fewer than max_per_peer from its address.  The list is at most
 * max_connections + reserved_slots long.
 */
static bool regular_slot_free(const struct httpd *h, const struct conn *c)
{
  unsigned regular = 0, same_peer = 0;

  for (const struct conn *o = h->conns; o; o = o->next) {
    if (o == c || o->reserved || o->closing)
      continue;
    regular++;
    if (strcmp(o->ip, c->ip) == 0)
      same_peer++;
  }
  return regular < h->limits.max_connections &&
         same_peer < h->limits.max_per_peer;
}

/* Taken off the backlog and closed, so it does not wait there. */
static void refuse(struct httpd *h)
{
  uv_tcp_t *t = td_malloc(sizeof(*t));

  uv_tcp_init(h->loop, t);
  t->data = h;
  h->nhandles++;
  uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)t);
  uv_close((uv_handle_t *)t, httpd__refused_closed);
}

/* Reserved connections from c's address (c itself excluded). */
static unsigned reserved_from(const struct httpd *h, const struct conn *c)
{
  unsigned n = 0;

  for (const struct conn *o = h->conns; o; o = o->next)
    if (o != c && o->reserved && strcmp(o->ip, c->ip) == 0)
      n++;
  return n;
}

/* The oldest reserved connection held past RESERVED_STALE_MS, or NULL.
 * The list is newest first: the last one found is the oldest. */
static struct conn *stale_reserved(const struct httpd *h)
{
  uint64_t now = uv_now(h->loop);
  struct conn *oldest = NULL;

  for (struct conn *o = h->conns; o; o = o->next)
    if (o->reserved && now - o->accepted >= RESERVED_STALE_MS)
      oldest = o;
  return oldest;
}

/* A reserved connection of the address holding the most, if that is more
 * than `mine` + 1 (what c's address would then hold). */
static struct conn *crowding_reserved(const struct httpd *h, unsigned mine)
{
  struct conn *victim = NULL;
  unsigned most = 0;

  for (struct conn *o = h->conns; o; o = o->next) {
    unsigned n;

    if (!o->reserved)
      continue;
    n = reserved_from(h, o) + 1;
    if (n >= most) {
      most = n;
      victim = o;
    }
  }
  return most > mine + 1 ? victim : NULL;
}

/*
 * A reserved slot for c.  One address holds at most RESERVED_PER_PEER;
 * when all are taken, c takes the slot of the oldest connection that has
 * held one past RESERVED_STALE_MS without a whole request (a health check
 * sends its request at once), else of the address holding the most.  So
 * connections flooding in cannot keep a health check out, however many
 * addresses they come from and however fast they come back.
 */
static bool take_reserved_slot(struct httpd *h, struct conn *c)
{
  struct conn *victim;
  unsigned mine;

  if (!h->limits.reserved_paths)
    return false;
  mine = reserved_from(h, c);
  if (mine >= RESERVED_PER_PEER)
    return false;
  if (h->nreserved >= h->limits.reserved_slots) {
    victim = stale_reserved(h);
    if (!victim)
      victim = crowding_reserved(h, mine);
    if (!victim)
      return false;
    httpd__conn_close(victim);
  }
  c->reserved = true;
  h->nreserved++;
  return true;
}

/* The list is newest first: the last draining one is the oldest. */
static void close_oldest_draining(struct httpd *h)
{
  struct conn *oldest = NULL;

  for (struct conn *o = h->conns; o; o = o->next)
    if (o->short_drain && !o->closing)
      oldest = o;
  if (oldest)
    httpd__conn_close(oldest);
}

void httpd__on_connection(uv_stream_t *server, int status)
{
  struct httpd *h = container_of((uv_tcp_t *)server, struct httpd, listener);
  /* Connections in slots: the slots, and one more that may take a
   * reserved slot from a flooder.  Not counted: those refused after
   * accept, closing until the next loop turn frees them (bounded by what
   * one turn accepts, the listen backlog), and those answered in a
   * reserved slot, waiting a moment for their client to close (bounded
   * below); or a storm of reconnects would crowd a health check out. */
  unsigned slots = h->limits.max_connections +
                   (h->limits.reserved_paths ? h->limits.reserved_slots : 0);
  struct conn *c;

  /* Out of descriptors and the like: libuv tries again later. */
  if (status < 0)
    return;
  if (h->nconns - h->nclosing - h->ndraining > slots) {
    refuse(h);
    return;
  }
  /* Answered health checks waiting for their client to close: a short
   * wait each, but a flood of them must not grow without bound. */
  if (h->ndraining > 2 * h->limits.reserved_slots)
    close_oldest_draining(h);
  c = td_calloc(1, sizeof(*c));
  c->h = h;
  c->accepted = uv_now(h->loop);
  uv_tcp_init(h->loop, &c->tcp);
  uv_timer_init(h->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  c->next = h->conns;
  if (h->conns)
    h->conns->prev = c;
  h->conns = c;
  h->nconns++;
  h->nhandles++;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    httpd__conn_close(c);
    return;
  }
  name_peer(c);
  if (!regular_slot_free(h, c) && !take_reserved_slot(h, c)) {
    httpd__conn_close(c);
    return;
  }
  /* Answers are written whole; waiting for more to coalesce only adds a
   * delayed-ACK round trip to each one. */
  uv_tcp_nodelay(&c->tcp, 1);
  httpd__arm(c, c->reserved ? RESERVED_TIMEOUT_MS
                            : h->limits.first_byte_timeout_ms);
  httpd__start_reading(c);
}
