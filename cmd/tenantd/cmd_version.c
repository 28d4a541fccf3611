/* tenantd version (and tenantd --version). */
#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/args.h"
#include "cmd/tenantd/cmd.h"

#ifndef TD_VERSION
#define TD_VERSION "0.0.0-dev"
#endif

static const struct option version_options[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cmd_version_help(FILE *out)
{
  fputs("Usage: tenantd version\n\nPrints the version of tenantd.\n", out);
}

static enum args_result parse(int argc, char **argv)
{
  bool failed;
  int c;

  while ((c = args_getopt("version", argc, argv, version_options, &failed)) !=
         -1) {
    if (failed)
      return ARGS_FAILED;
    if (c == 'h') {
      cmd_version_help(stdout);
      return ARGS_HELP;
    }
  }
  return args_operands("version", argc, argv, 0);
}

int cmd_version(int argc, char **argv)
{
  enum args_result r = parse(argc, argv);

  if (r != ARGS_RUN)
    return args_exit_code(r);
  printf("tenantd %s\n", TD_VERSION);
  return CMD_EXIT_OK;
}
