/*
 * libFuzzer target: a remote URL and a message, as "URL\nMESSAGE", through
 * giturl_parse() and redact_text().  The invariants: the output never
 * holds one of the URL's secrets, redaction ends (a replacement is never
 * rescanned), and the output stays within ten bytes per input byte (or
 * the fixed "withheld" sentence), whatever the buffer.  Run with
 * `make build/fuzz/fuzz_redact` and ./build/fuzz/fuzz_redact.
 */
#include "base/compat.h"

#include <stdio.h>

#include "git/giturl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longer than any message this fits: the one sentence redaction may
 * put instead of a message. */
#define WITHHELD_MAX 64

static void check(const char *text, const char *const *secrets, size_t n,
                  size_t cap)
{
  char *out = td_malloc(cap);
  size_t len = redact_text(out, cap, text, secrets, n);

  if (len != strlen(out) || len >= cap)
    abort();
  if (len > 10 * strlen(text) && len > WITHHELD_MAX)
    abort();
  for (size_t i = 0; i < n; i++)
    if (secrets[i] && secrets[i][0] && strstr(out, secrets[i]))
      abort();
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *in = td_strndup((const char *)data, size);
  char *nl = strchr(in, '\n');
  const char *msg = nl ? nl + 1 : in;
  const char *secrets[GITURL_SECRETS_MAX + 1];
  struct giturl u;
  size_t n, big;

  if (nl)
    *nl = '\0';
  giturl_parse(&u, in);
  n = giturl_secrets(&u, secrets);
  /* The environment's password: the first bytes of the message. */
  secrets[n++] = msg[0] ? msg : NULL;
  big = 10 * (strlen(in) + strlen(msg)) + WITHHELD_MAX + 1;
  for (size_t k = 0; k < 2; k++) {
    const char *const *sec = secrets;
    size_t m = k ? n : n - 1;

    check(msg, sec, m, big);
    check(in, sec, m, big);
    check(u.shown, sec, m, big);
    check(u.bare, sec, m, big);
    check(msg, sec, m, 8);
    check(msg, sec, m, 1);
  }
  giturl_release(&u);
  free(in);
  return 0;
}
