/*
 * powerdns.h - dns_record resources in a PowerDNS Authoritative server,
 * through its HTTP API (tested against 4.7).
 *
 * One dns_record is one rrset: its name and type, one record holding the
 * target, and the ownership marker as the rrset's comment
 * ({"content": "managed-by=tenantd tenant=<t> id=<id>",
 *   "account": "tenantd"}).  Records live in the server's existing zones:
 * a record's zone is the zone whose name is the longest suffix of the
 * record's name on a label boundary.  The provider never creates or
 * deletes zones.
 *
 * Options (the instance's entry in the controller config, borrowed):
 *
 *   {"type": "powerdns",
 *    "url": "http://127.0.0.1:8081",   required: the API's base URL (http
 *                                      or https; the path /api/v1/... is
 *                                      appended)
 *    "apiKeyEnv": "PDNS_API_KEY",      the environment variable holding
 *                                      the API key (this default); it must
 *                                      be set and not empty
 *    "server": "localhost",            the server id in the API (this
 *                                      default)
 *    "timeoutMs": 5000,                per HTTP request (1 to 600000)
 *    "batchWindowMs": 2,               how long a write waits for others to
 *                                      the same zone to share its PATCH (0
 *                                      to 1000; 0: only those queued in
 *                                      the same loop iteration)
 *    "zoneCacheMs": 3000}              how long a zone's content is reused
 *                                      (1 to 600000; this default is
 *                                      POWERDNS_ZONE_BODY_TTL_MS; short
 *                                      values are for tests: every read
 *                                      and write then GETs the zone)
 *
 * Unknown options and values of the wrong type make open() fail with a
 * message in err ("powerdns: timeoutMs must be an integer between 1 and
 * 600000").  The API key is read at open, sent only in the X-API-Key
 * header, and never appears in a message.
 *
 * Spec (as compose builds it):  {"name", "type": "A" | "AAAA" | "CNAME",
 * "target", "ttl"}; "ttl" defaults to 300.  Observed state:
 *   {"spec":    {"name", "type", "target", "ttl"},  normalised like the
 *                desired spec: lower case, no trailing dots (CNAME
 *                targets are written with one), AAAA in canonical form,
 *                several records as their sorted contents joined by ","
 *                (so they diff and are replaced by one), disabled records
 *                left out;
 *    "outputs": {"zone": "<zone name, no trailing dot>"},
 *    "marker":  the tenantd marker of the rrset's comments, if any}
 *
 * The rrset a read reports, of those at the name that have records: the
 * one carrying this resource's marker (of the desired type first), else
 * one in the desired type's way (the same type first, then a CNAME; for a
 * CNAME, anything), else, when the type is unknown (a removed resource),
 * any A, AAAA or CNAME.  None: PROVIDER_NOT_FOUND.
 *
 * Writes:
 *   create   REPLACE of the rrset with the marker.  An rrset in the way
 *            (same type, or CNAME against anything) without this
 *            resource's marker is PROVIDER_CONFLICT and nothing is sent.
 *            This resource's rrsets of another type at the name (a type
 *            change, A <-> CNAME) are deleted in the same PATCH.
 *   update   the same, but PROVIDER_NOT_FOUND when no rrset of this
 *            resource exists at the name.
 *   remove   DELETE of every rrset at the name carrying this resource's
 *            marker; PROVIDER_CONFLICT when only others' exist,
 *            PROVIDER_NOT_FOUND when none.
 *   list_owned  every rrset in every zone whose marker names the tenant
 *            (type dns_record), sorted by name.
 * A name in no zone of the server is PROVIDER_INVALID ("no zone on the
 * PowerDNS server holds <name>").
 *
 * Batching, which is what makes thousands of tenants affordable:
 *   - The zone list is fetched once and kept for POWERDNS_ZONE_LIST_TTL_MS.
 *   - A zone's content is fetched whole (one GET answers every read of
 *     it queued meanwhile; at most 8 GETs run at once) and kept for
 *     zoneCacheMs; this instance's own writes are applied to the kept
 *     copy, and a failed write drops it.  A zone never has a GET and a
 *     PATCH in flight at once: a GET wanted while the zone's PATCH (or its
 *     one-by-one retries) runs waits for it, and a PATCH waits for a
 *     fresh copy.  (PowerDNS may answer a GET from the data before a
 *     concurrent PATCH lands; that body, kept, would hide this instance's
 *     own write for zoneCacheMs.)  A GET body is also not kept if a
 *     PATCH of the zone was sent or answered while it ran (a per-zone
 *     write generation); its readers wait for a new GET.
 *   - Writes queue per zone.  One writer sends them, one PATCH at a time
 *     per instance (group commit: PowerDNS's SQLite backend answers
 *     concurrent writes with "database is locked"): when it is idle, the
 *     first write starts a batchWindowMs window; while a PATCH runs, the
 *     writes arriving for every zone gather for the next ones.  A zone's
 *     queued writes go in one PATCH (at most 1000 rrsets), and each gets
 *     that PATCH's result.  If PowerDNS refuses a batch (422), each write
 *     is retried in a PATCH of its own, so one bad record does not fail
 *     its neighbours.  Two writes to one name go in successive PATCHes.
 *   - The controller bounds the calls in flight (apply --concurrency),
 *     and queued writes count: a batch holds at most that many writes.
 * A create checks for conflicts against a copy of the zone at most
 * POWERDNS_ZONE_BODY_TTL_MS old, and PowerDNS has no conditional PATCH:
 * an rrset made by hand in between is overwritten if it has the same
 * type; of a type in the way, PowerDNS refuses the write ("Conflicts with
 * pre-existing RRset"), which is PROVIDER_CONFLICT.
 *
 * Known costs: a zone's body is parsed (jansson, on the loop thread) and
 * indexed whole, up to POWERDNS_MAX_ZONE_BYTES, each time it is fetched,
 * so a zone of very many rrsets stalls the loop for the parse; and
 * list_owned fetches every zone of the server and scans every rrset of
 * each for the tenant's marker (linear in the rrsets of the server, per
 * call; duplicates are found with a hashed set).  With thousands of
 * tenants listed in one pass, the zones' kept copies are shared by the
 * lists of that pass, but each list still scans them all.
 *
 * Errors follow curl_uv's classification (refused, timeouts, 5xx:
 * transient; 401/403: auth; 422 and other 4xx: invalid, with PowerDNS's
 * "error" text), except that only 2xx is success (redirects are not
 * followed: a 3xx is PROVIDER_INVALID).  A zone that vanished between the
 * zone list and a GET or PATCH (404) is PROVIDER_TRANSIENT, and the zone
 * list is fetched again.
 *
 * The provider is written on the shared runtime
 * (providers/common/runtime.h): every callback runs on the loop, never
 * from inside the call that started the operation.  close() waits for
 * every operation in flight, then closes the HTTP handles and the timer
 * and calls its callback; operations started after close() (even while
 * it finishes) fail with PROVIDER_TRANSIENT "provider closing", answered
 * on the loop like any other, before close()'s callback.
 */
#ifndef TD_POWERDNS_H
#define TD_POWERDNS_H

#include "providers/provider.h"

/* How long the server's zone list and (zoneCacheMs's default) a zone's
 * content are reused. */
#define POWERDNS_ZONE_LIST_TTL_MS 30000
#define POWERDNS_ZONE_BODY_TTL_MS 3000

/* Response caps: the zone list, and one zone with all its rrsets. */
#define POWERDNS_MAX_LIST_BYTES (16 * 1024 * 1024)
#define POWERDNS_MAX_ZONE_BYTES (64 * 1024 * 1024)

extern const struct provider_ops powerdns_provider_ops;

#endif
