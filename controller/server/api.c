/*
 * api.c - the daemon's HTTP endpoints, one table of routes.
 *
 * Each route names the role a caller needs:
 *   public   /healthz, /readyz (kubelet and load balancers ask them), the
 *            webhooks, which prove the shared secret themselves, and the
 *            status page, /, which holds no data: it asks the read
 *            routes from the browser, with the token it is given;
 *   read     GET /metrics, /api/v1/tenants..., /api/v1/events,
 *            /api/v1/costs and /api/v1/infrastructure/...: open unless
 *            the config names a read token (http.readTokenEnv), then
 *            that token or the API token;
 *   operate  POST /api/v1/reconcile: the API token (http.apiTokenEnv);
 *            without one configured the route is off (404).
 * A token is presented as "Authorization: Bearer <token>" and compared in
 * constant time.  Loop thread only, like the daemon.
 */
#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>

#include "git/statusview.h"
#include "model/naming.h"
#include "server/auth.h"
#include "server/daemon_internal.h"
#include "server/log.h"
#include "server/webhook.h"

enum role { ROLE_PUBLIC, ROLE_READ, ROLE_OPERATE };

/* `rest` is what follows the route's path (a prefix route's tail). */
typedef void (*route_fn)(struct daemon *d, const struct httpd_request *req,
                         const char *rest, struct httpd_response *resp);

struct route {
  const char *method; /* "GET" also answers HEAD */
  const char *path;
  bool prefix; /* path/... matches too */
  enum role role;
  route_fn fn;
};

static void respond_json(struct httpd_response *resp, int status, json_t *j)
{
  char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

  json_decref(j);
  /* Only an allocation failure makes dumps fail: say so, never answer an
   * empty list that reads as "no tenants". */
  if (!text) {
    httpd_respond(resp, 500, NULL, "cannot encode the answer\n");
    return;
  }
  resp->status = status;
  resp->content_type = "application/json";
  resp->body = text;
  resp->body_len = strlen(text);
}

static void respond_error(struct httpd_response *resp, int status,
                          const char *message)
{
  respond_json(resp, status, json_pack("{s:s}", "error", message));
}

/* ---- public ---- */

static void get_healthz(struct daemon *d, const struct httpd_request *req,
                        const char *rest, struct httpd_response *resp)
{
  (void)d, (void)req, (void)rest;
  httpd_respond(resp, 200, NULL, "ok\n");
}

static bool may_read(const struct daemon *d, const struct httpd_request *req);

static void get_readyz(struct daemon *d, const struct httpd_request *req,
                       const char *rest, struct httpd_response *resp)
{
  char why[1200];
  const char *error = d->last_error;

  (void)rest;
  if (d->ready && !d->stopping)
    return httpd_respond(resp, 200, NULL, "ready\n");
  /* The route is public: with reads behind a token, the last error (URLs
   * without credentials, paths) is for those who may read. */
  if (error[0] && !may_read(d, req))
    error = "the last pass failed (the reason is for readers)";
  snprintf(why, sizeof(why), "not ready: %s\n",
           d->stopping ? "stopping"
           : error[0]  ? error
                       : "no successful sync yet");
  httpd_respond(resp, 503, NULL, why);
}

static void post_hook(struct daemon *d, const struct httpd_request *req,
                      const char *rest, struct httpd_response *resp)
{
  const char *kind = *rest == '/' ? rest + 1 : rest;
  struct webhook_result w;

  if (!d->cfg->http.webhook_secret)
    return respond_error(resp, 404,
                         "webhooks are off: no "
                         "http.webhookSecretEnv in the config");
  webhook_judge(kind, req, d->cfg->http.webhook_secret, d->cfg->source.branch,
                &w);
  switch (w.verdict) {
  case WEBHOOK_UNKNOWN:
    return respond_error(resp, w.status, w.reason);
  case WEBHOOK_REJECTED:
    metric_add(d->m_webhooks, "rejected", 1);
    log_at(LOG_LEVEL_WARN, "webhook rejected", LOG_S("source", kind),
           LOG_S("reason", w.reason), LOG_S("peer", req->peer));
    return respond_error(resp, w.status, w.reason);
  case WEBHOOK_PING:
  case WEBHOOK_IGNORED:
    metric_add(d->m_webhooks, w.verdict == WEBHOOK_PING ? "ping" : "ignored",
               1);
    log_at(LOG_LEVEL_INFO, "webhook answered without a fetch",
           LOG_S("source", kind), LOG_S("reason", w.reason),
           LOG_S("ref", w.ref[0] ? w.ref : NULL));
    return respond_json(
        resp, w.status,
        json_pack("{s:s, s:s}", "status",
                  w.verdict == WEBHOOK_PING ? "pong" : "ignored", "reason",
                  w.reason));
  case WEBHOOK_FETCH:
    break;
  }
  metric_add(d->m_webhooks, "accepted", 1);
  log_at(LOG_LEVEL_INFO, "webhook accepted: fetching", LOG_S("source", kind),
         LOG_S("peer", req->peer));
  d->want_fetch = true;
  daemon__dispatch(d);
  respond_json(resp, w.status, json_pack("{s:s}", "status", w.reason));
}

/* ---- read ---- */

static void get_metrics(struct daemon *d, const struct httpd_request *req,
                        const char *rest, struct httpd_response *resp)
{
  char *text;

  (void)req, (void)rest;
  metric_set(d->m_queue, NULL, (double)d->qlen);
  fleet__metrics(d);
  text = metrics_render(d->m);
  resp->status = 200;
  resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
  resp->body = text;
  resp->body_len = strlen(text);
}

static void get_tenants(struct daemon *d, const struct httpd_request *req,
                        const char *rest, struct httpd_response *resp)
{
  struct dtenant *t;
  json_t *list;

  (void)req;
  if (*rest == '\0') {
    list = json_array();
    for (size_t i = 0; i < d->nt; i++)
      if (d->t[i]->row)
        json_array_append(list, d->t[i]->row);
    return respond_json(resp, 200, list);
  }
  t = *rest == '/' ? daemon__tenant_find(d, rest + 1) : NULL;
  if (!t || !t->detail)
    return respond_error(resp, 404, "no such tenant");
  httpd_respond(resp, 200, "application/json", t->detail);
}

/* ---- operate ---- */

/* The `tenant` query parameter into name ("" when absent): -1 when it is
 * there but not a tenant name. */
static int query_tenant(const char *q, char name[64])
{
  name[0] = '\0';
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);

    if (len >= 7 && strncmp(q, "tenant=", 7) == 0) {
      if (len - 7 > 63)
        return -1;
      snprintf(name, 64, "%.*s", (int)(len - 7), q + 7);
      if (!naming_is_label(name))
        return -1;
    }
    q = amp ? amp + 1 : NULL;
  }
  return 0;
}

static void post_reconcile(struct daemon *d, const struct httpd_request *req,
                           const char *rest, struct httpd_response *resp)
{
  char name[64];

  (void)rest;
  if (query_tenant(req->query, name) < 0)
    return respond_error(resp, 400, "tenant must be a tenant name");
  if (name[0]) {
    struct dtenant *t = daemon__tenant_find(d, name);

    if (!t)
      return respond_error(resp, 404, "no such tenant");
    daemon__enqueue(d, t);
  } else {
    d->want_all = true;
  }
  d->want_fetch = true;
  log_at(LOG_LEVEL_INFO, "reconcile requested",
         LOG_S("tenant", name[0] ? name : "*"), LOG_S("peer", req->peer));
  daemon__dispatch(d);
  respond_json(resp, 202,
               json_pack("{s:s, s:s}", "status", "queued", "tenant",
                         name[0] ? name : "*"));
}

/* ---- routing ---- */

static const struct route routes[] = {
    {"GET", "/healthz", false, ROLE_PUBLIC, get_healthz},
    {"GET", "/readyz", false, ROLE_PUBLIC, get_readyz},
    {"GET", "/metrics", false, ROLE_READ, get_metrics},
    {"GET", "/api/v1/tenants", true, ROLE_READ, get_tenants},
    {"GET", "/api/v1/events", false, ROLE_READ, fleet__get_events},
    {"GET", "/api/v1/costs", false, ROLE_READ, fleet__get_costs},
    {"GET", "/api/v1/infrastructure/status", false, ROLE_READ,
     fleet__get_status},
    {"GET", "/api/v1/infrastructure/capacity", false, ROLE_READ,
     fleet__get_capacity},
    {"GET", "/", false, ROLE_PUBLIC, fleet__get_page},
    {"POST", "/api/v1/reconcile", false, ROLE_OPERATE, post_reconcile},
    {"POST", "/hooks", true, ROLE_PUBLIC, post_hook},
};

/* Whether `path` is the route's, and what follows it. */
static bool path_matches(const struct route *r, const char *path,
                         const char **rest)
{
  size_t n = strlen(r->path);

  if (strncmp(path, r->path, n) != 0)
    return false;
  if (path[n] == '\0' || (r->prefix && path[n] == '/')) {
    *rest = path + n;
    return true;
  }
  return false;
}

static bool method_matches(const struct route *r, const char *method)
{
  return strcmp(r->method, method) == 0 ||
         (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* Whether the request carries what reads need (anything, when reads are
 * open). */
static bool may_read(const struct daemon *d, const struct httpd_request *req)
{
  const char *auth = httpd_header(req, "Authorization");
  const char *api = d->cfg->http.api_token, *read = d->cfg->http.read_token;

  return !read || auth_bearer_ok(auth, read) || auth_bearer_ok(auth, api);
}

/* Whether the request may go on; when not, the answer is set. */
static bool allowed(struct daemon *d, const struct route *r,
                    const struct httpd_request *req,
                    struct httpd_response *resp)
{
  const char *auth = httpd_header(req, "Authorization");
  const char *api = d->cfg->http.api_token;

  switch (r->role) {
  case ROLE_PUBLIC:
    return true;
  case ROLE_READ:
    if (may_read(d, req))
      return true;
    break;
  case ROLE_OPERATE:
    if (!api) {
      respond_error(resp, 404,
                    "the API is off: no http.apiTokenEnv in "
                    "the config");
      return false;
    }
    if (auth_bearer_ok(auth, api))
      return true;
    break;
  }
  resp->www_authenticate = "Bearer realm=\"tenantd\"";
  respond_error(resp, 401, "a valid bearer token is required");
  return false;
}

void api__handle(const struct httpd_request *req, struct httpd_response *resp,
                 void *arg)
{
  struct daemon *d = arg;
  bool known_path = false;
  const char *rest = "";

  for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
    const struct route *r = &routes[i];

    if (!path_matches(r, req->path, &rest))
      continue;
    known_path = true;
    if (!method_matches(r, req->method))
      continue;
    if (!allowed(d, r, req, resp))
      return;
    if (d->stopping && strcmp(r->method, "POST") == 0)
      return respond_error(resp, 503, "tenantd is stopping");
    return r->fn(d, req, rest, resp);
  }
  if (known_path)
    return respond_error(resp, 405, "method not allowed");
  respond_error(resp, 404, "not found");
}
