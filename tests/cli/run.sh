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
pass=0
fail=0

# check NAME WANT_RC CMD...: runs CMD, keeps stdout/stderr in $tmp/out, err.
check() {
  local name=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then
    pass=$((pass + 1))
    return 0
  fi
  fail=$((fail + 1))
  echo "FAIL $name: exit $rc, want $want"
  sed 's/^/  stdout: /' "$tmp/out" | head -5
  sed 's/^/  stderr: /' "$tmp/err" | head -5
  return 1
}

# expect NAME FILE PATTERN: FILE ($tmp/out or $tmp/err) matches PATTERN.
expect() {
  if grep -qE -- "$3" "$2"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $1: $(basename "$2") does not match: $3"
    sed 's/^/  /' "$2" | head -5
  fi
}

check "valid example" 0 "$bin" validate "$example"
expect "valid summary" "$tmp/out" '^.*tenants-repo: valid \(3 tenants\)$'
check "valid json" 0 "$bin" validate --format json "$example"
expect "valid json body" "$tmp/out" '"valid": true'

(cd "$example" && "$bin" validate >"$tmp/out" 2>&1)
if [ $? -eq 0 ]; then pass=$((pass + 1)); else
  fail=$((fail + 1)); echo "FAIL default dir is ."; fi

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
check "invalid repo" 1 "$bin" validate "$tmp/repo"
expect "unknown field" "$tmp/err" \
  "^tenants/bad.yaml:6:3: error: unknown field 'tire' \(did you mean 'tier'\?\)$"
expect "missing tier" "$tmp/err" \
  "^tenants/bad.yaml:6:3: error: missing required field 'tier' in spec$"
expect "wrong type" "$tmp/err" \
  "^tenants/bad.yaml:11:39: error: 'port' must be an integer, not a string$"
[ "$(wc -l <"$tmp/err")" -eq 3 ] && pass=$((pass + 1)) || {
  fail=$((fail + 1)); echo "FAIL invalid repo: want 3 lines"; cat "$tmp/err"; }

check "invalid json" 1 "$bin" validate --format json "$tmp/repo"
expect "json valid false" "$tmp/out" '"valid": false'
expect "json error" "$tmp/out" '"file": "tenants/bad.yaml"'
expect "json line" "$tmp/out" '"line": 11'
expect "json column" "$tmp/out" '"column": 39'
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["errors"])==3' \
    "$tmp/out" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL json parse"; }
fi

check "missing dir" 1 "$bin" validate "$tmp/nope"
expect "missing dir message" "$tmp/err" "^tenantd: cannot read $tmp/nope: "
mkdir "$tmp/empty"
check "empty dir" 1 "$bin" validate "$tmp/empty"
expect "no platform" "$tmp/err" \
  '^platform.yaml: error: missing: every manifest repository needs a platform.yaml$'

# Usage errors: exit 1 with a hint, never a crash.
check "no args" 1 "$bin"
expect "no args usage" "$tmp/err" '^Usage: tenantd <command>'
check "unknown command" 1 "$bin" frobnicate
expect "unknown command msg" "$tmp/err" "^tenantd: unknown command 'frobnicate'$"
check "unknown top option" 1 "$bin" --frob
expect "unknown top option msg" "$tmp/err" "^tenantd: unknown option '--frob'$"
check "unknown option" 1 "$bin" validate --frob "$example"
expect "unknown option msg" "$tmp/err" "^tenantd: unknown option '--frob'$"
expect "unknown option hint" "$tmp/err" "^Try 'tenantd validate --help'.$"
check "missing value" 1 "$bin" validate --format
expect "missing value msg" "$tmp/err" "^tenantd: option '--format' needs a value$"
check "bad format" 1 "$bin" validate --format yaml "$example"
expect "bad format msg" "$tmp/err" "unknown format 'yaml'"
check "extra argument" 1 "$bin" validate "$example" extra
expect "extra argument msg" "$tmp/err" "unexpected argument 'extra'"
check "version extra" 1 "$bin" version now

# Plan formats and the graph.
S=(--state-dir "$tmp/state" --status-dir "$tmp/status")
check "plan markdown" 0 "$bin" plan --format markdown "${S[@]}" "$example"
expect "markdown heading" "$tmp/out" '^<summary><b>mwc-murata</b>: 11 to create</summary>$'
expect "markdown diff block" "$tmp/out" '^```diff$'
check "plan json" 0 "$bin" plan --format json "${S[@]}" "$example"
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=[x for x in d["tenants"] if x["tenant"]=="mwc-murata"][0]; assert t["pending"]==11, t["pending"]; assert d["refused"] is False' \
    "$tmp/out" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL plan json content"; }
fi
# After an apply every action is a no-op: the JSON lists none of them (and
# a sanitizer build checks that skipping them frees what it made).
check "apply for a no-op plan" 0 "$bin" apply --once "${S[@]}" "$example"
check "plan json of no-ops" 0 "$bin" plan --format json "${S[@]}" "$example"
expect "no actions listed" "$tmp/out" '"actions": \[\]'
check "plan bad format" 1 "$bin" plan --format yaml "$example"
check "apply needs --once" 1 "$bin" apply "${S[@]}" "$example"
expect "apply --once hint" "$tmp/err" "apply needs --once"
check "bad --set" 1 "$bin" plan --set latency=3 "$example"
check "bad local option" 1 "$bin" plan --set local.latencyMS=3 "${S[@]}" "$example"
expect "bad local option message" "$tmp/err" "unknown option 'latencyMS'"
check "bad concurrency" 1 "$bin" apply --once --concurrency 0 "$example"
check "graph" 0 "$bin" graph "$example"
expect "graph is DOT" "$tmp/out" '^digraph tenantd \{$'
expect "graph edge" "$tmp/out" '"service/api.staging.mwc-murata" -> "service/web.staging.mwc-murata";'
check "graph invalid repo" 1 "$bin" graph "$tmp/repo"
check "plan help" 0 "$bin" plan --help
check "apply help" 0 "$bin" apply --help
check "graph help" 0 "$bin" graph --help

# Help and version.
check "help" 0 "$bin" --help
expect "help lists validate" "$tmp/out" '^  validate '
check "help -h" 0 "$bin" -h
check "help command" 0 "$bin" help validate
expect "help command body" "$tmp/out" '^Usage: tenantd validate'
check "validate help" 0 "$bin" validate --help
expect "validate help body" "$tmp/out" 'path:line:col: error: message'
check "version" 0 "$bin" version
expect "version body" "$tmp/out" '^tenantd [0-9]+\.[0-9]+\.[0-9]+'
check "--version" 0 "$bin" --version
check "version help" 0 "$bin" version --help

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
