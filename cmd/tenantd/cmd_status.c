/* tenantd status: each tenant's status from the status branch. */
#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/cmd.h"
#include "cmd/tenantd/view_args.h"
#include "git/statusview.h"

static const struct option status_options[] = {
    {"repo", required_argument, NULL, OPT_REPO},
    {"branch", required_argument, NULL, OPT_BRANCH},
    {"status-branch", required_argument, NULL, OPT_STATUS_BRANCH},
    {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"state", required_argument, NULL, OPT_STATE},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cmd_status_help(FILE *out)
{
  fputs("Usage: tenantd status --repo URL [TENANT] [options]\n"
        "\n"
        "Shows each tenant's state: the tenants with a status on the status\n"
        "branch and those in the manifests at the tracked branch's tip that\n"
        "were never reconciled.  Per tenant: its state, the manifest commit\n"
        "it runs (APPLIED), when it entered its state (SINCE) and a message\n"
        "naming the resource or file concerned.  With TENANT, that tenant's\n"
        "row and its whole status file.\n"
        "\n"
        "States: Ready, Failed, Held (invalid manifest, unobservable\n"
        "resources, refused by the delete guard), Stalled, Suspended,\n"
        "AwaitingFirstReconcile, Unknown (unreadable status); reserved:\n"
        "SourceUntrusted, AwaitingApproval.\n"
        "\n"
        "Exit status 0; 1 on an error, for an unknown TENANT, and when\n"
        "there is no status yet and the manifests list no tenant.\n"
        "\n"
        "Options:\n" ARGS_GIT_OPTIONS_HELP
        "  --state S[,S...]       only tenants in these states\n"
        "  --prefix NAME          only tenants whose name begins with NAME\n"
        "  --format F             text or json (the same fields)\n"
        "  -h, --help             show this help\n",
        out);
}

static int show_status(const struct gitpass_view *v, const struct view_args *a)
{
  return statusview_table(v, a->tenant, &a->filter, a->json, stdout, stderr);
}

int cmd_status(int argc, char **argv)
{
  struct view_args a;
  enum args_result r;
  int rc;

  view_args_init(&a);
  r = view_args_parse(&a, "status", argc, argv, status_options,
                      cmd_status_help);
  if (r == ARGS_RUN)
    rc = view_args_show(&a, show_status);
  else
    rc = args_exit_code(r);
  view_args_release(&a);
  return rc;
}
