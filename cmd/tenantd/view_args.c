#include "base/compat.h"

#include "base/error.h"
#include "cmd/tenantd/cmd.h"
#include "cmd/tenantd/view_args.h"
#include "git/gitpass.h"

void view_args_init(struct view_args *a)
{
  memset(a, 0, sizeof(*a));
  args_git_defaults(&a->src);
}

void view_args_release(struct view_args *a)
{
  config_free(a->cfg);
  a->cfg = NULL;
}

static enum args_result take_option(struct view_args *a, const char *cmd,
                                    int opt, const char *arg)
{
  if (args_git_option(&a->src, opt, arg))
    return ARGS_RUN;
  switch (opt) {
  case OPT_FORMAT:
    if (strcmp(arg, "json") != 0 && strcmp(arg, "text") != 0)
      return args_usage(cmd, "unknown format '%s' (text, json)", arg);
    a->json = strcmp(arg, "json") == 0;
    break;
  case OPT_LIMIT:
    return args_long(cmd, "--limit", arg, 0, 1000000, &a->limit);
  }
  return ARGS_RUN; /* OPT_CONFIG: taken before the others */
}

enum args_result view_args_parse(struct view_args *a, const char *cmd, int argc,
                                 char **argv, const struct option *opts,
                                 void (*help)(FILE *out))
{
  const char *config = args_find_config(argc, argv);
  enum args_result r = ARGS_RUN;
  bool failed;
  int c;

  if (config) {
    if (args_load_config(config, &a->cfg) < 0)
      return ARGS_FAILED;
    args_git_config(&a->src, a->cfg);
  }
  /* No '+': options may follow the tenant. */
  while (r == ARGS_RUN &&
         (c = args_getopt(cmd, argc, argv, ":h", opts, &failed)) != -1) {
    if (failed)
      return ARGS_FAILED;
    if (c == 'h') {
      help(stdout);
      return ARGS_HELP;
    }
    r = take_option(a, cmd, c, optarg);
  }
  if (r != ARGS_RUN)
    return r;
  if (optind < argc)
    a->tenant = argv[optind++];
  if (optind < argc)
    return args_usage(cmd, "unexpected argument '%s'", argv[optind]);
  if (!a->src.url)
    return args_usage(cmd, "%s", "--repo URL (or --config FILE) is required");
  return ARGS_RUN;
}

int view_args_show(const struct view_args *a,
                   int (*show)(struct writeback *wb, const struct view_args *a))
{
  struct source *src;
  struct writeback *wb = NULL;
  int rc = source_open(&src, &a->src);

  if (rc < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    return CMD_EXIT_FAIL;
  }
  rc = gitpass_open_status(src, stderr, &wb);
  if (rc == 0)
    rc = show(wb, a);
  if (rc < 0)
    fprintf(stderr, "tenantd: %s\n", td_error_last());
  writeback_close(wb);
  source_close(src);
  return rc < 0 ? CMD_EXIT_FAIL : CMD_EXIT_OK;
}
