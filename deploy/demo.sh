#!/usr/bin/env bash
# make demo: the quick start on the embedded default (the local provider).
#
# Makes a Git repository from the example manifests (a bare "remote" and a
# working clone an operator pushes from), then lets tenantd reconcile it:
# first pass, a commit moving one tenant to another tier, drift made behind
# tenantd's back and corrected, and shows the status commits with git log.
set -euo pipefail

bin=$(realpath "${1:-build/tenantd}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tenantd-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() {
  printf '$ %s\n' "$*"
  "$@"
}

# Commits made here do not depend on the user's git configuration.
export GIT_AUTHOR_NAME=operator GIT_AUTHOR_EMAIL=operator@example.com
export GIT_COMMITTER_NAME=operator GIT_COMMITTER_EMAIL=operator@example.com
export GIT_CONFIG_NOSYSTEM=1 HOME="$work"

cd "$work"
git init -q --bare -b main tenants.git
git init -q -b main ops
cp -r "$here/examples/tenants-repo/." ops/
git -C ops add -A
git -C ops commit -q -m "Three tenants on the local provider"
git -C ops remote add origin "$work/tenants.git"
git -C ops push -q origin main
tenantd=("$bin" apply --once --repo "file://$work/tenants.git"
  --cache-dir "$work/cache" --state-dir "$work/local")

step "tenantd validate: the manifests are valid"
run "$bin" validate ops

step "tenantd apply --once --repo: the first pass creates everything"
"${tenantd[@]}" | tail -3

step "the local provider keeps one JSON file per resource"
find local -name '*.json' | sort | sed -n '1,8p'
echo "    ..."

step "a second pass with nothing new commits nothing"
"${tenantd[@]}" | tail -1

step "an operator moves mwc-murata to the premium tier and pushes"
sed -i 's/tier: standard/tier: premium/' ops/tenants/mwc-murata.yaml
git -C ops commit -q -am "mwc-murata: premium tier"
git -C ops push -q origin main
"${tenantd[@]}" | tail -3

step "drift: someone lowers the database's connection limit by hand"
sed -i 's/"connection_limit": 500/"connection_limit": 5/' \
  local/database/mwc_murata_staging.json
grep connection_limit local/database/mwc_murata_staging.json

step "tenantd apply --once --all checks every tenant and corrects it"
"${tenantd[@]}" --all | tail -3
grep connection_limit local/database/mwc_murata_staging.json

step "git log tenantd/status: what tenantd did, one commit per pass"
git -C ops fetch -q origin tenantd/status refs/notes/tenantd:refs/notes/tenantd
run git -C ops log --format='%h %s%n%b' origin/tenantd/status | sed -e 's/^/    /'

step "git log --notes=tenantd main: how each manifest commit was applied"
run git -C ops log --notes=tenantd --format='%h %s%n%N' main | sed -e 's/^/    /'

step "tenantd status"
run "$bin" status --repo "file://$work/tenants.git" --cache-dir "$work/cache"
