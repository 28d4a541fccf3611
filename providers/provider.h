/*
 * provider.h - the interface between the controller and a provider.
 *
 * A provider instance talks to one backend (the embedded `local` cloud,
 * a PowerDNS server, a PostgreSQL cluster, ...).  Every operation is
 * asynchronous on the controller's libuv loop: it starts I/O and returns at
 * once; the callback runs later on the loop thread, exactly once, even on
 * failure or when the instance is closing.  A provider never blocks the
 * loop (blocking work goes to the libuv threadpool).
 *
 * Calling sequence:
 *
 *   struct provider *p;
 *   provider_open(&p, ops, "local", config, loop, err, sizeof(err));
 *   provider_read(p, res, on_read, arg);      -- any number, concurrently
 *   ...
 *   provider_close(p, on_closed, arg);        -- after the last callback
 *
 * Observed state, passed to callbacks as a borrowed JSON object:
 *   {"spec":    {...},   the managed attributes as the backend has them,
 *                        normalised so an unchanged resource diffs equal;
 *    "outputs": {...},   computed values (a service's "address",
 *                        "healthy": true|false);
 *    "marker":  "managed-by=tenantd tenant=<t> id=<id>"   absent when the
 *                        backend holds no tenantd marker for it}
 *
 * Errors are classified so the controller knows what to do:
 *   PROVIDER_TRANSIENT  retry with backoff (timeouts, refused, 5xx)
 *   PROVIDER_CONFLICT   something else holds the name (no marker), or a
 *                       concurrent change: report, do not retry blindly
 *   PROVIDER_INVALID    the backend refuses the spec: do not retry until the
 *                       spec changes
 *   PROVIDER_AUTH       credentials refused
 *   PROVIDER_NOT_FOUND  read/delete of something that does not exist
 *
 * Writing a provider: do not implement this table by hand.  Write it on
 * the runtime in providers/common/runtime.h, which implements every
 * entry point once (ops, delivery on a later loop turn, in-flight
 * counting, close after the last op, options from a table in
 * options.h); the provider supplies open/check/start/shutdown/release
 * calls and its mapping of resources.  providers/README.md walks through
 * it.
 */
#ifndef TD_PROVIDER_H
#define TD_PROVIDER_H

#include "base/compat.h"

#include <jansson.h>
#include <uv.h>

#include "model/resource.h"

enum provider_status {
  PROVIDER_OK = 0,
  PROVIDER_TRANSIENT = -10,
  PROVIDER_CONFLICT = -11,
  PROVIDER_INVALID = -12,
  PROVIDER_AUTH = -13,
  PROVIDER_NOT_FOUND = -14,
};

/* "transient", "conflict", ... for logs and status. */
const char *provider_status_name(int status);

/* The class of a failed file operation (a TD code from base/fsutil.h):
 * a refused permission is PROVIDER_AUTH, anything else may pass. */
static inline int provider_status_of_fs(int td_code)
{
  return td_code == TD_EPERM ? PROVIDER_AUTH : PROVIDER_TRANSIENT;
}

struct provider;

struct provider_result {
  int status; /* PROVIDER_OK or an error class */
  /* Why, when status < 0; never holds a secret.  NULL for a read's
   * PROVIDER_NOT_FOUND, which is an answer: the thing is absent. */
  const char *message;
  const json_t *observed; /* read/create/update: what now exists */
};

/* Called once per operation; `res` and what it points to are borrowed. */
typedef void (*provider_cb)(struct provider *p,
                            const struct provider_result *res, void *arg);

/* One owned resource as list_owned finds it. */
struct provider_owned {
  const char *id;
  enum rtype type;
  const char *name;
};

typedef void (*provider_list_cb)(struct provider *p, int status,
                                 const char *message,
                                 const struct provider_owned *items, size_t n,
                                 void *arg);

typedef void (*provider_close_cb)(struct provider *p, void *arg);

/* Something of `tenant`'s changed at the backend; `what` says what, for
 * the log ("container web-0-1a2b3c4d died").  Both borrowed. */
typedef void (*provider_watch_cb)(struct provider *p, const char *tenant,
                                  const char *what, void *arg);

#define PROVIDER_OPS_VERSION 1

struct provider_ops {
  unsigned version; /* PROVIDER_OPS_VERSION */
  const char *type; /* "local", "powerdns", ... as in the controller config */

  /*
   * Creates an instance from its config (a borrowed JSON object: the
   * instance's entry in the controller config).  Returns 0, or -1 with a
   * message in err.  Secrets come from the environment, named by *Env keys.
   */
  int (*open)(struct provider **out, const char *instance, const json_t *config,
              uv_loop_t *loop, char *err, size_t errcap);

  /* What exists for resource `r` (by type and external name). */
  void (*read)(struct provider *p, const struct resource *r, provider_cb cb,
               void *arg);

  /* Creates `r` with `spec` (refs resolved; borrowed) and the marker. */
  void (*create)(struct provider *p, const struct resource *r,
                 const json_t *spec, provider_cb cb, void *arg);

  /* Brings an existing, marked `r` to `spec`. */
  void (*update)(struct provider *p, const struct resource *r,
                 const json_t *spec, provider_cb cb, void *arg);

  /* Deletes `r`; PROVIDER_NOT_FOUND when already gone. */
  void (*remove)(struct provider *p, const struct resource *r, provider_cb cb,
                 void *arg);

  /* Every resource carrying tenant `tenant`'s marker. */
  void (*list_owned)(struct provider *p, const char *tenant,
                     provider_list_cb cb, void *arg);

  /* Releases the instance after in-flight callbacks have run. */
  void (*close)(struct provider *p, provider_close_cb cb, void *arg);

  /*
   * Optional: NULL when the backend has no feed of its changes.  Follows
   * that feed until close: cb runs on the loop thread for each change to
   * something carrying a tenant's marker, whoever made it, the
   * controller included (a pass that follows its own change finds
   * nothing to do).  The daemon opens an instance for this alone, beside
   * the passes', and keeps it while it runs, so drift made by hand is
   * corrected within seconds instead of at the next resync.  Returns 0,
   * or -1 with td_error() set.
   */
  int (*watch)(struct provider *p, provider_watch_cb cb, void *arg);
};

/* Every instance embeds this first. */
struct provider {
  const struct provider_ops *ops;
  char *instance;
  uv_loop_t *loop;
  /* How many reads the instance answers together, as one call (one
   * query, one threadpool job): a caller bounding its calls in flight
   * may keep this many reads in flight for each.  0 counts as 1. */
  unsigned read_batch;
  /*
   * Set at open by a provider that answers many calls with one request
   * (a catalog query for every read, a zone's GET, one nginx test and
   * reload for every write) and bounds what it sends itself.  A pass
   * then hands it every call that is ready, outside its concurrency:
   * counted against it, calls would reach the provider `concurrency` at
   * a time, one batch each.  Wrappers copy it from what they wrap.
   */
  bool batches;
  /*
   * Set at open by a provider whose reads take no round trip (files on
   * this host, not a server behind a network).  A pass observes such
   * instances in small windows, which keep its working set in cache; a
   * window of reads that cross a network costs a round trip however
   * small, so when any instance of the pass lacks this the windows are
   * large.  Wrappers copy it from what they wrap.
   */
  bool reads_nearby;
};

/* ---- registry ---- */

/* The ops for a provider type, or NULL. */
const struct provider_ops *provider_find_type(const char *type);

/*
 * Adds a type beside the built-in ones, for a program that brings its own
 * backend (the unit tests' fake provider drives the engine this way).
 * Call it from the loop thread before a pass; `ops` must outlive every
 * pass.  0 when added or when exactly these ops are registered already;
 * TD_ECONFLICT when another provider has the type; TD_ETOOBIG when
 * PROVIDER_ADDED_MAX types were added.
 */
#define PROVIDER_ADDED_MAX 8
int provider_register_type(const struct provider_ops *ops);

/* ---- wrappers: callers never touch the table directly ---- */

static inline int provider_open(struct provider **out,
                                const struct provider_ops *ops,
                                const char *instance, const json_t *config,
                                uv_loop_t *loop, char *err, size_t errcap)
{
  assert(ops->version == PROVIDER_OPS_VERSION);
  return ops->open(out, instance, config, loop, err, errcap);
}

/* The reads that count as one call of `p` (struct provider). */
static inline unsigned provider_read_batch(const struct provider *p)
{
  return p->read_batch ? p->read_batch : 1;
}
static inline void provider_read(struct provider *p, const struct resource *r,
                                 provider_cb cb, void *arg)
{
  p->ops->read(p, r, cb, arg);
}

static inline void provider_create(struct provider *p, const struct resource *r,
                                   const json_t *spec, provider_cb cb,
                                   void *arg)
{
  p->ops->create(p, r, spec, cb, arg);
}

static inline void provider_update(struct provider *p, const struct resource *r,
                                   const json_t *spec, provider_cb cb,
                                   void *arg)
{
  p->ops->update(p, r, spec, cb, arg);
}

static inline void provider_remove(struct provider *p, const struct resource *r,
                                   provider_cb cb, void *arg)
{
  p->ops->remove(p, r, cb, arg);
}

/* Whether instances of the type can watch (provider_watch). */
static inline bool provider_type_watches(const struct provider_ops *ops)
{
  return ops->watch != NULL;
}

static inline int provider_watch(struct provider *p, provider_watch_cb cb,
                                 void *arg)
{
  return p->ops->watch(p, cb, arg);
}

static inline void provider_list_owned(struct provider *p, const char *tenant,
                                       provider_list_cb cb, void *arg)
{
  p->ops->list_owned(p, tenant, cb, arg);
}

static inline void provider_close(struct provider *p, provider_close_cb cb,
                                  void *arg)
{
  p->ops->close(p, cb, arg);
}

#endif
