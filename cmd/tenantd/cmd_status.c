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
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cmd_status_help(FILE *out)
{
  fputs("Usage: tenantd status --repo URL [TENANT] [--format text|json]\n"
        "\n"
        "Shows each tenant's status as committed on the status branch: Ready\n"
        "(with its reason), the manifest commit applied, the time of the\n"
        "last change and the message.  With TENANT, that tenant's row and\n"
        "its whole status file.\n"
        "\n"
        "Options:\n" ARGS_GIT_OPTIONS_HELP
        "  --format F             text or json\n"
        "  -h, --help             show this help\n",
        out);
}

static int show_status(struct writeback *wb, const struct view_args *a)
{
  return statusview_table(wb, a->tenant, a->json, stdout);
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
