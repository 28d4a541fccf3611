/*
 * statusview.h - status for people and scripts: `tenantd status` and
 * `tenantd log`, read from the status branch and the manifests at the
 * tracked branch's tip (gitpass_view_open in git/gitpass.h).
 *
 *   TENANT          STATE                   APPLIED       SINCE                 MESSAGE
 *   greenwood-high  Ready                   05a131a18bbd  2026-11-23T10:00:00Z  12 resources, 0 failed
 *   mwc-murata      Held                    05a131a18bbd  2026-11-23T10:05:00Z  tenants/mwc-murata.yaml:9:9: unknown tier 'platinum' ...
 *   mwc-sequans     Suspended               05a131a18bbd  2026-11-23T10:05:00Z  suspended (spec.suspend): observed, nothing changed
 *   zeta            AwaitingFirstReconcile  -             -                     in the manifests at 9c1e33a0b2f4, not reconciled yet
 *
 * Each tenant is in one state, judged from its status file (the first
 * that applies, in this order):
 *
 *   Held                    nothing was changed: an invalid manifest
 *                           (MESSAGE at file:line:col), resources that
 *                           could not be observed, or a pass the delete
 *                           guard refused
 *   Failed                  a change failed (MESSAGE names the resource)
 *   Stalled                 a resource would not converge (the
 *                           convergence breaker): MESSAGE names it, with
 *                           the value wanted and the value found
 *   Suspended               spec.suspend: true: observed, nothing changed
 *   Ready                   converged
 *   AwaitingFirstReconcile  in the manifests at the tip, no status yet
 *   SourceUntrusted         reserved: the tip is not signed by a trusted
 *                           key (safety rule 8)
 *   AwaitingApproval        reserved: a change to an approval-gated
 *                           environment waits for an approver (rule 9)
 *   Unknown                 its status file cannot be read
 *
 * APPLIED is the manifest commit the tenant runs: for a held tenant, or a
 * suspended one whose change waits, the one it last applied, not the
 * newest.  SINCE is when it entered its state (the newest flip of its
 * Ready, Stalled or Suspended condition).  A failed fetch of the source
 * prefixes MESSAGE with "[source error]".  The JSON rows have the same
 * fields (tenant, state, source, since, message, resource) and the
 * conditions' flags.
 */
#ifndef TD_STATUSVIEW_H
#define TD_STATUSVIEW_H

#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>

#include "git/gitpass.h"
#include "git/writeback.h"

enum tenant_state {
  TENANT_HELD,
  TENANT_FAILED,
  TENANT_STALLED,
  TENANT_SUSPENDED,
  TENANT_READY,
  TENANT_AWAITING_FIRST_RECONCILE,
  TENANT_SOURCE_UNTRUSTED,
  TENANT_AWAITING_APPROVAL,
  TENANT_UNKNOWN,
  TENANT_STATE_COUNT
};

/* "Held", "Failed", ..., "AwaitingFirstReconcile", ..., "Unknown" */
extern const char *const tenant_state_names[TENANT_STATE_COUNT];

/* The state of a status; `st` NULL: Unknown. */
enum tenant_state statusview_state(const struct tenant_status *st);

/* A state by name, case ignored; -1 when there is none. */
int statusview_state_parse(const char *name);

/* Which rows a table shows. */
struct statusview_filter {
  unsigned states;    /* bit (1u << state) per state shown; 0: all */
  const char *prefix; /* tenants whose name begins so; NULL: all */
};

/*
 * The table of every tenant (or just `tenant`, followed by its status
 * file), or the same as JSON, on `out`; notes on `err`.  Tenants with a
 * status and tenants in the manifests alike, sorted by name.
 *
 * TD_ENOTFOUND when `tenant` is neither on the status branch nor in the
 * manifests (the message suggests a close name), and when there is no
 * status branch and the manifests list no tenant: "no status yet".  With
 * no status branch but tenants in the manifests, each is shown as
 * AwaitingFirstReconcile, and `err` says the branch is missing.
 */
int statusview_table(const struct gitpass_view *v, const char *tenant,
                     const struct statusview_filter *f, bool json, FILE *out,
                     FILE *err);

/*
 * A tenant's status commits, newest first: time, commit, the tenant's own
 * result in that commit (not the commit's worst), the manifest commit,
 * then its event lines.  `limit` 0 shows all.  TD_ENOTFOUND when the
 * tenant is unknown (neither on the branch, nor in the manifests, nor in
 * any status commit), with a close name suggested; a tenant in the
 * manifests never reconciled has an empty log, said on `err`.
 */
int statusview_log(const struct gitpass_view *v, const char *tenant,
                   size_t limit, bool json, FILE *out, FILE *err);

/* One tenant's row of the JSON table (tenant, ready, state, reason,
 * source, since, lastChange, message, resource, sourceError, stalled,
 * suspended, resources); `st` NULL gives an Unknown row with `error`. */
json_t *statusview_row(const char *tenant, const struct tenant_status *st,
                       const char *error);

/* The row plus every condition, the inventory, stalled resources and the
 * last error: GET /api/v1/tenants/<name>. */
json_t *statusview_detail(const struct tenant_status *st);

#endif
