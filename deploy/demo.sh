#!/usr/bin/env bash
# The quick start: the controller (`tenantd run`) on the embedded local
# provider, reconciling a manifest repository kept in a bare Git remote
# made from deploy/examples/tenants-repo.  The story: the first reconcile;
# a commit moving one tenant to another tier, announced by a signed
# webhook; drift made behind tenantd's back and corrected by the resync;
# then the status commits with git log, and a clean stop on SIGTERM.
# Usage: deploy/demo.sh [path/to/tenantd]
set -euo pipefail

bin=$(realpath "${1:-build/tenantd}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tenantd-demo.XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() {
  printf '$ %s\n' "$*"
  "$@"
}
# until SECONDS CMD...: waits for CMD to succeed.
until_ok() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "demo: timed out waiting for: $*" >&2
      tail -20 "$work/tenantd.log" >&2
      exit 1
    fi
    sleep 0.2
  done
}

# Commits made here do not depend on the user's git configuration.
export GIT_AUTHOR_NAME=operator GIT_AUTHOR_EMAIL=operator@example.com
export GIT_COMMITTER_NAME=operator GIT_COMMITTER_EMAIL=operator@example.com
export GIT_CONFIG_NOSYSTEM=1 HOME="$work"
# Secrets reach tenantd only through the environment.
TENANTD_WEBHOOK_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export TENANTD_WEBHOOK_SECRET

cd "$work"
git init -q --bare -b main tenants.git
git init -q -b main ops
cp -r "$here/examples/tenants-repo/." ops/
git -C ops add -A
git -C ops commit -q -m "Three tenants on the local provider"
git -C ops remote add origin "$work/tenants.git"
git -C ops push -q origin main

step "tenantd validate: the manifests are valid"
run "$bin" validate ops

step "the controller's config (secrets only through environment variables)"
cat >tenantd.yaml <<EOF
source:    {url: file://$work/tenants.git, branch: main, interval: 30s}
cacheDir:  $work/cache
status:    {branch: tenantd/status, push: true}
reconcile: {resync: 5s, concurrency: 8}
http:      {listen: "127.0.0.1:0", webhookSecretEnv: TENANTD_WEBHOOK_SECRET}
log:       {format: logfmt}
providers:
  local:   {type: local, stateDir: $work/local}
EOF
sed 's/^/    /' tenantd.yaml

step "tenantd run: the first reconcile creates everything"
printf '$ %s\n' "$bin run --config tenantd.yaml &"
"$bin" run --config tenantd.yaml 2>tenantd.log &
pid=$!
until_ok 10 grep -q 'msg="tenantd started"' tenantd.log
port=$(sed -n 's/.* port=\([0-9]*\).*/\1/p' tenantd.log | head -1)
api=http://127.0.0.1:$port
until_ok 60 curl -sf "$api/readyz"
run curl -s "$api/readyz"
grep -E 'msg="(tenantd started|pass done|ready)"' tenantd.log | cut -c1-160 |
  sed 's/^/    /'
run curl -s "$api/api/v1/tenants"
echo

step "an operator moves mwc-murata to the premium tier, pushes, and the"
printf '    %s\n' "repository host sends a signed webhook: applied at once"
sed -i 's/tier: standard/tier: premium/' ops/tenants/mwc-murata.yaml
git -C ops commit -q -am "mwc-murata: premium tier"
git -C ops push -q origin main
head=$(git -C ops rev-parse HEAD)
body='{"ref":"refs/heads/main"}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$TENANTD_WEBHOOK_SECRET" |
  sed 's/^.* //')
echo '$ curl -X POST -H "X-Tenantd-Signature: sha256=<HMAC of the body>" \'
printf '    --data %s %s\n' "'$body'" "$api/hooks/generic"
curl -s -X POST -H "X-Tenantd-Signature: sha256=$sig" --data "$body" \
  "$api/hooks/generic" -o /dev/null -w "    HTTP %{http_code}\n"
until_ok 30 sh -c "git --git-dir tenants.git log -1 --format=%B tenantd/status |
  grep -q 'Tenantd-Source: $head'"
grep 'tenant=mwc-murata' tenantd.log | grep 'action=updated' |
  cut -c1-150 | sed 's/^/    /'

step "drift: someone lowers a database's connection limit by hand"
db=local/database/mwc_murata_staging.json
limit=$(grep -o '"connection_limit": [0-9]*' "$db")
sed -i 's/"connection_limit": [0-9]*/"connection_limit": 5/' "$db"
run grep connection_limit "$db"

step "within one resync period (5s) tenantd notices and corrects it"
until_ok 30 grep -q "$limit" "$db"
run grep connection_limit "$db"
until_ok 15 grep -q 'action="drift corrected"' tenantd.log
grep 'action="drift corrected"' tenantd.log | cut -c1-150 | sed 's/^/    /'

step "git log tenantd/status: what tenantd did, one commit per pass"
until_ok 15 sh -c "git --git-dir tenants.git log -1 --format=%B tenantd/status |
  grep -q 'drift corrected'"
git -C ops fetch -q origin tenantd/status refs/notes/tenantd:refs/notes/tenantd
run git -C ops log --format='%h %s%n%b' origin/tenantd/status |
  sed -e 's/^/    /'

step "git log --notes=tenantd main: how each manifest commit was applied"
run git -C ops log --notes=tenantd --format='%h %s%n%N' main | sed -e 's/^/    /'

step "/metrics (Prometheus), an excerpt"
curl -s "$api/metrics" | grep -E '^tenantd_(reconciles_total|drift_corrected_total|managed_resources)' |
  sed 's/^/    /'

step "SIGTERM: tenantd finishes what is in flight and exits"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
tail -2 tenantd.log | cut -c1-120 | sed 's/^/    /'
echo "    exit status $rc"
[ "$rc" -eq 0 ]
