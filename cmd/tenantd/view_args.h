/*
 * view_args.h - what status and log share: their options and showing
 * the status branch of the manifest repository (git/statusview.h).
 *
 *   struct view_args a;
 *   view_args_init(&a);
 *   r = view_args_parse(&a, "log", argc, argv, log_options, help);
 *   if (r == ARGS_RUN)
 *     rc = view_args_show(&a, show_log);
 *   view_args_release(&a);
 */
#ifndef TD_VIEW_ARGS_H
#define TD_VIEW_ARGS_H

#include "base/compat.h"

#include <stdio.h>

#include "cmd/tenantd/args.h"
#include "git/gitpass.h"
#include "git/source.h"
#include "git/statusview.h"
#include "server/config.h"

struct view_args {
  struct source_opts src;
  bool json;
  long limit;                      /* --limit, 0: all */
  const char *tenant;              /* the operand, or NULL */
  struct statusview_filter filter; /* status: --state, --prefix */
  struct config *cfg;              /* --config: the source */
};

void view_args_init(struct view_args *a);

/*
 * Parses argv with the command's option table `opts`; options may follow
 * the tenant (`tenantd log acme --limit 5`).  --repo (or --config) is
 * required.  Prints `help` on --help.
 */
enum args_result view_args_parse(struct view_args *a, const char *cmd, int argc,
                                 char **argv, const struct option *opts,
                                 void (*help)(FILE *out));

void view_args_release(struct view_args *a);

/* Opens the status branch and the manifests' tenants
 * (gitpass_view_open) and runs show() on them; the exit code, errors
 * reported on stderr. */
int view_args_show(const struct view_args *a,
                   int (*show)(const struct gitpass_view *v,
                               const struct view_args *a));

#endif
