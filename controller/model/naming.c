#include "base/compat.h"

#include "model/naming.h"

/*
 * The parts joined by `sep` into buf.  A name that does not fit is no
 * name: "" and 0, never a truncated one that could pass for another.
 * Valid labels and zones always fit; the names of documents that failed
 * validation may not.  Joined by hand rather than by snprintf: a pass
 * makes a few names per resource, and the format parser was most of
 * their cost.  A missing part reads "(null)", as glibc prints it.
 */
static size_t join(char *buf, char sep, const char *const *parts, size_t n)
{
  size_t used = 0;

  for (size_t i = 0; i < n; i++) {
    const char *s = parts[i] ? parts[i] : "(null)";
    size_t len = strlen(s);

    if (used + (i > 0) + len >= NAMING_MAX) {
      buf[0] = '\0';
      return 0;
    }
    if (i > 0)
      buf[used++] = sep;
    memcpy(buf + used, s, len);
    used += len;
  }
  buf[used] = '\0';
  return used;
}

#define JOIN(buf, sep, ...)                          \
  join(buf, sep, (const char *const[]){__VA_ARGS__}, \
       sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

size_t naming_workspace(char *buf, const char *tenant, const char *env)
{
  return JOIN(buf, '.', tenant, env);
}

size_t naming_network(char *buf, const char *tenant, const char *env)
{
  return JOIN(buf, '-', tenant, env);
}

size_t naming_bucket(char *buf, const char *tenant, const char *env)
{
  return naming_network(buf, tenant, env);
}

size_t naming_database(char *buf, const char *tenant, const char *env)
{
  size_t n = JOIN(buf, '_', tenant, env);

  for (size_t i = 0; i < n; i++)
    if (buf[i] == '-')
      buf[i] = '_';
  return n;
}

size_t naming_service(char *buf, const char *app, const char *env,
                      const char *tenant)
{
  return JOIN(buf, '.', app, env, tenant);
}

size_t naming_record(char *buf, const char *app, const char *env,
                     const char *tenant, const char *zone)
{
  return JOIN(buf, '.', app, env, tenant, zone);
}

/* ---- the grammar of names ---- */

static bool is_lower_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool label_span(const char *s, size_t len)
{
  if (len < 1 || len > 63)
    return false;
  if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
    return false;
  for (size_t i = 1; i + 1 < len; i++)
    if (!is_lower_alnum(s[i]) && s[i] != '-')
      return false;
  return true;
}

bool naming_is_label(const char *s)
{
  return label_span(s, strlen(s));
}

bool naming_is_dnsname(const char *s)
{
  size_t len = strlen(s), start = 0;

  if (len < 1 || len > NAMING_DNS_MAX)
    return false;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '.') {
      if (!label_span(s + start, i - start))
        return false;
      start = i + 1;
    }
  }
  return true;
}

/* Dotted quad, each octet 0-255 with no leading zero. */
bool naming_is_ipv4(const char *s, uint32_t *addr)
{
  uint32_t a = 0;
  int parts = 0;

  while (parts < 4) {
    unsigned v = 0;
    int digits = 0;

    while (*s >= '0' && *s <= '9' && digits < 4) {
      v = v * 10 + (unsigned)(*s - '0');
      digits++;
      s++;
    }
    if (digits == 0 || digits > 3 || v > 255)
      return false;
    if (digits > 1 && s[-digits] == '0')
      return false;
    a = (a << 8) | v;
    parts++;
    if (parts < 4) {
      if (*s != '.')
        return false;
      s++;
    }
  }
  if (*s != '\0')
    return false;
  if (addr)
    *addr = a;
  return true;
}

bool naming_is_instance(const char *s)
{
  size_t len = strlen(s);
  bool ok = len >= 1 && len <= 63 && is_lower_alnum(s[0]) &&
            is_lower_alnum(s[len - 1]);

  for (size_t i = 0; ok && i < len; i++)
    ok = is_lower_alnum(s[i]) || s[i] == '-' || s[i] == '_';
  return ok;
}

size_t naming_id_environment(const char *id, char *buf, size_t cap)
{
  const char *key = strchr(id, '/');
  const char *env, *end;
  size_t n;

  buf[0] = '\0';
  if (!key)
    return 0;
  env = strchr(key + 1, '.');
  if (!env)
    return 0;
  env++;
  end = strchr(env, '.');
  n = end ? (size_t)(end - env) : strlen(env);
  if (n == 0 || n >= cap)
    return 0;
  memcpy(buf, env, n);
  buf[n] = '\0';
  return n;
}
