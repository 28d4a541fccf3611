/* tenantd version (and tenantd --version): what this binary is. */
#include "base/compat.h"

#include <curl/curl.h>
#include <git2.h>
#include <jansson.h>
#include <stdio.h>
#include <uv.h>
#include <yaml.h>

#include "cmd/tenantd/args.h"
#include "cmd/tenantd/cmd.h"

#ifndef TD_VERSION
#define TD_VERSION "0.0.0-dev"
#endif

static const struct option version_options[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cmd_version_help(FILE *out)
{
  fputs("Usage: tenantd version [--format text|json]\n"
        "\n"
        "Prints the version of tenantd, the commit and the date (UTC) it\n"
        "was built from, and the versions of the libraries it runs with:\n"
        "libgit2, libuv, libcurl, libyaml and jansson, as they report\n"
        "themselves.  'tenantd --version' is the same.\n"
        "\n"
        "Options:\n"
        "  --format F             text or json\n"
        "  -h, --help             show this help\n",
        out);
}

static enum args_result parse(bool *json, int argc, char **argv)
{
  bool failed;
  int c;

  while ((c = args_getopt("version", argc, argv, version_options, &failed)) !=
         -1) {
    if (failed)
      return ARGS_FAILED;
    if (c == 'h') {
      cmd_version_help(stdout);
      return ARGS_HELP;
    }
    if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
      return args_usage("version", "unknown format '%s' (text, json)", optarg);
    *json = strcmp(optarg, "json") == 0;
  }
  return args_operands("version", argc, argv, 0);
}

/* The libraries' own answers, at run time: what is linked, not what the
 * headers said at build time. */
static json_t *libraries(void)
{
  char git[32];
  int major = 0, minor = 0, rev = 0;

  git_libgit2_version(&major, &minor, &rev);
  snprintf(git, sizeof(git), "%d.%d.%d", major, minor, rev);
  return json_pack("{s:s, s:s, s:s, s:s, s:s}", "libgit2", git, "libuv",
                   uv_version_string(), "libcurl",
                   curl_version_info(CURLVERSION_NOW)->version, "libyaml",
                   yaml_get_version_string(), "jansson", jansson_version_str());
}

int cmd_version(int argc, char **argv)
{
  bool json = false;
  enum args_result r = parse(&json, argc, argv);
  json_t *info, *libs;
  const char *name;
  json_t *v;

  if (r != ARGS_RUN)
    return args_exit_code(r);
  libs = libraries();
  info = json_pack("{s:s, s:s, s:s, s:o}", "version", TD_VERSION, "commit",
                   tenantd_build_commit, "built", tenantd_build_date,
                   "libraries", libs);
  if (json) {
    json_dumpf(info, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
  } else {
    printf("tenantd %s\ncommit   %s\nbuilt    %s\n", TD_VERSION,
           tenantd_build_commit, tenantd_build_date);
    json_object_foreach(libs, name, v)
        printf("%-8s %s\n", name, json_string_value(v));
  }
  json_decref(info);
  return CMD_EXIT_OK;
}
