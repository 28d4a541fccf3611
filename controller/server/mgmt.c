/*
 * mgmt.c - see mgmt.h.
 *
 * A request is checked on the loop (its name, its body's shape), becomes
 * a job holding copies of everything it needs, and waits in a FIFO.  The
 * job at the head runs in two phases on the threadpool: the commit
 * (manifestwrite_run(), Git only, beside passes), then the plan
 * (manifestwrite_plan(), which reads the providers: it waits for the pass
 * under way to end, and passes wait for it, through daemon__dispatch()
 * asking mgmt_dispatch()).  Then the answer, the log line, the pass for
 * the tenant, and the next job.  So one write runs at a time and the
 * writer's state (its mirror, its loaded manifests) is never shared.
 */
#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>
#include <sys/random.h>

#include "base/error.h"
#include "git/manifestwrite.h"
#include "model/naming.h"
#include "server/auth.h"
#include "server/daemon_internal.h"
#include "server/log.h"
#include "server/mgmt.h"

#define PATCH_SETS_MAX 32
#define REQUEST_ID_LEN 16

/* Where the running job is. */
enum phase {
  PHASE_COMMIT,    /* manifestwrite_run() on the threadpool */
  PHASE_PLAN_WAIT, /* committed; the plan waits for the providers */
  PHASE_PLAN,      /* manifestwrite_plan() on the threadpool */
};

struct job {
  uv_work_t work;
  enum phase phase;
  struct mgmt *m;
  struct job *next;
  struct httpd_deferred *answer;
  struct manifestwrite_request rq;
  struct manifestwrite_result res;
  /* What rq points into, owned here. */
  char *tenant, *document, *subject, *origin, *author, *email;
  struct mw_set sets[PATCH_SETS_MAX];
  char *set_strings[PATCH_SETS_MAX][2]; /* path, string value */
  json_t *providers;
  char id[REQUEST_ID_LEN + 1];
  enum config_api_mode mode;
  uint64_t started; /* uv_hrtime() */
};

struct mgmt {
  struct daemon *d;
  struct manifestwrite *w; /* made at the first write */
  struct job *head, *tail; /* waiting */
  size_t waiting;
  struct job *running;
  struct metric *m_writes;
};

static const char *const status_names[] = {
    [MW_COMMITTED] = "committed",     [MW_UNCHANGED] = "unchanged",
    [MW_BAD_REQUEST] = "bad request", [MW_INVALID] = "invalid",
    [MW_NOT_FOUND] = "not found",     [MW_EXISTS] = "exists",
    [MW_CONFLICT] = "conflict",       [MW_UNREACHABLE] = "unreachable",
    [MW_REFUSED] = "refused",         [MW_ERROR] = "error",
};

static const int status_codes[] = {
    [MW_COMMITTED] = 202, [MW_UNCHANGED] = 200,   [MW_BAD_REQUEST] = 400,
    [MW_INVALID] = 422,   [MW_NOT_FOUND] = 404,   [MW_EXISTS] = 409,
    [MW_CONFLICT] = 409,  [MW_UNREACHABLE] = 503, [MW_REFUSED] = 502,
    [MW_ERROR] = 500,
};

/* ---- answers ---- */

static void set_json(struct httpd_response *resp, int status, json_t *j)
{
  char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

  json_decref(j);
  if (!text) {
    httpd_respond(resp, 500, NULL, "cannot encode the answer\n");
    return;
  }
  free(resp->body);
  resp->status = status;
  resp->content_type = "application/json";
  resp->body = text;
  resp->body_len = strlen(text);
}

static void set_error(struct httpd_response *resp, int status,
                      const char *message)
{
  set_json(resp, status, json_pack("{s:s}", "error", message));
}

static json_t *errors_json(const struct diag_list *dl)
{
  json_t *a = json_array();

  for (size_t i = 0; i < dl->n; i++) {
    const struct diag *x = &dl->v[i];

    json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:s, s:s}", "file",
                                       x->path, "line", (json_int_t)x->line,
                                       "column", (json_int_t)x->col, "severity",
                                       "error", "message", x->msg));
  }
  return a;
}

/* The answer to a finished job. */
static json_t *result_json(const struct job *j)
{
  const struct manifestwrite_result *r = &j->res;
  json_t *o = json_pack("{s:s, s:s}", "status", status_names[r->status],
                        "request", j->id);

  if (r->tenant[0])
    json_object_set_new(o, "tenant", json_string(r->tenant));
  if (r->status != MW_COMMITTED) {
    json_object_set_new(o, "error", json_string(r->message));
    if (r->status == MW_INVALID)
      json_object_set_new(o, "errors", errors_json(&r->diags));
    if (r->document)
      json_object_set_new(o, "document", json_string(r->document));
    return o;
  }
  json_object_set_new(o, "commit", json_string(r->commit));
  json_object_set_new(o, "branch", json_string(r->branch));
  json_object_set_new(
      o, "mode",
      json_string(j->mode == CONFIG_API_BRANCH ? "branch" : "direct"));
  json_object_set_new(o, "file", json_string(r->path));
  json_object_set_new(o, "base", json_string(r->base));
  json_object_set_new(o, "plan",
                      r->plan ? json_loads(r->plan, 0, NULL) : json_null());
  if (!r->plan)
    json_object_set_new(o, "planError", json_string(r->plan_error));
  return o;
}

/* ---- jobs ---- */

static void job_free(struct job *j)
{
  manifestwrite_result_release(&j->res);
  free(j->tenant);
  free(j->document);
  free(j->subject);
  free(j->origin);
  free(j->author);
  free(j->email);
  for (size_t i = 0; i < j->rq.nsets; i++) {
    free(j->set_strings[i][0]);
    free(j->set_strings[i][1]);
  }
  json_decref(j->providers);
  free(j);
}

static void start_next(struct mgmt *m);

static void work(uv_work_t *w)
{
  struct job *j = container_of(w, struct job, work);

  if (j->phase == PHASE_COMMIT)
    manifestwrite_run(j->m->w, &j->rq, &j->res);
  else
    manifestwrite_plan(j->m->w, &j->rq, &j->res);
}

static void log_done(const struct job *j)
{
  const struct manifestwrite_result *r = &j->res;
  bool ok = r->status == MW_COMMITTED || r->status == MW_UNCHANGED;

  log_at(ok ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "api write done",
         LOG_S("token", j->author),
         LOG_S("tenant", r->tenant[0] ? r->tenant : NULL),
         LOG_S("request", j->id), LOG_S("result", status_names[r->status]),
         LOG_S("commit", r->commit[0] ? r->commit : NULL),
         LOG_S("branch", r->commit[0] ? r->branch : NULL),
         LOG_U("attempts", r->attempts),
         LOG_SECS("seconds", (double)(uv_hrtime() - j->started) / 1e9),
         LOG_S("error", ok ? NULL : r->message));
}

/* A commit on the tracked branch: fetch it and pass the tenant (a new
 * one is found by the fetch, as the commit changed its file).  The
 * caller dispatches. */
static void queue_pass(struct daemon *d, const char *tenant)
{
  struct dtenant *t = daemon__tenant_find(d, tenant);

  d->want_fetch = true;
  if (t)
    daemon__enqueue(d, t);
}

/*
 * Answers the running job (once: it is freed here) and starts the next.
 * `dispatch`: then let the daemon start the pass queued here, or finish
 * its stop; false when the caller is the daemon itself, in
 * daemon__dispatch() or starting its stop.
 */
static void finish(struct mgmt *m, bool dispatch)
{
  struct job *j = m->running;
  struct httpd_response resp = {.status = 200};
  bool stopping = m->d->stopping;

  m->running = NULL;
  log_done(j);
  metric_add(m->m_writes, status_names[j->res.status], 1);
  set_json(&resp, status_codes[j->res.status], result_json(j));
  httpd_deferred_answer(j->answer, &resp);
  if (j->res.status == MW_COMMITTED && j->mode == CONFIG_API_DIRECT &&
      !stopping)
    queue_pass(m->d, j->res.tenant);
  job_free(j);
  start_next(m);
  if (!dispatch)
    return;
  if (stopping)
    daemon__write_done(m->d);
  else
    daemon__dispatch(m->d);
}

static void after_work(uv_work_t *w, int status)
{
  struct job *j = container_of(w, struct job, work);
  struct mgmt *m = j->m;
  struct manifestwrite_result *r = &j->res;

  if (status < 0 && j->phase == PHASE_COMMIT) {
    r->status = MW_ERROR;
    snprintf(r->message, sizeof(r->message), "the write was cancelled");
  } else if (status < 0) {
    snprintf(r->plan_error, sizeof(r->plan_error), "the plan was cancelled");
  }
  if (j->phase == PHASE_COMMIT && r->status == MW_COMMITTED) {
    if (!m->d->stopping) {
      /* The plan, once no pass holds the providers; before the pass
       * that applies the commit. */
      log_at(LOG_LEVEL_DEBUG, "api write committed", LOG_S("tenant", r->tenant),
             LOG_S("request", j->id), LOG_S("commit", r->commit),
             LOG_B("pass_running", m->d->pass));
      j->phase = PHASE_PLAN_WAIT;
      daemon__dispatch(m->d);
      return;
    }
    snprintf(r->plan_error, sizeof(r->plan_error), "tenantd is stopping");
  }
  finish(m, true);
}

bool mgmt_dispatch(struct mgmt *m)
{
  struct job *j = m ? m->running : NULL;
  int rc;

  if (!j || j->phase == PHASE_COMMIT)
    return false;
  if (j->phase == PHASE_PLAN)
    return true;
  log_at(LOG_LEVEL_DEBUG, "api write planning", LOG_S("tenant", j->res.tenant),
         LOG_S("request", j->id), LOG_S("commit", j->res.commit));
  j->phase = PHASE_PLAN;
  rc = uv_queue_work(m->d->loop, &j->work, work, after_work);
  if (rc < 0) {
    /* Not expected of a loop that runs: the commit is answered alone,
     * and the caller goes on to its pass. */
    snprintf(j->res.plan_error, sizeof(j->res.plan_error), "cannot queue: %s",
             uv_strerror(rc));
    finish(m, false);
    return false;
  }
  return true;
}

static void start_next(struct mgmt *m)
{
  struct job *j = m->head;
  int rc;

  if (m->running || !j || m->d->stopping)
    return;
  m->head = j->next;
  if (!m->head)
    m->tail = NULL;
  m->waiting--;
  m->running = j;
  j->started = uv_hrtime();
  j->phase = PHASE_COMMIT;
  rc = uv_queue_work(m->d->loop, &j->work, work, after_work);
  if (rc < 0) {
    /* Not expected of a loop that runs; answered as a failure. */
    j->res.status = MW_ERROR;
    snprintf(j->res.message, sizeof(j->res.message), "cannot queue: %s",
             uv_strerror(rc));
    finish(m, true);
  }
}

/* The source a writer works on: the daemon's, in a mirror of its own. */
static void writer(struct mgmt *m)
{
  const struct config *c = m->d->cfg;
  struct source_opts o = SOURCE_OPTS_INIT;
  char *cache;

  if (m->w)
    return;
  cache = td_asprintf("%s/api", c->cache_dir);
  o.url = c->source.url;
  o.branch = c->source.branch;
  o.status_branch = c->status.branch;
  o.cache_dir = cache;
  o.ssh_key = c->source.ssh_key;
  o.known_hosts = c->source.known_hosts;
  o.allow_insecure = c->source.allow_insecure;
  o.timeout_ms = c->source.timeout_ms;
  manifestwrite_new(&m->w, &o);
  free(cache);
}

/* ---- the module ---- */

struct mgmt *mgmt_new(struct daemon *d)
{
  struct mgmt *m = td_calloc(1, sizeof(*m));
  static const char *const results[] = {"committed", "unchanged", "invalid",
                                        "conflict"};

  m->d = d;
  m->m_writes = metrics_register(
      d->m, METRIC_COUNTER, "tenantd_api_writes_total",
      "Tenant changes asked through the API, by how they ended.", "result",
      NULL, 0);
  for (size_t i = 0; i < ARRAY_SIZE(results); i++)
    metric_add(m->m_writes, results[i], 0);
  return m;
}

void mgmt_free(struct mgmt *m)
{
  if (!m)
    return;
  assert(!m->running && !m->head);
  manifestwrite_free(m->w);
  free(m);
}

bool mgmt_busy(const struct mgmt *m)
{
  return m && m->running;
}

void mgmt_stop(struct mgmt *m)
{
  /* A plan not started is left out: the commit is answered alone (the
   * next start's first pass applies it). */
  if (m && m->running && m->running->phase == PHASE_PLAN_WAIT) {
    snprintf(m->running->res.plan_error, sizeof(m->running->res.plan_error),
             "tenantd is stopping");
    finish(m, false);
  }
  while (m && m->head) {
    struct job *j = m->head;
    struct httpd_response resp = {.status = 200};

    m->head = j->next;
    m->waiting--;
    set_json(&resp, 503,
             json_pack("{s:s, s:s, s:s}", "status", "stopping", "request",
                       j->id, "error",
                       "tenantd is stopping; nothing was "
                       "written"));
    httpd_deferred_answer(j->answer, &resp);
    job_free(j);
  }
  if (m)
    m->tail = NULL;
}

/* ---- requests ---- */

static void request_id(char id[REQUEST_ID_LEN + 1])
{
  unsigned char raw[REQUEST_ID_LEN / 2];
  uint64_t seed = uv_hrtime() | 1;

  if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
    for (size_t i = 0; i < sizeof(raw); i++)
      raw[i] = (unsigned char)td_rand(&seed);
  for (size_t i = 0; i < sizeof(raw); i++)
    snprintf(id + 2 * i, 3, "%02x", raw[i]);
}

/* The value of `key` in a query string into buf; false when absent. */
static bool query_value(const char *q, const char *key, char *buf, size_t cap)
{
  size_t klen = strlen(key);

  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);

    if (len > klen && strncmp(q, key, klen) == 0 && q[klen] == '=') {
      snprintf(buf, cap, "%.*s", (int)(len - klen - 1), q + klen + 1);
      return len - klen - 1 < cap;
    }
    q = amp ? amp + 1 : NULL;
  }
  buf[0] = '\0';
  return false;
}

/* "/<name>" after /api/v1/tenants: the name, or NULL (answered 400). */
static const char *url_tenant(const char *rest, struct httpd_response *resp)
{
  const char *name = *rest == '/' ? rest + 1 : NULL;

  if (!name || strlen(name) > 63 || !naming_is_label(name)) {
    set_error(resp, 400,
              "the URL must name a tenant: /api/v1/tenants/NAME, NAME a DNS "
              "label (lowercase letters, digits and inner hyphens, at most "
              "63)");
    return NULL;
  }
  return name;
}

/* A job for the request, or NULL when it was answered already. */
static struct job *job_new(struct daemon *d, const struct httpd_request *req,
                           enum mw_op op, struct httpd_response *resp)
{
  const struct auth_token *who = auth_tokens_match(
      &d->cfg->http.tokens, httpd_header(req, "Authorization"));
  char allow[32];
  struct job *j;
  char *end;
  long n = -1;

  if (query_value(req->query, "allowDelete", allow, sizeof(allow))) {
    n = strtol(allow, &end, 10);
    if (!allow[0] || *end || n < 0 || n > 1000000) {
      set_error(resp, 400, "allowDelete must be a number of deletions");
      return NULL;
    }
  }
  j = td_calloc(1, sizeof(*j));
  request_id(j->id);
  j->author = td_strdup(who ? who->name : "api");
  j->email = who && who->email ? td_strdup(who->email)
                               : td_asprintf("%s@tenantd", j->author);
  for (char *p = j->email; *p; p++)
    if (*p == ' ')
      *p = '-';
  j->origin = td_asprintf("%s %s", req->method, req->path);
  j->mode = d->cfg->api.mode;
  j->providers = json_deep_copy(d->cfg->providers);
  j->rq = (struct manifestwrite_request){
      .version = MANIFESTWRITE_REQUEST_VERSION,
      .op = op,
      .author_name = j->author,
      .author_email = j->email,
      .origin = j->origin,
      .request_id = j->id,
      .to_branch = j->mode == CONFIG_API_BRANCH,
      .allow_delete = n,
      .providers = j->providers,
      .concurrency = d->cfg->reconcile.concurrency,
  };
  return j;
}

/* Queues j and defers the answer; 503 when too many wait. */
static void submit(struct daemon *d, struct job *j,
                   const struct httpd_request *req, struct httpd_response *resp)
{
  struct mgmt *m = d->mgmt;

  if (m->waiting >= MGMT_QUEUE_MAX) {
    set_error(resp, 503, "too many changes waiting; retry in a moment");
    job_free(j);
    return;
  }
  log_at(LOG_LEVEL_INFO, "api write requested", LOG_S("token", j->author),
         LOG_S("method", req->method), LOG_S("path", req->path),
         LOG_S("tenant", j->tenant), LOG_S("request", j->id),
         LOG_S("peer", req->peer));
  writer(m);
  j->m = m;
  j->answer = httpd_defer(resp);
  if (m->tail)
    m->tail->next = j;
  else
    m->head = j;
  m->tail = j;
  m->waiting++;
  start_next(m);
}

/* A document body: JSON when the type says so or it starts with '{'. */
static void take_document(struct job *j, const struct httpd_request *req)
{
  const char *type = httpd_header(req, "Content-Type");
  const char *p = req->body;

  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
    p++;
  j->document = td_strndup(req->body, req->body_len);
  j->rq.document = j->document;
  j->rq.document_len = req->body_len;
  j->rq.document_json = type ? strstr(type, "json") != NULL : *p == '{';
}

void mgmt_post_tenant(struct daemon *d, const struct httpd_request *req,
                      const char *rest, struct httpd_response *resp)
{
  struct job *j;

  (void)rest;
  if (req->body_len == 0)
    return set_error(resp, 400, "POST a tenant document (JSON or YAML)");
  j = job_new(d, req, MW_CREATE, resp);
  if (!j)
    return;
  take_document(j, req);
  submit(d, j, req, resp);
}

void mgmt_put_tenant(struct daemon *d, const struct httpd_request *req,
                     const char *rest, struct httpd_response *resp)
{
  const char *name = url_tenant(rest, resp);
  struct job *j;

  if (!name)
    return;
  if (req->body_len == 0)
    return set_error(resp, 400, "PUT the tenant's document (JSON or YAML)");
  j = job_new(d, req, MW_REPLACE, resp);
  if (!j)
    return;
  j->tenant = td_strdup(name);
  j->rq.tenant = j->tenant;
  take_document(j, req);
  submit(d, j, req, resp);
}

void mgmt_delete_tenant(struct daemon *d, const struct httpd_request *req,
                        const char *rest, struct httpd_response *resp)
{
  const char *name = url_tenant(rest, resp);
  struct job *j;

  if (!name)
    return;
  j = job_new(d, req, MW_DELETE, resp);
  if (!j)
    return;
  j->tenant = td_strdup(name);
  j->rq.tenant = j->tenant;
  submit(d, j, req, resp);
}

/* ---- PATCH bodies ---- */

/* Appends one value to set; false when the patch is full. */
static bool add_set(struct job *j, const char *path, const json_t *v)
{
  size_t i = j->rq.nsets;
  struct mw_set *s = &j->sets[i];

  if (i == PATCH_SETS_MAX)
    return false;
  j->set_strings[i][0] = td_strdup(path);
  s->path = j->set_strings[i][0];
  if (json_is_boolean(v)) {
    s->value = (struct yamledit_value){.type = YS_BOOL, .b = json_is_true(v)};
  } else if (json_is_integer(v)) {
    s->value =
        (struct yamledit_value){.type = YS_INT, .i = json_integer_value(v)};
  } else {
    j->set_strings[i][1] = td_strdup(json_string_value(v));
    s->value =
        (struct yamledit_value){.type = YS_STR, .s = j->set_strings[i][1]};
  }
  j->rq.sets = j->sets;
  j->rq.nsets = i + 1;
  return true;
}

/* "staging/web": {"replicas": 3, "image": "..."} */
static const char *patch_app(struct job *j, const char *key, const json_t *v)
{
  const char *slash = strchr(key, '/'), *field;
  char env[64], app[64], path[200];
  json_t *x;

  if (!slash || (size_t)(slash - key) >= sizeof(env) ||
      strlen(slash + 1) >= sizeof(app))
    return "apps are named ENVIRONMENT/APP, like \"staging/web\"";
  snprintf(env, sizeof(env), "%.*s", (int)(slash - key), key);
  snprintf(app, sizeof(app), "%s", slash + 1);
  if (!naming_is_label(env) || !naming_is_label(app))
    return "apps are named ENVIRONMENT/APP, each a DNS label";
  if (!json_is_object(v) || json_object_size(v) == 0)
    return "each app takes {\"replicas\": N} and/or {\"image\": \"...\"}";
  json_object_foreach((json_t *)v, field, x)
  {
    bool replicas = strcmp(field, "replicas") == 0;

    if (!replicas && strcmp(field, "image") != 0)
      return "an app's fields are replicas and image";
    if (replicas ? !json_is_integer(x) : !json_is_string(x))
      return replicas ? "replicas is an integer" : "image is a string";
    snprintf(path, sizeof(path), "spec.environments[%s].apps[%s].%s", env, app,
             field);
    if (!add_set(j, path, x))
      return "too many changes in one patch";
  }
  return NULL;
}

/* The body's changes into j; NULL, or what is wrong with it. */
static const char *patch_body(struct job *j, const json_t *body)
{
  const char *key, *why = NULL;
  json_t *v, *x;

  if (!json_is_object(body) || json_object_size(body) == 0)
    return "PATCH a JSON object: {\"tier\": \"premium\"}, {\"suspend\": "
           "true}, {\"apps\": {\"staging/web\": {\"replicas\": 3}}}";
  json_object_foreach((json_t *)body, key, v)
  {
    if (strcmp(key, "tier") == 0) {
      if (!json_is_string(v))
        return "tier is a string";
      add_set(j, "spec.tier", v);
    } else if (strcmp(key, "suspend") == 0) {
      if (!json_is_boolean(v))
        return "suspend is true or false";
      add_set(j, "spec.suspend", v);
    } else if (strcmp(key, "apps") == 0) {
      const char *app;

      if (!json_is_object(v) || json_object_size(v) == 0)
        return "apps is an object: {\"staging/web\": {\"replicas\": 3}}";
      json_object_foreach(v, app, x) if ((why = patch_app(j, app, x)) !=
                                         NULL) return why;
    } else {
      return "a patch sets tier, suspend and apps (replicas, image); "
             "anything else is a PUT of the whole document";
    }
  }
  return NULL;
}

/* What a set changes, for people: "tier", "staging/web replicas". */
static void set_label(const char *path, char *buf, size_t cap)
{
  const char *field = strrchr(path, '.') + 1;
  char env[64], app[64];

  if (sscanf(path, "spec.environments[%63[^]]].apps[%63[^]]]", env, app) == 2)
    snprintf(buf, cap, "%s/%s %s", env, app, field);
  else
    snprintf(buf, cap, "%s", field);
}

/* "api: suspend acme", "api: resume acme", or what changes. */
static char *patch_subject(const struct job *j, const char *tenant)
{
  char what[200] = "", label[160];
  size_t n = 0;

  if (j->rq.nsets == 1 && strcmp(j->sets[0].path, "spec.suspend") == 0)
    return td_asprintf("api: %s %s", j->sets[0].value.b ? "suspend" : "resume",
                       tenant);
  for (size_t i = 0; i < j->rq.nsets && n < sizeof(what); i++) {
    const struct mw_set *s = &j->sets[i];

    set_label(s->path, label, sizeof(label));
    if (s->value.type == YS_STR)
      n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%s %.40s",
                            i ? ", " : "", label, s->value.s);
    else if (s->value.type == YS_INT)
      n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%s %lld",
                            i ? ", " : "", label, (long long)s->value.i);
    else
      n +=
          (size_t)snprintf(what + n, sizeof(what) - n, "%s%s %s", i ? ", " : "",
                           label, s->value.b ? "true" : "false");
  }
  return td_asprintf("api: %s: %s", tenant, what);
}

void mgmt_patch_tenant(struct daemon *d, const struct httpd_request *req,
                       const char *rest, struct httpd_response *resp)
{
  const char *name = url_tenant(rest, resp), *why;
  json_error_t err;
  struct job *j;
  json_t *body;

  if (!name)
    return;
  body = json_loadb(req->body, req->body_len, 0, &err);
  if (!body) {
    char msg[300];

    snprintf(msg, sizeof(msg), "the body is not JSON: line %d column %d: %s",
             err.line, err.column, err.text);
    return set_error(resp, 400, msg);
  }
  j = job_new(d, req, MW_PATCH, resp);
  if (!j) {
    json_decref(body);
    return;
  }
  why = patch_body(j, body);
  json_decref(body);
  if (why) {
    job_free(j);
    return set_error(resp, 400, why);
  }
  j->tenant = td_strdup(name);
  j->rq.tenant = j->tenant;
  j->subject = patch_subject(j, name);
  j->rq.subject = j->subject;
  submit(d, j, req, resp);
}

/* ---- where a tenant's passes are ---- */

void mgmt_get_reconcile(struct daemon *d, const struct httpd_request *req,
                        const char *rest, struct httpd_response *resp)
{
  char name[64];
  struct dtenant *t;
  json_t *o;

  (void)rest;
  if (!query_value(req->query, "tenant", name, sizeof(name)) ||
      !naming_is_label(name))
    return set_error(resp, 400, "which tenant? ?tenant=NAME");
  t = daemon__tenant_find(d, name);
  if (!t)
    return set_error(resp, 404, "no such tenant (not reconciled yet?)");
  o = json_pack("{s:s, s:I, s:b, s:b, s:s}", "tenant", t->name, "passes",
                (json_int_t)t->passes, "queued", t->queued, "inflight",
                t->inflight, "result", tenant_result_names[t->result]);
  json_object_set(o, "status", t->row ? t->row : json_null());
  set_json(resp, 200, o);
}
