/*
 * plan.h - what one pass would change, per tenant, with the safety rules.
 *
 * Input per tenant: the desired resources (compose), what providers
 * observed for them and for every inventoried resource, and the last
 * status (inventory).  Output: actions in an order apply can follow
 * (creates and updates after their dependencies; deletes after
 * everything else, dependents first), each with its field-level changes.
 *
 * Safety rules (DESIGN.md), each enforced here:
 *  1. An invalid tenant is held: plan_tenant_hold() plans nothing for it.
 *  2. Only inventoried resources are pruned, and only when the provider
 *     shows tenantd's marker for that very id; others are reported.
 *  3. database and bucket are orphaned, not deleted, unless their policy
 *     (recorded in the inventory when applied) says Delete.
 *  4. The blast-radius guard: plan_guard() refuses a pass whose deletes
 *     exceed maxDeletePercent of the managed resources, unless the caller
 *     allows exactly that many.
 *  5. A suspended tenant is observed and reported; every action is held.
 *  6. A resource corrected `stallAfter` times without staying converged is
 *     Stalled: planned as such and not touched again.
 *
 * Ownership: a plan owns its actions, their resources and JSON values.
 */
#ifndef TD_PLAN_H
#define TD_PLAN_H

#include "base/compat.h"

#include <jansson.h>

#include "base/diag.h"
#include "engine/diff.h"
#include "model/resource.h"
#include "engine/status.h"

enum plan_kind {
  PLAN_NOOP,
  PLAN_CREATE,
  PLAN_UPDATE,
  PLAN_REPLACE,
  PLAN_DELETE,
  PLAN_ORPHAN,   /* leave it at the provider, stop managing it */
  PLAN_CONFLICT, /* exists without our marker: reported, untouched */
  PLAN_STALLED,  /* the convergence breaker tripped: untouched */
  PLAN_KIND_COUNT
};

extern const char *const plan_kind_names[PLAN_KIND_COUNT];

struct plan_action {
  enum plan_kind kind;
  struct resource *res; /* owned; synthesised from the inventory for
                         * deletes */
  json_t *observed;     /* owned; NULL when absent at the provider */
  /* The attributes that change.  A create lists every attribute of the
   * desired spec (references resolved), each with `observed` NULL. */
  struct diff_result diff;
  bool drift;   /* the spec did not change since the last apply */
  bool unknown; /* some value is known only after apply */
  bool held;    /* suspended, or refused by the guard: not applied */
  /* A change to an approval-gated environment of a commit no approver
   * signed: planned, not applied (counted as a change, not a delete). */
  bool needs_approval;
  /* Found at the provider under this very id's marker but missing from
   * the inventory: created by a pass that stopped before its status was
   * written.  Applying takes it into the inventory (noop, update or
   * replace as the diff says). */
  bool adopted;
  char *note;        /* why, for conflict / orphan / stalled; owned */
  unsigned attempts; /* corrections so far (convergence breaker) */
  /* resource_spec_hash() of the desired spec, as the inventory records
   * it; "" for a resource no longer desired, and for one without an
   * inventory entry in a plan only shown (plan_input.show_only). */
  char hash[17];
};

/*
 * What a tenant costs a month before and after the plan, in cents
 * (manifest.h's prices).  `from` is what its status recorded when it
 * was last applied (0 for a tenant never applied: `is_new`); `to` is
 * what its manifests say (0 for a tenant whose file is gone:
 * `removed`).  A side that cannot be said (a status from before costs
 * were recorded, a tier without a price) is not known, and a plan then
 * shows no cost line.  Tiers are NULL when there is none.
 */
struct plan_cost {
  bool from_known, to_known, is_new, removed;
  int64_t from, to;
  char *from_tier, *to_tier; /* owned */
};

struct tenant_plan {
  char *tenant;
  struct plan_action *v;
  size_t n;
  bool held;         /* invalid manifest: nothing planned */
  char *held_reason; /* owned: "tenants/x.yaml:3:5: ..." */
  bool suspended;
  bool drift_report; /* driftPolicy: report: drift is not corrected */
  size_t managed;    /* inventory size before the pass */
  size_t count[PLAN_KIND_COUNT];
  size_t drifted;
  size_t awaiting;       /* actions that need approval */
  struct plan_cost cost; /* filled by the caller, after planning */
};

/* Whether a plan changes what the tenant costs: both sides known and
 * different.  *change is to - from. */
bool plan_cost_changes(const struct plan_cost *c, int64_t *change);

/* Looks up what a provider observed for an id (NULL when absent). */
typedef const json_t *(*plan_observed_fn)(const char *id, void *arg);

struct plan_input {
  const char *tenant;
  struct resource_set *desired;     /* sorted; resources are taken over */
  const struct tenant_status *last; /* may be NULL (never applied) */
  plan_observed_fn observed;
  void *arg;
  bool suspended;
  bool drift_report;
  bool no_prune; /* policies.prune: false: removed resources are held */
  unsigned stall_after;
  /* Where the resources of removed items are made (NULL: malloc). */
  struct resource_pool *pool;
  /* The plan is only shown, never applied: a desired action's hash is
   * taken only where an inventory entry is compared with it (else
   * ""), since only apply records it. */
  bool show_only;
};

/* Builds a tenant's plan.  `in->desired` is emptied (ownership moves). */
struct tenant_plan *plan_tenant(const struct plan_input *in);

/* A held tenant: nothing is planned, `reason` says why. */
struct tenant_plan *plan_tenant_hold(const char *tenant, const char *reason,
                                     size_t managed);

void tenant_plan_free(struct tenant_plan *tp);

/* Deletes a pass would make (deletes and replaces). */
size_t tenant_plan_deletes(const struct tenant_plan *tp);

/*
 * Safety rule 4 over a pass: refuses (returns -1, message in buf) when the
 * deletes exceed max_percent of `managed`, unless allow == deletes.
 * allow < 0 means no override.
 */
int plan_guard(size_t deletes, size_t managed, int max_percent, long allow,
               char *buf, size_t cap);

/* Pending changes (anything but noop). */
size_t tenant_plan_changes(const struct tenant_plan *tp);

enum plan_format { PLAN_TEXT, PLAN_MARKDOWN, PLAN_JSON };

/* What a plan says besides the actions. */
struct plan_report {
  const char *refusal; /* the guard's refusal, or NULL */
  size_t deletes, managed;
  int max_percent;
  const struct diag_list *diags; /* manifest problems to show, or NULL */
  /* Where the manifests come from, for the header; each may be NULL.
   * Credentials, a query and a fragment in `repository` are never
   * printed. */
  const char *repository; /* the Git repository's URL */
  const char *base;       /* the commit compared against (a pull request's
                           * base), full or short id */
  const char *head;       /* the commit planned */
  const char *directory;  /* the manifest directory, without Git */
  const char *currency;   /* of the costs (the catalog's), or NULL */
  /* Trust: how the head is signed ("signed by ...", "not signed"), and
   * who may approve the changes that need approval; NULL: not said. */
  const char *signature;
  const char *approvers;
};

/*
 * Markdown (a pull-request comment) is cut into parts of at most
 * `max_bytes` bytes each (so at most that many characters), to fit a
 * comment's limit (65,536 on GitHub).  A part holds whole tenant sections;
 * a section alone longer than a part is cut at a line, with a note saying
 * how many lines were left out.
 *
 * When there is more than one part, each part begins with the line
 *
 *   <!-- tenantd plan part K/N -->
 *
 * (K from 1 to N), which GitHub does not render: a CI script splits the
 * output before each such line and posts each piece as a comment.  A plan
 * that fits in one part has no such line.  Every part says "part K of N"
 * in its heading and repeats the source and the totals.
 *
 * Markdown shows only the tenants with something to say (a change, a
 * conflict, a stalled resource, a held manifest), and counts the others
 * on one line.  A section of more than PLAN_FOLD_LINES lines is folded
 * (<details>), its summary still giving the tenant's counts, deletes in
 * bold.  Changes are in a ```diff block: "+" create, "-" delete, a
 * replace as a "-"/"+" pair, "!" update, conflict, stalled and orphan,
 * with each changed attribute as a "-" old / "+" new pair.
 *
 * Every format says how a plan changes what a tenant costs a month
 * (struct plan_cost): "+250/month: standard → premium", and the sum over
 * the plan's tenants; JSON gives each tenant's "cost" (null when it
 * cannot be said).
 *
 * Text and JSON are never cut.  In every format a create lists its
 * attributes (JSON: "changes" with "from": null), and an attribute whose
 * name says it holds a secret (plan_attr_sensitive) shows as
 * "(sensitive)", never its value.
 */
#define PLAN_PART_MAX_DEFAULT 60000
#define PLAN_PART_MIN 4000 /* smaller limits are raised to this */
#define PLAN_FOLD_LINES 20

struct plan_print_opts {
  unsigned version;
  enum plan_format format;
  size_t max_bytes; /* markdown: bytes per part; 0: PLAN_PART_MAX_DEFAULT */
};

#define PLAN_PRINT_OPTS_VERSION 1
#define PLAN_PRINT_OPTS_INIT                                  \
  {                                                           \
    PLAN_PRINT_OPTS_VERSION, PLAN_TEXT, PLAN_PART_MAX_DEFAULT \
  }

/* Prints plans grouped by tenant; deletions loud; the guard's verdict
 * when the pass deletes anything. */
void plan_print(struct tenant_plan *const *plans, size_t n,
                const struct plan_print_opts *po, const struct plan_report *rep,
                FILE *out);

/*
 * Text, piece by piece, for a caller that prints tenants as it plans them
 * (a pass planning its tenants a window at a time): the head (manifest
 * problems and the guard's verdict), each tenant's section, and the last
 * line.  plan_print() in PLAN_TEXT writes exactly these three in a row.
 * plan_print_text_tenant() returns the tenant's pending changes and adds
 * to *sums how it changes the monthly cost and what of it awaits
 * approval, for the last lines.
 */
struct plan_text_sums {
  int64_t cost;    /* cents a month */
  size_t awaiting; /* changes that need an approval */
};

void plan_print_text_head(const struct plan_report *rep, FILE *out);
size_t plan_print_text_tenant(const struct tenant_plan *tp,
                              struct plan_text_sums *sums, FILE *out);
void plan_print_text_foot(const struct plan_report *rep, size_t changes,
                          const struct plan_text_sums *sums, FILE *out);

/* Whether an attribute's name says it holds a secret (a password, a
 * token, a key): its value is then never printed. */
bool plan_attr_sensitive(const char *attr);

#endif
