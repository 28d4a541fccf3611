/*
 * reconcile.h - one pass: load, compose, observe, plan, and (for apply)
 * apply, yielding each tenant's new status and what happened to it.
 *
 * The pass reads manifests from `files` (a git tree) or `dir`, and
 * statuses through a status_store; it never writes a status itself.  It
 * returns an outcome per tenant and the caller persists them: files in a
 * directory, or one commit on the status branch (writeback.h).
 *
 * Safety first: a tenant whose manifest is invalid, or whose resources
 * could not be observed, is held (nothing planned, nothing deleted); an
 * invalid platform.yaml or tier catalog holds every tenant.  A tenant
 * whose file is gone but who has a status is pruned, within the
 * blast-radius guard.
 *
 * Cost follows the selection: with `only` set, just those tenants are
 * composed, observed and planned; the rest of the repository is loaded for
 * validation (cross-tenant rules) and nothing more.
 */
#ifndef TD_RECONCILE_H
#define TD_RECONCILE_H

#include "base/compat.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>

#include "manifest/manifest.h"
#include "engine/plan.h"
#include "engine/status.h"
#include "base/strset.h"

/*
 * Trust in the manifests (safety rules 8 and 9), judged by the Git pass
 * (git/verify.h) and handed down as plain words.  Each string is
 * borrowed for the pass.
 */
struct reconcile_trust {
  /* source.verify is configured: every status keeps SourceUntrusted. */
  bool verify;
  /* Set when the commit is not trusted: every tenant of the pass is held
   * (nothing planned, nothing deleted) with SourceUntrusted True and
   * this message. */
  const char *untrusted;
  /* Approval: the gated environments (NULL: no gating).  A change there
   * (create, update, replace, delete, orphan; not a drift correction,
   * which restores the spec last applied, approved then) is held as
   * needing approval unless `approved`. */
  const struct strset *gated;
  bool approved;
  const char *approved_by; /* who approved, for messages ("" when not) */
  const char *approvers;   /* who may approve, for plans and messages */
  const char *commit;      /* the manifest commit judged */
  /* How the head is signed, for plan headers: "signed by ..." or "not
   * signed"; NULL: not checked. */
  const char *signature;
};

struct reconcile_opts {
  unsigned version;
  const struct manifest_files *files; /* the manifests, or NULL: read dir */
  const char *dir;                    /* the manifest directory */
  const char *source; /* what status records as applied: a commit id, or
                         NULL for "dir:<absolute dir>" */
  struct status_store *store;
  /* Tenants to reconcile (by name or file stem), NULL for all. */
  const struct strset *only;
  /* Tenants whose manifests changed since their status's source; their
   * status takes `source`.  NULL: all of them. */
  const struct strset *changed;
  /* Inventory entries of tenants outside `only`, for the guard's ratio. */
  size_t managed_outside;
  /* Set when the source could not be fetched: every tenant of the pass
   * gets SourceError True with this message (its last good desired state
   * is what the pass applies). */
  const char *source_error;
  const json_t *providers; /* {"<instance>": {"type": ..., ...}} */
  bool apply;              /* false: plan only, change nothing */
  long allow_delete;       /* --allow-delete N or the commit trailer, or -1 */
  unsigned concurrency;
  unsigned max_attempts;
  uint64_t backoff_ms;
  uint64_t health_timeout_ms;
  enum plan_format format;   /* for plan output */
  bool progress;             /* a line per finished resource (apply) */
  bool print_diags;          /* manifest problems to `err` (text) */
  bool plan_diags;           /* the problems of the pass's files, in the plan */
  FILE *out;                 /* plans, progress, summary */
  FILE *err;                 /* diagnostics */
  const atomic_bool *cancel; /* stop starting changes (apply.h) */
  /* A caller that passes again and again (the daemon) keeps the loaded
   * manifests here: in, the previous pass's repo (or NULL), consumed;
   * out, this pass's.  Unchanged files are then not parsed again
   * (manifest_repo_reload).  NULL: loaded and freed within the pass. */
  struct manifest_repo **model;
  /* *model holds the manifests of `files` already (loaded from the same
   * commit): it is used as it is, and `files` is not read. */
  bool model_current;
  /* Plan output (plan.h): the most bytes per Markdown part (0:
   * PLAN_PART_MAX_DEFAULT), and where the manifests come from, for the
   * header.  NULL: unknown, not shown; plan_head NULL takes `source` when
   * the manifests come from `files` (a commit), and `dir` is shown
   * otherwise.  The repository's URL is shown without credentials. */
  size_t plan_max_bytes;
  const char *plan_repository;
  const char *plan_base;
  const char *plan_head;
  const struct reconcile_trust *trust; /* NULL: nothing is verified */
  /* Applying: the plans of a refused pass are not printed (a caller that
   * throws `out` away, the daemon), so none is kept for it. */
  bool quiet_plans;
  /* Tenants composed, observed and planned at a time (0: the default,
   * RECONCILE_WINDOW); a window also ends at a few hundred resources when
   * every instance reads nearby (provider.h), a few thousand otherwise.
   * Only memory and the moments of I/O depend on it: plans, statuses and
   * events are the same whatever it is. */
  size_t window;
};

#define RECONCILE_WINDOW 256

#define RECONCILE_OPTS_VERSION 5

/* The defaults of a pass, the one place they are written: the CLI, the
 * daemon and a config file without these keys all start from them. */
#define RECONCILE_DEFAULT_CONCURRENCY 8
#define RECONCILE_DEFAULT_MAX_ATTEMPTS 5
#define RECONCILE_DEFAULT_BACKOFF_MS 100
#define RECONCILE_DEFAULT_HEALTH_TIMEOUT_MS 60000

/* Every tenant, plan only, no --allow-delete, text plans, the defaults
 * above; the caller adds the manifests, store, providers, out and err. */
#define RECONCILE_OPTS_INIT                                   \
  {                                                           \
    .version = RECONCILE_OPTS_VERSION, .allow_delete = -1,    \
    .concurrency = RECONCILE_DEFAULT_CONCURRENCY,             \
    .max_attempts = RECONCILE_DEFAULT_MAX_ATTEMPTS,           \
    .backoff_ms = RECONCILE_DEFAULT_BACKOFF_MS,               \
    .health_timeout_ms = RECONCILE_DEFAULT_HEALTH_TIMEOUT_MS, \
    .format = PLAN_TEXT                                       \
  }

struct reconcile_summary {
  size_t tenants, held, changes, applied, failed, skipped, conflicts, stalled,
      drifted;
  /* Tenants with changes that wait for an approver, and those changes. */
  size_t awaiting, awaiting_changes;
  bool refused;
  /* Resources found created under their own marker by an interrupted pass
   * and taken into the inventory (not counted in `applied`). */
  size_t adopted;
};

/* How a tenant's pass ended, from best to worst. */
enum tenant_result {
  RESULT_READY,
  RESULT_SUSPENDED,
  RESULT_STALLED,
  RESULT_HELD,
  RESULT_FAILED,
  RESULT_REFUSED,
  RESULT_COUNT
};

/* "ready", "suspended", "stalled", "held", "failed", "refused" */
extern const char *const tenant_result_names[RESULT_COUNT];

/* Counts of what a pass did to a tenant, for commit subjects. */
enum outcome_count {
  OUT_CREATED,
  OUT_ADOPTED, /* found created by an interrupted pass, now inventoried */
  OUT_UPDATED,
  OUT_REPLACED,
  OUT_DELETED,
  OUT_ORPHANED,
  OUT_DRIFT_CORRECTED,
  OUT_DRIFT_DETECTED,
  OUT_FAILED,
  OUT_COUNT_MAX
};

/* "created", "adopted", "updated", ..., "drift corrected", ... */
extern const char *const outcome_count_names[OUT_COUNT_MAX];

struct reconcile_outcome {
  char *tenant; /* owned */
  /* The status to persist (owned), or NULL when the tenant's file is gone
   * and nothing is left to manage: its status is to be removed. */
  struct tenant_status *status;
  bool changed;    /* differs from what the store held: persist it */
  bool unwritable; /* the stored status could not be read: keep it as is */
  enum tenant_result result;
  size_t count[OUT_COUNT_MAX];
  /* One line per event, "created service/web.prod.acme"; owned. */
  char **events;
  size_t nevents;
};

struct reconcile_report {
  struct reconcile_outcome *v; /* sorted by tenant */
  size_t n;
  struct reconcile_summary sum;
};

/*
 * 0 when the pass ran (see the report for how it went), -1 with
 * td_error_last() when it could not start (unreadable dir, bad provider
 * config).  The report is filled either way; release it.
 */
int reconcile_once(const struct reconcile_opts *o,
                   struct reconcile_report *report);

void reconcile_report_release(struct reconcile_report *report);

/*
 * Opens every provider instance of `providers` (as a pass would) and
 * closes it again: 0, or -1 with td_error_last() naming the instance a
 * pass could not open.  For a caller that says it is ready before its
 * first pass (the daemon).
 */
int reconcile_check_providers(const json_t *providers);

/*
 * Writes the changed statuses of a report to `dir` (removing those whose
 * tenant is gone); the number that could not be written, each reported on
 * `err`.
 */
size_t reconcile_report_write_dir(const struct reconcile_report *report,
                                  const char *dir, FILE *err);

#endif
