/*
 * registry.c - the provider types tenantd is built with, by the "type"
 * the controller config gives each instance.
 */
#include "base/compat.h"

#include "providers/docker/docker.h"
#include "providers/local/local.h"
#include "providers/nginx/nginx.h"
#include "providers/postgres/postgres.h"
#include "providers/powerdns/powerdns.h"
#include "providers/provider.h"

/* A new provider type is one line here and its ops in providers/<type>/. */
static const struct provider_ops *const types[] = {
    &docker_provider_ops,   &local_provider_ops,    &nginx_provider_ops,
    &postgres_provider_ops, &powerdns_provider_ops,
};

/* Types registered at run time; found after the built-in ones. */
static const struct provider_ops *added[PROVIDER_ADDED_MAX];
static size_t nadded;

const struct provider_ops *provider_find_type(const char *type)
{
  for (size_t i = 0; i < ARRAY_SIZE(types); i++)
    if (strcmp(types[i]->type, type) == 0)
      return types[i];
  for (size_t i = 0; i < nadded; i++)
    if (strcmp(added[i]->type, type) == 0)
      return added[i];
  return NULL;
}

int provider_register_type(const struct provider_ops *ops)
{
  const struct provider_ops *known = provider_find_type(ops->type);

  assert(ops->version == PROVIDER_OPS_VERSION);
  if (known)
    return known == ops ? 0 : TD_ECONFLICT;
  if (nadded == ARRAY_SIZE(added))
    return TD_ETOOBIG;
  added[nadded++] = ops;
  return 0;
}

const char *provider_status_name(int status)
{
  switch (status) {
  case PROVIDER_OK:
    return "ok";
  case PROVIDER_TRANSIENT:
    return "transient";
  case PROVIDER_CONFLICT:
    return "conflict";
  case PROVIDER_INVALID:
    return "invalid";
  case PROVIDER_AUTH:
    return "auth";
  case PROVIDER_NOT_FOUND:
    return "not_found";
  }
  /* A provider bug, but logs must still say something. */
  return "error";
}
