#!/usr/bin/env bash
# End to end: the management API of `tenantd run` on loopback, against a
# real bare Git remote and the local provider.  A tenant created through
# the API is exactly one commit authored by the token's name and gets
# reconciled; an invalid one is 422 with positions and writes nothing; a
# PATCH keeps the file's comments byte for byte; `tenantd suspend` is a
# commit and the tenant shows Suspended; a read token cannot write; writes
# are logged with the token's name, never the token; hostile names are
# 400; changes asked at once are all kept; branch mode leaves main alone.
# (The race of a push between the read and the push is replayed
# deterministically by the unit suite manifestwrite.)
# Usage: tests/mgmt/run.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
cleanup_on_exit
expect_timeout=60

alice=alice-token-for-tests # write
ops=ops-token-for-tests     # operate
bob=bob-token-for-tests     # read
export TENANTD_API_TOKEN=api-token-for-tests
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# ---- one daemon's world ----

# fresh NAME: a bare remote with the example manifests, a clone, tokens.
fresh() {
  d=$tmp/$1
  example_remote "$d"
  cat >"$d/tokens.yaml" <<EOF
# who may do what (digests only)
- {name: alice, role: write, sha256: $(sha $alice), email: alice@example.com}
- {name: ops, role: operate, sha256: $(sha $ops)}
- {name: bob, role: read, sha256: $(sha $bob)}
EOF
}

# config [MODE]: a config for $d; api.mode MODE (direct).
config() {
  cat >"$d/tenantd.yaml" <<EOF
source: {url: file://$R, branch: main, interval: 1h}
cacheDir: $d/cache
status: {branch: tenantd/status, push: true}
reconcile: {resync: 1h, concurrency: 8, backoff: {base: 1s, max: 4s}}
http: {listen: "127.0.0.1:0", tokensFile: tokens.yaml,
       apiTokenEnv: TENANTD_API_TOKEN}
api: {mode: ${1:-direct}}
log: {format: logfmt}
providers:
  local: {type: local, stateDir: $d/state}
EOF
}

start() {
  : >"$d/log"
  "$bin" run --config "$d/tenantd.yaml" 2>>"$d/log" &
  pid=$!
  track_pid "$pid"
  local port
  port=$(started_port "$d/log" "$pid")
  url=http://127.0.0.1:$port
  if [ -n "$port" ] && wait_for 30 curl -sf "$url/readyz"; then ok; else
    bad_log "$1: not ready" "$d/log"
  fi
}
stop() {
  kill -TERM "$pid"
  wait "$pid"
  rc=$?
  forget_pid "$pid"
}
rgit() { git --git-dir "$R" "$@"; }
main_tip() { rgit rev-parse main; }
commits() { rgit rev-list --count main; }
# api METHOD PATH TOKEN [CURL-ARGS...]: the answer in $tmp/body, the
# status on stdout.
api() {
  local method=$1 path=$2 token=$3 auth=()
  shift 3
  [ -z "$token" ] || auth=(-H "Authorization: Bearer $token")
  curl -s --path-as-is -o "$tmp/body" -w '%{http_code}' --max-time 30 \
    -X "$method" "${auth[@]}" "$@" "$url$path"
}
# field KEY...: a value of the last answer, by keys and list indexes.
field() {
  python3 - "$tmp/body" "$@" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)
PY
}
# row TENANT: its state, as GET /api/v1/tenants/TENANT's row says.
state_of() {
  curl -s -H "Authorization: Bearer $bob" "$url/api/v1/tenants" |
    python3 -c 'import json,sys; print(next((r["state"] for r in json.load(sys.stdin) if r["tenant"] == sys.argv[1]), "none"))' "$1"
}
is_state() { [ "$(state_of "$1")" = "$2" ]; }
# pass_of COMMIT: the status branch applied it.
applied() {
  rgit log --format=%B tenantd/status 2>/dev/null | grep -q "^Tenantd-Source: $1"
}

# ==== create, invalid, patch, suspend, tokens ====

fresh direct
config
start direct

newco='# NewCo, signed 2026-12 (keep this comment)
apiVersion: tenantd.io/v1
kind: Tenant
metadata:
  name: newco          # = the file name
spec:
  tier: basic          # upgrade after the pilot

  environments:
    - name: prod
      network: {cidr: 10.80.0.0/16}
      apps:
        - name: web    # the shop
          image: registry.example/web:1.0
          port: 8080
'
printf '%s' "$newco" >"$tmp/newco.yaml"

# A valid tenant: one commit on main, by alice, and reconciled.
before=$(commits)
base=$(main_tip)
eq "create: 202" "$(api POST /api/v1/tenants $alice -H 'Content-Type: application/yaml' --data-binary @"$tmp/newco.yaml")" 202
commit=$(field commit)
request=$(field request)
eq "create: answers the commit on main" "$commit" "$(main_tip)"
eq "create: exactly one commit" "$(commits)" $((before + 1))
eq "create: on the tip it read" "$(rgit rev-parse "$commit^")" "$base"
eq "create: git log shows who asked" "$(rgit log -1 --format='%an <%ae>' main)" \
  "alice <alice@example.com>"
eq "create: committed by tenantd" "$(rgit log -1 --format=%cn main)" tenantd
eq "create: the request's trailer" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Request,valueonly)' main | sed '/^$/d')" \
  "$request"
eq "create: the document as sent, byte for byte" \
  "$(rgit show main:tenants/newco.yaml | sha256sum)" "$(sha256sum <"$tmp/newco.yaml")"
eq "create: the plan of that tenant" "$(field plan tenants 0 tenant)" newco
eq "create: what it will create" "$(field plan summary create)" 2
if wait_for 20 applied "$commit"; then ok; else bad "create: not reconciled"; fi
if wait_for 10 is_state newco Ready; then ok; else bad "create: not Ready ($(state_of newco))"; fi
check "create: its network exists" test -f "$d/state/network/newco-prod.json"
expect_out "create: logged with the token's name" \
  "msg=\"api write done\" token=alice tenant=newco request=$request result=committed commit=$commit" "$d/log"

# The same again: 409, nothing written.
tip=$(main_tip)
eq "create again: 409" "$(api POST /api/v1/tenants $alice --data-binary @"$tmp/newco.yaml")" 409
eq "create again: nothing written" "$(main_tip)" "$tip"

# Invalid: 422 with the positions validate gives, nothing written.
sed 's/tier: basic /tier: platinum/; s/newco/badco/; s/10.80.0.0/10.20.0.0/' \
  "$tmp/newco.yaml" >"$tmp/badco.yaml"
eq "invalid: 422" "$(api POST /api/v1/tenants $alice --data-binary @"$tmp/badco.yaml")" 422
eq "invalid: nothing written" "$(main_tip)" "$tip"
eq "invalid: no branch either" "$(rgit for-each-ref refs/heads | wc -l)" 2
python3 -c 'import json,sys; [print("%s:%d:%d: error: %s" % (e["file"], e["line"], e["column"], e["message"])) for e in json.load(open(sys.argv[1]))["errors"]]' \
  "$tmp/body" >"$tmp/api-errors"
rm -rf "$tmp/would-be"
git clone -q "$R" "$tmp/would-be"
cp "$tmp/badco.yaml" "$tmp/would-be/tenants/"
"$bin" validate "$tmp/would-be" 2>"$tmp/validate-errors" >/dev/null
eq "invalid: the messages and positions of validate" \
  "$(cat "$tmp/api-errors")" "$(cat "$tmp/validate-errors")"
expect_out "invalid: the tier, at its place" \
  "^tenants/badco.yaml:7:9: error: unknown tier 'platinum'" "$tmp/api-errors"
expect_out "invalid: the overlap, at both places" \
  "^tenants/mwc-murata.yaml:[0-9]+:[0-9]+: error: network 10.20.0.0/16 .* 'badco'" "$tmp/api-errors"

# JSON is written as YAML.
json='{"apiVersion": "tenantd.io/v1", "kind": "Tenant", "metadata": {"name": "jsonco"},
 "spec": {"tier": "basic", "environments": [{"name": "prod", "network": {"cidr": "10.81.0.0/16"}}]}}'
eq "json: 202" "$(api POST /api/v1/tenants $alice -H 'Content-Type: application/json' --data "$json")" 202
rgit show main:tenants/jsonco.yaml >"$tmp/out"
expect_out "json: written as YAML" '^    - name: prod$'

# PATCH: the changed value and nothing else, comments byte for byte.
eq "patch: 202" "$(api PATCH /api/v1/tenants/newco $alice --data '{"tier": "premium"}')" 202
sed 's/tier: basic/tier: premium/' "$tmp/newco.yaml" >"$tmp/want"
eq "patch: every other byte kept" "$(rgit show main:tenants/newco.yaml | sha256sum)" \
  "$(sha256sum <"$tmp/want")"
eq "patch: the subject says what" "$(rgit log -1 --format=%s main)" "api: newco: tier premium"
eq "patch: the same again is 200" "$(api PATCH /api/v1/tenants/newco $alice --data '{"tier": "premium"}')" 200
eq "patch: unchanged" "$(field status)" unchanged
eq "patch: a value the manifest refuses is 422" \
  "$(api PATCH /api/v1/tenants/newco $alice --data '{"apps": {"prod/web": {"replicas": -1}}}')" 422
expect_out "patch: with the edited document's position" '"file":"tenants/newco.yaml","line":16' "$tmp/body"
eq "patch: an app that is not there is 422" \
  "$(api PATCH /api/v1/tenants/newco $alice --data '{"apps": {"prod/api": {"replicas": 2}}}')" 422
eq "patch: an unknown field is 400" "$(api PATCH /api/v1/tenants/newco $alice --data '{"owner": "x"}')" 400
eq "patch: not JSON is 400" "$(api PATCH /api/v1/tenants/newco $alice --data 'tier: premium')" 400
eq "patch: an unknown tenant is 404" "$(api PATCH /api/v1/tenants/nobody $alice --data '{"suspend": true}')" 404

# Tokens: read cannot write, operate can reconcile only, none is 401.
tip=$(main_tip)
eq "tokens: read cannot write (403)" "$(api PATCH /api/v1/tenants/newco $bob --data '{"suspend": true}')" 403
expect_out "tokens: and is told why" "token 'bob' has the read role; this needs write" "$tmp/body"
eq "tokens: read reads" "$(api GET /api/v1/tenants $bob)" 200
eq "tokens: operate cannot write (403)" "$(api DELETE /api/v1/tenants/newco $ops)" 403
eq "tokens: operate reconciles" "$(api POST '/api/v1/reconcile?tenant=newco' $ops)" 202
eq "tokens: no token is 401" "$(api POST /api/v1/tenants '' --data-binary @"$tmp/newco.yaml")" 401
eq "tokens: a wrong token is 401" "$(api POST /api/v1/tenants nope --data-binary @"$tmp/newco.yaml")" 401
eq "tokens: reads need a token with a tokens file" "$(api GET /metrics '')" 401
eq "tokens: nothing written" "$(main_tip)" "$tip"
expect_out "tokens: a refusal is logged with the name" \
  'msg="api request refused" token=bob role=read needs=write' "$d/log"

# Hostile names: 400, nothing written.
long=$(printf 'a%.0s' $(seq 64))
for name in '../x' '..' '%00' 'a%00b' "$long" 'Acme' 'a/b' '-a' ''; do
  eq "hostile: '$name' is 400" \
    "$(api PATCH "/api/v1/tenants/$name" $alice --data '{"suspend": true}')" 400
done
eq "hostile: the query too" "$(api GET '/api/v1/reconcile?tenant=../x' $bob)" 400
eq "hostile: nothing written" "$(main_tip)" "$tip"

# suspend through the CLI: a commit, and the tenant Suspended.
export TENANTD_TOKEN=$alice
expect_rc "suspend: exits 0" 0 "$bin" suspend mwc-sequans --server "$url"
expect_out "suspend: says the commit" '^mwc-sequans: suspended by commit [0-9a-f]{12} on main'
eq "suspend: a commit on main" "$(rgit log -1 --format='%an: %s' main)" "alice: api: suspend mwc-sequans"
rgit show main -- tenants/mwc-sequans.yaml | grep '^[-+] ' >"$tmp/out"
eq "suspend: one line added" "$(cat "$tmp/out")" "+  suspend: true"
expect_rc "reconcile --wait: exits 0" 0 "$bin" reconcile mwc-sequans --wait --server "$url"
expect_out "reconcile --wait: prints the state" '^mwc-sequans: Suspended: '
expect_rc "status: from the status branch" 0 "$bin" status --repo "file://$R" \
  --cache-dir "$d/viewcache" mwc-sequans
expect_out "status: Suspended" '^mwc-sequans +Suspended '
expect_rc "suspend again: exits 0" 0 "$bin" suspend mwc-sequans --server "$url"
expect_out "suspend again: nothing committed" 'already suspended; nothing committed'
expect_rc "resume: exits 0" 0 "$bin" resume mwc-sequans --server "$url"
expect_rc "resume: reconciled Ready" 0 "$bin" reconcile mwc-sequans --wait --server "$url"
expect_out "resume: Ready" '^mwc-sequans: Ready: '
TENANTD_TOKEN=$bob expect_rc "suspend: with a read token exits 1" 1 "$bin" suspend mwc-sequans --server "$url"
expect_out "suspend: and says why" 'read role; this needs write \(HTTP 403\)' "$tmp/err"
expect_rc "reconcile: a bad name" 1 "$bin" reconcile ../x --server "$url"
expect_rc "reconcile: no daemon" 1 "$bin" reconcile mwc-sequans --server http://127.0.0.1:1
expect_out "reconcile: says so" 'cannot reach the daemon' "$tmp/err"
unset TENANTD_TOKEN

# Changes asked at once: each its own commit, none lost.
before=$(commits)
curls=()
for i in 1 2 3 4; do
  curl -s -o "$tmp/par$i" -w '%{http_code}\n' -X PATCH -H "Authorization: Bearer $alice" \
    --data "{\"apps\": {\"staging/api\": {\"replicas\": $i}}, \"tier\": \"premium\"}" \
    "$url/api/v1/tenants/mwc-murata" >"$tmp/code$i" &
  curls+=($!)
done
curl -s -o "$tmp/par5" -w '%{http_code}\n' -X PATCH -H "Authorization: Bearer $alice" \
  --data '{"apps": {"prod/web": {"image": "registry.example/web:1.1"}}}' \
  "$url/api/v1/tenants/newco" >"$tmp/code5" &
curls+=($!)
wait "${curls[@]}"
eq "at once: every change committed" "$(cat "$tmp"/code? | sort -u)" 202
eq "at once: one commit each" "$(commits)" $((before + 5))
rgit show main:tenants/newco.yaml >"$tmp/out"
expect_out "at once: the other tenant's change is there" 'image: registry.example/web:1.1$'
rgit show main:tenants/mwc-murata.yaml >"$tmp/out"
expect_out "at once: the last replicas won" '^          replicas: [1-4]$'
expect_out "at once: with the tier" '^  tier: premium$'

# DELETE: the file goes, and the pass removes the tenant.
eq "delete: 202" "$(api DELETE /api/v1/tenants/jsonco $alice)" 202
eq "delete: the file is gone" "$(rgit ls-tree --name-only main tenants/ | grep -c jsonco)" 0
gone() { [ "$(api GET /api/v1/tenants/jsonco $bob)" = 404 ]; }
if wait_for 20 gone; then ok; else bad "delete: tenant not removed"; fi

# Metrics, and no token ever in the log.
curl -s -H "Authorization: Bearer $bob" "$url/metrics" >"$tmp/out"
expect_out "metrics: writes counted" '^tenantd_api_writes_total\{result="committed"\} ([89]|[1-9][0-9])$'
expect_no_out "log: no token" "$alice|$ops|$bob|$TENANTD_API_TOKEN" "$d/log"
# The environment's token is a writer named "api".
eq "api token: writes" "$(api PATCH /api/v1/tenants/newco "$TENANTD_API_TOKEN" --data '{"suspend": true}')" 202
eq "api token: as 'api'" "$(rgit log -1 --format=%an main)" api
stop
eq "direct: SIGTERM exits 0" "$rc" 0

# ==== api.mode: branch ====

fresh branch
config branch
start branch
tip=$(main_tip)
eq "branch: 202" "$(api PATCH /api/v1/tenants/mwc-murata $alice --data '{"suspend": true}')" 202
branch=$(field branch)
expect_out "branch: named for the tenant and the request" \
  "^tenantd/api/mwc-murata-$(field request)\$" <(echo "$branch")
eq "branch: main left alone" "$(main_tip)" "$tip"
eq "branch: the commit is the branch's" "$(rgit rev-parse "refs/heads/$branch")" "$(field commit)"
eq "branch: on main's tip" "$(rgit rev-parse "$(field commit)^")" "$tip"
rgit show "$branch:tenants/mwc-murata.yaml" >"$tmp/out"
expect_out "branch: with the change" '^  suspend: true$'
eq "branch: the mode in the answer" "$(field mode)" branch
sleep 1
is_state mwc-murata Ready && ok || bad "branch: nothing applied from the branch"
stop
eq "branch: SIGTERM exits 0" "$rc" 0

# ==== a write's plan and the passes take turns on the providers ====

# events FROM: the passes and the write after the log line FROM, one
# letter each: pass Started and Done, write Requested, Committed,
# Planning, and done (Written).
events() {
  awk -v from="$1" '
    index($0, from) { on = 1; next }
    !on { next }
    /msg="pass started"/ { printf "S" }
    /msg="pass done"/ || /msg="pass failed"/ { printf "D" }
    /msg="api write requested"/ { printf "R" }
    /msg="api write committed"/ { printf "C" }
    /msg="api write planning"/ { printf "P" }
    /msg="api write done"/ { printf "W" }
  ' "$d/log"
}
seen() { events 'msg="reconcile requested"' | grep -q "$1"; }

fresh turns
config
sed -i "s|stateDir: $d/state}|stateDir: $d/state, latencyMs: 400}|" "$d/tenantd.yaml"
TENANTD_LOG_LEVEL=debug start turns
eq "turns: a pass of everyone" "$(api POST /api/v1/reconcile $ops)" 202
if wait_for 10 seen S; then ok; else bad "turns: no pass"; fi
eq "turns: a write while it runs" \
  "$(api PATCH /api/v1/tenants/mwc-sequans $alice --data '{"tier": "standard"}')" 202
expect_out "turns: the plan is in the answer" '"plan":\{' "$tmp/body"
if wait_for 10 seen WS; then ok; else bad "turns: no pass after the write"; fi
# Committed during the pass; planned after it; the tenant's pass after
# the answer.  The daemon is ready before its first pass ends (the
# resync is paced), so that pass may end after the request: its D goes.
eq "turns: the plan waits for the pass, the next pass for the plan" \
  "$(events 'msg="reconcile requested"' | sed 's/^D*//' | cut -c1-7)" SRCDPWS
stop
eq "turns: SIGTERM exits 0" "$rc" 0

# ==== SIGTERM with a write in flight: it ends, is answered, then exit ====

fresh term
config
sed -i "s|stateDir: $d/state}|stateDir: $d/state, latencyMs: 400}|" "$d/tenantd.yaml"
start term
curl -s -o "$tmp/term-body" -w '%{http_code}' --max-time 30 -X PATCH \
  -H "Authorization: Bearer $alice" --data '{"tier": "premium"}' \
  "$url/api/v1/tenants/mwc-murata" >"$tmp/term-code" &
writer=$!
if wait_for 10 grep -q 'msg="api write requested"' "$d/log"; then ok; else bad "term: no write"; fi
stop
wait "$writer"
eq "term: SIGTERM exits 0" "$rc" 0
eq "term: the write in flight was answered" "$(cat "$tmp/term-code")" 202
eq "term: and is on main" "$(main_tip)" \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["commit"])' "$tmp/term-body")"
awk '/msg="api write done"/ { w = NR } /msg=stopped/ { s = NR } END { exit !(w && s > w) }' "$d/log" &&
  ok || bad "term: stopped only after the write"

# ==== the config ====
printf -- '- {name: x, role: admin, sha256: abc}\n' >"$d/tokens.yaml"
expect_rc "config: a bad tokens file" 1 "$bin" run --check --config "$d/tenantd.yaml"
expect_out "config: each problem at its place" "tokens.yaml:1:19: error: 'role' must be read, operate or write" "$tmp/err"
# Without a token of the write role, the management API is off.
fresh off
config
sed -i 's/apiTokenEnv: TENANTD_API_TOKEN/readTokenEnv: TENANTD_API_TOKEN/; s/tokensFile: tokens.yaml,//' "$d/tenantd.yaml"
start off
eq "off: 404" "$(api POST /api/v1/tenants "$TENANTD_API_TOKEN" --data-binary @"$tmp/newco.yaml")" 404
expect_out "off: says why" 'no token has the write role' "$tmp/body"
stop
eq "off: SIGTERM exits 0" "$rc" 0

summary mgmt
