/*
 * daemon_watch.c - the provider instances the daemon keeps open beside
 * the passes', for their feed of changes (provider.h, watch): a change
 * to a tenant's resource at the backend makes that tenant due at once,
 * so the next tick (within a second) passes it.  A container killed by
 * hand is back within seconds instead of at the next resync.
 *
 * One watching instance per configured instance whose type can watch,
 * opened at start and again after a reload (the config may have
 * changed), closed at shutdown.  A watch that cannot open is logged and
 * left: the resync still finds the drift.  Loop thread only.
 */
#include "base/compat.h"

#include "base/error.h"
#include "providers/provider.h"
#include "server/daemon_internal.h"
#include "server/log.h"

/* Watching instances, at most: far more than any config names. */
#define WATCH_MAX 64

struct daemon_watch {
  struct provider *p[WATCH_MAX];
  size_t n;
};

static void on_change(struct provider *p, const char *tenant, const char *what,
                      void *arg)
{
  struct daemon *d = arg;
  struct dtenant *t = daemon__tenant_find(d, tenant);
  uint64_t now = uv_now(d->loop);

  if (!t)
    return;
  /* Its own pass's changes come back too: said quietly. */
  log_at(t->inflight ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "provider event",
         LOG_S("tenant", tenant), LOG_S("provider", p->instance),
         LOG_S("event", what));
  /* Due now: the tick queues it, once however many events came.  A
   * tenant in backoff keeps its retry time. */
  if (!t->retry_at && (t->next_resync == 0 || t->next_resync > now))
    t->next_resync = now ? now : 1;
}

static void on_closed(struct provider *p, void *arg)
{
  (void)p;
  (void)arg;
}

/* A watching instance of config entry `name`, or NULL (logged). */
static struct provider *open_one(struct daemon *d, const char *name,
                                 const json_t *cfg)
{
  const char *type = json_string_value(json_object_get(cfg, "type"));
  const struct provider_ops *ops = type ? provider_find_type(type) : NULL;
  struct provider *p = NULL;
  json_t *own;
  char err[512] = "";
  int rc;

  if (!ops || !provider_type_watches(ops))
    return NULL;
  /* rateLimit and capacity are the controller's, as for a pass. */
  own = json_copy((json_t *)cfg);
  json_object_del(own, "rateLimit");
  json_object_del(own, "capacity");
  rc = provider_open(&p, ops, name, own, d->loop, err, sizeof(err));
  json_decref(own);
  if (rc < 0) {
    log_at(LOG_LEVEL_WARN, "cannot watch a provider", LOG_S("provider", name),
           LOG_S("error", err));
    return NULL;
  }
  if (provider_watch(p, on_change, d) < 0) {
    log_at(LOG_LEVEL_WARN, "cannot watch a provider", LOG_S("provider", name),
           LOG_S("error", td_error_last()));
    provider_close(p, on_closed, NULL);
    return NULL;
  }
  log_at(LOG_LEVEL_INFO, "watching provider", LOG_S("provider", name),
         LOG_S("type", type));
  return p;
}

void daemon__watch_open(struct daemon *d)
{
  const char *name;
  json_t *cfg;

  if (!d->watch)
    d->watch = td_calloc(1, sizeof(*d->watch));
  json_object_foreach(d->cfg->providers, name, cfg)
  {
    struct provider *p;

    if (d->watch->n == WATCH_MAX)
      break;
    p = open_one(d, name, cfg);
    if (p)
      d->watch->p[d->watch->n++] = p;
  }
}

void daemon__watch_close(struct daemon *d)
{
  if (!d->watch)
    return;
  for (size_t i = 0; i < d->watch->n; i++)
    provider_close(d->watch->p[i], on_closed, NULL);
  d->watch->n = 0;
}

void daemon__watch_free(struct daemon *d)
{
  free(d->watch);
  d->watch = NULL;
}
