#!/usr/bin/env bash
# The powerdns provider against a real PowerDNS Authoritative 4.7 on
# loopback (sqlite backend, its own config dir and ports), driven through
# `tenantd apply --once --config` on the example manifests with
# dns_record bound to it, and checked with dig and the PowerDNS API: the
# first apply answers every public, private and alias name with one PATCH
# per zone; a second changes nothing; drift made through the API is
# corrected; the ingress turning into an address switches CNAMEs to A
# records (and back) in one PATCH per zone; hand-made rrsets are conflicts
# and left alone; a batch PowerDNS refuses is retried record by record;
# prune deletes only tenantd's records; a name without a zone is an
# invalid error naming it; a stopped server gives transient errors and
# deletes nothing; many writes to one zone with a 1 ms zone cache (a GET
# before every PATCH) all land and settle; the API key never shows.
# Usage: tests/providers/powerdns.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: powerdns.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
example=$root/deploy/examples/tenants-repo
tmp=$(mktemp -d)
pdns_pid=""
cleanup() {
  [ -n "$pdns_pid" ] && kill -9 "$pdns_pid" 2>/dev/null && wait "$pdns_pid" 2>/dev/null
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"

if ! command -v pdns_server >/dev/null || ! command -v dig >/dev/null; then
  echo "powerdns: pdns_server or dig missing (make deps installs them)"
  exit 1
fi

# Debian's interpreter starts in milliseconds; a pyenv shim can take 1 s.
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# A key no output may show; PowerDNS gets it from its config file.
key="pdns-key-$$-$RANDOM$RANDOM-do-not-print"
export PDNS_API_KEY=$key

free_ports() {
  "$py" -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])'
}
read -r dns_port http_port < <(free_ports)
api=http://127.0.0.1:$http_port/api/v1/servers/localhost

# ---- the server ----

pd=$tmp/pdns
pdns_conf "$pd" "$key" "$dns_port" "$http_port"

pdns_start() {
  pdns_server --config-dir="$pd" >>"$pd/log" 2>&1 &
  pdns_pid=$!
  wait_for 10 curl -sf -H "X-API-Key: $key" "$api/zones"
}
pdns_stop() {
  kill -9 "$pdns_pid" 2>/dev/null
  wait "$pdns_pid" 2>/dev/null
  pdns_pid=""
}
if ! pdns_start; then
  echo "powerdns: pdns_server did not start"
  tail -5 "$pd/log"
  exit 1
fi

# pdns METHOD PATH [BODY]: the API, body on stdout, status code in $code.
pdns() {
  local data=()
  [ -n "${3:-}" ] && data=(--data "$3")
  code=$(curl -s -o "$tmp/api.out" -w '%{http_code}' -X "$1" \
    -H "X-API-Key: $key" -H 'Content-Type: application/json' \
    "${data[@]}" "$api$2")
  cat "$tmp/api.out"
}
# rrset NAME TYPE CONTENT [COMMENT]: a hand-made REPLACE of one record.
rrset() {
  local zone=$1 name=$2 type=$3 content=$4 comments=""
  [ -n "${5:-}" ] && comments=", \"comments\": [{\"content\": \"$5\", \"account\": \"tenantd\"}]"
  pdns PATCH "/zones/$zone." "{\"rrsets\": [{\"name\": \"$name.\",
    \"type\": \"$type\", \"ttl\": 300, \"changetype\": \"REPLACE\",
    \"records\": [{\"content\": \"$content\", \"disabled\": false}]$comments}]}"
}
zones=(pycom.io pycom.awsprivate murata.example greenwood-high.example)
for z in "${zones[@]}"; do
  pdns POST /zones "{\"name\": \"$z.\", \"kind\": \"Native\",
    \"nameservers\": [\"ns1.$z.\"]}" >/dev/null
  eq "zone $z created" "$code" 201
done

# ask NAME [TYPE]: what the server answers, one line.
ask() {
  dig @127.0.0.1 -p "$dns_port" "$1" "${2:-A}" +short +time=2 +tries=1 |
    tr '\n' ' ' | sed 's/ $//'
}
# json_get FILE EXPR: a value from a JSON file, by a Python expression on d.
json_get() {
  "$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}
# comment_of ZONE NAME TYPE: the content of the rrset's first comment.
comment_of() {
  pdns GET "/zones/$1." >"$tmp/zone.json"
  "$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))
for r in d["rrsets"]:
    if r["name"] == sys.argv[2] + "." and r["type"] == sys.argv[3]:
        print(r["comments"][0]["content"] if r["comments"] else "-")' \
    "$tmp/zone.json" "$2" "$3"
}

# ---- tenantd's world ----

M=$tmp/repo
cp -r "$example" "$M"
sed -i 's/dns_record: local/dns_record: pdns/' "$M/platform.yaml"
cfg=$tmp/tenantd.yaml
# The window is long enough for every record of the first apply, whose
# routes finish over a few ms, to share its zone's PATCH.
cat >"$cfg" <<EOF
source: {url: file://$tmp/unused.git, branch: main}
providers:
  local: {type: local, stateDir: $tmp/state}
  pdns: {type: powerdns, url: "http://127.0.0.1:$http_port",
         apiKeyEnv: PDNS_API_KEY, batchWindowMs: 100}
EOF
logs=$tmp/logs # every output of tenantd, searched for the key at the end
mkdir -p "$logs"
n_apply=0

# apply EXTRA...: one pass; output in $tmp/out (also kept), exit in $rc,
# the PATCH lines PowerDNS logged meanwhile in $tmp/patches.
apply() {
  local before
  before=$(grep -c '"PATCH ' "$pd/log")
  n_apply=$((n_apply + 1))
  "$bin" apply --once --concurrency 16 --config "$cfg" \
    --status-dir "$tmp/status" "$@" "$M" >"$tmp/out" 2>&1
  rc=$?
  cp "$tmp/out" "$logs/apply$n_apply.out"
  grep '"PATCH ' "$pd/log" | tail -n +$((before + 1)) >"$tmp/patches"
}
# patches ZONE [CODE]: how many PATCHes of ZONE the last apply made.
patches() {
  grep -c "zones/$1\. HTTP/1.1\" ${2:-}" "$tmp/patches"
}

pub=(api.staging.mwc-murata.pycom.io web.staging.mwc-murata.pycom.io
  api.staging.mwc-sequans.pycom.io portal.production.greenwood-high.pycom.io
  portal.staging.greenwood-high.pycom.io)
aliases=(api.mwc.murata.example portal.greenwood-high.example)
priv=(api.staging.mwc-murata api.staging.mwc-sequans)
service_ip() {
  json_get "$tmp/state/service/$1.json" 'd["outputs"]["ip"]'
}

# ---- first apply: everything, one PATCH per zone ----

apply
eq "first apply exits 0" "$rc" 0
expect_out "first apply summary" '^3 tenants: 29 changed, 0 failed'
for n in "${pub[@]}" "${aliases[@]}"; do
  eq "$n answers" "$(ask "$n" CNAME)" "lb.pycom.io."
done
for s in "${priv[@]}"; do
  eq "$s.pycom.awsprivate answers" "$(ask "$s.pycom.awsprivate")" \
    "$(service_ip "$s")"
done
for z in "${zones[@]}"; do
  eq "one PATCH to $z" "$(patches "$z")" 1
done
eq "the marker is the rrset's comment" \
  "$(comment_of pycom.io api.staging.mwc-murata.pycom.io CNAME)" \
  "managed-by=tenantd tenant=mwc-murata id=dns_record/api.staging.mwc-murata.public"

apply
eq "second apply exits 0" "$rc" 0
expect_out "second apply changes nothing" '^3 tenants: 0 changed, 0 failed'
eq "second apply sends no PATCH" "$(wc -l <"$tmp/patches")" 0

# ---- drift through the API ----

rrset pycom.io api.staging.mwc-sequans.pycom.io CNAME elsewhere.example. \
  >/dev/null
eq "drift: content changed" "$code" 204
pdns PATCH /zones/pycom.io. '{"rrsets": [{"name":
  "web.staging.mwc-murata.pycom.io.", "type": "CNAME",
  "changetype": "DELETE"}]}' >/dev/null
eq "drift: record deleted" "$code" 204
pdns PATCH /zones/pycom.awsprivate. '{"rrsets": [{"name":
  "api.staging.mwc-sequans.pycom.awsprivate.", "type": "A", "ttl": 60,
  "changetype": "REPLACE", "records": [{"content": "192.0.2.99",
  "disabled": false}]}]}' >/dev/null
eq "drift: address and ttl changed" "$code" 204
eq "drift visible" "$(ask api.staging.mwc-sequans.pycom.io CNAME)" \
  "elsewhere.example."
"$bin" plan --detailed-exitcode --config "$cfg" --status-dir "$tmp/status" \
  "$M" >"$tmp/out" 2>&1
eq "plan sees the drift" "$?" 2
cp "$tmp/out" "$logs/plan.out"
expect_out "changed content is drift" \
  'dns_record/api.staging.mwc-sequans.public +\(drift\)'
expect_out "changed address is drift" \
  'dns_record/api.staging.mwc-sequans.private +\(drift\)'
expect_out "deleted record is drift" \
  'dns_record/web.staging.mwc-murata.public +\(drift\)'
expect_out "observed target normalised" 'target: elsewhere.example -> lb.pycom.io$'
expect_out "observed ttl" 'ttl: 60 -> 300$'
apply
eq "drift apply exits 0" "$rc" 0
expect_out "three corrected" '^3 tenants: 3 changed, 0 failed'
eq "content corrected" "$(ask api.staging.mwc-sequans.pycom.io CNAME)" \
  "lb.pycom.io."
eq "deleted record back" "$(ask web.staging.mwc-murata.pycom.io CNAME)" \
  "lb.pycom.io."
eq "address corrected" "$(ask api.staging.mwc-sequans.pycom.awsprivate)" \
  "$(service_ip api.staging.mwc-sequans)"
dig @127.0.0.1 -p "$dns_port" api.staging.mwc-sequans.pycom.awsprivate A \
  +noall +answer >"$tmp/dig"
expect_out "ttl corrected" '[[:space:]]300[[:space:]]+IN[[:space:]]+A' \
  "$tmp/dig"
eq "one PATCH per drifted zone" \
  "$(patches pycom.io)/$(patches pycom.awsprivate)" "1/1"

# ---- the ingress becomes an address: CNAME -> A in place, and back ----

sed -i 's/public: lb.pycom.io /public: 203.0.113.10 /' "$M/platform.yaml"
apply
eq "ingress address apply exits 0" "$rc" 0
expect_out "seven records updated" '^3 tenants: 7 changed, 0 failed'
for n in "${pub[@]}" "${aliases[@]}"; do
  eq "$n is an A record" "$(ask "$n" A)" "203.0.113.10"
  eq "$n has no CNAME left" "$(ask "$n" CNAME)" ""
done
eq "switch: one PATCH per zone" "$(patches pycom.io)/$(patches \
  murata.example)/$(patches greenwood-high.example)" "1/1/1"
eq "switch: the A carries the marker" \
  "$(comment_of murata.example api.mwc.murata.example A)" \
  "managed-by=tenantd tenant=mwc-murata id=dns_record/api.staging.mwc-murata.alias.api.mwc.murata.example"
sed -i 's/public: 203.0.113.10 /public: lb.pycom.io /' "$M/platform.yaml"
apply
eq "back to CNAME exits 0" "$rc" 0
for n in "${pub[@]}" "${aliases[@]}"; do
  eq "$n is a CNAME again" "$(ask "$n" CNAME)" "lb.pycom.io."
done
apply
expect_out "settled after the switches" '^3 tenants: 0 changed, 0 failed'

# ---- hand-made rrsets are conflicts, left untouched ----

tenant=$M/tenants/mwc-murata.yaml
cp "$tenant" "$tmp/murata.orig"
rrset murata.example www.murata.example CNAME hand.example. >/dev/null
rrset murata.example shop.murata.example A 192.0.2.7 >/dev/null
rrset pycom.io keep.pycom.io CNAME hand.example. >/dev/null
sed -i 's/aliases: \[api.mwc.murata.example\]/aliases: [api.mwc.murata.example, www.murata.example, shop.murata.example]/' \
  "$tenant"
apply
eq "conflicts fail the apply" "$rc" 1
expect_out "same type: conflict" \
  '^conflict dns_record/api.staging.mwc-murata.alias.www.murata.example: exists without'
expect_out "A where a CNAME goes: conflict" \
  '^conflict dns_record/api.staging.mwc-murata.alias.shop.murata.example: exists without'
eq "hand-made CNAME untouched" "$(ask www.murata.example CNAME)" \
  "hand.example."
eq "hand-made A untouched" "$(ask shop.murata.example A)" "192.0.2.7"
eq "still unmarked" "$(comment_of murata.example www.murata.example CNAME)" "-"
eq "no PATCH for conflicts" "$(patches murata.example)" 0

# ---- a batch PowerDNS refuses is retried one by one ----

# The write checks a copy of the zone read moments before; an A record made
# by hand in between, where the CNAME goes, makes PowerDNS refuse the
# batch (422).  Slow local
# writes open the window: the routes take 400 ms after the zone's GET.
cp "$tmp/murata.orig" "$tenant"
sed -i 's/aliases: \[api.mwc.murata.example\]/aliases: [api.mwc.murata.example, race.murata.example, ok.murata.example]/' \
  "$tenant"
sed -i "s|stateDir: $tmp/state}|stateDir: $tmp/state, latencyMs: 400}|" "$cfg"
before=$(grep -c 'GET /api/v1/servers/localhost/zones/murata.example.' \
  "$pd/log")
apply &
apply_pid=$!
got_get() {
  [ "$(grep -c 'GET /api/v1/servers/localhost/zones/murata.example.' \
    "$pd/log")" -gt "$before" ]
}
wait_for 10 got_get || bad "race: the zone was never read"
rrset murata.example race.murata.example A 192.0.2.8 >/dev/null
wait "$apply_pid"
sed -i "s|, latencyMs: 400}|}|" "$cfg"
n_apply=$((n_apply + 1))
cp "$tmp/out" "$logs/race.out"
# The PATCH lines of the background apply.
grep '"PATCH ' "$pd/log" | grep 'murata.example' | tail -3 >"$tmp/patches"
eq "race: the batch, then one PATCH each" \
  "$(patches murata.example 422)/$(patches murata.example 204)" "2/1"
expect_out "race: the refused record fails alone" \
  'dns_record/api.staging.mwc-murata.alias.race.murata.example.*(conflict|Conflicts)'
expect_out "race: its neighbour is created" \
  'create +dns_record/api.staging.mwc-murata.alias.ok.murata.example done'
eq "race: neighbour answers" "$(ask ok.murata.example CNAME)" "lb.pycom.io."
eq "race: hand-made record kept" "$(ask race.murata.example A)" "192.0.2.8"

# ---- a name in no zone of the server ----

cp "$tmp/murata.orig" "$tenant"
sed -i 's/aliases: \[api.mwc.murata.example\]/aliases: [api.mwc.murata.example, api.nozone.example]/' \
  "$tenant"
apply
eq "no zone: apply fails" "$rc" 1
expect_out "no zone: invalid, naming the record" \
  'invalid: powerdns: no zone on the PowerDNS server holds api.nozone.example'
eq "no zone: the prune of ok.murata.example waits" \
  "$(ask ok.murata.example CNAME)" "lb.pycom.io."

# ---- prune: only tenantd's own records go ----

cp "$tmp/murata.orig" "$tenant"
"$py" - "$tenant" <<'EOF'
import re, sys
p = sys.argv[1]
s = open(p).read()
# Drops the app "web" (the last one of the file).
s = s[:s.index("        - name: web")]
open(p, "w").write(s)
EOF
apply
expect_out "prune needs the override" 'refus'
eq "refused: nothing deleted" "$(ask web.staging.mwc-murata.pycom.io CNAME)" \
  "lb.pycom.io."
apply --allow-delete 4
eq "prune exits 0" "$rc" 0
expect_out "prune deletes the record" \
  'delete +dns_record/web.staging.mwc-murata.public done'
eq "pruned record gone" "$(ask web.staging.mwc-murata.pycom.io CNAME)" ""
eq "alias pruned" "$(ask ok.murata.example CNAME)" ""
eq "unmarked neighbour kept" "$(ask keep.pycom.io CNAME)" "hand.example."
eq "hand-made alias kept" "$(ask www.murata.example CNAME)" "hand.example."
eq "other tenant's record kept" \
  "$(ask api.staging.mwc-sequans.pycom.io CNAME)" "lb.pycom.io."
eq "same tenant's other record kept" \
  "$(ask api.staging.mwc-murata.pycom.io CNAME)" "lb.pycom.io."
eq "prune: one PATCH per zone" \
  "$(patches pycom.io)/$(patches murata.example)" "1/1"

# ---- the server down: transient, nothing deleted; back: converges ----

ls "$tmp/state"/*/ >"$tmp/state.before"
pdns_stop
cp "$example/tenants/mwc-murata.yaml" "$tenant" # web is back
apply
eq "server down: apply fails" "$rc" 1
expect_out "server down: transient" 'transient: powerdns: .*(refused|connect)'
expect_no_out "server down: nothing deleted" '^\[.*\] delete'
ls "$tmp/state"/*/ >"$tmp/state.after"
check "server down: local state untouched" \
  cmp -s "$tmp/state.before" "$tmp/state.after"
pdns_start || bad "pdns restarts"
eq "after restart: records all there" \
  "$(ask api.staging.mwc-murata.pycom.io CNAME)" "lb.pycom.io."
apply
eq "after restart: converges" "$rc" 0
eq "after restart: web back" "$(ask web.staging.mwc-murata.pycom.io CNAME)" \
  "lb.pycom.io."
apply
expect_out "after restart: settled" '^3 tenants: 0 changed, 0 failed'

# ---- configuration and credentials ----

cp "$cfg" "$tmp/good.yaml"
sed -i 's/batchWindowMs: 100}/batchWindowMs: 100, bogus: 1}/' "$cfg"
apply
eq "unknown option refused" "$rc" 1
expect_out "unknown option named" "powerdns: unknown option 'bogus'"
cp "$tmp/good.yaml" "$cfg"
sed -i 's/apiKeyEnv: PDNS_API_KEY/apiKeyEnv: TD_TEST_NO_SUCH_KEY/' "$cfg"
apply
eq "missing key refused" "$rc" 1
expect_out "missing key named" 'TD_TEST_NO_SUCH_KEY \(apiKeyEnv\) is not set'
sed -i 's/apiKeyEnv: TD_TEST_NO_SUCH_KEY/apiKeyEnv: TD_TEST_WRONG_KEY/' "$cfg"
TD_TEST_WRONG_KEY="wrong-$key" apply
eq "wrong key fails" "$rc" 1
expect_out "wrong key is auth" 'auth: powerdns: .*HTTP 401'
cp "$tmp/good.yaml" "$cfg"

# ---- many writes to one zone, re-read before each PATCH ----

# zoneCacheMs: 1 makes every read and every PATCH GET the zone again, so
# zone GETs and PATCHes interleave all through the pass.  The provider
# gets every write that is ready at once; slow local writes make the
# records ready a few at a time (each waits for its route), so the first
# pass writes the zone many times over.  A GET is never
# sent while a PATCH of its zone is in flight (a stale body would hide
# the instance's own writes); a pass reads everything before it writes,
# so that race cannot be timed from here: what is checked is that every
# write lands and the next pass finds nothing to do.
L=$tmp/load
mkdir -p "$L/tenants"
cp "$M/platform.yaml" "$M/tiers.yaml" "$L/"
nload=40
for i in $(seq 1 $nload); do
  cat >"$L/tenants/load-$i.yaml" <<EOF
apiVersion: tenantd.io/v1
kind: Tenant
metadata:
  name: load-$i
spec:
  displayName: Load $i
  tier: basic
  owner: ops@load.example
  environments:
    - name: staging
      network:
        cidr: 10.$((100 + i)).0.0/16
      apps:
        - name: api
          image: registry.pycom.io/pybytes/api:2.4.1
          port: 8080
          dns:
            public: true
EOF
done
lcfg=$tmp/load.yaml
cat >"$lcfg" <<EOF
source: {url: file://$tmp/unused.git, branch: main}
providers:
  local: {type: local, stateDir: $tmp/state-load, latencyMs: 20}
  pdns: {type: powerdns, url: "http://127.0.0.1:$http_port",
         apiKeyEnv: PDNS_API_KEY, batchWindowMs: 0, zoneCacheMs: 1}
EOF
# load_apply: apply on the load repo; $tmp/out, $rc, and the requests to
# pycom.io PowerDNS logged meanwhile in $tmp/load.req.
load_apply() {
  local before
  before=$(wc -l <"$pd/log")
  n_apply=$((n_apply + 1))
  "$bin" apply --once --concurrency 16 --config "$lcfg" \
    --status-dir "$tmp/status-load" "$L" >"$tmp/out" 2>&1
  rc=$?
  cp "$tmp/out" "$logs/apply$n_apply.out"
  tail -n +$((before + 1)) "$pd/log" | grep 'zones/pycom.io\. ' >"$tmp/load.req"
}
load_apply
eq "load: create exits 0" "$rc" 0
expect_out "load: every tenant created" "^$nload tenants: $((nload * 4)) changed, 0 failed"
n_get=$(grep -c '"GET ' "$tmp/load.req")
n_patch=$(grep -c '"PATCH .* 204 ' "$tmp/load.req")
check "load: several PATCHes ($n_patch)" test "$n_patch" -gt 1
check "load: a GET of the zone before each PATCH ($n_get GETs)" \
  test "$n_get" -gt "$n_patch"
sed -i 's/public: lb.pycom.io /public: 203.0.113.20 /' "$L/platform.yaml"
load_apply
eq "load: update exits 0" "$rc" 0
expect_out "load: every record updated" "^$nload tenants: $nload changed, 0 failed"
eq "load: every update in one PATCH" "$(grep -c '"PATCH .* 204 ' "$tmp/load.req")" 1
wrong=0
for i in $(seq 1 $nload); do
  got=$(ask "api.staging.load-$i.pycom.io" A)
  [ "$got" = 203.0.113.20 ] || {
    wrong=$((wrong + 1))
    echo "    api.staging.load-$i.pycom.io: '$got'"
  }
done
eq "load: every record has its new value" "$wrong" 0
load_apply
eq "load: settled exits 0" "$rc" 0
expect_out "load: second apply changes nothing" "^$nload tenants: 0 changed, 0 failed"
eq "load: second apply sends no PATCH" "$(grep -c '"PATCH ' "$tmp/load.req")" 0
sed -i 's/zoneCacheMs: 1}/zoneCacheMs: 0}/' "$lcfg"
load_apply
eq "zoneCacheMs 0 refused" "$rc" 1
expect_out "zoneCacheMs range named" 'zoneCacheMs must be an integer between 1'

if grep -rqE 'AddressSanitizer|LeakSanitizer|runtime error:' "$logs"; then
  bad "a sanitizer reported"
  grep -rhE -A3 'AddressSanitizer|LeakSanitizer|runtime error:' "$logs" |
    head -20 | sed 's/^/    /'
else ok; fi
cp -r "$tmp/status" "$tmp/state" "$logs/"
if grep -rqF -- "$key" "$logs"; then
  bad "the API key shows in tenantd's output, status or state"
  grep -rlF -- "$key" "$logs" | sed 's/^/    /'
else ok; fi

summary "providers/powerdns"
