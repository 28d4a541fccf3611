/*
 * zones.c - the powerdns provider's zone cache and writer (see
 * powerdns.h for what they promise, internal.h for the split).
 *
 * Routing needs the zone list; then a read waits for its zone's content
 * (one GET serves every reader), a write joins its zone's queue, which
 * the flush timer turns into one PATCH.  Each zone is a small state
 * machine: content kept or not, one GET and at most one PATCH in flight,
 * never both: a GET wanted while the zone's writes are in flight waits
 * for them (see fetch_zone).  Zones live as long as the instance, so ops
 * may point at them.  No op is answered from inside these functions: the
 * runtime delivers on a later loop turn.
 */
#include "base/compat.h"

#include <ctype.h>
#include <stdio.h>

#include "model/resource.h"
#include "providers/powerdns/internal.h"

/* Parallel zone GETs: listing many zones must not open a socket each. */
#define MAX_GETS 8
/* rrsets per PATCH: a bounded request body however many writes queue. */
#define MAX_BATCH 1000

static bool flush_zone(struct zone *z);
static void writer_next(struct pdns *pd);
static void fetch_zone(struct zone *z);
static void start_get(struct zone *z);

/* ---- queues ---- */

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

static void fail_all(struct opvec *v, int status, const char *message)
{
  struct opvec ops = opvec_take(v);

  for (size_t i = 0; i < ops.n; i++)
    pdns__finish(ops.v[i], status, message, NULL);
  free(ops.v);
}

/* ---- zone content ---- */

static bool zone_fresh(const struct zone *z)
{
  return z->names &&
         uv_now(z->pd->rt.base.loop) - z->loaded_at < z->pd->zone_ttl_ms;
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
    key = pdns__norm_name(name);
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
    msg = td_asprintf("powerdns: %s %s/zones/%s: HTTP %ld: %.300s", method,
                      pd->api_path, z ? z->id : "", res->http_code, why);
  else if (res->status == PROVIDER_OK)
    msg =
        td_asprintf("powerdns: %s %s/zones/%s: unexpected HTTP %ld (is url the "
                    "API's base URL?)",
                    method, pd->api_path, z ? z->id : "", res->http_code);
  else
    msg = td_asprintf("powerdns: %s", res->message ? res->message : "failed");
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
      z->loaded_at = uv_now(pd->rt.base.loop);
    } else {
      status = PROVIDER_TRANSIENT;
      msg = td_asprintf("powerdns: GET %s/zones/%s: not a zone in the response",
                        pd->api_path, z->id);
    }
  } else if (status == PROVIDER_NOT_FOUND) {
    /* Unknown is not absent: a vanished zone says nothing of its
     * records.  The next try lists the zones again. */
    status = PROVIDER_TRANSIENT;
    pd->list_loaded = false;
    msg = td_asprintf("powerdns: zone %s vanished from the server", z->name);
  } else {
    msg = response_message(pd, "GET", z, res);
  }
  if (status != PROVIDER_OK)
    zone_forget(z);
  if (!pd->finalizing)
    next_get(pd);

  waiters = opvec_take(&z->waiters);
  for (size_t i = 0; i < waiters.n; i++) {
    struct pdns_op *op = waiters.v[i];

    if (op->base.kind == RT_LIST)
      pdns__list_zone_done(op, status, msg);
    else if (status == PROVIDER_OK)
      pdns__answer_read(op);
    else
      pdns__finish(op, status, msg, NULL);
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

/* One request to the API: <api><path>, with the key; `body` (JSON) or
 * NULL. */
static void api_send(struct pdns *pd, const char *method, const char *path,
                     const char *body, size_t max_response, curl_uv_cb done,
                     void *arg)
{
  const char *headers[] = {pd->key_header, "Accept: application/json",
                           "Content-Type: application/json"};
  char *url = td_asprintf("%s%s", pd->api, path);
  struct curl_uv_request req = {
      .method = method,
      .url = url,
      .headers = headers,
      .nheaders = body ? 3 : 2,
      .body = body,
      .body_len = body ? strlen(body) : 0,
      .timeout_ms = pd->timeout_ms,
      .max_response_bytes = max_response,
  };

  curl_uv_send(pd->cu, &req, done, arg);
  free(url);
}

static void send_get(struct zone *z)
{
  char *path = td_asprintf("/zones/%s", z->id);

  z->pd->gets_running++;
  z->get_gen = z->wgen;
  api_send(z->pd, "GET", path, NULL, POWERDNS_MAX_ZONE_BYTES, on_zone, z);
  free(path);
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
void pdns__need_content(struct zone *z, struct pdns_op *op)
{
  if (zone_fresh(z)) {
    if (op->base.kind == RT_LIST)
      pdns__list_zone_done(op, PROVIDER_OK, NULL);
    else
      pdns__answer_read(op);
    return;
  }
  opvec_push(&z->waiters, op);
  fetch_zone(z);
}

/* Applies a write PowerDNS accepted to the kept content. */
static void apply_changes(struct zone *z, const struct pdns_op *op)
{
  json_t *set, *c;
  size_t i;

  if (!z->names)
    return;
  set = json_object_get(z->names, op->base.name);
  if (!set) {
    set = json_array();
    json_object_set_new(z->names, op->base.name, set);
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
    *msg = td_asprintf("powerdns: zone %s vanished from the server", z->name);
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
  json_t *doc = json_pack("{s:O}", "rrsets", rrsets);
  char *body = json_dumps(doc, JSON_COMPACT);
  char *path = td_asprintf("/zones/%s", z->id);

  z->wgen++;
  api_send(z->pd, "PATCH", path, body, 0, done, arg);
  free(path);
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
  struct pdns_op *op = s->ops.v[s->next++];
  char *msg = NULL;
  int status = classify(res);

  if (status == PROVIDER_OK)
    apply_changes(z, op);
  else
    status = failed_patch(z, res, &msg);
  pdns__write_done(op, status, msg);
  free(msg);
  if (s->next < s->ops.n && !z->pd->finalizing) {
    send_single(s);
    return;
  }
  /* Only when closing: what was not sent is cancelled. */
  for (; s->next < s->ops.n; s->next++)
    pdns__write_done(s->ops.v[s->next], PROVIDER_TRANSIENT,
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
    pdns__write_done(batch.v[i], status, msg);
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
    struct pdns_op *op = queued.v[i];
    char *msg = NULL;
    int status;

    /* Writes to one name go in order, one per PATCH. */
    if (json_object_get(touched, op->base.name) || z->batch.n == MAX_BATCH) {
      opvec_push(&later, op);
      continue;
    }
    status = pdns__plan_write(op, &msg);
    if (status < 0) {
      pdns__finish(op, status, msg, NULL);
      free(msg);
      continue;
    }
    json_object_set_new(touched, op->base.name, json_true());
    json_array_extend(rrsets, op->changes);
    opvec_push(&z->batch, op);
  }
  free(queued.v);
  /* Nothing answers from inside this loop (the runtime delivers later),
   * so no write joined the queue meanwhile. */
  assert(z->writes.n == 0);
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

static void queue_write(struct zone *z, struct pdns_op *op)
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
    key = pdns__norm_name(name);
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
  pd->list_at = uv_now(pd->rt.base.loop);
  return true;
}

static void on_zone_list(const struct curl_uv_response *res, void *arg)
{
  struct pdns *pd = arg;
  char *msg = NULL;
  int status = classify(res);

  pd->list_fetching = false;
  if (status == PROVIDER_OK && !load_zone_list(pd, res->body, res->body_len)) {
    status = PROVIDER_TRANSIENT;
    msg = td_asprintf("powerdns: GET %s/zones: not a zone list in the response",
                      pd->api_path);
  } else if (status != PROVIDER_OK) {
    msg = response_message(pd, "GET", NULL, res);
  }
  if (status == PROVIDER_OK)
    pdns__route_all(pd);
  else
    fail_all(&pd->incoming, status, msg);
  free(msg);
}

static void fetch_zone_list(struct pdns *pd)
{
  pd->list_fetching = true;
  api_send(pd, "GET", "/zones", NULL, POWERDNS_MAX_LIST_BYTES, on_zone_list,
           pd);
}

static void route(struct pdns_op *op)
{
  struct pdns *pd = pdns_of(op);

  if (op->base.kind == RT_LIST) {
    pdns__list_start(op);
    return;
  }
  op->zone = zone_of(pd, op->base.name);
  if (!op->zone) {
    rt_op_fail(&op->base, PROVIDER_INVALID,
               "powerdns: no zone on the PowerDNS server holds %s",
               op->base.name);
    rt_op_deliver(&op->base);
    return;
  }
  if (op->base.kind == RT_READ)
    pdns__need_content(op->zone, op);
  else
    queue_write(op->zone, op);
}

static bool list_fresh(const struct pdns *pd)
{
  return pd->list_loaded &&
         uv_now(pd->rt.base.loop) - pd->list_at < POWERDNS_ZONE_LIST_TTL_MS;
}

void pdns__route_all(struct pdns *pd)
{
  struct opvec ops;

  if (pd->incoming.n == 0)
    return;
  if (!list_fresh(pd)) {
    if (!pd->list_fetching)
      fetch_zone_list(pd);
    return;
  }
  /* Nothing answers from inside route(): the runtime delivers later, so
   * no op joins pd->incoming meanwhile. */
  ops = opvec_take(&pd->incoming);
  for (size_t i = 0; i < ops.n; i++)
    route(ops.v[i]);
  free(ops.v);
}

/* ---- the instance's end ---- */

void pdns__zones_release(struct pdns *pd)
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
  assert(!pd->incoming.n);
  free(pd->incoming.v);
  free(pd->dirty.v);
  free(pd->fetchq.v);
}
