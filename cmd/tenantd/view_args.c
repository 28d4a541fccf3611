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
  return ARGS_RUN;
}

enum args_result view_args_parse(struct view_args *a, const char *cmd, int argc,
                                 char **argv, const struct option *opts,
                                 void (*help)(FILE *out))
{
  struct args_given *given = td_calloc((size_t)argc, sizeof(*given));
  const char *config;
  enum args_result r;
  size_t n;

  /* The file first, then the command line over it, in any order. */
  r = args_collect(cmd, argc, argv, opts, help, given, &n, &config);
  if (r == ARGS_RUN && config) {
    r = args_load_config(config, &a->cfg) < 0 ? ARGS_FAILED : ARGS_RUN;
    if (r == ARGS_RUN)
      args_git_config(&a->src, a->cfg);
  }
  for (size_t i = 0; r == ARGS_RUN && i < n; i++)
    r = take_option(a, cmd, given[i].opt, given[i].arg);
  free(given);
  if (r == ARGS_RUN)
    r = args_operands(cmd, argc, argv, 1);
  if (r != ARGS_RUN)
    return r;
  if (optind < argc)
    a->tenant = argv[optind];
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
