/*
 * tenantd - GitOps reconciliation controller for multi-tenant
 * infrastructure.  This file parses arguments and dispatches to
 * subcommands; the work lives in controller/ and providers/.
 *
 * Exit codes: 0 success, 1 failure or usage error, 2 "changes pending"
 * (plan --detailed-exitcode).
 */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>

#include "error.h"
#include "manifest.h"

#ifndef TD_VERSION
#define TD_VERSION "0.0.0-dev"
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1 };

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
  fprintf(stderr, fmt, arg);
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
