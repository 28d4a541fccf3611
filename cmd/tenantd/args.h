/*
 * args.h - what the commands' argument parsing shares: usage errors,
 * getopt_long with tenantd's messages, numbers, --config, --set, and the
 * options that name a manifest repository in Git.
 *
 * Each command owns its option table (struct option[], ids from enum
 * args_opt for long-only options) and parses in three steps:
 *
 *   while ((c = args_getopt(cmd, argc, argv, "+:h", opts, &failed)) != -1)
 *     ... one case per option ...
 *   ... operands from argv[optind] ...
 *   ... checks of combinations ...
 *
 * ending in an args_result: run the command, or exit (args_exit_code)
 * because help was printed or an error was reported.
 */
#ifndef TD_ARGS_H
#define TD_ARGS_H

#include "base/compat.h"

#include <getopt.h>
#include <jansson.h>

#include "git/source.h"
#include "server/config.h"

/* How parsing a command line ended. */
enum args_result {
  ARGS_RUN,    /* parsed: go on */
  ARGS_HELP,   /* --help was printed: exit 0 */
  ARGS_FAILED, /* a usage error (or a bad --config) was reported: exit 1 */
};

/* 0 for ARGS_HELP, 1 for ARGS_FAILED (and ARGS_RUN, which is no exit). */
int args_exit_code(enum args_result r);

/* Ids of the long options without a short form. */
enum args_opt {
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
  OPT_CHANGED,
  OPT_MAX_BYTES,
  OPT_STATE,
  OPT_PREFIX,
};

/*
 * Prints "tenantd: <fmt with arg>" and where to find help (the command's,
 * or with `cmd` NULL tenantd's) on stderr; ARGS_FAILED.
 */
enum args_result args_usage(const char *cmd, const char *fmt, const char *arg);

/*
 * getopt_long with tenantd's messages (opterr must be 0): an unknown
 * option or a missing value is reported as a usage error of `cmd` and
 * sets *failed.
 */
int args_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
                const struct option *longopts, bool *failed);

/* `text` as a number from lo to hi for option `opt`, or a usage error. */
enum args_result args_long(const char *cmd, const char *opt, const char *text,
                           long lo, long hi, long *out);

/* The value of --config in argv, looked for before the other options so
 * that they override what the file says; NULL when not given. */
const char *args_find_config(int argc, char **argv);

/* Loads a config file, printing its problems: 0, or -1 reported. */
int args_load_config(const char *path, struct config **out);

/* --set local.KEY=VALUE into `local`: VALUE as JSON when it parses, else
 * a string. */
enum args_result args_set_local(const char *cmd, json_t *local,
                                const char *arg);

/* ---- the manifest repository in Git: --repo, --branch, ... ---- */

#define ARGS_DEFAULT_CACHE_DIR ".tenantd/cache"

/* clang-format off */
#define ARGS_GIT_OPTIONS_HELP                                                 \
  "  --repo URL             the manifest repository in Git (file://, a\n"     \
  "                         path, https://, ssh://) instead of DIR\n"         \
  "  --branch B             its tracked branch (main)\n"                      \
  "  --status-branch S      where status is committed (tenantd/status)\n"     \
  "  --cache-dir C          the mirror of the repository ("                   \
  ARGS_DEFAULT_CACHE_DIR ")\n"                                                \
  "  --config FILE          take the source, status branch, cache and\n"      \
  "                         provider instances from a config file\n"
/* clang-format on */

/* The source without --repo or --config. */
void args_git_defaults(struct source_opts *src);

/* The source a config file names. */
void args_git_config(struct source_opts *src, const struct config *c);

/* OPT_REPO, OPT_BRANCH, OPT_STATUS_BRANCH or OPT_CACHE_DIR into `src`;
 * false for any other option. */
bool args_git_option(struct source_opts *src, int opt, const char *arg);

#endif
