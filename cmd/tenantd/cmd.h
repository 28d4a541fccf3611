/*
 * cmd.h - tenantd's commands.
 *
 * main.c holds the table of commands and the process-wide setup; each
 * command lives in its own cmd_<name>.c, parses its own arguments
 * (args.h) with its own option table and makes one call into controller/
 * for the work.  Policy (what a pass does, how it is judged) lives below,
 * never here.
 *
 * A command runs with its name as argv[0] and getopt reset (optind 1,
 * opterr 0), prints its own messages, and returns the process's exit
 * code.
 */
#ifndef TD_CMD_H
#define TD_CMD_H

#include "base/compat.h"

#include <stdio.h>

#include "engine/dirpass.h"

/* Exit codes: 0 ok, 1 error or usage error.  plan and apply take theirs
 * from their pass (pass_exit_code), which adds 2, changes pending. */
enum { CMD_EXIT_OK = PASS_EXIT_OK, CMD_EXIT_FAIL = PASS_EXIT_FAIL };

/* The build, written by the Makefile when it links tenantd: the commit
 * ("unknown" outside a Git checkout, "-dirty" with uncommitted changes)
 * and the date in UTC (SOURCE_DATE_EPOCH's when set). */
extern const char tenantd_build_commit[];
extern const char tenantd_build_date[];

struct cmd {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary; /* a line of `tenantd --help` */
  void (*help)(FILE *out);
};

int cmd_validate(int argc, char **argv);
void cmd_validate_help(FILE *out);

int cmd_plan(int argc, char **argv);
void cmd_plan_help(FILE *out);

int cmd_apply(int argc, char **argv);
void cmd_apply_help(FILE *out);

int cmd_run(int argc, char **argv);
void cmd_run_help(FILE *out);

int cmd_status(int argc, char **argv);
void cmd_status_help(FILE *out);

int cmd_log(int argc, char **argv);
void cmd_log_help(FILE *out);

int cmd_graph(int argc, char **argv);
void cmd_graph_help(FILE *out);

int cmd_version(int argc, char **argv);
void cmd_version_help(FILE *out);

#endif
