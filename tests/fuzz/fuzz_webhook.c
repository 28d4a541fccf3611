/*
 * libFuzzer target: a webhook delivery as the daemon receives it.  The
 * input is "KIND\nHEADER: value\n...\n\nBODY": the kind of hook, up to
 * eight headers, then the body.  webhook_judge() must answer every
 * delivery with a status it documents, and never fetch for one that did
 * not prove the secret.
 */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>

#include "server/webhook.h"

#define SECRET "fuzz-secret"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of [*p, end) as a NUL-terminated copy in `out`. */
static bool next_line(const char **p, const char *end, char *out, size_t cap)
{
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  size_t n = (size_t)((nl ? nl : end) - *p);

  if (*p >= end)
    return false;
  snprintf(out, cap, "%.*s", (int)(n < cap - 1 ? n : cap - 1), *p);
  *p = nl ? nl + 1 : end;
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *p = (const char *)data, *end = p + size;
  char kind[32], lines[8][256], *body;
  struct httpd_header h[8];
  struct httpd_request req = {.method = "POST", .path = "/hooks/x",
                              .query = "", .peer = "127.0.0.1:1",
                              .headers = h};
  struct webhook_result w;
  bool proof = false;

  if (!next_line(&p, end, kind, sizeof(kind)))
    return 0;
  while (req.nheaders < 8 && next_line(&p, end, lines[req.nheaders], 256) &&
         lines[req.nheaders][0]) {
    char *colon = strchr(lines[req.nheaders], ':');

    if (!colon)
      continue;
    *colon = '\0';
    h[req.nheaders].name = lines[req.nheaders];
    h[req.nheaders].value = colon[1] == ' ' ? colon + 2 : colon + 1;
    proof |= strcmp(h[req.nheaders].value, SECRET) == 0;
    req.nheaders++;
  }
  body = malloc((size_t)(end - p) + 1);
  memcpy(body, p, (size_t)(end - p));
  body[end - p] = '\0';
  req.body = body;
  req.body_len = (size_t)(end - p);
  webhook_judge(kind, &req, SECRET, "main", &w);
  if (w.status != 200 && w.status != 202 && w.status != 401 &&
      w.status != 404)
    abort();
  /* Only gitlab takes the secret as it is; an HMAC of a fuzzed body is
   * not found by chance. */
  if (w.verdict == WEBHOOK_FETCH && !(strcmp(kind, "gitlab") == 0 && proof))
    abort();
  free(body);
  return 0;
}
