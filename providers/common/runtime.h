/*
 * runtime.h - the machinery every provider shares, written once.
 *
 * A provider on this runtime is its wire protocol and its mapping of
 * resources, nothing else.  The runtime implements provider.h's entry
 * points (open, read, create, update, remove, list_owned, close) for it:
 * it parses the options against the provider's table, turns every call
 * into an op holding copies of its inputs, counts the ops in flight,
 * answers them on a later loop turn, refuses new ones once closing, and
 * frees the instance after the last callback.  The provider supplies a
 * small table of calls, a `struct rt_backend`:
 *
 *   struct dock {                  -- the instance
 *     struct rt rt;                -- first
 *     char *socket;                -- options land here (options.h)
 *     struct curl_uv *cu;
 *   };
 *   struct dock_op {               -- an operation
 *     struct rt_op op;             -- first
 *     char *container;             -- the provider's own per-op state
 *   };
 *   RT_PROVIDER(docker_provider_ops, "docker", struct dock, struct dock_op,
 *               dock_options, .open = dock_open, .check = dock_check,
 *               .start = dock_start, .shutdown = dock_shutdown,
 *               .release = dock_release, .op_release = dock_op_release);
 *
 * defines the backend table (struct rt_backend, below) and
 * `docker_provider_ops`, whose entry points are the runtime's.
 *
 * The life of an op:
 *
 *   1. A call (provider_read, ...) makes the op: kind, callback, copies
 *      of the resource's type, id, tenant, name and marker, and a deep
 *      copy of the spec for create and update (list_owned: the tenant
 *      only).  Once the instance is closing, the op is answered
 *      PROVIDER_TRANSIENT "provider closing" and goes no further.
 *   2. check(op, r), in that call: takes what else the op needs from the
 *      borrowed resource and refuses bad input (rt_op_fail).  It must not
 *      start I/O.  A refused op is answered without reaching start.
 *   3. start(rt, ops, n), once a loop turn, with every op checked since
 *      the last turn, oldest first, linked through op->next: the
 *      provider begins the work, alone or in batches.
 *   4. When done, on the loop thread: rt_op_ok(op, observed) or
 *      rt_op_fail(op, status, fmt, ...) (a message naming the provider,
 *      never a secret), then rt_op_deliver(op), also from inside start().
 *      The runtime calls the op's callback on a later loop turn, in the
 *      order of rt_op_deliver calls, never from inside the call that
 *      started the op, then frees the op (op_release first).
 *
 * Threads: rt_op_ok, rt_op_fail, rt_op_absent and rt_op_add_item touch
 * only the op, so a threadpool job that owns the op may call them;
 * everything else runs on the loop thread.
 *
 * Close: provider_close() marks the instance closing (and calls the
 * optional closing() hook, where a provider may fail ops it queued but
 * has not begun).  Once every op is delivered, shutdown(rt) closes the
 * provider's own handles and calls rt_shutdown_done(rt) when they are
 * gone (at once if it has none).  Then the runtime closes its handle,
 * calls the close callback, release(rt), frees the options and the
 * instance.  The close callback never runs inside close().
 */
#ifndef TD_RUNTIME_H
#define TD_RUNTIME_H

#include "base/compat.h"

#include "model/resource.h"
#include "providers/common/options.h"
#include "providers/provider.h"

/* A failure's message: longer ones are cut. */
#define RT_MESSAGE_MAX 1024

enum rt_kind { RT_READ, RT_CREATE, RT_UPDATE, RT_REMOVE, RT_LIST };

struct rt;

struct rt_op {
  struct rt *rt;
  /* The provider's from start() until rt_op_deliver(); then the
   * runtime's. */
  struct rt_op *next;
  enum rt_kind kind;

  /* Inputs, copied from the call; list_owned sets only `tenant`.  The
   * strings are stored with the op (never free or reassign them); check
   * may rewrite `name` in place, no longer. */
  enum rtype type;
  char *id;
  char *tenant;
  char *name;   /* external name */
  json_t *spec; /* create, update: a deep copy, owned */

  /* The result, set through rt_op_ok / rt_op_fail / rt_op_add_item. */
  int status;
  json_t *observed;
  struct provider_owned *items; /* id and name strings owned here */
  size_t nitems, items_cap;

  /* The caller's. */
  provider_cb cb;
  provider_list_cb list_cb;
  void *arg;

  /* The input: of tenant and id ("" for a list), stored after the op
   * with the strings above, at most RESOURCE_MARKER_MAX bytes. */
  const char *marker;
  /* The result's when it failed, malloc'd to its length (at most
   * RT_MESSAGE_MAX - 1 bytes); NULL otherwise.  An op holds no buffer
   * for it: a first plan keeps thousands of reads in flight at once. */
  char *message;
};

struct rt_backend {
  const char *type;     /* "local", as in the controller config */
  size_t instance_size; /* of the provider's struct, which embeds rt first */
  size_t op_size;       /* of its op struct, which embeds rt_op first */
  const struct opt *options; /* parsed into the instance before open */
  size_t noptions;
  /* Reads start() answers together as one call (provider.h's
   * read_batch); 0 counts as 1. */
  unsigned read_batch;

  /* Optional.  After the options: checks what the table cannot, derives
   * and sets up (handles, HTTP; rt->base.loop is the loop).  Returns 0,
   * or -1 with a line in err; release() then runs all the same, so
   * handles are set up last, once nothing can fail. */
  int (*open)(struct rt *rt, char *err, size_t errcap);
  /* Optional.  In the starting call (see above); returns PROVIDER_OK, or
   * the status of rt_op_fail() to have the op answered as it is. */
  int (*check)(struct rt_op *op, const struct resource *r);
  /* Begins the `n` ops of `ops` (FIFO through ->next). */
  void (*start)(struct rt *rt, struct rt_op *ops, size_t n);
  /* Optional.  close() was called; ops in flight still end as usual. */
  void (*closing)(struct rt *rt);
  /* Optional.  Every op is delivered: close the provider's handles, then
   * rt_shutdown_done(rt).  Without it the runtime goes straight on. */
  void (*shutdown)(struct rt *rt);
  /* Optional.  Frees what open made (not the options: the runtime frees
   * those); also after a failed or partial open, on a zeroed struct. */
  void (*release)(struct rt *rt);
  /* Optional.  Frees the provider's part of an op. */
  void (*op_release)(struct rt_op *op);
};

/* Every instance on the runtime embeds this first. */
struct rt {
  struct provider base; /* first: the controller only sees this */
  const struct rt_backend *be;
  size_t inflight; /* ops made and not yet delivered */
  bool closing;    /* close() was called */
  bool shutting;   /* shutdown() was called */
  bool shut;       /* rt_shutdown_done() was called */
  bool turn_closed;
  provider_close_cb close_cb;
  void *close_arg;
  /* Checked ops waiting for start(), and answered ops waiting for their
   * callbacks; both FIFO through ->next. */
  struct rt_op *started, **started_tail;
  size_t nstarted;
  struct rt_op *done, **done_tail;
  /* Runs once a loop turn while either list holds ops (or closing has a
   * step to take): delivers, then starts. */
  uv_idle_t turn;
};

/* ---- results ---- */

/* Success; steals `observed` (NULL for remove and list_owned). */
void rt_op_ok(struct rt_op *op, json_t *observed);

/* Failure with a message (cut at RT_MESSAGE_MAX).  An observed value or
 * items set before are not passed on (the op frees them); a later
 * rt_op_ok makes it a success again.  Returns `status`, so a check can
 * `return rt_op_fail(...)`. */
int rt_op_fail(struct rt_op *op, int status, const char *fmt, ...)
    TD_PRINTF(3, 4);

/* rt_op_fail() with the message `head`, `text` and `tail` joined, not
 * formatted: for a message made for each of many ops (a first plan's
 * reads of what does not exist yet). */
int rt_op_fail_text(struct rt_op *op, int status, const char *head,
                    const char *text, const char *tail);

/* A read found nothing: PROVIDER_NOT_FOUND, with no message.  Absent is
 * an answer, not a failure, and nobody reads why: a first plan reads
 * hundreds of thousands of names that do not exist yet, and a message
 * for each was made on the provider's threads only to be freed on the
 * loop's (2% of a cold plan's instructions, more of its time).  Reads
 * only; a write or a delete of what is gone says so with rt_op_fail(). */
void rt_op_absent(struct rt_op *op);

/* Appends one owned item to a list_owned op (strings copied). */
void rt_op_add_item(struct rt_op *op, const char *id, enum rtype type,
                    const char *name);

/* Sorts a list's items by type, then name: the order list_owned gives. */
void rt_op_sort_items(struct rt_op *op);

/* Hands the op back: its callback runs on a later loop turn, then the op
 * is freed.  Once per op, on the loop thread. */
void rt_op_deliver(struct rt_op *op);

/* The provider's handles are closed (see shutdown). */
void rt_shutdown_done(struct rt *rt);

/* ---- the provider_ops entry points, shared by every backend ---- */

/* `ops` is the table RT_PROVIDER_OPS defines for `be`. */
int rt_open(const struct provider_ops *ops, const struct rt_backend *be,
            struct provider **out, const char *instance, const json_t *config,
            uv_loop_t *loop, char *err, size_t errcap);
void rt_read(struct provider *p, const struct resource *r, provider_cb cb,
             void *arg);
void rt_create(struct provider *p, const struct resource *r, const json_t *spec,
               provider_cb cb, void *arg);
void rt_update(struct provider *p, const struct resource *r, const json_t *spec,
               provider_cb cb, void *arg);
void rt_remove(struct provider *p, const struct resource *r, provider_cb cb,
               void *arg);
void rt_list_owned(struct provider *p, const char *tenant, provider_list_cb cb,
                   void *arg);
void rt_close(struct provider *p, provider_close_cb cb, void *arg);

/*
 * Defines `const struct provider_ops name` for a backend: the "type" the
 * controller config names (a literal, equal to be.type) and the
 * runtime's entry points.  RT_PROVIDER below is the usual way in.
 */
/* clang-format off */
#define RT_PROVIDER_OPS(name, type_, be)                                     \
  RT_PROVIDER_OPS_WATCHING(name, type_, be, NULL)
/* The same, for a backend with a feed of its changes: `watch_` is the
 * provider_ops' watch entry (provider.h), called with the instance. */
#define RT_PROVIDER_OPS_WATCHING(name, type_, be, watch_)                     \
  extern const struct provider_ops name;                                     \
  static int name##_open(struct provider **out, const char *instance,        \
                         const json_t *config, uv_loop_t *loop, char *err,   \
                         size_t errcap)                                      \
  {                                                                          \
    return rt_open(&name, &(be), out, instance, config, loop, err, errcap);  \
  }                                                                          \
  const struct provider_ops name = {                                         \
      /* Checked by provider_open(). */                                      \
      .version = PROVIDER_OPS_VERSION,                                       \
      /* The "type" the controller config names. */                         \
      .type = type_,                                                         \
      /* Parses the options, then the backend's open. */                     \
      .open = name##_open,                                                   \
      /* Each of these makes an op, checks it, starts it next turn. */       \
      .read = rt_read,                                                       \
      .create = rt_create,                                                   \
      .update = rt_update,                                                   \
      .remove = rt_remove,                                                   \
      .list_owned = rt_list_owned,                                           \
      /* Waits for every op, shuts the backend down, frees. */               \
      .close = rt_close,                                                     \
      /* NULL, or the backend's own. */                                      \
      .watch = watch_,                                                       \
  }

/*
 * A provider in one statement: its backend table and its provider_ops.
 * `instance_t` and `op_t` are the provider's structs (embedding struct
 * rt and struct rt_op first), `options_` its table of struct opt; the
 * rest are the backend's calls as designated initializers:
 *
 *   RT_PROVIDER(docker_provider_ops, "docker", struct dock, struct dock_op,
 *               dock_options, .open = dock_open, .start = dock_start,
 *               .shutdown = dock_shutdown, .release = dock_release);
 */
#define RT_PROVIDER(name, type_, instance_t, op_t, options_, ...)            \
  static const struct rt_backend name##_backend = {                          \
      .type = type_,                                                         \
      .instance_size = sizeof(instance_t),                                   \
      .op_size = sizeof(op_t),                                               \
      .options = options_,                                                   \
      .noptions = ARRAY_SIZE(options_),                                      \
      __VA_ARGS__};                                                          \
  RT_PROVIDER_OPS(name, type_, name##_backend)
/* clang-format on */

#endif
