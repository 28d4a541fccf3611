/* tenantd run: the controller (server/daemon.h). */
#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/args.h"
#include "cmd/tenantd/cmd.h"
#include "server/daemon.h"

static const struct option run_options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"check", no_argument, NULL, OPT_CHECK},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct run_args {
  const char *config;
  int log_format; /* -1: the config's */
  bool check, strict;
};

void cmd_run_help(FILE *out)
{
  fputs("Usage: tenantd run --config FILE [--log-format logfmt|json]\n"
        "       tenantd run --check [--strict] --config FILE\n"
        "\n"
        "The controller: polls the manifest repository (and fetches at\n"
        "once on a signed webhook), reconciles the tenants each new commit\n"
        "touched, re-checks every tenant for drift each resync period,\n"
        "retries failures with backoff, and commits status to the status\n"
        "branch.  Serves /healthz, /readyz, /metrics, /api/v1/tenants,\n"
        "POST /api/v1/reconcile and POST /hooks/{github,gitea,generic} on\n"
        "http.listen (127.0.0.1:9400).  SIGTERM or SIGINT finish the pass\n"
        "in flight and exit; SIGHUP reloads the config.\n"
        "\n"
        "Options:\n"
        "  --config FILE          the controller config (see\n"
        "                         deploy/config.example.yaml)\n"
        "  --log-format F         logfmt (default) or json; overrides the "
        "config\n"
        "  --check                validate the config and exit; a secret\n"
        "                         variable that is not set (a *Env key) is\n"
        "                         a warning, so CI can check the file\n"
        "  --strict               with --check: every secret variable\n"
        "                         must be set, as for running\n"
        "  -h, --help             show this help\n",
        out);
}

static enum args_result take_log_format(struct run_args *a, const char *arg)
{
  if (strcmp(arg, "logfmt") == 0)
    a->log_format = LOG_FORMAT_LOGFMT;
  else if (strcmp(arg, "json") == 0)
    a->log_format = LOG_FORMAT_JSON;
  else
    return args_usage("run", "unknown log format '%s' (logfmt, json)", arg);
  return ARGS_RUN;
}

static enum args_result parse(struct run_args *a, int argc, char **argv)
{
  enum args_result r = ARGS_RUN;
  bool failed;
  int c;

  while (r == ARGS_RUN &&
         (c = args_getopt("run", argc, argv, run_options, &failed)) != -1) {
    if (failed)
      return ARGS_FAILED;
    switch (c) {
    case OPT_CONFIG:
      a->config = optarg;
      break;
    case OPT_LOG_FORMAT:
      r = take_log_format(a, optarg);
      break;
    case OPT_CHECK:
      a->check = true;
      break;
    case OPT_STRICT:
      a->strict = true;
      break;
    case 'h':
      cmd_run_help(stdout);
      return ARGS_HELP;
    }
  }
  if (r != ARGS_RUN)
    return r;
  if (args_operands("run", argc, argv, 0) != ARGS_RUN)
    return ARGS_FAILED;
  if (!a->config)
    return args_usage("run", "%s", "--config FILE is required");
  if (a->strict && !a->check)
    return args_usage("run", "%s", "--strict goes with --check");
  return ARGS_RUN;
}

/*
 * --check: the config loads; how many provider instances it names.  A
 * secret variable that is not set is a warning (the check may run where
 * the secrets are not), an error with --strict as when running.
 */
static int check_config(const char *path, bool strict)
{
  struct diag_list dl = DIAG_LIST_INIT, warnings = DIAG_LIST_INIT;
  struct config *cfg;
  int rc;
  size_t n;

  rc = config_load_flags(path, strict ? 0 : CONFIG_SECRETS_OPTIONAL, &cfg, &dl,
                         &warnings);
  diag_sort(&dl);
  diag_print_text(&dl, stderr);
  diag_sort(&warnings);
  for (size_t i = 0; i < warnings.n; i++)
    fprintf(stderr, "%s:%u:%u: warning: %s (--strict requires it)\n",
            warnings.v[i].path, warnings.v[i].line, warnings.v[i].col,
            warnings.v[i].msg);
  if (rc == 0) {
    n = json_object_size(cfg->providers);
    printf("%s: valid (%zu provider instance%s)\n", path, n, n == 1 ? "" : "s");
  }
  config_free(cfg);
  diag_list_release(&dl);
  diag_list_release(&warnings);
  return rc < 0 ? CMD_EXIT_FAIL : CMD_EXIT_OK;
}

int cmd_run(int argc, char **argv)
{
  struct run_args a = {.log_format = -1};
  enum args_result r = parse(&a, argc, argv);

  if (r != ARGS_RUN)
    return args_exit_code(r);
  if (a.check)
    return check_config(a.config, a.strict);
  return daemon_run(a.config, a.log_format);
}
