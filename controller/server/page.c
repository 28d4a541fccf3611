#include "base/compat.h"

#include <openssl/evp.h>
#include <stdio.h>

#include "server/page.h"

/* "sha256-<base64>" of what lies between <tag> and </tag> in the page,
 * as a CSP source; "'none'" when the page has no such element. */
static void element_hash(const char *tag, char *out, size_t cap)
{
  char open[16], close[16];
  const char *start, *end;
  unsigned char md[EVP_MAX_MD_SIZE], b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  unsigned int mdlen = 0;

  snprintf(open, sizeof(open), "<%s>", tag);
  snprintf(close, sizeof(close), "</%s>", tag);
  start = strstr(server_status_page, open);
  end = start ? strstr(start, close) : NULL;
  if (!start || !end) {
    snprintf(out, cap, "'none'");
    return;
  }
  start += strlen(open);
  if (!EVP_Digest(start, (size_t)(end - start), md, &mdlen, EVP_sha256(), NULL))
    abort();
  EVP_EncodeBlock(b64, md, (int)mdlen);
  snprintf(out, cap, "'sha256-%s'", b64);
}

const char *page_headers(void)
{
  static char headers[1024];
  char script[128], style[128];

  if (headers[0])
    return headers;
  element_hash("script", script, sizeof(script));
  element_hash("style", style, sizeof(style));
  snprintf(headers, sizeof(headers),
           "Content-Security-Policy: default-src 'none'; script-src %s; "
           "style-src %s; connect-src 'self'; img-src 'self'; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
           "X-Content-Type-Options: nosniff\r\n"
           "Referrer-Policy: no-referrer\r\n"
           "X-Frame-Options: DENY\r\n"
           "Cache-Control: no-store\r\n",
           script, style);
  return headers;
}
