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
# A command's usage errors name the command (they said "tenantd:" alone).
expect_out "unknown option msg" "^tenantd validate: unknown option '--frob'$" "$tmp/err"
expect_out "unknown option hint" "^Try 'tenantd validate --help'.$" "$tmp/err"
expect_rc "missing value" 1 "$bin" validate --format
expect_out "missing value msg" "^tenantd validate: option '--format' needs a value$" "$tmp/err"
expect_rc "bad format" 1 "$bin" validate --format yaml "$example"
expect_out "bad format msg" "unknown format 'yaml'" "$tmp/err"
expect_rc "extra argument" 1 "$bin" validate "$example" extra
expect_out "extra argument msg" "unexpected argument 'extra'" "$tmp/err"
expect_rc "version extra" 1 "$bin" version now

# Arguments as in every GNU tool: options anywhere, "--" ends them,
# abbreviations while unambiguous, "did you mean" for a typo.  (Options
# after the directory used to be refused as "unexpected argument".)
expect_rc "option after the directory" 0 "$bin" validate "$example" --format json
expect_out "option after the directory: json" '"valid": true'
expect_rc "-- ends the options" 0 "$bin" validate --format=json -- "$example"
expect_rc "abbreviated option" 0 "$bin" validate "$example" --form json
expect_out "abbreviation is the option" '"valid": true'
expect_rc "typo in a command" 1 "$bin" valdate "$example"
expect_out "typo in a command: suggestion" \
  "^tenantd: unknown command 'valdate' \(did you mean 'validate'\?\)$" "$tmp/err"
expect_rc "typo in help's command" 1 "$bin" help planx
expect_out "typo in help's command: suggestion" "did you mean 'plan'" "$tmp/err"
expect_rc "typo before the command" 1 "$bin" --versoin
expect_out "typo before the command: suggestion" "did you mean '--version'" "$tmp/err"
expect_rc "typo in an option" 1 "$bin" plan "$example" --formt json
expect_out "typo in an option: suggestion" \
  "^tenantd plan: unknown option '--formt' \(did you mean '--format'\?\)$" "$tmp/err"
expect_rc "ambiguous option" 1 "$bin" plan --stat x "$example"
expect_out "ambiguous option: the candidates" \
  "^tenantd plan: option '--stat' is ambiguous: --state-dir, --status-dir, --status-branch$" "$tmp/err"
expect_rc "value for a flag" 1 "$bin" plan --detailed-exitcode=1 "$example"
expect_out "value for a flag: said" "option '--detailed-exitcode' takes no value" "$tmp/err"
expect_rc "unknown short option" 1 "$bin" graph -x "$example"
expect_out "unknown short option: said" "^tenantd graph: unknown option '-x'$" "$tmp/err"

# Each command takes its own options only (plan and apply shared one
# table: apply --format json printed text, apply --ref was ignored).
for o in "--format json" "--detailed-exitcode" "--ref x" "--base x"; do
  # shellcheck disable=SC2086
  expect_rc "apply refuses $o" 1 "$bin" apply --once "$example" $o
  expect_out "apply refuses $o: named" "^tenantd apply: unknown option '${o%% *}'" "$tmp/err"
done
for o in "--once" "--health-timeout 5s"; do
  # shellcheck disable=SC2086
  expect_rc "plan refuses $o" 1 "$bin" plan "$example" $o
  expect_out "plan refuses $o: named" "^tenantd plan: unknown option '${o%% *}'" "$tmp/err"
done
# An abbreviation that stands for one option says which when its value is
# missing.
expect_rc "plan --allow" 1 "$bin" plan "$example" --allow
expect_out "plan --allow: the option it stands for" \
  "^tenantd plan: option '--allow' \(short for '--allow-delete'\) needs a value$" "$tmp/err"
expect_rc "validate refuses --state-dir" 1 "$bin" validate --state-dir x "$example"
expect_rc "status refuses --state-dir" 1 "$bin" status --repo x --state-dir y
expect_out "status refuses --state-dir: named" "^tenantd status: unknown option '--state-dir'" "$tmp/err"
# --config is read first wherever it stands, so a bad one is reported
# even after the other options, and --help wins over it.
expect_rc "--config after the options" 1 "$bin" plan "$example" --conf "$tmp/nope.yaml"
expect_out "--config abbreviated is still read" "nope.yaml: error: cannot open the config" "$tmp/err"
expect_rc "--help before a bad --config" 0 "$bin" plan --help --config "$tmp/nope.yaml"

# Plan formats and the graph.
S=(--state-dir "$tmp/state" --status-dir "$tmp/status")
expect_rc "plan markdown" 0 "$bin" plan --format markdown "${S[@]}" "$example"
expect_out "markdown heading" '^<summary><b>mwc-murata</b>: 11 to create; <b>\+149/month: new tenant, standard</b></summary>$'
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
expect_out "--max-bytes range" "^tenantd plan: --max-bytes needs a number from 4000 to " "$tmp/err"
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

# run --check validates a config without its secrets: an unset variable
# is a warning naming the key and the variable; --strict requires them,
# and so does a real run.
cat >"$tmp/secrets.yaml" <<'EOF'
source: {url: file:///srv/tenants.git}
http: {apiTokenEnv: TD_CLI_TOKEN}
providers: {local: {type: local, stateDir: /tmp/unused}}
EOF
unset TD_CLI_TOKEN
expect_rc "run --check without the secrets" 0 "$bin" run --check --config "$tmp/secrets.yaml"
expect_out "run --check: valid" 'secrets.yaml: valid \(1 provider instance\)$'
expect_out "run --check: the variable named" \
  "secrets.yaml:2:21: warning: 'apiTokenEnv': environment variable TD_CLI_TOKEN is not set" "$tmp/err"
expect_rc "run --check --strict without the secrets" 1 "$bin" run --check --strict --config "$tmp/secrets.yaml"
expect_out "run --check --strict: an error" \
  "secrets.yaml:2:21: error: 'apiTokenEnv': environment variable TD_CLI_TOKEN is not set" "$tmp/err"
expect_rc "run without the secrets" 1 timeout 20 "$bin" run --config "$tmp/secrets.yaml"
expect_out "run: the variable named" "TD_CLI_TOKEN is not set" "$tmp/err"
expect_rc "run --strict alone" 1 "$bin" run --strict --config "$tmp/secrets.yaml"
TD_CLI_TOKEN=cli-token-value expect_rc "run --check --strict with the secrets" 0 \
  "$bin" run --check --strict --config "$tmp/secrets.yaml"
expect_no_out "run --check: no secret value shown" 'cli-token-value'
expect_no_out "run --check: no secret value on stderr" 'cli-token-value' "$tmp/err"
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
expect_out "version commit" '^commit   ([0-9a-f]{12}(-dirty)?|unknown)$'
expect_out "version date, UTC" '^built    [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
for lib in libgit2 libuv libcurl libyaml jansson; do
  expect_out "version of $lib" "^$lib +[0-9]+\.[0-9]+"
done
expect_rc "--version" 0 "$bin" --version
expect_out "--version is version" '^built    '
expect_rc "version help" 0 "$bin" version --help
expect_rc "version json" 0 "$bin" version --format json
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert set(d) == {"version","commit","built","libraries"}, d; assert sorted(d["libraries"]) == ["jansson","libcurl","libgit2","libuv","libyaml"], d; assert all(d["libraries"].values())' \
    "$tmp/out" && ok || bad "version json content"
fi
expect_rc "--version json" 0 "$bin" --version --format json
expect_out "--version json body" '"libraries"'

summary cli
