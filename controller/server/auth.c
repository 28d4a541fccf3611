/*
 * auth.c - see auth.h.
 */
#include "base/compat.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>

#include "server/auth.h"

bool auth_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
  unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];

  SHA256((const unsigned char *)a, alen, ha);
  SHA256((const unsigned char *)b, blen, hb);
  return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

bool auth_bearer_ok(const char *header, const char *token)
{
  /* The scheme is case-insensitive (RFC 9110), spaces after it are not
   * part of the token. */
  if (!header || !token || strncasecmp(header, "Bearer ", 7) != 0)
    return false;
  header += 7;
  header += strspn(header, " ");
  return auth_secret_equal(header, strlen(header), token, strlen(token));
}
