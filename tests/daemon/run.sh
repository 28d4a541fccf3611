#!/usr/bin/env bash
# End to end: `tenantd run` on loopback against a real bare Git remote and
# the local provider.  A pushed commit is applied and its status commit
# appears; a webhook makes it happen without waiting for the poll; a bad
# signature gets 401 and fetches nothing; /metrics passes promtool; the
# API; drift corrected within a resync period; SIGHUP reloads (and keeps
# the running config when the new one is invalid); SIGTERM during an
# apply exits 0 and a restart converges with nothing duplicated; the HTTP
# server survives oversized, malformed and pipelined requests.
# Usage: tests/daemon/run.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"

export TENANTD_WEBHOOK_SECRET=hook-secret-for-tests
export TENANTD_API_TOKEN=api-token-for-tests
promtool=$(command -v promtool || echo /usr/bin/promtool)

# ---- one daemon's world ----

# fresh NAME: a bare remote with the example manifests and a working
# clone; $d, $R, $W set.
fresh() {
  d=$tmp/$1
  example_remote "$d"
}

# config FILE INTERVAL RESYNC [LOCAL-EXTRA]: a config for $d.
config() {
  cat >"$1" <<EOF
source: {url: file://$R, branch: main, interval: $2}
cacheDir: $d/cache
status: {branch: tenantd/status, push: true}
reconcile: {resync: $3, concurrency: 8, backoff: {base: 1s, max: 4s},
            shutdownTimeout: 30s}
http: {listen: "127.0.0.1:0", webhookSecretEnv: TENANTD_WEBHOOK_SECRET,
       apiTokenEnv: TENANTD_API_TOKEN}
log: {format: logfmt}
providers:
  local: {type: local, stateDir: $d/state${4:+, $4}}
EOF
}

# start: runs the daemon on $d/tenantd.yaml, logs in $d/log; $pid, $url.
start() {
  : >"$d/log"
  "$bin" run --config "$d/tenantd.yaml" 2>>"$d/log" &
  pid=$!
  pids+=("$pid")
  local port
  port=$(started_port "$d/log" "$pid")
  url=http://127.0.0.1:$port
}
ready() { curl -sf "$url/readyz"; }
# stop: SIGTERM, then the exit status in $rc.
stop() {
  kill -TERM "$pid"
  wait "$pid"
  rc=$?
}
rgit() { git --git-dir "$R" "$@"; }
status_tip() { rgit rev-parse -q --verify refs/heads/tenantd/status; }
# applied COMMIT: the status branch's newest commit names it as source.
applied() {
  rgit log -1 --format=%B tenantd/status 2>/dev/null |
    grep -q "^Tenantd-Source: $1"
}
sign() { printf '%s' "$1" | openssl dgst -sha256 -hmac "$2" | sed 's/^.* //'; }
metric() { # NAME-WITH-LABELS: its value, 0 when absent
  curl -sf "$url/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 }
    END { if (!f) print 0 }'
}
announce() { # pushes $W's main and sends the signed generic webhook; prints HEAD
  git -C "$W" push -q origin main
  curl -s -o /dev/null -X POST \
    -H "X-Tenantd-Signature: sha256=$(sign '{"ref":"refs/heads/main"}' "$TENANTD_WEBHOOK_SECRET")" \
    --data '{"ref":"refs/heads/main"}' "$url/hooks/generic"
  git -C "$W" rev-parse HEAD
}
push_tier() { # TENANT FROM TO
  sed -i "s/tier: $2/tier: $3/" "$W/tenants/$1.yaml"
  git -C "$W" commit -q -am "$1: $3 tier"
  git -C "$W" push -q origin main
  git -C "$W" rev-parse HEAD
}

# ==== the loop: first pass, webhook, bad signature, API, metrics ====

fresh loop
config "$d/tenantd.yaml" 1h 1h
start
check "loop: healthz while starting" curl -sf "$url/healthz"
if wait_for 30 ready; then ok; else bad_log "loop: not ready in 30 s" "$d/log"; fi
expect_out "loop: started line" 'level=info msg="tenantd started" .*webhooks=true' "$d/log"
expect_no_out "loop: no secret in the log" "$TENANTD_WEBHOOK_SECRET|$TENANTD_API_TOKEN" "$d/log"
head=$(git -C "$W" rev-parse HEAD)
if wait_for 10 applied "$head"; then ok; else bad "loop: first status commit"; fi
rgit ls-tree --name-only tenantd/status status/ >"$tmp/out"
eq "loop: a status file per tenant" "$(wc -l <"$tmp/out")" 3

curl -sf "$url/api/v1/tenants" >"$tmp/out"
expect_out "api: tenants listed" '"tenant":"greenwood-high".*"tenant":"mwc-murata".*"tenant":"mwc-sequans"'
expect_out "api: ready" '"tenant":"mwc-murata","ready":"True"'
curl -sf "$url/api/v1/tenants/mwc-murata" >"$tmp/out"
expect_out "api: one tenant's inventory" '"inventory":\[\{"id":"'
expect_out "api: its conditions" '"conditions":\{"Ready":\{"status":"True"'
expect_rc "api: unknown tenant" 0 curl -s -o "$tmp/body" -w '%{http_code}' "$url/api/v1/tenants/nobody"
expect_out "api: unknown tenant is 404" '^404$'

# A commit, announced by a signed webhook: applied long before the poll
# (1 h) would have noticed.
c1=$(push_tier mwc-murata standard premium)
body='{"ref":"refs/heads/main"}'
curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
  -H "X-Tenantd-Signature: sha256=$(sign "$body" "$TENANTD_WEBHOOK_SECRET")" \
  --data "$body" "$url/hooks/generic" >"$tmp/out"
expect_out "webhook: valid signature accepted" '^202$'
if wait_for 20 applied "$c1"; then ok; else bad "webhook: commit not applied"; fi
rgit show --stat --format= tenantd/status >"$tmp/out"
expect_out "webhook: the status commit touches only that tenant" 'status/mwc-murata.yaml'
expect_no_out "webhook: and no other" 'greenwood|sequans'
rgit log -1 --format=%B tenantd/status >"$tmp/out"
expect_out "webhook: commit trailer" '^Tenantd-Tenant: mwc-murata$'
# The pass reused the loaded manifests of the others: one tenant passed,
# with its timings in the log.
expect_out "webhook: pass of one tenant, timed" \
  "msg=\"pass done\" source=$c1 .*tenants=1 .*fetch_seconds=[0-9.]+ commit_seconds=[0-9.]+" "$d/log"

# A bad signature: 401, and nothing fetched or applied.
fetches=$(metric tenantd_source_fetch_duration_seconds_count)
tip=$(status_tip)
c2=$(push_tier mwc-murata premium standard)
curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
  -H "X-Hub-Signature-256: sha256=$(sign "$body" wrong-secret)" \
  --data "$body" "$url/hooks/github" >"$tmp/out"
expect_out "webhook: bad signature is 401" '^401$'
curl -s -o "$tmp/body" -w '%{http_code}' -X POST --data "$body" \
  "$url/hooks/github" >"$tmp/out"
expect_out "webhook: no signature is 401" '^401$'
sleep 1.5
eq "webhook: bad signature fetched nothing" \
  "$(metric tenantd_source_fetch_duration_seconds_count)" "$fetches"
eq "webhook: and applied nothing" "$(status_tip)" "$tip"
eq "webhook: rejections counted" \
  "$(metric 'tenantd_webhooks_total{result="rejected"}')" 2
# A ping, a push to another branch, a GitLab token that is wrong: each
# answered, none fetched.
ping='{"zen":"Keep it logically awesome.","hook_id":1}'
curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "X-GitHub-Event: ping" \
  -H "X-Hub-Signature-256: sha256=$(sign "$ping" "$TENANTD_WEBHOOK_SECRET")" \
  --data "$ping" "$url/hooks/github" >"$tmp/out"
expect_out "webhook: github ping is 200" '^200$'
expect_out "webhook: and says pong" '"pong"' "$tmp/body"
other='{"ref":"refs/heads/feature"}'
curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "X-GitHub-Event: push" \
  -H "X-Hub-Signature-256: sha256=$(sign "$other" "$TENANTD_WEBHOOK_SECRET")" \
  --data "$other" "$url/hooks/github" >"$tmp/out"
expect_out "webhook: another branch is 202" '^202$'
expect_out "webhook: and ignored" '"ignored"' "$tmp/body"
curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "X-Gitlab-Event: Push Hook" \
  -H "X-Gitlab-Token: wrong-secret" --data "$body" "$url/hooks/gitlab" >"$tmp/out"
expect_out "webhook: gitlab wrong token is 401" '^401$'
sleep 1
eq "webhook: none of those fetched" \
  "$(metric tenantd_source_fetch_duration_seconds_count)" "$fetches"
# A flood of badly signed deliveries: each refused, the log not flooded.
before=$(grep -c 'msg="webhook rejected"' "$d/log")
python3 - "$url" <<'EOF'
import http.client, sys
host, port = sys.argv[1].split("//")[1].split(":")
c = http.client.HTTPConnection(host, int(port), timeout=10)
for _ in range(2000):
    c.request("POST", "/hooks/github", body=b"{}",
              headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
    r = c.getresponse(); r.read()
    assert r.status == 401, r.status
EOF
check "webhook: a flood is refused" test $? -eq 0
after=$(grep -c 'msg="webhook rejected"' "$d/log")
check "webhook: and logged a few times, not 2000" test $((after - before)) -le 30
eq "webhook: ping and ignored counted" \
  "$(metric 'tenantd_webhooks_total{result="ping"}') $(metric 'tenantd_webhooks_total{result="ignored"}')" "1 1"
# The same commit through GitLab's token, which is the secret itself.
curl -s -o /dev/null -X POST -H "X-Gitlab-Event: Push Hook" \
  -H "X-Gitlab-Token: $TENANTD_WEBHOOK_SECRET" --data "$body" "$url/hooks/gitlab"
if wait_for 20 applied "$c2"; then ok; else bad "webhook: gitlab hook"; fi
# And another through GitHub's header, rightly signed.
c2=$(push_tier mwc-murata standard premium)
curl -s -o /dev/null -X POST -H "X-GitHub-Event: push" \
  -H "X-Hub-Signature-256: sha256=$(sign "$body" "$TENANTD_WEBHOOK_SECRET")" \
  --data "$body" "$url/hooks/github"
if wait_for 20 applied "$c2"; then ok; else bad "webhook: github hook"; fi

# The API's reconcile needs the token.
expect_rc "api: reconcile without a token" 0 curl -s -o "$tmp/body" -w '%{http_code}' -X POST "$url/api/v1/reconcile?tenant=mwc-murata"
expect_out "api: 401 without a token" '^401$'
expect_rc "api: reconcile with a wrong token" 0 curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer nope" "$url/api/v1/reconcile?tenant=mwc-murata"
expect_out "api: 401 with a wrong token" '^401$'
expect_rc "api: reconcile an unknown tenant" 0 curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $TENANTD_API_TOKEN" "$url/api/v1/reconcile?tenant=nobody"
expect_out "api: 404 for an unknown tenant" '^404$'
passes=$(metric 'tenantd_passes_total{result="ok"}')
expect_rc "api: reconcile a tenant" 0 curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $TENANTD_API_TOKEN" "$url/api/v1/reconcile?tenant=greenwood-high"
expect_out "api: 202 when queued" '^202$'
more_passes() { test "$(metric 'tenantd_passes_total{result="ok"}')" -gt "$passes"; }
if wait_for 10 more_passes; then ok; else bad "api: no pass after reconcile"; fi
expect_rc "api: an empty tenant" 0 curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $TENANTD_API_TOKEN" "$url/api/v1/reconcile?tenant="
expect_out "api: 400 for an empty tenant" '^400$'
expect_rc "api: a path that only starts like one" 0 curl -s -o "$tmp/body" -w '%{http_code}' "$url/api/v1/tenantsX"
expect_out "api: 404 for it" '^404$'
expect_rc "api: PUT on reconcile" 0 curl -s -o "$tmp/body" -w '%{http_code}' -X PUT "$url/api/v1/reconcile"
expect_out "api: 405 for the wrong method" '^405$'

# Metrics: valid exposition, the families the issue names.
curl -sf "$url/metrics" >"$tmp/metrics"
if [ -x "$promtool" ]; then
  if "$promtool" check metrics <"$tmp/metrics" >"$tmp/out" 2>&1; then ok; else
    bad "metrics: promtool check metrics"
    sed 's/^/    /' "$tmp/out" | head
  fi
else
  bad "metrics: promtool is not installed (make deps installs prometheus)"
fi
for m in 'tenantd_reconciles_total{result="ready"}' \
  tenantd_reconcile_duration_seconds_count tenantd_drift_detected_total \
  tenantd_drift_corrected_total tenantd_queue_depth \
  tenantd_source_fetch_duration_seconds_count \
  tenantd_source_last_success_timestamp_seconds \
  'tenantd_managed_resources{type="database"}'; do
  expect_out "metrics: $m" "^$(printf '%s' "$m" | sed 's/[{}]/\\&/g') [0-9]" "$tmp/metrics"
done
gt0() { awk -v v="$1" 'BEGIN { exit !(v > 0) }'; }
check "metrics: reconciles counted" gt0 "$(metric 'tenantd_reconciles_total{result="ready"}')"
check "metrics: last fetch time set" gt0 "$(metric tenantd_source_last_success_timestamp_seconds)"

# A commit deleting a tenant: the pass is of that tenant alone, and the
# delete guard's whole is still every managed resource (one state file
# each), the other tenants' counted from their statuses.
managed=$(find "$d/state" -name '*.json' | wc -l)
git -C "$W" rm -q tenants/mwc-sequans.yaml
git -C "$W" commit -q -m "Remove mwc-sequans"
c3=$(announce)
if wait_for 20 applied "$c3"; then ok; else bad "guard: the deleting commit's pass"; fi
rgit show tenantd/status:status/mwc-sequans.yaml >"$tmp/out" 2>&1
expect_out "guard: the whole is every managed resource" "would delete [0-9]+ of $managed managed"
eq "guard: nothing deleted" "$(find "$d/state" -name '*.json' | wc -l)" "$managed"
git -C "$W" revert --no-edit HEAD >/dev/null
c3=$(announce)
if wait_for 20 applied "$c3"; then ok; else bad "guard: the file back"; fi
rgit show tenantd/status:status/mwc-sequans.yaml >"$tmp/out" 2>&1
expect_no_out "guard: and its tenant no longer refused" "DeleteGuard"

# ---- the HTTP server under abuse ----
raw() { # BYTES: sends them raw, prints what comes back
  python3 - "$url" "$1" <<'EOF'
import socket, sys
host, port = sys.argv[1].split("//")[1].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
sys.stdout.write(data.decode("latin-1"))
EOF
}
raw "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >"$tmp/out"
eq "http: three pipelined requests, three answers" "$(grep -c '^HTTP/1.1 ' "$tmp/out")" 3
expect_out "http: in order" '^HTTP/1.1 404'
grep '^HTTP/1.1 ' "$tmp/out" | tr -d '\r' | tr '\n' ' ' >"$tmp/order"
expect_out "http: pipelined order" '^HTTP/1.1 200 OK HTTP/1.1 200 OK HTTP/1.1 404' "$tmp/order"
raw "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 20000 /dev/zero | tr '\0' a)\r\n\r\n" >"$tmp/out"
expect_out "http: oversized headers" '^HTTP/1.1 431'
raw "POST /hooks/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n" >"$tmp/out"
expect_out "http: oversized body" '^HTTP/1.1 413'
# Pipelined requests from a client that closes without reading: the
# answers meet a reset socket, which once killed the daemon (SIGPIPE).
python3 - "$url" <<'EOF'
import socket, struct, sys
host, port = sys.argv[1].split("//")[1].split(":")
for _ in range(50):
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 8)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
EOF
sleep 0.5
check "http: a client closing under its answers does not kill the daemon" kill -0 "$pid"
expect_rc "http: and health still answers" 0 curl -sf "$url/healthz"
raw "THIS IS NOT HTTP\r\n\r\n" >"$tmp/out"
expect_out "http: malformed" '^HTTP/1.1 400'
raw "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n" >"$tmp/out"
expect_out "http: a negative length" '^HTTP/1.1 400'
check "http: still serving after all that" curl -sf "$url/healthz"
check "http: still ready" curl -sf "$url/readyz"

# ---- SIGHUP ----
cp "$d/tenantd.yaml" "$d/good.yaml"
printf 'source: {url: file://%s, interval: soon}\n' "$R" >"$d/tenantd.yaml"
kill -HUP "$pid"
if wait_for 5 grep -q 'reload failed' "$d/log"; then ok; else bad "sighup: invalid config not reported"; fi
expect_out "sighup: the problem with its position" "at=$d/tenantd.yaml:1:[0-9]+" "$d/log"
check "sighup: still serving on the old config" curl -sf "$url/readyz"
sed 's/format: logfmt/format: json/' "$d/good.yaml" >"$d/tenantd.yaml"
kill -HUP "$pid"
if wait_for 5 grep -q '"msg":"config reloaded"' "$d/log"; then ok; else bad "sighup: valid config not loaded"; fi

stop
eq "loop: SIGTERM exits 0" "$rc" 0
expect_out "loop: says it stopped" '"msg":"stopped"' "$d/log"

# ==== drift corrected within one resync period ====

fresh drift
config "$d/tenantd.yaml" 1h 2s
start
if wait_for 30 ready; then ok; else bad_log "drift: not ready" "$d/log"; fi
db=$d/state/database/mwc_murata_staging.json
if wait_for 10 test -f "$db"; then ok; else bad "drift: no database file"; fi
limit=$(grep -o '"connection_limit": [0-9]*' "$db")
sed -i 's/"connection_limit": [0-9]*/"connection_limit": 5/' "$db"
# One resync period (2 s, +-10%), plus the pass.
if wait_for 8 grep -q "$limit" "$db"; then ok; else bad "drift: not corrected within a resync period"; fi
corrected() { test "$(metric tenantd_drift_corrected_total)" -ge 1; }
if wait_for 5 corrected; then ok; else bad "drift: metric"; fi
expect_out "drift: logged" 'msg="tenant event" tenant=[a-z-]+ action="drift corrected" resource=database/' "$d/log"
if wait_for 10 sh -c "git --git-dir '$R' log -1 --format=%B tenantd/status | grep -q 'drift corrected'"; then ok; else
  bad "drift: status commit names the correction"
fi
stop
eq "drift: SIGTERM exits 0" "$rc" 0

# ==== SIGTERM during an apply, then a restart: nothing duplicated ====

fresh term
config "$d/tenantd.yaml" 1h 1h "latencyMs: 150"
start
# The first pass applies ~50 resources at 150 ms a call: stop it midway.
if wait_for 20 sh -c "ls '$d/state'/*/*.json 2>/dev/null | grep -q ."; then ok; else bad "term: nothing applied"; fi
t0=$SECONDS
stop
eq "term: SIGTERM during an apply exits 0" "$rc" 0
check "term: within the shutdown bound" test $((SECONDS - t0)) -le 30
expect_out "term: finished the pass in flight" 'msg="stopping: finishing the pass in flight"' "$d/log"
expect_out "term: pass done after the signal" 'msg="pass done"' "$d/log"
expect_out "term: what had not started was not started" \
  'not started: tenantd is shutting down' "$d/log"
rgit grep -h 'reason: Interrupted' tenantd/status -- status/ >"$tmp/out"
expect_out "term: the status says Interrupted, not Ready" 'Interrupted'
# Restart without latency: it converges.
config "$d/tenantd.yaml" 1h 1h
start
if wait_for 30 ready; then ok; else bad_log "term: restart not ready" "$d/log"; fi
if wait_for 30 sh -c "curl -sf '$url/api/v1/tenants' | grep -qv '\"ready\":\"False\"'"; then ok; else bad "term: not converged"; fi
curl -sf "$url/api/v1/tenants" >"$tmp/out"
expect_no_out "term: every tenant ready" '"ready":"False"'
stop
eq "term: second SIGTERM exits 0" "$rc" 0
# Nothing twice: a one-shot --all pass on the same state changes nothing,
# and no status commit created a resource twice.
expect_rc "term: a check pass" 0 "$bin" apply --once --all --repo "file://$R" \
  --cache-dir "$d/cache" --state-dir "$d/state"
expect_out "term: converged, nothing to change" ' 0 changed, 0 failed'
rgit log --format=%B tenantd/status | grep -o 'created [a-z_]*/[^ ]*' |
  sort | uniq -d >"$tmp/out"
eq "term: no resource created twice" "$(wc -l <"$tmp/out")" 0
eq "term: one file per resource" "$(ls "$d/state"/*/*.json | wc -l)" \
  "$(ls "$d/state"/*/*.json | sort -u | wc -l)"

# ==== passes that cannot run back off, and catch up once they can ====

fresh recover
config "$d/tenantd.yaml" 1h 1h
cp "$d/tenantd.yaml" "$d/good.yaml"
# Provider options are checked when a pass opens the instance: this one
# fails every pass until the config is mended.
sed -i "s|stateDir: $d/state|stateDir: $d/state, colour: blue|" "$d/tenantd.yaml"
start
sleep 3.5
errors=$(metric 'tenantd_passes_total{result="error"}')
check "recover: a failing pass is retried" test "$errors" -ge 2
# Backoff 1 s, 2 s, 4 s (+-20%): at most 3 passes in 3.5 s, not one a tick.
check "recover: with backoff ($errors passes in 3.5 s)" test "$errors" -le 3
expect_out "recover: the failure is logged" 'level=error msg="pass failed" error=".*provider instance .local.' "$d/log"
expect_rc "recover: not ready" 0 curl -s -o "$tmp/body" -w '%{http_code}' "$url/readyz"
expect_out "recover: 503 until a pass runs" '^503$'
cp "$d/good.yaml" "$d/tenantd.yaml"
kill -HUP "$pid"
if wait_for 15 ready; then ok; else bad_log "recover: not ready after the fix" "$d/log"; fi
# The first pass that runs is the full one the failed ones were to be.
curl -sf "$url/api/v1/tenants" >"$tmp/out"
eq "recover: every tenant reconciled" "$(grep -o '"tenant":' "$tmp/out" | wc -l)" 3
stop
eq "recover: SIGTERM exits 0" "$rc" 0

# ==== reads behind a token (http.readTokenEnv) ====
fresh reads
config "$d/tenantd.yaml" 1h 1h
sed -i 's/apiTokenEnv: TENANTD_API_TOKEN}/apiTokenEnv: TENANTD_API_TOKEN, readTokenEnv: TENANTD_READ_TOKEN}/' "$d/tenantd.yaml"
export TENANTD_READ_TOKEN=read-token-for-tests
start
if wait_for 20 ready; then ok; else bad_log "reads: not ready" "$d/log"; fi
eq "reads: health stays open" "$(http_code "$url/healthz")" 200
eq "reads: metrics need the token" "$(http_code "$url/metrics")" 401
eq "reads: tenants need the token" "$(http_code "$url/api/v1/tenants")" 401
eq "reads: a wrong token is refused" \
  "$(http_code "$url/metrics" -H 'Authorization: Bearer nope')" 401
eq "reads: the read token reads" \
  "$(http_code "$url/api/v1/tenants" -H "Authorization: Bearer $TENANTD_READ_TOKEN")" 200
eq "reads: so does the API token" \
  "$(http_code "$url/metrics" -H "Authorization: Bearer $TENANTD_API_TOKEN")" 200
eq "reads: the read token does not operate (403)" \
  "$(http_code "$url/api/v1/reconcile" -X POST -H "Authorization: Bearer $TENANTD_READ_TOKEN")" 403
stop
unset TENANTD_READ_TOKEN

# ==== the config: --check and bad files ====
expect_rc "config: --check a good file" 0 "$bin" run --check --config "$tmp/loop/good.yaml"
expect_out "config: valid" 'valid \(1 provider instance\)'
printf 'source: {url: x}\nproviders: {local: {type: nope}}\n' >"$tmp/bad.yaml"
expect_rc "config: --check a bad file" 1 "$bin" run --check --config "$tmp/bad.yaml"
expect_out "config: problem with its position" "bad.yaml:2:27: error: providers.local: unknown provider type 'nope'" "$tmp/err"
expect_rc "config: run needs --config" 1 "$bin" run
expect_rc "config: the example in deploy/ is valid" 0 "$bin" run --check \
  --config "$root/deploy/config.example.yaml"
# plan and apply --once take the same file.
expect_rc "config: plan --config" 0 "$bin" plan --config "$tmp/loop/good.yaml"
expect_rc "config: apply --once --config" 0 "$bin" apply --once --config "$tmp/loop/good.yaml"
expect_out "config: apply from the config's source" 'source [0-9a-f]{12}'

summary daemon
