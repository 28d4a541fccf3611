/*
 * docker.h - `service` and `network` resources as containers and bridge
 * networks, through the Docker Engine API (v1.41) on its unix socket.
 * Podman's Docker-compatible API (`podman system service`) works the
 * same; the tests run against it.
 *
 * Options (the instance's entry in the controller config, borrowed):
 *
 *   {"type": "docker",
 *    "socket": "/run/docker.sock",   required: the API's unix socket
 *    "hostAddress": "127.0.0.1",     where replicas publish their port and
 *                                    where routes and health checks reach
 *                                    them (an IPv4 or IPv6 address; this
 *                                    default)
 *    "registryAuthEnv": "REG_AUTH",  optional: the environment variable
 *                                    holding a registry credential, sent
 *                                    as X-Registry-Auth when an image is
 *                                    pulled: "user:password", or the JSON
 *                                    auth object Docker takes
 *                                    ({"username", "password",
 *                                    "serveraddress"} or
 *                                    {"identitytoken"}); never logged
 *    "maxParallel": 8,               Engine API requests in flight at once
 *                                    (1 to 64)
 *    "timeoutMs": 60000,             per API request (1000 to 600000;
 *                                    longer than stopTimeoutSeconds)
 *    "pullTimeoutMs": 600000,        per image pull (1000 to 3600000)
 *    "healthTimeoutMs": 60000,       how long a new replica of a rolling
 *                                    update may take to pass its health
 *                                    check (1000 to 3600000); keep it at
 *                                    the controller's reconcile health
 *                                    timeout, which providers cannot see
 *    "healthFailures": 3,            failed checks in a row, `interval`
 *                                    apart, that make a running replica
 *                                    failing (1 to 100)
 *    "stopTimeoutSeconds": 10}       how long a replica has to stop on
 *                                    SIGTERM before it is killed (0 to
 *                                    600)
 *
 * A network is one bridge network per tenant environment:
 *   spec     {"name", "cidr", "region"}: the network is named "name",
 *            its subnet is "cidr" (a change is a replace: see
 *            resource.h); Docker has no regions, so "region" is reported
 *            as desired.
 *   outputs  {"id": the network's name (what containers join by; a
 *            replaced network keeps it), "networkId": Docker's id,
 *            "gateway"}
 *   labels   managed-by=tenantd, tenantd.tenant, tenantd.id (the
 *            ownership marker, read back as "managed-by=tenantd
 *            tenant=<t> id=<id>"), tenantd.name, tenantd.hash (the spec
 *            hash).
 *
 * A service is `replicas` containers of one template:
 *   spec     {"name", "image", "port", "replicas", "cpu", "memory_mib",
 *            "health_path", "health_interval_s", "health_timeout_s",
 *            "network" (a network's name), "env" ({NAME: value}: strings,
 *            or integers written in decimal)}.  The template is the spec
 *            without "replicas"; its hash (resource_spec_hash) names its
 *            version.
 *   replica  a container named "<name>-<ordinal>-<first 8 hex of the
 *            hash>", ordinals 0 .. replicas-1, created from the image
 *            with the env (sorted by name), NanoCpus from "cpu" (cores),
 *            Memory from "memory_mib", HostConfig.Init (a PID 1 that
 *            forwards SIGTERM), on the network, its port published on
 *            hostAddress at a port Docker picks; labels managed-by,
 *            tenantd.tenant, tenantd.id, tenantd.name, tenantd.hash,
 *            tenantd.ordinal and tenantd.spec (the template as canonical
 *            JSON: what a read reports).  No restart policy: tenantd
 *            restores replicas itself, and says so as drift.
 *   outputs  {"address": the first replica's "hostAddress:port",
 *            "addresses": every running replica's, by ordinal, "ip": the
 *            first replica's address on its network, "port": the
 *            container port, "healthy": true when every wanted replica
 *            runs the wanted version and answers its health check with
 *            2xx}
 *
 * The names tenantd wants for a service are "<name>-<ordinal>" with an
 * optional "-<8 hex>", ordinals below the wanted replicas.  A container
 * there without this resource's labels makes a read report no marker
 * (the engine's conflict: left untouched), and a create or update fail
 * with PROVIDER_CONFLICT.  The same holds for a network of the name.
 *
 * Reads: the service's containers are listed by name (one request) and
 * every running replica is probed, over HTTP on the loop, at
 * http://hostAddress:<published port><health_path> within
 * health_timeout_s; only 2xx passes.  A replica failing a probe is probed
 * again, health_interval_s apart, until it passes or has failed
 * healthFailures times in a row: then it is failing.  A replica this
 * instance started (in this pass) is starting, not failing: it is not
 * restarted before the engine's health gate has had its time.  The
 * observed spec is what the containers were created from (their
 * tenantd.spec label): an attribute on which the replicas disagree reads
 * as "mixed: <a> | <b>", so a half-finished update always differs from
 * any desired spec; "replicas" counts the replicas running and not
 * failing.  So a replica stopped, killed, removed or failing, and a
 * version left behind by an interrupted update, make a drift the next
 * pass corrects.
 *
 * create and update converge the containers onto the spec:
 *   1. containers of an old version that are not running, containers
 *      beyond the wanted replicas and broken ones are removed; stopped
 *      replicas of the wanted version are started, failing ones
 *      restarted;
 *   2. then a rolling update, one ordinal at a time: a replica of the
 *      new version is created (or an existing one started), must pass
 *      its health check within healthTimeoutMs, then the old replicas of
 *      that ordinal are stopped and removed.  A new replica that never
 *      passes (or exits: the provider follows the Engine API's events
 *      while it waits) is removed again, the old ones keep serving, and
 *      the update fails with PROVIDER_INVALID saying why;
 *   3. then the replicas missing altogether are created, all at once.
 *   The engine's health gate then waits for "healthy".  An image that is
 *   not present is pulled (X-Registry-Auth from registryAuthEnv); one the
 *   registry does not have, or a name that does not resolve, is
 *   PROVIDER_INVALID; a refused credential PROVIDER_AUTH.  Names are
 *   fixed by ordinal and version, so a pass interrupted anywhere finds
 *   what it made and continues without duplicates.
 *
 * remove stops and deletes every container of the resource (a service)
 * or deletes the network after disconnecting the containers of the same
 * tenant still on it; a container of anyone else on it is
 * PROVIDER_CONFLICT.  NOT_FOUND when nothing of the resource exists.  A
 * network's create connects the tenant's containers made for a network
 * of its name that are on none: so a CIDR change (a replace: remove,
 * then create) moves the running replicas to the new subnet, keeping
 * their published ports.  A running replica found off its network is
 * replaced by the next convergence.
 * list_owned: every container and network labelled with the tenant.
 *
 * Errors: a socket that refuses or is missing, timeouts and 5xx are
 * PROVIDER_TRANSIENT; the Engine API's own message is in every error.
 *
 * watch (provider.h): the daemon's own instance follows the Engine API's
 * event stream while it runs and tells it of each container of tenantd's
 * that dies, is removed or paused, with its tenant (events.c).
 *
 * Written on the provider runtime (providers/common/runtime.h): every
 * answer comes on a later loop turn; close() waits for the operations in
 * flight, then stops the event stream and the timers.
 */
#ifndef TD_DOCKER_H
#define TD_DOCKER_H

#include "providers/provider.h"

/* The Engine API version the paths name. */
#define DOCKER_API_VERSION "v1.41"

extern const struct provider_ops docker_provider_ops;

#endif
