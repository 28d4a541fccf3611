#include "base/compat.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include "git/giturl.h"

/* Said instead of a message that could not be cleaned. */
#define WITHHELD "(message withheld: it would have shown a credential)"

static int hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)tolower((unsigned char)c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* %XX -> byte; a broken escape or %00 stays as written. */
static char *percent_decode(const char *s, size_t n)
{
  char *out = td_malloc(n + 1);
  size_t o = 0;

  for (size_t i = 0; i < n; i++) {
    int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
    int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;

    if (s[i] == '%' && hi >= 0 && lo >= 0 && (hi | lo) != 0) {
      out[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return out;
}

static int default_port(const char *scheme)
{
  static const struct {
    const char *scheme;
    int port;
  } ports[] = {{"http", 80}, {"https", 443}, {"ssh", 22}, {"git", 9418}};

  for (size_t i = 0; scheme && i < ARRAY_SIZE(ports); i++)
    if (strcmp(scheme, ports[i].scheme) == 0)
      return ports[i].port;
  return 0;
}

/* "host", "host:port", "[v6]", "[v6]:port" of [s, s + n). */
static void parse_hostport(struct giturl *u, const char *s, size_t n)
{
  const char *end = s + n, *colon = NULL;

  if (n > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', n);

    if (!close)
      return;
    u->host = td_strndup(s + 1, (size_t)(close - s - 1));
    colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
  } else {
    colon = memrchr(s, ':', n);
    u->host = td_strndup(s, colon ? (size_t)(colon - s) : n);
  }
  /* A port that is no port stays 0: libgit2 refuses the URL anyway. */
  if (colon && colon + 1 < end && (size_t)(end - colon - 1) <= 5 &&
      strspn(colon + 1, "0123456789") >= (size_t)(end - colon - 1) &&
      atoi(colon + 1) <= 65535)
    u->port = atoi(colon + 1);
  if (!colon || colon + 1 == end)
    u->port = default_port(u->scheme);
}

/* "user@host:path" (no "://", a ':' before any '/'): ssh. */
static void parse_scp_like(struct giturl *u, const char *url)
{
  const char *colon = strchr(url, ':');
  const char *slash = strchr(url, '/');
  const char *at;

  if (!colon || (slash && slash < colon) || colon == url)
    return;
  at = memrchr(url, '@', (size_t)(colon - url));
  u->scheme = td_strdup("ssh");
  if (at)
    u->user = td_strndup(url, (size_t)(at - url));
  parse_hostport(u, at ? at + 1 : url, (size_t)(colon - (at ? at + 1 : url)));
  u->port = 22;
}

static const char *marker_for(const char *const *secrets, size_t n);

void giturl_parse(struct giturl *u, const char *url)
{
  const char *sep = strstr(url, "://");
  const char *auth, *slash, *at, *colon;
  const char *secrets[GITURL_SECRETS_MAX];
  size_t alen, n;

  memset(u, 0, sizeof(*u));
  if (!sep) {
    u->bare = td_strdup(url);
    u->shown = td_strdup(url);
    if (url[0] != '/' && url[0] != '.')
      parse_scp_like(u, url);
    return;
  }
  u->scheme = td_strndup(url, (size_t)(sep - url));
  for (char *p = u->scheme; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  auth = sep + 3;
  slash = strchr(auth, '/');
  alen = slash ? (size_t)(slash - auth) : strlen(auth);
  at = memrchr(auth, '@', alen);
  if (!at || strcmp(u->scheme, "file") == 0) {
    u->bare = td_strdup(url);
    u->shown = td_strdup(url);
    if (strcmp(u->scheme, "file") != 0)
      parse_hostport(u, auth, alen);
    return;
  }
  colon = memchr(auth, ':', (size_t)(at - auth));
  if (colon) {
    u->user_raw = td_strndup(auth, (size_t)(colon - auth));
    u->password_raw = td_strndup(colon + 1, (size_t)(at - colon - 1));
    u->password = percent_decode(u->password_raw, strlen(u->password_raw));
  } else {
    u->user_raw = td_strndup(auth, (size_t)(at - auth));
  }
  u->user = percent_decode(u->user_raw, strlen(u->user_raw));
  parse_hostport(u, at + 1, alen - (size_t)(at + 1 - auth));
  u->token_user = !colon && strncmp(u->scheme, "http", 4) == 0;
  if (strcmp(u->scheme, "ssh") == 0)
    u->bare = td_asprintf("%.*s%s%s", (int)(auth - url), url, u->user_raw, at);
  else
    u->bare = td_asprintf("%.*s%s", (int)(auth - url), url, at + 1);
  n = giturl_secrets(u, secrets);
  if (u->token_user)
    u->shown = td_asprintf("%.*s%s%s", (int)(auth - url), url,
                           marker_for(secrets, n), at);
  else if (colon)
    u->shown = td_asprintf("%.*s:%s%s", (int)(colon - url), url,
                           marker_for(secrets, n), at);
  else
    u->shown = td_strdup(url);
}

void giturl_release(struct giturl *u)
{
  free(u->scheme);
  free(u->user);
  free(u->password);
  free(u->user_raw);
  free(u->password_raw);
  free(u->host);
  free(u->bare);
  free(u->shown);
  memset(u, 0, sizeof(*u));
}

bool giturl_is_loopback(const struct giturl *u)
{
  const char *h = u->host;

  if (!h)
    return false;
  if (strcasecmp(h, "localhost") == 0 || strcmp(h, "::1") == 0)
    return true;
  /* 127.0.0.0/8 as a dotted quad, nothing looser. */
  if (strncmp(h, "127.", 4) != 0)
    return false;
  for (int part = 0, dots = 0;; h++) {
    if (*h >= '0' && *h <= '9') {
      part = part * 10 + (*h - '0');
      if (part > 255)
        return false;
    } else if (*h == '.' && dots < 3 && h[-1] != '.') {
      dots++;
      part = 0;
    } else {
      return *h == '\0' && dots == 3 && h[-1] != '.';
    }
  }
}

size_t giturl_secrets(const struct giturl *u, const char **out)
{
  size_t n = 0;

  if (u->password) {
    out[n++] = u->password_raw;
    out[n++] = u->password;
  }
  if (u->token_user) {
    out[n++] = u->user_raw;
    out[n++] = u->user;
  }
  return n;
}

/* What replaces a secret: the first of these that holds none. */
static const char *marker_for(const char *const *secrets, size_t n)
{
  static const char *const markers[] = {"***", "[redacted]", "<secret>"};

  for (size_t m = 0; m < ARRAY_SIZE(markers); m++) {
    size_t i = 0;

    while (i < n &&
           !(secrets[i] && secrets[i][0] && strstr(markers[m], secrets[i])))
      i++;
    if (i == n)
      return markers[m];
  }
  return "";
}

/* The longest secret `p` starts with; 0 when none. */
static size_t match_at(const char *p, const char *const *secrets, size_t n)
{
  size_t best = 0;

  for (size_t i = 0; i < n; i++) {
    size_t len = secrets[i] ? strlen(secrets[i]) : 0;

    if (len > best && strncmp(p, secrets[i], len) == 0)
      best = len;
  }
  return best;
}

static bool holds_secret(const char *text, const char *const *secrets, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (secrets[i] && secrets[i][0] && strstr(text, secrets[i]))
      return true;
  return false;
}

size_t redact_text(char *out, size_t cap, const char *msg,
                   const char *const *secrets, size_t n)
{
  const char *marker = marker_for(secrets, n);
  size_t o = 0;

  assert(cap > 0);
  for (const char *p = msg; *p && o + 1 < cap;) {
    size_t len = match_at(p, secrets, n);

    if (len > 0) {
      for (const char *m = marker; *m && o + 1 < cap; m++)
        out[o++] = *m;
      p += len;
    } else {
      out[o++] = *p++;
    }
  }
  out[o] = '\0';
  if (!holds_secret(out, secrets, n))
    return o;
  /* Text around a "***" spelled a secret again: say nothing of it. */
  snprintf(out, cap, "%s", WITHHELD);
  if (holds_secret(out, secrets, n))
    out[0] = '\0';
  return strlen(out);
}
