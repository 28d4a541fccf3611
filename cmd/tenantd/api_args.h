/*
 * api_args.h - what the commands on the daemon's API share (reconcile,
 * suspend, resume): --server, the token from TENANTD_TOKEN, one TENANT.
 *
 *   struct api_args a;
 *   r = api_args_parse(&a, "suspend", argc, argv, opts, cmd_suspend_help);
 *   if (r == ARGS_RUN)
 *     rc = apiclient_suspend(&a.client, a.tenant, true, stdout, stderr);
 */
#ifndef TD_API_ARGS_H
#define TD_API_ARGS_H

#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/args.h"
#include "server/apiclient.h"

/* clang-format off */
#define API_ARGS_HELP                                                       \
  "  --server URL           the daemon's HTTP address\n"                    \
  "                         (" APICLIENT_DEFAULT_SERVER ")\n"               \
  "  -h, --help             show this help\n"                               \
  "\n"                                                                      \
  "The token is read from TENANTD_TOKEN and sent as a bearer token.\n"
/* clang-format on */

struct api_args {
  struct apiclient_opts client;
  const char *tenant;
  bool wait; /* --wait, where the command has it */
};

/*
 * Parses argv with the command's option table (OPT_SERVER, and OPT_WAIT
 * and OPT_TIMEOUT where it has them, 'h'); exactly one TENANT, a tenant
 * name.  Prints `help` on --help.
 */
enum args_result api_args_parse(struct api_args *a, const char *cmd, int argc,
                                char **argv, const struct option *opts,
                                void (*help)(FILE *out));

#endif
