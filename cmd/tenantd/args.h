/*
 * args.h - what the commands' argument parsing shares: usage errors,
 * getopt_long with tenantd's messages, numbers, --config, --set, and the
 * options that name a manifest repository in Git.
 *
 * Arguments work as in every GNU tool: options may come before or after
 * the operands (getopt_long permutes), "--" ends the options, a long
 * option may be abbreviated while it stays unambiguous, and a mistyped one
 * gets "did you mean".  Each command owns its option table (struct
 * option[], ids from enum args_opt for long-only options, "help" as 'h')
 * and accepts nothing else; it parses in three steps:
 *
 *   while ((c = args_getopt(cmd, argc, argv, opts, &failed)) != -1)
 *     ... one case per option ...
 *   ... operands from argv[optind] ...
 *   ... checks of combinations ...
 *
 * or, when --config must be read before the other options whatever their
 * order, with args_collect().  Either ends in an args_result: run the
 * command, or exit (args_exit_code) because help was printed or an error
 * was reported.
 */
#ifndef TD_ARGS_H
#define TD_ARGS_H

#include "base/compat.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

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
  OPT_STRICT,
  OPT_CHANGED,
  OPT_MAX_BYTES,
  OPT_STATE,
  OPT_PREFIX,
};

/*
 * Prints "tenantd <cmd>: <message>" (with `cmd` NULL, "tenantd: ...") and
 * where to find help, the command's or tenantd's, on stderr; ARGS_FAILED.
 */
enum args_result args_usage(const char *cmd, const char *fmt, ...)
    TD_PRINTF(2, 3);

/*
 * getopt_long over `longopts` and -h, permuting (opterr must be 0, optind
 * 1 at the start): an unknown, ambiguous or misused option, or a missing
 * value, is reported as a usage error of `cmd`, with the option meant
 * when one is close, and sets *failed.
 */
int args_getopt(const char *cmd, int argc, char **argv,
                const struct option *longopts, bool *failed);

/* One option as given on the command line. */
struct args_given {
  int opt;
  const char *arg;
};

/*
 * Reads the whole command line with args_getopt(): --config's value (the
 * last one given) into *config, every other option into `given` (room for
 * argc entries) in order, *n of them; the operands are left in
 * argv[optind..].  Prints `help` on --help.  So a command loads the file
 * before it applies the options, wherever they stand.
 */
enum args_result args_collect(const char *cmd, int argc, char **argv,
                              const struct option *opts,
                              void (*help)(FILE *out), struct args_given *given,
                              size_t *n, const char **config);

/* ARGS_RUN when argv[optind..] holds at most `max` operands; else a usage
 * error naming the first one too many. */
enum args_result args_operands(const char *cmd, int argc, char **argv, int max);

/* `text` as a number from lo to hi for option `opt`, or a usage error. */
enum args_result args_long(const char *cmd, const char *opt, const char *text,
                           long lo, long hi, long *out);

/* Loads a config file, printing its problems: 0, or -1 reported. */
int args_load_config(const char *path, struct config **out);

/* --set local.KEY=VALUE into `local`: VALUE as JSON when it parses, else
 * a string. */
enum args_result args_set_local(const char *cmd, json_t *local,
                                const char *arg);

/* ---- the manifest repository in Git: --repo, --branch, ... ---- */

/* clang-format off */
#define ARGS_GIT_OPTIONS_HELP                                                 \
  "  --repo URL             the manifest repository in Git (file://, a\n"     \
  "                         path, https://, ssh://) instead of DIR\n"         \
  "  --branch B             its tracked branch (main)\n"                      \
  "  --status-branch S      where status is committed (tenantd/status)\n"     \
  "  --cache-dir C          the mirror of the repository\n"                  \
  "                         ($XDG_CACHE_HOME/tenantd, ~/.cache/tenantd)\n"   \
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
