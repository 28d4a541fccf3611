/*
 * naming.h - the fixed naming conventions, in one place.
 *
 * Every external name tenantd derives from a tenant, environment and app
 * comes from here, so the validator's collision checks and the resources
 * that compose builds can never disagree.  Each function writes a
 * NUL-terminated name into `buf` (NAMING_MAX bytes) and returns its length.
 * Names built from valid DNS labels and zones always fit; for others (a
 * document that failed validation) a name that would not fit is returned
 * as "" and 0, so callers skip it rather than act on a truncated name.
 */
#ifndef TD_NAMING_H
#define TD_NAMING_H

#include "base/compat.h"

/* Enough for any name built from 63-character labels and a 253 zone. */
#define NAMING_MAX 512

/* Limits of the backends the names go to. */
#define NAMING_DNS_MAX 253
#define NAMING_RESOURCE_MAX 63 /* database, role, bucket, network */

/* "<tenant>.<env>": how people address an environment. */
size_t naming_workspace(char *buf, const char *tenant, const char *env);

/* "<tenant>-<env>": networks and buckets. */
size_t naming_network(char *buf, const char *tenant, const char *env);
size_t naming_bucket(char *buf, const char *tenant, const char *env);

/* "<tenant>_<env>" with '-' as '_': databases and their owner roles. */
size_t naming_database(char *buf, const char *tenant, const char *env);

/* "<app>.<env>.<tenant>": the service. */
size_t naming_service(char *buf, const char *app, const char *env,
                      const char *tenant);

/* "<app>.<env>.<tenant>.<zone>": public and private records. */
size_t naming_record(char *buf, const char *app, const char *env,
                     const char *tenant, const char *zone);

/*
 * The environment a resource id belongs to: every id compose builds has
 * the environment as the second label of its key ("network/<tenant>.
 * <env>", "service/<app>.<env>.<tenant>", "dns_record/<app>.<env>.
 * <tenant>.public").  Its length, or 0 ("" in buf) when the id has none
 * or it does not fit `cap`.
 */
size_t naming_id_environment(const char *id, char *buf, size_t cap);

/* A DNS label: lowercase letters, digits and inner hyphens, 1-63. */
bool naming_is_label(const char *s);

/* Dotted DNS labels, at most NAMING_DNS_MAX characters. */
bool naming_is_dnsname(const char *s);

/* A dotted quad with no leading zeros; its value to *addr if not NULL. */
bool naming_is_ipv4(const char *s, uint32_t *addr);

/* A provider instance name: like a label, '_' allowed inside. */
bool naming_is_instance(const char *s);

#endif
