/*
 * runtime.c - the provider runtime (see runtime.h).
 *
 * One idle handle per instance drives everything that must not happen
 * inside a caller's call: while ops wait to be delivered or started, or
 * a close has a step to take, it runs once a loop turn and delivers the
 * answered ops (oldest first), then hands the ops checked since the last
 * turn to the backend's start(), then takes the next step of a close.
 * Delivering first lets the ops the callbacks start join the same
 * start(), so a wave of answers becomes one batch of new work.  An idle
 * handle also keeps the loop from blocking in poll while it has work.
 */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/strutil.h"
#include "providers/common/runtime.h"

/* ---- results ---- */

static void drop_items(struct rt_op *op)
{
  for (size_t i = 0; i < op->nitems; i++) {
    free((char *)op->items[i].id);
    free((char *)op->items[i].name);
  }
  free(op->items);
  op->items = NULL;
  op->nitems = op->items_cap = 0;
}

void rt_op_ok(struct rt_op *op, json_t *observed)
{
  json_decref(op->observed);
  op->observed = observed;
  op->status = PROVIDER_OK;
  free(op->message);
  op->message = NULL;
}

/* The op's message from `text` (cut already), sanitized: servers say
 * what they like, and the message goes into status files and logs, which
 * must stay valid UTF-8 (a cut sequence at the end too). */
static int set_message(struct rt_op *op, int status, char *text)
{
  str_sanitize(text);
  free(op->message);
  op->message = td_strdup(text[0] ? text : "failed");
  op->status = status;
  return status;
}

void rt_op_absent(struct rt_op *op)
{
  assert(op->kind == RT_READ);
  json_decref(op->observed);
  op->observed = NULL;
  op->status = PROVIDER_NOT_FOUND;
  free(op->message);
  op->message = NULL;
}

/* Whether the op is a read that found nothing (rt_op_absent()). */
static bool absent(const struct rt_op *op)
{
  return op->kind == RT_READ && op->status == PROVIDER_NOT_FOUND &&
         !op->message;
}

int rt_op_fail(struct rt_op *op, int status, const char *fmt, ...)
{
  char text[RT_MESSAGE_MAX];
  va_list ap;

  assert(status < 0);
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  return set_message(op, status, text);
}

int rt_op_fail_text(struct rt_op *op, int status, const char *head,
                    const char *text, const char *tail)
{
  const char *parts[] = {head, text, tail};
  char joined[RT_MESSAGE_MAX];
  size_t used = 0;

  assert(status < 0);
  for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
    size_t n = strlen(parts[i]);

    if (n > sizeof(joined) - 1 - used)
      n = sizeof(joined) - 1 - used;
    memcpy(joined + used, parts[i], n);
    used += n;
  }
  joined[used] = '\0';
  return set_message(op, status, joined);
}

void rt_op_add_item(struct rt_op *op, const char *id, enum rtype type,
                    const char *name)
{
  struct provider_owned *item;

  if (op->nitems == op->items_cap) {
    op->items_cap = op->items_cap ? op->items_cap * 2 : 16;
    op->items = td_realloc(op->items, op->items_cap * sizeof(*op->items));
  }
  item = &op->items[op->nitems++];
  item->id = td_strdup(id);
  item->type = type;
  item->name = td_strdup(name);
}

static int by_type_name(const void *a, const void *b)
{
  const struct provider_owned *x = a, *y = b;

  if (x->type != y->type)
    return x->type < y->type ? -1 : 1;
  return strcmp(x->name, y->name);
}

void rt_op_sort_items(struct rt_op *op)
{
  if (op->nitems > 1)
    qsort(op->items, op->nitems, sizeof(*op->items), by_type_name);
}

/* ---- the turn ---- */

static void on_turn(uv_idle_t *h);

static void wake(struct rt *rt)
{
  /* Once the handle closes, its close callback answers what is left. */
  if (!rt->turn_closed)
    uv_idle_start(&rt->turn, on_turn);
}

void rt_op_deliver(struct rt_op *op)
{
  struct rt *rt = op->rt;

  if (op->status < 0 && !op->message && !absent(op))
    op->message = td_strdup("failed");
  op->next = NULL;
  *rt->done_tail = op;
  rt->done_tail = &op->next;
  wake(rt);
}

void rt_shutdown_done(struct rt *rt)
{
  assert(rt->shutting && !rt->shut);
  rt->shut = true;
  wake(rt);
}

static void op_free(struct rt_op *op)
{
  if (op->rt->be->op_release)
    op->rt->be->op_release(op);
  drop_items(op);
  json_decref(op->observed);
  json_decref(op->spec);
  free(op->message);
  free(op); /* and the strings stored after it */
}

static void answer(struct rt_op *op)
{
  struct rt *rt = op->rt;
  bool ok = op->status >= 0;
  const char *message = ok || absent(op) ? NULL
                        : op->message    ? op->message
                                         : "failed";

  if (op->kind == RT_LIST) {
    op->list_cb(&rt->base, op->status, message, ok ? op->items : NULL,
                ok ? op->nitems : 0, op->arg);
  } else {
    struct provider_result res = {op->status, message,
                                  ok ? op->observed : NULL};

    op->cb(&rt->base, &res, op->arg);
  }
}

/* Answers every op delivered so far; those the callbacks deliver wait
 * for the next turn. */
static void deliver_all(struct rt *rt)
{
  struct rt_op *op = rt->done;

  rt->done = NULL;
  rt->done_tail = &rt->done;
  while (op) {
    struct rt_op *next = op->next;

    answer(op);
    op_free(op);
    assert(rt->inflight > 0);
    rt->inflight--;
    op = next;
  }
}

static void start_all(struct rt *rt)
{
  struct rt_op *ops = rt->started;
  size_t n = rt->nstarted;

  if (!ops)
    return;
  rt->started = NULL;
  rt->started_tail = &rt->started;
  rt->nstarted = 0;
  rt->be->start(rt, ops, n);
}

static void instance_free(struct rt *rt)
{
  if (rt->be->release)
    rt->be->release(rt);
  opt_release(rt->be->options, rt->be->noptions, rt);
  free(rt->base.instance);
  free(rt);
}

static void on_turn_closed(uv_handle_t *h)
{
  struct rt *rt = container_of((uv_idle_t *)h, struct rt, turn);

  /* Ops started (against the contract) while the handle closed are
   * answered here, still off their calls; so are any theirs start. */
  while (rt->done)
    deliver_all(rt);
  assert(rt->inflight == 0 && !rt->started);
  rt->close_cb(&rt->base, rt->close_arg);
  instance_free(rt);
}

/* Once closing and every op is delivered: the backend shuts down, then
 * the handle closes and the close callback runs. */
static void close_step(struct rt *rt)
{
  if (!rt->closing || rt->inflight > 0)
    return;
  if (!rt->shutting) {
    rt->shutting = true;
    if (rt->be->shutdown)
      rt->be->shutdown(rt);
    else
      rt->shut = true;
  }
  if (!rt->shut || rt->inflight > 0)
    return;
  rt->turn_closed = true;
  uv_close((uv_handle_t *)&rt->turn, on_turn_closed);
}

static void on_turn(uv_idle_t *h)
{
  struct rt *rt = container_of(h, struct rt, turn);

  deliver_all(rt);
  start_all(rt);
  close_step(rt);
  if (!rt->turn_closed && !rt->done && !rt->started)
    uv_idle_stop(h);
}

/* ---- entry points ---- */

/* Copies `s` to *at, returning it; *at moves past it. */
static char *store(char **at, const char *s)
{
  size_t n = strlen(s) + 1;
  char *out = memcpy(*at, s, n);

  *at += n;
  return out;
}

/* The op with copies of its strings after it: one allocation. */
static struct rt_op *op_new(struct rt *rt, enum rt_kind kind, void *arg,
                            const char *tenant, const struct resource *r)
{
  char marker[RESOURCE_MARKER_MAX] = "";
  size_t size = rt->be->op_size + strlen(tenant) + 1;
  struct rt_op *op;
  char *at;

  if (r) {
    resource_marker(marker, tenant, r->id);
    size += strlen(r->id) + strlen(r->name) + 2;
  }
  size += strlen(marker) + 1;
  /* Zeroed, the provider's part after the runtime's too; the strings
   * follow it. */
  op = td_malloc(size);
  memset(op, 0, rt->be->op_size);
  at = (char *)op + rt->be->op_size;
  op->tenant = store(&at, tenant);
  if (r) {
    op->type = r->type;
    op->id = store(&at, r->id);
    op->name = store(&at, r->name);
  }
  op->marker = store(&at, marker);
  op->rt = rt;
  op->kind = kind;
  op->arg = arg;
  rt->inflight++;
  return op;
}

/* Answers the op now (on a later turn) or queues it for start(). */
static void take_op(struct rt *rt, struct rt_op *op, const struct resource *r)
{
  if (rt->closing) {
    rt_op_fail(op, PROVIDER_TRANSIENT, "provider closing");
    rt_op_deliver(op);
    return;
  }
  if (rt->be->check && rt->be->check(op, r) < 0) {
    assert(op->status < 0);
    rt_op_deliver(op);
    return;
  }
  *rt->started_tail = op;
  rt->started_tail = &op->next;
  rt->nstarted++;
  wake(rt);
}

static void start_resource_op(struct provider *p, enum rt_kind kind,
                              const struct resource *r, const json_t *spec,
                              provider_cb cb, void *arg)
{
  struct rt *rt = container_of(p, struct rt, base);
  struct rt_op *op = op_new(rt, kind, arg, r->tenant ? r->tenant : "", r);

  op->cb = cb;
  if (spec)
    op->spec = json_deep_copy(spec);
  take_op(rt, op, r);
}

void rt_read(struct provider *p, const struct resource *r, provider_cb cb,
             void *arg)
{
  start_resource_op(p, RT_READ, r, NULL, cb, arg);
}

void rt_create(struct provider *p, const struct resource *r, const json_t *spec,
               provider_cb cb, void *arg)
{
  start_resource_op(p, RT_CREATE, r, spec, cb, arg);
}

void rt_update(struct provider *p, const struct resource *r, const json_t *spec,
               provider_cb cb, void *arg)
{
  start_resource_op(p, RT_UPDATE, r, spec, cb, arg);
}

void rt_remove(struct provider *p, const struct resource *r, provider_cb cb,
               void *arg)
{
  start_resource_op(p, RT_REMOVE, r, NULL, cb, arg);
}

void rt_list_owned(struct provider *p, const char *tenant, provider_list_cb cb,
                   void *arg)
{
  struct rt *rt = container_of(p, struct rt, base);
  struct rt_op *op = op_new(rt, RT_LIST, arg, tenant, NULL);

  op->list_cb = cb;
  take_op(rt, op, NULL);
}

void rt_close(struct provider *p, provider_close_cb cb, void *arg)
{
  struct rt *rt = container_of(p, struct rt, base);

  assert(!rt->closing);
  rt->closing = true;
  rt->close_cb = cb;
  rt->close_arg = arg;
  if (rt->be->closing)
    rt->be->closing(rt);
  /* Even with nothing in flight: the callback waits for a later turn. */
  wake(rt);
}

int rt_open(const struct provider_ops *ops, const struct rt_backend *be,
            struct provider **out, const char *instance, const json_t *config,
            uv_loop_t *loop, char *err, size_t errcap)
{
  struct rt *rt;

  assert(be->instance_size >= sizeof(struct rt));
  assert(be->op_size >= sizeof(struct rt_op));
  assert(strcmp(ops->type, be->type) == 0 && be->start);
  *out = NULL;
  rt = td_calloc(1, be->instance_size);
  rt->be = be;
  rt->base.ops = ops;
  rt->base.instance = td_strdup(instance);
  rt->base.loop = loop;
  rt->base.read_batch = be->read_batch;
  rt->started_tail = &rt->started;
  rt->done_tail = &rt->done;
  if (opt_parse(be->type, be->options, be->noptions, config, rt, err, errcap) <
          0 ||
      (be->open && be->open(rt, err, errcap) < 0)) {
    instance_free(rt);
    return -1;
  }
  uv_idle_init(loop, &rt->turn);
  *out = &rt->base;
  return 0;
}
