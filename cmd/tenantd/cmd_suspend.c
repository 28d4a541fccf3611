/* tenantd suspend: a commit setting a tenant's spec.suspend, through the API. */
#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/api_args.h"
#include "cmd/tenantd/cmd.h"

static const struct option suspend_options[] = {
    {"server", required_argument, NULL, OPT_SERVER},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cmd_suspend_help(FILE *out)
{
  fputs("Usage: tenantd suspend TENANT [--server URL]\n"
        "\n"
        "Sets TENANT's spec.suspend to true: tenantd keeps observing\n"
        "and reporting the tenant, and changes nothing.  The change is\n"
        "a commit to the manifest repository made by the running daemon\n"
        "(PATCH /api/v1/tenants/TENANT {\"suspend\": true}), authored\n"
        "by the token's name; the token needs the write role.  Prints\n"
        "the commit and the plan.\n"
        "\n"
        "Options:\n" API_ARGS_HELP "\n"
        "Exit status: 0 committed (or already so), 1 otherwise.\n",
        out);
}

int cmd_suspend(int argc, char **argv)
{
  struct api_args a;
  enum args_result r = api_args_parse(&a, "suspend", argc, argv,
                                      suspend_options, cmd_suspend_help);

  if (r != ARGS_RUN)
    return args_exit_code(r);
  return apiclient_suspend(&a.client, a.tenant, true, stdout, stderr);
}
