/*
 * strutil.c - see strutil.h.
 */
#include "base/compat.h"

#include <stdarg.h>
#include <strings.h>

#include "base/strutil.h"

/* Optimal string alignment distance, capped: only small ones matter. */
static unsigned edit_distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  unsigned d[3][65];
  unsigned *prev2 = d[0], *prev = d[1], *cur = d[2];

  if (la > 64 || lb > 64)
    return 99;
  for (size_t j = 0; j <= lb; j++)
    prev[j] = (unsigned)j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = (unsigned)i;
    for (size_t j = 1; j <= lb; j++) {
      unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
      unsigned v = prev[j] + 1;

      if (cur[j - 1] + 1 < v)
        v = cur[j - 1] + 1;
      if (prev[j - 1] + cost < v)
        v = prev[j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          prev2[j - 2] + 1 < v)
        v = prev2[j - 2] + 1;
      cur[j] = v;
    }
    {
      unsigned *t = prev2;

      prev2 = prev;
      prev = cur;
      cur = t;
    }
  }
  return prev[lb];
}

const char *str_suggest(const char *word, const char *const *cands, size_t n)
{
  const char *best = NULL;
  unsigned best_d = 99;
  size_t len = strlen(word);

  for (size_t i = 0; i < n; i++) {
    unsigned dist;

    if (strcasecmp(word, cands[i]) == 0)
      return cands[i];
    dist = edit_distance(word, cands[i]);
    if (dist < best_d) {
      best_d = dist;
      best = cands[i];
    }
  }
  if (best_d <= 2 && best_d * 3 <= len)
    return best;
  /* A prefix of a longer name: `dns` for `dns_record`. */
  for (size_t i = 0; len >= 3 && i < n; i++)
    if (strncmp(cands[i], word, len) == 0)
      return cands[i];
  return NULL;
}

int str_parse_duration(const char *s, int64_t *ms)
{
  int64_t total = 0;

  if (!*s)
    return -1;
  while (*s) {
    int64_t v = 0, unit;
    int digits = 0;

    while (*s >= '0' && *s <= '9') {
      if (v > (INT64_MAX - (*s - '0')) / 10)
        return -1;
      v = v * 10 + (*s - '0');
      digits++;
      s++;
    }
    if (!digits)
      return -1;
    if (s[0] == 'm' && s[1] == 's') {
      unit = 1;
      s += 2;
    } else if (*s == 's') {
      unit = 1000;
      s++;
    } else if (*s == 'm') {
      unit = 60 * 1000;
      s++;
    } else if (*s == 'h') {
      unit = 3600 * 1000;
      s++;
    } else {
      return -1;
    }
    if (v > (INT64_MAX - total) / unit)
      return -1;
    total += v * unit;
  }
  *ms = total;
  return 0;
}

size_t str_utf8_seq(const unsigned char *p, size_t left)
{
  uint32_t c;
  size_t n;

  if (left == 0)
    return 0;
  if (p[0] < 0x80)
    return 1;
  if (p[0] >= 0xc2 && p[0] <= 0xdf)
    n = 2, c = p[0] & 0x1f;
  else if (p[0] >= 0xe0 && p[0] <= 0xef)
    n = 3, c = p[0] & 0x0f;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4)
    n = 4, c = p[0] & 0x07;
  else
    return 0;
  if (n > left)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    c = c << 6 | (p[i] & 0x3f);
  }
  if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
      (c >= 0xd800 && c <= 0xdfff))
    return 0;
  return n;
}

bool str_is_utf8(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;

  while (len > 0) {
    size_t n = str_utf8_seq(p, len);

    if (n == 0)
      return false;
    p += n;
    len -= n;
  }
  return true;
}

/* Whether any of the 8 bytes in w is below ' ' or above '~' (exact: the
 * borrows and carries only ever flag bytes beside one that is). */
static bool word_unprintable(uint64_t w)
{
  const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80;

  return (((w - ones * ' ') & ~w) | ((w + ones * (127 - '~')) | w)) & highs;
}

void str_sanitize(char *s)
{
  unsigned char *p = (unsigned char *)s;
  size_t left = strlen(s);

  while (left > 0) {
    size_t n;
    uint64_t w;

    /* Printable ASCII, nearly every byte of a message, is kept as is:
     * eight bytes at a time while all are. */
    if (left >= 8) {
      memcpy(&w, p, sizeof(w));
      if (!word_unprintable(w)) {
        p += 8;
        left -= 8;
        continue;
      }
    }
    if (*p >= ' ' && *p < 0x7f) {
      p++;
      left--;
      continue;
    }
    n = str_utf8_seq(p, left);
    if (n == 0 || (*p < ' ' && *p != '\t' && *p != '\n') || *p == 0x7f) {
      *p = '?';
      n = 1;
    }
    p += n;
    left -= n;
  }
}

size_t str_join(char *out, size_t cap, ...)
{
  size_t len = 0;
  const char *s;
  va_list ap;

  va_start(ap, cap);
  while ((s = va_arg(ap, const char *)) != NULL) {
    size_t n = strlen(s);

    if (cap > 0 && len < cap - 1)
      memcpy(out + len, s, n < cap - 1 - len ? n : cap - 1 - len);
    len += n;
  }
  va_end(ap);
  if (cap > 0)
    out[len < cap - 1 ? len : cap - 1] = '\0';
  return len;
}
