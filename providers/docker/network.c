/*
 * network.c - a network's operations (see docker.h): one bridge network
 * per tenant environment, its subnet the manifest's CIDR.  A create
 * connects the tenant's containers that were made for a network of this
 * name and are on none (what a replace's remove left); a remove
 * disconnects the tenant's containers first and refuses anyone else's.
 */
#include "base/compat.h"

#include <stdio.h>

#include "model/resource.h"
#include "providers/docker/internal.h"

static const char *str_of(const json_t *obj, const char *key)
{
  return json_string_value(json_object_get(obj, key));
}

static bool ours(const struct dk_op *op, const json_t *net)
{
  return dk__labels_ours(json_object_get(net, "Labels"), &op->owner);
}

static void get(struct dk_op *op, dk_api_cb cb)
{
  char *name = dk__query_escape(op->owner.name);
  char *path = td_asprintf("/networks/%s", name);

  dk__api(dk_of(op), op, "GET", path, NULL, cb, NULL);
  free(path);
  free(name);
}

/* The network as read, or NULL (with the op answered) when it is not
 * there, cannot be read, or is not the one named. */
static json_t *got(struct dk_op *op, const struct dk_resp *res)
{
  json_t *obs;
  char msg[512];

  if (res->status < 0) {
    dk__finish(op, res->status, res->message, NULL);
    return NULL;
  }
  obs = dk__network_observed(res->json, op->owner.name, op->region);
  if (!obs) {
    snprintf(msg, sizeof(msg), "docker: network %s: not found", op->owner.name);
    dk__finish(op, PROVIDER_NOT_FOUND, msg, NULL);
  }
  return obs;
}

static void not_ours(struct dk_op *op)
{
  char msg[512];

  snprintf(msg, sizeof(msg),
           "docker: network %s exists without tenantd's labels for %s: left "
           "untouched",
           op->owner.name, op->owner.id);
  dk__finish(op, PROVIDER_CONFLICT, msg, NULL);
}

/* ---- read, update ---- */

static void on_read(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  json_t *obs = got(op, res);

  (void)ctx;
  if (obs)
    dk__finish(op, PROVIDER_OK, NULL, obs);
}

static void on_update(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  json_t *obs = got(op, res);
  const char *have, *want = str_of(op->base.spec, "cidr");
  char msg[512];

  (void)ctx;
  if (!obs)
    return;
  have = str_of(json_object_get(obs, "spec"), "cidr");
  if (!ours(op, res->json)) {
    json_decref(obs);
    not_ours(op);
  } else if (strcmp(have, want) != 0) {
    snprintf(msg, sizeof(msg),
             "docker: network %s: its subnet %s cannot become %s in place "
             "(a CIDR change is a replace)",
             op->owner.name, have, want);
    json_decref(obs);
    dk__finish(op, PROVIDER_INVALID, msg, NULL);
  } else {
    dk__finish(op, PROVIDER_OK, NULL, obs);
  }
}

/* ---- create ---- */

static void created_read(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  json_t *obs = got(op, res);

  (void)ctx;
  if (obs)
    dk__finish(op, PROVIDER_OK, NULL, obs);
}

static void reconnected(struct dk_op *op)
{
  if (op->err_status < 0) {
    dk__finish(op, op->err_status, op->err, NULL);
    return;
  }
  get(op, created_read);
}

static void on_connect(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  (void)ctx;
  if (res->status < 0)
    dk__stage_fail(op, res->status, "%s", res->message);
  dk__stage_done(op);
}

/* A container of the tenant made for this network and on none. */
static bool orphaned(const struct dk_op *op, const json_t *c)
{
  const json_t *labels = json_object_get(c, "Labels");
  const json_t *nets =
      json_object_get(json_object_get(c, "NetworkSettings"), "Networks");
  const char *spec = str_of(labels, DK_LABEL_SPEC);
  json_t *tmpl = spec ? json_loads(spec, 0, NULL) : NULL;
  const char *want = str_of(tmpl, "network");
  bool yes =
      want && strcmp(want, op->owner.name) == 0 && json_object_size(nets) == 0;

  json_decref(tmpl);
  return yes;
}

static void on_tenant_list(struct dk_op *op, const struct dk_resp *res,
                           void *ctx)
{
  const json_t *c;
  size_t i;
  char *name = dk__query_escape(op->owner.name);
  char *path = td_asprintf("/networks/%s/connect", name);

  (void)ctx;
  dk__stage_begin(op, reconnected);
  if (res->status < 0)
    dk__stage_fail(op, res->status, "%s", res->message);
  json_array_foreach(res->json, i, c)
  {
    char marker[RESOURCE_MARKER_MAX];

    if (!dk__labels_marker(json_object_get(c, "Labels"), marker) ||
        strcmp(str_of(json_object_get(c, "Labels"), DK_LABEL_TENANT),
               op->owner.tenant) != 0 ||
        !str_of(c, "Id") || !orphaned(op, c))
      continue;
    dk__stage_add(op);
    dk__api(dk_of(op), op, "POST", path,
            json_pack("{s:s}", "Container", str_of(c, "Id")), on_connect, NULL);
  }
  dk__stage_done(op);
  free(path);
  free(name);
}

static void reconnect(struct dk_op *op)
{
  char *label = td_asprintf(DK_LABEL_TENANT "=%s", op->owner.tenant);
  char *filter = dk__filter("label", label);
  char *path = td_asprintf("/containers/json?all=1&filters=%s", filter);

  dk__api(dk_of(op), op, "GET", path, NULL, on_tenant_list, NULL);
  free(path);
  free(filter);
  free(label);
}

/* The create failed: is the name taken, by whom, or the subnet? */
static void on_existing(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  const char *have, *want = str_of(op->base.spec, "cidr");
  json_t *obs;

  (void)ctx;
  if (res->status == PROVIDER_NOT_FOUND) {
    /* Not the name: the subnet is someone else's, or worse. */
    dk__finish(op, op->err_status, op->err, NULL);
    return;
  }
  obs = got(op, res);
  if (!obs)
    return;
  have = str_of(json_object_get(obs, "spec"), "cidr");
  json_decref(obs);
  if (!ours(op, res->json) || strcmp(have, want) != 0) {
    not_ours(op);
    return;
  }
  reconnect(op); /* made by an interrupted pass */
}

static void on_created(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  (void)ctx;
  if (res->status >= 0) {
    reconnect(op);
    return;
  }
  if (res->code == 0) {
    dk__finish(op, res->status, res->message, NULL);
    return;
  }
  /* An overlapping subnet is a conflict with what holds it; anything
   * else keeps its class.  Either way, the name is looked at first. */
  op->err_status =
      strcasestr(res->message, "overlap") || strcasestr(res->message, "subnet")
          ? PROVIDER_CONFLICT
          : res->status;
  snprintf(op->err, sizeof(op->err), "%s", res->message);
  get(op, on_existing);
}

/* ---- remove ---- */

static void on_deleted(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  (void)ctx;
  if (res->status < 0)
    dk__finish(op, res->status, res->message, NULL);
  else
    dk__finish(op, PROVIDER_OK, NULL, NULL);
}

static void disconnected(struct dk_op *op)
{
  char *name, *path;

  if (op->err_status < 0) {
    dk__finish(op, op->err_status, op->err, NULL);
    return;
  }
  name = dk__query_escape(op->owner.name);
  path = td_asprintf("/networks/%s", name);
  dk__api(dk_of(op), op, "DELETE", path, NULL, on_deleted, NULL);
  free(path);
  free(name);
}

static void on_users(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  const json_t *c;
  size_t i;
  char *name = dk__query_escape(op->owner.name);
  char *path = td_asprintf("/networks/%s/disconnect", name);

  (void)ctx;
  dk__stage_begin(op, disconnected);
  if (res->status < 0)
    dk__stage_fail(op, res->status, "%s", res->message);
  json_array_foreach(res->json, i, c)
  {
    const json_t *labels = json_object_get(c, "Labels");
    const char *tenant = str_of(labels, DK_LABEL_TENANT);
    char marker[RESOURCE_MARKER_MAX];

    if (!dk__labels_marker(labels, marker) || !str_of(c, "Id") ||
        strcmp(tenant, op->owner.tenant) != 0) {
      const char *who =
          json_string_value(json_array_get(json_object_get(c, "Names"), 0));

      dk__stage_fail(op, PROVIDER_CONFLICT,
                     "docker: network %s is used by container %s, which "
                     "is not this tenant's: left untouched",
                     op->owner.name, who ? who : "?");
      continue;
    }
    dk__stage_add(op);
    dk__api(dk_of(op), op, "POST", path,
            json_pack("{s:s, s:b}", "Container", str_of(c, "Id"), "Force", 1),
            on_connect, NULL);
  }
  dk__stage_done(op);
  free(path);
  free(name);
}

static void on_remove_read(struct dk_op *op, const struct dk_resp *res,
                           void *ctx)
{
  json_t *obs = got(op, res);
  char *filter, *path;

  (void)ctx;
  if (!obs)
    return;
  json_decref(obs);
  if (!ours(op, res->json)) {
    not_ours(op);
    return;
  }
  filter = dk__filter("network", op->owner.name);
  path = td_asprintf("/containers/json?all=1&filters=%s", filter);
  dk__api(dk_of(op), op, "GET", path, NULL, on_users, NULL);
  free(path);
  free(filter);
}

void dk__network_start(struct dk_op *op)
{
  struct dk_owner *o = &op->owner;

  switch (op->base.kind) {
  case RT_READ:
    get(op, on_read);
    break;
  case RT_UPDATE:
    get(op, on_update);
    break;
  case RT_CREATE:
    dk__api(dk_of(op), op, "POST", "/networks/create",
            dk__network_body(op->base.spec, o), on_created, NULL);
    break;
  case RT_REMOVE:
    get(op, on_remove_read);
    break;
  case RT_LIST:
    break;
  }
}
