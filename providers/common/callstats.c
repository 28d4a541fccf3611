#include "base/compat.h"

#include <pthread.h>

#include "providers/common/callstats.h"

const char *const callstats_op_names[CALLSTATS_OP_COUNT] = {
    "read", "create", "update", "delete", "list",
};

const double callstats_bounds[CALLSTATS_NBOUNDS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

/* ---- the table, shared by every wrapper ---- */

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct callstats_entry *table;
static size_t ntable, table_alloc;

static struct callstats_entry *entry(const char *instance, enum callstats_op op)
{
  struct callstats_entry *e;

  for (size_t i = 0; i < ntable; i++)
    if (table[i].op == op && strcmp(table[i].instance, instance) == 0)
      return &table[i];
  if (ntable == table_alloc) {
    table_alloc = table_alloc ? 2 * table_alloc : 16;
    table = td_realloc(table, table_alloc * sizeof(*table));
  }
  e = &table[ntable++];
  memset(e, 0, sizeof(*e));
  e->instance = td_strdup(instance);
  e->op = op;
  return e;
}

static void count(const char *instance, enum callstats_op op, int status,
                  uint64_t started)
{
  double seconds = (double)(uv_hrtime() - started) / 1e9;
  struct callstats_entry *e;
  size_t b = 0;

  pthread_mutex_lock(&table_lock);
  e = entry(instance, op);
  e->calls++;
  e->seconds += seconds;
  /* Not found is an answer (absent, already gone), not a failure. */
  if (status <= PROVIDER_TRANSIENT && status > PROVIDER_NOT_FOUND)
    e->errors[PROVIDER_TRANSIENT - status]++;
  while (b < CALLSTATS_NBOUNDS && seconds > callstats_bounds[b])
    b++;
  if (b < CALLSTATS_NBOUNDS)
    e->buckets[b]++;
  pthread_mutex_unlock(&table_lock);
}

size_t callstats_snapshot(struct callstats_entry **out)
{
  size_t n;

  pthread_mutex_lock(&table_lock);
  n = ntable;
  *out = td_calloc(n ? n : 1, sizeof(**out));
  for (size_t i = 0; i < n; i++) {
    (*out)[i] = table[i];
    (*out)[i].instance = td_strdup(table[i].instance);
  }
  pthread_mutex_unlock(&table_lock);
  return n;
}

void callstats_snapshot_free(struct callstats_entry *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i].instance);
  free(v);
}

void callstats_reset(void)
{
  pthread_mutex_lock(&table_lock);
  callstats_snapshot_free(table, ntable);
  table = NULL;
  ntable = table_alloc = 0;
  pthread_mutex_unlock(&table_lock);
}

/* ---- the wrapper ---- */

struct counted {
  struct provider base;
  struct provider *inner;
  provider_close_cb close_cb;
  void *close_arg;
};

/* One call in flight: what to count, and whom to answer. */
struct call {
  struct counted *c;
  enum callstats_op op;
  uint64_t started;
  provider_cb cb;
  provider_list_cb list_cb;
  void *arg;
};

static struct call *call_new(struct provider *p, enum callstats_op op,
                             provider_cb cb, void *arg)
{
  struct call *k = td_calloc(1, sizeof(*k));

  k->c = (struct counted *)p;
  k->op = op;
  k->started = uv_hrtime();
  k->cb = cb;
  k->arg = arg;
  return k;
}

static void done(struct provider *inner, const struct provider_result *res,
                 void *arg)
{
  struct call *k = arg;

  (void)inner;
  count(k->c->base.instance, k->op, res->status, k->started);
  k->cb(&k->c->base, res, k->arg);
  free(k);
}

static void listed(struct provider *inner, int status, const char *message,
                   const struct provider_owned *items, size_t n, void *arg)
{
  struct call *k = arg;

  (void)inner;
  count(k->c->base.instance, k->op, status, k->started);
  k->list_cb(&k->c->base, status, message, items, n, k->arg);
  free(k);
}

static void cs_read(struct provider *p, const struct resource *r,
                    provider_cb cb, void *arg)
{
  provider_read(((struct counted *)p)->inner, r, done,
                call_new(p, CALLSTATS_READ, cb, arg));
}

static void cs_create(struct provider *p, const struct resource *r,
                      const json_t *spec, provider_cb cb, void *arg)
{
  provider_create(((struct counted *)p)->inner, r, spec, done,
                  call_new(p, CALLSTATS_CREATE, cb, arg));
}

static void cs_update(struct provider *p, const struct resource *r,
                      const json_t *spec, provider_cb cb, void *arg)
{
  provider_update(((struct counted *)p)->inner, r, spec, done,
                  call_new(p, CALLSTATS_UPDATE, cb, arg));
}

static void cs_remove(struct provider *p, const struct resource *r,
                      provider_cb cb, void *arg)
{
  provider_remove(((struct counted *)p)->inner, r, done,
                  call_new(p, CALLSTATS_REMOVE, cb, arg));
}

static void cs_list(struct provider *p, const char *tenant, provider_list_cb cb,
                    void *arg)
{
  struct call *k = call_new(p, CALLSTATS_LIST, NULL, arg);

  k->list_cb = cb;
  provider_list_owned(((struct counted *)p)->inner, tenant, listed, k);
}

static void inner_closed(struct provider *inner, void *arg)
{
  struct counted *c = arg;

  (void)inner;
  c->close_cb(&c->base, c->close_arg);
  free(c->base.instance);
  free(c);
}

static void cs_close(struct provider *p, provider_close_cb cb, void *arg)
{
  struct counted *c = (struct counted *)p;

  c->close_cb = cb;
  c->close_arg = arg;
  provider_close(c->inner, inner_closed, c);
}

static const struct provider_ops counted_ops = {
    .version = PROVIDER_OPS_VERSION,
    .type = "callstats",
    .read = cs_read,
    .create = cs_create,
    .update = cs_update,
    .remove = cs_remove,
    .list_owned = cs_list,
    .close = cs_close,
};

struct provider *callstats_wrap(struct provider *inner)
{
  struct counted *c = td_calloc(1, sizeof(*c));

  c->base.ops = &counted_ops;
  c->base.instance = td_strdup(inner->instance);
  c->base.loop = inner->loop;
  c->base.read_batch = inner->read_batch;
  c->base.batches = inner->batches;
  c->base.reads_nearby = inner->reads_nearby;
  c->inner = inner;
  return &c->base;
}
