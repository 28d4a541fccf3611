#!/usr/bin/env bash
# Operating the fleet, end to end: `tenantd run` on loopback against a
# bare Git remote of the example repository and the local provider.
#   - costs: every plan format says "+250/month: standard → premium";
#     GET /api/v1/costs sums the example (149 + 49 + 2 x 399: its catalog
#     prices per environment) and the gauge says the same;
#   - platform: GET /api/v1/infrastructure/status and /capacity;
#   - metrics: per-tenant conditions, provider calls, process_*, all
#     clean for promtool, and a removed tenant's series gone;
#   - notifications to a receiver this suite starts (tests/fleet/
#     receiver.py on 127.0.0.1, checking the HMAC): a tenant made to fail
#     (a local fault injected on its resources) sends one message to each
#     target, and one more when it recovers; a receiver answering 500
#     gets the same delivery again with backoff; a flapping tenant sends
#     at most one message per interval; no secret in the log;
#   - the status page in headless Chromium: the tenants by state, a
#     filter and a tenant's detail from the URL fragment, the token from
#     the fragment, markup in a message shown as text, never run; a
#     screenshot kept as build/artifacts/status-page.png (beside the binary).
# Usage: tests/fleet/run.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
cleanup_on_exit
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 || true)
promtool=$(command -v promtool || echo /usr/bin/promtool)
chromium=$(command -v chromium || command -v chromium-browser || true)
for tool in "$py" "$promtool" "$chromium" curl git; do
  if [ -z "$tool" ] || ! command -v "$tool" >/dev/null 2>&1; then
    echo "fleet: a tool is missing (python3, promtool, chromium, curl, git)"
    exit 1
  fi
done
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
expect_timeout=60

export TENANTD_API_TOKEN=api-token-for-fleet-tests
export TENANTD_READ_TOKEN=read-token-for-fleet-tests
export NOTIFY_SECRET=notify-secret-for-fleet-tests
export GIT_TOKEN=git-token-for-fleet-tests
slack_secret=T0000/B0000/slack-secret-for-fleet-tests

# json FILE EXPR: EXPR of the JSON document in FILE (as `d`), printed.
json() { "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# ==== plans say what a change costs ====

w=$tmp/plan
mkdir -p "$w"
cp -r "$root/deploy/examples/tenants-repo" "$w/tenants"
P=(--state-dir "$w/state" --status-dir "$w/status")
expect_rc "plan: first plan" 0 "$bin" plan "${P[@]}" "$w/tenants"
expect_out "plan: a new tenant's cost" '^  cost \+798/month: new tenant, premium$'
expect_out "plan: the fleet's" '^monthly cost \+996 USD$'
expect_rc "plan: apply" 0 "$bin" apply --once "${P[@]}" "$w/tenants"
sed -i 's/tier: standard/tier: premium/' "$w/tenants/tenants/mwc-murata.yaml"
expect_rc "plan: text" 0 "$bin" plan "${P[@]}" "$w/tenants"
expect_out "plan: text cost line" '^  cost \+250/month: standard → premium$'
expect_no_out "plan: unchanged tenants have none" 'cost \+(798|49)'
expect_rc "plan: markdown" 0 "$bin" plan --format markdown "${P[@]}" "$w/tenants"
expect_out "plan: markdown cost" '^### mwc-murata: 3 to update; \*\*\+250/month: standard → premium\*\*$'
expect_out "plan: markdown total" '^Monthly cost: \*\*\+250 USD\*\*\.$'
expect_rc "plan: json" 0 "$bin" plan --format json "${P[@]}" "$w/tenants"
cp "$tmp/out" "$tmp/plan.json"
eq "plan: json change" "$(json "$tmp/plan.json" "[t['cost']['change'] for t in d['tenants']]")" "[0, 250, 0]"
eq "plan: json text" "$(json "$tmp/plan.json" "d['tenants'][1]['cost']['text']")" "+250/month: standard → premium"
eq "plan: json total" "$(json "$tmp/plan.json" "d['cost']")" "{'currency': 'USD', 'monthlyChange': 250}"
expect_rc "plan: apply the new tier" 0 "$bin" apply --once "${P[@]}" "$w/tenants"
expect_out "plan: the status records it" '^monthlyCost: 399$' "$w/status/mwc-murata.yaml"

# ==== the daemon, a receiver, a remote ====

d=$tmp/world
example_remote "$d" >/dev/null 2>&1
# Deleting a tenant's resources is what removing a tenant does here.
sed -i 's/maxDeletePercent: 10/maxDeletePercent: 100/' "$W/platform.yaml"
git -C "$W" commit -q -am "Let a tenant go" && git -C "$W" push -q origin main

rlog=$tmp/received.jsonl
: >"$rlog"
"$py" "$root/tests/fleet/receiver.py" "$tmp/rport" "$rlog" "$NOTIFY_SECRET" &
track_pid $!
wait_for 10 test -s "$tmp/rport" || bad "receiver: no port"
rport=$(cat "$tmp/rport")
export SLACK_URL=http://127.0.0.1:$rport/slack/$slack_secret

# config FAULT: the daemon's config; FAULT adds a fault to the local
# provider ("" for none).
config() {
  cat >"$d/tenantd.yaml" <<EOF
source: {url: file://$R, branch: main, interval: 1s}
cacheDir: $d/cache
status: {branch: tenantd/status, push: true}
reconcile: {resync: 1h, backoff: {base: 500ms, max: 1s}, shutdownTimeout: 30s}
http: {listen: "127.0.0.1:0", apiTokenEnv: TENANTD_API_TOKEN,
       readTokenEnv: TENANTD_READ_TOKEN}
providers:
  local: {type: local, stateDir: $d/state, capacity: 40$1}
notify:
  - {type: webhook, name: ops, url: "http://127.0.0.1:$rport/hook",
     secretEnv: NOTIFY_SECRET, minInterval: 5s}
  - {type: slack, name: chat, urlEnv: SLACK_URL, minInterval: 5s}
  - {type: commit-status, name: git, url: "http://127.0.0.1:$rport/api/v1",
     repository: ops/tenants, secretEnv: GIT_TOKEN, minInterval: 5s}
  - {type: webhook, name: down, url: "http://127.0.0.1:$rport/fail",
     attempts: 3, backoff: {base: 300ms, max: 2s}, minInterval: 5s}
EOF
}
fault=", faultRate: 1, faultMatch: mwc-sequans, faultOn: writes"

config ""
: >"$d/log"
"$bin" run --config "$d/tenantd.yaml" 2>>"$d/log" &
pid=$!
track_pid "$pid"
port=$(started_port "$d/log" "$pid")
url=http://127.0.0.1:$port
auth=(-H "Authorization: Bearer $TENANTD_READ_TOKEN")
api() { curl -sf "${auth[@]}" "$url$1"; }
ready() { curl -sf "$url/readyz"; }
state_of() { # TENANT: its state in the API
  api /api/v1/tenants/"$1" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["state"])'
}
is_state() { [ "$(state_of "$1")" = "$2" ]; }
reconcile() { # TENANT
  curl -sf -X POST -H "Authorization: Bearer $TENANTD_API_TOKEN" \
    "$url/api/v1/reconcile?tenant=$1" >/dev/null
}
reloads() { grep -c 'msg="config reloaded"' "$d/log"; }
more_reloads() { [ "$(reloads)" -gt "$1" ]; } # N: reloaded since N
reload() { # FAULT: the config with FAULT, reloaded
  local n
  n=$(reloads)
  config "$1"
  kill -HUP "$pid"
  wait_for 5 more_reloads "$n" || bad "reload: not reloaded"
}
# received PATH-PREFIX [TENANT STATE]: messages received on paths so
# beginning (by tenant and state when given; a commit status by its
# description's tenant context).
received() {
  "$py" - "$rlog" "$@" <<'EOF'
import json, sys
log, prefix = sys.argv[1], sys.argv[2]
tenant = sys.argv[3] if len(sys.argv) > 3 else None
state = sys.argv[4] if len(sys.argv) > 4 else None
n = 0
for line in open(log):
    m = json.loads(line)
    if not m["path"].startswith(prefix):
        continue
    b = json.loads(m["body"])
    if tenant and b.get("tenant", b.get("context", "").split("/")[-1]) != tenant \
            and tenant not in b.get("text", ""):
        continue
    if state and b.get("state") != state and ("is " + state) not in b.get("text", ""):
        continue
    n += 1
print(n)
EOF
}

received_is() { [ "$(received "$1")" = "$2" ]; } # PATH-PREFIX N

if wait_for 30 ready; then ok; else bad_log "daemon: not ready in 30 s" "$d/log"; fi
if wait_for 10 is_state mwc-sequans Ready; then ok; else bad "daemon: first pass"; fi

# ==== costs, platform, metrics ====

api /api/v1/costs >"$tmp/costs.json"
eq "costs: total" "$(json "$tmp/costs.json" "d['total']")" 996
eq "costs: currency and basis" "$(json "$tmp/costs.json" "(d['currency'], d['priceBasis'])")" "('USD', 'environment')"
eq "costs: tenants" "$(json "$tmp/costs.json" "[(t['name'], t['tier'], t['environments'], t['monthly']) for t in d['tenants']]")" \
  "[('greenwood-high', 'premium', 2, 798), ('mwc-murata', 'standard', 1, 149), ('mwc-sequans', 'basic', 1, 49)]"
eq "costs: by tier" "$(json "$tmp/costs.json" "d['tiers']['premium']")" "{'monthlyPrice': 399, 'tenants': 1, 'monthly': 798}"
check "costs: read token required" test "$(http_code "$url/api/v1/costs")" = 401

api /api/v1/infrastructure/status >"$tmp/status.json"
eq "status: states" "$(json "$tmp/status.json" "(d['tenants'], d['states']['Ready'], d['states']['Failed'])")" "(3, 3, 0)"
eq "status: resources" "$(json "$tmp/status.json" "(d['resources']['total'], d['resources']['byProvider']['local']['total'], d['resources']['byType']['service'])")" "(29, 29, 5)"
eq "status: source" "$(json "$tmp/status.json" "(d['source']['healthy'], d['source']['url'], d['lastPass']['result'])")" "(True, 'file://$R', 'ok')"
api /api/v1/infrastructure/capacity >"$tmp/cap.json"
eq "capacity: local" "$(json "$tmp/cap.json" "[(p['instance'], p['resources'], p['capacity'], p['available']) for p in d['providers']]")" "[('local', 29, 40, 11)]"

api /metrics >"$tmp/metrics"
check "metrics: promtool" "$promtool" check metrics <"$tmp/metrics"
expect_out "metrics: cost gauge" '^tenantd_tenant_monthly_cost\{tenant="greenwood-high"\} 798$' "$tmp/metrics"
expect_out "metrics: a condition" '^tenantd_tenant_condition\{tenant="mwc-murata",type="Ready",status="True"\} 1$' "$tmp/metrics"
eq "metrics: one series per tenant and condition" "$(grep -c '^tenantd_tenant_condition{' "$tmp/metrics")" 18
expect_out "metrics: provider calls" '^tenantd_provider_calls_total\{provider="local",operation="create"\} 29$' "$tmp/metrics"
expect_out "metrics: provider latency" '^tenantd_provider_call_duration_seconds_count\{provider="local",operation="read"\} [0-9]+$' "$tmp/metrics"
expect_out "metrics: capacity" '^tenantd_provider_capacity\{provider="local"\} 40$' "$tmp/metrics"
for m in process_cpu_seconds_total process_resident_memory_bytes process_open_fds process_max_fds process_start_time_seconds; do
  expect_out "metrics: $m" "^$m [0-9.e+]+$" "$tmp/metrics"
done

# ==== a tenant made to fail, and its recovery ====

reload "$fault"
rm -f "$d/state/database/mwc_sequans_staging.json"
reconcile mwc-sequans
if wait_for 15 is_state mwc-sequans Failed; then ok; else bad "fail: not Failed"; fi
one_failed() { [ "$(received /hook mwc-sequans Failed)" = 1 ]; }
if wait_for 10 one_failed; then ok; else bad "fail: no message"; fi
wait_for 10 received_is /slack 1 || bad "fail: no slack message"
wait_for 10 received_is /api/v1 1 || bad "fail: no commit status"
# Retried by the daemon with backoff, still Failed: nothing more to say.
sleep 2
eq "fail: one message for one change" "$(received /hook)" 1
"$py" - "$rlog" "$GIT_TOKEN" "$slack_secret" >"$tmp/checks" <<'EOF'
import json, sys
log, token, slack = sys.argv[1], sys.argv[2], sys.argv[3]
for line in open(log):
    m = json.loads(line)
    b = json.loads(m["body"])
    if m["path"] == "/hook":
        print("hook", m["signature"], b["tenant"], b["state"], b["previous"],
              len(b["commit"]), "transient fault" in b["reason"], sorted(b))
    elif m["path"].startswith("/slack/"):
        print("slack", m["path"] == "/slack/" + slack, b["text"].split(":")[0:2])
    elif m["path"].startswith("/api/v1/"):
        print("status", m["path"].split("/statuses/")[0], m["authorization"] == "token " + token,
              b["state"], b["context"])
EOF
expect_out "fail: webhook signed, with every field" "^hook ok mwc-sequans Failed Ready 40 True \['commit', 'previous', 'reason', 'state', 'tenant', 'time'\]$" "$tmp/checks"
expect_out "fail: slack text" "^slack True \['tenantd', ' \*mwc-sequans\* is Failed \(was Ready\)'\]$" "$tmp/checks"
expect_out "fail: commit status" "^status /api/v1/repos/ops/tenants True failure tenantd/mwc-sequans$" "$tmp/checks"

reload ""
if wait_for 15 is_state mwc-sequans Ready; then ok; else bad "recover: not Ready"; fi
one_ready() { [ "$(received /hook mwc-sequans Ready)" = 1 ]; }
if wait_for 10 one_ready; then ok; else bad "recover: no message"; fi
eq "recover: two messages in all" "$(received /hook)" 2
"$py" - "$rlog" >"$tmp/ready" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    b = json.loads(m["body"])
    if m["path"] == "/hook" and b["state"] == "Ready":
        print(b["previous"], m["signature"])
EOF
expect_out "recover: from Failed, signed" '^Failed ok$' "$tmp/ready"

# The receiver answering 500 had each message three times, the same
# delivery each time, after 300 ms and then 600 ms (each give or take a
# fifth: retries are spread).
wait_for 10 received_is /fail 6 || bad "retries: $(received /fail) deliveries, want 6"
"$py" - "$rlog" >"$tmp/retries" <<'EOF'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
fail = [m for m in got if m["path"] == "/fail"][:3]
print(len({m["delivery"] for m in fail}),
      round(fail[1]["time"] - fail[0]["time"], 2) >= 0.24,
      round(fail[2]["time"] - fail[1]["time"], 2) >= 0.48)
EOF
expect_out "retries: one delivery, backing off" '^1 True True$' "$tmp/retries"
check "retries: logged" grep -q 'msg="notification failed: retrying" target=down' "$d/log"

# Flapping: once the interval since the last message is over, four
# changes in a row send the first at once and then, at the interval's
# end, only the state the tenant is in (Ready).
before=$(received /hook)
sleep 5
for f in "$fault" "" "$fault" ""; do
  reload "$f"
  rm -f "$d/state/database/mwc_sequans_staging.json"
  reconcile mwc-sequans
  want=Ready
  [ -z "$f" ] || want=Failed
  wait_for 10 is_state mwc-sequans "$want" || bad "flap: not $want"
done
sleep 6
eq "flap: two messages for four changes" "$(($(received /hook) - before))" 2
"$py" - "$rlog" >"$tmp/flap" <<'EOF'
import json, sys
hooks = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])
         if json.loads(l)["path"] == "/hook"]
print(" ".join(h["state"] for h in hooks[-2:]))
EOF
expect_out "flap: the first change, then where it ended" '^Failed Ready$' "$tmp/flap"
expect_no_out "no secret in the log" "$NOTIFY_SECRET|$GIT_TOKEN|$TENANTD_READ_TOKEN|slack-secret|/slack/" "$d/log"
for path in /metrics /api/v1/infrastructure/status /api/v1/infrastructure/capacity \
  /api/v1/costs "/api/v1/events?tenant=mwc-sequans"; do
  api "$path" >"$tmp/read.out"
  check "$path: answered" test -s "$tmp/read.out"
  expect_no_out "no secret in $path" "$NOTIFY_SECRET|$GIT_TOKEN|slack-secret|/slack/" "$tmp/read.out"
done

api "/api/v1/events?tenant=mwc-sequans" >"$tmp/events.json"
expect_out "events: the state changes" '"text":"state Failed \(was Ready\)"' "$tmp/events.json"
check "events: bad tenant" test "$(http_code "$url/api/v1/events?tenant=../x" "${auth[@]}")" = 400

# ==== the status page in a browser ====

browse() { # NAME FRAGMENT: the DOM after the page ran, in $tmp/NAME.html
  timeout 60 "$chromium" --headless --no-sandbox --disable-gpu \
    --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$tmp/chromium-$1" \
    --virtual-time-budget=2000 --dump-dom "$url/$2" >"$tmp/$1.html" 2>"$tmp/$1.err"
}
rows() { grep -o 'data-tenant="[^"]*"' "$tmp/$1.html" | sed 's/data-tenant=//; s/"//g' | tr '\n' ' '; }

check "page: served without a token" test "$(http_code "$url/")" = 200
curl -s -D "$tmp/page.headers" -o /dev/null "$url/"
expect_out "page: a strict CSP" "^Content-Security-Policy: default-src 'none'; script-src 'sha256-" "$tmp/page.headers"
browse all "#token=$TENANTD_READ_TOKEN"
eq "page: three tenants" "$(rows all)" "greenwood-high mwc-murata mwc-sequans "
expect_out "page: counts by state" 'id="count-Ready">3<' "$tmp/all.html"
expect_out "page: counts by state (failed)" 'id="count-Failed">0<' "$tmp/all.html"
expect_out "page: cost" '>798 USD<' "$tmp/all.html"
expect_out "page: summary" '3 of 3 tenants, 996 USD a month' "$tmp/all.html"
expect_no_out "page: no secret in the page" "$TENANTD_READ_TOKEN|$NOTIFY_SECRET|$GIT_TOKEN|slack-secret" "$tmp/all.html"

browse none ""
eq "page: no token, no tenants" "$(rows none)" ""
expect_out "page: asks for a token" '<form id="login" class="">' "$tmp/none.html"

# A tenant that fails validation with markup in its message.
cat >"$W/tenants/zz-markup.yaml" <<'EOF'
apiVersion: tenantd.io/v1
kind: Tenant
metadata:
  name: zz-markup
spec:
  tier: "<img src=x onerror=document.title='pwned'><script>document.title='pwned'</script>"
  environments: []
EOF
git -C "$W" add -A && git -C "$W" commit -q -m "A tenant with markup" && git -C "$W" push -q origin main
if wait_for 15 is_state zz-markup Held; then ok; else bad "markup: not Held"; fi

browse held "#token=$TENANTD_READ_TOKEN&state=Held"
eq "page: filtered by state" "$(rows held)" "zz-markup "
expect_out "page: markup shown as text" "unknown tier '&lt;img src=x onerror=document.title='pwned'&gt;&lt;script&gt;" "$tmp/held.html"
expect_no_out "page: markup never made elements" "<img|<script>document" "$tmp/held.html"
expect_out "page: title untouched" '<title>tenantd</title>' "$tmp/held.html"

browse detail "#token=$TENANTD_READ_TOKEN&tenant=mwc-murata"
expect_out "page: detail" '<h2>mwc-murata</h2>' "$tmp/detail.html"
expect_out "page: detail conditions" '<td>Ready</td><td>True</td><td>Applied</td>' "$tmp/detail.html"
expect_out "page: detail inventory" '<td>dns_record</td><td>4</td>' "$tmp/detail.html"
expect_out "page: detail events" 'created database/mwc-murata.staging' "$tmp/detail.html"

timeout 60 "$chromium" --headless --no-sandbox --disable-gpu \
  --disable-background-networking --disable-component-update --disable-sync \
  --no-first-run --user-data-dir="$tmp/chromium-shot" --virtual-time-budget=2000 \
  --window-size=1200,800 --screenshot="$tmp/status-page.png" \
  "$url/#token=$TENANTD_READ_TOKEN&tenant=mwc-murata" >/dev/null 2>&1
check "page: screenshot" test -s "$tmp/status-page.png"
# Kept beside the build as the suite's artifact.
art="$(dirname "$bin")/artifacts"
mkdir -p "$art" && cp "$tmp/status-page.png" "$art/status-page.png" &&
  echo "fleet: screenshot in $art/status-page.png"

# ==== a tenant removed: its series go ====

git -C "$W" rm -q tenants/zz-markup.yaml && git -C "$W" commit -q -m "No markup" && git -C "$W" push -q origin main
gone() { ! api /api/v1/tenants | grep -q zz-markup; }
if wait_for 15 gone; then ok; else bad "removed: still listed"; fi
api /metrics >"$tmp/metrics"
expect_no_out "removed: no series left" 'tenant="zz-markup"' "$tmp/metrics"
eq "removed: 18 condition series" "$(grep -c '^tenantd_tenant_condition{' "$tmp/metrics")" 18
check "metrics: promtool after all that" "$promtool" check metrics <"$tmp/metrics"
check "prometheus: the rules in deploy/ load" "$promtool" check rules \
  "$root/deploy/prometheus/tenantd-rules.yaml"

kill -TERM "$pid"
wait "$pid"
eq "stop: exit status" "$?" 0
forget_pid "$pid"

echo "fleet: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
