/*
 * tenantd - GitOps reconciliation controller for multi-tenant
 * infrastructure.  This file is the table of commands and the process's
 * setup; each command is cmd_<name>.c (cmd.h), the work lives in
 * controller/ and providers/.
 *
 * Exit codes: 0 success, 1 failure or usage error, 2 "changes pending"
 * (plan --detailed-exitcode).
 */
#include "base/compat.h"

#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "base/jsoncache.h"
#include "base/strutil.h"
#include "cmd/tenantd/args.h"
#include "cmd/tenantd/cmd.h"
#include "git/source.h"

static const struct cmd commands[] = {
    {"validate", cmd_validate,
     "check a manifest repository and report every problem", cmd_validate_help},
    {"plan", cmd_plan, "show what would change, field by field", cmd_plan_help},
    {"apply", cmd_apply, "apply the difference once (--once) and write status",
     cmd_apply_help},
    {"run", cmd_run, "the controller: poll, webhooks, resync, HTTP API",
     cmd_run_help},
    {"status", cmd_status, "show each tenant's status from the status branch",
     cmd_status_help},
    {"log", cmd_log, "show what tenantd did to a tenant, newest first",
     cmd_log_help},
    {"graph", cmd_graph, "print the resource graph as Graphviz DOT",
     cmd_graph_help},
    {"reconcile", cmd_reconcile, "ask the daemon to reconcile a tenant now",
     cmd_reconcile_help},
    {"suspend", cmd_suspend, "suspend a tenant: a commit through the daemon",
     cmd_suspend_help},
    {"resume", cmd_resume, "resume a suspended tenant: a commit, likewise",
     cmd_resume_help},
    {"version", cmd_version, "print the version", cmd_version_help},
};

static const struct cmd *find_command(const char *name)
{
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

/* A usage error for a command that does not exist, with the closest. */
static int unknown_command(const char *name)
{
  const char *names[ARRAY_SIZE(commands) + 1];
  const char *meant;

  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    names[i] = commands[i].name;
  names[ARRAY_SIZE(commands)] = "help";
  meant = str_suggest(name, names, ARRAY_SIZE(names));
  if (meant)
    return args_exit_code(args_usage(
        NULL, "unknown command '%s' (did you mean '%s'?)", name, meant));
  return args_exit_code(args_usage(NULL, "unknown command '%s'", name));
}

/* The same for an option before the command. */
static int unknown_option(const char *opt)
{
  static const char *const names[] = {"--help", "--version"};
  const char *meant = str_suggest(opt, names, ARRAY_SIZE(names));

  if (meant)
    return args_exit_code(args_usage(
        NULL, "unknown option '%s' (did you mean '%s'?)", opt, meant));
  return args_exit_code(args_usage(NULL, "unknown option '%s'", opt));
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

/* `tenantd help [COMMAND]`, `tenantd -h`, `tenantd --help`. */
static int help(int argc, char **argv)
{
  const struct cmd *cmd;

  if (argc > 2 && strcmp(argv[1], "help") == 0) {
    cmd = find_command(argv[2]);
    if (!cmd)
      return unknown_command(argv[2]);
    cmd->help(stdout);
    return CMD_EXIT_OK;
  }
  main_help(stdout);
  return CMD_EXIT_OK;
}

static bool is_help(const char *arg)
{
  return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 ||
         strcmp(arg, "help") == 0;
}

static int dispatch(int argc, char **argv)
{
  const struct cmd *cmd;

  if (argc < 2) {
    main_help(stderr);
    return CMD_EXIT_FAIL;
  }
  if (is_help(argv[1]))
    return help(argc, argv);
  opterr = 0;
  optind = 1;
  if (strcmp(argv[1], "--version") == 0)
    return cmd_version(argc - 1, argv + 1);
  if (argv[1][0] == '-')
    return unknown_option(argv[1]);
  cmd = find_command(argv[1]);
  if (!cmd)
    return unknown_command(argv[1]);
  /* Commands parse their own argv, with the command name as argv[0];
   * they print their own messages for bad options. */
  return cmd->run(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
  int rc;

  /* A peer that closes a socket we write (an HTTP client of the daemon,
   * a Git server under libgit2) is an error on that socket, never a
   * signal that ends the process. */
  signal(SIGPIPE, SIG_IGN);
  /* Before any JSON value is made: jansson's allocator is global. */
  jsoncache_install();
  /* libcurl's global state is set up here, before any thread (passes
   * run on workers), and released after the last user; libgit2's at its
   * first use (source.h), which a command on a directory never makes. */
  curl_global_init(CURL_GLOBAL_DEFAULT);
  rc = dispatch(argc, argv);
  curl_global_cleanup();
  source_library_exit();
  jsoncache_flush();
  return rc;
}
