#include "base/compat.h"

#include <ctype.h>

#include "base/error.h"
#include "base/strutil.h"
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

/* A state close to `name`, case ignored, or NULL. */
static const char *suggest_state(const char *name)
{
  char lower[TENANT_STATE_COUNT][32], word[64];
  const char *cands[TENANT_STATE_COUNT], *hint;
  size_t i;

  for (int k = 0; k < TENANT_STATE_COUNT; k++) {
    for (i = 0; tenant_state_names[k][i] && i < sizeof(lower[k]) - 1; i++)
      lower[k][i] = (char)tolower((unsigned char)tenant_state_names[k][i]);
    lower[k][i] = '\0';
    cands[k] = lower[k];
  }
  for (i = 0; name[i] && i < sizeof(word) - 1; i++)
    word[i] = (char)tolower((unsigned char)name[i]);
  word[i] = '\0';
  hint = str_suggest(word, cands, TENANT_STATE_COUNT);
  for (int k = 0; hint && k < TENANT_STATE_COUNT; k++)
    if (cands[k] == hint)
      return tenant_state_names[k];
  return NULL;
}

/* --state S[,S...]: the states a table shows. */
static enum args_result take_states(struct view_args *a, const char *cmd,
                                    const char *arg)
{
  char *list = td_strdup(arg), *save = NULL;
  enum args_result r = ARGS_RUN;

  for (char *name = strtok_r(list, ",", &save); name && r == ARGS_RUN;
       name = strtok_r(NULL, ",", &save)) {
    int s = statusview_state_parse(name);
    const char *hint;

    if (s >= 0) {
      a->filter.states |= 1u << s;
      continue;
    }
    hint = suggest_state(name);
    fprintf(stderr, "tenantd: unknown state '%s'", name);
    if (hint)
      fprintf(stderr, " (did you mean '%s'?)", hint);
    fputs("; the states:", stderr);
    for (int k = 0; k < TENANT_STATE_COUNT; k++)
      fprintf(stderr, " %s", tenant_state_names[k]);
    fprintf(stderr, "\nTry 'tenantd %s --help'.\n", cmd);
    r = ARGS_FAILED;
  }
  free(list);
  return r;
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
  case OPT_STATE:
    return take_states(a, cmd, arg);
  case OPT_PREFIX:
    a->filter.prefix = arg;
    break;
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
                   int (*show)(const struct gitpass_view *v,
                               const struct view_args *a))
{
  struct source *src;
  struct gitpass_view v;
  int rc = source_open(&src, &a->src);

  if (rc < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    return CMD_EXIT_FAIL;
  }
  rc = gitpass_view_open(src, stderr, &v);
  if (rc == 0)
    rc = show(&v, a);
  if (rc < 0)
    fprintf(stderr, "tenantd: %s\n", td_error_last());
  gitpass_view_release(&v);
  source_close(src);
  return rc < 0 ? CMD_EXIT_FAIL : CMD_EXIT_OK;
}
