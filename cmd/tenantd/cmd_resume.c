/* tenantd resume: a commit setting a tenant's spec.suspend, through the API. */
#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/api_args.h"
#include "cmd/tenantd/cmd.h"

static const struct option resume_options[] = {
    {"server", required_argument, NULL, OPT_SERVER},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cmd_resume_help(FILE *out)
{
  fputs("Usage: tenantd resume TENANT [--server URL]\n"
        "\n"
        "Sets TENANT's spec.suspend to false: tenantd manages the\n"
        "tenant again.  The change is a commit to the manifest\n"
        "repository made by the running daemon (PATCH\n"
        "/api/v1/tenants/TENANT {\"suspend\": false}), authored\n"
        "by the token's name; the token needs the write role.  Prints\n"
        "the commit and the plan.\n"
        "\n"
        "Options:\n" API_ARGS_HELP "\n"
        "Exit status: 0 committed (or already so), 1 otherwise.\n",
        out);
}

int cmd_resume(int argc, char **argv)
{
  struct api_args a;
  enum args_result r =
      api_args_parse(&a, "resume", argc, argv, resume_options, cmd_resume_help);

  if (r != ARGS_RUN)
    return args_exit_code(r);
  return apiclient_suspend(&a.client, a.tenant, false, stdout, stderr);
}
