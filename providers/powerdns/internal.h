/*
 * internal.h - what the powerdns provider's files share (see powerdns.h
 * for the contract).
 *
 *   powerdns.c  the instance (options, open, close) and the mapping of
 *               dns_record resources to rrsets: specs checked and
 *               normalised, reads answered from a zone's content, writes
 *               planned as rrset changes, lists gathered;
 *   zones.c     the zone list, each zone's kept content (one GET serves
 *               every reader), and the writer that batches writes into one
 *               PATCH per zone (group commit).
 *
 * The provider is written on the runtime (providers/common/runtime.h):
 * every operation is a `struct pdns_op`; start() hands the ops of a loop
 * turn to pdns__route_all(), which routes them once the zone list is
 * known.  Everything here runs on the loop thread.
 */
#ifndef TD_POWERDNS_INTERNAL_H
#define TD_POWERDNS_INTERNAL_H

#include "base/compat.h"

#include "providers/common/curl_uv.h"
#include "providers/common/runtime.h"
#include "providers/powerdns/powerdns.h"

struct pdns_op;

struct opvec {
  struct pdns_op **v;
  size_t n, cap;
};

/* A FIFO of zones: pushed at the tail, taken from the head. */
struct zoneq {
  struct zone **v;
  size_t head, n, cap; /* live entries: v[head .. n) */
};

struct zone {
  struct pdns *pd;
  char *name;    /* lower case, no trailing dot */
  char *id;      /* the API's zone id, escaped for URLs */
  bool listed;   /* in the latest zone list */
  json_t *names; /* owner name -> array of rrsets; NULL: not kept */
  uint64_t loaded_at;
  bool fetching, queued, dirty, flush_wanted;
  /* A PATCH of the zone (its batch, or the one-by-one retries) is in
   * flight; a GET wanted meanwhile waits (get_deferred) for it. */
  bool writing, get_deferred;
  /* Bumped when a PATCH of the zone is sent and when the zone's writes
   * are done; a GET's body is kept only if it did not move meanwhile. */
  uint64_t wgen, get_gen;
  struct opvec waiters; /* reads and lists waiting for the content */
  struct opvec writes;  /* queued for the next PATCH */
  struct opvec batch;   /* in the PATCH in flight */
};

struct pdns {
  struct rt rt; /* first: the runtime's */
  /* Options (powerdns.h). */
  char *url;
  struct opt_secret api_key;
  char *server;
  uint64_t timeout_ms, window_ms, zone_ttl_ms;

  struct curl_uv *cu;
  char *api;        /* <url>/api/v1/servers/<server> */
  char *api_path;   /* its path, for messages */
  char *key_header; /* "X-API-Key: ...": wiped before it is freed */

  struct zone **zones;
  size_t nzones, zones_cap;
  json_t *zone_index; /* name -> position in zones */
  bool list_loaded, list_fetching;
  uint64_t list_at;

  struct opvec incoming; /* waiting for the zone list */
  struct zoneq dirty;    /* zones with writes, in line for the writer */
  bool writer_busy;      /* a PATCH, or the GET before one, is in flight */
  struct zoneq fetchq;   /* zones waiting for a GET slot */
  unsigned gets_running;
  uv_timer_t flush; /* the batch window */
  bool finalizing;  /* shutting down: nothing more is sent */
};

struct pdns_op {
  struct rt_op base; /* first: kind, name (normalised), tenant, id, marker */
  char rrtype[8];    /* desired type; "" when unknown */
  char *target;      /* writes: normalised */
  json_int_t ttl;
  struct zone *zone;
  json_t *changes; /* writes: the rrset changes this op sends */
  size_t pending;  /* list_owned: zones still to answer, plus one */
};

static inline struct pdns *pdns_of(const struct pdns_op *op)
{
  return container_of(op->base.rt, struct pdns, rt);
}

static inline const char *rrset_type(const json_t *rrset)
{
  return json_string_value(json_object_get(rrset, "type"));
}

static inline void opvec_push(struct opvec *v, struct pdns_op *op)
{
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 8;
    v->v = td_realloc(v->v, v->cap * sizeof(*v->v));
  }
  v->v[v->n++] = op;
}

/* Hands the contents over, leaving `v` empty. */
static inline struct opvec opvec_take(struct opvec *v)
{
  struct opvec out = *v;

  memset(v, 0, sizeof(*v));
  return out;
}

/* ---- powerdns.c: the mapping ---- */

/* Lower case, without one trailing dot: how names are compared (new). */
char *pdns__norm_name(const char *s);

/* Answers the op (rt_op_ok with `observed` stolen, or rt_op_fail with
 * `message`) and delivers it. */
void pdns__finish(struct pdns_op *op, int status, const char *message,
                  json_t *observed);

/* A read, from its zone's kept content. */
void pdns__answer_read(struct pdns_op *op);

/* A list: starts it over every listed zone, and takes each zone's
 * outcome (its content is kept when status is PROVIDER_OK). */
void pdns__list_start(struct pdns_op *op);
void pdns__list_zone_done(struct pdns_op *op, int status, const char *message);

/* What a write sends, against the zone's kept content: PROVIDER_OK with
 * op->changes set, or an error class with *msg (owned by the caller). */
int pdns__plan_write(struct pdns_op *op, char **msg);

/* A write's outcome, once PowerDNS answered its PATCH. */
void pdns__write_done(struct pdns_op *op, int status, const char *msg);

/* ---- zones.c: the zone cache and the writer ---- */

/* Routes the ops waiting in pd->incoming, fetching the zone list first
 * when it is not fresh. */
void pdns__route_all(struct pdns *pd);

/* Reads and lists: answered from the zone's kept content, or after a
 * GET of it. */
void pdns__need_content(struct zone *z, struct pdns_op *op);

/* Frees the zones and the queues (every op is delivered by then). */
void pdns__zones_release(struct pdns *pd);

#endif
