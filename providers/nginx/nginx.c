/*
 * nginx.c - routes as nginx server blocks (see nginx.h for the contract).
 *
 * Reads and lists are jobs on the threadpool.  Writes wait in the
 * instance's queue; one cycle at a time takes every waiting write, does
 * the file work on the threadpool, runs `nginx -t` and `nginx -s reload`
 * as child processes (uv_spawn, stderr captured through a pipe) and polls
 * nginx through curl_uv until the change is served.  Every result is
 * delivered through the operation's own timer, so no callback runs from
 * the call that started it; the operation is freed in that timer's close
 * callback, and the instance counts operations so close() can wait.
 */
#include "base/compat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "providers/common/curl_uv.h"
#include "base/error.h"
#include "base/fsutil.h"
#include "providers/nginx/nginx.h"
#include "model/resource.h"

/* A route file larger than this is not one tenantd wrote. */
#define FILE_MAX (64 * 1024)
/* list_owned reads only the header, where the marker is. */
#define HEAD_MAX 4096
#define MAX_SITES_DIR 3000
/* File names keep room in 255 bytes for ".<name>.conf.XXXXXX". */
#define MAX_STEM 200
#define MAX_HOSTS 64
#define MAX_HOST 253
/* Tenants and ids: both fit a marker of RESOURCE_MARKER_MAX. */
#define MAX_TOKEN 256
#define MAX_ARGS 64
#define MAX_ARG 4096
/* nginx's output kept for messages; the rest is read and dropped. */
#define OUTPUT_MAX 8192
#define CMD_TIMEOUT_MS 30000
/* After nginx exits, how long its output may still take to drain. */
#define EXIT_GRACE_MS 1000
#define POLL_MS 20
#define VERIFY_RESPONSE_MAX (64 * 1024)
#define DEFAULT_VERIFY_MS 5000
#define MAX_VERIFY_MS 600000
#define MAX_LIST 100000
#define EDITED " (edited by hand)"
#define PENDING " (pending)"
/* The header line of a file not yet known to be loaded by nginx. */
#define PENDING_LINE "# state: pending\n"

struct ngx {
  struct provider base; /* first: the controller only sees this */
  char *sites_dir;
  char **cmd; /* argv prefix, `ncmd` entries */
  size_t ncmd;
  char **env; /* nginx's environment: PATH, TZ, LANG; never a secret */
  char *listen;
  char *verify_url;
  uint64_t verify_timeout_ms;
  struct curl_uv *cu;
  /* Writes waiting for the next cycle, in arrival order. */
  struct op *pending, **pending_tail;
  struct cycle *cycle; /* the one running, or NULL */
  uv_timer_t kick;     /* starts the next cycle from the loop */
  size_t inflight;     /* operations not yet delivered */
  bool closing, finalizing;
  bool handles_closed; /* finalized; waits for late operations */
  provider_close_cb close_cb;
  void *close_arg;
  uv_timer_t close_timer; /* live once closing */
};

enum op_kind { OP_READ, OP_CREATE, OP_UPDATE, OP_REMOVE, OP_LIST };

struct op {
  struct ngx *ng; /* only touched on the loop thread */
  enum op_kind kind;
  provider_cb cb;
  provider_list_cb list_cb;
  void *arg;
  uv_work_t work;   /* read and list */
  uv_timer_t timer; /* verification polls, then delivery */
  struct op *next;  /* in the pending queue */

  /* Inputs: a worker reads only these, all owned by the op. */
  char *sites_dir;
  char *listen;
  char *file; /* "<name>.conf" */
  char *path; /* <sitesDir>/<file> */
  char *tenant;
  char *id;
  char marker[RESOURCE_MARKER_MAX];
  char revision[17];
  json_t *spec; /* a deep copy (create, update) */
  char *text;   /* the file create and update write: marked pending */
  size_t text_len;
  char *final_text; /* the same without the mark, once nginx serves it */
  size_t final_len;

  /* A cycle's state of this write. */
  bool candidate; /* passed its checks in the batch: tried alone too */
  bool applied;   /* the file on disk is this op's */
  bool kept;      /* passed nginx -t: part of the reload */
  bool had_old;
  char *old_text; /* the file it replaced, to restore */
  size_t old_len;
  char *verify_host;      /* the first host, asked for after the reload */
  char restore_err[1024]; /* set when a file could not be put back */
  uint64_t deadline;

  /* Results. */
  int status;
  char message[1024];
  json_t *observed;
  struct provider_owned *items; /* id and name strings owned here */
  size_t nitems;
};

enum stage {
  ST_APPLY_ALL,   /* every write of the batch on disk */
  ST_TEST_ALL,    /* nginx -t of the batch */
  ST_REVERT_ALL,  /* the batch failed: every file restored */
  ST_TEST_BASE,   /* nginx -t without the batch: is the rest sound? */
  ST_SOLO_APPLY,  /* one write at a time ... */
  ST_SOLO_TEST,   /* ... tested alone ... */
  ST_SOLO_REVERT, /* ... and restored when refused */
  ST_RELOAD,      /* nginx -s reload */
  ST_UNDO,        /* the reload failed: files restored */
  ST_VERIFY,      /* polling nginx */
  ST_UNVERIFY,    /* not served in time: those files restored */
  ST_FINALIZE,    /* served: the pending marks removed */
};

enum fs_mode { FS_APPLY, FS_REVERT, FS_FINALIZE };

struct cycle {
  struct ngx *ng;
  struct op **ops;
  size_t n;
  enum stage stage;
  enum fs_mode fs_mode; /* what the threadpool job does */
  size_t fs_lo, fs_hi;  /* the ops it covers */
  size_t solo;          /* the op tried alone */
  size_t verifying;     /* verifications in flight */
  uv_work_t work;
  int test_status; /* how the last nginx -t failed */
  char test_msg[1024];
};

/* One nginx command: the process, its stderr, its deadline. */
struct proc {
  struct cycle *cy;
  /* PROVIDER_OK; PROVIDER_INVALID when nginx ran and refused;
   * PROVIDER_TRANSIENT when it could not run or was killed. */
  void (*done)(struct cycle *cy, int status, const char *message);
  const char *what; /* "nginx -t", for messages */
  uv_process_t process;
  uv_pipe_t pipe;
  uv_timer_t timer;
  int open_handles;
  int spawn_err;
  bool exited, timed_out;
  int64_t exit_status;
  int term_signal;
  char out[OUTPUT_MAX];
  size_t len;
};

/* ---- messages ---- */

static int fail(struct op *op, int status, const char *fmt, ...)
    TD_PRINTF(3, 4);

/* Records a failure in the op; returns the status for `return fail(...)`. */
static int fail(struct op *op, int status, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(op->message, sizeof(op->message), fmt, ap);
  va_end(ap);
  op->status = status;
  return status;
}

/* Permission problems are refused credentials; the rest may pass. */
static int fail_errno(struct op *op, const char *what, const char *path, int e)
{
  int status = e == EACCES || e == EPERM ? PROVIDER_AUTH : PROVIDER_TRANSIENT;

  return fail(op, status, "nginx: %s %s: %s", what, path, strerror(e));
}

/* ---- what a spec may hold: nothing that nginx would read as syntax ---- */

/* A plain DNS name: labels of letters, digits and '-', joined by dots. */
static bool valid_hostname(const char *s, size_t len)
{
  size_t label = 0;

  if (len == 0 || len > MAX_HOST)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c == '.') {
      if (label == 0)
        return false;
      label = 0;
      continue;
    }
    if (!isalnum(c) && c != '-')
      return false;
    if (++label > 63)
      return false;
  }
  return label > 0;
}

/* host:port, the host a DNS name, an IPv4 address or [IPv6]. */
static bool valid_hostport(const char *s)
{
  const char *colon, *end;
  unsigned long port = 0;

  if (s[0] == '[') {
    end = strchr(s, ']');
    if (!end || end == s + 1 || end - s > 46 || end[1] != ':')
      return false;
    for (const char *p = s + 1; p < end; p++)
      if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
        return false;
    colon = end + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || !valid_hostname(s, (size_t)(colon - s)))
      return false;
  }
  if (!colon[1] || strlen(colon + 1) > 5)
    return false;
  for (const char *p = colon + 1; *p; p++) {
    if (!isdigit((unsigned char)*p))
      return false;
    port = port * 10 + (unsigned long)(*p - '0');
  }
  return port >= 1 && port <= 65535;
}

/* External names become file names, ids and tenants appear in the file:
 * letters, digits and "._-" (ids "/" too), never starting with '.'. */
static bool valid_token(const char *s, size_t max, bool slash)
{
  size_t len = strlen(s);

  if (len == 0 || len > max || s[0] == '.')
    return false;
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;

    if (!isalnum(c) && c != '.' && c != '_' && c != '-' && !(slash && c == '/'))
      return false;
  }
  return true;
}

/* 0 when `spec` is a route spec tenantd can write; else -1 and why. */
static int check_spec(const json_t *spec, char *msg, size_t cap)
{
  const json_t *hosts = json_object_get(spec, "hosts");
  const json_t *upstream = json_object_get(spec, "upstream");
  const char *key;
  const json_t *v;
  size_t i;

  if (!json_is_object(spec)) {
    snprintf(msg, cap, "the spec is not an object");
    return -1;
  }
  json_object_foreach((json_t *)spec, key, v)
  {
    if (strcmp(key, "hosts") != 0 && strcmp(key, "upstream") != 0) {
      snprintf(msg, cap, "unknown route attribute '%.100s'", key);
      return -1;
    }
  }
  if (!json_is_array(hosts) || json_array_size(hosts) == 0 ||
      json_array_size(hosts) > MAX_HOSTS) {
    snprintf(msg, cap, "hosts must be a list of 1 to %d DNS names", MAX_HOSTS);
    return -1;
  }
  json_array_foreach(hosts, i, v)
  {
    const char *h = json_string_value(v);

    if (!h || !valid_hostname(h, json_string_length(v))) {
      snprintf(msg, cap, "host '%.200s' is not a plain DNS name",
               h ? h : "(not a string)");
      return -1;
    }
  }
  if (!json_is_string(upstream) ||
      strlen(json_string_value(upstream)) != json_string_length(upstream) ||
      !valid_hostport(json_string_value(upstream))) {
    snprintf(msg, cap, "upstream '%.200s' is not host:port",
             json_is_string(upstream) ? json_string_value(upstream)
                                      : "(not a string)");
    return -1;
  }
  return 0;
}

/* ---- the file format ---- */

/* The file tenantd writes for a route; malloc'd, its length in *len.
 * `pending`: with the line saying nginx may not have loaded it yet. */
static char *render(const char *tenant, const char *id, const json_t *spec,
                    const char *listen, const char *revision, bool pending,
                    size_t *len)
{
  char marker[RESOURCE_MARKER_MAX];
  char *spec_text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
  const json_t *hosts = json_object_get(spec, "hosts"), *h;
  char *text = NULL;
  size_t i;
  FILE *f;

  if (!spec_text)
    abort(); /* only allocation fails on a checked spec */
  f = open_memstream(&text, len);
  if (!f)
    abort();
  resource_marker(marker, tenant, id);
  fprintf(f,
          "# %s\n"
          "# spec: %s\n"
          "# revision: %s\n"
          "%s"
          "# Written by tenantd: edits here are reverted on the next "
          "reconcile.\n"
          "server {\n"
          "  listen %s;\n"
          "  server_name",
          marker, spec_text, revision, pending ? PENDING_LINE : "", listen);
  json_array_foreach(hosts, i, h) fprintf(f, " %s", json_string_value(h));
  fprintf(f,
          ";\n"
          "  location / {\n"
          "    proxy_pass http://%s;\n"
          "    proxy_set_header Host $host;\n"
          "    add_header X-Tenantd-Route %s always;\n"
          "    add_header X-Tenantd-Revision %s always;\n"
          "  }\n"
          "}\n",
          json_string_value(json_object_get(spec, "upstream")), id, revision);
  if (fclose(f) != 0)
    abort();
  free(spec_text);
  return text;
}

/* What a file says, as far as it can be read. */
struct parsed {
  bool marked;
  char tenant[RESOURCE_MARKER_MAX], id[RESOURCE_MARKER_MAX];
  json_t *spec; /* the "# spec:" line, when valid */
  char revision[17];
  bool pending;   /* "# state: pending": maybe never loaded */
  json_t *hosts;  /* server_name's values, when present */
  char *upstream; /* proxy_pass's, without "http://", when present */
};

static void parsed_release(struct parsed *pf)
{
  json_decref(pf->spec);
  json_decref(pf->hosts);
  free(pf->upstream);
  memset(pf, 0, sizeof(*pf));
}

/* A JSON string of a file's bytes; hand-written files need not be UTF-8. */
static json_t *file_string(const char *s, size_t len)
{
  json_t *v = json_stringn(s, len);

  return v ? v : json_string("(not UTF-8)");
}

static const char *skip_blank(const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p;
}

/* The value of directive `name` on a trimmed line, up to ';'. */
static bool directive(const char *p, const char *end, const char *name,
                      const char **val, const char **val_end)
{
  size_t n = strlen(name);
  const char *semi;

  if ((size_t)(end - p) <= n || memcmp(p, name, n) != 0 ||
      (p[n] != ' ' && p[n] != '\t'))
    return false;
  p = skip_blank(p + n, end);
  semi = p < end ? memchr(p, ';', (size_t)(end - p)) : NULL;
  end = semi ? semi : end;
  while (end > p && isspace((unsigned char)end[-1]))
    end--;
  *val = p;
  *val_end = end;
  return true;
}

static void parse_header_line(struct parsed *pf, const char *p, const char *end)
{
  char *line = td_strndup(p, (size_t)(end - p));

  if (!pf->marked && strncmp(line, "managed-by=", 11) == 0) {
    pf->marked = resource_marker_parse(line, pf->tenant, sizeof(pf->tenant),
                                       pf->id, sizeof(pf->id)) == 0;
  } else if (!pf->spec && strncmp(line, "spec:", 5) == 0) {
    json_t *spec = json_loads(line + 5, JSON_REJECT_DUPLICATES, NULL);
    char msg[256];

    if (spec && check_spec(spec, msg, sizeof(msg)) == 0)
      pf->spec = spec;
    else
      json_decref(spec);
  } else if (!pf->revision[0] && strncmp(line, "revision:", 9) == 0) {
    const char *r = line + 9;

    while (*r == ' ')
      r++;
    if (strlen(r) == 16 && strspn(r, "0123456789abcdef") == 16)
      memcpy(pf->revision, r, 17);
  } else if (strncmp(line, "state:", 6) == 0) {
    const char *v = line + 6;

    while (*v == ' ')
      v++;
    if (strcmp(v, "pending") == 0)
      pf->pending = true;
  }
  free(line);
}

static void parse_body_line(struct parsed *pf, const char *p, const char *end)
{
  const char *v, *v_end;

  if (!pf->hosts && directive(p, end, "server_name", &v, &v_end)) {
    pf->hosts = json_array();
    while (v < v_end && json_array_size(pf->hosts) < 1024) {
      const char *w = v;

      while (w < v_end && !isspace((unsigned char)*w))
        w++;
      json_array_append_new(pf->hosts, file_string(v, (size_t)(w - v)));
      v = skip_blank(w, v_end);
    }
  } else if (!pf->upstream && directive(p, end, "proxy_pass", &v, &v_end)) {
    if ((size_t)(v_end - v) >= 7 && memcmp(v, "http://", 7) == 0)
      v += 7;
    pf->upstream = td_strndup(v, (size_t)(v_end - v));
  }
}

/* The marker, spec and revision of the leading comment block; then the
 * server_name and proxy_pass directives. */
static void parse_file(const char *text, size_t len, struct parsed *pf)
{
  const char *p = text, *end = text + len;
  bool header = true;

  memset(pf, 0, sizeof(*pf));
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = nl ? nl : end;
    const char *q = skip_blank(p, line_end);

    if (line_end > q && line_end[-1] == '\r')
      line_end--;
    if (header && q < line_end && *q == '#') {
      parse_header_line(pf, skip_blank(q + 1, line_end), line_end);
    } else {
      header = false;
      if (q < line_end && *q != '#')
        parse_body_line(pf, q, line_end);
    }
    p = nl ? nl + 1 : end;
  }
}

/* The spec the directives give, as an observed spec (a new reference). */
static json_t *directive_spec(const struct parsed *pf)
{
  json_t *spec = json_object();

  if (pf->hosts)
    json_object_set(spec, "hosts", pf->hosts);
  if (pf->upstream)
    json_object_set_new(spec, "upstream",
                        file_string(pf->upstream, strlen(pf->upstream)));
  return spec;
}

/* Appends `suffix` to a spec's upstream, so the spec diffs as drift. */
static void suffix_upstream(json_t *spec, const char *upstream,
                            const char *suffix)
{
  char *s = td_asprintf("%s%s", upstream, suffix);

  json_object_set_new(spec, "upstream", file_string(s, strlen(s)));
  free(s);
}

/*
 * The observed spec of a marked file: its "# spec:" line when the file is
 * exactly what tenantd writes; otherwise what its directives say, marked
 * as edited when that alone would hide the edit.  A file still marked
 * pending (tenantd stopped before nginx was known to load it) reads with
 * its upstream marked pending: drift, so the next pass writes it again.
 */
static json_t *marked_spec(const struct parsed *pf, const char *text,
                           size_t len, const char *listen)
{
  json_t *spec;
  bool visible;

  if (pf->spec && pf->revision[0]) {
    size_t want_len;
    char *want = render(pf->tenant, pf->id, pf->spec, listen, pf->revision,
                        pf->pending, &want_len);
    bool same = want_len == len && memcmp(want, text, len) == 0;

    free(want);
    if (same && !pf->pending)
      return json_incref(pf->spec);
    if (same) {
      spec = json_deep_copy(pf->spec);
      suffix_upstream(spec,
                      json_string_value(json_object_get(pf->spec, "upstream")),
                      PENDING);
      return spec;
    }
  }
  spec = directive_spec(pf);
  visible = pf->spec && !json_equal(spec, pf->spec);
  if (!visible && pf->upstream)
    suffix_upstream(spec, pf->upstream, EDITED);
  return spec;
}

/* {"spec", "outputs": {"url"}, "marker"?}; `spec` is stolen. */
static json_t *observed_new(json_t *spec, const char *marker)
{
  const char *first =
      json_string_value(json_array_get(json_object_get(spec, "hosts"), 0));
  json_t *outputs = json_object(), *obs;

  if (first) {
    char *url = td_asprintf("http://%s", first);

    json_object_set_new(outputs, "url", file_string(url, strlen(url)));
    free(url);
  }
  obs = json_pack("{s:o, s:o}", "spec", spec, "outputs", outputs);
  if (marker)
    json_object_set_new(obs, "marker", json_string(marker));
  return obs;
}

/* ---- files (worker threads) ---- */

enum { FILE_OK = 0, FILE_ODD = 1 }; /* ODD: not a regular file, too large */

/* Reads at most `cap` bytes of a regular file: FILE_OK, FILE_ODD when
 * it is something else or larger (when `whole`), or -errno. */
static int read_file(const char *path, size_t cap, bool whole, char **out,
                     size_t *len)
{
  struct stat st;
  char *buf = NULL;
  size_t got = 0;
  int fd, rc = FILE_OK;

  *out = NULL;
  *len = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return errno == ELOOP ? FILE_ODD : -errno;
  if (fstat(fd, &st) < 0) {
    rc = -errno;
    goto out;
  }
  if (!S_ISREG(st.st_mode) || (whole && (size_t)st.st_size > cap)) {
    rc = FILE_ODD;
    goto out;
  }
  buf = td_malloc(cap + 1);
  while (got < cap) {
    ssize_t n = read(fd, buf + got, cap - got);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = -errno;
      goto out;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  /* It grew past the cap while we read. */
  if (whole && got == cap && (size_t)st.st_size != cap) {
    rc = FILE_ODD;
    goto out;
  }
  buf[got] = '\0';
  *out = buf;
  *len = got;
  buf = NULL;
out:
  free(buf);
  close(fd);
  return rc;
}

static void do_read(struct op *op)
{
  char *text = NULL;
  size_t len;
  struct parsed pf;
  int rc = read_file(op->path, FILE_MAX, true, &text, &len);

  if (rc == -ENOENT) {
    fail(op, PROVIDER_NOT_FOUND, "nginx: %s does not exist", op->path);
    return;
  }
  if (rc < 0) {
    fail_errno(op, "cannot read", op->path, -rc);
    return;
  }
  if (rc == FILE_ODD) {
    /* Not a file tenantd writes: something else holds the name. */
    op->observed = observed_new(json_object(), NULL);
    return;
  }
  parse_file(text, len, &pf);
  if (pf.marked) {
    char marker[RESOURCE_MARKER_MAX];

    resource_marker(marker, pf.tenant, pf.id);
    op->observed =
        observed_new(marked_spec(&pf, text, len, op->listen), marker);
  } else {
    op->observed = observed_new(directive_spec(&pf), NULL);
  }
  parsed_release(&pf);
  free(text);
}

static bool valid_stem_file(const char *name, size_t len)
{
  char stem[MAX_STEM + 1];

  if (len <= 5 || len - 5 > MAX_STEM || strcmp(name + len - 5, ".conf") != 0)
    return false;
  memcpy(stem, name, len - 5);
  stem[len - 5] = '\0';
  return valid_token(stem, MAX_STEM, false);
}

static void do_list(struct op *op)
{
  DIR *d = opendir(op->sites_dir);
  size_t alloc = 0;
  struct dirent *de;

  if (!d) {
    if (errno != ENOENT)
      fail_errno(op, "cannot open directory", op->sites_dir, errno);
    return;
  }
  for (;;) {
    char *path, *text = NULL;
    size_t len, nlen;
    struct parsed pf;
    struct provider_owned *item;
    int rc;

    errno = 0;
    de = readdir(d);
    if (!de) {
      if (errno)
        fail_errno(op, "cannot read directory", op->sites_dir, errno);
      break;
    }
    nlen = strlen(de->d_name);
    if (!valid_stem_file(de->d_name, nlen))
      continue;
    path = td_asprintf("%s/%s", op->sites_dir, de->d_name);
    rc = read_file(path, HEAD_MAX, false, &text, &len);
    free(path);
    /* Gone since readdir saw it, or not a file: not a route of ours. */
    if (rc == -ENOENT || rc == FILE_ODD)
      continue;
    if (rc < 0) {
      fail_errno(op, "cannot read", de->d_name, -rc);
      break;
    }
    parse_file(text, len, &pf);
    free(text);
    if (!pf.marked || strcmp(pf.tenant, op->tenant) != 0) {
      parsed_release(&pf);
      continue;
    }
    if (op->nitems == MAX_LIST) {
      parsed_release(&pf);
      fail(op, PROVIDER_INVALID, "nginx: %s: more than %d owned files",
           op->sites_dir, MAX_LIST);
      break;
    }
    if (op->nitems == alloc) {
      alloc = alloc ? alloc * 2 : 16;
      op->items = td_realloc(op->items, alloc * sizeof(*op->items));
    }
    item = &op->items[op->nitems++];
    item->id = td_strdup(pf.id);
    item->type = RTYPE_ROUTE;
    item->name = td_strndup(de->d_name, nlen - 5);
    parsed_release(&pf);
  }
  closedir(d);
}

/* The first host a file serves, for verifying its removal. */
static char *first_host(const char *text, size_t len)
{
  struct parsed pf;
  const json_t *hosts;
  const char *h;
  char *out = NULL;

  parse_file(text, len, &pf);
  hosts = pf.spec ? json_object_get(pf.spec, "hosts") : pf.hosts;
  h = json_string_value(json_array_get(hosts, 0));
  if (h && valid_hostname(h, strlen(h)))
    out = td_strdup(h);
  parsed_release(&pf);
  return out;
}

/* Puts one write on disk, keeping what it replaces; refuses names that
 * are not this resource's. */
static void apply_op(struct op *op)
{
  char *old = NULL;
  size_t old_len = 0;
  int rc = read_file(op->path, FILE_MAX, true, &old, &old_len);
  bool exists = rc == FILE_OK || rc == FILE_ODD;

  free(op->old_text);
  op->old_text = NULL;
  op->had_old = false;
  op->restore_err[0] = '\0';
  if (rc < 0 && rc != -ENOENT) {
    fail_errno(op, "cannot read", op->path, -rc);
    goto out;
  }
  if (exists) {
    struct parsed pf = {0};

    if (rc == FILE_OK)
      parse_file(old, old_len, &pf);
    if (!pf.marked)
      fail(op, PROVIDER_CONFLICT, "nginx: %s exists without a tenantd marker",
           op->path);
    else if (strcmp(pf.tenant, op->tenant) != 0 || strcmp(pf.id, op->id) != 0)
      fail(op, PROVIDER_CONFLICT,
           "nginx: %s is held by another resource (tenant=%s id=%s)", op->path,
           pf.tenant, pf.id);
    parsed_release(&pf);
    if (op->status < 0)
      goto out;
  } else if (op->kind != OP_CREATE) {
    fail(op, PROVIDER_NOT_FOUND, "nginx: %s does not exist", op->path);
    goto out;
  }
  if (op->kind == OP_REMOVE) {
    if (unlink(op->path) < 0) {
      if (errno == ENOENT)
        fail(op, PROVIDER_NOT_FOUND, "nginx: %s does not exist", op->path);
      else
        fail_errno(op, "cannot remove", op->path, errno);
      goto out;
    }
    free(op->verify_host);
    op->verify_host = first_host(old, old_len);
  } else {
    if (mkdir(op->sites_dir, 0755) < 0 && errno != EEXIST) {
      fail_errno(op, "cannot create directory", op->sites_dir, errno);
      goto out;
    }
    /* 0644: route files are meant to be read, like any nginx config. */
    rc = fs_write_atomic(op->sites_dir, op->file, op->text, op->text_len, 0644);
    if (rc < 0) {
      fail(op, provider_status_of_fs(rc), "nginx: %s", td_error_last());
      goto out;
    }
  }
  op->applied = true;
  op->had_old = exists;
  op->old_text = old;
  op->old_len = old_len;
  old = NULL;
out:
  free(old);
}

/*
 * Puts back what apply_op replaced.  When that fails, the file this write
 * left is renamed out of the "*.conf" glob (".<name>.conf.failed"), so
 * nginx never loads a file no test accepted; the route then reads as
 * missing and the next pass writes it again.
 */
static void revert_op(struct op *op)
{
  char why[512];
  int rc = 0;

  if (op->had_old) {
    rc = fs_write_atomic(op->sites_dir, op->file, op->old_text, op->old_len,
                         0644);
    snprintf(why, sizeof(why), "%s", td_error_last());
  } else if (unlink(op->path) < 0 && errno != ENOENT) {
    rc = TD_ERROR;
    snprintf(why, sizeof(why), "%s", strerror(errno));
  }
  op->applied = false;
  if (rc == 0)
    return;
  if (op->kind != OP_REMOVE) {
    char *aside = td_asprintf("%s/.%s.failed", op->sites_dir, op->file);

    if (rename(op->path, aside) == 0) {
      snprintf(op->restore_err, sizeof(op->restore_err),
               "cannot restore %s: %s; the new file is moved aside to %s",
               op->path, why, aside);
      free(aside);
      return;
    }
    free(aside);
  }
  snprintf(op->restore_err, sizeof(op->restore_err), "cannot restore %s: %s",
           op->path, why);
}

/* Rewrites a file nginx now serves without its pending mark: a comment
 * changes, so no reload is needed. */
static void finalize_op(struct op *op)
{
  int rc = fs_write_atomic(op->sites_dir, op->file, op->final_text,
                           op->final_len, 0644);

  if (rc < 0)
    fail(op, provider_status_of_fs(rc),
         "nginx: route %s is served, but it cannot be rewritten without its "
         "pending mark: %s",
         op->id, td_error_last());
}

/* Writes that nginx serves and whose file still carries the mark. */
static bool finalizable(const struct op *op)
{
  return op->status == PROVIDER_OK && op->kept && op->final_text;
}

static void fs_work(uv_work_t *req)
{
  struct cycle *cy = container_of(req, struct cycle, work);

  switch (cy->fs_mode) {
  case FS_APPLY:
    for (size_t i = cy->fs_lo; i < cy->fs_hi; i++)
      if (cy->ops[i]->status == PROVIDER_OK)
        apply_op(cy->ops[i]);
    return;
  case FS_REVERT:
    /* Newest first, so each file gets back exactly what it held. */
    for (size_t i = cy->fs_hi; i-- > cy->fs_lo;)
      if (cy->ops[i]->applied)
        revert_op(cy->ops[i]);
    return;
  case FS_FINALIZE:
    for (size_t i = cy->fs_lo; i < cy->fs_hi; i++)
      if (finalizable(cy->ops[i]))
        finalize_op(cy->ops[i]);
    return;
  }
}

/* ---- delivery (loop thread) ---- */

static void on_close_timer(uv_timer_t *t);

static void free_items(struct op *op)
{
  for (size_t i = 0; i < op->nitems; i++) {
    free((char *)op->items[i].id);
    free((char *)op->items[i].name);
  }
  free(op->items);
  op->items = NULL;
  op->nitems = 0;
}

static void op_free(struct op *op)
{
  free_items(op);
  json_decref(op->observed);
  json_decref(op->spec);
  free(op->sites_dir);
  free(op->listen);
  free(op->file);
  free(op->path);
  free(op->tenant);
  free(op->id);
  free(op->text);
  free(op->final_text);
  free(op->old_text);
  free(op->verify_host);
  free(op);
}

static void instance_done(struct ngx *ng);

static void on_op_closed(uv_handle_t *h)
{
  struct op *op = container_of((uv_timer_t *)h, struct op, timer);
  struct ngx *ng = op->ng;

  op_free(op);
  assert(ng->inflight > 0);
  ng->inflight--;
  if (!ng->closing || ng->inflight > 0)
    return;
  /* An op started while the handles closed: the last one ends it all. */
  if (ng->finalizing) {
    if (ng->handles_closed)
      instance_done(ng);
    return;
  }
  uv_timer_start(&ng->close_timer, on_close_timer, 0, 0);
}

static void on_deliver(uv_timer_t *t)
{
  struct op *op = container_of(t, struct op, timer);
  const char *message = op->status < 0 ? op->message : NULL;

  if (op->kind == OP_LIST) {
    op->list_cb(&op->ng->base, op->status, message, op->items, op->nitems,
                op->arg);
  } else {
    struct provider_result res = {op->status, message,
                                  op->status < 0 ? NULL : op->observed};

    op->cb(&op->ng->base, &res, op->arg);
  }
  uv_close((uv_handle_t *)&op->timer, on_op_closed);
}

/* Every outcome goes through the op's timer, on a later loop turn. */
static void deliver(struct op *op)
{
  if (op->status < 0) {
    json_decref(op->observed);
    op->observed = NULL;
    free_items(op);
  }
  uv_timer_start(&op->timer, on_deliver, 0, 0);
}

static void deliver_failure(struct op *op, int status, const char *message)
{
  fail(op, status, "%s", message);
  deliver(op);
}

static struct op *op_new(struct ngx *ng, enum op_kind kind, void *arg)
{
  struct op *op = td_calloc(1, sizeof(*op));

  /* Even while finalizing: such an op fails as "provider closing", and
   * the instance is released only after its delivery. */
  op->ng = ng;
  op->kind = kind;
  op->arg = arg;
  op->sites_dir = td_strdup(ng->sites_dir);
  op->listen = td_strdup(ng->listen);
  uv_timer_init(ng->base.loop, &op->timer);
  ng->inflight++;
  return op;
}

/* ---- nginx commands ---- */

/* nginx's output as one line: its error lines when it has some. */
static void summarize(const char *out, size_t len, char *buf, size_t cap)
{
  const char *p = out, *end = out + len;
  size_t used = 0;
  bool serious =
      memmem(out, len, "[emerg]", 7) || memmem(out, len, "[alert]", 7) ||
      memmem(out, len, "[crit]", 6) || memmem(out, len, "[error]", 7);

  buf[0] = '\0';
  while (p < end && used + 1 < cap) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *q = p;
    int n;

    if ((size_t)(e - q) >= 7 && memcmp(q, "nginx: ", 7) == 0)
      q += 7;
    p = nl ? nl + 1 : end;
    /* With errors, only them: the rest says "test failed". */
    if (e == q || (serious && !memmem(q, (size_t)(e - q), "] ", 2)))
      continue;
    n = snprintf(buf + used, cap - used, "%s%.*s", used ? "; " : "",
                 (int)(e - q), q);
    if (n < 0)
      break;
    used += (size_t)n;
  }
  for (char *c = buf; *c; c++)
    if ((unsigned char)*c < 0x20)
      *c = ' ';
}

static void proc_handle_closed(uv_handle_t *h)
{
  struct proc *pr = h->data;
  char msg[1024], summary[800];
  int status = PROVIDER_TRANSIENT;

  if (--pr->open_handles > 0)
    return;
  if (pr->spawn_err == 0 && !pr->timed_out && pr->term_signal == 0)
    status = pr->exit_status == 0 ? PROVIDER_OK : PROVIDER_INVALID;
  summarize(pr->out, pr->len, summary, sizeof(summary));
  if (pr->spawn_err)
    snprintf(msg, sizeof(msg), "%s: cannot run %s: %s", pr->what,
             pr->cy->ng->cmd[0], uv_strerror(pr->spawn_err));
  else if (pr->timed_out)
    snprintf(msg, sizeof(msg), "%s: killed after %d ms", pr->what,
             CMD_TIMEOUT_MS);
  else if (pr->term_signal)
    snprintf(msg, sizeof(msg), "%s: killed by signal %d%s%s", pr->what,
             pr->term_signal, summary[0] ? ": " : "", summary);
  else if (status < 0)
    snprintf(msg, sizeof(msg), "%s: %s", pr->what,
             summary[0] ? summary : "failed without a message");
  else
    msg[0] = '\0';
  pr->done(pr->cy, status, msg);
  free(pr);
}

static void proc_close(uv_handle_t *h)
{
  if (!uv_is_closing(h))
    uv_close(h, proc_handle_closed);
}

/* Ends the command once it exited and its output is drained. */
static void proc_check(struct proc *pr, bool drained)
{
  if (drained)
    proc_close((uv_handle_t *)&pr->pipe);
  if (pr->exited && uv_is_closing((uv_handle_t *)&pr->pipe)) {
    uv_timer_stop(&pr->timer);
    proc_close((uv_handle_t *)&pr->timer);
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct proc *pr = h->data;
  static char sink[4096];

  (void)suggested;
  /* Past the cap, the output goes to a sink: read, never kept. */
  if (pr->len < sizeof(pr->out))
    *buf =
        uv_buf_init(pr->out + pr->len, (unsigned)(sizeof(pr->out) - pr->len));
  else
    *buf = uv_buf_init(sink, sizeof(sink));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct proc *pr = s->data;

  if (n > 0 && buf->base == pr->out + pr->len)
    pr->len += (size_t)n;
  if (n < 0)
    proc_check(pr, true);
}

static void on_proc_timer(uv_timer_t *t);

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
  struct proc *pr = p->data;

  pr->exited = true;
  pr->exit_status = exit_status;
  pr->term_signal = term_signal;
  proc_close((uv_handle_t *)&pr->process);
  /* A child it left behind may hold the pipe open: not for long. */
  if (!uv_is_closing((uv_handle_t *)&pr->pipe))
    uv_timer_start(&pr->timer, on_proc_timer, EXIT_GRACE_MS, 0);
  proc_check(pr, false);
}

static void on_proc_timer(uv_timer_t *t)
{
  struct proc *pr = t->data;

  if (!pr->exited) {
    pr->timed_out = true;
    uv_process_kill(&pr->process, SIGKILL);
    return;
  }
  proc_check(pr, true);
}

/* Runs the configured command plus `extra`; `done` runs once, later. */
static void run_nginx(struct cycle *cy, const char *what,
                      const char *const *extra, size_t nextra,
                      void (*done)(struct cycle *, int, const char *))
{
  struct ngx *ng = cy->ng;
  struct proc *pr = td_calloc(1, sizeof(*pr));
  char **argv = td_calloc(ng->ncmd + nextra + 1, sizeof(*argv));
  uv_process_options_t opts = {0};
  uv_stdio_container_t stdio[3];

  pr->cy = cy;
  pr->done = done;
  pr->what = what;
  for (size_t i = 0; i < ng->ncmd; i++)
    argv[i] = ng->cmd[i];
  for (size_t i = 0; i < nextra; i++)
    argv[ng->ncmd + i] = (char *)extra[i];
  uv_pipe_init(ng->base.loop, &pr->pipe, 0);
  uv_timer_init(ng->base.loop, &pr->timer);
  pr->pipe.data = pr;
  pr->timer.data = pr;
  pr->process.data = pr;
  pr->open_handles = 3;
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_IGNORE;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&pr->pipe;
  opts.file = argv[0];
  opts.args = argv;
  opts.env = ng->env;
  opts.exit_cb = on_exit_cb;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  pr->spawn_err = uv_spawn(ng->base.loop, &pr->process, &opts);
  free(argv);
  if (pr->spawn_err) {
    /* The handles exist even so; closing them ends the command. */
    pr->exited = true;
    uv_close((uv_handle_t *)&pr->process, proc_handle_closed);
    uv_close((uv_handle_t *)&pr->pipe, proc_handle_closed);
    uv_close((uv_handle_t *)&pr->timer, proc_handle_closed);
    return;
  }
  uv_timer_start(&pr->timer, on_proc_timer, CMD_TIMEOUT_MS, 0);
  if (uv_read_start((uv_stream_t *)&pr->pipe, on_alloc, on_read) != 0)
    proc_close((uv_handle_t *)&pr->pipe);
}

/* ---- verification: nginx itself says which route serves a host ---- */

/* Does the response carry header `name` with exactly `want`? */
static bool header_is(const char *headers, const char *name, const char *want)
{
  size_t n = strlen(name), wlen = strlen(want);
  const char *p = headers;

  while (p && *p) {
    const char *e = strchr(p, '\n');
    const char *end = e ? e : p + strlen(p);

    if ((size_t)(end - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
      const char *v = skip_blank(p + n + 1, end);
      const char *ve = end;

      while (ve > v && isspace((unsigned char)ve[-1]))
        ve--;
      if ((size_t)(ve - v) == wlen && memcmp(v, want, wlen) == 0)
        return true;
    }
    p = e ? e + 1 : NULL;
  }
  return false;
}

static void verify_poll(struct op *op);
static void verified(struct op *op);

static void on_verify_timer(uv_timer_t *t)
{
  verify_poll(container_of(t, struct op, timer));
}

static void on_verify_response(const struct curl_uv_response *res, void *arg)
{
  struct op *op = arg;
  struct ngx *ng = op->ng;
  const char *headers = res->headers ? res->headers : "";
  bool served;

  if (op->kind == OP_REMOVE)
    served =
        res->http_code != 0 && !header_is(headers, "X-Tenantd-Route", op->id);
  else
    served = header_is(headers, "X-Tenantd-Route", op->id) &&
             header_is(headers, "X-Tenantd-Revision", op->revision);
  if (served) {
    op->applied = false; /* final: nothing to take back */
    verified(op);
    return;
  }
  if (uv_now(ng->base.loop) >= op->deadline) {
    char last[600];

    if (res->http_code)
      snprintf(last, sizeof(last), "HTTP %ld without it", res->http_code);
    else
      snprintf(last, sizeof(last), "%s",
               res->message ? res->message : "no response");
    fail(op, PROVIDER_TRANSIENT,
         "nginx: %s %s route %s within %llu ms of the reload (last answer: "
         "%s); the previous file is put back",
         op->verify_host,
         op->kind == OP_REMOVE ? "still served by" : "not served by", op->id,
         (unsigned long long)ng->verify_timeout_ms, last);
    verified(op);
    return;
  }
  uv_timer_start(&op->timer, on_verify_timer, POLL_MS, 0);
}

static void verify_poll(struct op *op)
{
  struct ngx *ng = op->ng;
  uint64_t now = uv_now(ng->base.loop);
  char *host = td_asprintf("Host: %s", op->verify_host);
  const char *headers[] = {host};
  struct curl_uv_request req = {
      .method = "HEAD",
      .url = ng->verify_url,
      .headers = headers,
      .nheaders = 1,
      .timeout_ms = op->deadline > now ? op->deadline - now : 1,
      .max_response_bytes = VERIFY_RESPONSE_MAX,
  };

  curl_uv_send(ng->cu, &req, on_verify_response, op);
  free(host);
}

/* ---- cycles: one test and one reload for every write waiting ---- */

static void cycle_fs(struct cycle *cy, enum fs_mode mode, size_t lo, size_t hi,
                     enum stage next);
static void start_cycle(struct ngx *ng);

static void on_kick(uv_timer_t *t)
{
  start_cycle(container_of(t, struct ngx, kick));
}

static void finish_cycle(struct cycle *cy)
{
  struct ngx *ng = cy->ng;

  for (size_t i = 0; i < cy->n; i++) {
    struct op *op = cy->ops[i];

    if (op->status == PROVIDER_OK && op->kind != OP_REMOVE)
      op->observed = observed_new(json_incref(op->spec), op->marker);
    if (op->status < 0 && op->restore_err[0]) {
      size_t n = strlen(op->message);

      snprintf(op->message + n, sizeof(op->message) - n, "; %s",
               op->restore_err);
    }
    deliver(op);
  }
  free(cy->ops);
  free(cy);
  ng->cycle = NULL;
  if (ng->pending)
    uv_timer_start(&ng->kick, on_kick, 0, 0);
}

/* The writes nginx serves lose their pending mark; then the cycle ends. */
static void finalize(struct cycle *cy)
{
  for (size_t i = 0; i < cy->n; i++) {
    if (finalizable(cy->ops[i])) {
      cycle_fs(cy, FS_FINALIZE, 0, cy->n, ST_FINALIZE);
      return;
    }
  }
  finish_cycle(cy);
}

/*
 * The last verification ends the cycle.  A file nginx did not serve in
 * time is taken back: on disk it would read as applied, and the next pass
 * would take a route nginx never loaded for converged.
 */
static void verified(struct op *op)
{
  struct cycle *cy = op->ng->cycle;

  assert(cy && cy->verifying > 0);
  if (--cy->verifying > 0)
    return;
  for (size_t i = 0; i < cy->n; i++) {
    if (cy->ops[i]->applied) {
      cycle_fs(cy, FS_REVERT, 0, cy->n, ST_UNVERIFY);
      return;
    }
  }
  finalize(cy);
}

static void after_reload(struct cycle *cy, int status, const char *message)
{
  struct ngx *ng = cy->ng;
  uint64_t now = uv_now(ng->base.loop);

  if (status < 0) {
    /* Not loaded: take the files back, so what is on disk is what nginx
     * was last told to serve. */
    for (size_t i = 0; i < cy->n; i++)
      if (cy->ops[i]->kept)
        fail(cy->ops[i], PROVIDER_TRANSIENT, "%s", message);
    cycle_fs(cy, FS_REVERT, 0, cy->n, ST_UNDO);
    return;
  }
  cy->stage = ST_VERIFY;
  for (size_t i = 0; i < cy->n; i++) {
    if (cy->ops[i]->kept && cy->ops[i]->verify_host)
      cy->verifying++;
    else
      cy->ops[i]->applied = false; /* nothing to verify: final */
  }
  if (cy->verifying == 0) {
    finalize(cy);
    return;
  }
  for (size_t i = 0; i < cy->n; i++) {
    struct op *op = cy->ops[i];

    if (!op->kept || !op->verify_host)
      continue;
    op->deadline = now + ng->verify_timeout_ms;
    verify_poll(op);
  }
}

static void reload(struct cycle *cy)
{
  static const char *const args[] = {"-s", "reload"};

  cy->stage = ST_RELOAD;
  run_nginx(cy, "nginx -s reload", args, 2, after_reload);
}

static void after_test(struct cycle *cy, int status, const char *message);

static void test(struct cycle *cy, enum stage stage)
{
  static const char *const args[] = {"-t"};

  cy->stage = stage;
  run_nginx(cy, "nginx -t", args, 1, after_test);
}

/* Tries the next write of a refused batch alone; then reloads what
 * passed. */
static void solo_next(struct cycle *cy)
{
  while (cy->solo < cy->n && !cy->ops[cy->solo]->candidate)
    cy->solo++;
  if (cy->solo < cy->n) {
    cycle_fs(cy, FS_APPLY, cy->solo, cy->solo + 1, ST_SOLO_APPLY);
    return;
  }
  for (size_t i = 0; i < cy->n; i++) {
    if (cy->ops[i]->kept) {
      reload(cy);
      return;
    }
  }
  finish_cycle(cy);
}

/* Fails every write of the batch with the same status and message. */
static void fail_candidates(struct cycle *cy, int status, const char *fmt,
                            const char *message)
{
  for (size_t i = 0; i < cy->n; i++)
    if (cy->ops[i]->candidate)
      fail(cy->ops[i], status, fmt, message);
}

/*
 * The batch is restored and nginx -t ran again.  When even that config
 * fails, the problem is outside the batch (a broken foreign file, nginx
 * itself): no write can be judged, so every one is retried later.
 * Otherwise a write alone in its batch was the one refused; more are
 * tried one at a time.
 */
static void after_base_test(struct cycle *cy, int status, const char *message)
{
  size_t tried = 0;

  if (status != PROVIDER_OK) {
    fail_candidates(cy, PROVIDER_TRANSIENT,
                    "nginx: the config fails without this change too "
                    "(retried later): %s",
                    message);
    finish_cycle(cy);
    return;
  }
  for (size_t i = 0; i < cy->n; i++)
    if (cy->ops[i]->candidate)
      tried++;
  if (tried == 1) {
    fail_candidates(cy, cy->test_status, "%s", cy->test_msg);
    finish_cycle(cy);
    return;
  }
  cy->solo = 0;
  solo_next(cy);
}

static void after_test(struct cycle *cy, int status, const char *message)
{
  if (cy->stage == ST_TEST_BASE) {
    after_base_test(cy, status, message);
    return;
  }
  cy->test_status = status;
  if (cy->stage == ST_TEST_ALL) {
    if (status == PROVIDER_OK) {
      for (size_t i = 0; i < cy->n; i++)
        cy->ops[i]->kept = cy->ops[i]->applied;
      reload(cy);
      return;
    }
    snprintf(cy->test_msg, sizeof(cy->test_msg), "%s", message);
    cycle_fs(cy, FS_REVERT, 0, cy->n, ST_REVERT_ALL);
    return;
  }
  assert(cy->stage == ST_SOLO_TEST);
  if (status == PROVIDER_OK) {
    cy->ops[cy->solo++]->kept = true;
    solo_next(cy);
    return;
  }
  snprintf(cy->test_msg, sizeof(cy->test_msg), "%s", message);
  cycle_fs(cy, FS_REVERT, cy->solo, cy->solo + 1, ST_SOLO_REVERT);
}

static void after_fs(uv_work_t *req, int status)
{
  struct cycle *cy = container_of(req, struct cycle, work);
  size_t tried = 0;

  (void)status; /* never cancelled: nothing calls uv_cancel */
  switch (cy->stage) {
  case ST_APPLY_ALL:
    for (size_t i = 0; i < cy->n; i++) {
      cy->ops[i]->candidate = cy->ops[i]->applied;
      if (cy->ops[i]->applied)
        tried++;
    }
    if (tried == 0)
      finish_cycle(cy);
    else
      test(cy, ST_TEST_ALL);
    return;
  case ST_REVERT_ALL:
    /* When nginx could not run at all, no write can be tested. */
    if (cy->test_status == PROVIDER_TRANSIENT) {
      fail_candidates(cy, cy->test_status, "%s", cy->test_msg);
      finish_cycle(cy);
      return;
    }
    test(cy, ST_TEST_BASE);
    return;
  case ST_SOLO_APPLY:
    if (cy->ops[cy->solo]->applied) {
      test(cy, ST_SOLO_TEST);
    } else {
      cy->solo++;
      solo_next(cy);
    }
    return;
  case ST_SOLO_REVERT:
    fail(cy->ops[cy->solo], cy->test_status, "%s", cy->test_msg);
    cy->solo++;
    solo_next(cy);
    return;
  case ST_UNDO:
  case ST_FINALIZE:
    finish_cycle(cy);
    return;
  case ST_UNVERIFY:
    finalize(cy);
    return;
  case ST_TEST_ALL:
  case ST_TEST_BASE:
  case ST_SOLO_TEST:
  case ST_RELOAD:
  case ST_VERIFY:
    break;
  }
  assert(!"file work in a stage without any");
}

static void cycle_fs(struct cycle *cy, enum fs_mode mode, size_t lo, size_t hi,
                     enum stage next)
{
  cy->fs_mode = mode;
  cy->fs_lo = lo;
  cy->fs_hi = hi;
  cy->stage = next;
  if (uv_queue_work(cy->ng->base.loop, &cy->work, fs_work, after_fs) == 0)
    return;
  /* Only a programming error fails to queue; we are in a loop callback,
   * so doing the work here still answers no caller from inside its call. */
  fs_work(&cy->work);
  after_fs(&cy->work, 0);
}

static bool file_in_cycle(const struct cycle *cy, const char *file)
{
  for (size_t i = 0; i < cy->n; i++)
    if (strcmp(cy->ops[i]->file, file) == 0)
      return true;
  return false;
}

/*
 * Takes every waiting write, except a second one to a file already in the
 * batch: that one waits for the next cycle (its restore and verification
 * would cross the first's), and so does every later write to that file.
 */
static void start_cycle(struct ngx *ng)
{
  struct op *later = NULL, **later_tail = &later, *next;
  struct cycle *cy;
  size_t n = 0;

  if (ng->cycle || !ng->pending)
    return;
  cy = td_calloc(1, sizeof(*cy));
  cy->ng = ng;
  for (struct op *op = ng->pending; op; op = op->next)
    n++;
  cy->ops = td_calloc(n, sizeof(*cy->ops));
  for (struct op *op = ng->pending; op; op = next) {
    next = op->next;
    op->next = NULL;
    if (file_in_cycle(cy, op->file)) {
      *later_tail = op;
      later_tail = &op->next;
    } else {
      cy->ops[cy->n++] = op;
    }
  }
  ng->pending = later;
  ng->pending_tail = later ? later_tail : &ng->pending;
  ng->cycle = cy;
  cycle_fs(cy, FS_APPLY, 0, cy->n, ST_APPLY_ALL);
}

/* Queues a write; writes queued in the same loop turn share a cycle. */
static void enqueue(struct ngx *ng, struct op *op)
{
  *ng->pending_tail = op;
  ng->pending_tail = &op->next;
  if (!ng->cycle && !uv_is_active((uv_handle_t *)&ng->kick))
    uv_timer_start(&ng->kick, on_kick, 0, 0);
}

/* ---- operations ---- */

static void work_cb(uv_work_t *req)
{
  struct op *op = container_of(req, struct op, work);

  if (op->kind == OP_LIST)
    do_list(op);
  else
    do_read(op);
}

static void after_work_cb(uv_work_t *req, int status)
{
  struct op *op = container_of(req, struct op, work);

  if (status == UV_ECANCELED)
    fail(op, PROVIDER_TRANSIENT, "cancelled");
  deliver(op);
}

static void queue_job(struct op *op)
{
  int err;

  if (op->ng->closing) {
    deliver_failure(op, PROVIDER_TRANSIENT, "provider closing");
    return;
  }
  err = uv_queue_work(op->ng->base.loop, &op->work, work_cb, after_work_cb);
  if (err == 0)
    return;
  fail(op, PROVIDER_TRANSIENT, "nginx: cannot queue work: %s",
       uv_strerror(err));
  deliver(op);
}

/* The op's file and identity, or PROVIDER_INVALID for names nginx or the
 * file system would misread. */
static int set_target(struct op *op, const struct resource *r)
{
  if (!valid_token(r->name, MAX_STEM, false))
    return fail(op, PROVIDER_INVALID, "nginx: invalid route name '%.200s'",
                r->name);
  if (!valid_token(r->id, MAX_TOKEN, true) ||
      !valid_token(r->tenant, MAX_TOKEN, false))
    return fail(op, PROVIDER_INVALID,
                "nginx: route %.200s: unusable id or tenant", r->name);
  op->file = td_asprintf("%s.conf", r->name);
  op->path = td_asprintf("%s/%s", op->sites_dir, op->file);
  op->tenant = td_strdup(r->tenant);
  op->id = td_strdup(r->id);
  resource_marker(op->marker, r->tenant, r->id);
  return PROVIDER_OK;
}

/* A random revision, so a verification never mistakes the old file for
 * the new one. */
static void new_revision(char out[17])
{
  static uint64_t counter;
  uint64_t x = 0;

  if (uv_random(NULL, NULL, &x, sizeof(x), 0, NULL) != 0)
    x = uv_hrtime() ^ ((uint64_t)getpid() << 32);
  x ^= ++counter * 0x9e3779b97f4a7c15ULL;
  snprintf(out, 17, "%016llx", (unsigned long long)x);
}

static void start_write(struct provider *p, enum op_kind kind,
                        const struct resource *r, const json_t *spec,
                        provider_cb cb, void *arg)
{
  struct ngx *ng = container_of(p, struct ngx, base);
  struct op *op = op_new(ng, kind, arg);
  char why[512];

  op->cb = cb;
  if (ng->closing) {
    deliver_failure(op, PROVIDER_TRANSIENT, "provider closing");
    return;
  }
  if (set_target(op, r) < 0) {
    deliver(op);
    return;
  }
  if (spec) {
    if (check_spec(spec, why, sizeof(why)) < 0) {
      fail(op, PROVIDER_INVALID, "nginx: route %s: %s", r->name, why);
      deliver(op);
      return;
    }
    op->spec = json_deep_copy(spec);
    new_revision(op->revision);
    op->text = render(op->tenant, op->id, op->spec, ng->listen, op->revision,
                      true, &op->text_len);
    op->final_text = render(op->tenant, op->id, op->spec, ng->listen,
                            op->revision, false, &op->final_len);
    op->verify_host = td_strdup(
        json_string_value(json_array_get(json_object_get(spec, "hosts"), 0)));
  }
  enqueue(ng, op);
}

/* ---- provider_ops ---- */

/* A killed writer leaves ".<name>.conf.XXXXXX": one tenantd owns the
 * directory's route files, so at open any such file is a dead writer's. */
/* The environment nginx runs with: what it needs to be found and to
 * format its messages, none of tenantd's credentials. */
static char **child_env(void)
{
  static const char *const keep[] = {"PATH", "TZ", "LANG"};
  char **env = td_calloc(ARRAY_SIZE(keep) + 1, sizeof(*env));
  size_t n = 0;

  for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
    const char *v = getenv(keep[i]);

    if (v)
      env[n++] = td_asprintf("%s=%s", keep[i], v);
  }
  return env;
}

static void ngx_release(struct ngx *ng)
{
  for (size_t i = 0; ng->env && ng->env[i]; i++)
    free(ng->env[i]);
  free(ng->env);
  for (size_t i = 0; i < ng->ncmd; i++)
    free(ng->cmd[i]);
  free(ng->cmd);
  free(ng->sites_dir);
  free(ng->listen);
  free(ng->verify_url);
  free(ng->base.instance);
  free(ng);
}

static int parse_command(struct ngx *ng, const json_t *v, char *err,
                         size_t errcap)
{
  const json_t *arg;
  size_t i;

  if (!json_is_array(v) || json_array_size(v) == 0 ||
      json_array_size(v) > MAX_ARGS) {
    snprintf(err, errcap,
             "nginx: command must be a list of 1 to %d strings, like "
             "[nginx, -c, /etc/nginx/nginx.conf]",
             MAX_ARGS);
    return -1;
  }
  ng->cmd = td_calloc(json_array_size(v), sizeof(*ng->cmd));
  json_array_foreach(v, i, arg)
  {
    const char *s = json_string_value(arg);

    if (!s || !*s || strlen(s) != json_string_length(arg) ||
        strlen(s) > MAX_ARG) {
      snprintf(err, errcap, "nginx: command[%zu] must be a non-empty string",
               i);
      return -1;
    }
    ng->cmd[ng->ncmd++] = td_strdup(s);
  }
  return 0;
}

static int ngx_open(struct provider **out, const char *instance,
                    const json_t *config, uv_loop_t *loop, char *err,
                    size_t errcap)
{
  static const char *const known[] = {"type", "sitesDir", "command", "listen",
                                      "verifyTimeoutMs"};
  struct ngx *ng = td_calloc(1, sizeof(*ng));
  const char *key, *sites_dir, *listen;
  const json_t *v;
  int rc = -1;

  *out = NULL;
  if (!json_is_object(config)) {
    snprintf(err, errcap, "nginx: the config must be an object");
    goto out;
  }
  json_object_foreach((json_t *)config, key, v)
  {
    size_t i = 0;

    while (i < ARRAY_SIZE(known) && strcmp(known[i], key) != 0)
      i++;
    if (i == ARRAY_SIZE(known)) {
      snprintf(err, errcap, "nginx: unknown option '%.100s'", key);
      goto out;
    }
  }
  sites_dir = json_string_value(json_object_get(config, "sitesDir"));
  if (!sites_dir || !*sites_dir || strlen(sites_dir) > MAX_SITES_DIR) {
    snprintf(err, errcap,
             "nginx: sitesDir is required (a directory path, at most %d "
             "bytes)",
             MAX_SITES_DIR);
    goto out;
  }
  if (parse_command(ng, json_object_get(config, "command"), err, errcap) < 0)
    goto out;
  listen = json_string_value(json_object_get(config, "listen"));
  if (!listen || !valid_hostport(listen)) {
    snprintf(err, errcap,
             "nginx: listen must be host:port, like 127.0.0.1:8088");
    goto out;
  }
  v = json_object_get(config, "verifyTimeoutMs");
  ng->verify_timeout_ms = DEFAULT_VERIFY_MS;
  if (v) {
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > MAX_VERIFY_MS) {
      snprintf(err, errcap,
               "nginx: verifyTimeoutMs must be an integer between 1 and %d",
               MAX_VERIFY_MS);
      goto out;
    }
    ng->verify_timeout_ms = (uint64_t)json_integer_value(v);
  }
  ng->sites_dir = td_strdup(sites_dir);
  ng->listen = td_strdup(listen);
  ng->verify_url = td_asprintf("http://%s/", listen);
  ng->env = child_env();
  /* ".<name>.conf.failed" is kept for the operator to look at. */
  fs_sweep_temp(ng->sites_dir, ".conf", "failed");
  ng->base.ops = &nginx_provider_ops;
  ng->base.instance = td_strdup(instance);
  ng->base.loop = loop;
  ng->pending_tail = &ng->pending;
  uv_timer_init(loop, &ng->kick);
  ng->cu = curl_uv_new(loop);
  *out = &ng->base;
  ng = NULL;
  rc = 0;
out:
  if (ng)
    ngx_release(ng);
  return rc;
}

static void ngx_read(struct provider *p, const struct resource *r,
                     provider_cb cb, void *arg)
{
  struct ngx *ng = container_of(p, struct ngx, base);
  struct op *op = op_new(ng, OP_READ, arg);

  op->cb = cb;
  if (set_target(op, r) < 0) {
    deliver(op);
    return;
  }
  queue_job(op);
}

static void ngx_create(struct provider *p, const struct resource *r,
                       const json_t *spec, provider_cb cb, void *arg)
{
  assert(json_is_object(spec));
  start_write(p, OP_CREATE, r, spec, cb, arg);
}

static void ngx_update(struct provider *p, const struct resource *r,
                       const json_t *spec, provider_cb cb, void *arg)
{
  assert(json_is_object(spec));
  start_write(p, OP_UPDATE, r, spec, cb, arg);
}

static void ngx_remove(struct provider *p, const struct resource *r,
                       provider_cb cb, void *arg)
{
  start_write(p, OP_REMOVE, r, NULL, cb, arg);
}

static void ngx_list_owned(struct provider *p, const char *tenant,
                           provider_list_cb cb, void *arg)
{
  struct ngx *ng = container_of(p, struct ngx, base);
  struct op *op = op_new(ng, OP_LIST, arg);

  op->list_cb = cb;
  op->tenant = td_strdup(tenant);
  queue_job(op);
}

static void instance_done(struct ngx *ng)
{
  ng->close_cb(&ng->base, ng->close_arg);
  ngx_release(ng);
}

static void on_instance_closed(uv_handle_t *h)
{
  struct ngx *ng = container_of((uv_timer_t *)h, struct ngx, close_timer);

  ng->handles_closed = true;
  if (ng->inflight == 0)
    instance_done(ng);
}

static void on_kick_closed(uv_handle_t *h)
{
  struct ngx *ng = container_of((uv_timer_t *)h, struct ngx, kick);

  uv_close((uv_handle_t *)&ng->close_timer, on_instance_closed);
}

static void on_curl_closed(void *arg)
{
  struct ngx *ng = arg;

  uv_close((uv_handle_t *)&ng->kick, on_kick_closed);
}

static void on_close_timer(uv_timer_t *t)
{
  struct ngx *ng = container_of(t, struct ngx, close_timer);

  /* An operation started after close() extends the wait; its end
   * restarts this timer. */
  if (ng->inflight > 0)
    return;
  ng->finalizing = true;
  curl_uv_close(ng->cu, on_curl_closed, ng);
  ng->cu = NULL;
}

static void ngx_close(struct provider *p, provider_close_cb cb, void *arg)
{
  struct ngx *ng = container_of(p, struct ngx, base);

  assert(!ng->closing);
  ng->closing = true;
  ng->close_cb = cb;
  ng->close_arg = arg;
  uv_timer_init(p->loop, &ng->close_timer);
  /* With operations in flight, the last one to end starts the timer. */
  if (ng->inflight == 0)
    uv_timer_start(&ng->close_timer, on_close_timer, 0, 0);
}

const struct provider_ops nginx_provider_ops = {
    /* Checked by provider_open(). */
    .version = PROVIDER_OPS_VERSION,
    /* The "type" the controller config names. */
    .type = "nginx",
    /* Validates the options and sweeps dead temp files; starts nothing. */
    .open = ngx_open,
    /* The route file: its spec line, or its directives when edited. */
    .read = ngx_read,
    /* Writes the file, tests, reloads, verifies; refuses others' names. */
    .create = ngx_create,
    /* Rewrites a file this route owns, then the same as create. */
    .update = ngx_update,
    /* Deletes a file this route owns, tests, reloads, verifies. */
    .remove = ngx_remove,
    /* Scans sitesDir for the tenant's markers. */
    .list_owned = ngx_list_owned,
    /* Waits for operations in flight, then closes curl and the timers. */
    .close = ngx_close,
};
