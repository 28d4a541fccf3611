/*
 * dirpass.h - a reconcile pass over a manifest directory whose statuses
 * are files in another directory, and the verdict every pass ends in.
 *
 * The directory pass is the Git pass's sibling (git/gitpass.h) for a
 * working tree: reconcile_once() over `dir`, reading the statuses in
 * `status_dir`, and for apply writing there the statuses that changed
 * (removing those whose tenant is gone).  A status that cannot be written
 * counts as a failed tenant: without it the next pass cannot prune safely.
 *
 *   struct dirpass_opts o = DIRPASS_OPTS_INIT;
 *   o.rec.dir = ...; o.rec.providers = ...; o.rec.out = ...; ...
 *   o.status_dir = ...;
 *   rc = dirpass_run(&o, &res);
 *   exit(pass_exit_code(res.result, detailed));
 *
 * Verdict: whatever a pass reconciled, its caller reports one of the
 * named results below, judged by pass_judge() in one place for the
 * directory pass and the Git pass alike, and turns it into the process's
 * exit code with pass_exit_code().
 */
#ifndef TD_DIRPASS_H
#define TD_DIRPASS_H

#include "base/compat.h"

#include "engine/reconcile.h"

/* How a pass went, best first. */
enum pass_result {
  PASS_OK,              /* converged; or a plan with nothing to change */
  PASS_CHANGES_PENDING, /* a plan that would change something */
  PASS_UNSETTLED,       /* it ran, but not everything ended well */
  PASS_ERROR,           /* it could not run (td_error_last() says why) */
};

/* What a pass was for, which decides what counts as unsettled. */
enum pass_mode {
  /* A plan: only a pass the delete guard refuses is unsettled. */
  PASS_MODE_PLAN,
  /* A pull request's plan: a held tenant (an invalid manifest) is
   * unsettled too, so the check fails before the merge. */
  PASS_MODE_PLAN_GATE,
  /* An apply: anything short of every tenant converged, from the newest
   * manifests, with its status kept where it belongs. */
  PASS_MODE_APPLY,
};

/*
 * The one judgement of a pass that ran.  `source_error`: the manifests
 * were the last good ones, the source could not be read; `persisted`:
 * every status reached its home (written, or pushed).  Both count for
 * apply only.
 */
enum pass_result pass_judge(enum pass_mode mode,
                            const struct reconcile_summary *sum,
                            bool source_error, bool persisted);

/* Process exit codes: 0 ok, 1 error, 2 changes pending. */
enum pass_exit {
  PASS_EXIT_OK = 0,
  PASS_EXIT_FAIL = 1,
  PASS_EXIT_CHANGES = 2,
};

/* The exit code of a pass's result; changes pending exit 2 only when
 * `detailed` (plan --detailed-exitcode), else 0. */
int pass_exit_code(enum pass_result result, bool detailed);

struct dirpass_opts {
  unsigned version;
  /* The pass: rec.dir, providers, apply, output...; rec.store is the
   * directory pass's own. */
  struct reconcile_opts rec;
  const char *status_dir; /* <status_dir>/<tenant>.yaml */
};

#define DIRPASS_OPTS_VERSION 1
#define DIRPASS_OPTS_INIT                           \
  {                                                 \
    DIRPASS_OPTS_VERSION, RECONCILE_OPTS_INIT, NULL \
  }

struct dirpass_result {
  struct reconcile_summary sum; /* failed counts unwritable statuses */
  enum pass_result result;
};

/*
 * Runs one pass and, with o->rec.apply, writes its statuses; each status
 * that cannot be written is reported on o->rec.err.  0 when the pass ran
 * (see res), -1 with td_error_last() when it could not (res->result is
 * then PASS_ERROR).
 */
int dirpass_run(const struct dirpass_opts *o, struct dirpass_result *res);

#endif
