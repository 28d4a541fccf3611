/*
 * pass_args.h - what plan and apply share: their options and the one
 * pass they run, over a directory (engine/dirpass.h) or over the
 * manifest repository in Git (git/gitpass.h).
 *
 *   struct pass_args a;
 *   pass_args_init(&a);
 *   r = pass_args_parse(&a, "plan", argc, argv, plan_options, help);
 *   if (r == ARGS_RUN)
 *     pass_args_run(&a, false, &outcome);
 *   pass_args_release(&a);
 *
 * Precedence: defaults, then the --config file, then the command line.
 */
#ifndef TD_PASS_ARGS_H
#define TD_PASS_ARGS_H

#include "base/compat.h"

#include <jansson.h>
#include <stdio.h>

#include "cmd/tenantd/args.h"
#include "engine/dirpass.h"
#include "engine/reconcile.h"
#include "git/gitpass.h"
#include "git/source.h"
#include "server/config.h"

#define PASS_ARGS_DEFAULT_STATE_DIR ".tenantd/local"
#define PASS_ARGS_DEFAULT_STATUS_DIR ".tenantd/status"

struct pass_args {
  const char *dir, *state_dir, *status_dir;
  struct source_opts src; /* src.url set: the manifests are in Git */
  const char *ref, *base;
  /* --changed: only the tenants changed since the last status commit
   * and those not Ready (from Git); every tenant otherwise (--all). */
  bool all, changed, detailed, once;
  /* The pass's options as given: allow_delete, concurrency,
   * health_timeout_ms, format, plan_max_bytes; the rest is set by
   * pass_args_run. */
  struct reconcile_opts rec;
  json_t *local;      /* the local instance's config, owned */
  struct config *cfg; /* --config: the source and provider instances */
  /* What the command line said, for the checks of combinations. */
  bool dir_given, repo_given, local_given;
};

void pass_args_init(struct pass_args *a);

/*
 * Parses argv with the command's option table `opts` (those of the
 * options plan and apply know that the command takes, and "help"; any
 * other is a usage error); options may come before or after DIR.  Prints
 * `help` on --help.
 */
enum args_result pass_args_parse(struct pass_args *a, const char *cmd, int argc,
                                 char **argv, const struct option *opts,
                                 void (*help)(FILE *out));

void pass_args_release(struct pass_args *a);

/* What a pass did. */
struct pass_outcome {
  enum pass_result result;
  struct reconcile_summary sum;
  struct gitpass_result git; /* with --repo: commits, push, timings */
};

/*
 * Runs one pass (with `apply`, changing things and writing status) on
 * stdout and stderr; an error that stopped it is reported there and
 * out->result is PASS_ERROR.
 */
void pass_args_run(const struct pass_args *a, bool apply,
                   struct pass_outcome *out);

#endif
