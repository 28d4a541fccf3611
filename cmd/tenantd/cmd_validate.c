/* tenantd validate: load a manifest repository, report every problem. */
#include "base/compat.h"

#include <stdio.h>

#include "base/error.h"
#include "cmd/tenantd/args.h"
#include "cmd/tenantd/cmd.h"
#include "manifest/manifest.h"

static const struct option validate_options[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct validate_args {
  const char *dir;
  bool json;
};

void cmd_validate_help(FILE *out)
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

static enum args_result parse(struct validate_args *a, int argc, char **argv)
{
  bool failed;
  int c;

  while ((c = args_getopt("validate", argc, argv, validate_options, &failed)) !=
         -1) {
    if (failed)
      return ARGS_FAILED;
    switch (c) {
    case OPT_FORMAT:
      if (strcmp(optarg, "json") == 0)
        a->json = true;
      else if (strcmp(optarg, "text") != 0)
        return args_usage("validate", "unknown format '%s' (text, json)",
                          optarg);
      break;
    case 'h':
      cmd_validate_help(stdout);
      return ARGS_HELP;
    }
  }
  if (args_operands("validate", argc, argv, 1) != ARGS_RUN)
    return ARGS_FAILED;
  if (optind < argc)
    a->dir = argv[optind];
  return ARGS_RUN;
}

int cmd_validate(int argc, char **argv)
{
  const struct manifest_opts mopts = MANIFEST_OPTS_INIT;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo = NULL;
  struct validate_args a = {.dir = "."};
  enum args_result r = parse(&a, argc, argv);
  int rc = CMD_EXIT_FAIL;

  if (r != ARGS_RUN)
    return args_exit_code(r);
  if (manifest_files_read_dir(&files, a.dir, mopts.limits.max_bytes) < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    goto out;
  }
  manifest_repo_load_consume(&repo, &files, &mopts);
  if (a.json) {
    diag_print_json(&repo->diags, stdout);
  } else {
    diag_print_text(&repo->diags, stderr);
    if (repo->diags.n == 0)
      printf("%s: valid (%zu tenant%s)\n", a.dir, repo->ntenants,
             repo->ntenants == 1 ? "" : "s");
  }
  rc = repo->diags.n ? CMD_EXIT_FAIL : CMD_EXIT_OK;
out:
  manifest_repo_free(repo);
  manifest_files_release(&files);
  return rc;
}
