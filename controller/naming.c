#include "compat.h"

#include <stdio.h>

#include "naming.h"

static size_t put(char *buf, int n)
{
  assert(n >= 0 && n < NAMING_MAX);
  (void)buf;
  return (size_t)n;
}

size_t naming_workspace(char *buf, const char *tenant, const char *env)
{
  return put(buf, snprintf(buf, NAMING_MAX, "%s.%s", tenant, env));
}

size_t naming_network(char *buf, const char *tenant, const char *env)
{
  return put(buf, snprintf(buf, NAMING_MAX, "%s-%s", tenant, env));
}

size_t naming_bucket(char *buf, const char *tenant, const char *env)
{
  return naming_network(buf, tenant, env);
}

size_t naming_database(char *buf, const char *tenant, const char *env)
{
  size_t n = put(buf, snprintf(buf, NAMING_MAX, "%s_%s", tenant, env));

  for (size_t i = 0; i < n; i++)
    if (buf[i] == '-')
      buf[i] = '_';
  return n;
}

size_t naming_service(char *buf, const char *app, const char *env,
                      const char *tenant)
{
  return put(buf, snprintf(buf, NAMING_MAX, "%s.%s.%s", app, env, tenant));
}

size_t naming_record(char *buf, const char *app, const char *env,
                     const char *tenant, const char *zone)
{
  return put(buf,
             snprintf(buf, NAMING_MAX, "%s.%s.%s.%s", app, env, tenant, zone));
}
