#!/usr/bin/env bash
# The seed workflow end to end, every resource on its real backend: a
# commit adding a tenant whose backend (api) and frontend (web,
# `dependsOn: [api]`) run as containers through Podman's Engine API, with
# its database in PostgreSQL, its route in nginx and its public record in
# PowerDNS, all started here on 127.0.0.1.  One `tenantd apply --once`
# against the Git remote must give: database created -> backend healthy
# -> frontend healthy -> route -> DNS record -> a status commit saying
# Ready, whose events give each step's time; the order is checked from
# those times.  Then the world is asked directly: psql sees the database,
# Podman the containers, dig answers the public name with the ingress,
# and curl through nginx with the public Host header gets the frontend's
# own answer (its tenant, environment, app and version).  A second pass
# changes nothing; an update of the frontend replaces its replica, and the
# route follows the new address in the same pass.  Last, the daemon: a
# replica killed by hand is back within seconds, told by the event
# stream, long before the resync.
# Usage: tests/providers/seed.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: seed.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
# Short: the API's socket path must fit a sockaddr_un.
tmp=$(mktemp -d /tmp/tds.XXXXXX)
pgbin=/usr/lib/postgresql/15/bin
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"

for tool in podman runc curl python3 pdns_server dig nginx psql sqlite3; do
  if ! command -v "$tool" >/dev/null; then
    echo "seed: $tool missing (make deps installs it)"
    exit 1
  fi
done
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

pg_pid=""
pgdir=""
sfx=$(printf '%04x' $((RANDOM % 65536)))
T=seed$sfx
# shellcheck source=../podman.sh
. "$root/tests/podman.sh"

cleanup() {
  podman_private_stop
  if [ -n "$pg_pid" ]; then
    kill -INT "$pg_pid" 2>/dev/null
    wait "$pg_pid" 2>/dev/null
  fi
  [ -n "$pgdir" ] && [ -z "${KEEP_TMP:-}" ] && rm -rf "$pgdir"
  stop_tracked
}
trap cleanup EXIT

# ---- Podman, private ----

if ! podman_private "$tmp/p" "tds$sfx"; then
  echo "seed: podman system service did not start"
  exit 1
fi
sock=$pod_sock
sub=$pod_octet
img=localhost/tds-app:1
"$root/tests/images/build-app.sh" "$img" 1 || exit 1

# ---- PostgreSQL: tenantd's role over TCP ----

pg_port=$(free_port)
pgdir=$(mktemp -d)
chown postgres:postgres "$pgdir"
runuser -u postgres -- "$pgbin/initdb" -D "$pgdir/data" -U postgres -A trust \
  --no-sync -E UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1 ||
  { cat "$tmp/initdb.log"; exit 1; }
setpriv --reuid=postgres --regid=postgres --clear-groups --reset-env \
  "$pgbin/postgres" -D "$pgdir/data" -c listen_addresses=127.0.0.1 \
  -p "$pg_port" -k "$pgdir" -c fsync=off >>"$pgdir/server.log" 2>&1 &
pg_pid=$!
if ! wait_for 15 pg_isready -q -h 127.0.0.1 -p "$pg_port"; then
  echo "seed: postgres did not start"
  tail -5 "$pgdir/server.log"
  exit 1
fi
sql() { psql -h "$pgdir" -p "$pg_port" -U postgres -d postgres -XqtA -c "$1"; }
sql "CREATE ROLE tenantd CREATEDB CREATEROLE LOGIN PASSWORD 'seed-pass'" >/dev/null
export TENANTD_PG_CONNINFO="host=127.0.0.1 port=$pg_port dbname=postgres user=tenantd password=seed-pass"

# ---- PowerDNS: the public zone ----

pd=$tmp/pdns
key="pdns-key-$RANDOM$RANDOM"
export PDNS_API_KEY=$key
dns_port=$(free_port)
pdns_http=$(free_port)
pdns_conf "$pd" "$key" "$dns_port" "$pdns_http"
pdns_server --config-dir="$pd" >>"$pd/log" 2>&1 &
track_pid $!
api=http://127.0.0.1:$pdns_http/api/v1/servers/localhost
if ! wait_for 10 curl -sf -H "X-API-Key: $key" "$api/zones"; then
  echo "seed: pdns_server did not start"
  tail -5 "$pd/log"
  exit 1
fi
curl -sf -o /dev/null -X POST -H "X-API-Key: $key" \
  -H 'Content-Type: application/json' "$api/zones" \
  --data '{"name": "example.test.", "kind": "Native", "nameservers": ["ns1.example.test."]}' ||
  bad "zone example.test created"

# ---- nginx: a default server, and the route files tenantd writes ----

ngx=$tmp/nginx
sites=$ngx/sites
mkdir -p "$sites"
ngx_port=$(free_port)
nginx_conf "$ngx" <<EOF
  proxy_connect_timeout 2s;
  server_names_hash_bucket_size 64;
  server {
    listen 127.0.0.1:$ngx_port default_server;
    return 404;
  }
  include $sites/*.conf;
EOF
nginx_bin=$(command -v nginx)
"$nginx_bin" -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf" 2>>"$ngx/stderr.log" &
track_pid $!
if ! wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' \
    --max-time 3 http://127.0.0.1:$ngx_port/)\" = 404 ]"; then
  echo "seed: nginx did not start"
  tail -5 "$ngx/error.log" "$ngx/stderr.log"
  exit 1
fi

# ---- the Git remote: the platform first, then the commit adding the
# tenant ----

R=$tmp/remote.git
W=$tmp/wc
git init -q --bare -b main "$R"
git clone -q "$R" "$W" 2>/dev/null
git -C "$W" checkout -q -b main 2>/dev/null
mkdir -p "$W/tenants"
cp "$root/deploy/examples/tenants-repo/tiers.yaml" "$W/"
cat >"$W/platform.yaml" <<EOF
apiVersion: tenantd.io/v1
kind: Platform
metadata:
  name: seed
spec:
  domains:
    public: example.test
  ingress:
    public: 127.0.0.1
  providers:
    network: docker
    service: docker
    database: pg
    route: edge
    dns_record: dns
EOF
git -C "$W" add -A
git -C "$W" commit -q -m "The platform"
git -C "$W" push -q origin main
cat >"$W/tenants/$T.yaml" <<EOF
apiVersion: tenantd.io/v1
kind: Tenant
metadata: {name: $T}
spec:
  tier: basic
  environments:
    - name: prod
      network: {cidr: 10.$sub.1.0/24}
      database: {}
      apps:
        - name: api
          image: $img
          port: 8080
          healthCheck: {path: /health, intervalSeconds: 1, timeoutSeconds: 1}
        - name: web
          image: $img
          port: 8080
          dependsOn: [api]
          env: {APP_VERSION: "7"}
          healthCheck: {path: /health, intervalSeconds: 1, timeoutSeconds: 1}
          dns: {public: true}
EOF
git -C "$W" add -A
git -C "$W" commit -q -m "Tenant $T: a backend and a frontend"
git -C "$W" push -q origin main

cfg=$tmp/tenantd.yaml
cat >"$cfg" <<EOF
source: {url: "file://$R", branch: main}
cacheDir: $tmp/cache
status: {branch: tenantd/status, push: true}
providers:
  local: {type: local, stateDir: $tmp/state}
  docker: {type: docker, socket: $sock, healthTimeoutMs: 20000,
           stopTimeoutSeconds: 2}
  pg: {type: postgres, conninfoEnv: TENANTD_PG_CONNINFO}
  edge:
    type: nginx
    sitesDir: $sites
    command: ["$nginx_bin", -p, "$ngx", -e, "$ngx/error.log", -c, "$ngx/nginx.conf"]
    listen: "127.0.0.1:$ngx_port"
  dns: {type: powerdns, url: "http://127.0.0.1:$pdns_http", apiKeyEnv: PDNS_API_KEY}
EOF

# ---- the pass ----

expect_timeout=120
t0=$(date +%s%N)
expect_rc "apply" 0 "$bin" apply --once --config "$cfg" --health-timeout 30s
took_ms=$((($(date +%s%N) - t0) / 1000000))
expect_out "summary" '^1 tenant: 6 changed, 0 failed'
expect_out "status commit" '; status commit [0-9a-f]{12}$'
rgit() { git --git-dir "$R" "$@"; }
rgit log -1 --format=%B tenantd/status >"$tmp/body"
eq "status commit: Ready" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Result,valueonly)' tenantd/status | sed '/^$/d')" \
  ready
rgit show "tenantd/status:status/$T.yaml" >"$tmp/status.yaml" 2>&1
eq "status file: Ready" "$(grep -A1 -- '- type: Ready$' "$tmp/status.yaml" |
  sed -nE 's/^ *status: "?([A-Za-z]+)"?$/\1/p')" True

# step ID: "START END" in ms into the pass, from the event
# "<tenant>: created <id> in D s[, H s of it until healthy] (+S s to +E s)".
step() {
  sed -nE "s|^$T: created $1 in [0-9.]+ s.*\(\+([0-9.]+) s to \+([0-9.]+) s\)\$|\1 \2|p" \
    "$tmp/body" | awk '{ printf "%d %d\n", $1 * 1000 + 0.5, $2 * 1000 + 0.5 }'
}
db=$(step "database/$T\\.prod")
api=$(step "service/api\\.prod\\.$T")
web=$(step "service/web\\.prod\\.$T")
route=$(step "route/web\\.prod\\.$T")
rec=$(step "dns_record/web\\.prod\\.$T\\.public")
ready=$(sed -nE "s/^$T: ready ([0-9.]+) s into the pass\$/\1/p" "$tmp/body" |
  awk '{ printf "%d\n", $1 * 1000 + 0.5 }')
for s in db api web route rec ready; do
  check "timing of $s in the events" test -n "${!s}"
done
# before A B: step A ended before step B began.
before() {
  local a_end b_start
  a_end=$(echo "$2" | cut -d' ' -f2)
  b_start=$(echo "$3" | cut -d' ' -f1)
  if [ -n "$a_end" ] && [ -n "$b_start" ] && [ "$a_end" -le "$b_start" ]; then
    ok
  else
    bad "$1: '$2' does not end before '$3' begins"
  fi
}
before "database, then the backend" "$db" "$api"
before "backend healthy, then the frontend" "$api" "$web"
before "frontend healthy, then the route" "$web" "$route"
before "route, then the DNS record" "$route" "$rec"
check "ready after the DNS record" test "${ready:-0}" -ge "$(echo "$rec" | cut -d' ' -f2)"
# What the times add up to is what the pass took, near enough.
check "ready within the pass's time" test "${ready:-0}" -le "$took_ms"

# ---- the world, asked directly ----

eq "database in PostgreSQL" \
  "$(sql "SELECT datname FROM pg_database WHERE datname = '${T}_prod'")" "${T}_prod"
eq "backend and frontend running" \
  "$(podman ps --filter "label=tenantd.tenant=$T" --format '{{index .Labels "tenantd.id"}}' | sort | tr '\n' ' ')" \
  "service/api.prod.$T service/web.prod.$T "
name=web.prod.$T.example.test
eq "dig answers the public name" \
  "$(dig @127.0.0.1 -p "$dns_port" "$name" A +short +time=2 +tries=1)" 127.0.0.1
curl -s --max-time 5 -H "Host: $name" "http://127.0.0.1:$ngx_port/" >"$tmp/page"
expect_out "nginx with the public name reaches the frontend" \
  "^\\{\"tenant\":\"$T\",\"env\":\"prod\",\"app\":\"web\",\"version\":\"7\",\"db\":\"127.0.0.1\"\\}\$" \
  "$tmp/page"
expect_out "the route proxies to the replica's address" \
  "^  server 127\\.0\\.0\\.1:[0-9]+;\$" "$sites/web.prod.$T.conf"

# ---- converged: a second pass changes nothing ----

expect_rc "second apply" 0 "$bin" apply --once --config "$cfg" --health-timeout 30s
expect_out "second apply: nothing changed" '^1 tenant: 0 changed, 0 failed'

# ---- an update of the frontend: its replica is replaced, and the route
# follows its new address in the same pass ----

sed -i 's/APP_VERSION: "7"/APP_VERSION: "8"/' "$W/tenants/$T.yaml"
git -C "$W" commit -q -am "Tenant $T: the frontend's version 8"
git -C "$W" push -q origin main
expect_rc "update" 0 "$bin" apply --once --config "$cfg" --health-timeout 30s
rgit log -1 --format=%B tenantd/status >"$tmp/body"
expect_out "update: the route follows the new replica" \
  "^$T: updated route/web\\.prod\\.$T \\(upstreams, after what it refers to changed\\) in " \
  "$tmp/body"
curl -s --max-time 5 -H "Host: $name" "http://127.0.0.1:$ngx_port/" >"$tmp/page"
expect_out "update: nginx reaches the new version" '"app":"web","version":"8"' "$tmp/page"
expect_rc "after the update: nothing pending" 0 "$bin" plan --config "$cfg" \
  --detailed-exitcode

# ---- the daemon: a replica killed by hand is back within seconds, long
# before the resync (an hour): the provider's event stream tells the
# daemon which tenant to look at ----

port=$(free_port)
sed -i 's|^source: {url: "file://\(.*\)", branch: main}$|source: {url: "file://\1", branch: main, interval: 1h}|' "$cfg"
cat >>"$cfg" <<EOF
http: {listen: "127.0.0.1:$port"}
reconcile: {resync: 1h, healthTimeout: 30s}
EOF
"$bin" run --config "$cfg" >"$tmp/daemon.log" 2>&1 &
dpid=$!
track_pid "$dpid"
check "daemon ready" wait_for 60 curl -sf "http://127.0.0.1:$port/readyz"
expect_out "daemon: watching the docker provider" \
  'msg="watching provider" provider=docker type=docker' "$tmp/daemon.log"
web0=$(podman ps --filter "label=tenantd.id=service/web.prod.$T" --format '{{.Names}}' | head -1)
status_tip=$(rgit rev-parse tenantd/status)
podman kill "$web0" >/dev/null
# answers ID: a replica of the service runs and answers.
answers() {
  local c
  c=$(podman ps --filter "label=tenantd.id=$1" --format '{{.Names}}' | head -1)
  [ -n "$c" ] &&
    curl -sf -m 2 "127.0.0.1:$(podman port "$c" 8080/tcp | sed 's/.*://')/" >/dev/null
}
check "killed replica: back before any resync" wait_for 60 answers "service/web.prod.$T"
expect_out "killed replica: the event named it" \
  "msg=\"provider event\" tenant=$T provider=docker event=\"container $web0: died\"" \
  "$tmp/daemon.log"
status_moved() { [ "$(rgit rev-parse tenantd/status)" != "$status_tip" ]; }
check "killed replica: a status commit follows" wait_for 30 status_moved
rgit log -1 --format=%B tenantd/status >"$tmp/body"
expect_out "killed replica: the status commit says it was corrected" \
  "^$T: drift corrected service/web\\.prod\\.$T \\(updated\\)" "$tmp/body"
kill -TERM "$dpid"
wait "$dpid"
eq "daemon: exit status (the watch closed, nothing leaked)" "$?" 0
forget_pid "$dpid"

echo "seed: the pass took $((took_ms / 1000)).$(printf '%03d' $((took_ms % 1000))) s"
summary seed
