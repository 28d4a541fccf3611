/*
 * powerdns.c - dns_record resources in PowerDNS (see powerdns.h).
 *
 * Every operation becomes an `op` queued on the instance; a 0-ms timer
 * (the kick) routes the queue, so no callback runs from the call that
 * started the operation and every operation of one loop iteration is
 * seen together.  Routing needs the zone list; then a read waits for its
 * zone's content (one GET serves every reader), a write joins its zone's
 * queue, which the flush timer turns into one PATCH.  Each zone is a
 * small state machine: content kept or not, one GET and at most one PATCH
 * in flight, never both: a GET wanted while the zone's writes are in
 * flight waits for them (see fetch_zone).  Zones live as long as the
 * instance, so ops may point at them; the instance counts ops so close()
 * can wait for them.
 */
#include "base/compat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "providers/common/curl_uv.h"
#include "providers/powerdns/powerdns.h"
#include "model/resource.h"

#define DEFAULT_TIMEOUT_MS 5000
#define MAX_TIMEOUT_MS 600000
#define DEFAULT_WINDOW_MS 2
#define MAX_WINDOW_MS 1000
#define MAX_ZONE_CACHE_MS 600000
#define DEFAULT_TTL 300
/* Parallel zone GETs: listing many zones must not open a socket each. */
#define MAX_GETS 8
/* rrsets per PATCH: a bounded request body however many writes queue. */
#define MAX_BATCH 1000
/* A list larger than this is a runaway server, not a tenant. */
#define MAX_LIST 100000
#define MAX_URL 2048
#define MAX_NAME 253

enum op_kind { OP_READ, OP_CREATE, OP_UPDATE, OP_REMOVE, OP_LIST };

struct op;

struct opvec {
  struct op **v;
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
  struct provider base; /* first: the controller only sees this */
  struct curl_uv *cu;
  char *api;      /* <url>/api/v1/servers/<server> */
  char *api_path; /* its path, for messages */
  char *key_header;
  uint64_t timeout_ms, window_ms, zone_ttl_ms;

  struct zone **zones;
  size_t nzones, zones_cap;
  json_t *zone_index; /* name -> position in zones */
  bool list_loaded, list_fetching;
  uint64_t list_at;

  struct opvec incoming; /* waiting to be routed */
  struct zoneq dirty;    /* zones with writes, in line for the writer */
  bool writer_busy;      /* a PATCH, or the GET before one, is in flight */
  struct zoneq fetchq;   /* zones waiting for a GET slot */
  unsigned gets_running;

  uv_timer_t kick, flush;
  size_t inflight;
  bool closing, finalizing;
  bool timers_closed; /* kick and flush are closing: no more kicks */
  int open_handles;
  provider_close_cb close_cb;
  void *close_arg;
};

struct op {
  struct pdns *pd;
  enum op_kind kind;
  provider_cb cb;
  provider_list_cb list_cb;
  void *arg;
  char *name; /* normalised */
  char *tenant;
  char *id;
  char type[8]; /* desired type; "" when unknown */
  char *target; /* writes: normalised */
  json_int_t ttl;
  char marker[RESOURCE_MARKER_MAX];
  struct zone *zone;
  json_t *changes; /* writes: the rrset changes this op sends */
  /* Decided before routing (closing, a bad spec): delivered as is. */
  int early_status;
  char *early_message;
  /* list_owned */
  size_t pending;
  int list_status;
  char *list_message;
};

static void kick(struct pdns *pd);
static bool flush_zone(struct zone *z);
static void writer_next(struct pdns *pd);
static void fetch_zone(struct zone *z);
static void start_get(struct zone *z);

/* ---- small helpers ---- */

static void opvec_push(struct opvec *v, struct op *op)
{
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 8;
    v->v = td_realloc(v->v, v->cap * sizeof(*v->v));
  }
  v->v[v->n++] = op;
}

static void zoneq_push(struct zoneq *q, struct zone *z)
{
  if (q->n == q->cap && q->head > 0) {
    memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof(*q->v));
    q->n -= q->head;
    q->head = 0;
  }
  if (q->n == q->cap) {
    q->cap = q->cap ? q->cap * 2 : 16;
    q->v = td_realloc(q->v, q->cap * sizeof(*q->v));
  }
  q->v[q->n++] = z;
}

/* The head, or NULL when empty. */
static struct zone *zoneq_pop(struct zoneq *q)
{
  struct zone *z;

  if (q->head == q->n)
    return NULL;
  z = q->v[q->head++];
  if (q->head == q->n)
    q->head = q->n = 0;
  return z;
}

/* Hands the contents over, leaving `v` empty, so callbacks run while
 * iterating may queue new operations safely. */
static struct opvec opvec_take(struct opvec *v)
{
  struct opvec out = *v;

  memset(v, 0, sizeof(*v));
  return out;
}

static char *fmt(const char *f, ...) TD_PRINTF(1, 2);

static char *fmt(const char *f, ...)
{
  va_list ap;
  char *s = NULL;
  int n;

  va_start(ap, f);
  n = vasprintf(&s, f, ap);
  va_end(ap);
  if (n < 0)
    abort();
  return s;
}

/* Lower case, without one trailing dot: how names are compared. */
static char *norm_name(const char *s)
{
  size_t n = strlen(s);
  char *out;

  if (n > 0 && s[n - 1] == '.')
    n--;
  out = td_strndup(s, n);
  for (char *p = out; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return out;
}

/* A host name as PowerDNS takes it: labels of letters, digits, '-', '_'
 * (and a leading '*'), 1 to 63 bytes each. */
static bool valid_host(const char *s)
{
  size_t len = strlen(s), label = 0;

  if (len == 0 || len > MAX_NAME)
    return false;
  for (const char *p = s; *p; p++) {
    if (*p == '.') {
      if (label == 0)
        return false;
      label = 0;
      continue;
    }
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' &&
        !(*p == '*' && p == s && (p[1] == '.' || !p[1])))
      return false;
    if (++label > 63)
      return false;
  }
  return label > 0;
}

/* Record content in the form a desired spec uses. */
static char *norm_content(const char *type, const char *content)
{
  if (strcmp(type, "AAAA") == 0) {
    struct in6_addr a;
    char buf[INET6_ADDRSTRLEN];

    if (inet_pton(AF_INET6, content, &a) == 1 &&
        inet_ntop(AF_INET6, &a, buf, sizeof(buf)))
      return td_strdup(buf);
  }
  return norm_name(content);
}

static bool marker_of(const json_t *rrset, const char **out)
{
  const json_t *comments = json_object_get(rrset, "comments");
  const json_t *c;
  size_t i;
  char tenant[RESOURCE_MARKER_MAX], id[RESOURCE_MARKER_MAX];

  json_array_foreach(comments, i, c)
  {
    const char *text = json_string_value(json_object_get(c, "content"));

    if (resource_marker_parse(text, tenant, sizeof(tenant), id, sizeof(id)) ==
        0) {
      *out = text;
      return true;
    }
  }
  *out = NULL;
  return false;
}

/* Whether the rrset carries the marker of this op's resource. */
static bool is_ours(const struct op *op, const json_t *rrset)
{
  const char *text;
  char tenant[RESOURCE_MARKER_MAX], id[RESOURCE_MARKER_MAX];

  return marker_of(rrset, &text) &&
         resource_marker_parse(text, tenant, sizeof(tenant), id, sizeof(id)) ==
             0 &&
         strcmp(tenant, op->tenant) == 0 && strcmp(id, op->id) == 0;
}

static const char *rrset_type(const json_t *rrset)
{
  return json_string_value(json_object_get(rrset, "type"));
}

static bool has_records(const json_t *rrset)
{
  return json_array_size(json_object_get(rrset, "records")) > 0;
}

static bool is_addr_type(const char *t)
{
  return strcmp(t, "A") == 0 || strcmp(t, "AAAA") == 0 ||
         strcmp(t, "CNAME") == 0;
}

/* Whether an rrset of type `have` stands where `want` is to go. */
static bool in_the_way(const char *want, const char *have)
{
  if (!*want)
    return is_addr_type(have);
  return strcmp(want, have) == 0 || strcmp(want, "CNAME") == 0 ||
         strcmp(have, "CNAME") == 0;
}

/* ---- results ---- */

static void maybe_finalize(struct pdns *pd)
{
  if (pd->closing && !pd->finalizing && pd->inflight == 0)
    kick(pd); /* never from inside a curl_uv callback */
}

static void op_free(struct op *op)
{
  free(op->name);
  free(op->tenant);
  free(op->id);
  free(op->target);
  free(op->early_message);
  free(op->list_message);
  json_decref(op->changes);
  free(op);
}

/* Calls the op's callback and frees it; `observed` is borrowed. */
static void finish(struct op *op, int status, const char *message,
                   const json_t *observed)
{
  struct pdns *pd = op->pd;
  struct provider_result res = {status, status < 0 ? message : NULL,
                                status < 0 ? NULL : observed};

  op->cb(&pd->base, &res, op->arg);
  op_free(op);
  assert(pd->inflight > 0);
  pd->inflight--;
  maybe_finalize(pd);
}

static void finish_list(struct op *op, int status, const char *message,
                        const struct provider_owned *items, size_t n)
{
  struct pdns *pd = op->pd;

  op->list_cb(&pd->base, status, status < 0 ? message : NULL, items, n,
              op->arg);
  op_free(op);
  assert(pd->inflight > 0);
  pd->inflight--;
  maybe_finalize(pd);
}

static void fail_op(struct op *op, int status, const char *message)
{
  if (op->kind == OP_LIST)
    finish_list(op, status, message, NULL, 0);
  else
    finish(op, status, message, NULL);
}

static void fail_all(struct opvec *v, int status, const char *message)
{
  struct opvec ops = opvec_take(v);

  for (size_t i = 0; i < ops.n; i++)
    fail_op(ops.v[i], status, message);
  free(ops.v);
}

static json_t *observed_new(const char *name, const char *type,
                            const char *target, json_int_t ttl,
                            const char *zone, const char *marker)
{
  json_t *obs = json_pack("{s:{s:s, s:s, s:s, s:I}, s:{s:s}}", "spec", "name",
                          name, "type", type, "target", target, "ttl", ttl,
                          "outputs", "zone", zone);

  if (marker)
    json_object_set_new(obs, "marker", json_string(marker));
  return obs;
}

/* The observed state of an rrset, normalised like a desired spec. */
static json_t *observe_rrset(const struct zone *z, const char *name,
                             const json_t *rrset)
{
  const char *type = rrset_type(rrset), *marker = NULL;
  const json_t *records = json_object_get(rrset, "records"), *rec;
  char **contents = td_calloc(json_array_size(records) + 1, sizeof(char *));
  size_t n = 0, len = 1, i;
  char *target;
  json_t *obs;

  json_array_foreach(records, i, rec)
  {
    const char *c = json_string_value(json_object_get(rec, "content"));

    if (!c || json_is_true(json_object_get(rec, "disabled")))
      continue;
    contents[n] = norm_content(type, c);
    len += strlen(contents[n++]) + 1;
  }
  /* Sorted, so the same records always read the same. */
  for (size_t a = 1; a < n; a++)
    for (size_t b = a; b > 0 && strcmp(contents[b - 1], contents[b]) > 0; b--) {
      char *t = contents[b];

      contents[b] = contents[b - 1];
      contents[b - 1] = t;
    }
  target = td_calloc(1, len);
  for (i = 0; i < n; i++) {
    if (i)
      strcat(target, ",");
    strcat(target, contents[i]);
    free(contents[i]);
  }
  free(contents);
  marker_of(rrset, &marker);
  obs = observed_new(name, type, target,
                     json_integer_value(json_object_get(rrset, "ttl")), z->name,
                     marker);
  free(target);
  return obs;
}

/* ---- reads ---- */

static int type_rank(const char *want, const char *have)
{
  if (*want && strcmp(want, have) == 0)
    return 0;
  if (strcmp(have, "CNAME") == 0)
    return 1;
  if (strcmp(have, "A") == 0)
    return 2;
  if (strcmp(have, "AAAA") == 0)
    return 3;
  return 4;
}

static void answer_read(struct op *op)
{
  struct zone *z = op->zone;
  const json_t *set = json_object_get(z->names, op->name), *rr;
  const json_t *best = NULL;
  bool best_ours = false;
  int best_rank = 99;
  size_t i;

  json_array_foreach(set, i, rr)
  {
    const char *t = rrset_type(rr);
    bool ours = is_ours(op, rr);
    int rank = type_rank(op->type, t);

    if (!has_records(rr) || (!ours && !in_the_way(op->type, t)))
      continue;
    if (!best || (ours && !best_ours) ||
        (ours == best_ours && rank < best_rank)) {
      best = rr;
      best_ours = ours;
      best_rank = rank;
    }
  }
  if (!best) {
    char *msg = fmt("powerdns: %s does not exist", op->name);

    finish(op, PROVIDER_NOT_FOUND, msg, NULL);
    free(msg);
    return;
  }
  {
    json_t *obs = observe_rrset(z, op->name, best);

    finish(op, PROVIDER_OK, NULL, obs);
    json_decref(obs);
  }
}

/* ---- zone content ---- */

static bool zone_fresh(const struct zone *z)
{
  return z->names &&
         uv_now(z->pd->base.loop) - z->loaded_at < z->pd->zone_ttl_ms;
}

static void zone_forget(struct zone *z)
{
  json_decref(z->names);
  z->names = NULL;
}

/* Indexes a zone's GET response by owner name; NULL when it is not one. */
static json_t *index_zone(const char *body, size_t len)
{
  json_t *doc = json_loadb(body, len, 0, NULL);
  json_t *rrsets = json_object_get(doc, "rrsets"), *names = NULL, *rr;
  size_t i;

  if (!json_is_array(rrsets))
    goto out;
  names = json_object();
  json_array_foreach(rrsets, i, rr)
  {
    const char *name = json_string_value(json_object_get(rr, "name"));
    char *key;
    json_t *set;

    if (!name || !rrset_type(rr))
      continue;
    key = norm_name(name);
    set = json_object_get(names, key);
    if (!set) {
      set = json_array();
      json_object_set_new(names, key, set);
    }
    json_array_append(set, rr);
    free(key);
  }
out:
  json_decref(doc);
  return names;
}

/*
 * curl_uv's class, but only 2xx is success: redirects are not followed,
 * so a 3xx means the url is not the API's, and nothing was done.
 */
static int classify(const struct curl_uv_response *res)
{
  if (res->status == PROVIDER_OK &&
      (res->http_code < 200 || res->http_code > 299))
    return PROVIDER_INVALID;
  return res->status;
}

/* "HTTP 422: <PowerDNS's error>" when the body says why, else curl_uv's. */
static char *response_message(const struct pdns *pd, const char *method,
                              const struct zone *z,
                              const struct curl_uv_response *res)
{
  json_t *doc =
      res->http_code ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
  const char *why = json_string_value(json_object_get(doc, "error"));
  char *msg;

  if (why)
    msg = fmt("powerdns: %s %s/zones/%s: HTTP %ld: %.300s", method,
              pd->api_path, z ? z->id : "", res->http_code, why);
  else if (res->status == PROVIDER_OK)
    msg = fmt("powerdns: %s %s/zones/%s: unexpected HTTP %ld (is url the "
              "API's base URL?)",
              method, pd->api_path, z ? z->id : "", res->http_code);
  else
    msg = fmt("powerdns: %s", res->message ? res->message : "failed");
  json_decref(doc);
  return msg;
}

static void send_get(struct zone *z);

static void next_get(struct pdns *pd)
{
  while (pd->gets_running < MAX_GETS) {
    struct zone *z = zoneq_pop(&pd->fetchq);

    if (!z)
      break;
    z->queued = false;
    start_get(z);
  }
}

static void list_zone_done(struct op *op, int status, const char *message);

static void on_zone(const struct curl_uv_response *res, void *arg)
{
  struct zone *z = arg;
  struct pdns *pd = z->pd;
  struct opvec waiters;
  int status = classify(res);
  char *msg = NULL;

  pd->gets_running--;
  z->fetching = false;
  if (status == PROVIDER_OK && !pd->finalizing &&
      (z->writing || z->wgen != z->get_gen)) {
    /*
     * A PATCH of the zone was sent or answered while this GET ran, so
     * its body may predate a write already applied to the kept copy.
     * fetch_zone rules this out (no GET while the zone's writes are in
     * flight, and a PATCH waits for a fresh copy, so none starts while
     * a GET runs), but should it happen, the body is not kept and the
     * waiters (still queued, so each is answered once) get a fresh GET.
     */
    next_get(pd);
    if (z->waiters.n > 0 || z->flush_wanted)
      fetch_zone(z);
    return;
  }
  if (status == PROVIDER_OK) {
    json_t *names = index_zone(res->body, res->body_len);

    if (names) {
      zone_forget(z);
      z->names = names;
      z->loaded_at = uv_now(pd->base.loop);
    } else {
      status = PROVIDER_TRANSIENT;
      msg = fmt("powerdns: GET %s/zones/%s: not a zone in the response",
                pd->api_path, z->id);
    }
  } else if (status == PROVIDER_NOT_FOUND) {
    /* Unknown is not absent: a vanished zone says nothing of its
     * records.  The next try lists the zones again. */
    status = PROVIDER_TRANSIENT;
    pd->list_loaded = false;
    msg = fmt("powerdns: zone %s vanished from the server", z->name);
  } else {
    msg = response_message(pd, "GET", z, res);
  }
  if (status != PROVIDER_OK)
    zone_forget(z);
  if (!pd->finalizing)
    next_get(pd);

  waiters = opvec_take(&z->waiters);
  for (size_t i = 0; i < waiters.n; i++) {
    struct op *op = waiters.v[i];

    if (op->kind == OP_LIST)
      list_zone_done(op, status, msg);
    else if (status == PROVIDER_OK)
      answer_read(op);
    else
      finish(op, status, msg, NULL);
  }
  free(waiters.v);
  if (z->flush_wanted) {
    /* The writer was waiting for this GET. */
    z->flush_wanted = false;
    pd->writer_busy = false;
    if (status != PROVIDER_OK)
      fail_all(&z->writes, status, msg);
    else if (flush_zone(z))
      goto out;
    writer_next(pd);
  }
out:
  free(msg);
}

static void send_get(struct zone *z)
{
  struct pdns *pd = z->pd;
  const char *headers[] = {pd->key_header, "Accept: application/json"};
  char *url = fmt("%s/zones/%s", pd->api, z->id);
  struct curl_uv_request req = {
      .method = "GET",
      .url = url,
      .headers = headers,
      .nheaders = ARRAY_SIZE(headers),
      .timeout_ms = pd->timeout_ms,
      .max_response_bytes = POWERDNS_MAX_ZONE_BYTES,
  };

  pd->gets_running++;
  z->get_gen = z->wgen;
  curl_uv_send(pd->cu, &req, on_zone, z);
  free(url);
}

/*
 * Sends the zone's GET, or queues it for a GET slot; while a PATCH of the
 * zone is in flight, it waits for the writer to be done with the zone
 * (writer_done): PowerDNS may answer a GET from the data before a PATCH
 * lands, and that body, arriving after the PATCH's result was applied to
 * the kept copy, would replace it with one missing the write.
 */
static void start_get(struct zone *z)
{
  struct pdns *pd = z->pd;

  assert(z->fetching);
  if (z->writing) {
    z->get_deferred = true;
    return;
  }
  if (pd->gets_running < MAX_GETS) {
    send_get(z);
    return;
  }
  zoneq_push(&pd->fetchq, z);
  z->queued = true;
}

static void fetch_zone(struct zone *z)
{
  if (z->fetching)
    return;
  z->fetching = true;
  start_get(z);
}

/* Reads and lists: answered from the kept content, or after a GET. */
static void need_content(struct zone *z, struct op *op)
{
  if (zone_fresh(z)) {
    if (op->kind == OP_LIST)
      list_zone_done(op, PROVIDER_OK, NULL);
    else
      answer_read(op);
    return;
  }
  opvec_push(&z->waiters, op);
  fetch_zone(z);
}

/* ---- writes ---- */

static json_t *change_delete(const char *name, const char *type)
{
  char *fqdn = fmt("%s.", name);
  json_t *c = json_pack("{s:s, s:s, s:s}", "name", fqdn, "type", type,
                        "changetype", "DELETE");

  free(fqdn);
  return c;
}

static json_t *change_replace(const struct op *op)
{
  char *fqdn = fmt("%s.", op->name);
  char *content = strcmp(op->type, "CNAME") == 0 ? fmt("%s.", op->target)
                                                 : td_strdup(op->target);
  json_t *c =
      json_pack("{s:s, s:s, s:I, s:s, s:[{s:s, s:b}], s:[{s:s, s:s}]}", "name",
                fqdn, "type", op->type, "ttl", op->ttl, "changetype", "REPLACE",
                "records", "content", content, "disabled", 0, "comments",
                "content", op->marker, "account", RESOURCE_MARKER_MANAGED_BY);

  free(fqdn);
  free(content);
  return c;
}

static char *holder_message(const char *name, const json_t *rr)
{
  const char *marker;

  if (marker_of(rr, &marker))
    return fmt("powerdns: %s %s is held by another resource (%s)", name,
               rrset_type(rr), marker);
  return fmt("powerdns: %s %s exists without a tenantd marker", name,
             rrset_type(rr));
}

/*
 * Decides what a write sends, against the kept zone content: 0 with
 * op->changes set, or an error class with *msg (owned by the caller).
 */
static int plan_write(struct op *op, char **msg)
{
  const json_t *set = json_object_get(op->zone->names, op->name), *rr;
  json_t *changes = json_array();
  bool found = false;
  size_t i;

  *msg = NULL;
  json_array_foreach(set, i, rr)
  {
    const char *t = rrset_type(rr);
    bool ours = is_ours(op, rr);

    if (!has_records(rr))
      continue;
    if (ours && op->kind == OP_REMOVE) {
      json_array_append_new(changes, change_delete(op->name, t));
      found = true;
    } else if (ours) {
      found = true;
      if (strcmp(t, op->type) != 0)
        json_array_append_new(changes, change_delete(op->name, t));
    } else if (op->kind != OP_REMOVE && in_the_way(op->type, t)) {
      *msg = holder_message(op->name, rr);
      json_decref(changes);
      return PROVIDER_CONFLICT;
    }
  }
  if (op->kind == OP_REMOVE && !found) {
    json_array_foreach(set, i, rr)
    {
      if (has_records(rr) && is_addr_type(rrset_type(rr))) {
        *msg = holder_message(op->name, rr);
        json_decref(changes);
        return PROVIDER_CONFLICT;
      }
    }
  }
  if ((op->kind == OP_REMOVE || op->kind == OP_UPDATE) && !found) {
    *msg = fmt("powerdns: %s does not exist", op->name);
    json_decref(changes);
    return PROVIDER_NOT_FOUND;
  }
  if (op->kind != OP_REMOVE)
    json_array_append_new(changes, change_replace(op));
  json_decref(op->changes);
  op->changes = changes;
  return PROVIDER_OK;
}

/* Applies a write PowerDNS accepted to the kept content. */
static void apply_changes(struct zone *z, const struct op *op)
{
  json_t *set, *c;
  size_t i;

  if (!z->names)
    return;
  set = json_object_get(z->names, op->name);
  if (!set) {
    set = json_array();
    json_object_set_new(z->names, op->name, set);
  }
  json_array_foreach(op->changes, i, c)
  {
    const char *type = rrset_type(c);
    size_t k = 0;

    while (k < json_array_size(set)) {
      if (strcmp(rrset_type(json_array_get(set, k)), type) == 0)
        json_array_remove(set, k);
      else
        k++;
    }
    if (strcmp(json_string_value(json_object_get(c, "changetype")),
               "REPLACE") == 0) {
      json_t *rr = json_deep_copy(c);

      json_object_del(rr, "changetype");
      json_array_append_new(set, rr);
    }
  }
}

static void write_done(struct op *op, int status, const char *msg)
{
  json_t *obs = NULL;

  if (status == PROVIDER_OK && op->kind != OP_REMOVE)
    obs = observed_new(op->name, op->type, op->target, op->ttl, op->zone->name,
                       op->marker);
  finish(op, status, msg, obs);
  json_decref(obs);
}

/*
 * The writer: at most one PATCH in flight per instance (group commit).
 * PowerDNS's SQLite backend answers concurrent writes with "database is
 * locked", and while one PATCH runs, the writes arriving for every zone
 * gather into the next ones.  Zones with queued writes wait in a FIFO.
 */
static void on_flush(uv_timer_t *t);
static void writer_next(struct pdns *pd);

/* Queues the zone for the writer.  When the writer is idle, the flush
 * timer gives the window counted from the first write waiting; later
 * ones never delay it. */
static void mark_dirty(struct zone *z)
{
  struct pdns *pd = z->pd;

  if (z->dirty)
    return;
  zoneq_push(&pd->dirty, z);
  z->dirty = true;
  if (!pd->writer_busy && !uv_is_active((uv_handle_t *)&pd->flush))
    uv_timer_start(&pd->flush, on_flush, pd->window_ms, 0);
}

/* The writer is done with `z`: what queued meanwhile goes to the back of
 * the line, and the next zone's writes (which waited) go at once. */
static void writer_done(struct zone *z)
{
  struct pdns *pd = z->pd;

  assert(pd->writer_busy);
  pd->writer_busy = false;
  z->writing = false;
  z->wgen++;
  if (z->get_deferred) {
    z->get_deferred = false;
    if (!pd->finalizing) {
      start_get(z);
    } else {
      /* Only when closing, when no read waits; but should one... */
      z->fetching = false;
      fail_all(&z->waiters, PROVIDER_TRANSIENT,
               "cancelled: the provider is closing");
    }
  }
  if (z->writes.n > 0)
    mark_dirty(z);
  writer_next(pd);
}

static int failed_patch(struct zone *z, const struct curl_uv_response *res,
                        char **msg)
{
  struct pdns *pd = z->pd;
  int status = classify(res);

  /* It may or may not have been applied (a timeout): read again. */
  zone_forget(z);
  if (status == PROVIDER_NOT_FOUND) {
    status = PROVIDER_TRANSIENT;
    pd->list_loaded = false;
    *msg = fmt("powerdns: zone %s vanished from the server", z->name);
  } else {
    *msg = response_message(pd, "PATCH", z, res);
    /* PowerDNS's 422 for a name someone else took since we looked. */
    if (status == PROVIDER_INVALID &&
        strstr(*msg, "Conflicts with pre-existing RRset"))
      status = PROVIDER_CONFLICT;
  }
  return status;
}

static void send_patch(struct zone *z, const json_t *rrsets, curl_uv_cb done,
                       void *arg)
{
  struct pdns *pd = z->pd;
  const char *headers[] = {pd->key_header, "Content-Type: application/json",
                           "Accept: application/json"};
  json_t *doc = json_pack("{s:O}", "rrsets", rrsets);
  char *body = json_dumps(doc, JSON_COMPACT);
  char *url = fmt("%s/zones/%s", pd->api, z->id);
  struct curl_uv_request req = {
      .method = "PATCH",
      .url = url,
      .headers = headers,
      .nheaders = ARRAY_SIZE(headers),
      .body = body,
      .body_len = strlen(body),
      .timeout_ms = pd->timeout_ms,
  };

  z->wgen++;
  curl_uv_send(pd->cu, &req, done, arg);
  free(url);
  free(body);
  json_decref(doc);
}

/* A refused batch, retried one write per PATCH, in order. */
struct singles {
  struct zone *z;
  struct opvec ops;
  size_t next;
};

static void on_single(const struct curl_uv_response *res, void *arg);

static void send_single(struct singles *s)
{
  send_patch(s->z, s->ops.v[s->next]->changes, on_single, s);
}

static void on_single(const struct curl_uv_response *res, void *arg)
{
  struct singles *s = arg;
  struct zone *z = s->z;
  struct op *op = s->ops.v[s->next++];
  char *msg = NULL;
  int status = classify(res);

  if (status == PROVIDER_OK)
    apply_changes(z, op);
  else
    status = failed_patch(z, res, &msg);
  write_done(op, status, msg);
  free(msg);
  if (s->next < s->ops.n && !z->pd->finalizing) {
    send_single(s);
    return;
  }
  /* Only when closing: what was not sent is cancelled. */
  for (; s->next < s->ops.n; s->next++)
    write_done(s->ops.v[s->next], PROVIDER_TRANSIENT,
               "cancelled: the provider is closing");
  free(s->ops.v);
  free(s);
  writer_done(z);
}

static void on_patch(const struct curl_uv_response *res, void *arg)
{
  struct zone *z = arg;
  struct opvec batch = opvec_take(&z->batch);
  char *msg = NULL;
  int status = classify(res);

  if (status == PROVIDER_INVALID && batch.n > 1 && !z->pd->finalizing) {
    /* One bad record must not fail its neighbours; PowerDNS applied
     * nothing of the batch, so the kept content still holds. */
    struct singles *s = td_calloc(1, sizeof(*s));

    s->z = z;
    s->ops = batch;
    send_single(s);
    return;
  }
  if (status != PROVIDER_OK)
    status = failed_patch(z, res, &msg);
  for (size_t i = 0; i < batch.n; i++) {
    if (status == PROVIDER_OK)
      apply_changes(z, batch.v[i]);
    write_done(batch.v[i], status, msg);
  }
  free(batch.v);
  free(msg);
  writer_done(z);
}

/*
 * Sends the zone's queued writes in one PATCH (see powerdns.h); true when
 * the writer is now busy with the zone (a PATCH, or the GET before it).
 */
static bool flush_zone(struct zone *z)
{
  struct pdns *pd = z->pd;
  struct opvec queued, later = {0};
  json_t *touched, *rrsets;
  bool sent = false;

  if (z->writes.n == 0)
    return false;
  if (!zone_fresh(z)) {
    z->flush_wanted = true;
    pd->writer_busy = true;
    fetch_zone(z);
    return true;
  }
  queued = opvec_take(&z->writes);
  touched = json_object();
  rrsets = json_array();
  for (size_t i = 0; i < queued.n; i++) {
    struct op *op = queued.v[i];
    char *msg = NULL;
    int status;

    /* Writes to one name go in order, one per PATCH. */
    if (json_object_get(touched, op->name) || z->batch.n == MAX_BATCH) {
      opvec_push(&later, op);
      continue;
    }
    status = plan_write(op, &msg);
    if (status < 0) {
      finish(op, status, msg, NULL);
      free(msg);
      continue;
    }
    json_object_set_new(touched, op->name, json_true());
    json_array_extend(rrsets, op->changes);
    opvec_push(&z->batch, op);
  }
  free(queued.v);
  /* Callbacks above queue through the kick, never here; but should one,
   * it goes after the writes held back. */
  for (size_t i = 0; i < z->writes.n; i++)
    opvec_push(&later, z->writes.v[i]);
  free(z->writes.v);
  z->writes = later;
  if (z->batch.n > 0) {
    pd->writer_busy = true;
    z->writing = true;
    send_patch(z, rrsets, on_patch, z);
    sent = true;
  } else if (z->writes.n > 0) {
    mark_dirty(z);
  }
  json_decref(touched);
  json_decref(rrsets);
  return sent;
}

static void writer_next(struct pdns *pd)
{
  while (!pd->writer_busy && !pd->finalizing) {
    struct zone *z = zoneq_pop(&pd->dirty);

    if (!z)
      break;
    z->dirty = false;
    flush_zone(z);
  }
}

static void on_flush(uv_timer_t *t)
{
  writer_next(container_of(t, struct pdns, flush));
}

static void queue_write(struct zone *z, struct op *op)
{
  opvec_push(&z->writes, op);
  mark_dirty(z);
}

/* ---- the zone list and routing ---- */

static struct zone *zone_get(struct pdns *pd, const char *name)
{
  json_t *pos = json_object_get(pd->zone_index, name);

  return pos ? pd->zones[json_integer_value(pos)] : NULL;
}

/* The listed zone holding `name`: the longest suffix on a label boundary. */
static struct zone *zone_of(struct pdns *pd, const char *name)
{
  for (const char *p = name; p;
       p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
    struct zone *z = zone_get(pd, p);

    if (z && z->listed)
      return z;
  }
  return NULL;
}

/* A zone id as a URL path segment: PowerDNS's ids are plain already
 * ("pycom.io."), but nothing from the network goes into a URL raw. */
static char *url_escape(const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  char *out = td_malloc(strlen(s) * 3 + 1), *o = out;

  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (isalnum(*p) || strchr(".-_~=", *p)) {
      *o++ = (char)*p;
    } else {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    }
  }
  *o = '\0';
  return out;
}

/* Takes in a zone list response; false when it is not one. */
static bool load_zone_list(struct pdns *pd, const char *body, size_t len)
{
  json_t *doc = json_loadb(body, len, 0, NULL), *item;
  size_t i;

  if (!json_is_array(doc)) {
    json_decref(doc);
    return false;
  }
  for (i = 0; i < pd->nzones; i++)
    pd->zones[i]->listed = false;
  json_array_foreach(doc, i, item)
  {
    const char *name = json_string_value(json_object_get(item, "name"));
    const char *id = json_string_value(json_object_get(item, "id"));
    char *key;
    struct zone *z;

    if (!name)
      continue;
    key = norm_name(name);
    z = zone_get(pd, key);
    if (!z) {
      z = td_calloc(1, sizeof(*z));
      z->pd = pd;
      z->name = key;
      key = NULL;
      if (pd->nzones == pd->zones_cap) {
        pd->zones_cap = pd->zones_cap ? pd->zones_cap * 2 : 16;
        pd->zones = td_realloc(pd->zones, pd->zones_cap * sizeof(*pd->zones));
      }
      json_object_set_new(pd->zone_index, z->name,
                          json_integer((json_int_t)pd->nzones));
      pd->zones[pd->nzones++] = z;
    }
    free(key);
    free(z->id);
    z->id = url_escape(id ? id : name);
    z->listed = true;
  }
  json_decref(doc);
  pd->list_loaded = true;
  pd->list_at = uv_now(pd->base.loop);
  return true;
}

static void route_incoming(struct pdns *pd);

static void on_zone_list(const struct curl_uv_response *res, void *arg)
{
  struct pdns *pd = arg;
  char *msg = NULL;
  int status = classify(res);

  pd->list_fetching = false;
  if (status == PROVIDER_OK && !load_zone_list(pd, res->body, res->body_len)) {
    status = PROVIDER_TRANSIENT;
    msg = fmt("powerdns: GET %s/zones: not a zone list in the response",
              pd->api_path);
  } else if (status != PROVIDER_OK) {
    msg = response_message(pd, "GET", NULL, res);
  }
  if (status == PROVIDER_OK)
    route_incoming(pd);
  else
    fail_all(&pd->incoming, status, msg);
  free(msg);
}

static void fetch_zone_list(struct pdns *pd)
{
  const char *headers[] = {pd->key_header, "Accept: application/json"};
  char *url = fmt("%s/zones", pd->api);
  struct curl_uv_request req = {
      .method = "GET",
      .url = url,
      .headers = headers,
      .nheaders = ARRAY_SIZE(headers),
      .timeout_ms = pd->timeout_ms,
      .max_response_bytes = POWERDNS_MAX_LIST_BYTES,
  };

  pd->list_fetching = true;
  curl_uv_send(pd->cu, &req, on_zone_list, pd);
  free(url);
}

static void list_start(struct op *op)
{
  struct pdns *pd = op->pd;

  /* One count for the loop itself, so no zone ends the list early. */
  op->pending = 1;
  for (size_t i = 0; i < pd->nzones; i++) {
    if (!pd->zones[i]->listed)
      continue;
    op->pending++;
    need_content(pd->zones[i], op);
  }
  list_zone_done(op, PROVIDER_OK, NULL);
}

static int by_name(const void *a, const void *b)
{
  const struct provider_owned *x = a, *y = b;

  return strcmp(x->name, y->name);
}

static void list_finish(struct op *op)
{
  struct pdns *pd = op->pd;
  struct provider_owned *items = NULL;
  size_t n = 0, alloc = 0;
  int status = op->list_status;
  char *msg = op->list_message ? td_strdup(op->list_message) : NULL;
  /* (id, name) pairs listed so far, as "<len(id)>:<id><name>": a hashed
   * set, so the check stays linear in the rrsets scanned. */
  json_t *seen = json_object();

  for (size_t i = 0; status == PROVIDER_OK && i < pd->nzones; i++) {
    struct zone *z = pd->zones[i];
    const char *name;
    json_t *set;

    if (!z->listed)
      continue;
    if (!z->names) {
      status = PROVIDER_TRANSIENT;
      msg = fmt("powerdns: zone %s changed while listing", z->name);
      break;
    }
    json_object_foreach(z->names, name, set)
    {
      const json_t *rr;
      size_t k;

      json_array_foreach(set, k, rr)
      {
        const char *marker;
        char tenant[RESOURCE_MARKER_MAX], id[RESOURCE_MARKER_MAX];
        char *key;

        if (!has_records(rr) || !marker_of(rr, &marker) ||
            resource_marker_parse(marker, tenant, sizeof(tenant), id,
                                  sizeof(id)) < 0 ||
            strcmp(tenant, op->tenant) != 0)
          continue;
        /* A, AAAA and CNAME of one resource are one item. */
        key = fmt("%zu:%s%s", strlen(id), id, name);
        if (json_object_get(seen, key)) {
          free(key);
          continue;
        }
        json_object_set_new(seen, key, json_true());
        free(key);
        if (n == MAX_LIST) {
          status = PROVIDER_INVALID;
          msg = fmt("powerdns: more than %d rrsets owned by %s", MAX_LIST,
                    op->tenant);
          goto out;
        }
        if (n == alloc) {
          alloc = alloc ? alloc * 2 : 16;
          items = td_realloc(items, alloc * sizeof(*items));
        }
        items[n].id = td_strdup(id);
        items[n].type = RTYPE_DNS_RECORD;
        items[n++].name = td_strdup(name);
      }
    }
  }
out:
  json_decref(seen);
  if (status == PROVIDER_OK && n > 1)
    qsort(items, n, sizeof(*items), by_name);
  finish_list(op, status, msg, status == PROVIDER_OK ? items : NULL,
              status == PROVIDER_OK ? n : 0);
  for (size_t i = 0; i < n; i++) {
    free((char *)items[i].id);
    free((char *)items[i].name);
  }
  free(items);
  free(msg);
}

static void list_zone_done(struct op *op, int status, const char *message)
{
  if (status != PROVIDER_OK && op->list_status == PROVIDER_OK) {
    op->list_status = status;
    op->list_message = td_strdup(message ? message : "failed");
  }
  assert(op->pending > 0);
  if (--op->pending == 0)
    list_finish(op);
}

static void route(struct op *op)
{
  struct pdns *pd = op->pd;
  char *msg;

  if (op->early_status < 0) {
    fail_op(op, op->early_status, op->early_message);
    return;
  }
  if (op->kind == OP_LIST) {
    list_start(op);
    return;
  }
  op->zone = zone_of(pd, op->name);
  if (!op->zone) {
    msg = fmt("powerdns: no zone on the PowerDNS server holds %s", op->name);
    finish(op, PROVIDER_INVALID, msg, NULL);
    free(msg);
    return;
  }
  if (op->kind == OP_READ)
    need_content(op->zone, op);
  else
    queue_write(op->zone, op);
}

static bool list_fresh(const struct pdns *pd)
{
  return pd->list_loaded &&
         uv_now(pd->base.loop) - pd->list_at < POWERDNS_ZONE_LIST_TTL_MS;
}

/* Routes what came in: at once what failed early or when the zone list
 * is fresh; the rest waits for the list. */
static void route_incoming(struct pdns *pd)
{
  struct opvec ops = opvec_take(&pd->incoming), wait = {0};
  bool fresh = list_fresh(pd), need_list = false;

  for (size_t i = 0; i < ops.n; i++) {
    if (ops.v[i]->early_status < 0 || fresh)
      route(ops.v[i]);
    else
      opvec_push(&wait, ops.v[i]);
  }
  free(ops.v);
  /* Ops queued by the callbacks above go after those waiting. */
  for (size_t i = 0; i < pd->incoming.n; i++)
    opvec_push(&wait, pd->incoming.v[i]);
  free(pd->incoming.v);
  pd->incoming = wait;
  /* Only ops that are routed need the list: those decided early (all
   * once closing, when nothing may be sent) just wait for the kick. */
  for (size_t i = 0; i < pd->incoming.n && !need_list; i++)
    need_list = pd->incoming.v[i]->early_status >= 0;
  if (pd->incoming.n > 0 && !pd->list_fetching) {
    if (list_fresh(pd) || !need_list)
      kick(pd);
    else
      fetch_zone_list(pd);
  }
}

/* ---- the instance ---- */

static void pdns_free(struct pdns *pd)
{
  for (size_t i = 0; i < pd->nzones; i++) {
    struct zone *z = pd->zones[i];

    assert(!z->waiters.n && !z->writes.n && !z->batch.n);
    json_decref(z->names);
    free(z->waiters.v);
    free(z->writes.v);
    free(z->batch.v);
    free(z->name);
    free(z->id);
    free(z);
  }
  free(pd->zones);
  json_decref(pd->zone_index);
  free(pd->incoming.v);
  free(pd->dirty.v);
  free(pd->fetchq.v);
  free(pd->api);
  free(pd->api_path);
  if (pd->key_header) {
    /* The key leaves no copy behind in freed memory. */
    explicit_bzero(pd->key_header, strlen(pd->key_header));
    free(pd->key_header);
  }
  free(pd->base.instance);
  free(pd);
}

static void on_handle_closed(uv_handle_t *h)
{
  struct pdns *pd = h->data;

  if (--pd->open_handles > 0)
    return;
  /*
   * Operations started (against the contract) once the timers were
   * closing could not be kicked: they are answered here, still on the
   * loop and off the calls that started them, before the close callback.
   * Their callbacks may start more; those are answered too.
   */
  while (pd->incoming.n > 0) {
    struct opvec ops = opvec_take(&pd->incoming);

    for (size_t i = 0; i < ops.n; i++)
      fail_op(ops.v[i], ops.v[i]->early_status, ops.v[i]->early_message);
    free(ops.v);
  }
  assert(pd->inflight == 0);
  pd->close_cb(&pd->base, pd->close_arg);
  pdns_free(pd);
}

static void on_curl_closed(void *arg)
{
  struct pdns *pd = arg;

  pd->cu = NULL;
  pd->timers_closed = true;
  uv_close((uv_handle_t *)&pd->kick, on_handle_closed);
  uv_close((uv_handle_t *)&pd->flush, on_handle_closed);
}

static void on_kick(uv_timer_t *t)
{
  struct pdns *pd = container_of(t, struct pdns, kick);

  route_incoming(pd);
  if (pd->closing && !pd->finalizing && pd->inflight == 0) {
    pd->finalizing = true;
    uv_timer_stop(&pd->flush);
    curl_uv_close(pd->cu, on_curl_closed, pd);
  }
}

static void kick(struct pdns *pd)
{
  /* Once the timers close, on_handle_closed answers what is left. */
  if (pd->timers_closed)
    return;
  if (!uv_is_active((uv_handle_t *)&pd->kick))
    uv_timer_start(&pd->kick, on_kick, 0, 0);
}

static struct op *op_new(struct pdns *pd, enum op_kind kind, void *arg)
{
  struct op *op = td_calloc(1, sizeof(*op));

  op->pd = pd;
  op->kind = kind;
  op->arg = arg;
  pd->inflight++;
  /* After close() (even once it is finalizing): answered through the
   * kick, or by on_handle_closed, never from inside this call. */
  if (pd->closing) {
    op->early_status = PROVIDER_TRANSIENT;
    op->early_message = td_strdup("powerdns: the provider is closing");
  }
  return op;
}

static void op_fail_early(struct op *op, int status, char *message)
{
  if (op->early_status < 0) {
    free(message);
    return;
  }
  op->early_status = status;
  op->early_message = message;
}

static void op_start(struct op *op)
{
  opvec_push(&op->pd->incoming, op);
  kick(op->pd);
}

/* Fills the op's desired record from `spec`; failures are early. */
static void take_spec(struct op *op, const json_t *spec)
{
  const json_t *name = json_object_get(spec, "name");
  const json_t *type = json_object_get(spec, "type");
  const json_t *target = json_object_get(spec, "target");
  const json_t *ttl = json_object_get(spec, "ttl");
  char *spec_name = NULL;

  if (!json_is_object(spec)) {
    op_fail_early(op, PROVIDER_INVALID,
                  fmt("powerdns: %s: the spec is not an object", op->name));
    return;
  }
  if (name) {
    spec_name = json_is_string(name) ? norm_name(json_string_value(name))
                                     : td_strdup("");
    if (strcmp(spec_name, op->name) != 0)
      op_fail_early(op, PROVIDER_INVALID,
                    fmt("powerdns: %s: the spec names another record (%.300s)",
                        op->name, spec_name));
    free(spec_name);
  }
  if (!json_is_string(type) || !is_addr_type(json_string_value(type))) {
    op_fail_early(op, PROVIDER_INVALID,
                  fmt("powerdns: %s: type must be A, AAAA or CNAME", op->name));
    return;
  }
  snprintf(op->type, sizeof(op->type), "%s", json_string_value(type));
  if (!json_is_string(target)) {
    op_fail_early(op, PROVIDER_INVALID,
                  fmt("powerdns: %s: target must be a string", op->name));
    return;
  }
  op->target = norm_content(op->type, json_string_value(target));
  if (strcmp(op->type, "A") == 0) {
    struct in_addr a;

    if (inet_pton(AF_INET, op->target, &a) != 1)
      op_fail_early(op, PROVIDER_INVALID,
                    fmt("powerdns: %s: A target '%.100s' is not an IPv4 "
                        "address",
                        op->name, op->target));
  } else if (strcmp(op->type, "AAAA") == 0) {
    struct in6_addr a;

    if (inet_pton(AF_INET6, op->target, &a) != 1)
      op_fail_early(op, PROVIDER_INVALID,
                    fmt("powerdns: %s: AAAA target '%.100s' is not an IPv6 "
                        "address",
                        op->name, op->target));
  } else if (!valid_host(op->target)) {
    op_fail_early(op, PROVIDER_INVALID,
                  fmt("powerdns: %s: CNAME target '%.100s' is not a host "
                      "name",
                      op->name, op->target));
  }
  op->ttl = DEFAULT_TTL;
  if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
              json_integer_value(ttl) > INT32_MAX))
    op_fail_early(op, PROVIDER_INVALID,
                  fmt("powerdns: %s: ttl must be an integer between 0 and %d",
                      op->name, INT32_MAX));
  else if (ttl)
    op->ttl = json_integer_value(ttl);
}

static void start_resource_op(struct provider *p, enum op_kind kind,
                              const struct resource *r, const json_t *spec,
                              provider_cb cb, void *arg)
{
  struct pdns *pd = container_of(p, struct pdns, base);
  struct op *op = op_new(pd, kind, arg);
  const char *type = NULL;

  op->cb = cb;
  op->name = norm_name(r->name);
  op->tenant = td_strdup(r->tenant);
  op->id = td_strdup(r->id);
  resource_marker(op->marker, r->tenant, r->id);
  if (r->type != RTYPE_DNS_RECORD)
    op_fail_early(
        op, PROVIDER_INVALID,
        fmt("powerdns: %s: only dns_record resources live here", r->id));
  if (!valid_host(op->name))
    op_fail_early(op, PROVIDER_INVALID,
                  fmt("powerdns: invalid record name '%.300s'", r->name));
  if (spec) {
    take_spec(op, spec);
  } else if (r->spec) {
    /* A read knows which type to look for when the resource says. */
    type = json_string_value(json_object_get(r->spec, "type"));
    if (type && is_addr_type(type))
      snprintf(op->type, sizeof(op->type), "%s", type);
  }
  op_start(op);
}

static int pdns_open(struct provider **out, const char *instance,
                     const json_t *config, uv_loop_t *loop, char *err,
                     size_t errcap)
{
  static const char *const known[] = {
      "type",      "url",           "apiKeyEnv",   "server",
      "timeoutMs", "batchWindowMs", "zoneCacheMs",
  };
  struct pdns *pd = td_calloc(1, sizeof(*pd));
  const char *key, *url, *key_env = "PDNS_API_KEY", *server = "localhost";
  const char *api_key, *p;
  const json_t *v;
  size_t url_len;
  int rc = -1;

  *out = NULL;
  pd->timeout_ms = DEFAULT_TIMEOUT_MS;
  pd->window_ms = DEFAULT_WINDOW_MS;
  pd->zone_ttl_ms = POWERDNS_ZONE_BODY_TTL_MS;
  if (!json_is_object(config)) {
    snprintf(err, errcap, "powerdns: the config must be an object");
    goto out;
  }
  json_object_foreach((json_t *)config, key, v)
  {
    size_t i = 0;

    while (i < ARRAY_SIZE(known) && strcmp(known[i], key) != 0)
      i++;
    if (i == ARRAY_SIZE(known)) {
      snprintf(err, errcap, "powerdns: unknown option '%.100s'", key);
      goto out;
    }
  }
  url = json_string_value(json_object_get(config, "url"));
  if (!url ||
      (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
    snprintf(err, errcap,
             "powerdns: url is required (http://HOST:PORT or https://...)");
    goto out;
  }
  url_len = strlen(url);
  while (url_len > 0 && url[url_len - 1] == '/')
    url_len--;
  if (url_len > MAX_URL || strpbrk(url, " \t\r\n?#")) {
    snprintf(err, errcap, "powerdns: url is not a plain base URL");
    goto out;
  }
  v = json_object_get(config, "apiKeyEnv");
  if (v && (!json_is_string(v) || !*json_string_value(v))) {
    snprintf(err, errcap,
             "powerdns: apiKeyEnv must name an environment "
             "variable");
    goto out;
  }
  if (v)
    key_env = json_string_value(v);
  v = json_object_get(config, "server");
  if (v && (!json_is_string(v) || !*json_string_value(v) ||
            strspn(json_string_value(v),
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789._-") != strlen(json_string_value(v)))) {
    snprintf(err, errcap,
             "powerdns: server must be a server id such as "
             "\"localhost\"");
    goto out;
  }
  if (v)
    server = json_string_value(v);
  v = json_object_get(config, "timeoutMs");
  if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > MAX_TIMEOUT_MS)) {
    snprintf(err, errcap,
             "powerdns: timeoutMs must be an integer between 1 and %d",
             MAX_TIMEOUT_MS);
    goto out;
  }
  if (v)
    pd->timeout_ms = (uint64_t)json_integer_value(v);
  v = json_object_get(config, "batchWindowMs");
  if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > MAX_WINDOW_MS)) {
    snprintf(err, errcap,
             "powerdns: batchWindowMs must be an integer between 0 and %d",
             MAX_WINDOW_MS);
    goto out;
  }
  if (v)
    pd->window_ms = (uint64_t)json_integer_value(v);
  v = json_object_get(config, "zoneCacheMs");
  if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > MAX_ZONE_CACHE_MS)) {
    snprintf(err, errcap,
             "powerdns: zoneCacheMs must be an integer between 1 and %d",
             MAX_ZONE_CACHE_MS);
    goto out;
  }
  if (v)
    pd->zone_ttl_ms = (uint64_t)json_integer_value(v);
  api_key = getenv(key_env);
  if (!api_key || !*api_key) {
    snprintf(err, errcap,
             "powerdns: the API key variable %.100s is not set (apiKeyEnv)",
             key_env);
    goto out;
  }
  /* A line break would smuggle headers in; the key itself is not shown. */
  if (strpbrk(api_key, "\r\n")) {
    snprintf(err, errcap, "powerdns: the API key in %.100s holds a line break",
             key_env);
    goto out;
  }
  pd->api = fmt("%.*s/api/v1/servers/%s", (int)url_len, url, server);
  p = strchr(strstr(pd->api, "://") + 3, '/');
  pd->api_path = td_strdup(p);
  pd->key_header = fmt("X-API-Key: %s", api_key);
  pd->zone_index = json_object();
  pd->cu = curl_uv_new(loop);
  uv_timer_init(loop, &pd->kick);
  uv_timer_init(loop, &pd->flush);
  pd->kick.data = pd;
  pd->flush.data = pd;
  pd->open_handles = 2;
  pd->base.ops = &powerdns_provider_ops;
  pd->base.instance = td_strdup(instance);
  pd->base.loop = loop;
  *out = &pd->base;
  pd = NULL;
  rc = 0;
out:
  if (pd)
    pdns_free(pd);
  return rc;
}

static void pdns_read(struct provider *p, const struct resource *r,
                      provider_cb cb, void *arg)
{
  start_resource_op(p, OP_READ, r, NULL, cb, arg);
}

static void pdns_create(struct provider *p, const struct resource *r,
                        const json_t *spec, provider_cb cb, void *arg)
{
  start_resource_op(p, OP_CREATE, r, spec, cb, arg);
}

static void pdns_update(struct provider *p, const struct resource *r,
                        const json_t *spec, provider_cb cb, void *arg)
{
  start_resource_op(p, OP_UPDATE, r, spec, cb, arg);
}

static void pdns_remove(struct provider *p, const struct resource *r,
                        provider_cb cb, void *arg)
{
  start_resource_op(p, OP_REMOVE, r, NULL, cb, arg);
}

static void pdns_list_owned(struct provider *p, const char *tenant,
                            provider_list_cb cb, void *arg)
{
  struct pdns *pd = container_of(p, struct pdns, base);
  struct op *op = op_new(pd, OP_LIST, arg);

  op->list_cb = cb;
  op->tenant = td_strdup(tenant);
  op_start(op);
}

static void pdns_close(struct provider *p, provider_close_cb cb, void *arg)
{
  struct pdns *pd = container_of(p, struct pdns, base);

  assert(!pd->closing);
  pd->closing = true;
  pd->close_cb = cb;
  pd->close_arg = arg;
  /* Off this call, and after the last operation's callback. */
  kick(pd);
}

const struct provider_ops powerdns_provider_ops = {
    /* Checked by provider_open(). */
    .version = PROVIDER_OPS_VERSION,
    /* The "type" the controller config names. */
    .type = "powerdns",
    /* Validates the options and reads the API key; no I/O. */
    .open = pdns_open,
    /* The rrset at the name, from the zone's content (one GET per zone). */
    .read = pdns_read,
    /* REPLACE with the marker, batched per zone; refuses others' names. */
    .create = pdns_create,
    /* The same, for a record this resource owns. */
    .update = pdns_update,
    /* DELETE of this resource's rrsets at the name. */
    .remove = pdns_remove,
    /* Every rrset whose marker names the tenant, across the zones. */
    .list_owned = pdns_list_owned,
    /* Waits for operations in flight, closes HTTP and timers. */
    .close = pdns_close,
};
