/*
 * local.h - the embedded "simulated cloud": tenantd's default provider and
 * the test bed for controller logic under failure.
 *
 * Every resource is one JSON file a human can read and edit (to simulate
 * drift), and the instance can add latency and inject faults so the
 * controller's retry, conflict and health handling can be exercised
 * without a real backend.
 *
 * Options (the instance's entry in the controller config, borrowed):
 *
 *   {"type": "local",
 *    "stateDir": "/var/lib/tenantd/local",  required; created with its
 *                             parents (mode 0700) by the first write, never
 *                             by a read: an absent one holds nothing
 *    "latencyMs": 0,          every callback, failures included, comes at
 *                             least this long after the call, and after
 *                             the work is done: the work runs meanwhile,
 *                             as a remote API's (integer, 0 to 600000)
 *    "faultRate": 0.0,        probability that an operation fails without
 *                             touching the state (number, 0 to 1)
 *    "faultClass": "transient",  class of injected faults: "transient",
 *                             "conflict", "invalid" or "auth"; the message
 *                             is "injected <class> fault"
 *    "faultMatch": "service/api",  faults only for resource ids that
 *                             contain this string (list_owned never fails)
 *    "faultOn": "all",        "all" operations, or only "writes" (create,
 *                             update, remove)
 *    "seed": 1,               seeds the fault sequence: the same seed and
 *                             the same order of calls give the same faults
 *    "healthDelayMs": 0}      a service turns healthy this long after its
 *                             last create or update (integer, 0 to
 *                             86400000)
 *
 * Unknown options and values of the wrong type or range make open() fail
 * with a message in err, such as "local: faultRate must be a number
 * between 0 and 1" or "local: unknown option 'latencyMS' (did you mean
 * 'latencyMs'?)".
 *
 * State layout: <stateDir>/<type>/<external name>.json, type as in
 * resource_type_name(), holding
 *
 *   {"marker":  "managed-by=tenantd tenant=<t> id=<id>",
 *    "outputs": {...},
 *    "spec":    {...}}
 *
 * written with sorted keys, two-space indent and a trailing newline.  Files
 * are replaced atomically, so a crash leaves either the old or the new
 * content: writes go to temp files as they come (a file that does not
 * exist yet to an unnamed one, where the file system has O_TMPFILE: a
 * crash leaves nothing of it); a flush takes every one written by then
 * and makes them durable (a few, each with fdatasync(), so a small pass
 * does not wait on the rest of the host's writes; many, or any in a
 * directory just made, with one syncfs()), then they are renamed or
 * linked (and removals unlinked) and answered.  A create that links
 * reads nothing first; a name taken by then is judged as one read first
 * is: a file not tenantd's, or another resource's, stays as it is and
 * the create is a CONFLICT; the resource's own is replaced.  Writes that
 * come during a flush go in the next, which also makes the earlier
 * renames durable (their directories synced, or the file system after
 * links); close() makes the last of them durable before its callback,
 * so what a pass applied is on disk before the pass records it.  Files
 * whose names start with '.' (temp files) or do not end in ".json" are
 * ignored.  A file that is not a JSON object with an object "spec" (and,
 * when present, an object "outputs" and a string "marker"), or that is
 * larger than LOCAL_STATE_MAX, is PROVIDER_INVALID with the file named in
 * the message: it is never taken for absent.
 *
 * Outputs, computed from the external name so a re-create gives the same
 * values:
 *   network     {"id": "net-<8 hex>"}
 *   database    {"host": "127.0.0.1", "port": 5432}
 *   bucket      {"url": "local://bucket/<name>"}
 *   service     {"ip": "100.64.x.y", "port": <spec port>,
 *                "address": "<ip>:<port>", "addresses": one "<ip>:<port>"
 *                a replica (the first is "address"; the others' ips
 *                come from the name and the ordinal), "healthy": bool,
 *                "healthyAt": <ms since the epoch>}
 *   route, dns_record  {}
 * A service's "healthy" is recomputed on every read as now >= healthyAt;
 * edit "healthyAt" into the future to simulate an unhealthy service.  Its
 * spec must hold an integer "port" (1 to 65535), or the operation is
 * PROVIDER_INVALID.
 *
 * Semantics beyond provider.h:
 *   create   CONFLICT when the file exists without a tenantd marker or
 *            with another resource's; a file with this resource's own
 *            marker is overwritten (re-create after a crash).
 *   update   NOT_FOUND when absent; CONFLICT unless marked as this
 *            resource; replaces the spec, keeps and recomputes outputs.
 *   remove   NOT_FOUND when absent; CONFLICT unless marked as this
 *            resource.
 *   list_owned  every file under <stateDir>/<type>/ whose marker names
 *            the tenant, sorted by type then name; one unreadable file
 *            fails the whole list (unknown is not absent).
 * External names containing '/' or starting with '.' are PROVIDER_INVALID.
 * Permission errors are PROVIDER_AUTH, a file where a directory of
 * stateDir's path should be PROVIDER_INVALID (neither is retried: neither
 * passes by itself), other I/O errors PROVIDER_TRANSIENT.
 * Operations on the same resource are not serialised against each other:
 * the controller runs at most one at a time per resource.
 *
 * File work runs on the libuv threadpool, but for a few files when the
 * instance is otherwise idle and no latencyMs is set: those are read,
 * written and synced on the loop's thread, which then blocks for the
 * sync of a few files.  The provider is written on the shared
 * runtime (providers/common/runtime.h): close() waits for every
 * operation in flight; operations started after it fail with
 * PROVIDER_TRANSIENT "provider closing" (at once: latencyMs is for
 * operations that run).
 */
#ifndef TD_LOCAL_H
#define TD_LOCAL_H

#include "providers/provider.h"

/* The largest state file read or written: a bigger one is invalid. */
#define LOCAL_STATE_MAX (1024 * 1024)

extern const struct provider_ops local_provider_ops;

#endif
