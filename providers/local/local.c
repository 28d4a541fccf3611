/*
 * local.c - the embedded simulated cloud (see local.h for the contract).
 *
 * Each operation becomes a job.  The loop thread decides whether the job
 * fails early (instance closing, injected fault, bad name); otherwise the
 * file work runs on the threadpool with only the job's own copies of its
 * inputs.  Jobs wait in the instance's queue until the loop is about to
 * poll (a prepare handle), then go to the threadpool in batches: reads
 * and lists together, up to BATCH_MAX a work item, so a pass observing
 * thousands of resources pays one thread handoff per batch, not per file;
 * writes one a work item, since each syncs to disk.  No callback runs
 * from the call that started its job.  With latencyMs the result waits on
 * the job's timer, so latency applies to every outcome.  The instance
 * counts jobs so close() can wait for them.
 */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "providers/local/local.h"
#include "base/error.h"
#include "base/fsutil.h"
#include "model/naming.h"
#include "model/resource.h"
#include "base/strset.h"

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
/* A list larger than this is a runaway state directory, not a tenant. */
#define MAX_LIST 100000
/* Reads and lists per threadpool work item, and how many work items a
 * flush aims to spread them over (libuv's default pool size). */
#define BATCH_MAX 64
#define BATCH_SPREAD 4

struct job;

struct local {
  struct provider base; /* first: the controller only sees this */
  char *state_dir;
  uint64_t latency_ms;
  uint64_t health_delay_ms;
  double fault_rate;
  int fault_status; /* the PROVIDER_* class injected faults carry */
  const char *fault_name;
  char *fault_match; /* faults only for ids containing this; NULL: all */
  bool fault_writes; /* faults only on create, update and remove */
  uint64_t rng;      /* xorshift64* state, never zero */
  size_t inflight;
  bool closing;
  provider_close_cb close_cb;
  void *close_arg;
  /* Defers the close callback off the close() call; live once closing. */
  uv_timer_t close_timer;
  /* Jobs started since the last flush, in order; flushed before the loop
   * polls, by `flush` (active only while the queue holds jobs). */
  struct job *queue, **queue_tail;
  size_t nqueued;
  uv_prepare_t flush;
  int handles_open; /* close_timer and flush, until both are closed */
};

enum op { OP_READ, OP_CREATE, OP_UPDATE, OP_REMOVE, OP_LIST };

struct job {
  struct local *lp; /* only touched on the loop thread */
  enum op op;
  struct job *next; /* in the instance's queue */
  bool decided;     /* failed on the loop thread: no file work */
  uv_timer_t timer; /* delivers the result after latencyMs */
  provider_cb cb;
  provider_list_cb list_cb;
  void *arg;

  /* Inputs: the worker reads only these, all owned by the job. */
  enum rtype type;
  char *state_dir;
  char *dir;  /* <stateDir>/<type> */
  char *path; /* <dir>/<name>.json */
  char *name;
  char *stem; /* the file name without .json: the name, or shortened */
  char *tenant;
  char *id;
  char marker[RESOURCE_MARKER_MAX];
  json_t *spec; /* a deep copy */
  uint64_t health_delay_ms;

  /* Results, handed to the loop thread by the after-work callback. */
  int status;
  char message[1024];
  json_t *observed;
  struct provider_owned *items; /* id and name strings owned here */
  size_t nitems;
};

/* Jobs handed to the threadpool as one work item. */
struct batch {
  uv_work_t work;
  size_t n;
  struct job *jobs[];
};

static const struct {
  const char *name;
  int status;
} fault_classes[] = {
    {"transient", PROVIDER_TRANSIENT},
    {"conflict", PROVIDER_CONFLICT},
    {"invalid", PROVIDER_INVALID},
    {"auth", PROVIDER_AUTH},
};

/* Records a failure in the job; returns the status for `return fail(...)`. */
static int fail(struct job *j, int status, const char *fmt, ...)
    TD_PRINTF(3, 4);

static int fail(struct job *j, int status, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(j->message, sizeof(j->message), fmt, ap);
  va_end(ap);
  j->status = status;
  return status;
}

/*
 * Permission problems are the local analogue of refused credentials; the
 * rest (full disk, I/O errors) may pass, so the controller retries them.
 */
static int fail_errno(struct job *j, const char *what, const char *path, int e)
{
  int status = e == EACCES || e == EPERM ? PROVIDER_AUTH : PROVIDER_TRANSIENT;

  return fail(j, status, "local: %s %s: %s", what, path, strerror(e));
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

static bool inject_fault(struct local *lp, const struct job *j)
{
  double u;

  /* No draw at rate 0, so enabling faults never shifts other behaviour. */
  if (lp->fault_rate <= 0)
    return false;
  /* Targeted faults: one resource fails while the rest of the graph is
   * healthy, to test that a failure stops only what depends on it. */
  if (lp->fault_match && (!j->id || !strstr(j->id, lp->fault_match)))
    return false;
  if (lp->fault_writes && (j->op == OP_READ || j->op == OP_LIST))
    return false;
  u = (double)(td_rand(&lp->rng) >> 11) * 0x1.0p-53;
  return u < lp->fault_rate;
}

/* ---- state files (worker threads) ---- */

/* A state file must have this shape for its marker and spec to mean
 * anything; anything else was edited by hand and is reported. */
static int check_shape(struct job *j, const char *path, const json_t *state)
{
  const json_t *outputs = json_object_get(state, "outputs");
  const json_t *marker = json_object_get(state, "marker");

  if (!json_is_object(state))
    return fail(j, PROVIDER_INVALID, "local: %s: not a JSON object", path);
  if (!json_is_object(json_object_get(state, "spec")))
    return fail(j, PROVIDER_INVALID, "local: %s: \"spec\" is not an object",
                path);
  if (outputs && !json_is_object(outputs))
    return fail(j, PROVIDER_INVALID, "local: %s: \"outputs\" is not an object",
                path);
  if (marker && !json_is_string(marker))
    return fail(j, PROVIDER_INVALID, "local: %s: \"marker\" is not a string",
                path);
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
      status = fail(j, PROVIDER_NOT_FOUND, "local: %s does not exist", path);
    else
      status = fail_errno(j, "cannot open", path, errno);
    goto out;
  }
  if (fstat(fd, &st) < 0) {
    status = fail_errno(j, "cannot stat", path, errno);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    status = fail(j, PROVIDER_INVALID, "local: %s: not a regular file", path);
    goto out;
  }
  if (st.st_size > LOCAL_STATE_MAX) {
    status = fail(j, PROVIDER_INVALID, "local: %s: state file too large", path);
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
      status =
          fail(j, PROVIDER_INVALID, "local: %s: state file too large", path);
      goto out;
    }
  }
  state = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!state) {
    status = fail(j, PROVIDER_INVALID, "local: %s: invalid JSON at line %d: %s",
                  path, jerr.line, jerr.text);
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

/* Creates `dir` if needed; a new entry is synced into `parent` so it
 * survives a crash together with the file about to be put in it. */
static int ensure_dir(struct job *j, const char *dir, const char *parent)
{
  if (mkdir(dir, 0755) == 0)
    return parent ? fsync_dir(j, parent) : PROVIDER_OK;
  if (errno == EEXIST)
    return PROVIDER_OK;
  return fail_errno(j, "cannot create directory", dir, errno);
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

  status = ensure_dir(j, j->state_dir, NULL);
  if (status < 0)
    goto out;
  status = ensure_dir(j, j->dir, j->state_dir);
  if (status < 0)
    goto out;
  text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (!text) {
    status = fail(j, PROVIDER_TRANSIENT, "local: cannot encode %s", j->path);
    goto out;
  }
  len = strlen(text);
  /* Never write what a read would refuse. */
  if (len + 1 > LOCAL_STATE_MAX) {
    status =
        fail(j, PROVIDER_INVALID, "local: %s: state file too large", j->path);
    goto out;
  }
  text[len++] = '\n'; /* replaces the NUL: text is written by length */
  {
    char *file = td_asprintf("%s.json", j->stem);
    /* 0644: state files are meant to be read and edited by people. */
    int rc = fs_write_atomic(j->dir, file, text, len, 0644);

    if (rc < 0)
      status = fail(j, provider_status_of_fs(rc), "local: %s", td_error_last());
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

/* Sets the computed outputs into `outputs`, leaving other keys alone. */
static int compute_outputs(struct job *j, const json_t *spec, json_t *outputs)
{
  char buf[128];

  switch (j->type) {
  case RTYPE_NETWORK: {
    json_t *key = json_pack("{s:s}", "name", j->name);
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
    char *url = td_asprintf("local://bucket/%s", j->name);

    json_object_set_new(outputs, "url", json_string(url));
    free(url);
    break;
  }
  case RTYPE_SERVICE: {
    const json_t *port = json_object_get(spec, "port");
    uint64_t h = name_hash(j->name);
    /* y in 1..254: never a network or broadcast address. */
    unsigned x = (unsigned)(h >> 8) & 0xff, y = 1 + (unsigned)(h % 254);
    json_int_t at = (json_int_t)(now_ms() + j->health_delay_ms);
    char ip[32];

    if (!json_is_integer(port) || json_integer_value(port) < 1 ||
        json_integer_value(port) > 65535)
      return fail(j, PROVIDER_INVALID,
                  "local: service %s: spec needs an integer port (1-65535)",
                  j->name);
    snprintf(ip, sizeof(ip), "100.64.%u.%u", x, y);
    snprintf(buf, sizeof(buf), "%s:%lld", ip,
             (long long)json_integer_value(port));
    json_object_set_new(outputs, "ip", json_string(ip));
    json_object_set_new(outputs, "port",
                        json_integer(json_integer_value(port)));
    json_object_set_new(outputs, "address", json_string(buf));
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

/* Health is a function of time, so it is recomputed on every read. */
static void refresh_health(struct job *j, json_t *state)
{
  json_t *outputs = json_object_get(state, "outputs");
  json_t *at = json_object_get(outputs, "healthyAt");

  if (j->type != RTYPE_SERVICE || !json_is_integer(at))
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
    return fail(j, PROVIDER_CONFLICT,
                "local: %s exists without a tenantd marker", j->path);
  if (strcmp(tenant, j->tenant) != 0 || strcmp(id, j->id) != 0)
    return fail(j, PROVIDER_CONFLICT,
                "local: %s is held by another resource (%s)", j->path, marker);
  return PROVIDER_OK;
}

static int do_read(struct job *j)
{
  json_t *state = NULL;
  int status = load_state(j, j->path, &state);

  if (status < 0)
    return status;
  refresh_health(j, state);
  j->observed = state;
  return PROVIDER_OK;
}

static int do_create(struct job *j)
{
  json_t *old = NULL, *state = NULL;
  int status = load_state(j, j->path, &old);

  if (status == PROVIDER_OK)
    status = check_owner(j, old);
  else if (status == PROVIDER_NOT_FOUND)
    status = PROVIDER_OK;
  if (status < 0)
    goto out;
  state = json_pack("{s:s, s:O, s:o}", "marker", j->marker, "spec", j->spec,
                    "outputs", json_object());
  status = compute_outputs(j, j->spec, json_object_get(state, "outputs"));
  if (status < 0)
    goto out;
  status = write_state(j, state);
  if (status < 0)
    goto out;
  j->observed = state;
  state = NULL;
out:
  json_decref(old);
  json_decref(state);
  return status;
}

static int do_update(struct job *j)
{
  json_t *state = NULL, *outputs;
  int status = load_state(j, j->path, &state);

  if (status < 0)
    goto out;
  status = check_owner(j, state);
  if (status < 0)
    goto out;
  json_object_set(state, "spec", j->spec);
  outputs = json_object_get(state, "outputs");
  if (!outputs) {
    outputs = json_object();
    json_object_set_new(state, "outputs", outputs);
  }
  status = compute_outputs(j, j->spec, outputs);
  if (status < 0)
    goto out;
  status = write_state(j, state);
  if (status < 0)
    goto out;
  j->observed = state;
  state = NULL;
out:
  json_decref(state);
  return status;
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
    status = errno == ENOENT ? fail(j, PROVIDER_NOT_FOUND,
                                    "local: %s does not exist", j->path)
                             : fail_errno(j, "cannot remove", j->path, errno);
    goto out;
  }
  status = fsync_dir(j, j->dir);
out:
  json_decref(state);
  return status;
}

static int by_type_name(const void *a, const void *b)
{
  const struct provider_owned *x = a, *y = b;

  if (x->type != y->type)
    return x->type < y->type ? -1 : 1;
  return strcmp(x->name, y->name);
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
static int list_dir(struct job *j, enum rtype type, size_t *alloc)
{
  char *dir = td_asprintf("%s/%s", j->state_dir, resource_type_name(type));
  char id[RESOURCE_MARKER_MAX];
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
    struct provider_owned *item;
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
    owned = marker_names_tenant(marker, j->tenant, id, sizeof(id));
    json_decref(state);
    if (!owned)
      continue;
    if (j->nitems == MAX_LIST) {
      status =
          fail(j, PROVIDER_INVALID, "local: %s: more than %d owned state files",
               j->state_dir, MAX_LIST);
      break;
    }
    if (j->nitems == *alloc) {
      *alloc = *alloc ? *alloc * 2 : 16;
      j->items = td_realloc(j->items, *alloc * sizeof(*j->items));
    }
    item = &j->items[j->nitems++];
    item->id = td_strdup(id);
    item->type = type;
    item->name = td_strndup(de->d_name, len - 5);
  }
out:
  if (d)
    closedir(d);
  free(dir);
  return status;
}

static int do_list(struct job *j)
{
  size_t alloc = 0;

  for (int t = 0; t < RTYPE_COUNT; t++) {
    int status = list_dir(j, (enum rtype)t, &alloc);

    if (status < 0)
      return status;
  }
  if (j->nitems > 1)
    qsort(j->items, j->nitems, sizeof(*j->items), by_type_name);
  return PROVIDER_OK;
}

static void run_job(struct job *j)
{
  switch (j->op) {
  case OP_READ:
    j->status = do_read(j);
    break;
  case OP_CREATE:
    j->status = do_create(j);
    break;
  case OP_UPDATE:
    j->status = do_update(j);
    break;
  case OP_REMOVE:
    j->status = do_remove(j);
    break;
  case OP_LIST:
    j->status = do_list(j);
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

static void free_items(struct job *j)
{
  for (size_t i = 0; i < j->nitems; i++) {
    free((char *)j->items[i].id);
    free((char *)j->items[i].name);
  }
  free(j->items);
  j->items = NULL;
  j->nitems = 0;
}

static void job_free(struct job *j)
{
  free_items(j);
  json_decref(j->observed);
  json_decref(j->spec);
  free(j->state_dir);
  free(j->dir);
  free(j->path);
  free(j->name);
  free(j->stem);
  free(j->tenant);
  free(j->id);
  free(j);
}

/* Sets a result decided on the loop thread, dropping any worker result. */
static void set_result(struct job *j, int status, const char *message)
{
  json_decref(j->observed);
  j->observed = NULL;
  free_items(j);
  j->status = status;
  snprintf(j->message, sizeof(j->message), "%s", message);
}

static void on_instance_closed(uv_handle_t *h)
{
  struct local *lp = h->data;

  if (--lp->handles_open > 0)
    return;
  free(lp->base.instance);
  free(lp->state_dir);
  free(lp->fault_match);
  free(lp);
}

static void on_close_timer(uv_timer_t *t)
{
  struct local *lp = container_of(t, struct local, close_timer);

  /* An operation started after close() extends the wait; its end
   * restarts this timer. */
  if (lp->inflight > 0)
    return;
  lp->close_cb(&lp->base, lp->close_arg);
  uv_close((uv_handle_t *)&lp->close_timer, on_instance_closed);
  uv_close((uv_handle_t *)&lp->flush, on_instance_closed);
}

static void job_done(struct job *j)
{
  struct local *lp = j->lp;

  job_free(j);
  assert(lp->inflight > 0);
  lp->inflight--;
  if (lp->closing && lp->inflight == 0)
    uv_timer_start(&lp->close_timer, on_close_timer, 0, 0);
}

static void on_job_closed(uv_handle_t *h)
{
  job_done(container_of((uv_timer_t *)h, struct job, timer));
}

static void answer(struct job *j)
{
  const char *message = j->status < 0 ? j->message : NULL;

  if (j->op == OP_LIST) {
    j->list_cb(&j->lp->base, j->status, message, j->items, j->nitems, j->arg);
  } else {
    struct provider_result res = {j->status, message, j->observed};

    j->cb(&j->lp->base, &res, j->arg);
  }
}

static void on_deliver(uv_timer_t *t)
{
  struct job *j = container_of(t, struct job, timer);

  answer(j);
  uv_close((uv_handle_t *)&j->timer, on_job_closed);
}

/* Called off the loop's flush or a work item's completion, never from the
 * call that started the job.  Latency applies to failures too. */
static void deliver(struct job *j)
{
  if (j->lp->latency_ms == 0) {
    answer(j);
    job_done(j);
    return;
  }
  uv_timer_init(j->lp->base.loop, &j->timer);
  uv_timer_start(&j->timer, on_deliver, j->lp->latency_ms, 0);
}

static void after_work_cb(uv_work_t *req, int status)
{
  struct batch *b = container_of(req, struct batch, work);

  for (size_t i = 0; i < b->n; i++) {
    if (status == UV_ECANCELED)
      set_result(b->jobs[i], PROVIDER_TRANSIENT, "cancelled");
    deliver(b->jobs[i]);
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
  int err = uv_queue_work(lp->base.loop, &b->work, work_cb, after_work_cb);

  if (err == 0)
    return;
  for (size_t i = 0; i < b->n; i++) {
    char buf[256];

    snprintf(buf, sizeof(buf), "local: cannot queue work: %s",
             uv_strerror(err));
    set_result(b->jobs[i], PROVIDER_TRANSIENT, buf);
    deliver(b->jobs[i]);
  }
  free(b);
}

/*
 * Before the loop polls: every queued job goes out.  Jobs decided on the
 * loop thread are answered here; reads and lists are spread over up to
 * BATCH_SPREAD work items of at most BATCH_MAX; each write is its own.
 */
static void on_flush(uv_prepare_t *h)
{
  struct local *lp = h->data;
  struct job *j = lp->queue;
  size_t cap = (lp->nqueued + BATCH_SPREAD - 1) / BATCH_SPREAD;
  struct batch *reads = NULL;

  uv_prepare_stop(h);
  lp->queue = NULL;
  lp->queue_tail = &lp->queue;
  lp->nqueued = 0;
  cap = cap < 8 ? 8 : cap > BATCH_MAX ? BATCH_MAX : cap;
  while (j) {
    struct job *next = j->next;

    if (j->decided) {
      deliver(j);
    } else if (j->op == OP_READ || j->op == OP_LIST) {
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
    j = next;
  }
  if (reads)
    batch_submit(lp, reads);
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

static struct job *job_new(struct local *lp, enum op op, void *arg)
{
  struct job *j = td_calloc(1, sizeof(*j));

  j->lp = lp;
  j->op = op;
  j->arg = arg;
  j->state_dir = td_strdup(lp->state_dir);
  j->health_delay_ms = lp->health_delay_ms;
  lp->inflight++;
  return j;
}

/* Decides early failures, then queues the job for the next flush. */
static void job_start(struct job *j, const char *bad_name)
{
  struct local *lp = j->lp;
  char buf[512];

  if (lp->closing) {
    set_result(j, PROVIDER_TRANSIENT, "provider closing");
    j->decided = true;
  } else if (inject_fault(lp, j)) {
    snprintf(buf, sizeof(buf), "injected %s fault", lp->fault_name);
    set_result(j, lp->fault_status, buf);
    j->decided = true;
  } else if (bad_name) {
    snprintf(buf, sizeof(buf), "local: invalid name '%.200s'", bad_name);
    set_result(j, PROVIDER_INVALID, buf);
    j->decided = true;
  }
  *lp->queue_tail = j;
  lp->queue_tail = &j->next;
  if (lp->nqueued++ == 0)
    uv_prepare_start(&lp->flush, on_flush);
}

static void start_resource_op(struct provider *p, enum op op,
                              const struct resource *r, const json_t *spec,
                              provider_cb cb, void *arg)
{
  struct local *lp = container_of(p, struct local, base);
  struct job *j = job_new(lp, op, arg);
  const char *type = resource_type_name(r->type);

  j->cb = cb;
  j->type = r->type;
  j->name = td_strdup(r->name);
  j->tenant = td_strdup(r->tenant);
  j->id = td_strdup(r->id);
  j->dir = td_asprintf("%s/%s", lp->state_dir, type);
  j->stem = file_stem(r->name);
  j->path = td_asprintf("%s/%s.json", j->dir, j->stem);
  if (spec)
    j->spec = json_deep_copy(spec);
  if (op == OP_CREATE)
    resource_marker(j->marker, r->tenant, r->id);
  job_start(j, valid_name(r->name) ? NULL : r->name);
}

/* ---- provider_ops ---- */

static int parse_uint(const json_t *config, const char *key, uint64_t max,
                      uint64_t *out, char *err, size_t errcap)
{
  const json_t *v = json_object_get(config, key);

  if (!v)
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      (uint64_t)json_integer_value(v) > max) {
    snprintf(err, errcap, "local: %s must be an integer between 0 and %llu",
             key, (unsigned long long)max);
    return -1;
  }
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

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

static int local_open(struct provider **out, const char *instance,
                      const json_t *config, uv_loop_t *loop, char *err,
                      size_t errcap)
{
  static const char *const known[] = {
      "type", "stateDir",      "latencyMs",  "faultRate", "faultClass",
      "seed", "healthDelayMs", "faultMatch", "faultOn",
  };
  struct local *lp = td_calloc(1, sizeof(*lp));
  const char *key, *state_dir, *fault_class;
  const json_t *v;
  uint64_t seed = 1;
  int rc = -1;

  *out = NULL;
  if (!json_is_object(config)) {
    snprintf(err, errcap, "local: the config must be an object");
    goto out;
  }
  json_object_foreach((json_t *)config, key, v)
  {
    size_t i = 0;

    while (i < ARRAY_SIZE(known) && strcmp(known[i], key) != 0)
      i++;
    if (i == ARRAY_SIZE(known)) {
      snprintf(err, errcap, "local: unknown option '%.100s'", key);
      goto out;
    }
  }
  state_dir = json_string_value(json_object_get(config, "stateDir"));
  if (!state_dir || !*state_dir) {
    snprintf(err, errcap, "local: stateDir is required (a directory path)");
    goto out;
  }
  if (strlen(state_dir) > MAX_STATE_DIR) {
    snprintf(err, errcap, "local: stateDir is longer than %d bytes",
             MAX_STATE_DIR);
    goto out;
  }
  if (parse_uint(config, "latencyMs", MAX_LATENCY_MS, &lp->latency_ms, err,
                 errcap) < 0 ||
      parse_uint(config, "healthDelayMs", MAX_HEALTH_DELAY_MS,
                 &lp->health_delay_ms, err, errcap) < 0 ||
      parse_uint(config, "seed", UINT64_MAX, &seed, err, errcap) < 0)
    goto out;
  v = json_object_get(config, "faultRate");
  if (v && (!json_is_number(v) || json_number_value(v) < 0 ||
            json_number_value(v) > 1)) {
    snprintf(err, errcap, "local: faultRate must be a number between 0 and 1");
    goto out;
  }
  lp->fault_rate = v ? json_number_value(v) : 0;
  v = json_object_get(config, "faultClass");
  fault_class = v ? json_string_value(v) : "transient";
  for (size_t i = 0; fault_class && i < ARRAY_SIZE(fault_classes); i++) {
    if (strcmp(fault_classes[i].name, fault_class) == 0) {
      lp->fault_name = fault_classes[i].name;
      lp->fault_status = fault_classes[i].status;
    }
  }
  if (!lp->fault_name) {
    snprintf(err, errcap,
             "local: faultClass must be one of transient, conflict, "
             "invalid, auth");
    goto out;
  }
  v = json_object_get(config, "faultMatch");
  if (v && (!json_is_string(v) || !*json_string_value(v))) {
    snprintf(err, errcap, "local: faultMatch must be a non-empty string");
    goto out;
  }
  lp->fault_match = v ? td_strdup(json_string_value(v)) : NULL;
  v = json_object_get(config, "faultOn");
  if (v &&
      (!json_is_string(v) || (strcmp(json_string_value(v), "all") != 0 &&
                              strcmp(json_string_value(v), "writes") != 0))) {
    snprintf(err, errcap, "local: faultOn must be \"all\" or \"writes\"");
    goto out;
  }
  lp->fault_writes = v && strcmp(json_string_value(v), "writes") == 0;
  lp->rng = splitmix64(seed);
  if (lp->rng == 0)
    lp->rng = 1; /* xorshift never leaves zero */
  lp->state_dir = td_strdup(state_dir);
  if (first_open(lp->state_dir))
    sweep_temp_files(lp->state_dir);
  lp->queue_tail = &lp->queue;
  uv_prepare_init(loop, &lp->flush);
  lp->flush.data = lp;
  lp->handles_open = 2;
  lp->base.ops = &local_provider_ops;
  lp->base.instance = td_strdup(instance);
  lp->base.loop = loop;
  *out = &lp->base;
  lp = NULL;
  rc = 0;
out:
  if (lp) {
    free(lp->fault_match);
    free(lp->state_dir);
    free(lp);
  }
  return rc;
}

static void local_read(struct provider *p, const struct resource *r,
                       provider_cb cb, void *arg)
{
  start_resource_op(p, OP_READ, r, NULL, cb, arg);
}

static void local_create(struct provider *p, const struct resource *r,
                         const json_t *spec, provider_cb cb, void *arg)
{
  assert(json_is_object(spec));
  start_resource_op(p, OP_CREATE, r, spec, cb, arg);
}

static void local_update(struct provider *p, const struct resource *r,
                         const json_t *spec, provider_cb cb, void *arg)
{
  assert(json_is_object(spec));
  start_resource_op(p, OP_UPDATE, r, spec, cb, arg);
}

static void local_remove(struct provider *p, const struct resource *r,
                         provider_cb cb, void *arg)
{
  start_resource_op(p, OP_REMOVE, r, NULL, cb, arg);
}

static void local_list_owned(struct provider *p, const char *tenant,
                             provider_list_cb cb, void *arg)
{
  struct local *lp = container_of(p, struct local, base);
  struct job *j = job_new(lp, OP_LIST, arg);

  j->list_cb = cb;
  j->tenant = td_strdup(tenant);
  job_start(j, NULL);
}

static void local_close(struct provider *p, provider_close_cb cb, void *arg)
{
  struct local *lp = container_of(p, struct local, base);

  assert(!lp->closing);
  lp->closing = true;
  lp->close_cb = cb;
  lp->close_arg = arg;
  uv_timer_init(p->loop, &lp->close_timer);
  lp->close_timer.data = lp;
  /* With jobs in flight, the last one to end starts the timer. */
  if (lp->inflight == 0)
    uv_timer_start(&lp->close_timer, on_close_timer, 0, 0);
}

const struct provider_ops local_provider_ops = {
    /* Checked by provider_open(). */
    .version = PROVIDER_OPS_VERSION,
    /* The "type" the controller config names. */
    .type = "local",
    /* Validates the options; touches no files, so it cannot block. */
    .open = local_open,
    /* The state file, with a service's health recomputed. */
    .read = local_read,
    /* Writes marker, spec and outputs; refuses names held by others. */
    .create = local_create,
    /* Replaces the spec of a file this resource owns. */
    .update = local_update,
    /* Unlinks a file this resource owns. */
    .remove = local_remove,
    /* Scans every type directory for the tenant's markers. */
    .list_owned = local_list_owned,
    /* Waits for jobs in flight, then frees the instance. */
    .close = local_close,
};
