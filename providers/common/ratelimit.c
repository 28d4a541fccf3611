#include "base/compat.h"

#include <pthread.h>

#include "providers/common/ratelimit.h"

/* ---- buckets, shared by every wrapper of an instance ---- */

struct bucket {
  char *instance;
  double tokens;
  uint64_t at; /* uv_hrtime() of the last refill */
  struct bucket *next;
};

static pthread_mutex_t buckets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bucket *buckets;

/* Takes a token: 0, or how many ms until one is there. */
static uint64_t take(const char *instance, double qps, unsigned burst)
{
  uint64_t now = uv_hrtime(), wait = 0;
  struct bucket *b;

  pthread_mutex_lock(&buckets_lock);
  for (b = buckets; b && strcmp(b->instance, instance) != 0; b = b->next)
    ;
  if (!b) {
    b = td_calloc(1, sizeof(*b));
    b->instance = td_strdup(instance);
    b->tokens = burst;
    b->at = now;
    b->next = buckets;
    buckets = b;
  }
  b->tokens += (double)(now - b->at) / 1e9 * qps;
  if (b->tokens > burst)
    b->tokens = burst;
  b->at = now;
  if (b->tokens >= 1)
    b->tokens -= 1;
  else if ((1 - b->tokens) / qps < 3600)
    wait = (uint64_t)((1 - b->tokens) / qps * 1000) + 1;
  else
    wait = 3600 * 1000; /* a rate the config refuses; never overflow */
  pthread_mutex_unlock(&buckets_lock);
  return wait;
}

/* ---- the wrapper ---- */

enum op { OP_READ, OP_CREATE, OP_UPDATE, OP_REMOVE, OP_LIST };

struct call {
  enum op op;
  const struct resource *r;
  json_t *spec;
  char *tenant;
  provider_cb cb;
  provider_list_cb list_cb;
  void *arg;
  struct call *next;
};

struct limited {
  struct provider base;
  struct provider *inner;
  double qps;
  unsigned burst;
  uv_timer_t timer;
  struct call *head, **tail;
  bool closing; /* close() called: close once the queue is empty */
  bool shut;    /* the timer is closing: no more waiting */
  provider_close_cb close_cb;
  void *close_arg;
};

static void timer_closed(uv_handle_t *h);

static void forward(struct limited *l, struct call *c)
{
  switch (c->op) {
  case OP_READ:
    provider_read(l->inner, c->r, c->cb, c->arg);
    break;
  case OP_CREATE:
    provider_create(l->inner, c->r, c->spec, c->cb, c->arg);
    break;
  case OP_UPDATE:
    provider_update(l->inner, c->r, c->spec, c->cb, c->arg);
    break;
  case OP_REMOVE:
    provider_remove(l->inner, c->r, c->cb, c->arg);
    break;
  case OP_LIST:
    provider_list_owned(l->inner, c->tenant, c->list_cb, c->arg);
    break;
  }
  json_decref(c->spec);
  free(c->tenant);
  free(c);
}

static void on_timer(uv_timer_t *t);

static void shut(struct limited *l)
{
  if (l->shut)
    return;
  l->shut = true;
  uv_close((uv_handle_t *)&l->timer, timer_closed);
}

/* Sends what the bucket allows, in order; waits on the timer for the
 * rest. */
static void drain(struct limited *l)
{
  while (l->head) {
    uint64_t wait = take(l->base.instance, l->qps, l->burst);
    struct call *c;

    if (wait) {
      uv_timer_start(&l->timer, on_timer, wait, 0);
      return;
    }
    c = l->head;
    l->head = c->next;
    if (!l->head)
      l->tail = &l->head;
    forward(l, c);
  }
  /* Every call waited for went out: the inner provider answers them
   * before its own close completes. */
  if (l->closing)
    shut(l);
}

static void on_timer(uv_timer_t *t)
{
  drain(t->data);
}

static void submit(struct provider *p, struct call *c)
{
  struct limited *l = (struct limited *)p;
  bool idle = !l->head;

  /* Past close, with nothing left to wait on: the inner provider, not yet
   * closed, answers it (as "closing" once it is). */
  if (l->shut) {
    forward(l, c);
    return;
  }
  *l->tail = c;
  l->tail = &c->next;
  if (idle)
    drain(l);
}

static struct call *call_new(enum op op, const struct resource *r,
                             const json_t *spec, provider_cb cb, void *arg)
{
  struct call *c = td_calloc(1, sizeof(*c));

  c->op = op;
  c->r = r;
  c->spec = spec ? json_incref((json_t *)spec) : NULL;
  c->cb = cb;
  c->arg = arg;
  return c;
}

static void rl_read(struct provider *p, const struct resource *r,
                    provider_cb cb, void *arg)
{
  submit(p, call_new(OP_READ, r, NULL, cb, arg));
}

static void rl_create(struct provider *p, const struct resource *r,
                      const json_t *spec, provider_cb cb, void *arg)
{
  submit(p, call_new(OP_CREATE, r, spec, cb, arg));
}

static void rl_update(struct provider *p, const struct resource *r,
                      const json_t *spec, provider_cb cb, void *arg)
{
  submit(p, call_new(OP_UPDATE, r, spec, cb, arg));
}

static void rl_remove(struct provider *p, const struct resource *r,
                      provider_cb cb, void *arg)
{
  submit(p, call_new(OP_REMOVE, r, NULL, cb, arg));
}

static void rl_list(struct provider *p, const char *tenant, provider_list_cb cb,
                    void *arg)
{
  struct call *c = call_new(OP_LIST, NULL, NULL, NULL, arg);

  c->tenant = td_strdup(tenant);
  c->list_cb = cb;
  submit(p, c);
}

static void inner_closed(struct provider *inner, void *arg)
{
  struct limited *l = arg;

  (void)inner;
  l->close_cb(&l->base, l->close_arg);
  free(l->base.instance);
  free(l);
}

static void timer_closed(uv_handle_t *h)
{
  struct limited *l = h->data;

  provider_close(l->inner, inner_closed, l);
}

/* Calls still waiting for a token keep their turn; the inner provider is
 * closed once the last of them went out to it. */
static void rl_close(struct provider *p, provider_close_cb cb, void *arg)
{
  struct limited *l = (struct limited *)p;

  assert(!l->closing);
  l->closing = true;
  l->close_cb = cb;
  l->close_arg = arg;
  if (!l->head)
    shut(l);
}

static const struct provider_ops limited_ops = {
    .version = PROVIDER_OPS_VERSION,
    .type = "ratelimit",
    .read = rl_read,
    .create = rl_create,
    .update = rl_update,
    .remove = rl_remove,
    .list_owned = rl_list,
    .close = rl_close,
};

struct provider *ratelimit_wrap(struct provider *inner, double qps,
                                unsigned burst)
{
  struct limited *l = td_calloc(1, sizeof(*l));

  l->base.ops = &limited_ops;
  l->base.instance = td_strdup(inner->instance);
  l->base.loop = inner->loop;
  l->base.read_batch = inner->read_batch;
  l->base.batches = inner->batches;
  l->base.reads_nearby = inner->reads_nearby;
  l->inner = inner;
  l->qps = qps;
  l->burst = burst ? burst : 1;
  l->tail = &l->head;
  uv_timer_init(inner->loop, &l->timer);
  l->timer.data = l;
  return &l->base;
}
