#include "base/compat.h"

#include <stdio.h>

#include "base/diag.h"
#include "cmd/tenantd/args.h"
#include "cmd/tenantd/cmd.h"

int args_exit_code(enum args_result r)
{
  return r == ARGS_HELP ? CMD_EXIT_OK : CMD_EXIT_FAIL;
}

enum args_result args_usage(const char *cmd, const char *fmt, const char *arg)
{
  fputs("tenantd: ", stderr);
  fprintf(stderr, fmt, arg ? arg : "");
  fputc('\n', stderr);
  if (cmd)
    fprintf(stderr, "Try 'tenantd %s --help'.\n", cmd);
  else
    fputs("Try 'tenantd --help'.\n", stderr);
  return ARGS_FAILED;
}

int args_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
                const struct option *longopts, bool *failed)
{
  int c = getopt_long(argc, argv, shortopts, longopts, NULL);

  *failed = c == '?' || c == ':';
  if (c == ':')
    args_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
  else if (c == '?')
    args_usage(cmd, "unknown option '%s'", argv[optind - 1]);
  return c;
}

enum args_result args_long(const char *cmd, const char *opt, const char *text,
                           long lo, long hi, long *out)
{
  char *end;
  long v = strtol(text, &end, 10);

  if (!*text || *end || v < lo || v > hi) {
    fprintf(stderr, "tenantd: %s needs a number from %ld to %ld, not '%s'\n",
            opt, lo, hi, text);
    fprintf(stderr, "Try 'tenantd %s --help'.\n", cmd);
    return ARGS_FAILED;
  }
  *out = v;
  return ARGS_RUN;
}

const char *args_find_config(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      break;
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
      return argv[i + 1];
    if (strncmp(argv[i], "--config=", 9) == 0)
      return argv[i] + 9;
  }
  return NULL;
}

int args_load_config(const char *path, struct config **out)
{
  struct diag_list dl = DIAG_LIST_INIT;
  int rc = config_load(path, out, &dl);

  diag_sort(&dl);
  diag_print_text(&dl, stderr);
  diag_list_release(&dl);
  return rc;
}

enum args_result args_set_local(const char *cmd, json_t *local, const char *arg)
{
  const char *eq = strchr(arg, '=');
  char key[128];
  json_t *v;

  if (strncmp(arg, "local.", 6) != 0 || !eq || eq - arg - 6 <= 0 ||
      (size_t)(eq - arg - 6) >= sizeof(key))
    return args_usage(cmd, "--set takes local.KEY=VALUE, not '%s'", arg);
  snprintf(key, sizeof(key), "%.*s", (int)(eq - arg - 6), arg + 6);
  v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
  if (!v)
    v = json_string(eq + 1);
  json_object_set_new(local, key, v);
  return ARGS_RUN;
}

/* ---- the manifest repository in Git ---- */

void args_git_defaults(struct source_opts *src)
{
  /* The cache is the user's (source_default_cache_dir), never the
   * current directory. */
  *src = (struct source_opts)SOURCE_OPTS_INIT;
}

void args_git_config(struct source_opts *src, const struct config *c)
{
  src->url = c->source.url;
  src->branch = c->source.branch;
  src->status_branch = c->status.branch;
  src->cache_dir = c->cache_dir;
  src->ssh_key = c->source.ssh_key;
}

bool args_git_option(struct source_opts *src, int opt, const char *arg)
{
  switch (opt) {
  case OPT_REPO:
    src->url = arg;
    return true;
  case OPT_BRANCH:
    src->branch = arg;
    return true;
  case OPT_STATUS_BRANCH:
    src->status_branch = arg;
    return true;
  case OPT_CACHE_DIR:
    src->cache_dir = arg;
    return true;
  }
  return false;
}
