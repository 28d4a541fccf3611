#!/usr/bin/env bash
# CLI behaviour of tenantd: exit codes, usage errors, help, output formats.
# Usage: tests/cli/run.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
example=$root/deploy/examples/tenants-repo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"

expect_rc "valid example" 0 "$bin" validate "$example"
expect_out "valid summary" '^.*tenants-repo: valid \(3 tenants\)$'
expect_rc "valid json" 0 "$bin" validate --format json "$example"
expect_out "valid json body" '"valid": true'

if (cd "$example" && "$bin" validate >"$tmp/out" 2>&1); then ok; else
  bad "default dir is ."; fi

# An invalid repository: every problem, one per line, relative paths.
cp -r "$example" "$tmp/repo"
cat >"$tmp/repo/tenants/bad.yaml" <<'EOF'
apiVersion: tenantd.io/v1
kind: Tenant
metadata:
  name: bad
spec:
  tire: premium
  environments:
    - name: staging
      network: {cidr: 10.99.0.0/16}
      apps:
        - {name: api, image: x, port: "80"}
EOF
expect_rc "invalid repo" 1 "$bin" validate "$tmp/repo"
expect_out "unknown field" \
  "^tenants/bad.yaml:6:3: error: unknown field 'tire' \(did you mean 'tier'\?\)$" "$tmp/err"
expect_out "missing tier" \
  "^tenants/bad.yaml:6:3: error: missing required field 'tier' in spec$" "$tmp/err"
expect_out "wrong type" \
  "^tenants/bad.yaml:11:39: error: 'port' must be an integer, not a string$" "$tmp/err"
[ "$(wc -l <"$tmp/err")" -eq 3 ] && ok || {
  bad "invalid repo: want 3 lines"; cat "$tmp/err"; }

expect_rc "invalid json" 1 "$bin" validate --format json "$tmp/repo"
expect_out "json valid false" '"valid": false'
expect_out "json error" '"file": "tenants/bad.yaml"'
expect_out "json line" '"line": 11'
expect_out "json column" '"column": 39'
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["errors"])==3' \
    "$tmp/out" && ok || bad "json parse"
fi

expect_rc "missing dir" 1 "$bin" validate "$tmp/nope"
expect_out "missing dir message" "^tenantd: cannot read $tmp/nope: " "$tmp/err"
mkdir "$tmp/empty"
expect_rc "empty dir" 1 "$bin" validate "$tmp/empty"
expect_out "no platform" \
  '^platform.yaml: error: missing: every manifest repository needs a platform.yaml$' "$tmp/err"

# Usage errors: exit 1 with a hint, never a crash.
expect_rc "no args" 1 "$bin"
expect_out "no args usage" '^Usage: tenantd <command>' "$tmp/err"
expect_rc "unknown command" 1 "$bin" frobnicate
expect_out "unknown command msg" "^tenantd: unknown command 'frobnicate'$" "$tmp/err"
expect_rc "unknown top option" 1 "$bin" --frob
expect_out "unknown top option msg" "^tenantd: unknown option '--frob'$" "$tmp/err"
expect_rc "unknown option" 1 "$bin" validate --frob "$example"
expect_out "unknown option msg" "^tenantd: unknown option '--frob'$" "$tmp/err"
expect_out "unknown option hint" "^Try 'tenantd validate --help'.$" "$tmp/err"
expect_rc "missing value" 1 "$bin" validate --format
expect_out "missing value msg" "^tenantd: option '--format' needs a value$" "$tmp/err"
expect_rc "bad format" 1 "$bin" validate --format yaml "$example"
expect_out "bad format msg" "unknown format 'yaml'" "$tmp/err"
expect_rc "extra argument" 1 "$bin" validate "$example" extra
expect_out "extra argument msg" "unexpected argument 'extra'" "$tmp/err"
expect_rc "version extra" 1 "$bin" version now

# Plan formats and the graph.
S=(--state-dir "$tmp/state" --status-dir "$tmp/status")
expect_rc "plan markdown" 0 "$bin" plan --format markdown "${S[@]}" "$example"
expect_out "markdown heading" '^<summary><b>mwc-murata</b>: 11 to create</summary>$'
expect_out "markdown diff block" '^```diff$'
expect_rc "plan json" 0 "$bin" plan --format json "${S[@]}" "$example"
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=[x for x in d["tenants"] if x["tenant"]=="mwc-murata"][0]; assert t["pending"]==11, t["pending"]; assert d["refused"] is False' \
    "$tmp/out" && ok || bad "plan json content"
fi
# After an apply every action is a no-op: the JSON lists none of them (and
# a sanitizer build checks that skipping them frees what it made).
expect_rc "apply for a no-op plan" 0 "$bin" apply --once "${S[@]}" "$example"
expect_rc "plan json of no-ops" 0 "$bin" plan --format json "${S[@]}" "$example"
expect_out "no actions listed" '"actions": \[\]'
# apply's summary says what it adopted: resources a pass made whose
# statuses were lost are taken back into the inventory.
rm -rf "$tmp/status"
expect_rc "apply after the statuses were lost" 0 "$bin" apply --once "${S[@]}" "$example"
expect_out "adopted in the summary" \
  '^3 tenants: 0 changed, 0 failed, 0 skipped, 0 conflicts, 0 stalled, 0 held, 29 adopted$'
# Markdown in parts of at most --max-bytes bytes, for comment limits.
F=(--state-dir "$tmp/fresh-state" --status-dir "$tmp/fresh-status")
expect_rc "plan --max-bytes" 0 "$bin" plan --format markdown --max-bytes 4000 "${F[@]}" "$example"
expect_out "markdown in parts" '^<!-- tenantd plan part 1/[2-9] -->$'
eq "every part within --max-bytes" "$(awk '/^<!-- tenantd plan part/ { if (n > 4000) big++; n = 0 }
  { n += length($0) + 1 } END { if (n > 4000) big++; print big + 0 }' "$tmp/out")" 0
expect_rc "plan without --max-bytes: one part" 0 "$bin" plan --format markdown "${F[@]}" "$example"
expect_no_out "one part" 'tenantd plan part'
expect_rc "--max-bytes too small" 1 "$bin" plan --format markdown --max-bytes 100 "$example"
expect_out "--max-bytes range" "^tenantd: --max-bytes needs a number from 4000 to " "$tmp/err"
expect_rc "plan bad format" 1 "$bin" plan --format yaml "$example"
# --changed and --all select among a Git repository's tenants.
expect_rc "--changed needs --repo" 1 "$bin" apply --once --changed "${S[@]}" "$example"
expect_out "--changed needs --repo: said" 'need --repo' "$tmp/err"
expect_rc "--all and --changed" 1 "$bin" apply --once --all --changed --repo "file://$tmp/none.git"
expect_out "--all and --changed: said" 'not both' "$tmp/err"
expect_rc "--changed with --ref" 1 "$bin" plan --changed --ref x --repo "file://$tmp/none.git"
expect_rc "status --state unknown" 1 "$bin" status --repo "file://$tmp/none.git" --state Readdy
expect_out "status --state suggests" "unknown state 'Readdy' \(did you mean 'Ready'\?\)" "$tmp/err"
expect_rc "apply needs --once" 1 "$bin" apply "${S[@]}" "$example"
expect_out "apply --once hint" "apply needs --once" "$tmp/err"
expect_rc "bad --set" 1 "$bin" plan --set latency=3 "$example"
expect_rc "bad local option" 1 "$bin" plan --set local.latencyMS=3 "${S[@]}" "$example"
expect_out "bad local option message" "unknown option 'latencyMS'" "$tmp/err"
expect_rc "bad concurrency" 1 "$bin" apply --once --concurrency 0 "$example"
expect_rc "graph" 0 "$bin" graph "$example"
expect_out "graph is DOT" '^digraph tenantd \{$'
expect_out "graph edge" '"service/api.staging.mwc-murata" -> "service/web.staging.mwc-murata";'
expect_rc "graph invalid repo" 1 "$bin" graph "$tmp/repo"
expect_rc "plan help" 0 "$bin" plan --help
expect_out "plan help: --changed" '^  --changed '
expect_rc "apply help" 0 "$bin" apply --help
expect_out "apply help: every tenant" 'Reconciles every tenant once'
expect_rc "status help" 0 "$bin" status --help
expect_out "status help: the states" 'AwaitingFirstReconcile'
expect_rc "graph help" 0 "$bin" graph --help

# From Git, the reproductions of what operators expect: apply and plan
# mean every tenant, status shows a state per tenant, log names tenants.
example_remote "$tmp/g"
G=(--repo "$R" --cache-dir "$tmp/g/cache")
GS=("${G[@]}" --state-dir "$tmp/g/state")
expect_rc "git: status before any apply" 0 "$bin" status "${G[@]}"
expect_out "git: each tenant awaits its first reconcile" '^mwc-murata +AwaitingFirstReconcile +- +- '
expect_out "git: no status yet, said" 'no status yet: tenantd has not written to tenantd/status' "$tmp/err"
expect_rc "git: apply" 0 "$bin" apply --once "${GS[@]}"
db=$tmp/g/state/database/mwc_murata_staging.json
sed -i 's/"connection_limit": [0-9]*/"connection_limit": 3/' "$db"
expect_rc "git: plan sees drift" 2 "$bin" plan "${GS[@]}" --detailed-exitcode
expect_out "git: plan marks it" 'database/mwc-murata.staging +\(drift\)'
expect_rc "git: apply corrects drift" 0 "$bin" apply --once "${GS[@]}"
grep -q '"connection_limit": 200,' "$db" && ok || bad "git: apply left the drift"
expect_rc "git: status" 0 "$bin" status "${G[@]}"
expect_out "git: a state per tenant" '^mwc-murata +Ready +[0-9a-f]{12} '
expect_rc "git: log of a misspelt tenant" 1 "$bin" log "${G[@]}" mwc-murat
expect_out "git: log suggests" "did you mean 'mwc-murata'" "$tmp/err"

# Help and version.
expect_rc "help" 0 "$bin" --help
expect_out "help lists validate" '^  validate '
expect_rc "help -h" 0 "$bin" -h
expect_rc "help command" 0 "$bin" help validate
expect_out "help command body" '^Usage: tenantd validate'
expect_rc "validate help" 0 "$bin" validate --help
expect_out "validate help body" 'path:line:col: error: message'
expect_rc "version" 0 "$bin" version
expect_out "version body" '^tenantd [0-9]+\.[0-9]+\.[0-9]+'
expect_rc "--version" 0 "$bin" --version
expect_rc "version help" 0 "$bin" version --help

summary cli
