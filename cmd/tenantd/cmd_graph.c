/* tenantd graph: the resource graph as Graphviz DOT. */
#include "base/compat.h"

#include <stdio.h>

#include "base/error.h"
#include "cmd/tenantd/args.h"
#include "cmd/tenantd/cmd.h"
#include "engine/compose.h"
#include "manifest/manifest.h"

static const struct option graph_options[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cmd_graph_help(FILE *out)
{
  fputs("Usage: tenantd graph [DIR]\n"
        "\n"
        "Prints the resource graph of the valid tenants in DIR (default:\n"
        "the current directory) as Graphviz DOT\n"
        "(tenantd graph | dot -Tsvg > graph.svg).\n"
        "\n"
        "Options:\n"
        "  -h, --help             show this help\n",
        out);
}

static enum args_result parse(const char **dir, int argc, char **argv)
{
  bool failed;
  int c;

  while ((c = args_getopt("graph", argc, argv, graph_options, &failed)) != -1) {
    if (failed)
      return ARGS_FAILED;
    if (c == 'h') {
      cmd_graph_help(stdout);
      return ARGS_HELP;
    }
  }
  if (args_operands("graph", argc, argv, 1) != ARGS_RUN)
    return ARGS_FAILED;
  if (optind < argc)
    *dir = argv[optind];
  return ARGS_RUN;
}

/* The resources of every valid tenant. */
static int compose_valid(const struct manifest_repo *repo,
                         struct resource_set *set)
{
  for (size_t i = 0; i < repo->ntenants; i++)
    if (repo->tenants[i]->valid &&
        compose_tenant(repo, repo->tenants[i], set) < 0)
      return -1;
  return 0;
}

int cmd_graph(int argc, char **argv)
{
  const struct manifest_opts mopts = MANIFEST_OPTS_INIT;
  struct manifest_files files = MANIFEST_FILES_INIT;
  struct manifest_repo *repo = NULL;
  struct resource_set set = RESOURCE_SET_INIT;
  const char *dir = ".";
  enum args_result r = parse(&dir, argc, argv);
  int rc = CMD_EXIT_FAIL;

  if (r != ARGS_RUN)
    return args_exit_code(r);
  if (manifest_files_read_dir(&files, dir, mopts.limits.max_bytes) < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    goto out;
  }
  manifest_repo_load_consume(&repo, &files, &mopts);
  diag_print_text(&repo->diags, stderr);
  if (compose_valid(repo, &set) < 0) {
    fprintf(stderr, "tenantd: %s\n", td_error_last());
    goto out;
  }
  compose_write_dot(&set, stdout);
  rc = repo->diags.n ? CMD_EXIT_FAIL : CMD_EXIT_OK;
out:
  resource_set_release(&set);
  manifest_repo_free(repo);
  manifest_files_release(&files);
  return rc;
}
