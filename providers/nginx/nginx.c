/*
 * nginx.c - routes as nginx server blocks (see nginx.h for the contract):
 * the instance and its ops.  internal.h has the split of the files.
 *
 * Written on the provider runtime (providers/common/runtime.h): check()
 * takes the op's file name and, for a write, its spec and the text it
 * will write, in the starting call; start() sends reads and lists to the
 * threadpool, one job each, and queues writes for the next cycle
 * (cycle.c), which it starts unless one is running.
 */
#include "base/compat.h"

#include <stdio.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "providers/nginx/internal.h"

#define MAX_SITES_DIR 3000
#define MAX_ARGS 64
#define MAX_ARG 4096
#define DEFAULT_VERIFY_MS 5000
#define MAX_VERIFY_MS 600000
/* The bytes of host:port; open() checks the shape. */
#define HOSTPORT_CHARS                                             \
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" \
  ".-:[]"

static const struct opt ngx_options[] = {
    OPT_STR("sitesDir", struct ngx, sites_dir, OPT_REQUIRED | OPT_NONEMPTY,
            MAX_SITES_DIR, "a directory path"),
    OPT_JSON("command", struct ngx, command, OPT_REQUIRED,
             "a list of strings, like [nginx, -c, /etc/nginx/nginx.conf]"),
    OPT_STR_IN("listen", struct ngx, listen, OPT_REQUIRED | OPT_NONEMPTY, 0,
               HOSTPORT_CHARS, NULL, "host:port, like 127.0.0.1:8088"),
    OPT_UINT("verifyTimeoutMs", struct ngx, verify_timeout_ms, 1, MAX_VERIFY_MS,
             DEFAULT_VERIFY_MS),
};

/* ---- ops ---- */

/* A random revision, so a verification never mistakes the old file for
 * the new one. */
static void new_revision(char out[NGX_REVISION_LEN + 1])
{
  static uint64_t counter;
  uint64_t x = 0;

  if (uv_random(NULL, NULL, &x, sizeof(x), 0, NULL) != 0)
    x = uv_hrtime() ^ ((uint64_t)getpid() << 32);
  x ^= ++counter * 0x9e3779b97f4a7c15ULL;
  snprintf(out, NGX_REVISION_LEN + 1, "%016llx", (unsigned long long)x);
}

/* A write's spec, checked, and the texts it writes. */
static int take_spec(struct ngx_op *op)
{
  struct rt_op *base = &op->base;
  struct ngx_route r = {.spec = base->spec, .pending = true};
  const char *listen = ngx_of(op)->listen;
  char why[512];

  if (ngx__check_spec(base->spec, why, sizeof(why)) < 0)
    return rt_op_fail(base, PROVIDER_INVALID, "nginx: route %s: %s", base->name,
                      why);
  new_revision(op->revision);
  snprintf(r.tenant, sizeof(r.tenant), "%s", base->tenant);
  snprintf(r.id, sizeof(r.id), "%s", base->id);
  memcpy(r.revision, op->revision, sizeof(r.revision));
  op->text = ngx__render(&r, listen, &op->text_len);
  r.pending = false;
  op->final_text = ngx__render(&r, listen, &op->final_len);
  op->hosts = json_incref(json_object_get(base->spec, "hosts"));
  return PROVIDER_OK;
}

/*
 * In the starting call: the op's file, or PROVIDER_INVALID for names nginx
 * or the file system would misread; a write's spec.  Nothing is touched.
 */
static int ngx_check(struct rt_op *base, const struct resource *r)
{
  struct ngx_op *op = container_of(base, struct ngx_op, base);

  if (!r)
    return PROVIDER_OK; /* list_owned */
  if (!ngx__valid_token(base->name, NGX_MAX_STEM, false))
    return rt_op_fail(base, PROVIDER_INVALID,
                      "nginx: invalid route name '%.200s'", base->name);
  if (!ngx__valid_token(base->id, NGX_MAX_TOKEN, true) ||
      !ngx__valid_token(base->tenant, NGX_MAX_TOKEN, false))
    return rt_op_fail(base, PROVIDER_INVALID,
                      "nginx: route %.200s: unusable id or tenant", base->name);
  op->file = td_asprintf("%s.conf", base->name);
  op->path = td_asprintf("%s/%s", ngx_of(op)->sites_dir, op->file);
  if (base->kind == RT_CREATE || base->kind == RT_UPDATE)
    return take_spec(op);
  return PROVIDER_OK;
}

static void work_cb(uv_work_t *req)
{
  struct ngx_op *op = container_of(req, struct ngx_op, work);

  if (op->base.kind == RT_LIST)
    ngx__list_files(op);
  else
    ngx__read_file(op);
}

static void after_work_cb(uv_work_t *req, int status)
{
  struct ngx_op *op = container_of(req, struct ngx_op, work);

  if (status == UV_ECANCELED)
    rt_op_fail(&op->base, PROVIDER_TRANSIENT, "cancelled");
  rt_op_deliver(&op->base);
}

/* Reads and lists go to the threadpool, writes to the next cycle. */
static void ngx_start(struct rt *rt, struct rt_op *ops, size_t n)
{
  struct ngx *ng = container_of(rt, struct ngx, rt);
  struct rt_op *next;

  (void)n;
  for (struct rt_op *base = ops; base; base = next) {
    struct ngx_op *op = container_of(base, struct ngx_op, base);
    int err;

    next = base->next;
    if (base->kind != RT_READ && base->kind != RT_LIST) {
      ngx__write(ng, op);
      continue;
    }
    err = uv_queue_work(rt->base.loop, &op->work, work_cb, after_work_cb);
    if (err != 0) {
      rt_op_fail(base, PROVIDER_TRANSIENT, "nginx: cannot queue work: %s",
                 uv_strerror(err));
      rt_op_deliver(base);
    }
  }
  ngx__cycle_start(ng);
}

static void ngx_op_release(struct rt_op *base)
{
  struct ngx_op *op = container_of(base, struct ngx_op, base);

  free(op->file);
  free(op->path);
  free(op->text);
  free(op->final_text);
  free(op->old_text);
  json_decref(op->hosts);
  free(op->asks);
}

/* ---- the instance ---- */

/* The environment nginx runs with: what it needs to be found and to
 * format its messages, none of tenantd's credentials. */
static char **child_env(void)
{
  static const char *const keep[] = {"PATH", "TZ", "LANG"};
  char **env = td_calloc(ARRAY_SIZE(keep) + 1, sizeof(*env));
  size_t n = 0;

  for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
    const char *v = getenv(keep[i]);

    if (v)
      env[n++] = td_asprintf("%s=%s", keep[i], v);
  }
  return env;
}

/* The command option: a list of 1 to MAX_ARGS non-empty strings. */
static int take_command(struct ngx *ng, char *err, size_t errcap)
{
  const json_t *v = ng->command, *arg;
  size_t i;

  if (!json_is_array(v) || json_array_size(v) == 0 ||
      json_array_size(v) > MAX_ARGS) {
    snprintf(err, errcap,
             "nginx: command must be a list of 1 to %d strings, like "
             "[nginx, -c, /etc/nginx/nginx.conf]",
             MAX_ARGS);
    return -1;
  }
  ng->cmd = td_calloc(json_array_size(v), sizeof(*ng->cmd));
  json_array_foreach(v, i, arg)
  {
    const char *s = json_string_value(arg);

    if (!s || !*s || strlen(s) != json_string_length(arg) ||
        strlen(s) > MAX_ARG) {
      snprintf(err, errcap, "nginx: command[%zu] must be a non-empty string",
               i);
      return -1;
    }
    ng->cmd[ng->ncmd++] = td_strdup(s);
  }
  return 0;
}

/* What the table cannot check; then the derived values, a sweep of dead
 * writers' temp files and the handles.  Nothing runs yet. */
static int ngx_open(struct rt *rt, char *err, size_t errcap)
{
  struct ngx *ng = container_of(rt, struct ngx, rt);

  /* One cycle (a test, a reload) takes every waiting write: the pass
   * hands over every write at once, so a pass is one cycle. */
  rt->base.batches = true;
  if (take_command(ng, err, errcap) < 0)
    return -1;
  if (!ngx__valid_hostport(ng->listen)) {
    snprintf(err, errcap,
             "nginx: listen must be host:port, like 127.0.0.1:8088");
    return -1;
  }
  ng->verify_url = td_asprintf("http://%s/", ng->listen);
  ng->env = child_env();
  ng->pending_tail = &ng->pending;
  /* A killed writer leaves ".<name>.conf.XXXXXX": one tenantd owns the
   * directory's route files, so at open any such file is a dead
   * writer's.  ".<name>.conf.failed" is kept for the operator. */
  fs_sweep_temp(ng->sites_dir, ".conf", "failed");
  ng->cu = curl_uv_new(rt->base.loop);
  uv_timer_init(rt->base.loop, &ng->poll);
  return 0;
}

static void on_poll_closed(uv_handle_t *h)
{
  struct ngx *ng = container_of((uv_timer_t *)h, struct ngx, poll);

  rt_shutdown_done(&ng->rt);
}

static void on_curl_closed(void *arg)
{
  struct ngx *ng = arg;

  ng->cu = NULL;
  uv_close((uv_handle_t *)&ng->poll, on_poll_closed);
}

/* Every op is answered, so no cycle runs and no command is left: only
 * the HTTP handles and the poll timer remain. */
static void ngx_shutdown(struct rt *rt)
{
  struct ngx *ng = container_of(rt, struct ngx, rt);

  assert(!ng->cycle && !ng->pending);
  uv_timer_stop(&ng->poll);
  curl_uv_close(ng->cu, on_curl_closed, ng);
}

static void ngx_release(struct rt *rt)
{
  struct ngx *ng = container_of(rt, struct ngx, rt);

  for (size_t i = 0; ng->env && ng->env[i]; i++)
    free(ng->env[i]);
  free(ng->env);
  for (size_t i = 0; i < ng->ncmd; i++)
    free(ng->cmd[i]);
  free(ng->cmd);
  free(ng->verify_url);
}

RT_PROVIDER(nginx_provider_ops, "nginx", struct ngx, struct ngx_op, ngx_options,
            .open = ngx_open, .check = ngx_check, .start = ngx_start,
            .shutdown = ngx_shutdown, .release = ngx_release,
            .op_release = ngx_op_release);
