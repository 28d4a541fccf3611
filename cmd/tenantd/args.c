#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/diag.h"
#include "base/strutil.h"
#include "cmd/tenantd/args.h"
#include "cmd/tenantd/cmd.h"

int args_exit_code(enum args_result r)
{
  return r == ARGS_HELP ? CMD_EXIT_OK : CMD_EXIT_FAIL;
}

enum args_result args_usage(const char *cmd, const char *fmt, ...)
{
  va_list ap;

  if (cmd)
    fprintf(stderr, "tenantd %s: ", cmd);
  else
    fputs("tenantd: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  if (cmd)
    fprintf(stderr, "Try 'tenantd %s --help'.\n", cmd);
  else
    fputs("Try 'tenantd --help'.\n", stderr);
  return ARGS_FAILED;
}

/* Long option names a table may hold, for suggestions. */
#define MAX_OPTIONS 64

/*
 * Says what is wrong with the long option `text` ("--name" or
 * "--name=value"), which getopt_long refused: unknown (with the closest
 * name), ambiguous (with the names it abbreviates), or given a value it
 * does not take.
 */
static void bad_long_option(const char *cmd, const char *text,
                            const struct option *opts)
{
  const char *names[MAX_OPTIONS], *eq = strchr(text, '=');
  const char *name = text + 2, *meant;
  size_t len = eq ? (size_t)(eq - name) : strlen(name), n = 0, nprefix = 0;
  const struct option *match = NULL;
  char list[512] = "";

  for (const struct option *o = opts; o->name && n < MAX_OPTIONS; o++) {
    names[n++] = o->name;
    if (len == 0 || strncmp(o->name, name, len) != 0)
      continue;
    if (strlen(o->name) == len) { /* an exact name is never ambiguous */
      match = o;
      nprefix = 1;
      break;
    }
    match = o;
    nprefix++;
    snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s--%s",
             nprefix > 1 ? ", " : "", o->name);
  }
  if (nprefix == 1 && match->has_arg == no_argument && eq) {
    args_usage(cmd, "option '--%s' takes no value", match->name);
  } else if (nprefix > 1) {
    args_usage(cmd, "option '%.*s' is ambiguous: %s", (int)(len + 2), text,
               list);
  } else {
    char word[128];

    snprintf(word, sizeof(word), "%.*s", (int)len, name);
    meant = str_suggest(word, names, n);
    if (meant)
      args_usage(cmd, "unknown option '--%s' (did you mean '--%s'?)", word,
                 meant);
    else
      args_usage(cmd, "unknown option '--%s'", word);
  }
}

/* A missing value: optopt is the option's id; an abbreviation is shown
 * with the option it stands for. */
static void missing_value(const char *cmd, const char *text,
                          const struct option *opts)
{
  const struct option *o = opts;

  while (o->name && o->val != optopt)
    o++;
  if (o->name && strncmp(text, "--", 2) == 0 && strcmp(text + 2, o->name) != 0)
    args_usage(cmd, "option '%s' (short for '--%s') needs a value", text,
               o->name);
  else
    args_usage(cmd, "option '%s' needs a value", text);
}

int args_getopt(const char *cmd, int argc, char **argv,
                const struct option *longopts, bool *failed)
{
  /* No '+': options may follow the operands.  The ':' makes a missing
   * value its own case. */
  int c = getopt_long(argc, argv, ":h", longopts, NULL);

  *failed = c == '?' || c == ':';
  if (c == ':')
    missing_value(cmd, argv[optind - 1], longopts);
  /* optopt is the character of an unknown short option; for a long
   * option it is 0 or the option's id (-h is the only short one). */
  else if (c == '?' && optopt > 0 && optopt < 256 && optopt != 'h')
    args_usage(cmd, "unknown option '-%c'", optopt);
  else if (c == '?' && strncmp(argv[optind - 1], "--", 2) == 0)
    bad_long_option(cmd, argv[optind - 1], longopts);
  else if (c == '?')
    args_usage(cmd, "unknown option '%s'", argv[optind - 1]);
  return c;
}

enum args_result args_collect(const char *cmd, int argc, char **argv,
                              const struct option *opts,
                              void (*help)(FILE *out), struct args_given *given,
                              size_t *n, const char **config)
{
  bool failed;
  int c;

  *n = 0;
  *config = NULL;
  while ((c = args_getopt(cmd, argc, argv, opts, &failed)) != -1) {
    if (failed)
      return ARGS_FAILED;
    if (c == 'h') {
      help(stdout);
      return ARGS_HELP;
    }
    if (c == OPT_CONFIG)
      *config = optarg;
    else
      given[(*n)++] = (struct args_given){c, optarg};
  }
  return ARGS_RUN;
}

enum args_result args_operands(const char *cmd, int argc, char **argv, int max)
{
  if (argc - optind > max)
    return args_usage(cmd, "unexpected argument '%s'", argv[optind + max]);
  return ARGS_RUN;
}

enum args_result args_long(const char *cmd, const char *opt, const char *text,
                           long lo, long hi, long *out)
{
  char *end;
  long v = strtol(text, &end, 10);

  if (!*text || *end || v < lo || v > hi)
    return args_usage(cmd, "%s needs a number from %ld to %ld, not '%s'", opt,
                      lo, hi, text);
  *out = v;
  return ARGS_RUN;
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
  src->allow_insecure = c->source.allow_insecure;
  src->known_hosts = c->source.known_hosts;
  src->timeout_ms = c->source.timeout_ms;
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
