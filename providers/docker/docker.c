/*
 * docker.c - the docker provider's instance (see docker.h): options,
 * open, check, start, shutdown; answering ops; stages of parallel
 * requests; the scheduler of steps that wait; list_owned.  Services are
 * in service.c, networks in network.c (internal.h has the split).
 */
#include "base/compat.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>

#include "providers/docker/internal.h"

static const struct opt dk_options[] = {
    OPT_STR("socket", struct dk, socket, OPT_REQUIRED | OPT_NONEMPTY, 107,
            "the path of the Engine API's unix socket"),
    OPT_STR_IN("hostAddress", struct dk, host_address, OPT_NONEMPTY, 64,
               "0123456789abcdefABCDEF.:", "127.0.0.1",
               "an IPv4 or IPv6 address"),
    OPT_SECRET("registryAuthEnv", struct dk, registry_auth, NULL,
               "a registry credential"),
    OPT_UINT("maxParallel", struct dk, max_parallel, 1, 64, 8),
    OPT_UINT("timeoutMs", struct dk, timeout_ms, 1000, 600000, 60000),
    OPT_UINT("pullTimeoutMs", struct dk, pull_timeout_ms, 1000, 3600000,
             600000),
    OPT_UINT("healthTimeoutMs", struct dk, health_timeout_ms, 1000, 3600000,
             60000),
    OPT_UINT("healthFailures", struct dk, health_failures, 1, 100, 3),
    OPT_UINT("stopTimeoutSeconds", struct dk, stop_timeout_s, 0, 600, 10),
};

/* ---- answers and stages ---- */

void dk__finish(struct dk_op *op, int status, const char *message,
                json_t *observed)
{
  if (op->following) {
    op->following = false;
    dk__events_unfollow(dk_of(op));
  }
  if (status < 0) {
    json_decref(observed);
    rt_op_fail(&op->base, status, "%s", message ? message : "failed");
  } else {
    rt_op_ok(&op->base, observed);
  }
  rt_op_deliver(&op->base);
}

void dk__stage_begin(struct dk_op *op, void (*then)(struct dk_op *op))
{
  assert(op->pending == 0);
  op->pending = 1; /* dropped by the caller's dk__stage_done() */
  op->then = then;
  op->err_status = PROVIDER_OK;
  op->err[0] = '\0';
}

void dk__stage_add(struct dk_op *op)
{
  op->pending++;
}

void dk__stage_done(struct dk_op *op)
{
  assert(op->pending > 0);
  if (--op->pending == 0)
    op->then(op);
}

void dk__stage_fail(struct dk_op *op, int status, const char *fmt, ...)
{
  va_list ap;

  if (op->err_status < 0)
    return; /* the first failure says why */
  op->err_status = status;
  va_start(ap, fmt);
  vsnprintf(op->err, sizeof(op->err), fmt, ap);
  va_end(ap);
}

/* ---- the scheduler ---- */

static void on_timer(uv_timer_t *t);

static void arm(struct dk *dk)
{
  uint64_t now = uv_now(dk->rt.base.loop);

  if (!dk->wakes) {
    uv_timer_stop(&dk->timer);
    return;
  }
  uv_timer_start(&dk->timer, on_timer,
                 dk->wakes->due > now ? dk->wakes->due - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
  struct dk *dk = container_of(t, struct dk, timer);
  uint64_t now = uv_now(dk->rt.base.loop);

  /* What a step arms while it runs waits for the next turn. */
  while (dk->wakes && dk->wakes->due <= now) {
    struct dk_wake *w = dk->wakes;

    dk->wakes = w->next;
    w->armed = false;
    w->fn(w);
  }
  arm(dk);
}

void dk__wake_after(struct dk *dk, struct dk_wake *w, uint64_t ms,
                    void (*fn)(struct dk_wake *w))
{
  struct dk_wake **at = &dk->wakes;

  assert(!w->armed);
  w->armed = true;
  w->fn = fn;
  w->due = uv_now(dk->rt.base.loop) + ms;
  while (*at && (*at)->due <= w->due)
    at = &(*at)->next;
  w->next = *at;
  *at = w;
  arm(dk);
}

void dk__wake_cancel(struct dk *dk, struct dk_wake *w)
{
  struct dk_wake **at = &dk->wakes;

  if (!w->armed)
    return;
  while (*at != w)
    at = &(*at)->next;
  *at = w->next;
  w->armed = false;
  arm(dk);
}

/* ---- list_owned ---- */

static void list_took(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  size_t which = (size_t)(uintptr_t)ctx;

  if (res->status < 0)
    dk__stage_fail(op, res->status, "%s", res->message);
  else if (!json_is_array(res->json) ||
           json_array_size(res->json) > DK_MAX_LIST)
    dk__stage_fail(op, PROVIDER_INVALID, "docker: a list is not a list");
  else
    op->lists[which] = json_incref((json_t *)res->json);
  dk__stage_done(op);
}

/* Containers by resource (a service each), then networks. */
static void list_gather(struct dk_op *op)
{
  json_t *seen = json_object();
  const json_t *item;
  size_t i;

  if (op->err_status < 0) {
    json_decref(seen);
    dk__finish(op, op->err_status, op->err, NULL);
    return;
  }
  for (int which = 0; which < 2; which++)
    json_array_foreach(op->lists[which], i, item)
    {
      const json_t *labels = json_object_get(item, "Labels");
      const char *id = json_string_value(json_object_get(labels, DK_LABEL_ID));
      const char *name =
          json_string_value(json_object_get(labels, DK_LABEL_NAME));
      const char *tenant =
          json_string_value(json_object_get(labels, DK_LABEL_TENANT));
      char marker[RESOURCE_MARKER_MAX];

      if (!dk__labels_marker(labels, marker) || !name ||
          strcmp(tenant, op->base.tenant) != 0 || json_object_get(seen, id))
        continue;
      json_object_set_new(seen, id, json_true());
      rt_op_add_item(&op->base, id, which == 0 ? RTYPE_SERVICE : RTYPE_NETWORK,
                     name);
    }
  json_decref(seen);
  rt_op_sort_items(&op->base);
  dk__finish(op, PROVIDER_OK, NULL, NULL);
}

static void list_start(struct dk *dk, struct dk_op *op)
{
  char *label = td_asprintf(DK_LABEL_TENANT "=%s", op->base.tenant);
  char *filter = dk__filter("label", label);
  char *path = td_asprintf("/containers/json?all=1&filters=%s", filter);

  dk__stage_begin(op, list_gather);
  dk__stage_add(op);
  dk__api(dk, op, "GET", path, NULL, list_took, (void *)(uintptr_t)0);
  free(path);
  path = td_asprintf("/networks?filters=%s", filter);
  dk__stage_add(op);
  dk__api(dk, op, "GET", path, NULL, list_took, (void *)(uintptr_t)1);
  dk__stage_done(op);
  free(path);
  free(filter);
  free(label);
}

/* ---- the backend ---- */

static int dk_open(struct rt *rt, char *err, size_t errcap)
{
  struct dk *dk = container_of(rt, struct dk, rt);
  unsigned char addr[16];

  if (inet_pton(AF_INET, dk->host_address, addr) != 1 &&
      inet_pton(AF_INET6, dk->host_address, addr) != 1) {
    snprintf(err, errcap,
             "docker: hostAddress must be an IPv4 or IPv6 address");
    return -1;
  }
  if (dk->socket[0] != '/') {
    snprintf(err, errcap, "docker: socket must be an absolute path");
    return -1;
  }
  /* A stop waits this long inside its request. */
  if (dk->timeout_ms <= dk->stop_timeout_s * 1000) {
    snprintf(err, errcap,
             "docker: timeoutMs must be longer than stopTimeoutSeconds");
    return -1;
  }
  dk->queue_tail = &dk->queue_head;
  dk->fresh = json_object();
  /* Handles last: nothing can fail after them. */
  dk->cu = curl_uv_new(rt->base.loop);
  uv_timer_init(rt->base.loop, &dk->timer);
  dk->timer_live = true;
  return 0;
}

/* What every op takes from its resource before it starts. */
static int dk_check(struct rt_op *base, const struct resource *r)
{
  struct dk_op *op = container_of(base, struct dk_op, base);
  const json_t *want;
  char why[256];

  op->owner = (struct dk_owner){base->tenant, base->id, base->name};
  op->want = -1;
  if (base->kind == RT_LIST)
    return PROVIDER_OK;
  if (r->type != RTYPE_SERVICE && r->type != RTYPE_NETWORK)
    return rt_op_fail(base, PROVIDER_INVALID,
                      "docker: %s: only services and networks run here",
                      base->id);
  want = json_object_get(r->spec, "replicas");
  if (json_is_integer(want))
    op->want = (long)json_integer_value(want);
  if (r->type == RTYPE_NETWORK) {
    const char *region = json_string_value(json_object_get(r->spec, "region"));

    op->region = td_strdup(region ? region : "");
  }
  if (base->kind != RT_CREATE && base->kind != RT_UPDATE)
    return PROVIDER_OK;
  if (r->type == RTYPE_NETWORK &&
      (!json_string_value(json_object_get(base->spec, "cidr")) ||
       !json_string_value(json_object_get(base->spec, "name"))))
    return rt_op_fail(base, PROVIDER_INVALID,
                      "docker: %s: a network needs a name and a cidr",
                      base->id);
  if (r->type == RTYPE_SERVICE) {
    if (dk__service_spec_check(base->spec, why, sizeof(why)) < 0)
      return rt_op_fail(base, PROVIDER_INVALID, "docker: %s: %s", base->id,
                        why);
    op->want =
        (long)json_integer_value(json_object_get(base->spec, "replicas"));
    op->tmpl = dk__template(base->spec, op->hash);
  }
  return PROVIDER_OK;
}

static void dk_start(struct rt *rt, struct rt_op *ops, size_t n)
{
  struct dk *dk = container_of(rt, struct dk, rt);

  (void)n;
  while (ops) {
    struct rt_op *next = ops->next;
    struct dk_op *op = container_of(ops, struct dk_op, base);

    if (ops->kind == RT_LIST)
      list_start(dk, op);
    else if (ops->type == RTYPE_SERVICE)
      dk__service_start(op);
    else
      dk__network_start(op);
    ops = next;
  }
}

static void handle_closed(struct dk *dk)
{
  if (--dk->handles == 0)
    rt_shutdown_done(&dk->rt);
}

static void on_cu_closed(void *arg)
{
  handle_closed(arg);
}

static void on_timer_closed(uv_handle_t *h)
{
  handle_closed(container_of((uv_timer_t *)h, struct dk, timer));
}

static void dk_shutdown(struct rt *rt)
{
  struct dk *dk = container_of(rt, struct dk, rt);

  dk__events_stop(dk);
  /* Every op is delivered: nothing waits on the scheduler or a pull. */
  assert(!dk->wakes && !dk->pulls && !dk->queue_head);
  dk->handles = 2;
  curl_uv_close(dk->cu, on_cu_closed, dk);
  dk->cu = NULL;
  dk->timer_live = false;
  uv_close((uv_handle_t *)&dk->timer, on_timer_closed);
}

static void dk_release(struct rt *rt)
{
  struct dk *dk = container_of(rt, struct dk, rt);

  assert(!dk->cu && !dk->timer_live);
  json_decref(dk->fresh);
  dk__events_free(dk);
}

static void dk_op_release(struct rt_op *base)
{
  struct dk_op *op = container_of(base, struct dk_op, base);

  json_decref(op->tmpl);
  free(op->region);
  dk__family_release(&op->fam);
  dk__plan_release(&op->plan);
  free(op->roll);
  json_decref(op->lists[0]);
  json_decref(op->lists[1]);
}

static const struct rt_backend dk_backend = {
    .type = "docker",
    .instance_size = sizeof(struct dk),
    .op_size = sizeof(struct dk_op),
    .options = dk_options,
    .noptions = ARRAY_SIZE(dk_options),
    .open = dk_open,
    .check = dk_check,
    .start = dk_start,
    .shutdown = dk_shutdown,
    .release = dk_release,
    .op_release = dk_op_release,
};

/* Its event stream tells the daemon of containers killed by hand. */
RT_PROVIDER_OPS_WATCHING(docker_provider_ops, "docker", dk_backend,
                         dk__events_watch);
