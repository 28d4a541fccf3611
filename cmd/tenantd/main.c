/*
 * tenantd - GitOps reconciliation controller for multi-tenant
 * infrastructure.  This file parses arguments and dispatches to
 * subcommands; the work lives in controller/ and providers/.
 *
 * Exit codes: 0 success, 1 failure or usage error, 2 "changes pending"
 * (plan --detailed-exitcode).
 */
#include "base/compat.h"

#include "base/strutil.h"

#include <getopt.h>
#include <stdio.h>

#include "engine/compose.h"
#include "server/config.h"
#include "server/daemon.h"
#include "base/error.h"
#include "git/gitpass.h"
#include "manifest/manifest.h"
#include "engine/reconcile.h"
#include "git/statusview.h"
#include "git/writeback.h"

#ifndef TD_VERSION
#define TD_VERSION "0.0.0-dev"
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_CHANGES = 2 };

struct command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
  void (*help)(FILE *out);
};

static const struct command *find_command(const char *name);

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
  fputs("tenantd: ", stderr);
  fprintf(stderr, fmt, arg ? arg : "");
  fputc('\n', stderr);
  if (cmd)
    fprintf(stderr, "Try 'tenantd %s --help'.\n", cmd);
  else
    fputs("Try 'tenantd --help'.\n", stderr);
  return EXIT_FAIL;
}

/*
 * getopt_long with our own messages: opterr off, and an unknown option or
 * a missing argument becomes a usage error naming the subcommand.
 */
static int next_opt(const char *cmd, int argc, char **argv,
                    const char *shortopts, const struct option *longopts,
                    int *err)
{
  int c = getopt_long(argc, argv, shortopts, longopts, NULL);

  *err = 0;
  if (c == '?' || c == ':') {
    const char *bad = argv[optind - 1];

    if (c == ':')
      usage_error(cmd, "option '%s' needs a value", bad);
    else
      usage_error(cmd, "unknown option '%s'", bad);
    *err = 1;
  }
  return c;
}

/* ---- validate ---- */

static void validate_help(FILE *out)
{
  fputs("Usage: tenantd validate [DIR] [--format text|json]\n"
        "\n"
        "Loads the manifest repository in DIR (default: the current\n"
        "directory) and reports every problem, one per line on stderr as\n"
        "  path:line:col: error: message\n"
        "with paths relative to DIR.\n"
        "\n"
        "Options:\n"
        "  --format text|json  json prints {\"valid\", \"errors\": [...]} on\n"
        "                      stdout, for CI annotations\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit status: 0 valid, 1 invalid or unreadable.\n",
        out);
}

static int cmd_validate(int argc, char **argv)
{
  static const struct option opts[] = {
      {"format", required_argument, NULL, 'f'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const struct manifest_opts mopts = MANIFEST_OPTS_INIT;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo = NULL;
  const char *dir = ".";
  bool json = false;
  int c, err, rc = EXIT_FAIL;

  while ((c = next_opt("validate", argc, argv, "+:h", opts, &err)) != -1) {
    if (err)
      return EXIT_FAIL;
    switch (c) {
    case 'f':
      if (strcmp(optarg, "json") == 0)
        json = true;
      else if (strcmp(optarg, "text") != 0)
        return usage_error("validate", "unknown format '%s' (text, json)",
                           optarg);
      break;
    case 'h':
      validate_help(stdout);
      return EXIT_OK;
    }
  }
  if (optind < argc)
    dir = argv[optind++];
  if (optind < argc)
    return usage_error("validate", "unexpected argument '%s'", argv[optind]);

  if (manifest_files_read_dir(&files, dir, mopts.limits.max_bytes) < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    goto out;
  }
  manifest_repo_load(&repo, &files, &mopts);
  if (json) {
    diag_print_json(&repo->diags, stdout);
  } else {
    diag_print_text(&repo->diags, stderr);
    if (repo->diags.n == 0)
      printf("%s: valid (%zu tenant%s)\n", dir, repo->ntenants,
             repo->ntenants == 1 ? "" : "s");
  }
  rc = repo->diags.n ? EXIT_FAIL : EXIT_OK;
out:
  manifest_repo_free(repo);
  manifest_files_release(&files);
  return rc;
}

/* ---- plan / apply / graph ---- */

#define DEFAULT_STATE_DIR ".tenantd/local"
#define DEFAULT_STATUS_DIR ".tenantd/status"
#define DEFAULT_CACHE_DIR ".tenantd/cache"

enum {
  OPT_STATE_DIR = 256,
  OPT_STATUS_DIR,
  OPT_FORMAT,
  OPT_DETAILED,
  OPT_ALLOW_DELETE,
  OPT_CONCURRENCY,
  OPT_SET,
  OPT_ONCE,
  OPT_HEALTH_TIMEOUT,
  OPT_REPO,
  OPT_BRANCH,
  OPT_STATUS_BRANCH,
  OPT_CACHE_DIR,
  OPT_ALL,
  OPT_REF,
  OPT_BASE,
  OPT_LIMIT,
  OPT_CONFIG,
  OPT_LOG_FORMAT,
  OPT_CHECK,
};

struct engine_args {
  const char *dir, *state_dir, *status_dir;
  struct source_opts src; /* src.url set: the manifests are in Git */
  const char *ref, *base;
  bool all;
  enum plan_format format;
  bool detailed, once;
  long allow_delete;
  unsigned concurrency;
  uint64_t health_timeout_ms;
  json_t *local;      /* the local instance's config */
  struct config *cfg; /* --config: the source and provider instances */
};

/* Loads a config file, printing its problems: 0 or -1. */
static int load_config(const char *path, struct config **out)
{
  struct diag_list dl = DIAG_LIST_INIT;
  int rc = config_load(path, out, &dl);

  diag_sort(&dl);
  diag_print_text(&dl, stderr);
  diag_list_release(&dl);
  return rc;
}

/* The value of --config in argv, looked for before the other options so
 * that they override what the file says. */
static const char *find_config(int argc, char **argv)
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

/* Defaults from the config: source, status branch, cache, instances. */
static void config_defaults(struct engine_args *a, const struct config *c)
{
  a->src.url = c->source.url;
  a->src.branch = c->source.branch;
  a->src.status_branch = c->status.branch;
  a->src.cache_dir = c->cache_dir;
  a->src.ssh_key = c->source.ssh_key;
  a->concurrency = c->reconcile.concurrency;
  a->health_timeout_ms = c->reconcile.health_timeout_ms;
}

static int parse_long(const char *cmd, const char *opt, const char *text,
                      long lo, long hi, long *out)
{
  char *end;
  long v = strtol(text, &end, 10);

  if (!*text || *end || v < lo || v > hi) {
    fprintf(stderr, "tenantd: %s needs a number from %ld to %ld, not '%s'\n",
            opt, lo, hi, text);
    fprintf(stderr, "Try 'tenantd %s --help'.\n", cmd);
    return -1;
  }
  *out = v;
  return 0;
}

/* --set local.KEY=VALUE: VALUE as JSON when it parses, else a string. */
static int set_option(const char *cmd, json_t *local, const char *arg)
{
  const char *eq = strchr(arg, '=');
  char key[128];
  json_t *v;

  if (strncmp(arg, "local.", 6) != 0 || !eq || eq - arg - 6 <= 0 ||
      (size_t)(eq - arg - 6) >= sizeof(key))
    return usage_error(cmd, "--set takes local.KEY=VALUE, not '%s'", arg);
  snprintf(key, sizeof(key), "%.*s", (int)(eq - arg - 6), arg + 6);
  v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
  if (!v)
    v = json_string(eq + 1);
  json_object_set_new(local, key, v);
  return 0;
}

/* The options every --repo command shares. */
static void git_defaults(struct source_opts *src)
{
  *src = (struct source_opts)SOURCE_OPTS_INIT;
  src->cache_dir = DEFAULT_CACHE_DIR;
}

static void git_option(struct source_opts *src, int opt, const char *arg)
{
  switch (opt) {
  case OPT_REPO:
    src->url = arg;
    break;
  case OPT_BRANCH:
    src->branch = arg;
    break;
  case OPT_STATUS_BRANCH:
    src->status_branch = arg;
    break;
  case OPT_CACHE_DIR:
    src->cache_dir = arg;
    break;
  }
}

static int engine_parse(const char *cmd, int argc, char **argv,
                        struct engine_args *a, void (*help)(FILE *))
{
  static const struct option opts[] = {
      {"state-dir", required_argument, NULL, OPT_STATE_DIR},
      {"status-dir", required_argument, NULL, OPT_STATUS_DIR},
      {"format", required_argument, NULL, OPT_FORMAT},
      {"detailed-exitcode", no_argument, NULL, OPT_DETAILED},
      {"allow-delete", required_argument, NULL, OPT_ALLOW_DELETE},
      {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
      {"set", required_argument, NULL, OPT_SET},
      {"once", no_argument, NULL, OPT_ONCE},
      {"health-timeout", required_argument, NULL, OPT_HEALTH_TIMEOUT},
      {"repo", required_argument, NULL, OPT_REPO},
      {"branch", required_argument, NULL, OPT_BRANCH},
      {"status-branch", required_argument, NULL, OPT_STATUS_BRANCH},
      {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
      {"all", no_argument, NULL, OPT_ALL},
      {"ref", required_argument, NULL, OPT_REF},
      {"base", required_argument, NULL, OPT_BASE},
      {"config", required_argument, NULL, OPT_CONFIG},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c, err;
  long v;
  bool dir_given = false, repo_given = false, local_given = false;
  const char *config = find_config(argc, argv);

  a->dir = ".";
  a->state_dir = DEFAULT_STATE_DIR;
  a->status_dir = DEFAULT_STATUS_DIR;
  a->format = PLAN_TEXT;
  a->allow_delete = -1;
  a->concurrency = 8;
  a->health_timeout_ms = 60000;
  a->local = json_pack("{s:s}", "type", "local");
  git_defaults(&a->src);
  if (config) {
    if (load_config(config, &a->cfg) < 0)
      return 1;
    config_defaults(a, a->cfg);
  }
  while ((c = next_opt(cmd, argc, argv, "+:h", opts, &err)) != -1) {
    if (err)
      return 1;
    switch (c) {
    case OPT_CONFIG:
      break;
    case OPT_REPO:
      repo_given = true;
      git_option(&a->src, c, optarg);
      break;
    case OPT_BRANCH:
    case OPT_STATUS_BRANCH:
    case OPT_CACHE_DIR:
      git_option(&a->src, c, optarg);
      break;
    case OPT_ALL:
      a->all = true;
      break;
    case OPT_REF:
      a->ref = optarg;
      break;
    case OPT_BASE:
      a->base = optarg;
      break;
    case OPT_STATE_DIR:
      a->state_dir = optarg;
      local_given = true;
      break;
    case OPT_STATUS_DIR:
      a->status_dir = optarg;
      break;
    case OPT_FORMAT:
      if (strcmp(optarg, "text") == 0)
        a->format = PLAN_TEXT;
      else if (strcmp(optarg, "markdown") == 0)
        a->format = PLAN_MARKDOWN;
      else if (strcmp(optarg, "json") == 0)
        a->format = PLAN_JSON;
      else
        return usage_error(cmd, "unknown format '%s' (text, markdown, json)",
                           optarg);
      break;
    case OPT_DETAILED:
      a->detailed = true;
      break;
    case OPT_ALLOW_DELETE:
      if (parse_long(cmd, "--allow-delete", optarg, 0, 1000000000, &v) < 0)
        return 1;
      a->allow_delete = v;
      break;
    case OPT_CONCURRENCY:
      if (parse_long(cmd, "--concurrency", optarg, 1, 4096, &v) < 0)
        return 1;
      a->concurrency = (unsigned)v;
      break;
    case OPT_SET:
      if (set_option(cmd, a->local, optarg))
        return 1;
      local_given = true;
      break;
    case OPT_ONCE:
      a->once = true;
      break;
    case OPT_HEALTH_TIMEOUT: {
      int64_t ms;

      if (str_parse_duration(optarg, &ms) < 0 || ms <= 0)
        return usage_error(cmd,
                           "--health-timeout takes a duration like "
                           "30s or 500ms, not '%s'",
                           optarg);
      a->health_timeout_ms = (uint64_t)ms;
      break;
    }
    case 'h':
      help(stdout);
      return -1;
    }
  }
  if (optind < argc) {
    a->dir = argv[optind++];
    dir_given = true;
  }
  if (optind < argc)
    return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (a->cfg && local_given)
    return usage_error(cmd, "%s",
                       "--state-dir and --set are for the built-in local "
                       "instance; with --config, set provider options in "
                       "the config file");
  /* A directory given with --config: its manifests, the config's
   * providers. */
  if (a->cfg && dir_given && !repo_given)
    a->src.url = NULL;
  if (a->src.url && dir_given)
    return usage_error(cmd, "give a directory or --repo, not both ('%s')",
                       a->dir);
  if (!a->src.url && (a->ref || a->base || a->all))
    return usage_error(cmd, "%s", "--ref, --base and --all need --repo");
  if (!json_object_get(a->local, "stateDir"))
    json_object_set_new(a->local, "stateDir", json_string(a->state_dir));
  return 0;
}

static void engine_opts(struct engine_args *a, bool apply,
                        const json_t *providers, struct reconcile_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->version = RECONCILE_OPTS_VERSION;
  o->dir = a->dir;
  o->providers = providers;
  o->apply = apply;
  o->allow_delete = a->allow_delete;
  o->concurrency = a->concurrency;
  o->max_attempts = 5;
  o->backoff_ms = 100;
  o->health_timeout_ms = a->health_timeout_ms;
  o->format = a->format;
  o->progress = apply;
  o->print_diags = true;
  o->out = stdout;
  o->err = stderr;
}

/* plan or apply with the manifests in Git: 0, or -1 reported. */
static int engine_run_git(struct engine_args *a, bool apply,
                          const json_t *providers, struct gitpass_result *res)
{
  struct gitpass_opts go = {.version = GITPASS_OPTS_VERSION};
  struct source *src;
  int rc;

  engine_opts(a, apply, providers, &go.rec);
  go.all = a->all;
  go.allow_delete = a->allow_delete;
  go.ref = a->ref;
  go.base = a->base;
  rc = source_open(&src, &a->src);
  if (rc == 0) {
    rc = apply ? gitpass_apply(src, &go, res) : gitpass_plan(src, &go, res);
    source_close(src);
  }
  if (rc < 0)
    fprintf(stderr, "tenantd: %s\n", td_error_last());
  return rc;
}

static int engine_run(struct engine_args *a, bool apply,
                      struct gitpass_result *res)
{
  struct reconcile_opts o;
  struct reconcile_report report;
  struct status_dir_store store;
  json_t *providers = a->cfg ? json_incref(a->cfg->providers)
                             : json_pack("{s:O}", "local", a->local);
  int rc;

  memset(res, 0, sizeof(*res));
  if (a->src.url) {
    rc = engine_run_git(a, apply, providers, res);
    json_decref(providers);
    return rc;
  }
  status_dir_store_init(&store, a->status_dir);
  engine_opts(a, apply, providers, &o);
  o.store = &store.base;
  rc = reconcile_once(&o, &report);
  if (rc < 0)
    fprintf(stderr, "tenantd: %s\n", td_error_last());
  if (rc == 0 && apply)
    report.sum.failed +=
        reconcile_report_write_dir(&report, a->status_dir, stderr);
  res->sum = report.sum;
  res->pushed = true;
  reconcile_report_release(&report);
  json_decref(providers);
  return rc;
}

#define GIT_OPTIONS_HELP                                                      \
  "  --repo URL             the manifest repository in Git (file://, a\n"     \
  "                         path, https://, ssh://) instead of DIR\n"         \
  "  --branch B             its tracked branch (main)\n"                      \
  "  --status-branch S      where status is committed (tenantd/status)\n"     \
  "  --cache-dir C          the mirror of the repository (" DEFAULT_CACHE_DIR \
  ")\n"                                                                       \
  "  --config FILE          take the source, status branch, cache and\n"      \
  "                         provider instances from a config file\n"

static void plan_help(FILE *out)
{
  fputs(
      "Usage: tenantd plan [DIR] [options]\n"
      "       tenantd plan --repo URL [--ref REF [--base REF]] [options]\n"
      "\n"
      "Shows what applying the manifests would change, per tenant, field\n"
      "by field, against what the providers hold now.  Changes nothing.\n"
      "With --repo and --ref (a pull request's branch), plans the tenants\n"
      "REF changed since it left --base (the tracked branch), with their\n"
      "manifest problems and the delete guard's verdict; --format\n"
      "markdown is ready to post as a pull-request comment.  It exits 1\n"
      "when a tenant would be held (an invalid manifest) or the guard\n"
      "refuses, so it can gate the pull request.\n"
      "\n"
      "Options:\n"
      "  --state-dir D          the local provider's state (" DEFAULT_STATE_DIR
      ")\n"
      "  --status-dir S         status files (" DEFAULT_STATUS_DIR ")\n"
      "  --format F             text, markdown (for a pull request) or json\n"
      "  --detailed-exitcode    exit 2 when changes are pending, 0 when none\n"
      "  --allow-delete N       accept a pass deleting exactly N resources\n"
      "  --set local.KEY=VALUE  a local provider option (latencyMs, "
      "...)\n" GIT_OPTIONS_HELP
      "  --ref REF              the branch, ref or commit to plan (--repo)\n"
      "  --base REF             what REF merges into (the tracked branch)\n"
      "  -h, --help             show this help\n",
      out);
}

static int cmd_plan(int argc, char **argv)
{
  struct engine_args a = {0};
  struct gitpass_result res;
  int rc = engine_parse("plan", argc, argv, &a, plan_help);

  if (rc == 0 && a.src.url && !a.ref)
    a.ref = a.src.branch;
  /* A pull request whose manifests are invalid must not pass its check:
   * with --repo, a held tenant fails the plan. */
  if (rc == 0)
    rc = engine_run(&a, false, &res) < 0
             ? EXIT_FAIL
             : (res.sum.refused || (a.src.url && res.sum.held)
                    ? EXIT_FAIL
                    : (a.detailed && res.sum.changes ? EXIT_CHANGES : EXIT_OK));
  else
    rc = rc < 0 ? EXIT_OK : EXIT_FAIL;
  json_decref(a.local);
  config_free(a.cfg);
  return rc;
}

static void apply_help(FILE *out)
{
  fputs(
      "Usage: tenantd apply --once [DIR] [options]\n"
      "       tenantd apply --once --repo URL [--all] [options]\n"
      "\n"
      "Reconciles once: observes, plans and applies the difference, then\n"
      "writes each tenant's status.  Prints a line per resource and a\n"
      "summary.  Exit status 0 when everything converged, 1 otherwise.\n"
      "\n"
      "With --repo: fetches the tracked branch, reconciles the tenants\n"
      "its new commits touched (every tenant on the first run, when\n"
      "platform.yaml or tiers.yaml changed, or with --all) and those not\n"
      "yet Ready, commits their status to the status branch, notes the\n"
      "manifest commit under refs/notes/tenantd and pushes both.  The\n"
      "trailer 'Tenantd-Allow-Delete: N' on the manifest commit works as\n"
      "--allow-delete N.  If the fetch fails, the last fetched manifests\n"
      "are applied again and every tenant is marked SourceError.\n"
      "\n"
      "Options:\n"
      "  --once                 required: one pass (the daemon is 'run')\n"
      "  --state-dir D          the local provider's state (" DEFAULT_STATE_DIR
      ")\n"
      "  --status-dir S         status files (" DEFAULT_STATUS_DIR ")\n"
      "  --allow-delete N       accept a pass deleting exactly N resources\n"
      "  --concurrency N        provider calls at once (8)\n"
      "  --health-timeout DUR   how long a service may take to turn healthy\n"
      "  --set local.KEY=VALUE  a local provider option (latencyMs,\n"
      "                         faultRate, faultClass, seed, "
      "healthDelayMs)\n" GIT_OPTIONS_HELP
      "  --all                  reconcile every tenant (drift check)\n"
      "  -h, --help             show this help\n",
      out);
}

static int cmd_apply(int argc, char **argv)
{
  struct engine_args a = {0};
  struct gitpass_result res;
  int rc = engine_parse("apply", argc, argv, &a, apply_help);

  if (rc == 0 && !a.once)
    rc = usage_error("apply", "%s",
                     "apply needs --once ('tenantd run' is "
                     "the daemon)");
  if (rc == 0) {
    if (engine_run(&a, true, &res) < 0) {
      rc = EXIT_FAIL;
    } else {
      const struct reconcile_summary *sum = &res.sum;

      printf("%zu tenant%s: %zu changed, %zu failed, %zu skipped, "
             "%zu conflicts, %zu stalled, %zu held%s\n",
             sum->tenants, sum->tenants == 1 ? "" : "s", sum->applied,
             sum->failed, sum->skipped, sum->conflicts, sum->stalled, sum->held,
             sum->refused ? " (refused by the delete guard)" : "");
      /* Where the time went, for benchmarks (tests/bench). */
      if (a.src.url && getenv("TENANTD_TIMING"))
        printf("timing: fetch %.4fs, to status commit %.4fs, push %.4fs\n",
               res.fetch_seconds, res.commit_seconds, res.push_seconds);
      if (a.src.url)
        printf("source %.12s%s; status %s%.12s%s\n", res.source,
               res.source_error ? " (last good: the fetch failed)" : "",
               res.status_commit[0] ? "commit " : "unchanged",
               res.status_commit,
               !res.pushed ? ", not pushed (kept in the cache)" : "");
      rc = (sum->refused || sum->failed || sum->conflicts || sum->held ||
            sum->stalled || res.source_error || !res.pushed)
               ? EXIT_FAIL
               : EXIT_OK;
    }
  } else {
    rc = rc < 0 ? EXIT_OK : EXIT_FAIL;
  }
  json_decref(a.local);
  config_free(a.cfg);
  return rc;
}

/* ---- run ---- */

static void run_help(FILE *out)
{
  fputs("Usage: tenantd run --config FILE [--log-format logfmt|json] "
        "[--check]\n"
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
        "  --config FILE          the controller config (see "
        "deploy/config.example.yaml)\n"
        "  --log-format F         logfmt (default) or json; overrides the "
        "config\n"
        "  --check                validate the config and exit\n"
        "  -h, --help             show this help\n",
        out);
}

static int cmd_run(int argc, char **argv)
{
  static const struct option opts[] = {
      {"config", required_argument, NULL, OPT_CONFIG},
      {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
      {"check", no_argument, NULL, OPT_CHECK},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *config = NULL;
  int c, err, log_format = -1;
  bool check = false;

  while ((c = next_opt("run", argc, argv, "+:h", opts, &err)) != -1) {
    if (err)
      return EXIT_FAIL;
    switch (c) {
    case OPT_CONFIG:
      config = optarg;
      break;
    case OPT_LOG_FORMAT:
      if (strcmp(optarg, "logfmt") == 0)
        log_format = LOG_FORMAT_LOGFMT;
      else if (strcmp(optarg, "json") == 0)
        log_format = LOG_FORMAT_JSON;
      else
        return usage_error("run", "unknown log format '%s' (logfmt, json)",
                           optarg);
      break;
    case OPT_CHECK:
      check = true;
      break;
    case 'h':
      run_help(stdout);
      return EXIT_OK;
    }
  }
  if (optind < argc)
    return usage_error("run", "unexpected argument '%s'", argv[optind]);
  if (!config)
    return usage_error("run", "%s", "--config FILE is required");
  if (check) {
    struct config *cfg;

    if (load_config(config, &cfg) < 0)
      return EXIT_FAIL;
    printf("%s: valid (%zu provider instance%s)\n", config,
           json_object_size(cfg->providers),
           json_object_size(cfg->providers) == 1 ? "" : "s");
    config_free(cfg);
    return EXIT_OK;
  }
  return daemon_run(config, log_format);
}

/* ---- status / log ---- */

struct view_args {
  struct source_opts src;
  bool json;
  long limit;
  const char *tenant;
  struct config *cfg;
};

static int view_parse(const char *cmd, int argc, char **argv,
                      struct view_args *a, void (*help)(FILE *))
{
  static const struct option opts[] = {
      {"repo", required_argument, NULL, OPT_REPO},
      {"branch", required_argument, NULL, OPT_BRANCH},
      {"status-branch", required_argument, NULL, OPT_STATUS_BRANCH},
      {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
      {"format", required_argument, NULL, OPT_FORMAT},
      {"limit", required_argument, NULL, OPT_LIMIT},
      {"config", required_argument, NULL, OPT_CONFIG},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *config = find_config(argc, argv);
  int c, err;

  git_defaults(&a->src);
  if (config) {
    if (load_config(config, &a->cfg) < 0)
      return 1;
    a->src.url = a->cfg->source.url;
    a->src.branch = a->cfg->source.branch;
    a->src.status_branch = a->cfg->status.branch;
    a->src.cache_dir = a->cfg->cache_dir;
    a->src.ssh_key = a->cfg->source.ssh_key;
  }
  /* Options may follow the tenant: `tenantd log acme --limit 5`. */
  while ((c = next_opt(cmd, argc, argv, ":h", opts, &err)) != -1) {
    if (err)
      return 1;
    switch (c) {
    case OPT_REPO:
    case OPT_BRANCH:
    case OPT_STATUS_BRANCH:
    case OPT_CACHE_DIR:
      git_option(&a->src, c, optarg);
      break;
    case OPT_FORMAT:
      if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
        return usage_error(cmd, "unknown format '%s' (text, json)", optarg);
      a->json = strcmp(optarg, "json") == 0;
      break;
    case OPT_LIMIT:
      if (parse_long(cmd, "--limit", optarg, 0, 1000000, &a->limit) < 0)
        return 1;
      break;
    case OPT_CONFIG:
      break;
    case 'h':
      help(stdout);
      return -1;
    }
  }
  if (optind < argc)
    a->tenant = argv[optind++];
  if (optind < argc)
    return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (!a->src.url)
    return usage_error(cmd, "%s", "--repo URL (or --config FILE) is required");
  return 0;
}

/* Opens the mirror, fetches (or says why the cached copy is shown), and
 * runs show() on the status branch. */
static int view_run(struct view_args *a,
                    int (*show)(struct writeback *wb, struct view_args *a))
{
  struct source *src;
  struct writeback *wb = NULL;
  int rc = source_open(&src, &a->src);

  if (rc < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    return EXIT_FAIL;
  }
  if (source_fetch(src) < 0) {
    char id[SOURCE_ID_LEN];

    fprintf(stderr, "tenantd: showing the cached status: %s\n",
            td_error_last());
    rc = writeback_open(&wb, src);
    /* Nothing cached either: an error, not an empty table. */
    if (rc == 0 && writeback_tip(wb, id) < 0)
      rc = td_error("no status of %s in the cache", source_url(src));
  } else {
    rc = writeback_open(&wb, src);
  }
  if (rc == 0)
    rc = show(wb, a);
  if (rc < 0)
    fprintf(stderr, "tenantd: %s\n", td_error_last());
  writeback_close(wb);
  source_close(src);
  return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

static void status_help(FILE *out)
{
  fputs("Usage: tenantd status --repo URL [TENANT] [--format text|json]\n"
        "\n"
        "Shows each tenant's status as committed on the status branch: Ready\n"
        "(with its reason), the manifest commit applied, the time of the\n"
        "last change and the message.  With TENANT, that tenant's row and\n"
        "its whole status file.\n"
        "\n"
        "Options:\n" GIT_OPTIONS_HELP "  --format F             text or json\n"
        "  -h, --help             show this help\n",
        out);
}

static int show_status(struct writeback *wb, struct view_args *a)
{
  return statusview_table(wb, a->tenant, a->json, stdout);
}

static int cmd_status(int argc, char **argv)
{
  struct view_args a = {0};
  int rc = view_parse("status", argc, argv, &a, status_help);

  if (rc == 0)
    rc = view_run(&a, show_status);
  else
    rc = rc < 0 ? EXIT_OK : EXIT_FAIL;
  config_free(a.cfg);
  return rc;
}

static void log_help(FILE *out)
{
  fputs(
      "Usage: tenantd log --repo URL TENANT [--limit N] [--format text|json]\n"
      "\n"
      "Shows what tenantd did to TENANT, newest first: one entry per\n"
      "status commit (time, commit, result, manifest commit applied)\n"
      "with its event lines.  The same history as\n"
      "  git log tenantd/status -- status/TENANT.yaml\n"
      "\n"
      "Options:\n" GIT_OPTIONS_HELP
      "  --limit N              at most N entries (all)\n"
      "  --format F             text or json\n"
      "  -h, --help             show this help\n",
      out);
}

static int show_log(struct writeback *wb, struct view_args *a)
{
  return statusview_log(wb, a->tenant, (size_t)a->limit, a->json, stdout);
}

static int cmd_log(int argc, char **argv)
{
  struct view_args a = {0};
  int rc = view_parse("log", argc, argv, &a, log_help);

  if (rc != 0)
    rc = rc < 0 ? EXIT_OK : EXIT_FAIL;
  else if (!a.tenant)
    rc = usage_error("log", "%s",
                     "which tenant? tenantd log --repo URL "
                     "TENANT");
  else
    rc = view_run(&a, show_log);
  config_free(a.cfg);
  return rc;
}

static void graph_help(FILE *out)
{
  fputs("Usage: tenantd graph [DIR]\n"
        "\n"
        "Prints the resource graph of the valid tenants in DIR as Graphviz\n"
        "DOT (tenantd graph | dot -Tsvg > graph.svg).\n",
        out);
}

static int cmd_graph(int argc, char **argv)
{
  static const struct option opts[] = {
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const struct manifest_opts mopts = MANIFEST_OPTS_INIT;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo = NULL;
  struct resource_set set = RESOURCE_SET_INIT;
  const char *dir = ".";
  int c, err, rc = EXIT_FAIL;

  while ((c = next_opt("graph", argc, argv, "+:h", opts, &err)) != -1) {
    if (err)
      return EXIT_FAIL;
    if (c == 'h') {
      graph_help(stdout);
      return EXIT_OK;
    }
  }
  if (optind < argc)
    dir = argv[optind++];
  if (optind < argc)
    return usage_error("graph", "unexpected argument '%s'", argv[optind]);
  if (manifest_files_read_dir(&files, dir, mopts.limits.max_bytes) < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    goto out;
  }
  manifest_repo_load(&repo, &files, &mopts);
  diag_print_text(&repo->diags, stderr);
  for (size_t i = 0; i < repo->ntenants; i++)
    if (repo->tenants[i]->valid &&
        compose_tenant(repo, repo->tenants[i], &set) < 0) {
      fprintf(stderr, "tenantd: %s\n", td_error_last());
      goto out;
    }
  compose_write_dot(&set, stdout);
  rc = repo->diags.n ? EXIT_FAIL : EXIT_OK;
out:
  resource_set_release(&set);
  manifest_repo_free(repo);
  manifest_files_release(&files);
  return rc;
}

/* ---- version ---- */

static void version_help(FILE *out)
{
  fputs("Usage: tenantd version\n\nPrints the version of tenantd.\n", out);
}

static int cmd_version(int argc, char **argv)
{
  static const struct option opts[] = {
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c, err;

  while ((c = next_opt("version", argc, argv, "+:h", opts, &err)) != -1) {
    if (err)
      return EXIT_FAIL;
    if (c == 'h') {
      version_help(stdout);
      return EXIT_OK;
    }
  }
  if (optind < argc)
    return usage_error("version", "unexpected argument '%s'", argv[optind]);
  printf("tenantd %s\n", TD_VERSION);
  return EXIT_OK;
}

/* ---- dispatch ---- */

static const struct command commands[] = {
    {"validate", "check a manifest repository and report every problem",
     cmd_validate, validate_help},
    {"plan", "show what would change, field by field", cmd_plan, plan_help},
    {"apply", "apply the difference once (--once) and write status", cmd_apply,
     apply_help},
    {"run", "the controller: poll, webhooks, resync, HTTP API", cmd_run,
     run_help},
    {"status", "show each tenant's status from the status branch", cmd_status,
     status_help},
    {"log", "show what tenantd did to a tenant, newest first", cmd_log,
     log_help},
    {"graph", "print the resource graph as Graphviz DOT", cmd_graph,
     graph_help},
    {"version", "print the version", cmd_version, version_help},
};

static const struct command *find_command(const char *name)
{
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static void main_help(FILE *out)
{
  fputs("Usage: tenantd <command> [options]\n"
        "\n"
        "GitOps reconciliation for multi-tenant infrastructure: tenants,\n"
        "environments and apps kept as YAML in a Git repository.\n"
        "\n"
        "Commands:\n",
        out);
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs("\n"
        "Run 'tenantd <command> --help' for a command's options.\n"
        "Options: -h, --help (this help), --version.\n",
        out);
}

int main(int argc, char **argv)
{
  const struct command *cmd;

  if (argc < 2) {
    main_help(stderr);
    return EXIT_FAIL;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "help") == 0) {
    if (argc > 2 && strcmp(argv[1], "help") == 0) {
      cmd = find_command(argv[2]);
      if (!cmd)
        return usage_error(NULL, "unknown command '%s'", argv[2]);
      cmd->help(stdout);
      return EXIT_OK;
    }
    main_help(stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0)
    return cmd_version(1, argv);
  if (argv[1][0] == '-')
    return usage_error(NULL, "unknown option '%s'", argv[1]);
  cmd = find_command(argv[1]);
  if (!cmd)
    return usage_error(NULL, "unknown command '%s'", argv[1]);
  /* Subcommands parse their own argv, with the command name as argv[0];
   * they print their own messages for bad options. */
  opterr = 0;
  optind = 1;
  return cmd->run(argc - 1, argv + 1);
}
