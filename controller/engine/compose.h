/*
 * compose.h - a tenant's manifest into its resource graph.
 *
 * Per environment: a network; a database and a bucket when declared; a
 * service per app that runs an image (health-gated; `dependsOn` waits for
 * the named apps' services); a route per app with public names; DNS
 * records: public, private and one per alias.  External names come from
 * naming.h, tier values from the catalog, the provider of each type from
 * the Platform's binding.
 *
 * Ids (stable while the manifest keeps the thing):
 *   network/<t>.<e>   database/<t>.<e>   bucket/<t>.<e>
 *   service/<a>.<e>.<t>   route/<a>.<e>.<t>
 *   dns_record/<a>.<e>.<t>.public | .private | .alias.<alias name>
 *
 * The tenant and the repository's platform and catalog must be valid.
 */
#ifndef TD_COMPOSE_H
#define TD_COMPOSE_H

#include "base/compat.h"

#include "manifest/manifest.h"
#include "model/resource.h"

/* Appends tenant `doc`'s resources to `out` (unsorted).  Returns 0, or -1
 * with td_error_last() when the repository lacks what it needs. */
int compose_tenant(const struct manifest_repo *repo,
                   const struct manifest_doc *doc, struct resource_set *out);

/* The same, the resources made in `pool` (NULL: with malloc). */
int compose_tenant_in(const struct manifest_repo *repo,
                      const struct manifest_doc *doc,
                      struct resource_pool *pool, struct resource_set *out);

/* The graph as Graphviz DOT, one cluster per tenant. */
void compose_write_dot(const struct resource_set *set, FILE *out);

#endif
