/*
 * statusview.h - status for people and scripts: `tenantd status` and
 * `tenantd log`, read from the status branch.
 *
 *   TENANT       READY                    APPLIED       LAST CHANGE           MESSAGE
 *   mwc-murata   True                     05a131a18bbd  2026-11-23T10:00:00Z  11 resources, 0 failed
 *   mwc-sequans  False (InvalidManifest)  05a131a18bbd  ...                   tenants/...:7:9: ...
 */
#ifndef TD_STATUSVIEW_H
#define TD_STATUSVIEW_H

#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>

#include "git/writeback.h"

/* The table of every tenant (or just `tenant`, followed by its status
 * file), or the same as JSON.  TD_ENOTFOUND when `tenant` has none. */
int statusview_table(struct writeback *wb, const char *tenant, bool json,
                     FILE *out);

/* A tenant's status commits, newest first: time, commit, result, the
 * manifest commit, then its event lines.  `limit` 0 shows all. */
int statusview_log(struct writeback *wb, const char *tenant, size_t limit,
                   bool json, FILE *out);

/* One tenant's row of the JSON table (tenant, ready, reason, source,
 * lastChange, message, sourceError, stalled, suspended, resources); `st`
 * NULL gives an Unknown row with `error`. */
json_t *statusview_row(const char *tenant, const struct tenant_status *st,
                       const char *error);

/* The row plus every condition, the inventory, stalled resources and the
 * last error: GET /api/v1/tenants/<name>. */
json_t *statusview_detail(const struct tenant_status *st);

#endif
