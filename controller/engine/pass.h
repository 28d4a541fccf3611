/*
 * pass.h - a tenant as one reconcile pass carries it, shared by the
 * engine's files that make up the pass: reconcile.c runs the phases
 * (gather, observe, plan, apply) and outcome.c turns what they left into
 * the tenant's outcome and says what did not converge.  Internal to
 * controller/engine/.
 *
 * A tenant owns everything it points to except `doc` (the pass's
 * manifests) and `out` (the report's entry).
 */
#ifndef TD_PASS_H
#define TD_PASS_H

#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>

#include "engine/apply.h"
#include "engine/reconcile.h"

struct tenant {
  char *name;
  const struct manifest_doc *doc; /* NULL when its file is gone */
  struct tenant_status *last;     /* NULL when never applied */
  struct resource_set desired;
  struct resource_set removed; /* inventory items no longer desired */
  json_t *observed;            /* id -> observed object */
  char *hold;                  /* why nothing is planned */
  const struct diag *hold_at;  /* the manifest problem behind it, if any */
  bool status_unreadable;      /* never overwrite what we could not read */
  bool untrusted;              /* held: the source is not trusted */
  bool status_read;            /* `last` was read when it was gathered */
  struct tenant_plan *plan;
  struct reconcile_outcome *out;
};

/*
 * Fills t->out: its events and counts, and its new status, which takes
 * over t->last.  `run` is the pass's apply run, or NULL when nothing was
 * applied for t (a held tenant, a refused pass); `refusal` is the guard's
 * message when it refused the pass.  Adds what happened to `sum`.
 */
void reconcile__outcome(const struct reconcile_opts *o, struct tenant *t,
                        const struct apply_run *run, const char *refusal,
                        struct reconcile_summary *sum);

/*
 * Prints to `out` what in tenant plan `tp` did not converge in `run`:
 * why a held tenant was held; else what was adopted, then each failure,
 * conflict or stalled resource with what was skipped because of it
 * indented below it, and what was skipped for another reason on its
 * own.  Adds the skipped actions to `*skipped`.
 */
void reconcile__problems(FILE *out, const struct apply_run *run,
                         const struct tenant_plan *tp, size_t *skipped);

#endif
