#!/usr/bin/env bash
# make demo: the quick start on the embedded default (the local provider).
#
# Copies the example manifest repository into a scratch directory, then:
# validates it, plans, applies, changes a tenant's tier, makes drift behind
# tenantd's back and lets it correct it, and shows the status it keeps.
# Status commits on a Git branch come with the git source; today status is
# written to a directory.
set -euo pipefail

bin=$(realpath "${1:-build/tenantd}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tenantd-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

cp -r "$here/examples/tenants-repo" "$work/tenants"
cd "$work"
S=(--state-dir "$work/local" --status-dir "$work/status")

step "tenantd validate tenants/"
"$bin" validate tenants

step "tenantd plan: what the first pass would create"
"$bin" plan "${S[@]}" tenants | sed -n '1,20p'
echo "    ..."

step "tenantd apply --once: create everything on the local provider"
"$bin" apply --once "${S[@]}" tenants | tail -6

step "the local provider keeps one JSON file per resource"
find local -name '*.json' | sort | sed -n '1,12p'
echo "    ..."

step "a second plan: nothing to do"
"$bin" plan --detailed-exitcode "${S[@]}" tenants | tail -1

step "mwc-murata moves from the standard to the premium tier"
sed -i 's/tier: standard/tier: premium/' tenants/tenants/mwc-murata.yaml
"$bin" plan "${S[@]}" tenants | grep -A3 'database/mwc-murata' || true
"$bin" apply --once "${S[@]}" tenants | tail -2

step "drift: someone lowers the database's connection limit by hand"
sed -i 's/"connection_limit": 500/"connection_limit": 5/' \
  local/database/mwc_murata_staging.json
"$bin" plan "${S[@]}" tenants | grep -A2 'database/mwc-murata' || true

step "tenantd corrects it"
"$bin" apply --once "${S[@]}" tenants | tail -2
grep connection_limit local/database/mwc_murata_staging.json

step "status of mwc-murata (status/mwc-murata.yaml)"
sed -n '1,40p' status/mwc-murata.yaml

step "next: the git source writes this status as commits on tenantd/status"
