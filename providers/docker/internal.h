/*
 * internal.h - what the docker provider's files share (see docker.h for
 * the contract).
 *
 *   docker.c   the instance (options, open, check, start, shutdown), the
 *              scheduler of delayed steps, list_owned;
 *   api.c      requests to the Engine API: the unix socket, at most
 *              maxParallel in flight, JSON both ways, Docker's message in
 *              every error; image pulls (streamed, one per image at a
 *              time, shared by every op that needs it);
 *   mapping.c  what needs no I/O: request bodies, labels, container
 *              lists parsed into replicas, observed specs, the plan of a
 *              convergence, query strings (unit-tested);
 *   images.c   image references, registry credentials, pull errors
 *              (unit-tested);
 *   service.c  service operations: read, converge (create, update) with
 *              rolling updates, remove;
 *   network.c  network operations;
 *   health.c   the health prober: HTTP checks of replicas on the loop,
 *              the wait for a new replica during a rolling update;
 *   events.c   the follower of the Engine API's event stream: which
 *              containers died while a rolling update waits.
 *
 * Everything runs on the loop thread.  An op's requests always answer on
 * a later loop turn, never inside the call that sent them.
 */
#ifndef TD_DOCKER_INTERNAL_H
#define TD_DOCKER_INTERNAL_H

#include "base/compat.h"

#include <jansson.h>

#include "providers/common/curl_uv.h"
#include "providers/common/runtime.h"
#include "providers/docker/docker.h"

/* Labels: the ownership marker's three, then tenantd's own. */
#define DK_LABEL_MANAGED "managed-by"
#define DK_LABEL_TENANT "tenantd.tenant"
#define DK_LABEL_ID "tenantd.id"
#define DK_LABEL_NAME "tenantd.name"
#define DK_LABEL_HASH "tenantd.hash"
#define DK_LABEL_ORDINAL "tenantd.ordinal"
#define DK_LABEL_SPEC "tenantd.spec"

/* Caps on what the Engine API may send. */
#define DK_MAX_LIST_BYTES (32 * 1024 * 1024)
#define DK_MAX_LIST 10000 /* containers or networks in one list */
#define DK_MAX_LINE 65536 /* one line of an event or pull stream */
#define DK_MAX_MESSAGE 512
/* The most replicas a spec may ask for. */
#define DK_MAX_REPLICAS 1000
/* Probes of a starting replica during a rolling update, at most this far
 * apart (or health_interval_s when shorter). */
#define DK_READY_POLL_MS 500

#define DK_NONE ((size_t)-1)

struct dk;
struct dk_op;

/* ---- the scheduler (docker.c): a step that waits ---- */

struct dk_wake {
  struct dk_wake *next;
  uint64_t due;
  void (*fn)(struct dk_wake *w);
  bool armed;
};

/* Runs fn(w) `ms` from now, on the loop.  `w` must not be armed. */
void dk__wake_after(struct dk *dk, struct dk_wake *w, uint64_t ms,
                    void (*fn)(struct dk_wake *w));

/* Unarms `w` if it is armed. */
void dk__wake_cancel(struct dk *dk, struct dk_wake *w);

/* ---- mapping.c: no I/O ---- */

enum dk_state {
  DK_RUNNING,
  DK_STOPPED, /* created, exited: can be started */
  DK_BROKEN,  /* dead, removing, paused, restarting: replaced */
};

enum dk_health {
  DK_H_UNKNOWN, /* not probed (not running, or no port) */
  DK_H_NONE,    /* the service has no health check */
  DK_H_PASSING,
  DK_H_STARTING, /* failed, but started moments ago by this instance */
  DK_H_FAILING,  /* failed healthFailures times in a row */
};

/* One container of a service's name family. */
struct dk_replica {
  char *id;
  char *name;
  long ordinal; /* -1 when the name is not of the family's shape */
  char hash[17];
  enum dk_state state;
  bool ours;    /* this resource's labels */
  json_t *tmpl; /* the template it was made from (its label); may be NULL */
  char ip[64];  /* on its network; "" when none */
  unsigned host_port;
  enum dk_health health;
  unsigned fails; /* probes failed in a row */
  bool settled;   /* its health is known for this read */
  char last[160]; /* why its last probe failed */
};

/* A service's containers: ours, and how many others stand in the names
 * tenantd wants. */
struct dk_family {
  struct dk_replica *v;
  size_t n;
  size_t foreign;
  char foreign_name[256]; /* the first of them */
};

/* Who a resource's labels name. */
struct dk_owner {
  const char *tenant;
  const char *id;
  const char *name; /* external name */
};

void dk__family_release(struct dk_family *f);

/* Percent-encoded for a URL's query (new). */
char *dk__query_escape(const char *s);

/* "filters=" for one key and value: {"<key>": ["<value>"]}, encoded
 * (new). */
char *dk__filter(const char *key, const char *value);

/* The marker ("managed-by=tenantd tenant=<t> id=<id>") that a labels
 * object carries, in `buf` (RESOURCE_MARKER_MAX); false when none. */
bool dk__labels_marker(const json_t *labels, char *buf);

/* Whether labels carry exactly this owner's marker. */
bool dk__labels_ours(const json_t *labels, const struct dk_owner *o);

/* The owner's labels, and the hash (new). */
json_t *dk__labels(const struct dk_owner *o, const char *hash);

/* A service spec without "replicas" (new), and its hash. */
json_t *dk__template(const json_t *spec, char hash[17]);

/* "<svc>-<ordinal>-<8 hex of hash>" into buf; false when it does not
 * fit. */
bool dk__replica_name(char *buf, size_t cap, const char *svc, long ordinal,
                      const char *hash);

/* Whether `name` is "<svc>-<digits>" or "<svc>-<digits>-<8 hex>": then
 * its ordinal in *ordinal. */
bool dk__family_ordinal(const char *svc, const char *name, long *ordinal);

/* Checks a service spec (resolved) a create or update sends: 0, or
 * PROVIDER_INVALID with a message in err. */
int dk__service_spec_check(const json_t *spec, char *err, size_t cap);

/* The container create body for a replica (new). */
json_t *dk__container_body(const json_t *tmpl, const char *hash, long ordinal,
                           const struct dk_owner *o, const char *host_address);

/* The network create body (new). */
json_t *dk__network_body(const json_t *spec, const struct dk_owner *o);

/*
 * Parses a container list into the family of service `o->name`: ours
 * (this resource's labels, in the name family or not) and the count of
 * others whose names tenantd wants (ordinals below `want`).  0, or
 * PROVIDER_INVALID with a message.
 */
int dk__family_parse(const json_t *list, const struct dk_owner *o, long want,
                     struct dk_family *out, char *err, size_t cap);

/* The observed object of a service (new): see docker.h. */
json_t *dk__service_observed(const struct dk_family *f,
                             const struct dk_owner *o, long want,
                             const char *host_address);

/* The observed object of a network from its inspect body (new); NULL
 * when it is not the network `name`. */
json_t *dk__network_observed(const json_t *net, const char *name,
                             const char *region);

/* The Engine API's "message" of an error body, or NULL.  Borrowed. */
const char *dk__api_message(const json_t *body);

/* ---- the plan of a convergence ---- */

enum dk_act {
  DK_REMOVE,  /* 1: a container not wanted (old and stopped, extra) */
  DK_START,   /* 1: a stopped replica of the wanted version */
  DK_RESTART, /* 1: a failing replica of the wanted version */
  DK_ROLL,    /* 2: new version beside a running old one, then the old
               * goes; one at a time */
  DK_CREATE,  /* 3: a replica missing altogether */
};

struct dk_step {
  enum dk_act act;
  long ordinal;
  size_t replica; /* in the family; DK_NONE: a new container */
};

struct dk_plan {
  struct dk_step *v;
  size_t n;
};

/* The steps that bring family `f` to `want` replicas of version `hash`,
 * in the order they run (see docker.h). */
void dk__plan(const struct dk_family *f, const char *hash, long want,
              struct dk_plan *out);
void dk__plan_release(struct dk_plan *p);

/* ---- images.c: images and credentials ---- */

/* The repository and the tag (or digest) of an image reference, for a
 * pull; "latest" when it names none.  False when it does not fit. */
bool dk__image_ref(const char *image, char *repo, size_t rcap, char *tag,
                   size_t tcap);

/* The X-Registry-Auth value for a credential ("user:password" or a JSON
 * object) and the image's registry (new); NULL when the JSON is bad. */
char *dk__registry_auth(const char *credential, const char *image);

/* The error of one line of a pull's progress stream, if it is one. */
bool dk__pull_error(const char *line, size_t len, char *err, size_t cap);

/* The class of a pull's error: PROVIDER_INVALID (no such image or
 * registry), PROVIDER_AUTH (a refused credential), else transient. */
int dk__pull_class(const char *message);

/* ---- the instance ---- */

struct dk_pull; /* api.c */

struct dk {
  struct rt rt; /* first: the runtime's */
  /* Options (docker.h). */
  char *socket;
  char *host_address;
  struct opt_secret registry_auth;
  uint64_t max_parallel, timeout_ms, pull_timeout_ms, health_timeout_ms;
  uint64_t health_failures, stop_timeout_s;

  struct curl_uv *cu;
  /* api.c: requests waiting for a slot, and those in flight. */
  struct dk_call *queue_head, **queue_tail;
  unsigned inflight;
  struct dk_pull *pulls;
  /* The scheduler. */
  uv_timer_t timer;
  bool timer_live;
  struct dk_wake *wakes; /* sorted by due */
  /* Replicas this instance started: container id -> uv_now() ms. */
  json_t *fresh;
  /* events.c */
  struct dk_events *events;
  /* provider_watch: told of each change to tenantd's containers. */
  provider_watch_cb watch_cb;
  void *watch_arg;
  unsigned handles; /* open while shutting down */
};

/* One operation; ops of every kind share it. */
struct dk_op {
  struct rt_op base; /* first: kind, type, id, tenant, name, marker, spec */
  struct dk_owner owner;
  long want;    /* wanted replicas (reads: from the desired spec); -1 */
  json_t *tmpl; /* create, update of a service: the template */
  char hash[17];
  char *region; /* a network's desired region */
  struct dk_family fam;
  struct dk_plan plan;
  size_t step; /* the next of plan */
  /* What follows a list and its probes (service.c). */
  void (*observed)(struct dk_op *op);
  /* A stage of parallel requests: pending, then `then`. */
  unsigned pending;
  void (*then)(struct dk_op *op);
  int err_status;
  char err[RT_MESSAGE_MAX];
  /* Health: rounds of probes, and the rolling wait. */
  struct dk_wake wake;
  unsigned probing;
  void (*probed)(struct dk_op *op);
  struct dk_roll *roll;
  bool following; /* holds the event stream open */
  /* list_owned: the containers' and networks' lists. */
  json_t *lists[2];
};

static inline struct dk *dk_of(const struct dk_op *op)
{
  return container_of(op->base.rt, struct dk, rt);
}

/* Answers the op: observed (stolen) when status is PROVIDER_OK, else the
 * message; then delivers it. */
void dk__finish(struct dk_op *op, int status, const char *message,
                json_t *observed);

/* Stages: begin, one more request, one request done (the last one runs
 * `then`), the first failure kept. */
void dk__stage_begin(struct dk_op *op, void (*then)(struct dk_op *op));
void dk__stage_add(struct dk_op *op);
void dk__stage_done(struct dk_op *op);
void dk__stage_fail(struct dk_op *op, int status, const char *fmt, ...)
    TD_PRINTF(3, 4);

/* ---- api.c ---- */

struct dk_resp {
  int status;          /* PROVIDER_OK or an error class */
  long code;           /* HTTP status, 0 when none */
  const json_t *json;  /* the parsed body, or NULL */
  const char *message; /* "docker: METHOD /path: why", when status < 0 */
};

typedef void (*dk_api_cb)(struct dk_op *op, const struct dk_resp *res,
                          void *ctx);

/* A request to the Engine API; `path` after the version ("/containers/
 * json?all=1"); `body` is stolen (NULL: none).  cb runs later, once. */
void dk__api(struct dk *dk, struct dk_op *op, const char *method,
             const char *path, json_t *body, dk_api_cb cb, void *ctx);

/* Makes sure `image` is present (pulled when not); done(status, message)
 * runs later.  Pulls of one image are shared. */
typedef void (*dk_pull_cb)(struct dk_op *op, int status, const char *message,
                           void *ctx);
void dk__pull(struct dk *dk, struct dk_op *op, const char *image,
              dk_pull_cb done, void *ctx);

/* ---- service.c, network.c ---- */

void dk__service_start(struct dk_op *op);
void dk__network_start(struct dk_op *op);

/* ---- health.c ---- */

/* Probes every running replica of op->fam that is ours (docker.h says
 * how), then probed(op). */
void dk__probe_family(struct dk_op *op, void (*probed)(struct dk_op *op));

/* A replica of a rolling update: waits until it passes its health check
 * (ready true), or healthTimeoutMs passes, or it exits (false, with why in
 * `why`). */
struct dk_roll {
  long ordinal;
  char id[80];
  char name[256];
  unsigned host_port;
  const json_t *tmpl; /* borrowed from the op */
  int64_t since_ns;   /* when this op began with it (wall clock) */
  uint64_t deadline;
  char why[256];
  void (*ready)(struct dk_op *op, bool ready);
};
void dk__wait_ready(struct dk_op *op,
                    void (*ready)(struct dk_op *op, bool ready));

/* Records that this instance started container `id`: until the pass
 * ends, its failed probes mean starting, not failing. */
void dk__mark_fresh(struct dk *dk, const char *container_id);

/* ---- events.c ---- */

/* One more op waits on the event stream: it is opened if it is not.
 * Each call is paired with dk__events_unfollow, which closes the stream
 * after the last. */
void dk__events_follow(struct dk *dk);
void dk__events_unfollow(struct dk *dk);
/* Whether container `id` died at or after `after_ns` (ns since the
 * epoch, CLOCK_REALTIME as the Engine API stamps events): its exit
 * code. */
bool dk__events_died(struct dk *dk, const char *id, int64_t after_ns,
                     int *exit_code);
/* provider_watch: follows the stream until shutdown, telling cb of each
 * container of tenantd's that dies, is removed or paused (docker.h). */
int dk__events_watch(struct provider *p, provider_watch_cb cb, void *arg);
/* Stops following (shutdown); the stream's request is cancelled by
 * curl_uv_close. */
void dk__events_stop(struct dk *dk);
void dk__events_free(struct dk *dk);

#endif
