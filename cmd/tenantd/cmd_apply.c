/* tenantd apply --once: one reconcile pass, status written. */
#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/cmd.h"
#include "cmd/tenantd/pass_args.h"

#define STR(x) #x
#define XSTR(x) STR(x)

/* apply's options, and no others: what only plan does (--format,
 * --detailed-exitcode, --ref, --base) is a usage error here. */
static const struct option apply_options[] = {
    {"once", no_argument, NULL, OPT_ONCE},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"status-dir", required_argument, NULL, OPT_STATUS_DIR},
    {"allow-delete", required_argument, NULL, OPT_ALLOW_DELETE},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"health-timeout", required_argument, NULL, OPT_HEALTH_TIMEOUT},
    {"set", required_argument, NULL, OPT_SET},
    {"repo", required_argument, NULL, OPT_REPO},
    {"branch", required_argument, NULL, OPT_BRANCH},
    {"status-branch", required_argument, NULL, OPT_STATUS_BRANCH},
    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
    {"all", no_argument, NULL, OPT_ALL},
    {"changed", no_argument, NULL, OPT_CHANGED},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* clang-format off */
void cmd_apply_help(FILE *out)
{
  fputs(
      "Usage: tenantd apply --once [DIR] [options]\n"
      "       tenantd apply --once --repo URL [--changed] [options]\n"
      "\n"
      "Reconciles every tenant once: observes, plans and applies the\n"
      "difference (drift made by hand included), then writes each\n"
      "tenant's status.  Prints a line per resource and a summary.  Exit\n"
      "status 0 when everything converged, 1 otherwise.\n"
      "\n"
      "With --repo (or --config): fetches the tracked branch, reconciles\n"
      "every tenant, commits the statuses that changed to the status\n"
      "branch, notes the manifest commit under refs/notes/tenantd and\n"
      "pushes both.  --changed, for CI on merge, reconciles only the\n"
      "tenants the new commits touched (all of them when platform.yaml or\n"
      "tiers.yaml changed, or on the first run) and those not yet Ready.\n"
      "The trailer 'Tenantd-Allow-Delete: N' on the manifest commit works\n"
      "as --allow-delete N.  If the fetch fails, the last fetched\n"
      "manifests are applied again and every tenant is marked SourceError.\n"
      "\n"
      "Options:\n"
      "  --once                 required: one pass (the daemon is 'run')\n"
      "  --state-dir D          the local provider's state "
      "(" PASS_ARGS_DEFAULT_STATE_DIR ")\n"
      "  --status-dir S         status files (" PASS_ARGS_DEFAULT_STATUS_DIR ")\n"
      "  --allow-delete N       accept a pass deleting exactly N resources\n"
      "  --concurrency N        provider calls at once "
      "(" XSTR(RECONCILE_DEFAULT_CONCURRENCY) ")\n"
      "  --health-timeout DUR   how long a service may take to turn healthy\n"
      "  --set local.KEY=VALUE  a local provider option (latencyMs,\n"
      "                         faultRate, faultClass, seed, healthDelayMs)\n"
      ARGS_GIT_OPTIONS_HELP
      "  --changed              only the tenants changed since the last\n"
      "                         status commit, and those not Ready (--repo)\n"
      "  --all                  every tenant (the default)\n"
      "  -h, --help             show this help\n",
      out);
}
/* clang-format on */

/* The summary line and, with --repo, where the source and status are. */
static void print_outcome(const struct pass_args *a,
                          const struct pass_outcome *out)
{
  const struct reconcile_summary *sum = &out->sum;
  const struct gitpass_result *git = &out->git;

  printf("%zu tenant%s: %zu changed, %zu failed, %zu skipped, "
         "%zu conflicts, %zu stalled, %zu held, %zu adopted%s\n",
         sum->tenants, sum->tenants == 1 ? "" : "s", sum->applied, sum->failed,
         sum->skipped, sum->conflicts, sum->stalled, sum->held, sum->adopted,
         sum->refused ? " (refused by the delete guard)" : "");
  if (!a->src.url)
    return;
  /* Where the time went, for benchmarks (tests/bench). */
  if (getenv("TENANTD_TIMING"))
    printf("timing: fetch %.4fs, to status commit %.4fs, push %.4fs\n",
           git->fetch_seconds, git->commit_seconds, git->push_seconds);
  printf("source %.12s%s; status %s%.12s%s\n", git->source,
         git->source_error ? " (last good: the fetch failed)" : "",
         git->status_commit[0] ? "commit " : "unchanged", git->status_commit,
         !git->pushed ? ", not pushed (kept in the cache)" : "");
}

int cmd_apply(int argc, char **argv)
{
  struct pass_args a;
  struct pass_outcome out;
  enum args_result r;
  int rc;

  pass_args_init(&a);
  r = pass_args_parse(&a, "apply", argc, argv, apply_options, cmd_apply_help);
  if (r == ARGS_RUN && !a.once)
    r = args_usage("apply", "%s",
                   "apply needs --once ('tenantd run' is "
                   "the daemon)");
  if (r == ARGS_RUN) {
    pass_args_run(&a, true, &out);
    if (out.result != PASS_ERROR)
      print_outcome(&a, &out);
    rc = pass_exit_code(out.result, false);
  } else {
    rc = args_exit_code(r);
  }
  pass_args_release(&a);
  return rc;
}
