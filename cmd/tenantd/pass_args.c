#include "base/compat.h"

#include "base/error.h"
#include "base/strutil.h"
#include "cmd/tenantd/pass_args.h"

void pass_args_init(struct pass_args *a)
{
  memset(a, 0, sizeof(*a));
  a->dir = ".";
  a->state_dir = PASS_ARGS_DEFAULT_STATE_DIR;
  a->status_dir = PASS_ARGS_DEFAULT_STATUS_DIR;
  a->rec = (struct reconcile_opts)RECONCILE_OPTS_INIT;
  a->local = json_pack("{s:s}", "type", "local");
  args_git_defaults(&a->src);
}

void pass_args_release(struct pass_args *a)
{
  json_decref(a->local);
  config_free(a->cfg);
  a->local = NULL;
  a->cfg = NULL;
}

/* ---- options ---- */

/* --config: the source, and the pass's options the file sets. */
static enum args_result take_config(struct pass_args *a, const char *path)
{
  if (args_load_config(path, &a->cfg) < 0)
    return ARGS_FAILED;
  args_git_config(&a->src, a->cfg);
  a->rec.concurrency = a->cfg->reconcile.concurrency;
  a->rec.health_timeout_ms = a->cfg->reconcile.health_timeout_ms;
  return ARGS_RUN;
}

static enum args_result take_format(struct pass_args *a, const char *cmd,
                                    const char *arg)
{
  if (strcmp(arg, "text") == 0)
    a->rec.format = PLAN_TEXT;
  else if (strcmp(arg, "markdown") == 0)
    a->rec.format = PLAN_MARKDOWN;
  else if (strcmp(arg, "json") == 0)
    a->rec.format = PLAN_JSON;
  else
    return args_usage(cmd, "unknown format '%s' (text, markdown, json)", arg);
  return ARGS_RUN;
}

/* The options with a number or a duration for a value. */
static enum args_result take_number(struct pass_args *a, const char *cmd,
                                    int opt, const char *arg)
{
  enum args_result r = ARGS_RUN;
  int64_t ms;
  long v = 0;

  switch (opt) {
  case OPT_ALLOW_DELETE:
    r = args_long(cmd, "--allow-delete", arg, 0, 1000000000, &v);
    if (r == ARGS_RUN)
      a->rec.allow_delete = v;
    break;
  case OPT_CONCURRENCY:
    r = args_long(cmd, "--concurrency", arg, 1, 4096, &v);
    if (r == ARGS_RUN)
      a->rec.concurrency = (unsigned)v;
    break;
  case OPT_MAX_BYTES:
    r = args_long(cmd, "--max-bytes", arg, PLAN_PART_MIN, 100000000, &v);
    if (r == ARGS_RUN)
      a->rec.plan_max_bytes = (size_t)v;
    break;
  case OPT_HEALTH_TIMEOUT:
    if (str_parse_duration(arg, &ms) < 0 || ms <= 0)
      return args_usage(cmd,
                        "--health-timeout takes a duration like "
                        "30s or 500ms, not '%s'",
                        arg);
    a->rec.health_timeout_ms = (uint64_t)ms;
    break;
  }
  return r;
}

static enum args_result take_option(struct pass_args *a, const char *cmd,
                                    int opt, const char *arg)
{
  if (opt == OPT_REPO)
    a->repo_given = true;
  if (args_git_option(&a->src, opt, arg))
    return ARGS_RUN;
  switch (opt) {
  case OPT_ALL:
    a->all = true;
    break;
  case OPT_CHANGED:
    a->changed = true;
    break;
  case OPT_REF:
    a->ref = arg;
    break;
  case OPT_BASE:
    a->base = arg;
    break;
  case OPT_STATE_DIR:
    a->state_dir = arg;
    a->local_given = true;
    break;
  case OPT_STATUS_DIR:
    a->status_dir = arg;
    break;
  case OPT_FORMAT:
    return take_format(a, cmd, arg);
  case OPT_DETAILED:
    a->detailed = true;
    break;
  case OPT_SET:
    a->local_given = true;
    return args_set_local(cmd, a->local, arg);
  case OPT_ONCE:
    a->once = true;
    break;
  case OPT_ALLOW_DELETE:
  case OPT_CONCURRENCY:
  case OPT_HEALTH_TIMEOUT:
  case OPT_MAX_BYTES:
    return take_number(a, cmd, opt, arg);
  }
  return ARGS_RUN;
}

/* ---- the command line as a whole ---- */

static enum args_result check_combinations(struct pass_args *a, const char *cmd)
{
  if (a->cfg && a->local_given)
    return args_usage(cmd, "%s",
                      "--state-dir and --set are for the built-in local "
                      "instance; with --config, set provider options in "
                      "the config file");
  /* A directory given with --config: its manifests, the config's
   * providers. */
  if (a->cfg && a->dir_given && !a->repo_given)
    a->src.url = NULL;
  if (a->src.url && a->dir_given)
    return args_usage(cmd, "give a directory or --repo, not both ('%s')",
                      a->dir);
  if (!a->src.url && (a->ref || a->base || a->all || a->changed))
    return args_usage(cmd, "%s",
                      "--ref, --base, --all and --changed need --repo");
  if (a->all && a->changed)
    return args_usage(cmd, "%s", "--all or --changed, not both");
  if (a->ref && a->changed)
    return args_usage(cmd, "%s",
                      "--changed is for the tracked branch; --ref plans "
                      "what REF changed");
  return ARGS_RUN;
}

enum args_result pass_args_parse(struct pass_args *a, const char *cmd, int argc,
                                 char **argv, const struct option *opts,
                                 void (*help)(FILE *out))
{
  struct args_given *given = td_calloc((size_t)argc, sizeof(*given));
  const char *config;
  enum args_result r;
  size_t n;

  /* The file first, then the command line over it, in any order. */
  r = args_collect(cmd, argc, argv, opts, help, given, &n, &config);
  if (r == ARGS_RUN && config)
    r = take_config(a, config);
  for (size_t i = 0; r == ARGS_RUN && i < n; i++)
    r = take_option(a, cmd, given[i].opt, given[i].arg);
  free(given);
  if (r == ARGS_RUN)
    r = args_operands(cmd, argc, argv, 1);
  if (r != ARGS_RUN)
    return r;
  if (optind < argc) {
    a->dir = argv[optind];
    a->dir_given = true;
  }
  r = check_combinations(a, cmd);
  if (r == ARGS_RUN && !json_object_get(a->local, "stateDir"))
    json_object_set_new(a->local, "stateDir", json_string(a->state_dir));
  return r;
}

/* ---- the pass ---- */

static int run_git(const struct pass_args *a, const struct reconcile_opts *rec,
                   struct pass_outcome *out)
{
  struct gitpass_opts go = {.version = GITPASS_OPTS_VERSION};
  struct source *src;
  int rc;

  go.rec = *rec;
  go.all = !a->changed;
  go.allow_delete = rec->allow_delete;
  go.ref = a->ref;
  go.base = a->base;
  rc = source_open(&src, &a->src);
  if (rc == 0) {
    rc = rec->apply ? gitpass_apply(src, &go, &out->git)
                    : gitpass_plan(src, &go, &out->git);
    source_close(src);
  }
  out->sum = out->git.sum;
  out->result = out->git.result;
  return rc;
}

static int run_dir(const struct pass_args *a, const struct reconcile_opts *rec,
                   struct pass_outcome *out)
{
  struct dirpass_opts o = DIRPASS_OPTS_INIT;
  struct dirpass_result res;
  int rc;

  o.rec = *rec;
  o.status_dir = a->status_dir;
  rc = dirpass_run(&o, &res);
  out->sum = res.sum;
  out->result = res.result;
  return rc;
}

void pass_args_run(const struct pass_args *a, bool apply,
                   struct pass_outcome *out)
{
  struct reconcile_opts rec = a->rec;
  json_t *providers = a->cfg ? json_incref(a->cfg->providers)
                             : json_pack("{s:O}", "local", a->local);
  int rc;

  memset(out, 0, sizeof(*out));
  rec.dir = a->dir;
  rec.providers = providers;
  rec.apply = apply;
  rec.progress = apply;
  rec.print_diags = true;
  rec.out = stdout;
  rec.err = stderr;
  rc = a->src.url ? run_git(a, &rec, out) : run_dir(a, &rec, out);
  if (rc < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    out->result = PASS_ERROR;
  }
  json_decref(providers);
}
