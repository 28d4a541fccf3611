/*
 * reconcile.h - one pass over a manifest directory: load, compose,
 * observe, plan, and (for apply) apply and write status.
 *
 * Safety first: a tenant whose manifest is invalid, or whose resources
 * could not be observed, is held (nothing planned, nothing deleted); an
 * invalid platform.yaml or tier catalog holds every tenant.  A tenant
 * whose file is gone but whose status is in the status directory is
 * pruned, within the blast-radius guard.
 */
#ifndef TD_RECONCILE_H
#define TD_RECONCILE_H

#include "compat.h"

#include <jansson.h>
#include <stdio.h>

#include "plan.h"

struct reconcile_opts {
  unsigned version;
  const char *dir;         /* the manifest repository */
  const char *status_dir;  /* <tenant>.yaml status files */
  const json_t *providers; /* {"<instance>": {"type": ..., ...}} */
  bool apply;              /* false: plan only, change nothing */
  long allow_delete;       /* --allow-delete N, or -1 */
  unsigned concurrency;
  unsigned max_attempts;
  uint64_t backoff_ms;
  uint64_t health_timeout_ms;
  enum plan_format format; /* for plan output */
  bool progress;           /* a line per finished resource (apply) */
  FILE *out;               /* plans, progress, summary */
  FILE *err;               /* diagnostics */
};

#define RECONCILE_OPTS_VERSION 1

struct reconcile_summary {
  size_t tenants, held, changes, applied, failed, skipped, conflicts, stalled,
      drifted;
  bool refused;
};

/* 0 when the pass ran (see the summary for how it went), -1 with
 * td_error_last() when it could not start (unreadable dir, bad config). */
int reconcile_once(const struct reconcile_opts *o,
                   struct reconcile_summary *sum);

#endif
