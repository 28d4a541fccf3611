/* tenantd log: what tenantd did to a tenant, newest first. */
#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/cmd.h"
#include "cmd/tenantd/view_args.h"
#include "git/statusview.h"

static const struct option log_options[] = {
    {"repo", required_argument, NULL, OPT_REPO},
    {"branch", required_argument, NULL, OPT_BRANCH},
    {"status-branch", required_argument, NULL, OPT_STATUS_BRANCH},
    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cmd_log_help(FILE *out)
{
  fputs(
      "Usage: tenantd log --repo URL TENANT [--limit N] [--format text|json]\n"
      "\n"
      "Shows what tenantd did to TENANT, newest first: one entry per\n"
      "status commit (time, commit, TENANT's own result in it, the\n"
      "manifest commit of the pass) with TENANT's event lines.  The same\n"
      "history as\n"
      "  git log tenantd/status -- status/TENANT.yaml\n"
      "An unknown TENANT is an error (with a close name suggested); one\n"
      "in the manifests that was never reconciled has an empty log.\n"
      "\n"
      "Options:\n" ARGS_GIT_OPTIONS_HELP
      "  --limit N              at most N entries (all)\n"
      "  --format F             text or json\n"
      "  -h, --help             show this help\n",
      out);
}

static int show_log(const struct gitpass_view *v, const struct view_args *a)
{
  return statusview_log(v, a->tenant, (size_t)a->limit, a->json, stdout,
                        stderr);
}

int cmd_log(int argc, char **argv)
{
  struct view_args a;
  enum args_result r;
  int rc;

  view_args_init(&a);
  r = view_args_parse(&a, "log", argc, argv, log_options, cmd_log_help);
  if (r == ARGS_RUN && !a.tenant)
    r = args_usage("log", "%s", "which tenant? tenantd log --repo URL TENANT");
  if (r == ARGS_RUN)
    rc = view_args_show(&a, show_log);
  else
    rc = args_exit_code(r);
  view_args_release(&a);
  return rc;
}
