#!/usr/bin/env bash
# make demo: the quick start on the embedded default (the local provider).
#
# Today tenantd validates manifests; reconciliation comes next.  The demo
# copies the example repository into a scratch directory, validates it,
# breaks one tenant the way a pull request might, and shows what validate
# reports.
set -euo pipefail

bin=$(realpath "${1:-build/tenantd}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tenantd-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

cp -r "$here/examples/tenants-repo" "$work/tenants"
cd "$work/tenants"

step "tenantd version"
"$bin" version

step "the example repository: platform, tier catalog, three tenants"
find . -name '*.yaml' | sort

step "tenantd validate ."
"$bin" validate .

step "a pull request that bumps mwc-sequans to a tier that does not exist,"
echo "    reuses mwc-murata's network and misspells a field"
sed -i 's/tier: basic/tier: platinum/; s/10.21.0.0/10.20.0.0/; s/owner:/ownr:/' \
  tenants/mwc-sequans.yaml
step "tenantd validate . (exit status 1, every problem at once)"
if "$bin" validate .; then
  echo "demo: expected validate to fail" >&2
  exit 1
fi

step "the same as JSON, for CI annotations"
"$bin" validate --format json . || true

step "next: reconcile (tenantd plan / apply) and status commits in git log"
echo "See the README for what tenantd does next."
