/*
 * notify.h - tenants' state changes, sent to the targets of the config's
 * `notify` list (config.h):
 *
 *   webhook        POST url, a JSON body
 *                    {"tenant", "state", "previous", "reason", "commit",
 *                     "time"}
 *                  signed, when the target has secretEnv, with
 *                    X-Tenantd-Signature: sha256=<hex HMAC-SHA256 of the
 *                    body under the secret>
 *   slack          POST url (a Slack-compatible incoming webhook),
 *                    {"text": "..."}
 *   commit-status  POST url/repos/<repository>/statuses/<commit>, as
 *                  GitHub and Gitea take it (Gitea's url ends in
 *                  /api/v1), with "Authorization: token <secret>": the
 *                  state of the tenant's applied manifest commit, under
 *                  the context "<context>/<tenant>"
 *
 * Every request also carries X-Tenantd-Event: tenant-state and
 * X-Tenantd-Delivery: <id>, the same id on each retry of one message.
 *
 *   struct notify *n = notify_new(loop, cfg->notify, cfg->nnotify, metric);
 *   notify_event(n, &ev);                  -- each state change
 *   notify_configure(n, targets, ntargets); -- after SIGHUP
 *   notify_forget(n, "acme");               -- a tenant that is gone
 *   notify_close(n, closed, arg);           -- at shutdown
 *
 * What is sent: a tenant turning Failed, Stalled, Held or
 * AwaitingApproval, and one of those recovering to Ready (notify_wanted).
 * Per target and tenant:
 *   - one message per transition;
 *   - at most one message per minInterval: a change within it waits for
 *     the interval's end, and is then sent as the tenant is then (its
 *     newest state, "previous" being the state last sent), or not at all
 *     when the tenant is back where the last message left it, so a
 *     flapping tenant does not flood anyone;
 *   - a failed delivery (unreachable, timed out, 5xx, 429) is retried
 *     after backoff.base, doubling up to backoff.max, `attempts` times
 *     in all; another answer (a 4xx) is final; a retry that a newer
 *     message of the same tenant overtook is dropped, so messages never
 *     arrive out of order.
 * At most NOTIFY_QUEUE_MAX messages wait per target; past that the
 * oldest waiting one is dropped, logged and counted.
 *
 * Nothing blocks: requests go through curl_uv on the loop, and no pass
 * waits for them.  Nothing secret goes out or into the log: bodies hold
 * names, states, status messages (written by providers without
 * credentials) and commit ids; the log names a target by its name, never
 * its URL (a Slack URL is itself a secret).  Redirects are not followed.
 * Loop thread only.
 */
#ifndef TD_NOTIFY_H
#define TD_NOTIFY_H

#include "base/compat.h"

#include <uv.h>

#include "server/config.h"
#include "server/metrics.h"

#define NOTIFY_QUEUE_MAX 1000

struct notify;

/* A state change; every string borrowed for the call. */
struct notify_event {
  const char *tenant;
  const char *state;    /* "Failed", ... (git/statusview.h's names) */
  const char *previous; /* NULL: not known (the first pass after start) */
  const char *reason;   /* the status' message; may be NULL */
  const char *commit;   /* the manifest commit it runs; may be NULL */
};

/* Whether going from `previous` (NULL: not known) to `state` is news. */
bool notify_wanted(const char *previous, const char *state);

/* `targets` are copied.  `counter` is a counter family labelled
 * "target,result" (sent, retried, failed, dropped, superseded), or
 * NULL. */
struct notify *notify_new(uv_loop_t *loop, const struct config_notify *targets,
                          size_t ntargets, struct metric *counter);

/* A tenant changed state; any tenant, any states: what is not news
 * (notify_wanted) only settles a message waiting for that tenant. */
void notify_event(struct notify *n, const struct notify_event *ev);

/* New targets (a reloaded config): a target whose settings did not change
 * keeps its messages and its tenants' intervals; the others' waiting
 * messages are dropped and their requests in flight allowed to finish. */
void notify_configure(struct notify *n, const struct config_notify *targets,
                      size_t ntargets);

/* Forgets what the targets remember of a tenant (it is gone). */
void notify_forget(struct notify *n, const char *tenant);

/* Messages waiting now, in all (tests, logs). */
size_t notify_pending(const struct notify *n);

/* Cancels what is in flight and drops what waits (logged); `closed` runs
 * once every handle is closed and n is freed.  n may be NULL. */
void notify_close(struct notify *n, void (*closed)(void *arg), void *arg);

/* The body and headers a target gets for a message, without sending
 * them (tests): a malloc'd body, and header lines into hdr (at most
 * `cap`, each malloc'd; the count in *nhdr).  NULL when the target has
 * nothing to send for it (a commit status without a commit). */
char *notify_render(const struct config_notify *t,
                    const struct notify_event *ev, const char *time,
                    const char *id, char **hdr, size_t cap, size_t *nhdr,
                    char **url);

#endif
