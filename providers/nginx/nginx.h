/*
 * nginx.h - load-balancer routes as nginx server blocks.
 *
 * A `route` resource (spec {"hosts": [name, aliases...], "upstreams":
 * ["host:port", ...]}: every replica of its service, or an outside app's
 * endpoint) becomes one file, <sitesDir>/<external name>.conf, that
 * the operator's nginx includes (an `include` of sitesDir's "*.conf"
 * inside its http block).  Every change is checked with `nginx -t` before nginx
 * is told to reload, and verified afterwards by asking nginx itself for the
 * route, so a route reported created is a route nginx serves.
 *
 * Options (the instance's entry in the controller config, borrowed):
 *
 *   {"type": "nginx",
 *    "sitesDir": "/etc/nginx/tenantd",   required; the directory of route
 *                             files, created on demand (its parent must
 *                             exist); tenantd owns the files in it that
 *                             carry its marker and touches no other
 *    "command": ["nginx", "-p", "/", "-c", "/etc/nginx/nginx.conf"],
 *                             required; the argv that runs this nginx
 *                             (looked up in PATH); the provider appends
 *                             "-t" to test the config and "-s", "reload"
 *                             to reload it; it runs with PATH, TZ and
 *                             LANG only (no secret of tenantd's reaches
 *                             it)
 *    "listen": "127.0.0.1:8088",  required; host:port (an IPv4 address,
 *                             a hostname or [IPv6]) every server block
 *                             listens on, and where routes are verified
 *    "verifyTimeoutMs": 5000} how long after a reload nginx may take to
 *                             serve a changed route (integer, 1 to
 *                             600000); the handover is then timed for
 *                             250 ms more, and a write that waited for it
 *                             may take up to 1 s more (step 4 below)
 *
 * Unknown options and values of the wrong type make open() fail with a
 * message in err, such as "nginx: listen must be host:port".
 *
 * A route file (written atomically: temp file, fsync, rename):
 *
 *   # managed-by=tenantd tenant=<t> id=<id>
 *   # spec: {"hosts":[...],"upstreams":[...]}   compact, sorted keys
 *   # revision: <16 hex digits>                  random, per write
 *   # state: pending                 until nginx is seen serving it
 *   # Written by tenantd: edits here are reverted on the next reconcile.
 *   upstream tenantd.<id, '/' made '.'> {
 *     server <upstream>;             one line per upstream, in order
 *   }
 *   server {
 *     listen <listen>;
 *     server_name <hosts, in order>;
 *     location / {
 *       proxy_pass http://tenantd.<id, '/' made '.'>;
 *       proxy_set_header Host $host;
 *       add_header X-Tenantd-Route <id> always;
 *       add_header X-Tenantd-Revision <revision> always;
 *     }
 *   }
 *
 * Spec values are checked before anything is written: hosts must be 1 to
 * 64 plain DNS names (letters, digits, '-', '.'), the upstreams 1 to 128
 * host:port, and nothing else is accepted (PROVIDER_INVALID), so no spec
 * can inject nginx configuration.  External names must be usable as file
 * names (the same characters, '_' allowed, not starting with '.').
 *
 * Writes (create, update, remove) are serialised per instance and
 * coalesced: the writes waiting when a cycle starts share one `nginx -t`
 * and one `nginx -s reload`; a second write to a file already in the
 * batch waits for the next cycle.  A cycle:
 *   1. writes (or deletes) every file of the batch, keeping the old ones;
 *      a written file carries "# state: pending";
 *   2. runs `nginx -t`; when nginx refuses, restores every file and runs
 *      `nginx -t` again: when that fails too, the problem is outside the
 *      batch (a broken foreign file) and every write ends
 *      PROVIDER_TRANSIENT with nginx's message; otherwise it tries the
 *      writes one at a time so one bad route does not fail the others; a
 *      write nginx refuses alone is restored and ends PROVIDER_INVALID
 *      with nginx's message (a refused config is never left in place);
 *   3. runs `nginx -s reload`; when that fails (nginx not running), the
 *      files are restored and the writes end PROVIDER_TRANSIENT;
 *   4. verifies: HEAD http://<listen>/ with "Host: <host>" for every host
 *      of the route, aliases included (after a remove: every host of the
 *      removed file), each on a new connection, until every response
 *      carries "X-Tenantd-Route: <id>" and the revision just written
 *      (after a remove: no longer names the route).  A reload lets
 *      nginx's old workers accept connections, with the old config, for
 *      about 100 ms after the new workers answer, so one answer proves
 *      nothing.  That handover is the reload's: up to four writes of the
 *      cycle with every answer right (the probes) are asked in rounds
 *      ~20 ms apart until one of them has gone on answering right for
 *      250 ms, a wrong answer starting its 250 ms again; then every
 *      other write is asked again, and one round of right answers asked
 *      after that serves it (before it, a write is asked only while no
 *      probe runs).  A remove is judged alone, by its own 250 ms, as the
 *      old config may already lack its route.  Any HTTP status counts, a
 *      502 from an unreachable upstream included; the upstream must
 *      answer or fail within verifyTimeoutMs (keep proxy_connect_timeout
 *      below it).  A write woken from waiting for the handover has
 *      500 ms at least, up to 1 s past its own time.  A write not served
 *      in time ends PROVIDER_TRANSIENT and its previous file is put back,
 *      so the next pass tries again instead of reading a route nginx
 *      never loaded as converged;
 *   5. rewrites each file nginx serves without its pending line (a
 *      comment: no reload).
 * A file still pending (tenantd stopped mid-cycle) reads as drift, so the
 * next pass writes, tests and loads it.  When a file cannot be restored,
 * the file the write left is renamed to ".<name>.conf.failed", out of the
 * "*.conf" glob, so nginx never loads an untested file (the route then
 * reads as missing); the message says so, and the file is kept for the
 * operator (one per route, replaced by the next failure).
 * An nginx command that cannot be started or runs longer than 30 s
 * (killed) fails the cycle's writes with PROVIDER_TRANSIENT, files
 * restored.
 *
 * Semantics beyond provider.h:
 *   read        NOT_FOUND when there is no file.  A file without a tenantd
 *               marker is returned without "marker" (a conflict for the
 *               controller), its spec parsed from its directives.  A
 *               marked file exactly as tenantd writes it returns the spec
 *               of its "# spec:" line; a file edited by hand returns what
 *               its server_name and proxy_pass say, and when those still
 *               match, its last upstream as "<upstream> (edited by
 *               hand)", so any edit is drift the controller corrects; an
 *               unedited file still marked pending has its last upstream
 *               read "<upstream> (pending)", drift too.  The upstreams
 *               of directives are the servers of the upstream block that
 *               proxy_pass names, or proxy_pass's host:port alone (a
 *               file written before routes had upstream blocks reads so,
 *               and is rewritten).  Outputs: {"url": "http://<first
 *               host>"}.
 *   create      CONFLICT when the file exists without this resource's
 *               marker (nothing is touched); a file with its own marker
 *               is overwritten.
 *   update      NOT_FOUND when absent; CONFLICT unless marked as this
 *               resource.
 *   remove      NOT_FOUND when absent; CONFLICT unless marked as this
 *               resource; deletes the file, then tests, reloads, verifies.
 *   list_owned  every *.conf file in sitesDir whose marker names the
 *               tenant (type route, name = the file name without .conf),
 *               by name.
 * Permission errors are PROVIDER_AUTH, other I/O errors
 * PROVIDER_TRANSIENT.  Temp files a killed writer left behind
 * (".<name>.conf.XXXXXX") are removed at open (".failed" files are not).
 * close() waits for every operation in flight (a cycle finishes);
 * operations started after it fail with PROVIDER_TRANSIENT "provider
 * closing", delivered before its callback runs.
 */
#ifndef TD_NGINX_H
#define TD_NGINX_H

#include "providers/provider.h"

extern const struct provider_ops nginx_provider_ops;

#endif
