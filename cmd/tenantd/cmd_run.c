/* tenantd run: the controller (server/daemon.h). */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "base/error.h"
#include "cmd/tenantd/args.h"
#include "cmd/tenantd/cmd.h"
#include "git/verify.h"
#include "server/config.h"
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
        "  --check                validate the config and the files it\n"
        "                         names (keys files, the signing key) and\n"
        "                         exit; a secret variable that is not set\n"
        "                         (a *Env key) is a warning, so CI can\n"
        "                         check the file\n"
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

/* One keys file of the config (source.verify, approval): it must read as
 * its format says, as the first pass would find out otherwise.  0 or -1,
 * the error printed. */
static int check_keys(const char *path, const char *key,
                      const struct config_keys *ck)
{
  struct verify_keys k = {(enum verify_format)ck->format, ck->keys};
  char signers[512];

  if (!ck->set)
    return 0;
  if (verify_signers(&k, signers, sizeof(signers)) < 0) {
    fprintf(stderr, "%s: %s: %s\n", path, key, td_error_last());
    return -1;
  }
  printf("%s: %s: %s signers: %s\n", path, key, verify_format_names[ck->format],
         *signers ? signers : "none");
  return 0;
}

/* The files the config names beyond itself.  0 or -1. */
static int check_files(const struct config *cfg)
{
  int rc = 0;

  if (check_keys(cfg->path, "source.verify", &cfg->source.verify) < 0)
    rc = -1;
  if (check_keys(cfg->path, "approval", &cfg->approval.keys) < 0)
    rc = -1;
  if (cfg->status.signing_key && access(cfg->status.signing_key, R_OK) < 0) {
    fprintf(stderr, "%s: status.signingKey %s: %s\n", cfg->path,
            cfg->status.signing_key, strerror(errno));
    rc = -1;
  }
  return rc;
}

/*
 * --check: the config loads, the files it names read as they must; how
 * many provider instances it names.  A
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
  if (rc == 0)
    rc = check_files(cfg);
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
