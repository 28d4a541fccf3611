#include "base/compat.h"

#include "base/strutil.h"
#include "cmd/tenantd/api_args.h"
#include "model/naming.h"

static enum args_result take_option(struct api_args *a, const char *cmd,
                                    int opt, const char *arg)
{
  int64_t ms;

  switch (opt) {
  case OPT_SERVER:
    if (strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0)
      return args_usage(cmd, "--server takes an http:// or https:// URL, "
                             "like " APICLIENT_DEFAULT_SERVER);
    a->client.server = arg;
    break;
  case OPT_WAIT:
    a->wait = true;
    break;
  case OPT_TIMEOUT:
    if (str_parse_duration(arg, &ms) < 0 || ms <= 0)
      return args_usage(cmd, "--timeout takes a duration like 30s or 10m");
    a->client.wait_ms = (uint64_t)ms;
    break;
  }
  return ARGS_RUN;
}

enum args_result api_args_parse(struct api_args *a, const char *cmd, int argc,
                                char **argv, const struct option *opts,
                                void (*help)(FILE *out))
{
  enum args_result r = ARGS_RUN;
  bool failed;
  int c;

  memset(a, 0, sizeof(*a));
  a->client = (struct apiclient_opts)APICLIENT_OPTS_INIT;
  a->client.token = getenv("TENANTD_TOKEN");
  while (r == ARGS_RUN &&
         (c = args_getopt(cmd, argc, argv, opts, &failed)) != -1) {
    if (failed)
      return ARGS_FAILED;
    if (c == 'h') {
      help(stdout);
      return ARGS_HELP;
    }
    r = take_option(a, cmd, c, optarg);
  }
  if (r != ARGS_RUN || args_operands(cmd, argc, argv, 1) != ARGS_RUN)
    return ARGS_FAILED;
  if (optind >= argc)
    return args_usage(cmd, "which tenant? tenantd %s TENANT", cmd);
  a->tenant = argv[optind];
  if (!naming_is_label(a->tenant))
    return args_usage(cmd, "'%.80s' is not a tenant name", a->tenant);
  return ARGS_RUN;
}
