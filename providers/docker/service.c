/*
 * service.c - a service's operations (see docker.h): read, converge
 * (create and update: removals and restarts, then the rolling update one
 * ordinal at a time, then the replicas missing altogether), remove.
 *
 * Each is a chain of stages: a stage sends its requests at once
 * (dk__stage_*), the last answer runs the next stage; the rolling update
 * runs its ordinals one after the other.  The family of containers
 * (op->fam) is read at the start and again at the end; the steps in
 * between point into it.
 */
#include "base/compat.h"

#include <stdio.h>
#include <time.h>

#include "providers/docker/internal.h"

/* ---- observe: the containers, then their health ---- */

static void on_listed(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  char why[256];
  int rc;

  (void)ctx;
  if (res->status < 0) {
    dk__finish(op, res->status, res->message, NULL);
    return;
  }
  dk__family_release(&op->fam);
  rc = dk__family_parse(res->json, &op->owner, op->want, &op->fam, why,
                        sizeof(why));
  if (rc < 0) {
    dk__finish(op, rc, why, NULL);
    return;
  }
  /* Nothing a removal keeps needs its health known. */
  if (op->base.kind == RT_REMOVE)
    op->observed(op);
  else
    dk__probe_family(op, op->observed);
}

/* Lists the containers named like the service (or, `by_label`, carrying
 * its labels), probes them, then `then`. */
static void observe(struct dk_op *op, bool by_label,
                    void (*then)(struct dk_op *op))
{
  char *value = by_label ? td_asprintf(DK_LABEL_ID "=%s", op->owner.id)
                         : td_asprintf("%s-", op->owner.name);
  char *filter = dk__filter(by_label ? "label" : "name", value);
  char *path = td_asprintf("/containers/json?all=1&filters=%s", filter);

  op->observed = then;
  dk__api(dk_of(op), op, "GET", path, NULL, on_listed, NULL);
  free(path);
  free(filter);
  free(value);
}

static json_t *observed_state(struct dk_op *op)
{
  return dk__service_observed(&op->fam, &op->owner, op->want,
                              dk_of(op)->host_address);
}

/* ---- read ---- */

static void read_done(struct dk_op *op)
{
  if (op->fam.n == 0 && op->fam.foreign == 0) {
    char msg[512];

    snprintf(msg, sizeof(msg), "docker: service %s: no container",
             op->owner.name);
    dk__finish(op, PROVIDER_NOT_FOUND, msg, NULL);
    return;
  }
  dk__finish(op, PROVIDER_OK, NULL, observed_state(op));
}

/* ---- one replica: stop and remove, start, restart ---- */

static void replica_gone(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  struct dk_replica *r = ctx;

  if (res->status < 0 && res->status != PROVIDER_NOT_FOUND)
    dk__stage_fail(op, res->status, "%s", res->message);
  else
    r->state = DK_BROKEN; /* gone */
  dk__stage_done(op);
}

static void replica_stopped(struct dk_op *op, const struct dk_resp *res,
                            void *ctx)
{
  struct dk_replica *r = ctx;
  char *path;

  if (res->status < 0 && res->status != PROVIDER_NOT_FOUND) {
    dk__stage_fail(op, res->status, "%s", res->message);
    dk__stage_done(op);
    return;
  }
  path = td_asprintf("/containers/%s?force=1&v=1", r->id);
  dk__api(dk_of(op), op, "DELETE", path, NULL, replica_gone, r);
  free(path);
}

/* Stops a running replica gracefully (SIGTERM, stopTimeoutSeconds), then
 * removes it; one request of the current stage. */
static void replica_remove(struct dk_op *op, struct dk_replica *r)
{
  struct dk *dk = dk_of(op);
  char *path;

  dk__stage_add(op);
  if (r->state != DK_RUNNING) {
    struct dk_resp gone = {PROVIDER_OK, 204, NULL, NULL};

    replica_stopped(op, &gone, r);
    return;
  }
  path = td_asprintf("/containers/%s/stop?t=%llu", r->id,
                     (unsigned long long)dk->stop_timeout_s);
  dk__api(dk, op, "POST", path, NULL, replica_stopped, r);
  free(path);
}

static void replica_started(struct dk_op *op, const struct dk_resp *res,
                            void *ctx)
{
  struct dk_replica *r = ctx;

  if (res->status < 0)
    dk__stage_fail(op, res->status, "%s", res->message);
  else
    dk__mark_fresh(dk_of(op), r->id);
  dk__stage_done(op);
}

static void replica_start(struct dk_op *op, struct dk_replica *r, bool again)
{
  struct dk *dk = dk_of(op);
  char *path = again ? td_asprintf("/containers/%s/restart?t=%llu", r->id,
                                   (unsigned long long)dk->stop_timeout_s)
                     : td_asprintf("/containers/%s/start", r->id);

  dk__stage_add(op);
  dk__api(dk, op, "POST", path, NULL, replica_started, r);
  free(path);
}

/* ---- a new replica: create (pulling its image if missing), start ---- */

struct dk_new {
  struct dk_op *op;
  long ordinal;
  char name[256];
  char id[80];
  bool pulled;
  bool inspect; /* find its published port once started */
  unsigned host_port;
  void (*done)(struct dk_new *n, int status, const char *message);
};

static void new_create(struct dk_new *n);

static void new_end(struct dk_new *n, int status, const char *message)
{
  n->done(n, status, message);
}

static void new_inspected(struct dk_op *op, const struct dk_resp *res,
                          void *ctx)
{
  struct dk_new *n = ctx;
  char key[32];
  const json_t *ports;
  const char *port;

  if (res->status < 0) {
    new_end(n, res->status, res->message);
    return;
  }
  snprintf(key, sizeof(key), "%lld/tcp",
           (long long)json_integer_value(json_object_get(op->tmpl, "port")));
  ports = json_object_get(
      json_object_get(json_object_get(res->json, "NetworkSettings"), "Ports"),
      key);
  port =
      json_string_value(json_object_get(json_array_get(ports, 0), "HostPort"));
  n->host_port = port ? (unsigned)strtoul(port, NULL, 10) : 0;
  new_end(n, PROVIDER_OK, NULL);
}

static void new_started(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  struct dk_new *n = ctx;
  char *path;

  if (res->status < 0) {
    new_end(n, res->status, res->message);
    return;
  }
  dk__mark_fresh(dk_of(op), n->id);
  if (!n->inspect) {
    new_end(n, PROVIDER_OK, NULL);
    return;
  }
  path = td_asprintf("/containers/%s/json", n->id);
  dk__api(dk_of(op), op, "GET", path, NULL, new_inspected, n);
  free(path);
}

static void new_start(struct dk_new *n)
{
  char *path = td_asprintf("/containers/%s/start", n->id);

  dk__api(dk_of(n->op), n->op, "POST", path, NULL, new_started, n);
  free(path);
}

/* The name is taken: ours of this version (an interrupted pass made it)
 * is used, anything else is a conflict. */
static void new_existing(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  struct dk_new *n = ctx;
  const json_t *labels =
      json_object_get(json_object_get(res->json, "Config"), "Labels");
  const char *hash = json_string_value(json_object_get(labels, DK_LABEL_HASH));
  const char *id = json_string_value(json_object_get(res->json, "Id"));
  char msg[512];

  if (res->status < 0) {
    new_end(n, res->status, res->message);
    return;
  }
  if (!dk__labels_ours(labels, &op->owner) || !hash || !id ||
      strcmp(hash, op->hash) != 0 || strlen(id) >= sizeof(n->id)) {
    snprintf(msg, sizeof(msg),
             "docker: container %s exists without tenantd's labels for %s: "
             "left untouched",
             n->name, op->owner.id);
    new_end(n, PROVIDER_CONFLICT, msg);
    return;
  }
  snprintf(n->id, sizeof(n->id), "%s", id);
  new_start(n);
}

static void new_pulled(struct dk_op *op, int status, const char *message,
                       void *ctx)
{
  struct dk_new *n = ctx;

  (void)op;
  if (status < 0) {
    new_end(n, status, message);
    return;
  }
  n->pulled = true;
  new_create(n);
}

static void new_created(struct dk_op *op, const struct dk_resp *res, void *ctx)
{
  struct dk_new *n = ctx;
  const char *id = json_string_value(json_object_get(res->json, "Id"));
  char *path;

  /* Docker says 409; Podman 500, "that name is already in use". */
  if (res->status == PROVIDER_CONFLICT ||
      (res->status < 0 && strstr(res->message, "already in use"))) {
    path = td_asprintf("/containers/%s/json", n->name);
    dk__api(dk_of(op), op, "GET", path, NULL, new_existing, n);
    free(path);
  } else if (res->status == PROVIDER_NOT_FOUND && !n->pulled) {
    /* No such image here: pull it, then try again. */
    dk__pull(dk_of(op), op,
             json_string_value(json_object_get(op->tmpl, "image")), new_pulled,
             n);
  } else if (res->status < 0) {
    new_end(n, res->status, res->message);
  } else if (!id || strlen(id) >= sizeof(n->id)) {
    new_end(n, PROVIDER_INVALID, "docker: a create answered no Id");
  } else {
    snprintf(n->id, sizeof(n->id), "%s", id);
    new_start(n);
  }
}

static void new_create(struct dk_new *n)
{
  struct dk_op *op = n->op;
  struct dk *dk = dk_of(op);
  char *qname = dk__query_escape(n->name);
  char *path = td_asprintf("/containers/create?name=%s", qname);

  dk__api(dk, op, "POST", path,
          dk__container_body(op->tmpl, op->hash, n->ordinal, &op->owner,
                             dk->host_address),
          new_created, n);
  free(path);
  free(qname);
}

/* Creates and starts replica `ordinal` of the wanted version; done(n,
 * ...) runs once (with n to free), on a later turn unless the name does
 * not fit. */
static void new_replica(struct dk_op *op, long ordinal, bool inspect,
                        void (*done)(struct dk_new *n, int status,
                                     const char *message))
{
  struct dk_new *n = td_calloc(1, sizeof(*n));

  n->op = op;
  n->ordinal = ordinal;
  n->inspect = inspect;
  n->done = done;
  if (!dk__replica_name(n->name, sizeof(n->name), op->owner.name, ordinal,
                        op->hash)) {
    done(n, PROVIDER_INVALID, "docker: the service's name is too long");
    return;
  }
  new_create(n);
}

/* ---- converge: stage 1, removals and restarts ---- */

static void roll_next(struct dk_op *op);
static void creates(struct dk_op *op);
static void converge_done(struct dk_op *op);

static bool failed(struct dk_op *op)
{
  if (op->err_status >= 0)
    return false;
  dk__finish(op, op->err_status, op->err, NULL);
  return true;
}

static void stage1_done(struct dk_op *op)
{
  if (failed(op))
    return;
  op->step = 0;
  roll_next(op);
}

static void converge_plan(struct dk_op *op)
{
  char msg[512];

  if (op->fam.foreign > 0) {
    snprintf(msg, sizeof(msg),
             "docker: container %s exists without tenantd's labels for %s: "
             "left untouched",
             op->fam.foreign_name, op->owner.id);
    dk__finish(op, PROVIDER_CONFLICT, msg, NULL);
    return;
  }
  dk__plan_release(&op->plan);
  dk__plan(&op->fam, op->hash, op->want, &op->plan);
  dk__stage_begin(op, stage1_done);
  for (size_t i = 0; i < op->plan.n; i++) {
    const struct dk_step *s = &op->plan.v[i];

    if (s->act == DK_REMOVE)
      replica_remove(op, &op->fam.v[s->replica]);
    else if (s->act == DK_START || s->act == DK_RESTART)
      replica_start(op, &op->fam.v[s->replica], s->act == DK_RESTART);
  }
  dk__stage_done(op);
}

/* ---- converge: stage 2, the rolling update ---- */

static int64_t wall_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void rolled(struct dk_op *op)
{
  if (failed(op))
    return;
  free(op->roll);
  op->roll = NULL;
  op->step++;
  roll_next(op);
}

static void rollback_done(struct dk_op *op, const struct dk_resp *res,
                          void *ctx)
{
  (void)res;
  (void)ctx;
  /* The reason is the health check's, whatever the removal said. */
  dk__finish(op, PROVIDER_INVALID, op->err, NULL);
}

/* The new replica passed: the old ones of its ordinal go.  It did not:
 * it goes, and the update fails with why. */
static void roll_ready(struct dk_op *op, bool ready)
{
  struct dk *dk = dk_of(op);
  struct dk_roll *rl = op->roll;
  char *path;

  if (ready) {
    dk__stage_begin(op, rolled);
    for (size_t i = 0; i < op->fam.n; i++) {
      struct dk_replica *r = &op->fam.v[i];

      if (r->ordinal == rl->ordinal && strcmp(r->hash, op->hash) != 0 &&
          r->state != DK_BROKEN)
        replica_remove(op, r);
    }
    dk__stage_done(op);
    return;
  }
  snprintf(op->err, sizeof(op->err),
           "docker: service %s: the new version's replica %s never turned "
           "healthy (%s); it was removed, the old replicas keep serving",
           op->owner.name, rl->name, rl->why);
  path = td_asprintf("/containers/%s?force=1&v=1", rl->id);
  dk__api(dk, op, "DELETE", path, NULL, rollback_done, NULL);
  free(path);
}

static void roll_wait(struct dk_op *op)
{
  struct dk *dk = dk_of(op);

  op->roll->deadline = uv_now(dk->rt.base.loop) + dk->health_timeout_ms;
  dk__wait_ready(op, roll_ready);
}

static void roll_up(struct dk_new *n, int status, const char *message)
{
  struct dk_op *op = n->op;

  if (status < 0) {
    free(n);
    dk__finish(op, status, message, NULL);
    return;
  }
  snprintf(op->roll->id, sizeof(op->roll->id), "%s", n->id);
  snprintf(op->roll->name, sizeof(op->roll->name), "%s", n->name);
  op->roll->host_port = n->host_port;
  free(n);
  roll_wait(op);
}

static void roll_next(struct dk_op *op)
{
  const struct dk_step *s;
  struct dk_roll *rl;

  while (op->step < op->plan.n && op->plan.v[op->step].act != DK_ROLL)
    op->step++;
  if (op->step == op->plan.n) {
    creates(op);
    return;
  }
  s = &op->plan.v[op->step];
  /* Before the new replica starts: its death must not be missed. */
  if (!op->following) {
    op->following = true;
    dk__events_follow(dk_of(op));
  }
  rl = op->roll = td_calloc(1, sizeof(*rl));
  rl->since_ns = wall_ns();
  rl->ordinal = s->ordinal;
  rl->tmpl = op->tmpl;
  if (s->replica != DK_NONE && op->fam.v[s->replica].state == DK_RUNNING) {
    /* An interrupted pass started it: it still has to pass. */
    struct dk_replica *r = &op->fam.v[s->replica];

    snprintf(rl->id, sizeof(rl->id), "%s", r->id);
    snprintf(rl->name, sizeof(rl->name), "%s", r->name);
    rl->host_port = r->host_port;
    roll_wait(op);
    return;
  }
  /* A stopped one of this version is taken up by the create's name. */
  new_replica(op, s->ordinal, true, roll_up);
}

/* ---- converge: stage 3, the replicas missing altogether ---- */

static void created_one(struct dk_new *n, int status, const char *message)
{
  struct dk_op *op = n->op;

  if (status < 0)
    dk__stage_fail(op, status, "%s", message);
  free(n);
  dk__stage_done(op);
}

static void creates_done(struct dk_op *op)
{
  if (failed(op))
    return;
  observe(op, false, converge_done);
}

static void creates(struct dk_op *op)
{
  dk__stage_begin(op, creates_done);
  for (size_t i = 0; i < op->plan.n; i++)
    if (op->plan.v[i].act == DK_CREATE) {
      dk__stage_add(op);
      new_replica(op, op->plan.v[i].ordinal, false, created_one);
    }
  dk__stage_done(op);
}

static void converge_done(struct dk_op *op)
{
  dk__finish(op, PROVIDER_OK, NULL, observed_state(op));
}

/* ---- remove ---- */

static void removed(struct dk_op *op)
{
  if (failed(op))
    return;
  dk__finish(op, PROVIDER_OK, NULL, NULL);
}

static void remove_all(struct dk_op *op)
{
  char msg[512];

  if (op->fam.n == 0) {
    snprintf(msg, sizeof(msg), "docker: service %s: no container",
             op->owner.name);
    dk__finish(op, PROVIDER_NOT_FOUND, msg, NULL);
    return;
  }
  dk__stage_begin(op, removed);
  for (size_t i = 0; i < op->fam.n; i++)
    replica_remove(op, &op->fam.v[i]);
  dk__stage_done(op);
}

void dk__service_start(struct dk_op *op)
{
  switch (op->base.kind) {
  case RT_READ:
    observe(op, false, read_done);
    break;
  case RT_CREATE:
  case RT_UPDATE:
    observe(op, false, converge_plan);
    break;
  case RT_REMOVE:
    /* By label: every container of the resource, whatever its name.
     * No probes: nothing is kept. */
    op->want = 0;
    observe(op, true, remove_all);
    break;
  case RT_LIST:
    break;
  }
}
