/* tenantd plan: what applying the manifests would change. */
#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/cmd.h"
#include "cmd/tenantd/pass_args.h"

#define STR(x) #x
#define XSTR(x) STR(x)

/* plan's options, and no others: what only apply does (--once, --all,
 * --health-timeout) is a usage error here. */
static const struct option plan_options[] = {
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"status-dir", required_argument, NULL, OPT_STATUS_DIR},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"detailed-exitcode", no_argument, NULL, OPT_DETAILED},
    {"allow-delete", required_argument, NULL, OPT_ALLOW_DELETE},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"set", required_argument, NULL, OPT_SET},
    {"repo", required_argument, NULL, OPT_REPO},
    {"branch", required_argument, NULL, OPT_BRANCH},
    {"status-branch", required_argument, NULL, OPT_STATUS_BRANCH},
    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
    {"all", no_argument, NULL, OPT_ALL},
    {"changed", no_argument, NULL, OPT_CHANGED},
    {"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
    {"ref", required_argument, NULL, OPT_REF},
    {"base", required_argument, NULL, OPT_BASE},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* clang-format off */
void cmd_plan_help(FILE *out)
{
  fputs(
      "Usage: tenantd plan [DIR] [options]\n"
      "       tenantd plan --repo URL [--changed] [options]\n"
      "       tenantd plan --repo URL --ref REF [--base REF] [options]\n"
      "\n"
      "Shows what applying the manifests would change, per tenant, field\n"
      "by field, against what the providers hold now, so a change made by\n"
      "hand shows as (drift).  Changes nothing.\n"
      "\n"
      "With --repo (or --config), plans the tracked branch's tip for every\n"
      "tenant, as 'apply --once' would apply it; --changed plans only the\n"
      "tenants changed since the last status commit and those not Ready.\n"
      "With --ref (a pull request's branch), plans the tenants REF changed\n"
      "since it left --base (the tracked branch), with their manifest\n"
      "problems and the delete guard's verdict, and exits 1 when a tenant\n"
      "would be held (an invalid manifest) or the guard refuses, so it\n"
      "can gate the pull request.  --format markdown is ready to post as\n"
      "a pull-request comment.\n"
      "\n"
      "Options:\n"
      "  --state-dir D          the local provider's state "
      "(" PASS_ARGS_DEFAULT_STATE_DIR ")\n"
      "  --status-dir S         status files (" PASS_ARGS_DEFAULT_STATUS_DIR ")\n"
      "  --format F             text, markdown (for a pull request) or json\n"
      "  --max-bytes N          markdown: at most N bytes per part (60000);\n"
      "                         parts begin '<!-- tenantd plan part K/N -->'\n"
      "  --detailed-exitcode    exit 2 when changes are pending, 0 when none\n"
      "  --allow-delete N       accept a pass deleting exactly N resources\n"
      "  --concurrency N        provider reads at once ("
      XSTR(RECONCILE_DEFAULT_CONCURRENCY) ")\n"
      "  --set local.KEY=VALUE  a local provider option (latencyMs, ...)\n"
      ARGS_GIT_OPTIONS_HELP
      "  --changed              only the tenants changed since the last\n"
      "                         status commit, and those not Ready (--repo)\n"
      "  --all                  every tenant (the default)\n"
      "  --ref REF              the branch, ref or commit to plan (--repo)\n"
      "  --base REF             what REF merges into (the tracked branch)\n"
      "  -h, --help             show this help\n",
      out);
}
/* clang-format on */

int cmd_plan(int argc, char **argv)
{
  struct pass_args a;
  struct pass_outcome out;
  enum args_result r;
  int rc;

  pass_args_init(&a);
  r = pass_args_parse(&a, "plan", argc, argv, plan_options, cmd_plan_help);
  if (r == ARGS_RUN) {
    pass_args_run(&a, false, &out);
    rc = pass_exit_code(out.result, a.detailed);
  } else {
    rc = args_exit_code(r);
  }
  pass_args_release(&a);
  return rc;
}
