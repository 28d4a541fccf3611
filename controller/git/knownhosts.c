#include "base/compat.h"

#include <ctype.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "base/error.h"
#include "base/fsutil.h"
#include "git/knownhosts.h"

/* Longer base64 fields than this are no key ssh writes. */
#define MAX_FIELD 16384
#define MAX_TYPE 64

/* ---- encodings ---- */

/* Standard base64 with padding; NULL when it is not that. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *out_len)
{
  unsigned char *out;
  int got;
  size_t pad;

  if (n == 0 || n % 4 != 0 || n > MAX_FIELD)
    return NULL;
  out = td_malloc(n / 4 * 3 + 1);
  got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
  pad = (size_t)(s[n - 1] == '=') + (size_t)(s[n - 2] == '=');
  if (got < 0 || (size_t)got < pad) {
    free(out);
    return NULL;
  }
  *out_len = (size_t)got - pad;
  return out;
}

static char *b64_encode(const unsigned char *p, size_t n)
{
  char *out = td_malloc(4 * ((n + 2) / 3) + 1);

  EVP_EncodeBlock((unsigned char *)out, p, (int)n);
  return out;
}

/* The key type a blob starts with ("ssh-ed25519"); -1 when malformed. */
static int blob_type(const unsigned char *key, size_t len, char type[MAX_TYPE])
{
  uint32_t n;

  if (len < 4)
    return -1;
  n = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 | (uint32_t)key[2] << 8 |
      key[3];
  if (n == 0 || n >= MAX_TYPE || n > len - 4)
    return -1;
  for (uint32_t i = 0; i < n; i++)
    if (!isgraph(key[4 + i]))
      return -1;
  memcpy(type, key + 4, n);
  type[n] = '\0';
  return 0;
}

void knownhosts_fingerprint(const unsigned char *key, size_t len,
                            char out[KNOWNHOSTS_FP_LEN])
{
  unsigned char digest[SHA256_DIGEST_LENGTH];
  char *b64;
  size_t n;

  SHA256(key, len, digest);
  b64 = b64_encode(digest, sizeof(digest));
  n = strlen(b64);
  while (n > 0 && b64[n - 1] == '=')
    n--;
  snprintf(out, KNOWNHOSTS_FP_LEN, "SHA256:%.*s", (int)n, b64);
  free(b64);
}

/* "host" on port 22 (or none), "[host]:port" otherwise; lower case. */
static char *host_name(const char *host, int port)
{
  char *name = port == 22 || port <= 0 ? td_strdup(host)
                                       : td_asprintf("[%s]:%d", host, port);

  for (char *p = name; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return name;
}

char *knownhosts_line(const char *host, int port, const unsigned char *key,
                      size_t len)
{
  char type[MAX_TYPE], *name, *b64, *line;

  if (blob_type(key, len, type) < 0)
    return NULL;
  name = host_name(host, port);
  b64 = b64_encode(key, len);
  line = td_asprintf("%s %s %s", name, type, b64);
  free(name);
  free(b64);
  return line;
}

/* ---- host patterns ---- */

/* OpenSSH's wildcards: '*' any run, '?' one byte; case-insensitive.  No
 * brackets: "[host]:port" is literal. */
static bool wildmatch(const char *s, const char *p, size_t plen)
{
  const char *pend = p + plen, *star = NULL, *back = NULL;

  while (*s) {
    if (p < pend && *p == '*') {
      star = ++p;
      back = s;
    } else if (p < pend && (*p == '?' || tolower((unsigned char)*p) ==
                                             tolower((unsigned char)*s))) {
      p++;
      s++;
    } else if (star) {
      p = star;
      s = ++back;
    } else {
      return false;
    }
  }
  while (p < pend && *p == '*')
    p++;
  return p == pend;
}

/* "|1|salt|hash": HMAC-SHA1 keyed by the salt over the name. */
static bool hashed_match(const char *field, size_t n, const char *name)
{
  const char *salt = field + 3, *bar, *end = field + n;
  unsigned char *s = NULL, *h = NULL, mac[EVP_MAX_MD_SIZE];
  size_t slen = 0, hlen = 0;
  unsigned int mlen = 0;
  bool ok = false;

  bar = memchr(salt, '|', (size_t)(end - salt));
  if (!bar)
    return false;
  s = b64_decode(salt, (size_t)(bar - salt), &slen);
  h = b64_decode(bar + 1, (size_t)(end - bar - 1), &hlen);
  if (s && h && slen > 0 &&
      HMAC(EVP_sha1(), s, (int)slen, (const unsigned char *)name, strlen(name),
           mac, &mlen) != NULL)
    ok = mlen == hlen && CRYPTO_memcmp(mac, h, hlen) == 0;
  free(s);
  free(h);
  return ok;
}

/* A comma-separated pattern list: some pattern matches, no negated one
 * does. */
static bool hosts_match(const char *field, size_t n, const char *name)
{
  bool hit = false;

  if (n > 3 && strncmp(field, "|1|", 3) == 0)
    return hashed_match(field, n, name);
  for (const char *p = field, *end = field + n; p < end;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
    bool neg = len > 0 && p[0] == '!';

    if (wildmatch(name, p + neg, len - neg)) {
      if (neg)
        return false;
      hit = true;
    }
    p += len + 1;
  }
  return hit;
}

/* ---- the file ---- */

enum marker { MARK_NONE, MARK_REVOKED, MARK_OTHER };

struct verdict {
  unsigned matched; /* line numbers, 0 when none */
  unsigned changed; /* a line with another key of the same type */
  unsigned revoked; /* a @revoked line with this key */
};

/* Splits the next whitespace-separated field off *p. */
static bool next_field(char **p, const char **field, size_t *len)
{
  char *s = *p + strspn(*p, " \t\r");

  if (!*s)
    return false;
  *field = s;
  *len = strcspn(s, " \t\r");
  *p = s + *len;
  return true;
}

static void check_line(char *line, unsigned lineno, const char *name,
                       const char *type, const unsigned char *key, size_t len,
                       struct verdict *v)
{
  enum marker mark = MARK_NONE;
  const char *f[3];
  size_t flen[3];
  unsigned char *blob;
  size_t blen = 0;
  bool same;

  line += strspn(line, " \t\r");
  if (*line == '#' || !*line)
    return;
  if (*line == '@') {
    size_t n = strcspn(line, " \t\r");

    mark =
        n == 8 && strncmp(line, "@revoked", 8) == 0 ? MARK_REVOKED : MARK_OTHER;
    line += n;
  }
  for (size_t i = 0; i < 3; i++)
    if (!next_field(&line, &f[i], &flen[i]))
      return;
  if (mark == MARK_OTHER || !hosts_match(f[0], flen[0], name))
    return;
  blob = b64_decode(f[2], flen[2], &blen);
  if (!blob)
    return;
  same = blen == len && memcmp(blob, key, len) == 0;
  free(blob);
  if (same && mark == MARK_REVOKED && !v->revoked)
    v->revoked = lineno;
  else if (same && !v->matched)
    v->matched = lineno;
  else if (!same && mark == MARK_NONE && !v->changed &&
           flen[1] == strlen(type) && strncmp(f[1], type, flen[1]) == 0)
    v->changed = lineno;
}

static int read_file(const char *path, char **text)
{
  size_t len = 0;
  int rc = fs_read_capped(path, KNOWNHOSTS_MAX_BYTES + 1, text, &len);

  if (rc == TD_ENOTFOUND) {
    *text = td_strdup("");
    return 0;
  }
  if (rc < 0)
    return rc;
  if (len > KNOWNHOSTS_MAX_BYTES) {
    free(*text);
    *text = NULL;
    return td_error("%s is larger than %u bytes", path, KNOWNHOSTS_MAX_BYTES);
  }
  /* NUL-terminated: a NUL inside ends the lines read, as for ssh. */
  *text = td_realloc(*text, len + 1);
  (*text)[len] = '\0';
  return 0;
}

int knownhosts_check(const char *path, const char *host, int port,
                     const unsigned char *key, size_t len)
{
  struct verdict v = {0, 0, 0};
  char type[MAX_TYPE], fp[KNOWNHOSTS_FP_LEN];
  char *text = NULL, *name = NULL, *add = NULL, *line;
  unsigned lineno = 0;
  int rc;

  if (blob_type(key, len, type) < 0)
    return td_error("ssh host %s sent a malformed host key", host);
  rc = read_file(path, &text);
  if (rc < 0)
    return td_error("known hosts: %s", td_error_last());
  name = host_name(host, port);
  for (line = text; line;) {
    char *nl = strchr(line, '\n');

    if (nl)
      *nl = '\0';
    check_line(line, ++lineno, name, type, key, len, &v);
    line = nl ? nl + 1 : NULL;
  }
  knownhosts_fingerprint(key, len, fp);
  add = knownhosts_line(host, port, key, len);
  if (v.revoked)
    rc = td_error_code(TD_ECONFLICT,
                       "ssh host %s offered %s key %s, which %s:%u marks "
                       "@revoked",
                       name, type, fp, path, v.revoked);
  else if (v.matched)
    rc = 0;
  else if (v.changed)
    rc = td_error_code(TD_ECONFLICT,
                       "ssh host key of %s CHANGED: it offered %s key %s, "
                       "but %s:%u holds another %s key for it (a new key, "
                       "or someone in the middle); if the change is "
                       "expected, replace that line with: %s",
                       name, type, fp, path, v.changed, type, add);
  else
    rc = td_error_code(TD_ENOTFOUND,
                       "ssh host %s is unknown: its %s key %s is not in "
                       "%s; if that is the server's key, add this line "
                       "to the file: %s",
                       name, type, fp, path, add);
  free(add);
  free(name);
  free(text);
  return rc;
}
