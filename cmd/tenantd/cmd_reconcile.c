/* tenantd reconcile: ask the daemon for a pass of one tenant now. */
#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/api_args.h"
#include "cmd/tenantd/cmd.h"

static const struct option reconcile_options[] = {
    {"server", required_argument, NULL, OPT_SERVER},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cmd_reconcile_help(FILE *out)
{
  fputs("Usage: tenantd reconcile TENANT [--wait [--timeout D]] "
        "[--server URL]\n"
        "\n"
        "Asks the running daemon (tenantd run) to fetch the manifests and\n"
        "reconcile TENANT now, as POST /api/v1/reconcile?tenant=TENANT\n"
        "does.  The token needs the operate or write role.  With --wait,\n"
        "waits until that pass is done and prints the tenant's state.\n"
        "\n"
        "Options:\n"
        "  --wait                 wait for the pass and print its result\n"
        "  --timeout D            wait at most D (10m)\n" API_ARGS_HELP "\n"
        "Exit status: 0 queued, or with --wait Ready or Suspended; 1\n"
        "otherwise.\n",
        out);
}

int cmd_reconcile(int argc, char **argv)
{
  struct api_args a;
  enum args_result r = api_args_parse(&a, "reconcile", argc, argv,
                                      reconcile_options, cmd_reconcile_help);

  if (r != ARGS_RUN)
    return args_exit_code(r);
  return apiclient_reconcile(&a.client, a.tenant, a.wait, stdout, stderr);
}
