/*
 * local.c - the embedded simulated cloud (see local.h for the contract).
 *
 * Written on the provider runtime (providers/common/runtime.h): each
 * operation is a job, an op of the runtime's.  start() gets the jobs of a
 * loop turn together; it decides on the loop thread whether a job fails
 * early (injected fault, bad name); otherwise the file work runs on the
 * threadpool with only the job's own copies of its inputs.  Reads and
 * lists go in batches, up to BATCH_MAX a work item, so a pass observing
 * thousands of resources pays one thread handoff per batch, not per
 * file; writes one a work item, since each syncs to disk.  With
 * latencyMs the result waits on the job's timer, so latency applies to
 * every outcome.
 */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "base/strset.h"
#include "model/naming.h"
#include "model/resource.h"
#include "providers/common/runtime.h"
#include "providers/local/local.h"

/* Bounds on what the config may ask for; beyond them it is a mistake. */
#define MAX_LATENCY_MS 600000
#define MAX_HEALTH_DELAY_MS 86400000
#define MAX_STATE_DIR 3000
/*
 * File names must leave room in 255 bytes for ".<stem>.json.XXXXXX".  A
 * longer external name (a DNS name may have 253 characters) is stored
 * under its first STEM_KEEP bytes, '~' and a 16-digit hash of the whole.
 */
#define MAX_STEM 200
#define STEM_KEEP (MAX_STEM - 17)
/* A service's addresses: one a replica, at most this many. */
#define LOCAL_MAX_REPLICAS 1000
/* A list larger than this is a runaway state directory, not a tenant. */
#define MAX_LIST 100000
/* Reads and lists per threadpool work item, and how many work items a
 * turn aims to spread them over (libuv's default pool size). */
#define BATCH_MAX 64
#define BATCH_SPREAD 4

struct local {
  struct rt rt; /* first: the runtime's */
  /* Options (local.h). */
  char *state_dir;
  uint64_t latency_ms;
  uint64_t health_delay_ms;
  double fault_rate;
  int fault_class;   /* into fault_classes */
  char *fault_match; /* faults only for ids containing this; NULL: all */
  int fault_on;      /* FAULT_ON_ALL or FAULT_ON_WRITES */
  uint64_t seed;
  uint64_t rng; /* xorshift64* state, never zero */
};

struct job {
  struct rt_op op;  /* first: the runtime's, with the resource's copies */
  uv_timer_t timer; /* delivers the result after latencyMs */
  /* Inputs the worker reads besides the op's: all owned by the job, but
   * state_dir, the instance's, which is never changed and outlives it. */
  const char *state_dir;
  char *dir;  /* <stateDir>/<type> */
  char *path; /* <dir>/<name>.json */
  char *stem; /* the file name without .json: the name, or shortened */
  uint64_t health_delay_ms;
};

/* Jobs handed to the threadpool as one work item. */
struct batch {
  uv_work_t work;
  size_t n;
  struct job *jobs[];
};

static const char *const fault_classes[] = {"transient", "conflict", "invalid",
                                            "auth", NULL};
static const int fault_statuses[] = {PROVIDER_TRANSIENT, PROVIDER_CONFLICT,
                                     PROVIDER_INVALID, PROVIDER_AUTH};
enum { FAULT_ON_ALL, FAULT_ON_WRITES };
static const char *const fault_on_names[] = {"all", "writes", NULL};

static const struct opt local_options[] = {
    OPT_STR("stateDir", struct local, state_dir, OPT_REQUIRED | OPT_NONEMPTY,
            MAX_STATE_DIR, "a directory path"),
    OPT_UINT("latencyMs", struct local, latency_ms, 0, MAX_LATENCY_MS, 0),
    OPT_UINT("healthDelayMs", struct local, health_delay_ms, 0,
             MAX_HEALTH_DELAY_MS, 0),
    OPT_UINT("seed", struct local, seed, 0, UINT64_MAX, 1),
    OPT_NUMBER("faultRate", struct local, fault_rate, 0, 1, 0),
    OPT_ENUM("faultClass", struct local, fault_class, fault_classes, 0),
    OPT_STR("faultMatch", struct local, fault_match, OPT_NONEMPTY, 0, NULL),
    OPT_ENUM("faultOn", struct local, fault_on, fault_on_names, FAULT_ON_ALL),
};

/*
 * Permission problems are the local analogue of refused credentials, and
 * a file where a directory of the path should be is a stateDir that
 * cannot work: neither passes by itself, so neither is retried.  The rest
 * (full disk, I/O errors) may pass, so the controller retries them.
 */
static int fail_errno(struct job *j, const char *what, const char *path, int e)
{
  int status = e == EACCES || e == EPERM || e == EROFS ? PROVIDER_AUTH
               : e == ENOTDIR                          ? PROVIDER_INVALID
                                                       : PROVIDER_TRANSIENT;

  return rt_op_fail(&j->op, status, "local: %s %s: %s", what, path,
                    strerror(e));
}

/* Wall-clock milliseconds: healthyAt outlives the process, in the file. */
static uint64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the fault sequence (loop thread only) ---- */

/* Scrambles the seed so small seeds still start well-mixed. */
static uint64_t splitmix64(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* ---- state files (worker threads) ---- */

/* A state file must have this shape for its marker and spec to mean
 * anything; anything else was edited by hand and is reported. */
static int check_shape(struct job *j, const char *path, const json_t *state)
{
  const json_t *outputs = json_object_get(state, "outputs");
  const json_t *marker = json_object_get(state, "marker");

  if (!json_is_object(state))
    return rt_op_fail(&j->op, PROVIDER_INVALID, "local: %s: not a JSON object",
                      path);
  if (!json_is_object(json_object_get(state, "spec")))
    return rt_op_fail(&j->op, PROVIDER_INVALID,
                      "local: %s: \"spec\" is not an object", path);
  if (outputs && !json_is_object(outputs))
    return rt_op_fail(&j->op, PROVIDER_INVALID,
                      "local: %s: \"outputs\" is not an object", path);
  if (marker && !json_is_string(marker))
    return rt_op_fail(&j->op, PROVIDER_INVALID,
                      "local: %s: \"marker\" is not a string", path);
  return PROVIDER_OK;
}

/*
 * Reads and parses one state file into *out (owned by the caller).
 * PROVIDER_NOT_FOUND when absent; the size cap is checked both against
 * fstat and while reading, since the file may grow in between.
 */
static int load_state(struct job *j, const char *path, json_t **out)
{
  char *buf = NULL;
  size_t len = 0, cap;
  int fd = -1, status = PROVIDER_OK;
  struct stat st;
  json_error_t jerr;
  json_t *state = NULL;

  *out = NULL;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      status = rt_op_fail(&j->op, PROVIDER_NOT_FOUND,
                          "local: %s does not exist", path);
    else
      status = fail_errno(j, "cannot open", path, errno);
    goto out;
  }
  if (fstat(fd, &st) < 0) {
    status = fail_errno(j, "cannot stat", path, errno);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    status = rt_op_fail(&j->op, PROVIDER_INVALID,
                        "local: %s: not a regular file", path);
    goto out;
  }
  if (st.st_size > LOCAL_STATE_MAX) {
    status = rt_op_fail(&j->op, PROVIDER_INVALID,
                        "local: %s: state file too large", path);
    goto out;
  }
  /* Sized by fstat; grown only if the file grows while we read, and never
   * past the cap plus the one byte that shows it was exceeded. */
  cap = (size_t)st.st_size + 1;
  buf = td_malloc(cap);
  for (;;) {
    ssize_t n;

    if (len == cap) {
      cap = cap * 2 > LOCAL_STATE_MAX + 1 ? LOCAL_STATE_MAX + 1 : cap * 2;
      buf = td_realloc(buf, cap);
    }
    n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      status = fail_errno(j, "cannot read", path, errno);
      goto out;
    }
    if (n == 0)
      break;
    len += (size_t)n;
    if (len > LOCAL_STATE_MAX) {
      status = rt_op_fail(&j->op, PROVIDER_INVALID,
                          "local: %s: state file too large", path);
      goto out;
    }
  }
  state = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!state) {
    status = rt_op_fail(&j->op, PROVIDER_INVALID,
                        "local: %s: invalid JSON at line %d: %s", path,
                        jerr.line, jerr.text);
    goto out;
  }
  status = check_shape(j, path, state);
  if (status < 0)
    goto out;
  *out = state;
  state = NULL;
out:
  json_decref(state);
  free(buf);
  if (fd >= 0)
    close(fd);
  return status;
}

static int fsync_dir(struct job *j, const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int status = PROVIDER_OK;

  if (fd < 0)
    return fail_errno(j, "cannot open directory", dir, errno);
  if (fsync(fd) < 0)
    status = fail_errno(j, "cannot sync directory", dir, errno);
  close(fd);
  return status;
}

/*
 * Creates the job's type directory with every missing parent, stateDir
 * included, private (0700: the state says what every tenant runs).  The
 * type directory's entry, and a new stateDir's, are synced into their
 * parents so they survive a crash together with the file about to be put
 * in them.
 */
static int ensure_dirs(struct job *j)
{
  struct stat sb;
  bool new_root;
  int status, rc;

  if (stat(j->dir, &sb) == 0 && S_ISDIR(sb.st_mode))
    return PROVIDER_OK;
  new_root = stat(j->state_dir, &sb) < 0;
  rc = fs_mkdir_p(j->dir, 0700);
  if (rc < 0)
    return rt_op_fail(&j->op, provider_status_of_fs(rc), "local: %s",
                      td_error_last());
  status = fsync_dir(j, j->state_dir);
  if (status == PROVIDER_OK && new_root) {
    char *parent = td_strdup(j->state_dir);

    status = fsync_dir(j, dirname(parent));
    free(parent);
  }
  return status;
}

/*
 * Replaces the job's state file with `state`: a temp file in the same
 * directory (so rename is atomic), synced before the rename, and the
 * directory synced after it, so a crash leaves the old or the new file.
 */
static int write_state(struct job *j, const json_t *state)
{
  char *text = NULL;
  int status = PROVIDER_OK;
  size_t len;

  status = ensure_dirs(j);
  if (status < 0)
    goto out;
  text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (!text) {
    status = rt_op_fail(&j->op, PROVIDER_TRANSIENT, "local: cannot encode %s",
                        j->path);
    goto out;
  }
  len = strlen(text);
  /* Never write what a read would refuse. */
  if (len + 1 > LOCAL_STATE_MAX) {
    status = rt_op_fail(&j->op, PROVIDER_INVALID,
                        "local: %s: state file too large", j->path);
    goto out;
  }
  text[len++] = '\n'; /* replaces the NUL: text is written by length */
  {
    char *file = td_asprintf("%s.json", j->stem);
    /* 0644: state files are meant to be read and edited by people. */
    int rc = fs_write_atomic(j->dir, file, text, len, 0644);

    if (rc < 0)
      status = rt_op_fail(&j->op, provider_status_of_fs(rc), "local: %s",
                          td_error_last());
    free(file);
  }
out:
  free(text);
  return status;
}

/* FNV-1a: small, stable across builds, good enough to spread addresses. */
static uint64_t name_hash(const char *name)
{
  uint64_t h = 0xcbf29ce484222325ULL;

  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* Replica `ordinal`'s address on the simulated network: 100.64.x.y from
 * the name (and the ordinal after the first), so the first is what a
 * service had before it had replicas. */
static void replica_ip(char *buf, size_t cap, const char *name, long ordinal)
{
  char key[NAMING_MAX + 32];
  uint64_t h;
  unsigned x, y;

  if (ordinal == 0)
    snprintf(key, sizeof(key), "%s", name);
  else
    snprintf(key, sizeof(key), "%s-%ld", name, ordinal);
  h = name_hash(key);
  /* y in 1..254: never a network or broadcast address. */
  x = (unsigned)(h >> 8) & 0xff;
  y = 1 + (unsigned)(h % 254);
  snprintf(buf, cap, "100.64.%u.%u", x, y);
}

/* Every replica's "ip:port", for routes: "replicas" of them (1 when the
 * spec says none, at most LOCAL_MAX_REPLICAS). */
static json_t *replica_addresses(const char *name, const json_t *spec)
{
  json_int_t port = json_integer_value(json_object_get(spec, "port"));
  json_int_t n = json_integer_value(json_object_get(spec, "replicas"));
  json_t *addrs = json_array();

  if (n < 1)
    n = 1;
  if (n > LOCAL_MAX_REPLICAS)
    n = LOCAL_MAX_REPLICAS;
  for (long i = 0; i < (long)n; i++) {
    char ip[32], buf[64];

    replica_ip(ip, sizeof(ip), name, i);
    snprintf(buf, sizeof(buf), "%s:%lld", ip, (long long)port);
    json_array_append_new(addrs, json_string(buf));
  }
  return addrs;
}

/* Sets the computed outputs into `outputs`, leaving other keys alone. */
static int compute_outputs(struct job *j, const json_t *spec, json_t *outputs)
{
  char buf[128];

  switch (j->op.type) {
  case RTYPE_NETWORK: {
    json_t *key = json_pack("{s:s}", "name", j->op.name);
    char hash[17];

    resource_spec_hash(key, hash);
    json_decref(key);
    snprintf(buf, sizeof(buf), "net-%.8s", hash);
    json_object_set_new(outputs, "id", json_string(buf));
    break;
  }
  case RTYPE_DATABASE:
    json_object_set_new(outputs, "host", json_string("127.0.0.1"));
    json_object_set_new(outputs, "port", json_integer(5432));
    break;
  case RTYPE_BUCKET: {
    char *url = td_asprintf("local://bucket/%s", j->op.name);

    json_object_set_new(outputs, "url", json_string(url));
    free(url);
    break;
  }
  case RTYPE_SERVICE: {
    const json_t *port = json_object_get(spec, "port");
    json_int_t at = (json_int_t)(now_ms() + j->health_delay_ms);
    char ip[32];

    if (!json_is_integer(port) || json_integer_value(port) < 1 ||
        json_integer_value(port) > 65535)
      return rt_op_fail(
          &j->op, PROVIDER_INVALID,
          "local: service %s: spec needs an integer port (1-65535)",
          j->op.name);
    replica_ip(ip, sizeof(ip), j->op.name, 0);
    snprintf(buf, sizeof(buf), "%s:%lld", ip,
             (long long)json_integer_value(port));
    json_object_set_new(outputs, "ip", json_string(ip));
    json_object_set_new(outputs, "port",
                        json_integer(json_integer_value(port)));
    json_object_set_new(outputs, "address", json_string(buf));
    json_object_set_new(outputs, "addresses",
                        replica_addresses(j->op.name, spec));
    json_object_set_new(outputs, "healthyAt", json_integer(at));
    json_object_set_new(outputs, "healthy",
                        json_boolean(j->health_delay_ms == 0));
    break;
  }
  case RTYPE_ROUTE:
  case RTYPE_DNS_RECORD:
  case RTYPE_COUNT:
    break;
  }
  return PROVIDER_OK;
}

/* Health is a function of time, so it is recomputed on every read.  A
 * service written before its outputs had "addresses" gets them from its
 * spec, so its route can be written. */
static void refresh_health(struct job *j, json_t *state)
{
  json_t *outputs = json_object_get(state, "outputs");
  json_t *at = json_object_get(outputs, "healthyAt");

  if (j->op.type != RTYPE_SERVICE)
    return;
  if (json_is_string(json_object_get(outputs, "address")) &&
      !json_object_get(outputs, "addresses"))
    json_object_set_new(
        outputs, "addresses",
        replica_addresses(j->op.name, json_object_get(state, "spec")));
  if (!json_is_integer(at))
    return;
  json_object_set_new(
      outputs, "healthy",
      json_boolean((json_int_t)now_ms() >= json_integer_value(at)));
}

/* PROVIDER_OK when the file carries this resource's marker; else says
 * what holds the name, as a CONFLICT. */
static int check_owner(struct job *j, const json_t *state)
{
  const char *marker = json_string_value(json_object_get(state, "marker"));
  char tenant[RESOURCE_MARKER_MAX], id[RESOURCE_MARKER_MAX];

  if (resource_marker_parse(marker, tenant, sizeof(tenant), id, sizeof(id)) < 0)
    return rt_op_fail(&j->op, PROVIDER_CONFLICT,
                      "local: %s exists without a tenantd marker", j->path);
  if (strcmp(tenant, j->op.tenant) != 0 || strcmp(id, j->op.id) != 0)
    return rt_op_fail(&j->op, PROVIDER_CONFLICT,
                      "local: %s is held by another resource (%s)", j->path,
                      marker);
  return PROVIDER_OK;
}

static int do_read(struct job *j)
{
  json_t *state = NULL;
  int status = load_state(j, j->path, &state);

  if (status < 0)
    return status;
  refresh_health(j, state);
  rt_op_ok(&j->op, state);
  return PROVIDER_OK;
}

/* Computes the outputs into `state`, writes it and makes it the result;
 * takes `state` either way. */
static int save(struct job *j, json_t *state)
{
  json_t *outputs = json_object_get(state, "outputs");
  int status = compute_outputs(j, j->op.spec, outputs);

  if (status == PROVIDER_OK)
    status = write_state(j, state);
  if (status == PROVIDER_OK)
    rt_op_ok(&j->op, state);
  else
    json_decref(state);
  return status;
}

static int do_create(struct job *j)
{
  json_t *old = NULL;
  int status = load_state(j, j->path, &old);

  if (status == PROVIDER_OK)
    status = check_owner(j, old);
  else if (status == PROVIDER_NOT_FOUND)
    status = PROVIDER_OK;
  json_decref(old);
  if (status < 0)
    return status;
  return save(j, json_pack("{s:s, s:O, s:o}", "marker", j->op.marker, "spec",
                           j->op.spec, "outputs", json_object()));
}

static int do_update(struct job *j)
{
  json_t *state = NULL;
  int status = load_state(j, j->path, &state);

  if (status == PROVIDER_OK)
    status = check_owner(j, state);
  if (status < 0) {
    json_decref(state);
    return status;
  }
  json_object_set(state, "spec", j->op.spec);
  if (!json_object_get(state, "outputs"))
    json_object_set_new(state, "outputs", json_object());
  return save(j, state);
}

static int do_remove(struct job *j)
{
  json_t *state = NULL;
  int status = load_state(j, j->path, &state);

  if (status < 0)
    goto out;
  status = check_owner(j, state);
  if (status < 0)
    goto out;
  if (unlink(j->path) < 0) {
    status = errno == ENOENT ? rt_op_fail(&j->op, PROVIDER_NOT_FOUND,
                                          "local: %s does not exist", j->path)
                             : fail_errno(j, "cannot remove", j->path, errno);
    goto out;
  }
  status = fsync_dir(j, j->dir);
  if (status == PROVIDER_OK)
    rt_op_ok(&j->op, NULL);
out:
  json_decref(state);
  return status;
}

/* Whether `marker` is tenantd's and names `tenant`; its id goes to `id`. */
static bool marker_names_tenant(const char *marker, const char *tenant,
                                char *id, size_t idcap)
{
  char found[RESOURCE_MARKER_MAX];

  return resource_marker_parse(marker, found, sizeof(found), id, idcap) == 0 &&
         strcmp(found, tenant) == 0;
}

/* Scans one type directory, appending the tenant's files to the job. */
static int list_dir(struct job *j, enum rtype type)
{
  char *dir = td_asprintf("%s/%s", j->state_dir, resource_type_name(type));
  char id[RESOURCE_MARKER_MAX], name[256];
  DIR *d = opendir(dir);
  int status = PROVIDER_OK;
  struct dirent *de;

  if (!d) {
    if (errno != ENOENT)
      status = fail_errno(j, "cannot open directory", dir, errno);
    goto out;
  }
  for (;;) {
    size_t len;
    char *path;
    json_t *state = NULL;
    const char *marker;
    bool owned;

    errno = 0;
    de = readdir(d);
    if (!de) {
      if (errno)
        status = fail_errno(j, "cannot read directory", dir, errno);
      break;
    }
    len = strlen(de->d_name);
    if (de->d_name[0] == '.' || len <= 5 ||
        strcmp(de->d_name + len - 5, ".json") != 0)
      continue;
    path = td_asprintf("%s/%s", dir, de->d_name);
    status = load_state(j, path, &state);
    free(path);
    if (status == PROVIDER_NOT_FOUND) {
      /* Removed since readdir saw it: it is simply gone. */
      status = PROVIDER_OK;
      continue;
    }
    if (status < 0)
      break;
    marker = json_string_value(json_object_get(state, "marker"));
    owned = marker_names_tenant(marker, j->op.tenant, id, sizeof(id));
    json_decref(state);
    if (!owned)
      continue;
    if (j->op.nitems == MAX_LIST) {
      status = rt_op_fail(&j->op, PROVIDER_INVALID,
                          "local: %s: more than %d owned state files",
                          j->state_dir, MAX_LIST);
      break;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(len - 5), de->d_name);
    rt_op_add_item(&j->op, id, type, name);
  }
out:
  if (d)
    closedir(d);
  free(dir);
  return status;
}

static int do_list(struct job *j)
{
  for (int t = 0; t < RTYPE_COUNT; t++) {
    int status = list_dir(j, (enum rtype)t);

    if (status < 0)
      return status;
  }
  rt_op_sort_items(&j->op);
  rt_op_ok(&j->op, NULL);
  return PROVIDER_OK;
}

/* Each do_ leaves its outcome in the op (rt_op_ok or rt_op_fail). */
static void run_job(struct job *j)
{
  switch (j->op.kind) {
  case RT_READ:
    do_read(j);
    break;
  case RT_CREATE:
    do_create(j);
    break;
  case RT_UPDATE:
    do_update(j);
    break;
  case RT_REMOVE:
    do_remove(j);
    break;
  case RT_LIST:
    do_list(j);
    break;
  }
}

static void work_cb(uv_work_t *req)
{
  struct batch *b = container_of(req, struct batch, work);

  for (size_t i = 0; i < b->n; i++)
    run_job(b->jobs[i]);
}

/* ---- jobs (loop thread) ---- */

static void on_latency_closed(uv_handle_t *h)
{
  rt_op_deliver(&container_of((uv_timer_t *)h, struct job, timer)->op);
}

static void on_latency(uv_timer_t *t)
{
  uv_close((uv_handle_t *)t, on_latency_closed);
}

/* Hands the job's outcome back, after latencyMs when set: latency
 * applies to failures too. */
static void finish(struct job *j)
{
  struct local *lp = container_of(j->op.rt, struct local, rt);

  if (lp->latency_ms == 0) {
    rt_op_deliver(&j->op);
    return;
  }
  uv_timer_init(lp->rt.base.loop, &j->timer);
  uv_timer_start(&j->timer, on_latency, lp->latency_ms, 0);
}

static void after_work_cb(uv_work_t *req, int status)
{
  struct batch *b = container_of(req, struct batch, work);

  for (size_t i = 0; i < b->n; i++) {
    if (status == UV_ECANCELED)
      rt_op_fail(&b->jobs[i]->op, PROVIDER_TRANSIENT, "cancelled");
    finish(b->jobs[i]);
  }
  free(b);
}

static struct batch *batch_new(size_t cap)
{
  struct batch *b = td_malloc(sizeof(*b) + cap * sizeof(b->jobs[0]));

  b->n = 0;
  return b;
}

static void batch_submit(struct local *lp, struct batch *b)
{
  int err = uv_queue_work(lp->rt.base.loop, &b->work, work_cb, after_work_cb);

  if (err == 0)
    return;
  for (size_t i = 0; i < b->n; i++) {
    rt_op_fail(&b->jobs[i]->op, PROVIDER_TRANSIENT,
               "local: cannot queue work: %s", uv_strerror(err));
    finish(b->jobs[i]);
  }
  free(b);
}

static bool inject_fault(struct local *lp, const struct rt_op *op)
{
  double u;

  /* No draw at rate 0, so enabling faults never shifts other behaviour. */
  if (lp->fault_rate <= 0)
    return false;
  /* Targeted faults: one resource fails while the rest of the graph is
   * healthy, to test that a failure stops only what depends on it. */
  if (lp->fault_match && (!op->id || !strstr(op->id, lp->fault_match)))
    return false;
  if (lp->fault_on == FAULT_ON_WRITES &&
      (op->kind == RT_READ || op->kind == RT_LIST))
    return false;
  u = (double)(td_rand(&lp->rng) >> 11) * 0x1.0p-53;
  return u < lp->fault_rate;
}

/* Names become file names: keep them inside the type directory and away
 * from the dot files the provider uses itself. */
static bool valid_name(const char *name)
{
  size_t len = strlen(name);

  return len > 0 && len <= NAMING_MAX && name[0] != '.' && !strchr(name, '/');
}

static char *file_stem(const char *name)
{
  if (strlen(name) <= MAX_STEM)
    return td_strdup(name);
  return td_asprintf("%.*s~%016llx", STEM_KEEP, name,
                     (unsigned long long)name_hash(name));
}

/* Fails the job on the loop thread when it must not touch the files (an
 * injected fault, a bad name), or fills in the rest of its inputs;
 * true when it failed.  Faults are drawn in the order of the calls. */
static bool decide(struct local *lp, struct job *j)
{
  struct rt_op *op = &j->op;

  if (inject_fault(lp, op)) {
    rt_op_fail(op, fault_statuses[lp->fault_class], "injected %s fault",
               fault_classes[lp->fault_class]);
    return true;
  }
  j->state_dir = lp->state_dir;
  j->health_delay_ms = lp->health_delay_ms;
  if (op->kind == RT_LIST)
    return false;
  if (!valid_name(op->name)) {
    rt_op_fail(op, PROVIDER_INVALID, "local: invalid name '%.200s'", op->name);
    return true;
  }
  assert(!op->spec || json_is_object(op->spec));
  j->dir = td_asprintf("%s/%s", lp->state_dir, resource_type_name(op->type));
  j->stem = file_stem(op->name);
  j->path = td_asprintf("%s/%s.json", j->dir, j->stem);
  return false;
}

/*
 * The jobs of one loop turn: those decided on the loop thread are
 * answered; reads and lists are spread over up to BATCH_SPREAD work items
 * of at most BATCH_MAX; each write is its own.
 */
static void local_start(struct rt *rt, struct rt_op *ops, size_t n)
{
  struct local *lp = container_of(rt, struct local, rt);
  size_t cap = (n + BATCH_SPREAD - 1) / BATCH_SPREAD;
  struct batch *reads = NULL;
  struct rt_op *next;

  cap = cap < 8 ? 8 : cap > BATCH_MAX ? BATCH_MAX : cap;
  for (struct rt_op *op = ops; op; op = next) {
    struct job *j = container_of(op, struct job, op);

    next = op->next; /* the job may be answered below */
    if (decide(lp, j)) {
      finish(j);
    } else if (op->kind == RT_READ || op->kind == RT_LIST) {
      if (!reads)
        reads = batch_new(cap);
      reads->jobs[reads->n++] = j;
      if (reads->n == cap) {
        batch_submit(lp, reads);
        reads = NULL;
      }
    } else {
      struct batch *b = batch_new(1);

      b->jobs[b->n++] = j;
      batch_submit(lp, b);
    }
  }
  if (reads)
    batch_submit(lp, reads);
}

static void job_release(struct rt_op *op)
{
  struct job *j = container_of(op, struct job, op);

  free(j->dir);
  free(j->path);
  free(j->stem);
}

/* ---- the instance ---- */

/*
 * A writer killed between mkstemp and rename leaves ".<name>.json.XXXXXX"
 * behind.  One tenantd owns a state directory, so at the first open in
 * this process any such file is a dead writer's: remove it.  This scans
 * each type directory once per process, before the first instance serves
 * a single operation; later opens (the daemon opens its instances for
 * every pass) skip it, since this process's own writers clean up after
 * themselves and the scan costs a readdir of every resource.
 */
static uv_mutex_t swept_lock;
static struct strset swept = STRSET_INIT;

static void swept_lock_init(void)
{
  if (uv_mutex_init(&swept_lock) != 0)
    abort();
}

static bool first_open(const char *state_dir)
{
  static uv_once_t once = UV_ONCE_INIT;
  bool first;

  uv_once(&once, swept_lock_init);
  uv_mutex_lock(&swept_lock);
  first = !strset_has(&swept, state_dir);
  if (first) {
    strset_add(&swept, state_dir);
    strset_seal(&swept);
  }
  uv_mutex_unlock(&swept_lock);
  return first;
}

static void sweep_temp_files(const char *state_dir)
{
  for (int t = 0; t < RTYPE_COUNT; t++) {
    char *dir = td_asprintf("%s/%s", state_dir, rtype_names[t]);

    fs_sweep_temp(dir, ".json", NULL);
    free(dir);
  }
}

/* The options are checked (local_options); this touches no file but the
 * first open's sweep, so it cannot block for long. */
static int local_open(struct rt *rt, char *err, size_t errcap)
{
  struct local *lp = container_of(rt, struct local, rt);

  (void)err;
  (void)errcap;
  lp->rng = splitmix64(lp->seed);
  if (lp->rng == 0)
    lp->rng = 1; /* xorshift never leaves zero */
  if (first_open(lp->state_dir))
    sweep_temp_files(lp->state_dir);
  return 0;
}

RT_PROVIDER(local_provider_ops, "local", struct local, struct job,
            local_options, .open = local_open, .start = local_start,
            .op_release = job_release);
