/*
 * state.c - the local provider's state files: one JSON file per resource,
 * read and checked for shape and size, rendered for a write, and the
 * outputs a resource of each type gets from its spec (addresses, health).
 * Worker threads; see internal.h.
 */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "model/naming.h"
#include "model/resource.h"
#include "providers/local/internal.h"

/* Wall-clock milliseconds: healthyAt outlives the process, in the file. */
static uint64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
 * PROVIDER_NOT_FOUND when absent (for a read, with no message:
 * rt_op_absent()); the size cap is checked both against
 * fstat and while reading, since the file may grow in between.
 */
int local__load_state(struct job *j, const char *path, json_t **out)
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
    if (errno == ENOENT && j->op.kind == RT_READ) {
      rt_op_absent(&j->op);
      status = PROVIDER_NOT_FOUND;
    } else if (errno == ENOENT)
      status = rt_op_fail_text(&j->op, PROVIDER_NOT_FOUND, "local: ", path,
                               " does not exist");
    else
      status = local__fail_errno(j, "cannot open", path, errno);
    goto out;
  }
  if (fstat(fd, &st) < 0) {
    status = local__fail_errno(j, "cannot stat", path, errno);
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
      status = local__fail_errno(j, "cannot read", path, errno);
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

/* The text of the job's new state, for its batch to write; takes
 * `state` either way. */
int local__render_state(struct job *j, json_t *state)
{
  char *text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
  size_t len;

  if (!text) {
    json_decref(state);
    return rt_op_fail(&j->op, PROVIDER_TRANSIENT, "local: cannot encode %s",
                      j->path);
  }
  len = strlen(text);
  /* Never write what a read would refuse. */
  if (len + 1 > LOCAL_STATE_MAX) {
    free(text);
    json_decref(state);
    return rt_op_fail(&j->op, PROVIDER_INVALID,
                      "local: %s: state file too large", j->path);
  }
  text[len++] = '\n'; /* replaces the NUL: text is written by length */
  j->state = state;
  j->text = text;
  j->len = len;
  return PROVIDER_OK;
}

/* FNV-1a: small, stable across builds, good enough to spread addresses. */
uint64_t local__name_hash(const char *name)
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
  h = local__name_hash(key);
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
int local__compute_outputs(struct job *j, const json_t *spec, json_t *outputs)
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
void local__refresh_health(struct job *j, json_t *state)
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
