#!/usr/bin/env bash
# End-to-end scenarios of the reconcile engine on the local provider, through
# the CLI: create, idempotence, drift, prune, the delete guard, suspend,
# injected faults, and kill -9 at random moments.
# Usage: tests/scenario/run.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
example=$root/deploy/examples/tenants-repo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
# The engine's progress (stdout) and its problems (stderr) are checked as
# one transcript, in the order written.
expect_merged=1
# Debian's interpreter starts in milliseconds; a pyenv shim can take 0.4 s.
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# A fresh world: a copy of the example, and empty state and status.
fresh() {
  w=$tmp/w$1
  rm -rf "$w"
  mkdir -p "$w"
  cp -r "$example" "$w/repo"
  S=(--state-dir "$w/state" --status-dir "$w/status")
}
state_count() { find "$w/state" -name '*.json' | wc -l; }

# ---- create from scratch, then idempotence ----
fresh 1
expect_rc "plan from scratch" 2 "$bin" plan --detailed-exitcode "${S[@]}" "$w/repo"
expect_out "plan shows creation" '^  \+   database/mwc-murata.staging'
expect_out "plan counts" 'tenant mwc-murata: 11 to create'
expect_rc "apply from scratch" 0 "$bin" apply --once "${S[@]}" "$w/repo"
expect_out "apply progress" '^\[[0-9]+/[0-9]+\] create +service/api.staging.mwc-murata done'
expect_out "apply summary" '^3 tenants: [0-9]+ changed, 0 failed, 0 skipped, 0 conflicts'
check "state file per resource" test -f "$w/state/database/mwc_murata_staging.json"
check "status per tenant" test -f "$w/status/mwc-murata.yaml"
grep -q 'id: database/mwc-murata.staging' "$w/status/mwc-murata.yaml" && ok ||
  bad "inventory lists the database"
n_created=$(state_count)
expect_rc "plan after apply: nothing" 0 "$bin" plan --detailed-exitcode "${S[@]}" "$w/repo"
expect_out "no changes" '^0 changes pending$'
cp "$w/status/mwc-murata.yaml" "$tmp/status.before"
sleep 1.1
expect_rc "second apply" 0 "$bin" apply --once "${S[@]}" "$w/repo"
check "second apply creates nothing" test "$(state_count)" -eq "$n_created"
cmp -s "$tmp/status.before" "$w/status/mwc-murata.yaml" && ok ||
  bad "second apply rewrote an unchanged status"

# ---- a manifest change: tier standard -> premium ----
sed -i 's/tier: standard/tier: premium/' "$w/repo/tenants/mwc-murata.yaml"
expect_rc "plan tier change" 2 "$bin" plan --detailed-exitcode "${S[@]}" "$w/repo"
expect_out "field-level change" '~ connection_limit: 200 -> 500'
expect_no_out "a manifest change is not drift" 'database/mwc-murata.staging +\(drift\)'
expect_rc "apply tier change" 0 "$bin" apply --once "${S[@]}" "$w/repo"
grep -q '"connection_limit": 500' "$w/state/database/mwc_murata_staging.json" && ok ||
  bad "connection_limit applied"

# ---- drift: edit and delete state files ----
sed -i 's/"connection_limit": 500/"connection_limit": 7/' \
  "$w/state/database/mwc_murata_staging.json"
rm "$w/state/route/web.staging.mwc-murata.json"
expect_rc "plan shows drift" 2 "$bin" plan --detailed-exitcode "${S[@]}" "$w/repo"
expect_out "drift on the database" 'database/mwc-murata.staging +\(drift\)'
expect_out "drift on the route" 'route/web.staging.mwc-murata +\(drift\)'
expect_rc "apply corrects drift" 0 "$bin" apply --once "${S[@]}" "$w/repo"
grep -q '"connection_limit": 500' "$w/state/database/mwc_murata_staging.json" && ok ||
  bad "drifted value corrected"
check "deleted resource recreated" test -f "$w/state/route/web.staging.mwc-murata.json"
grep -A2 'type: DriftDetected' "$w/status/mwc-murata.yaml" | grep -q '"True"' && ok ||
  bad "DriftDetected condition set"

# ---- driftPolicy: report ----
sed -i 's/driftPolicy: correct/driftPolicy: report/' "$w/repo/platform.yaml"
sed -i 's/"connection_limit": 500/"connection_limit": 9/' \
  "$w/state/database/mwc_murata_staging.json"
"$bin" apply --once "${S[@]}" "$w/repo" >"$tmp/out" 2>&1
grep -q '"connection_limit": 9' "$w/state/database/mwc_murata_staging.json" && ok ||
  bad "report policy leaves drift alone"
grep -A3 'type: DriftDetected' "$w/status/mwc-murata.yaml" | grep -q 'DriftReported' && ok ||
  bad "report policy reports drift"
sed -i 's/driftPolicy: report/driftPolicy: correct/' "$w/repo/platform.yaml"
expect_rc "back to correct" 0 "$bin" apply --once "${S[@]}" "$w/repo"

# ---- an unmarked resource where tenantd wants to create is a conflict ----
fresh 2
mkdir -p "$w/state/bucket"
echo '{"spec": {"name": "mwc-murata-staging"}}' >"$w/state/bucket/mwc-murata-staging.json"
cp "$w/state/bucket/mwc-murata-staging.json" "$tmp/foreign"
expect_rc "conflict fails the apply" 1 "$bin" apply --once "${S[@]}" "$w/repo"
expect_out "conflict reported" '^conflict bucket/mwc-murata.staging: exists without'
cmp -s "$tmp/foreign" "$w/state/bucket/mwc-murata-staging.json" && ok ||
  bad "foreign resource untouched"
check "others still created" test -f "$w/state/network/mwc-murata-staging.json"

# ---- prune, the delete guard, orphaning ----
fresh 3
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
rm "$w/repo/tenants/mwc-murata.yaml"
expect_rc "guard refuses a large delete" 1 "$bin" apply --once "${S[@]}" "$w/repo"
expect_out "refusal explained" 'refused: this pass would delete [0-9]+ of [0-9]+ managed'
check "nothing deleted when refused" test -f "$w/state/service/api.staging.mwc-murata.json"
grep -A3 'type: Ready' "$w/status/mwc-murata.yaml" | grep -q 'reason: DeleteGuard' && ok ||
  bad "the refusal is in the status"
n=$(sed -nE 's/.*would delete ([0-9]+) of.*/\1/p' "$tmp/out" | head -1)
expect_rc "wrong allow count still refused" 1 "$bin" apply --once --allow-delete $((n + 1)) "${S[@]}" "$w/repo"
expect_rc "matching allow count proceeds" 0 "$bin" apply --once --allow-delete "$n" "${S[@]}" "$w/repo"
check "owned service deleted" test ! -f "$w/state/service/api.staging.mwc-murata.json"
check "network deleted" test ! -f "$w/state/network/mwc-murata-staging.json"
check "database orphaned" test -f "$w/state/database/mwc_murata_staging.json"
check "bucket orphaned" test -f "$w/state/bucket/mwc-murata-staging.json"
# Everything deleted or orphaned: the status goes with the tenant.
check "status of a removed tenant removed" test ! -e "$w/status/mwc-murata.yaml"

# ---- an invalid manifest deletes nothing ----
fresh 4
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
n_before=$(state_count)
sed -i 's/tier: basic/tier: platinum/' "$w/repo/tenants/mwc-sequans.yaml"
expect_rc "invalid tenant is held" 1 "$bin" apply --once "${S[@]}" "$w/repo"
expect_out "held with position" '^held     tenant mwc-sequans: tenants/mwc-sequans.yaml:7:9: unknown tier'
check "invalid manifest deleted nothing" test "$(state_count)" -eq "$n_before"
grep -A1 'message: ' "$w/status/mwc-sequans.yaml" >/dev/null
grep -q "path: tenants/mwc-sequans.yaml" "$w/status/mwc-sequans.yaml" &&
  grep -q "line: 7" "$w/status/mwc-sequans.yaml" &&
  grep -q "column: 9" "$w/status/mwc-sequans.yaml" && ok ||
  bad "status carries the error position"
echo 'spec: [' >"$w/repo/platform.yaml"
expect_rc "invalid platform holds all" 1 "$bin" apply --once "${S[@]}" "$w/repo"
check "invalid platform deleted nothing" test "$(state_count)" -eq "$n_before"

# ---- suspend ----
fresh 5
sed -i 's/^  tier: basic/  tier: basic\n  suspend: true/' "$w/repo/tenants/mwc-sequans.yaml"
expect_rc "suspended apply" 0 "$bin" apply --once "${S[@]}" "$w/repo"
check "suspended tenant untouched" test ! -e "$w/state/network/mwc-sequans-staging.json"
check "others applied" test -f "$w/state/network/mwc-murata-staging.json"

# ---- injected transient faults still converge ----
fresh 6
# Five attempts a call leave a 0.3^5 = 0.24% chance that a call gives up;
# with ~70 reads and writes a pass, about one pass in six fails somewhere
# (and the order of draws depends on timing).  Passes repeat, as the
# daemon's resync would: six failing in a row is about 2 in 100,000.
converged=no
for pass_no in 1 2 3 4 5 6; do
  if "$bin" apply --once "${S[@]}" --set local.faultRate=0.3 \
    --set local.seed=$((7 + pass_no)) "$w/repo" >"$tmp/out" 2>&1; then
    converged=yes
    break
  fi
done
[ "$converged" = yes ] && ok || {
  bad "30% transient faults did not converge in 6 passes"
  tail -5 "$tmp/out"
}
expect_rc "converged after faults" 0 "$bin" plan --detailed-exitcode "${S[@]}" "$w/repo"

# ---- an invalid-class failure stops only what depends on it ----
fresh 9
expect_rc "invalid error fails the apply" 1 "$bin" apply --once "${S[@]}" \
  --set local.faultRate=1 --set local.faultClass=invalid --set local.faultOn=writes \
  --set local.faultMatch=service/api.staging.mwc-murata "$w/repo"
expect_out "the service failed" '^failed   service/api.staging.mwc-murata: invalid: injected invalid fault'
expect_out "its route was skipped" '^  skipped  route/api.staging.mwc-murata: waits for service/api.staging.mwc-murata'
expect_out "dependsOn was skipped" '^  skipped  service/web.staging.mwc-murata: '
expect_out "records downstream skipped" '^  skipped  dns_record/api.staging.mwc-murata.public: '
check "the database still applied" test -f "$w/state/database/mwc_murata_staging.json"
check "other tenants applied" test -f "$w/state/service/api.staging.mwc-sequans.json"
check "nothing after the failure" test ! -e "$w/state/route/api.staging.mwc-murata.json"
expect_rc "it recovers once the fault is gone" 0 "$bin" apply --once "${S[@]}" "$w/repo"

# ---- health gates: dependsOn waits for health; a timeout fails ----
fresh 10
"$bin" apply --once "${S[@]}" --set local.healthDelayMs=150 "$w/repo" >"$tmp/out" 2>&1
api_line=$(grep -n 'service/api.staging.mwc-murata done' "$tmp/out" | cut -d: -f1)
web_line=$(grep -n 'service/web.staging.mwc-murata done' "$tmp/out" | cut -d: -f1)
[ -n "$api_line" ] && [ -n "$web_line" ] && [ "$api_line" -lt "$web_line" ] && ok ||
  bad "web (dependsOn api) finished before api was healthy"
fresh 11
expect_rc "health timeout fails" 1 "$bin" apply --once "${S[@]}" \
  --set local.healthDelayMs=60000 --health-timeout 200ms "$w/repo"
expect_out "not healthy" '^failed   service/api.staging.mwc-murata: not healthy within 200 ms'
expect_out "dependents of an unhealthy service skipped" '^  skipped  route/api.staging.mwc-murata'

# ---- the convergence breaker ----
fresh 12
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
for i in 1 2 3 4; do
  sed -i 's/"connection_limit": [0-9]*/"connection_limit": 1/' \
    "$w/state/database/mwc_murata_staging.json"
  "$bin" apply --once "${S[@]}" "$w/repo" >"$tmp/out" 2>&1
done
expect_out "stalled after 3 corrections" '^stalled  database/mwc-murata.staging: connection_limit keeps changing back \(desired 200, observed 1\)'
grep -A2 'type: Stalled' "$w/status/mwc-murata.yaml" | grep -q '"True"' && ok ||
  bad "Stalled condition set"
grep -A4 '^stalled:' "$w/status/mwc-murata.yaml" | tr -d '\n' |
  grep -qE 'id: database/mwc-murata.staging +field: connection_limit +desired: "?200"? +observed: "?1"?' && ok ||
  bad "stalled values in the status"
grep -q '"connection_limit": 1' "$w/state/database/mwc_murata_staging.json" && ok ||
  bad "a stalled resource is left alone"
sed -i 's/tier: standard/tier: premium/' "$w/repo/tenants/mwc-murata.yaml"
expect_rc "a manifest change lifts the breaker" 0 "$bin" apply --once "${S[@]}" "$w/repo"
grep -q '"connection_limit": 500' "$w/state/database/mwc_murata_staging.json" && ok ||
  bad "updated after the manifest changed"

# ---- prune leaves a resource that lost its marker alone ----
fresh 13
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
f=$w/state/route/api.staging.mwc-sequans.json
"$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); del d["marker"]; json.dump(d, open(sys.argv[1],"w"))' "$f"
cp "$f" "$tmp/unmarked"
rm "$w/repo/tenants/mwc-sequans.yaml"
"$bin" apply --once --allow-delete 4 "${S[@]}" "$w/repo" >"$tmp/out" 2>&1
expect_out "unmarked route not pruned" '^conflict route/api.staging.mwc-sequans: not pruned'
cmp -s "$f" "$tmp/unmarked" && ok || bad "unmarked resource changed by prune"
check "marked service pruned" test ! -e "$w/state/service/api.staging.mwc-sequans.json"

# ---- review findings, each reproduced first ----
# An invalid file under another name never prunes the tenant inside it.
fresh 14
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
sed -i 's/maxDeletePercent: 10/maxDeletePercent: 100/' "$w/repo/platform.yaml"
n_before=$(state_count)
mv "$w/repo/tenants/mwc-sequans.yaml" "$w/repo/tenants/sequans.yaml"
expect_rc "renamed invalid file is held" 1 "$bin" apply --once "${S[@]}" "$w/repo"
check "renamed invalid file deleted nothing" test "$(state_count)" -eq "$n_before"
expect_out "its tenant is held" '^held     tenant mwc-sequans: tenants/sequans.yaml:4:9'

# A stateful resource is never replaced under deletionPolicy Orphan.
fresh 15
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
f=$w/state/database/mwc_murata_staging.json
sed -i 's/"name": "mwc_murata_staging"/"name": "renamed_by_hand"/' "$f"
cp "$f" "$tmp/db"
expect_rc "stateful replace refused" 1 "$bin" apply --once "${S[@]}" "$w/repo"
expect_out "explained" '^conflict database/mwc-murata.staging: an immutable attribute differs'
cmp -s "$f" "$tmp/db" && ok || bad "an Orphan database was replaced"

# policies.prune: false deletes nothing and keeps the inventory.
fresh 16
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
sed -i 's/prune: true/prune: false/' "$w/repo/platform.yaml"
sed -i '/- name: web/,$d' "$w/repo/tenants/mwc-murata.yaml"
expect_rc "prune off" 0 "$bin" apply --once "${S[@]}" "$w/repo"
check "prune off keeps the service" test -f "$w/state/service/web.staging.mwc-murata.json"
grep -q 'id: service/web.staging.mwc-murata' "$w/status/mwc-murata.yaml" && ok ||
  bad "prune off keeps it inventoried"
sed -i 's/prune: false/prune: true/' "$w/repo/platform.yaml"
expect_rc "prune back on" 0 "$bin" apply --once --allow-delete 3 "${S[@]}" "$w/repo"
check "then it is pruned" test ! -e "$w/state/service/web.staging.mwc-murata.json"

# An unreadable status file is kept, never replaced by an empty one.
fresh 17
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
sed -i '0,/pruneDelete: false/s//pruneDelete: maybe/' "$w/status/mwc-murata.yaml"
cp "$w/status/mwc-murata.yaml" "$tmp/st"
expect_rc "unreadable status fails" 1 "$bin" apply --once "${S[@]}" "$w/repo"
cmp -s "$w/status/mwc-murata.yaml" "$tmp/st" && ok || bad "unreadable status overwritten"

# What depends on a held, absent resource is skipped, never sent nulls.
fresh 18
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
sed -i 's/driftPolicy: correct/driftPolicy: report/' "$w/repo/platform.yaml"
rm "$w/state/network/mwc-murata-staging.json"
cat >>"$w/repo/tenants/mwc-murata.yaml" <<'YAML'
        - name: worker
          image: registry.pycom.io/pybytes/worker:1
          port: 9000
YAML
"$bin" apply --once "${S[@]}" "$w/repo" >"$tmp/out" 2>&1
expect_out "dependent of a held network skipped" '^skipped  service/worker.staging.mwc-murata: waits for network/mwc-murata.staging, which is held'
check "no service created without its network" test ! -e "$w/state/service/worker.staging.mwc-murata.json"
expect_no_out "a held dependency is not an interrupted pass" 'Interrupted' "$w/status/mwc-murata.yaml"

# A service that was written but never turned healthy is still pruned.
fresh 19
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
cat >>"$w/repo/tenants/mwc-murata.yaml" <<'YAML'
        - name: worker
          image: registry.pycom.io/pybytes/worker:1
          port: 9000
YAML
"$bin" apply --once "${S[@]}" --health-timeout 200ms --set local.healthDelayMs=3600000 "$w/repo" >/dev/null 2>&1
check "unhealthy service exists" test -f "$w/state/service/worker.staging.mwc-murata.json"
sed -i '/- name: worker/,$d' "$w/repo/tenants/mwc-murata.yaml"
expect_rc "removed again" 0 "$bin" apply --once "${S[@]}" "$w/repo"
check "the unhealthy service was pruned" test ! -e "$w/state/service/worker.staging.mwc-murata.json"

# A 251-character alias (a valid DNS name) is stored under a shortened
# file name and converges like any other record.
fresh 20
long=$(printf 'a%.0s' $(seq 60)).$(printf 'b%.0s' $(seq 60)).$(printf 'c%.0s' $(seq 60)).$(printf 'd%.0s' $(seq 60)).example
sed -i "s/          dns:\n            public: true/&/; /name: api/,/public: true/ s/            public: true/            public: true\n            aliases: [$long]/" "$w/repo/tenants/mwc-sequans.yaml"
grep -q "$long" "$w/repo/tenants/mwc-sequans.yaml" && ok || bad "long alias added to the fixture"
expect_rc "long alias applies" 0 "$bin" apply --once "${S[@]}" "$w/repo"
check "stored under a shortened name" test "$(find "$w/state/dns_record" -name 'aaaa*~*.json' | wc -l)" -eq 1
expect_rc "long alias converged" 0 "$bin" plan --detailed-exitcode "${S[@]}" "$w/repo"

# ---- kill -9 at random moments, then a rerun converges ----
fresh 7
RANDOM=42
interrupted=0
for trial in $(seq 1 20); do
  # Every trial has work to do: the services, twelve creates one at a
  # time at 40 ms each (reads go batched, so they no longer take long),
  # well past the latest kill below on any machine.
  rm -rf "$w/state/service"
  "$bin" apply --once --concurrency 1 "${S[@]}" --set local.latencyMs=40 "$w/repo" >/dev/null 2>&1 &
  pid=$!
  sleep "$(printf '0.%03d' $((RANDOM % 400 + 5)))"
  # kill succeeds only on a process still running: an interrupted apply.
  kill -9 "$pid" 2>/dev/null && interrupted=$((interrupted + 1))
  wait "$pid" 2>/dev/null
  # No torn file: every state file parses (one interpreter per trial).
  [ -d "$w/state" ] && find "$w/state" -name '*.json' -print0 | xargs -0 -r "$py" -c '
import json, sys
for f in sys.argv[1:]:
    try:
        json.load(open(f))
    except Exception as e:
        print("torn:", f, e)
        sys.exit(1)' || { [ -d "$w/state" ] && bad "trial $trial: torn state file"; }
done
# At least a quarter of the trials must have killed a run mid-way, or the
# trials prove nothing.
[ "$interrupted" -ge 5 ] && ok || bad "only $interrupted of 20 kills interrupted an apply"
expect_rc "rerun after kills converges" 0 "$bin" apply --once "${S[@]}" "$w/repo"
expect_rc "nothing pending after kills" 0 "$bin" plan --detailed-exitcode "${S[@]}" "$w/repo"
fresh 8
"$bin" apply --once "${S[@]}" "$w/repo" >/dev/null 2>&1
clean=$(find "$w/state" -name '*.json' | sed "s|$w/state/||" | sort)
w=$tmp/w7
after=$(find "$w/state" -name '*.json' | sed "s|$w/state/||" | sort)
[ "$clean" = "$after" ] && ok || bad "kills left duplicates or strays"
leftovers=$(find "$w/state" "$w/status" -name '.*' -type f | wc -l)
[ "$leftovers" -eq 0 ] && ok || bad "kills left $leftovers temp files"

summary scenario
