/*
 * internal.h - what the nginx provider's files share (see nginx.h for the
 * contract).
 *
 *   nginx.c   the instance (options, open, shutdown) and the ops: names
 *             and specs checked in the starting call, reads and lists
 *             sent to the threadpool, writes queued for the next cycle;
 *   cycle.c   cycles: every waiting write on disk, one `nginx -t`, one
 *             `nginx -s reload`, verification through curl_uv, the
 *             pending marks taken off;
 *   files.c   the file work of ops and cycles, on the threadpool: reads,
 *             lists, writes that keep what they replace, restores,
 *             ".failed" files;
 *   verify.c  asking nginx, after a reload, which route serves each host
 *             of a write, until the answer is the new one and stays so;
 *   proc.c    nginx commands: uv_spawn, stderr collected and summarised,
 *             a time limit;
 *   render.c  the route file: what a spec may hold, rendering, parsing
 *             back, the observed state of a file.  Pure functions: no I/O,
 *             no loop, so the unit tests call them directly.
 *
 * The provider is written on the runtime (providers/common/runtime.h):
 * every operation is a `struct ngx_op`.  Everything runs on the loop
 * thread except the file work, whose jobs own the ops they are given and
 * read only fields of the instance that never change after open.
 */
#ifndef TD_NGINX_INTERNAL_H
#define TD_NGINX_INTERNAL_H

#include "base/compat.h"

#include "model/resource.h"
#include "providers/common/curl_uv.h"
#include "providers/common/runtime.h"
#include "providers/nginx/nginx.h"

/* A route file larger than this is not one tenantd wrote. */
#define NGX_FILE_MAX (64 * 1024)
/* list_owned reads only the header, where the marker is. */
#define NGX_HEAD_MAX 4096
/* File names keep room in 255 bytes for ".<name>.conf.XXXXXX". */
#define NGX_MAX_STEM 200
/* Tenants and ids: both fit a marker of RESOURCE_MARKER_MAX. */
#define NGX_MAX_TOKEN 256
#define NGX_MAX_HOSTS 64
/* A route's upstream servers, one a replica (manifests allow 100): with
 * NGX_MAX_HOSTS long names, a file stays under NGX_FILE_MAX. */
#define NGX_MAX_UPSTREAMS 128
/* "tenantd." and a route id with '/' made '.'. */
#define NGX_MAX_UPSTREAM_NAME (RESOURCE_MARKER_MAX + 16)
#define NGX_MAX_HOST 253
#define NGX_MAX_LIST 100000
/* A revision: 16 lower-case hex digits. */
#define NGX_REVISION_LEN 16
/*
 * How long every host of a write must keep answering with the new route
 * before it counts as served.  nginx's master lets the old workers accept
 * for 100 ms after it started the new ones (a fixed sleep in its reload);
 * this covers that and the time a loaded machine takes to run them.
 */
#define NGX_SETTLE_MS 250

/* What an observed upstream gets appended so it diffs as drift. */
#define NGX_EDITED " (edited by hand)"
#define NGX_PENDING " (pending)"

struct ngx_cycle;
struct ngx_op;

/* Writes of a reload timing its handover at once: a probe that stalls or
 * meets old workers until its deadline does not hold up the others. */
#define NGX_PROBES 4
/* A write that waited for the handover is given at least this long
 * after it is woken, for the rounds it still needs, but never more than
 * NGX_WAIT_MAX_MS past the deadline it started with. */
#define NGX_WOKEN_MS (2 * NGX_SETTLE_MS)
#define NGX_WAIT_MAX_MS (4 * NGX_SETTLE_MS)

/* What the writes of one reload learn together (verify.c): the handover
 * from the old workers to the new is the same for all of them. */
struct ngx_settle {
  size_t probes;    /* probes not ended (after done: not asked since) */
  size_t waiting;   /* writes waiting for it (NGX_VERIFY_WAIT) */
  bool done;        /* a probe's run lasted NGX_SETTLE_MS ... */
  uint64_t done_at; /* ... then: no old worker accepts since */
};

/* A write's verification, judged a round at a time (verify.c). */
struct ngx_verify {
  size_t nhosts;     /* each asked once a round */
  size_t answered;   /* answers of the round so far */
  bool round_right;  /* every one of them was right */
  bool steady;       /* a run of right rounds is on ... */
  uint64_t since;    /* ... since the end of its first round */
  uint64_t asked_at; /* when the round was asked */
  uint64_t deadline;
  bool alone;     /* a remove: judged by its own run, never a probe */
  bool probe;     /* times the reload's handover */
  uint64_t limit; /* the latest a wait may move the deadline to */
  struct ngx_settle *settle; /* the reload's, shared */
};

enum ngx_verdict {
  NGX_VERIFY_ASKING, /* the round waits for more answers */
  NGX_VERIFY_AGAIN,  /* another round, after a pause */
  NGX_VERIFY_WAIT,   /* asked again once a probe has ended */
  NGX_VERIFY_SERVED, /* right, and after the handover */
  NGX_VERIFY_LATE,   /* the deadline passed first */
};

/* One host's request of a round: the callback's argument. */
struct ngx_ask {
  struct ngx_op *op;
  size_t host; /* into op->hosts */
};

struct ngx {
  struct rt rt; /* first: the runtime's */
  /* Options (nginx.h). */
  char *sites_dir;
  json_t *command;
  char *listen;
  uint64_t verify_timeout_ms;

  char **cmd; /* the command's argv, `ncmd` entries */
  size_t ncmd;
  char **env; /* nginx's environment: PATH, TZ, LANG; never a secret */
  char *verify_url;
  struct curl_uv *cu;
  /* Writes (struct ngx_op) waiting for the next cycle, in arrival
   * order, through base.next. */
  struct rt_op *pending, **pending_tail;
  struct ngx_cycle *cycle; /* the one running, or NULL */
  uv_timer_t poll;         /* paces the verification polls */
};

struct ngx_op {
  struct rt_op base; /* first: kind, id, tenant, name, marker, spec */
  uv_work_t work;    /* read and list: the threadpool job */
  char *file;        /* "<name>.conf" */
  char *path;        /* <sitesDir>/<file> */

  /* Create and update: the file to write, marked pending, and the same
   * without the mark, once nginx serves it. */
  char revision[NGX_REVISION_LEN + 1];
  char *text;
  size_t text_len;
  char *final_text;
  size_t final_len;

  /* A cycle's state of this write. */
  bool candidate; /* passed its checks in the batch: tried alone too */
  bool applied;   /* the file on disk is this op's */
  bool kept;      /* passed nginx -t: part of the reload */
  bool had_old;
  char *old_text; /* the file it replaced, to restore */
  size_t old_len;
  char restore_err[1024]; /* set when a file could not be put back */

  /* Verification: every host of the route (of the old file, for a
   * remove), asked after the reload. */
  json_t *hosts;
  struct ngx_ask *asks; /* one a host */
  struct ngx_verify verify;
  bool poll_due; /* its next round waits for the timer */
  bool waiting;  /* ... or for the handover (NGX_VERIFY_WAIT) */
  char wrong_host[NGX_MAX_HOST + 1];
  char wrong_answer[600];
};

static inline struct ngx *ngx_of(const struct ngx_op *op)
{
  return container_of(op->base.rt, struct ngx, rt);
}

/* ---- render.c: the route file ---- */

/* A route as its file holds it. */
struct ngx_route {
  char tenant[RESOURCE_MARKER_MAX];
  char id[RESOURCE_MARKER_MAX];
  json_t *spec; /* {"hosts": [...], "upstreams": ["host:port"]}, owned */
  char revision[NGX_REVISION_LEN + 1];
  bool pending; /* "# state: pending": maybe never loaded by nginx */
};

/* What a file says, as far as it can be read: a hand-edited file too. */
struct ngx_scan {
  bool marked;            /* route.tenant and route.id are set */
  struct ngx_route route; /* spec: only a valid "# spec:" line */
  json_t *hosts;          /* server_name's values, when present */
  char *block;            /* the first upstream block's name, if any */
  json_t *servers;        /* its server directives' addresses */
  bool in_block;          /* scanning inside it */
  char *proxy;            /* proxy_pass's, without "http://", when present */
};

/* A plain DNS name: labels of letters, digits and '-', joined by dots. */
bool ngx__valid_hostname(const char *s, size_t len);

/* host:port, the host a DNS name, an IPv4 address or [IPv6]. */
bool ngx__valid_hostport(const char *s);

/* Letters, digits and "._-" (and '/' when `slash`), 1 to `max` bytes,
 * not starting with '.': external names, tenants, ids. */
bool ngx__valid_token(const char *s, size_t max, bool slash);

/* 0 when `spec` is a route spec tenantd can write; else -1 and why. */
int ngx__check_spec(const json_t *spec, char *msg, size_t cap);

/* The name of a route's upstream block: "tenantd." and its id with '/'
 * made '.' (ids are unique, so names are), into buf of
 * NGX_MAX_UPSTREAM_NAME. */
void ngx__upstream_name(char *buf, size_t cap, const char *id);

/* The file tenantd writes for `r` (a checked spec); malloc'd, its length
 * in *len. */
char *ngx__render(const struct ngx_route *r, const char *listen, size_t *len);

/* Reads what it can from any file (never fails); release it after. */
void ngx__scan(const char *text, size_t len, struct ngx_scan *out);
void ngx__scan_release(struct ngx_scan *s);

/* 0 and *out (release it) when `text` is exactly what ngx__render writes
 * for a route with valid names and spec; TD_EINVALID for anything else:
 * an edit, a directive added, a value nginx would read as syntax, a file
 * over NGX_FILE_MAX. */
int ngx__parse(const char *text, size_t len, const char *listen,
               struct ngx_route *out);
void ngx__route_release(struct ngx_route *r);

/* The observed state of a route file (new): its spec as nginx.h says a
 * read returns it, outputs, and the marker when it has one. */
json_t *ngx__observe(const char *text, size_t len, const char *listen);

/* {"spec", "outputs": {"url"}, "marker"?} (new); steals `spec`. */
json_t *ngx__observed_new(json_t *spec, const char *marker);

/* The hosts a file serves (a new array of plain DNS names; maybe empty):
 * its spec line's when valid, else its server_name's. */
json_t *ngx__hosts_of(const char *text, size_t len);

/* ---- files.c: file work, on the threadpool ---- */

/* A read's answer; a list's items (rt_op_ok / rt_op_fail). */
void ngx__read_file(struct ngx_op *op);
void ngx__list_files(struct ngx_op *op);

/* Puts one write on disk, keeping what it replaces (op->applied); fails
 * the op for names that are not its resource's. */
void ngx__apply(struct ngx_op *op);

/* Puts back what ngx__apply replaced; when it cannot, moves the write's
 * file out of nginx's glob and says so in op->restore_err. */
void ngx__revert(struct ngx_op *op);

/* Rewrites a file nginx serves without its pending mark. */
void ngx__finalize(struct ngx_op *op);

/* ---- proc.c: nginx commands ---- */

/* PROVIDER_OK; PROVIDER_INVALID when nginx ran and refused;
 * PROVIDER_TRANSIENT when it could not run or was killed.  `message`
 * says why (nginx's own error lines when it has some). */
typedef void (*ngx_proc_cb)(int status, const char *message, void *arg);

/* Runs the configured command plus `extra` ("what" names it in
 * messages); `done` runs once, from a later loop callback. */
void ngx__run(struct ngx *ng, const char *what, const char *const *extra,
              size_t nextra, ngx_proc_cb done, void *arg);

/* nginx's output as one line: its error lines when it has some. */
void ngx__summarize(const char *out, size_t len, char *buf, size_t cap);

/* ---- verify.c: asking nginx ---- */

/* Does the response carry header `name` (any case) with exactly `want`? */
bool ngx__header_is(const char *headers, const char *name, const char *want);

/* Whether an answer for a host shows the write served: the route and
 * revision written, or after a remove (`removed`) a response without
 * the route. */
bool ngx__answer_right(bool removed, const char *id, const char *revision,
                       long http_code, const char *headers);

/*
 * Judging: a round of `nhosts` answers at a time, asked at the time given
 * to ngx__verify_asking(); late when `deadline` (uv_now's clock) comes
 * before the write is served.
 *
 * A write `alone` (a remove: the old config may already lack its route,
 * so a right answer says nothing of the workers) is served once a run of
 * rounds with every answer right has lasted NGX_SETTLE_MS.  Any other
 * write with a round of right answers (its revision, which only a new
 * worker knows) becomes one of up to NGX_PROBES probes and is judged the
 * same way; the first probe served marks the handover done, and any
 * write is then served by one round of right answers asked after that.
 * Before it, a write that is not a probe waits (NGX_VERIFY_WAIT) while a
 * probe runs, and is asked again while none does.  Waiting writes are
 * woken (ngx__verify_woken) when the handover is done or the last probe
 * ends late.
 */
void ngx__verify_init(struct ngx_verify *v, size_t nhosts, uint64_t deadline,
                      bool alone, struct ngx_settle *settle);
void ngx__verify_asking(struct ngx_verify *v, uint64_t now);
enum ngx_verdict ngx__verify_answer(struct ngx_verify *v, bool right,
                                    uint64_t now);
/* Whether the waiting writes are to be woken after a verdict. */
bool ngx__verify_wake_due(const struct ngx_settle *s, enum ngx_verdict v);
/* A waiting write woken at `now`: it has NGX_WOKEN_MS at least, up to
 * its limit (NGX_WAIT_MAX_MS past its first deadline). */
void ngx__verify_woken(struct ngx_verify *v, uint64_t now);

/* Asks nginx about every host in op->hosts (not empty) until the write is
 * served or late; then calls ngx__verified(op), the op failed when late,
 * with no request of it in flight. */
void ngx__verify_start(struct ngx_op *op, uint64_t now);

/* ---- cycle.c: writes ---- */

/* Queues a write; the writes waiting when a cycle starts share it. */
void ngx__write(struct ngx *ng, struct ngx_op *op);

/* Starts a cycle with the writes waiting, unless one is running. */
void ngx__cycle_start(struct ngx *ng);

/* The ops of the running cycle (none when there is none). */
size_t ngx__cycle_ops(struct ngx *ng, struct ngx_op ***ops);

/* What the running cycle's verifications share. */
struct ngx_settle *ngx__cycle_settle(struct ngx *ng);

/* A write's verification ended (verify.c). */
void ngx__verified(struct ngx_op *op);

#endif
