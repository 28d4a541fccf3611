/*
 * apiclient.h - the daemon's API from the command line: `tenantd
 * reconcile`, `tenantd suspend`, `tenantd resume`.
 *
 * The commands talk to a running `tenantd run` over HTTP (libcurl,
 * blocking: a command does one thing and waits for it), with the token
 * from TENANTD_TOKEN as "Authorization: Bearer".  Changes go through the
 * management API (mgmt.h), so each is a commit to the manifest
 * repository like any other change; nothing here touches Git or a
 * provider.  Answers are capped (APICLIENT_MAX_ANSWER) and every request
 * has a deadline.
 *
 *   struct apiclient_opts o = APICLIENT_OPTS_INIT;
 *   o.server = "http://127.0.0.1:9400";  o.token = getenv("TENANTD_TOKEN");
 *   return apiclient_suspend(&o, "acme", true, stdout, stderr);
 */
#ifndef TD_APICLIENT_H
#define TD_APICLIENT_H

#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>

#define APICLIENT_DEFAULT_SERVER "http://127.0.0.1:9400"
#define APICLIENT_MAX_ANSWER (8 * 1024 * 1024)

struct apiclient_opts {
  unsigned version;
  const char *server;  /* base URL, no trailing path */
  const char *token;   /* NULL: no Authorization header */
  uint64_t timeout_ms; /* one request, connecting included */
  uint64_t wait_ms;    /* reconcile --wait: the longest wait */
  uint64_t poll_ms;    /* reconcile --wait: between looks */
};

#define APICLIENT_OPTS_VERSION 1
/* clang-format off */
#define APICLIENT_OPTS_INIT {APICLIENT_OPTS_VERSION, \
    APICLIENT_DEFAULT_SERVER, NULL, 120000, 600000, 500}
/* clang-format on */

/*
 * One request: `path` with its query ("/api/v1/reconcile?tenant=acme"),
 * a JSON body or NULL.  0 with the HTTP status and the answer (a JSON
 * value, the caller's; NULL when the answer is not JSON), or -1 with
 * td_error_last() when no answer came (refused, timed out, too big).
 */
int apiclient_call(const struct apiclient_opts *o, const char *method,
                   const char *path, const char *body, long *status,
                   json_t **answer);

/*
 * POST /api/v1/reconcile?tenant=TENANT; with `wait`, polls GET
 * /api/v1/reconcile until the pass that answers the request is done and
 * prints the tenant's state.  The exit code: 0 queued (without wait) or
 * ended Ready or Suspended, 1 otherwise.
 */
int apiclient_reconcile(const struct apiclient_opts *o, const char *tenant,
                        bool wait, FILE *out, FILE *err);

/*
 * PATCH /api/v1/tenants/TENANT {"suspend": true|false}: the change as a
 * commit; prints it (or the refusal, with positions).  0 committed or
 * already so, 1 otherwise.
 */
int apiclient_suspend(const struct apiclient_opts *o, const char *tenant,
                      bool suspend, FILE *out, FILE *err);

#endif
