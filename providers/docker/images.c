/*
 * images.c - what the docker provider knows of images, with no I/O (see
 * internal.h): references split for a pull, the X-Registry-Auth value
 * of a credential, and what a pull's progress stream says went wrong.
 */
#include "base/compat.h"

#include <stdio.h>

#include "providers/docker/internal.h"

static const char *str_of(const json_t *obj, const char *key)
{
  return json_string_value(json_object_get(obj, key));
}

bool dk__image_ref(const char *image, char *repo, size_t rcap, char *tag,
                   size_t tcap)
{
  const char *at = strchr(image, '@');
  const char *slash = strrchr(image, '/');
  const char *colon = strrchr(image, ':');
  size_t n;

  if (at) {
    n = (size_t)(at - image);
    return n < rcap && snprintf(repo, rcap, "%.*s", (int)n, image) > 0 &&
           (size_t)snprintf(tag, tcap, "%s", at + 1) < tcap;
  }
  if (colon && (!slash || colon > slash)) {
    n = (size_t)(colon - image);
    return n < rcap && snprintf(repo, rcap, "%.*s", (int)n, image) > 0 &&
           (size_t)snprintf(tag, tcap, "%s", colon + 1) < tcap;
  }
  return (size_t)snprintf(repo, rcap, "%s", image) < rcap &&
         (size_t)snprintf(tag, tcap, "latest") < tcap;
}

/* The registry an image comes from: its first component when that names
 * a host, else Docker Hub. */
static char *registry_of(const char *image)
{
  const char *slash = strchr(image, '/');
  size_t n = slash ? (size_t)(slash - image) : 0;

  if (slash && (memchr(image, '.', n) || memchr(image, ':', n) ||
                (n == 9 && strncmp(image, "localhost", 9) == 0)))
    return td_strndup(image, n);
  return td_strdup("docker.io");
}

static char *base64url(const char *s)
{
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t len = strlen(s);
  char *out = td_malloc(len / 3 * 4 + 5), *p = out;

  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned char)s[i] << 16;
    size_t left = len - i;

    if (left > 1)
      v |= (unsigned char)s[i + 1] << 8;
    if (left > 2)
      v |= (unsigned char)s[i + 2];
    *p++ = tab[(v >> 18) & 63];
    *p++ = tab[(v >> 12) & 63];
    *p++ = left > 1 ? tab[(v >> 6) & 63] : '=';
    *p++ = left > 2 ? tab[v & 63] : '=';
  }
  *p = '\0';
  return out;
}

char *dk__registry_auth(const char *credential, const char *image)
{
  json_t *auth;
  char *text, *out, *server = registry_of(image);
  const char *colon = strchr(credential, ':');

  if (credential[0] == '{') {
    auth = json_loads(credential, 0, NULL);
    if (!json_is_object(auth)) {
      json_decref(auth);
      free(server);
      return NULL;
    }
    if (!json_object_get(auth, "serveraddress"))
      json_object_set_new(auth, "serveraddress", json_string(server));
  } else {
    size_t n = colon ? (size_t)(colon - credential) : strlen(credential);
    char *user = td_strndup(credential, n);

    auth = json_pack("{s:s, s:s, s:s}", "username", user, "password",
                     colon ? colon + 1 : "", "serveraddress", server);
    explicit_bzero(user, n);
    free(user);
  }
  text = json_dumps(auth, JSON_COMPACT | JSON_SORT_KEYS);
  out = base64url(text);
  explicit_bzero(text, strlen(text));
  free(text);
  json_decref(auth);
  free(server);
  return out;
}

bool dk__pull_error(const char *line, size_t len, char *err, size_t cap)
{
  json_t *j = json_loadb(line, len, 0, NULL);
  const char *msg = str_of(j, "error");
  bool is_error;

  if (!msg)
    msg = str_of(json_object_get(j, "errorDetail"), "message");
  is_error = msg != NULL;
  if (is_error)
    snprintf(err, cap, "%s", msg);
  json_decref(j);
  return is_error;
}

int dk__pull_class(const char *m)
{
  static const char *const invalid[] = {
      "manifest unknown",     "not found",     "does not exist",
      "no such host",         "No such image", "invalid reference",
      "repository name must", "name unknown",
  };
  static const char *const auth[] = {
      "unauthorized",
      "authentication required",
      "denied",
      "incorrect username or password",
  };

  /* Docker Hub answers "pull access denied ... does not exist" for a
   * repository it does not have: not found wins over denied. */
  for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
    if (strcasestr(m, invalid[i]))
      return PROVIDER_INVALID;
  for (size_t i = 0; i < ARRAY_SIZE(auth); i++)
    if (strcasestr(m, auth[i]))
      return PROVIDER_AUTH;
  return PROVIDER_TRANSIENT;
}
