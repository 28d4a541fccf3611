/*
 * mgmt.h - the management API: tenant changes through the daemon, each
 * one commit to the manifest repository (git/manifestwrite.h).
 *
 *   POST   /api/v1/tenants           a tenant document, JSON or YAML
 *   PUT    /api/v1/tenants/NAME      the tenant's file replaced
 *   PATCH  /api/v1/tenants/NAME      {"tier": "premium"}, {"suspend": true},
 *                                    {"apps": {"staging/web":
 *                                              {"replicas": 3}}}
 *   DELETE /api/v1/tenants/NAME      the tenant's file removed
 *   GET    /api/v1/reconcile?tenant=NAME   where the tenant's passes are
 *                                    (for `tenantd reconcile --wait`)
 *
 * The first four need a token with the write role (api.c checks it); the
 * token's name is the commit's author and is in every log line about the
 * request, the token never.  ?allowDelete=N adds the trailer
 * "Tenantd-Allow-Delete: N" (the blast-radius override) to the commit.
 *
 * The answer is deferred (httpd_defer) while the Git work runs on the
 * libuv threadpool, one request at a time in arrival order (at most
 * MGMT_QUEUE_MAX waiting; past that 503).  A commit made, its plan waits
 * for the pass under way, and passes wait for the plan: both open the
 * providers.  The answer is
 *   202 {"status": "committed", "commit", "branch", "plan", ...}
 *       ("plan": null and "planError" when it could not be made)
 *   200 {"status": "unchanged"}        the file already says so
 *   400 a request that is not one (a hostile name, a bad body)
 *   404 no such tenant   409 it exists, or the file changed under it
 *   422 {"status": "invalid", "errors": [{file, line, column, message}]}
 *   502/503 the repository refused the push, or cannot be reached.
 * Once a commit is on the tracked branch, a pass is queued for the tenant
 * (with api.mode: branch nothing is: the branch waits for review).
 *
 * Loop thread only, like the rest of the daemon.
 */
#ifndef TD_MGMT_H
#define TD_MGMT_H

#include "base/compat.h"

#include "server/httpd.h"

#define MGMT_QUEUE_MAX 32

struct daemon;
struct mgmt;

/* The management API of `d` (its config, loop and metrics). */
struct mgmt *mgmt_new(struct daemon *d);

/* Frees m; nothing may be in flight (mgmt_busy() false). */
void mgmt_free(struct mgmt *m);

/* Whether a write is under way (running, or its plan waiting). */
bool mgmt_busy(const struct mgmt *m);

/* Stopping: the writes not started are answered 503; the one running
 * ends and is answered (a plan not started yet is left out). */
void mgmt_stop(struct mgmt *m);

/*
 * For daemon__dispatch(), when no pass runs: starts the plan of a write
 * that waits for the providers.  True while a plan waits or runs: the
 * pass must wait, as a write's plan opens the same providers (their
 * sweeps of temp files must not meet a pass's writes).
 */
bool mgmt_dispatch(struct mgmt *m);

/* The routes (api.c's table); `rest` is what follows /api/v1/tenants. */
void mgmt_post_tenant(struct daemon *d, const struct httpd_request *req,
                      const char *rest, struct httpd_response *resp);
void mgmt_put_tenant(struct daemon *d, const struct httpd_request *req,
                     const char *rest, struct httpd_response *resp);
void mgmt_patch_tenant(struct daemon *d, const struct httpd_request *req,
                       const char *rest, struct httpd_response *resp);
void mgmt_delete_tenant(struct daemon *d, const struct httpd_request *req,
                        const char *rest, struct httpd_response *resp);
void mgmt_get_reconcile(struct daemon *d, const struct httpd_request *req,
                        const char *rest, struct httpd_response *resp);

#endif
