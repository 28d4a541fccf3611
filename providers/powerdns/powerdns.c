/*
 * powerdns.c - dns_record resources in PowerDNS (see powerdns.h): the
 * instance and the mapping of resources to rrsets.  The zone cache and
 * the writer that batches PATCHes are in zones.c (internal.h has the
 * split).
 *
 * Written on the provider runtime (providers/common/runtime.h): check()
 * normalises the name and takes the spec in the starting call, start()
 * hands the ops of a loop turn to zones.c for routing, and every op is
 * answered through pdns__finish() or rt_op_deliver(), on a later turn.
 */
#include "base/compat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>

#include "model/resource.h"
#include "providers/powerdns/internal.h"

#define DEFAULT_TIMEOUT_MS 5000
#define MAX_TIMEOUT_MS 600000
#define DEFAULT_WINDOW_MS 2
#define MAX_WINDOW_MS 1000
#define MAX_ZONE_CACHE_MS 600000
#define DEFAULT_TTL 300
/* A list larger than this is a runaway server, not a tenant. */
#define MAX_LIST 100000
#define MAX_URL 2048
#define MAX_NAME 253
#define SERVER_ID_CHARS \
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* ---- names and rrsets ---- */

/* Lower case, without one trailing dot, in place. */
static void norm_in_place(char *s)
{
  size_t n = strlen(s);

  if (n > 0 && s[n - 1] == '.')
    s[n - 1] = '\0';
  for (char *p = s; *p; p++)
    *p = (char)tolower((unsigned char)*p);
}

char *pdns__norm_name(const char *s)
{
  char *out = td_strdup(s);

  norm_in_place(out);
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
  return pdns__norm_name(content);
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
static bool is_ours(const struct pdns_op *op, const json_t *rrset)
{
  const char *text;
  char tenant[RESOURCE_MARKER_MAX], id[RESOURCE_MARKER_MAX];

  return marker_of(rrset, &text) &&
         resource_marker_parse(text, tenant, sizeof(tenant), id, sizeof(id)) ==
             0 &&
         strcmp(tenant, op->base.tenant) == 0 && strcmp(id, op->base.id) == 0;
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

/* Whether `target` is a record of `type`'s content (normalised). */
static bool valid_target(const char *type, const char *target)
{
  unsigned char buf[sizeof(struct in6_addr)];

  if (strcmp(type, "A") == 0)
    return inet_pton(AF_INET, target, buf) == 1;
  if (strcmp(type, "AAAA") == 0)
    return inet_pton(AF_INET6, target, buf) == 1;
  return valid_host(target);
}

/* Whether an rrset of type `have` stands where `want` is to go. */
static bool in_the_way(const char *want, const char *have)
{
  if (!*want)
    return is_addr_type(have);
  return strcmp(want, have) == 0 || strcmp(want, "CNAME") == 0 ||
         strcmp(have, "CNAME") == 0;
}

/* ---- observed state and reads ---- */

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

void pdns__answer_read(struct pdns_op *op)
{
  struct zone *z = op->zone;
  const json_t *set = json_object_get(z->names, op->base.name), *rr;
  const json_t *best = NULL;
  bool best_ours = false;
  int best_rank = 99;
  size_t i;

  json_array_foreach(set, i, rr)
  {
    const char *t = rrset_type(rr);
    bool ours = is_ours(op, rr);
    int rank = type_rank(op->rrtype, t);

    if (!has_records(rr) || (!ours && !in_the_way(op->rrtype, t)))
      continue;
    if (!best || (ours && !best_ours) ||
        (ours == best_ours && rank < best_rank)) {
      best = rr;
      best_ours = ours;
      best_rank = rank;
    }
  }
  if (!best) {
    rt_op_fail(&op->base, PROVIDER_NOT_FOUND, "powerdns: %s does not exist",
               op->base.name);
    rt_op_deliver(&op->base);
    return;
  }
  pdns__finish(op, PROVIDER_OK, NULL, observe_rrset(z, op->base.name, best));
}

/* ---- writes ---- */

static json_t *change_delete(const char *name, const char *type)
{
  char *fqdn = td_asprintf("%s.", name);
  json_t *c = json_pack("{s:s, s:s, s:s}", "name", fqdn, "type", type,
                        "changetype", "DELETE");

  free(fqdn);
  return c;
}

static json_t *change_replace(const struct pdns_op *op)
{
  char *fqdn = td_asprintf("%s.", op->base.name);
  char *content = strcmp(op->rrtype, "CNAME") == 0
                      ? td_asprintf("%s.", op->target)
                      : td_strdup(op->target);
  json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:s, s:b}], s:[{s:s, s:s}]}",
                        "name", fqdn, "type", op->rrtype, "ttl", op->ttl,
                        "changetype", "REPLACE", "records", "content", content,
                        "disabled", 0, "comments", "content", op->base.marker,
                        "account", RESOURCE_MARKER_MANAGED_BY);

  free(fqdn);
  free(content);
  return c;
}

static char *holder_message(const char *name, const json_t *rr)
{
  const char *marker;

  if (marker_of(rr, &marker))
    return td_asprintf("powerdns: %s %s is held by another resource (%s)", name,
                       rrset_type(rr), marker);
  return td_asprintf("powerdns: %s %s exists without a tenantd marker", name,
                     rrset_type(rr));
}

int pdns__plan_write(struct pdns_op *op, char **msg)
{
  const json_t *set = json_object_get(op->zone->names, op->base.name), *rr;
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
    if (ours && op->base.kind == RT_REMOVE) {
      json_array_append_new(changes, change_delete(op->base.name, t));
      found = true;
    } else if (ours) {
      found = true;
      if (strcmp(t, op->rrtype) != 0)
        json_array_append_new(changes, change_delete(op->base.name, t));
    } else if (op->base.kind != RT_REMOVE && in_the_way(op->rrtype, t)) {
      *msg = holder_message(op->base.name, rr);
      json_decref(changes);
      return PROVIDER_CONFLICT;
    }
  }
  if (op->base.kind == RT_REMOVE && !found) {
    json_array_foreach(set, i, rr)
    {
      if (has_records(rr) && is_addr_type(rrset_type(rr))) {
        *msg = holder_message(op->base.name, rr);
        json_decref(changes);
        return PROVIDER_CONFLICT;
      }
    }
  }
  if ((op->base.kind == RT_REMOVE || op->base.kind == RT_UPDATE) && !found) {
    *msg = td_asprintf("powerdns: %s does not exist", op->base.name);
    json_decref(changes);
    return PROVIDER_NOT_FOUND;
  }
  if (op->base.kind != RT_REMOVE)
    json_array_append_new(changes, change_replace(op));
  json_decref(op->changes);
  op->changes = changes;
  return PROVIDER_OK;
}

void pdns__write_done(struct pdns_op *op, int status, const char *msg)
{
  json_t *obs = NULL;

  if (status == PROVIDER_OK && op->base.kind != RT_REMOVE)
    obs = observed_new(op->base.name, op->rrtype, op->target, op->ttl,
                       op->zone->name, op->base.marker);
  pdns__finish(op, status, msg, obs);
}

/* ---- lists ---- */

static void list_finish(struct pdns_op *op);

void pdns__list_start(struct pdns_op *op)
{
  struct pdns *pd = pdns_of(op);

  /* One count for the loop itself, so no zone ends the list early. */
  op->pending = 1;
  for (size_t i = 0; i < pd->nzones; i++) {
    if (!pd->zones[i]->listed)
      continue;
    op->pending++;
    pdns__need_content(pd->zones[i], op);
  }
  pdns__list_zone_done(op, PROVIDER_OK, NULL);
}

void pdns__list_zone_done(struct pdns_op *op, int status, const char *message)
{
  /* The first failure is the list's. */
  if (status != PROVIDER_OK && op->base.status == PROVIDER_OK)
    rt_op_fail(&op->base, status, "%s", message ? message : "failed");
  assert(op->pending > 0);
  if (--op->pending == 0)
    list_finish(op);
}

/*
 * Adds the zone's rrsets that carry the tenant's marker to the list.
 * `seen` holds the (id, name) pairs listed so far, as
 * "<len(id)>:<id><name>": a hashed set, so the check stays linear in the
 * rrsets scanned.  Returns PROVIDER_OK or the op's failure.
 */
static int list_zone(struct pdns_op *op, const struct zone *z, json_t *seen)
{
  const char *name;
  json_t *set;

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
          strcmp(tenant, op->base.tenant) != 0)
        continue;
      /* A, AAAA and CNAME of one resource are one item. */
      key = td_asprintf("%zu:%s%s", strlen(id), id, name);
      if (json_object_get(seen, key)) {
        free(key);
        continue;
      }
      json_object_set_new(seen, key, json_true());
      free(key);
      if (op->base.nitems == MAX_LIST)
        return rt_op_fail(&op->base, PROVIDER_INVALID,
                          "powerdns: more than %d rrsets owned by %s", MAX_LIST,
                          op->base.tenant);
      rt_op_add_item(&op->base, id, RTYPE_DNS_RECORD, name);
    }
  }
  return PROVIDER_OK;
}

/* Every zone answered: the list, from their kept content. */
static void list_finish(struct pdns_op *op)
{
  struct pdns *pd = pdns_of(op);
  json_t *seen = json_object();
  int status = op->base.status;

  for (size_t i = 0; status == PROVIDER_OK && i < pd->nzones; i++) {
    const struct zone *z = pd->zones[i];

    if (!z->listed)
      continue;
    if (!z->names)
      status = rt_op_fail(&op->base, PROVIDER_TRANSIENT,
                          "powerdns: zone %s changed while listing", z->name);
    else
      status = list_zone(op, z, seen);
  }
  json_decref(seen);
  if (status == PROVIDER_OK) {
    /* All dns_record: by name. */
    rt_op_sort_items(&op->base);
    rt_op_ok(&op->base, NULL);
  }
  rt_op_deliver(&op->base);
}

/* ---- checks, in the starting call ---- */

/* Takes the desired record from `spec` (the op's copy). */
static int take_spec(struct pdns_op *op, const json_t *spec)
{
  const json_t *name = json_object_get(spec, "name");
  const json_t *type = json_object_get(spec, "type");
  const json_t *target = json_object_get(spec, "target");
  const json_t *ttl = json_object_get(spec, "ttl");
  const char *rname = op->base.name;
  bool same_name = true;

  if (!json_is_object(spec))
    return rt_op_fail(&op->base, PROVIDER_INVALID,
                      "powerdns: %s: the spec is not an object", rname);
  if (name) {
    char *spec_name = json_is_string(name)
                          ? pdns__norm_name(json_string_value(name))
                          : td_strdup("");

    same_name = strcmp(spec_name, rname) == 0;
    if (!same_name)
      rt_op_fail(&op->base, PROVIDER_INVALID,
                 "powerdns: %s: the spec names another record (%.300s)", rname,
                 spec_name);
    free(spec_name);
    if (!same_name)
      return op->base.status;
  }
  if (!json_is_string(type) || !is_addr_type(json_string_value(type)))
    return rt_op_fail(&op->base, PROVIDER_INVALID,
                      "powerdns: %s: type must be A, AAAA or CNAME", rname);
  snprintf(op->rrtype, sizeof(op->rrtype), "%s", json_string_value(type));
  if (!json_is_string(target))
    return rt_op_fail(&op->base, PROVIDER_INVALID,
                      "powerdns: %s: target must be a string", rname);
  op->target = norm_content(op->rrtype, json_string_value(target));
  if (!valid_target(op->rrtype, op->target))
    return rt_op_fail(&op->base, PROVIDER_INVALID,
                      "powerdns: %s: %s target '%.100s' is not %s", rname,
                      op->rrtype, op->target,
                      strcmp(op->rrtype, "A") == 0      ? "an IPv4 address"
                      : strcmp(op->rrtype, "AAAA") == 0 ? "an IPv6 address"
                                                        : "a host name");
  op->ttl = DEFAULT_TTL;
  if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
              json_integer_value(ttl) > INT32_MAX))
    return rt_op_fail(&op->base, PROVIDER_INVALID,
                      "powerdns: %s: ttl must be an integer between 0 and %d",
                      rname, INT32_MAX);
  if (ttl)
    op->ttl = json_integer_value(ttl);
  return PROVIDER_OK;
}

/*
 * In the starting call: the name normalised, the spec checked and taken
 * (create, update); a read or a remove takes the type to look for from
 * the resource's spec when it says.  Nothing is sent yet.
 */
static int pdns_check(struct rt_op *base, const struct resource *r)
{
  struct pdns_op *op = container_of(base, struct pdns_op, base);
  const char *type;

  if (!r)
    return PROVIDER_OK; /* list_owned */
  norm_in_place(base->name);
  if (r->type != RTYPE_DNS_RECORD)
    return rt_op_fail(base, PROVIDER_INVALID,
                      "powerdns: %s: only dns_record resources live here",
                      r->id);
  if (!valid_host(base->name))
    return rt_op_fail(base, PROVIDER_INVALID,
                      "powerdns: invalid record name '%.300s'", r->name);
  if (base->spec)
    return take_spec(op, base->spec);
  type = json_string_value(json_object_get(r->spec, "type"));
  if (type && is_addr_type(type))
    snprintf(op->rrtype, sizeof(op->rrtype), "%s", type);
  return PROVIDER_OK;
}

/* ---- results ---- */

void pdns__finish(struct pdns_op *op, int status, const char *message,
                  json_t *observed)
{
  if (status < 0) {
    rt_op_fail(&op->base, status, "%s", message ? message : "failed");
    json_decref(observed);
  } else {
    rt_op_ok(&op->base, observed);
  }
  rt_op_deliver(&op->base);
}

/* ---- the instance ---- */

/* The API key is last: a config with other mistakes names them first. */
static const struct opt pdns_options[] = {
    OPT_STR("url", struct pdns, url, OPT_REQUIRED | OPT_NONEMPTY, 0,
            "http://HOST:PORT or https://..."),
    OPT_STR_IN("server", struct pdns, server, OPT_NONEMPTY, 0, SERVER_ID_CHARS,
               "localhost", "a server id such as \"localhost\""),
    OPT_UINT("timeoutMs", struct pdns, timeout_ms, 1, MAX_TIMEOUT_MS,
             DEFAULT_TIMEOUT_MS),
    OPT_UINT("batchWindowMs", struct pdns, window_ms, 0, MAX_WINDOW_MS,
             DEFAULT_WINDOW_MS),
    OPT_UINT("zoneCacheMs", struct pdns, zone_ttl_ms, 1, MAX_ZONE_CACHE_MS,
             POWERDNS_ZONE_BODY_TTL_MS),
    OPT_SECRET("apiKeyEnv", struct pdns, api_key, "PDNS_API_KEY",
               "the API key"),
};

/* What the table cannot check; then the API's address, the key's header
 * and the HTTP handles.  Nothing is sent. */
static int pdns_open(struct rt *rt, char *err, size_t errcap)
{
  struct pdns *pd = container_of(rt, struct pdns, rt);
  const char *url = pd->url;
  size_t url_len = strlen(url);

  /* A zone's GET answers its reads, a PATCH carries its writes: the
   * pass hands over every call at once. */
  rt->base.batches = true;
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
    snprintf(err, errcap,
             "powerdns: url must be http://HOST:PORT or https://...");
    return -1;
  }
  while (url_len > 0 && url[url_len - 1] == '/')
    url_len--;
  if (url_len > MAX_URL || strpbrk(url, " \t\r\n?#")) {
    snprintf(err, errcap, "powerdns: url is not a plain base URL");
    return -1;
  }
  /* A line break would smuggle headers in; the key itself is not shown. */
  if (strpbrk(pd->api_key.value, "\r\n")) {
    snprintf(err, errcap, "powerdns: the API key in %.100s holds a line break",
             pd->api_key.name);
    return -1;
  }
  pd->api =
      td_asprintf("%.*s/api/v1/servers/%s", (int)url_len, url, pd->server);
  pd->api_path = td_strdup(strchr(strstr(pd->api, "://") + 3, '/'));
  pd->key_header = td_asprintf("X-API-Key: %s", pd->api_key.value);
  pd->zone_index = json_object();
  pd->cu = curl_uv_new(rt->base.loop);
  uv_timer_init(rt->base.loop, &pd->flush);
  return 0;
}

static void pdns_start(struct rt *rt, struct rt_op *ops, size_t n)
{
  struct pdns *pd = container_of(rt, struct pdns, rt);

  (void)n;
  for (struct rt_op *op = ops; op; op = op->next)
    opvec_push(&pd->incoming, container_of(op, struct pdns_op, base));
  pdns__route_all(pd);
}

static void on_flush_closed(uv_handle_t *h)
{
  struct pdns *pd = container_of((uv_timer_t *)h, struct pdns, flush);

  rt_shutdown_done(&pd->rt);
}

static void on_curl_closed(void *arg)
{
  struct pdns *pd = arg;

  pd->cu = NULL;
  uv_close((uv_handle_t *)&pd->flush, on_flush_closed);
}

/* Every op is answered: the HTTP handles and the flush timer close. */
static void pdns_shutdown(struct rt *rt)
{
  struct pdns *pd = container_of(rt, struct pdns, rt);

  pd->finalizing = true;
  uv_timer_stop(&pd->flush);
  curl_uv_close(pd->cu, on_curl_closed, pd);
}

static void pdns_release(struct rt *rt)
{
  struct pdns *pd = container_of(rt, struct pdns, rt);

  pdns__zones_release(pd);
  free(pd->api);
  free(pd->api_path);
  if (pd->key_header) {
    /* The key leaves no copy behind in freed memory. */
    explicit_bzero(pd->key_header, strlen(pd->key_header));
    free(pd->key_header);
  }
}

static void pdns_op_release(struct rt_op *base)
{
  struct pdns_op *op = container_of(base, struct pdns_op, base);

  free(op->target);
  json_decref(op->changes);
}

RT_PROVIDER(powerdns_provider_ops, "powerdns", struct pdns, struct pdns_op,
            pdns_options, .open = pdns_open, .check = pdns_check,
            .start = pdns_start, .shutdown = pdns_shutdown,
            .release = pdns_release, .op_release = pdns_op_release);
