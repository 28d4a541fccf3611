#include "base/compat.h"

#include "engine/dirpass.h"
#include "engine/status.h"

/* ---- the verdict ---- */

static bool settled(const struct reconcile_summary *sum)
{
  return !sum->failed && !sum->conflicts && !sum->held && !sum->stalled &&
         !sum->awaiting;
}

enum pass_result pass_judge(enum pass_mode mode,
                            const struct reconcile_summary *sum,
                            bool source_error, bool persisted)
{
  if (sum->refused)
    return PASS_UNSETTLED;
  switch (mode) {
  case PASS_MODE_APPLY:
    return settled(sum) && !source_error && persisted ? PASS_OK
                                                      : PASS_UNSETTLED;
  case PASS_MODE_PLAN_GATE:
    if (sum->held)
      return PASS_UNSETTLED;
    break;
  case PASS_MODE_PLAN:
    break;
  }
  return sum->changes ? PASS_CHANGES_PENDING : PASS_OK;
}

int pass_exit_code(enum pass_result result, bool detailed)
{
  switch (result) {
  case PASS_OK:
    return PASS_EXIT_OK;
  case PASS_CHANGES_PENDING:
    return detailed ? PASS_EXIT_CHANGES : PASS_EXIT_OK;
  case PASS_UNSETTLED:
  case PASS_ERROR:
    break;
  }
  return PASS_EXIT_FAIL;
}

/* ---- the directory pass ---- */

int dirpass_run(const struct dirpass_opts *o, struct dirpass_result *res)
{
  struct status_dir_store store;
  struct reconcile_opts rec = o->rec;
  struct reconcile_report report;
  int rc;

  assert(o->version == DIRPASS_OPTS_VERSION && o->status_dir);
  memset(res, 0, sizeof(*res));
  status_dir_store_init(&store, o->status_dir);
  rec.store = &store.base;
  rc = reconcile_once(&rec, &report);
  if (rc == 0 && rec.apply)
    report.sum.failed +=
        reconcile_report_write_dir(&report, o->status_dir, rec.err);
  res->sum = report.sum;
  if (rc < 0)
    res->result = PASS_ERROR;
  else
    res->result = pass_judge(rec.apply ? PASS_MODE_APPLY : PASS_MODE_PLAN,
                             &res->sum, false, true);
  reconcile_report_release(&report);
  return rc;
}
