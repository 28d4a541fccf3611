/*
 * libFuzzer target: arbitrary bytes as a status file (status/<tenant>.yaml
 * on the status branch, which any writer of the repository can change).
 * What parses must format and parse again to the same text: the status
 * branch's files round-trip whatever another writer left.
 */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>

#include "engine/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct tenant_status *st = NULL, *again = NULL;
  char *text = NULL, *text2 = NULL;

  if (tenant_status_parse((const char *)data, size, &st) < 0)
    return 0;
  text = tenant_status_format(st);
  if (tenant_status_parse(text, strlen(text), &again) < 0) {
    fprintf(stderr, "a formatted status does not parse:\n%s\n", text);
    abort();
  }
  text2 = tenant_status_format(again);
  if (strcmp(text, text2) != 0) {
    fprintf(stderr, "format(parse(format(x))) != format(x):\n%s\n--\n%s\n",
            text, text2);
    abort();
  }
  free(text);
  free(text2);
  tenant_status_free(st);
  tenant_status_free(again);
  return 0;
}
