/*
 * libFuzzer target: arbitrary bytes as the controller's config file,
 * through yamltree and every key's parsing, with secrets required and
 * optional.  Whatever the bytes: no crash, no leak, every problem a
 * diagnostic whose text is valid UTF-8.
 */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/strutil.h"
#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_diags(const struct diag_list *d)
{
  for (size_t i = 0; i < d->n; i++)
    if (!str_is_utf8(d->v[i].msg, strlen(d->v[i].msg))) {
      fprintf(stderr, "diagnostic not UTF-8: %s\n", d->v[i].msg);
      abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const unsigned flags[] = {0, CONFIG_SECRETS_OPTIONAL};

  /* A secret some inputs will name, so the path through it is taken. */
  setenv("TENANTD_FUZZ_SECRET", "s3cret", 0);
  for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
    struct diag_list d = DIAG_LIST_INIT, w = DIAG_LIST_INIT;
    struct config *c = NULL;

    if (config_parse_flags("fuzz.yaml", (const char *)data, size, flags[i], &c,
                           &d, &w) == 0)
      config_free(c);
    check_diags(&d);
    check_diags(&w);
    diag_list_release(&d);
    diag_list_release(&w);
  }
  return 0;
}
