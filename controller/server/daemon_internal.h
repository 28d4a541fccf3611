/*
 * daemon_internal.h - shared by the daemon's files only: daemon.c (the
 * loop, the queue and the passes), daemon_load.c (what is known before
 * the first pass), daemon_report.c (its metrics and log lines), api.c
 * (the HTTP endpoints), mgmt.c (the management API), fleet.c (costs,
 * platform status, notifications, the status page) and daemon_watch.c
 * (the providers' feeds of changes).  Loop thread only,
 * like everything the daemon owns, but daemon__load(), which runs on the
 * pass thread.
 */
#ifndef TD_DAEMON_INTERNAL_H
#define TD_DAEMON_INTERNAL_H

#include "base/compat.h"

#include <jansson.h>
#include <stdatomic.h>
#include <uv.h>

#include "base/strset.h"
#include "engine/reconcile.h"
#include "git/gitpass.h"
#include "git/source.h"
#include "manifest/manifest.h"
#include "server/config.h"
#include "server/httpd.h"
#include "server/metrics.h"

struct pass;
struct mgmt;
struct fleet;
struct costs;
struct daemon_watch;

struct dtenant {
  char *name;
  uint64_t next_resync; /* loop time (ms) its resync is due */
  uint64_t retry_at;    /* loop time of its backoff retry; 0: none */
  unsigned failures;    /* in a row */
  bool queued, inflight;
  bool again; /* asked for while in flight: queue it when the pass ends */
  enum tenant_result result;
  uint64_t passes; /* passes that reported it, since start */
  json_t *row;     /* the tenant's line in GET /api/v1/tenants */
  char *detail;    /* GET /api/v1/tenants/<name>, JSON text */
  size_t by_type[RTYPE_COUNT];
  uint64_t checked_at; /* loop time of its last pass; 0: none yet */
  bool row_todo;       /* has a status the daemon has not read yet */
};

struct daemon {
  uv_loop_t *loop;
  struct config *cfg;
  struct httpd *http;
  uv_signal_t sig[3];
  uv_timer_t poll, tick, deadline;
  uv_async_t pass_done;
  struct pass *pass;
  atomic_bool cancel;

  struct dtenant **t; /* sorted by name */
  size_t nt, talloc;
  struct dtenant **q; /* FIFO ring */
  size_t qhead, qlen, qalloc;

  bool want_fetch, want_all, ready, stopping;
  /* Before any pass: the manifests and the status branch are loaded
   * (daemon__load), then the daemon is ready; want_load until then. */
  bool want_load, loaded;
  size_t rows_todo;      /* tenants whose status is not read yet */
  uint64_t started_at;   /* loop ms */
  unsigned resync_steps; /* tenths of the first resync logged */
  bool resync_done;      /* every tenant checked once since start */
  /* The last fetch failed: once one succeeds, every tenant is passed
   * again so none keeps a stale SourceError. */
  bool stale;
  unsigned pass_failures;  /* passes in a row that could not run */
  uint64_t hold_until;     /* no pass before this (loop ms) after those */
  uint64_t log_flushed_at; /* loop ms of the last log_flush_suppressed */
  int exit_code;
  char seen[SOURCE_ID_LEN];
  int seen_approved; /* was `seen` approved? -1: not known */
  char last_error[1024];
  uint64_t rng;
  /* The manifests as the last pass loaded them: only the pass thread
   * touches it, and passes run one at a time. */
  struct manifest_repo *model;
  /* The source the last costs snapshot was taken from (pass thread
   * only): a pass on the same manifests takes none.  That snapshot, a
   * reference of the pass thread's, is what the next is made from. */
  char costs_source[SOURCE_ID_LEN];
  struct costs *costs_base;
  /* Every tenant's share of the resource and tenant gauges, kept as
   * passes change them (daemon__tally) so no pass recounts them all. */
  size_t n_by_type[RTYPE_COUNT], n_by_result[RESULT_COUNT], n_awaiting;
  struct mgmt *mgmt; /* the management API: writes, one at a time */

  struct fleet *fleet; /* fleet.c: costs, platform status, notifications */
  struct daemon_watch *watch; /* daemon_watch.c */

  struct metrics *m;
  struct metric *m_reconciles, *m_pass_seconds, *m_drift_detected,
      *m_drift_corrected, *m_queue, *m_fetch_seconds, *m_fetch_last_ok,
      *m_fetch_errors, *m_resources, *m_tenants, *m_webhooks, *m_passes, *m_up,
      *m_untrusted, *m_awaiting, *m_resync;
};

/* A tenant as the status branch (or, without a status, the manifests)
 * knows it before its first pass. */
struct loaded_tenant {
  char *name;
  json_t *row;  /* as dtenant's; NULL until its status is read */
  char *detail; /* NULL without a status */
  size_t by_type[RTYPE_COUNT];
  enum tenant_result result;
  bool has_status;
  bool retry; /* failed, stalled or a source error: pass it at once */
};

/* daemon__load's inputs (borrowed) and outputs. */
struct daemon_load {
  const struct source_opts *so;
  const json_t *providers;
  bool fetch, push;
  struct manifest_repo **model; /* in and out, as reconcile_opts.model */
  /* out */
  char head[SOURCE_ID_LEN];
  bool fetched;
  double fetch_seconds;
  char fetch_error[1024], push_error[1024], error[1024];
  bool all;                /* every tenant changed (or no status yet) */
  struct strset changed;   /* tenant files changed since the status's */
  struct loaded_tenant *v; /* sorted by name */
  size_t n, alloc;
};

/*
 * On the pass thread: checks that the provider instances open, fetches
 * (when asked), loads the manifests of the tip into *model, reads every
 * status on the branch and what changed since the manifests it records,
 * and pushes status commits a run before left unpushed.  0, or -1 with
 * the reason in l->error.  Release with daemon__load_release().
 */
int daemon__load(struct daemon_load *l);

/* On the pass thread: the rows, details and results of the tenants
 * `names` from their statuses (l->so in; l->v out, l->error on -1). */
int daemon__rows(struct daemon_load *l, const struct strset *names);

void daemon__load_release(struct daemon_load *l);

/* The tenant of that name, or NULL. */
struct dtenant *daemon__tenant_find(struct daemon *d, const char *name);

/* api.c: the `tenant` query parameter into name ("" when absent); -1
 * when it is there but not a tenant name. */
int daemon__query_tenant(const char *q, char name[64]);

/* daemon_report.c: the daemon's metrics, registered; the tenants' and
 * resources' gauges set from their totals; and a pass's log lines: its problems
 * (`text`, a line each, is cut into lines in place), each tenant's
 * events, and the line that ends it. */
void daemon__metrics_setup(struct daemon *d);
void daemon__recount(struct daemon *d);
/* A tenant's share of those gauges: added (sign > 0) once its row,
 * counts and result are set, taken away (sign < 0) before they change
 * or it goes, so that daemon__recount() only publishes the totals. */
void daemon__tally(struct daemon *d, const struct dtenant *t, int sign);
void daemon__log_problems(char *text, size_t len);
void daemon__log_outcome(const char *source, const struct reconcile_outcome *o);
void daemon__log_pass_done(const struct gitpass_result *r, int rc, bool fetched,
                           double seconds);

/* Queues t for the next pass (once: a queued tenant stays in place). */
void daemon__enqueue(struct daemon *d, struct dtenant *t);

/* Starts a pass if one is wanted and none is running. */
void daemon__dispatch(struct daemon *d);

/* A write of the management API ended: a stop waiting for it ends. */
void daemon__write_done(struct daemon *d);

/* daemon_watch.c: opens a watching instance of each configured provider
 * that can watch (at start, and after a reload once the old ones are
 * closed); closes them (shutdown, reload); frees what is left once the
 * loop has ended. */
void daemon__watch_open(struct daemon *d);
void daemon__watch_close(struct daemon *d);
void daemon__watch_free(struct daemon *d);

/* The HTTP server's handler (api.c); `arg` is the daemon. */
void api__handle(const struct httpd_request *req, struct httpd_response *resp,
                 void *arg);

/*
 * The fleet (fleet.c), at the daemon's hooks: setup after the metrics
 * registry exists; each tenant a pass reported (after its row is set);
 * a tenant dropped; the pass's end, taking the costs of the manifests it
 * loaded (NULL: unchanged); a reloaded config; before /metrics renders;
 * the shutdown (close: its requests end) and after the loop (free).
 */
void fleet__setup(struct daemon *d);
void fleet__tenant_update(struct daemon *d, const struct dtenant *t,
                          const struct reconcile_outcome *o);
void fleet__tenant_drop(struct daemon *d, const char *name);
void fleet__pass_done(struct daemon *d, struct costs *costs,
                      const struct gitpass_result *r, int rc, bool fetch,
                      double seconds);
void fleet__reload(struct daemon *d);
void fleet__metrics(struct daemon *d);
void fleet__close(struct daemon *d);
void fleet__free(struct daemon *d);

/* Its routes (api.c's table): GET /api/v1/costs, /api/v1/infrastructure/
 * status and /capacity, /api/v1/events?tenant=NAME, and the page, /. */
void fleet__get_costs(struct daemon *d, const struct httpd_request *req,
                      const char *rest, struct httpd_response *resp);
void fleet__get_status(struct daemon *d, const struct httpd_request *req,
                       const char *rest, struct httpd_response *resp);
void fleet__get_capacity(struct daemon *d, const struct httpd_request *req,
                         const char *rest, struct httpd_response *resp);
void fleet__get_events(struct daemon *d, const struct httpd_request *req,
                       const char *rest, struct httpd_response *resp);
void fleet__get_page(struct daemon *d, const struct httpd_request *req,
                     const char *rest, struct httpd_response *resp);

#endif
