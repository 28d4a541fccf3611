/*
 * daemon.h - `tenantd run`: the long-running controller.
 *
 * One libuv loop thread owns every piece of controller state: the tenant
 * table, the work queue, timers, the HTTP server and the metrics.  Passes
 * (fetch, reconcile, status commit, push; gitpass.h) run one at a time on
 * a worker thread with their own copies of what they need, and hand back
 * their report by value through a uv_async_t.  No locks in controller
 * logic.
 *
 * What starts a pass:
 *   - the poll timer (source.interval, jittered +-10%) and valid webhooks
 *     ask for a fetch; a new commit reconciles the tenants it touched;
 *   - the work queue: tenants due for their resync (reconcile.resync,
 *     jittered), tenants whose backoff expired, tenants asked for through
 *     POST /api/v1/reconcile.  The queue is FIFO and holds a tenant once;
 *     a pass takes at most reconcile.batch from its head, so a tenant
 *     re-queued goes behind everyone already waiting.
 * A tenant that failed or stalled is retried after reconcile.backoff.base,
 * doubling up to backoff.max, with +-20% jitter, and is not queued before
 * (its resync waits too), so a failing tenant cannot crowd out the rest.
 * A held tenant (invalid manifest) or a refused pass waits for a commit or
 * its resync.  The first pass after start reconciles every tenant.
 *
 * SIGTERM/SIGINT: stop starting provider calls, let calls in flight end,
 * write and push status, exit 0; past reconcile.shutdownTimeout, or on a
 * second signal, exit 1 at once.  SIGHUP reloads the config (an invalid
 * one is reported and the running one kept; source.url, source.branch,
 * cacheDir, status.branch and http.listen need a restart, the rest takes
 * effect at the next pass).
 */
#ifndef TD_DAEMON_H
#define TD_DAEMON_H

#include "base/compat.h"

#include "server/config.h"

/*
 * Runs until a signal stops it.  `log_format` overrides the config's
 * (-1: keep it).  Returns the process exit code.
 */
int daemon_run(const char *config_path, int log_format);

#endif
