#!/usr/bin/env bash
# Trust end to end: signed sources (source.verify) and approvals for
# gated environments (approval), with ssh and OpenPGP keys made here, a
# real bare remote and the local provider; through `tenantd apply --once`,
# `tenantd plan` and the daemon (`tenantd run` with webhooks).
#  - an unsigned tip is held: every tenant SourceUntrusted, nothing
#    changed or deleted; signed by an unknown key, held; a bad signature,
#    held; signed by a trusted key, applied; a force-push to an unsigned
#    commit, held; a missing keys file, held and named;
#  - a forged Approved-by trailer approves nothing (in a commit signed by
#    a committer, and unsigned without source.verify), nor an unsigned,
#    lightweight or wrongly signed tag; staging proceeds while production
#    waits (AwaitingApproval); approval by a signed tag and by a signed
#    commit; a tag deleted at the remote approves nothing more; drift in
#    production is corrected without approval;
#  - plans say it: the head's signature, "needs approval", who approves;
#  - the daemon: /readyz stays ready while untrusted, the metric counts
#    it, an approval tag pushed later applies production on the webhook;
#  - status commits signed with status.signingKey verify with git; a
#    key that cannot sign fails the pass rather than commit unsigned.
# Usage: tests/trust/run.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
cleanup_on_exit


export TENANTD_WEBHOOK_SECRET=hook-secret-for-trust
k=$tmp/keys
mkdir -p "$k"

# ---- keys: alice commits, carol approves, mallory is nobody ----
for who in alice carol mallory; do
  ssh-keygen -q -t ed25519 -N '' -C "$who" -f "$k/$who"
done
echo "alice@example.com $(cut -d' ' -f1,2 "$k/alice.pub")" >"$k/committers"
echo "carol@example.com $(cut -d' ' -f1,2 "$k/carol.pub")" >>"$k/committers"
echo "carol@example.com $(cut -d' ' -f1,2 "$k/carol.pub")" >"$k/approvers"
fp() { ssh-keygen -lf "$k/$1.pub" | awk '{print $2}'; }
re() { printf '%s' "$1" | sed 's/[][\\.*^$+?(){}|]/\\&/g'; }

# Git as each signer: `as alice commit -S ...`.
as() {
  local who=$1
  shift
  git -c gpg.format=ssh -c "user.signingkey=$k/$who" "$@"
}

# ---- a world: remote, clone, config ----

# fresh NAME [EXTRA-CONFIG [noverify]]: $d, $R, $W and $d/tenantd.yaml
# (with source.verify by the committers' keys unless "noverify"); the
# first commit of the example is signed by alice.
fresh() {
  d=$tmp/$1
  R=$d/remote.git
  W=$d/wc
  mkdir -p "$d"
  git init -q --bare -b main "$R"
  git clone -q "$R" "$W" 2>/dev/null
  git -C "$W" checkout -q -b main 2>/dev/null
  cp -r "$root/deploy/examples/tenants-repo"/. "$W"/
  git -C "$W" add -A
  as alice -C "$W" commit -q -S -m "Tenants of the example"
  git -C "$W" push -q origin main
  local verify=", verify: {format: ssh, keys: $k/committers}"
  [ "${3:-}" != noverify ] || verify=""
  cat >"$d/tenantd.yaml" <<EOF
source: {url: file://$R, branch: main, interval: 1h$verify}
cacheDir: $d/cache
status: {branch: tenantd/status, push: true}
reconcile: {resync: 1h, backoff: {base: 1s, max: 2s}}
http: {listen: "127.0.0.1:0", webhookSecretEnv: TENANTD_WEBHOOK_SECRET}
providers:
  local: {type: local, stateDir: $d/state}
${2:-}
EOF
}
rgit() { git --git-dir "$R" "$@"; }
apply() { "$bin" apply --once --config "$d/tenantd.yaml" "$@"; }
plan() { "$bin" plan --config "$d/tenantd.yaml" "$@"; }
status_of() { rgit show "tenantd/status:status/$1.yaml"; }
state_sum() { find "$d/state" -type f -name '*.json' | sort | xargs cat | md5sum; }
# image TENANT ENV-INDEX IMAGE: sets the image of an app (the n-th
# "image:" line of the tenant's file, from 1).
image() {
  awk -v n="$2" -v img="$3" '/^ *image: / { c++; if (c == n) {
      sub(/image: .*/, "image: " img) } } { print }' \
    "$W/tenants/$1.yaml" >"$W/tenants/$1.yaml.new"
  mv "$W/tenants/$1.yaml.new" "$W/tenants/$1.yaml"
}
svc_image() { # APP.ENV.TENANT: the image the local provider runs
  cat "$d/state/service/$1.json" 2>/dev/null | tr ',' '\n' |
    sed -n 's/.*"image": *"\([^"]*\)".*/\1/p' | head -1
}

# ==== signed source: apply --once ====

fresh cli
expect_rc "run --check: the keys files read" 0 "$bin" run --check --config "$d/tenantd.yaml"
expect_out "run --check: names the signers" 'source.verify: ssh signers: .*alice@example.com'
expect_rc "signed: the first commit applies" 0 apply
expect_out "signed: resources created" 'create +network/'

status_of mwc-murata >"$tmp/out"
expect_out "signed: status says Verified" 'type: SourceUntrusted'
expect_out "signed: not untrusted" 'reason: Verified'
before=$(state_sum)

# An unsigned commit that would delete a tenant and change another.
git -C "$W" rm -q tenants/mwc-sequans.yaml
sed -i 's/tier: standard/tier: premium/' "$W/tenants/mwc-murata.yaml"
git -C "$W" commit -q -am "unsigned: drop sequans, grow murata"
git -C "$W" push -q origin main
unsigned=$(git -C "$W" rev-parse HEAD)
expect_rc "unsigned: held, exit 1" 1 apply
expect_out "unsigned: every tenant held" 'held +tenant greenwood-high: source untrusted'
expect_out "unsigned: names the commit" "source untrusted: commit ${unsigned:0:12}: not signed"
eq "unsigned: nothing changed or deleted" "$(state_sum)" "$before"
for t in greenwood-high mwc-murata mwc-sequans; do
  status_of $t >"$tmp/out"
  expect_out "unsigned: $t SourceUntrusted" '^  - type: SourceUntrusted
'
  expect_out "unsigned: $t Ready False for it" 'reason: SourceUntrusted'
  expect_out "unsigned: $t message" "message: \"?source untrusted: commit ${unsigned:0:12}: not signed"
done
awk '/type: SourceUntrusted/{f=1} f && /status:/{print; exit}' <(status_of mwc-sequans) >"$tmp/out"
expect_out "unsigned: the condition is True" '"True"'
check "unsigned: sequans's status kept (not pruned)" status_of mwc-sequans
"$bin" status --repo "file://$R" --cache-dir "$d/view" >"$tmp/out" 2>&1
expect_out "unsigned: tenantd status shows SourceUntrusted" 'mwc-murata +SourceUntrusted'
rgit fetch -q . 2>/dev/null
git --git-dir "$R" log -1 --format=%B tenantd/status >"$tmp/out"
expect_out "unsigned: status commit says held" '^Tenantd-Result: held'
expect_out "unsigned: and why" 'held: source untrusted'
git --git-dir "$R" notes --ref=tenantd show "$unsigned" >"$tmp/out" 2>&1
expect_out "unsigned: the note says it" 'mwc-murata: held, source untrusted: commit'

# plan of the tip and of a ref: the same verdict.
expect_rc "unsigned: plan runs" 0 plan --repo "file://$R" --config "$d/tenantd.yaml"
expect_out "unsigned: plan holds" 'held, nothing changes: source untrusted'
expect_out "unsigned: plan header" 'head commit: not signed'
git -C "$W" checkout -q -b feature
echo "# note" >>"$W/tenants/mwc-murata.yaml"
git -C "$W" commit -q -am "unsigned feature"
git -C "$W" push -q origin feature
expect_rc "plan --ref unsigned: gate fails" 1 plan --ref feature --format markdown
expect_out "plan --ref unsigned: held" 'source untrusted'
expect_out "plan --ref unsigned: header says not signed" 'Head commit: not signed'
as alice -C "$W" commit -q -S --amend -m "signed feature"
git -C "$W" push -q -f origin feature
expect_rc "plan --ref signed: gate passes" 0 plan --ref feature --format markdown
expect_out "plan --ref signed: header names the signer" "Head commit: signed by alice@example.com \\($(re "$(fp alice)")\\)"
git -C "$W" checkout -q main

# Signed by mallory (unknown): held, with mallory's fingerprint.
as mallory -C "$W" commit -q -S --allow-empty -m "mallory"
git -C "$W" push -q origin main
expect_rc "unknown key: held" 1 apply
expect_out "unknown key: names the key" "signed by $(re "$(fp mallory)"), a key not in $k/committers"
eq "unknown key: nothing changed" "$(state_sum)" "$before"

# A bad signature: alice's signature over another message.
git -C "$W" reset -q --hard "$unsigned"
as alice -C "$W" commit -q -S --allow-empty -m "alice signed this"
forged=$(git -C "$W" cat-file commit HEAD | sed 's/alice signed this/alice signed that/' |
  git -C "$W" hash-object -t commit -w --stdin)
git -C "$W" reset -q --hard "$forged"
git -C "$W" push -q -f origin main
expect_rc "bad signature: held" 1 apply
expect_out "bad signature: says so" 'bad signature claiming alice@example.com'
eq "bad signature: nothing changed" "$(state_sum)" "$before"

# The same change signed by alice: applied, sequans pruned as asked.
as alice -C "$W" commit -q -S --allow-empty -m "alice signs off

Tenantd-Allow-Delete: 5"
git -C "$W" push -q origin main
good=$(git -C "$W" rev-parse HEAD)
expect_rc "trusted: applied" 0 apply
expect_out "trusted: murata updated" 'update +database/mwc-murata.staging'
status_of mwc-murata >"$tmp/out"
expect_out "trusted: source is the signed commit" "^source: \"?$good"
expect_out "trusted: Verified again" 'reason: Verified'
after=$(state_sum)

# A force-push back to an unsigned commit: held again, nothing undone.
git -C "$W" reset -q --hard "$unsigned"
git -C "$W" push -q -f origin main
expect_rc "force-push unsigned: held" 1 apply
expect_out "force-push unsigned: says why" "commit ${unsigned:0:12}: not signed"
eq "force-push unsigned: nothing changed" "$(state_sum)" "$after"

# The keys file gone: held, naming the file; nothing deleted.
mv "$k/committers" "$k/committers.away"
git -C "$W" reset -q --hard "$good"
git -C "$W" push -q -f origin main
expect_rc "keys missing: held" 1 apply
expect_out "keys missing: names the file" "keys file $k/committers"
eq "keys missing: nothing changed" "$(state_sum)" "$after"
mv "$k/committers.away" "$k/committers"
expect_rc "keys back: applied" 0 apply

# An OpenPGP keyring instead: a commit signed with gpg.
export GNUPGHOME=$tmp/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'Dave <dave@example.com>' ed25519 sign never >/dev/null 2>&1
gpg --batch --passphrase '' --quick-gen-key 'Eve <eve@example.com>' ed25519 sign never >/dev/null 2>&1
gpg --armor --export dave@example.com >"$k/dave.asc"
dave=$(gpg --with-colons --list-keys dave@example.com | awk -F: '/^fpr/ {print $10; exit}')
sed -i "s|verify: {format: ssh, keys: $k/committers}|verify: {format: openpgp, keys: $k/dave.asc}|" "$d/tenantd.yaml"
grep -q "format: openpgp" "$d/tenantd.yaml" || bad "openpgp: config not rewritten"
git -C "$W" -c user.signingkey=dave@example.com commit -q -S --allow-empty -m "dave signs"
git -C "$W" push -q origin main
expect_rc "openpgp: signed by a key of the ring, applied" 0 apply
status_of mwc-murata >"$tmp/out"
expect_out "openpgp: Verified" 'reason: Verified'
expect_rc "openpgp: plan names the signer" 0 plan --repo "file://$R" --config "$d/tenantd.yaml"
expect_out "openpgp: by dave" "head commit: signed by Dave <dave@example.com> \\($dave\\)"
git -C "$W" -c user.signingkey=eve@example.com commit -q -S --allow-empty -m "eve signs"
git -C "$W" push -q origin main
expect_rc "openpgp: another key, held" 1 apply
expect_out "openpgp: unknown key named" 'signed by [0-9A-F]{16}, a key not in'
as alice -C "$W" commit -q -S --allow-empty -m "alice signs with ssh"
git -C "$W" push -q origin main
expect_rc "openpgp: an ssh signature, held" 1 apply
expect_out "openpgp: says the format" 'signed with an SSH key; the keys are openpgp'
echo "not a keyring" >"$k/bad.asc"
sed -i "s|keys: $k/dave.asc|keys: $k/bad.asc|" "$d/tenantd.yaml"
git -C "$W" -c user.signingkey=dave@example.com commit -q -S --allow-empty -m "dave again"
git -C "$W" push -q origin main
expect_rc "openpgp: a bad keyring, held" 1 apply
expect_out "openpgp: the keyring named" "keys file $k/bad.asc is not an armored OpenPGP keyring"
expect_rc "run --check: a bad keyring is an error" 1 "$bin" run --check --config "$d/tenantd.yaml"
expect_out "run --check: the keyring named" "source.verify: keys file $k/bad.asc: not an armored OpenPGP keyring" "$tmp/err"
unset GNUPGHOME

# ==== approval: staging proceeds, production waits ====

fresh approve "approval: {environments: [production], format: ssh, keys: $k/approvers}"
expect_rc "approval: first apply (everything new waits in production)" 1 apply
status_of greenwood-high >"$tmp/out"
expect_out "approval: AwaitingApproval" 'reason: AwaitingApproval'
expect_out "approval: names the approvers" 'carol@example.com'
check "approval: staging created" test -e "$d/state/service/portal.staging.greenwood-high.json"
check "approval: production not" test ! -e "$d/state/service/portal.production.greenwood-high.json"
status_of mwc-murata >"$tmp/out"
expect_out "approval: a tenant without production is Ready" 'reason: Applied'
# Carol tags the first commit: production applied.
first=$(git -C "$W" rev-parse HEAD)
as carol -C "$W" tag -s -m "approved" approved/initial "$first"
git -C "$W" push -q origin approved/initial
expect_rc "approval: tag by an approver, applied" 0 apply
check "approval: production created" test -e "$d/state/service/portal.production.greenwood-high.json"
status_of greenwood-high >"$tmp/out"
expect_out "approval: Approved" 'reason: Approved'

# One commit changes staging and production, signed by alice (not an
# approver) with a forged trailer.
image greenwood-high 1 registry.pycom.io/edu/portal:5.0.4
image greenwood-high 2 registry.pycom.io/edu/portal:5.1.0
git -C "$W" add -A
as alice -C "$W" commit -q -S -m "portal 5.0.4 in production, 5.1.0 in staging

Approved-by: carol@example.com"
git -C "$W" push -q origin main
change=$(git -C "$W" rev-parse HEAD)
expect_rc "forged trailer: plan" 0 plan --repo "file://$R" --config "$d/tenantd.yaml" --format markdown
expect_out "plan: needs approval marked" 'service/portal.production.greenwood-high.*needs approval'
expect_no_out "plan: staging not marked" 'portal.staging.greenwood-high.*needs approval'
expect_out "plan: who approves" 'need(s)? approval\*\* \(gated environments\) by one of: carol@example.com'
expect_out "plan: header says the signer" "Head commit: signed by alice@example.com"
expect_rc "plan json" 0 plan --repo "file://$R" --config "$d/tenantd.yaml" --format json
expect_out "plan json: needsApproval" '"needsApproval": true'
expect_rc "forged trailer: production waits" 1 apply
eq "forged trailer: staging applied" "$(svc_image portal.staging.greenwood-high)" registry.pycom.io/edu/portal:5.1.0
eq "forged trailer: production not" "$(svc_image portal.production.greenwood-high)" registry.pycom.io/edu/portal:5.0.3
status_of greenwood-high >"$tmp/out"
expect_out "awaiting: the status names the commit" "approval of commit ${change:0:12}"
expect_out "awaiting: and the environment" 'to production wait'
rgit log -1 --format=%B tenantd/status >"$tmp/out"
expect_out "awaiting: the status commit says so" 'awaiting approval: update service/portal.production.greenwood-high'
"$bin" status --repo "file://$R" --cache-dir "$d/view" >"$tmp/out" 2>&1
expect_out "awaiting: tenantd status" 'greenwood-high +AwaitingApproval'

# A tag signed by mallory, and an unsigned one: nothing approved.
as mallory -C "$W" tag -s -m "approved" approved/by-mallory "$change"
git -C "$W" tag -a -m "approved" approved/unsigned "$change"
git -C "$W" push -q origin approved/by-mallory approved/unsigned
expect_rc "bad tags: production still waits" 1 apply
eq "bad tags: production not applied" "$(svc_image portal.production.greenwood-high)" registry.pycom.io/edu/portal:5.0.3

# Drift in production: corrected without approval (the approved spec).
db=$d/state/database/greenwood_high_production.json
limit=$(sed -n 's/.*"connection_limit": *\([0-9]*\).*/\1/p' "$db")
sed -i 's/"connection_limit": *[0-9]*/"connection_limit": 3/' "$db"
expect_rc "drift: still awaiting" 1 apply
expect_out "drift: corrected in production" 'update +database/greenwood-high.production done'
eq "drift: back to the approved limit" \
  "$(sed -n 's/.*"connection_limit": *\([0-9]*\).*/\1/p' "$db")" "$limit"
eq "drift: the gated change still waits" "$(svc_image portal.production.greenwood-high)" registry.pycom.io/edu/portal:5.0.3

# Approval by a signed commit: carol signs a merge-like empty commit.
as carol -C "$W" commit -q -S --allow-empty -m "approve portal 5.0.4"
git -C "$W" push -q origin main
expect_rc "signed commit: applied" 0 apply
eq "signed commit: production applied" "$(svc_image portal.production.greenwood-high)" registry.pycom.io/edu/portal:5.0.4
status_of greenwood-high >"$tmp/out"
expect_out "signed commit: the tenant runs the approved commit" "^source: \"?$(git -C "$W" rev-parse HEAD)"

# ==== status commits signed (status.signingKey) ====

ssh-keygen -q -t ed25519 -N '' -C tenantd -f "$k/status"
echo "tenantd@localhost $(cut -d' ' -f1,2 "$k/status.pub")" >"$k/status_signers"
sed -i "s|^status: {branch: tenantd/status, push: true}|status: {branch: tenantd/status, push: true, signingKey: $k/status}|" "$d/tenantd.yaml"
sed -i 's/"connection_limit": *[0-9]*/"connection_limit": 4/' "$db"
expect_rc "signed status: drift corrected" 0 apply
rgit -c "gpg.ssh.allowedSignersFile=$k/status_signers" log -1 --show-signature tenantd/status >"$tmp/out" 2>&1
expect_out "signed status: git log --show-signature" 'Good "git" signature for tenantd@localhost'
check "signed status: git verify-commit" \
  rgit -c "gpg.ssh.allowedSignersFile=$k/status_signers" verify-commit tenantd/status
# A new commit: its note is new, so the notes ref moves.
as alice -C "$W" commit -q -S --allow-empty -m "alice signs again"
git -C "$W" push -q origin main
expect_rc "signed notes: a new commit applied" 0 apply
check "signed notes: git verify-commit" \
  rgit -c "gpg.ssh.allowedSignersFile=$k/status_signers" verify-commit refs/notes/tenantd
rgit notes --ref=tenantd show "$(git -C "$W" rev-parse HEAD)" >"$tmp/out" 2>&1
expect_out "signed notes: the note still reads" '^status: [0-9a-f]+ \(tenantd/status\)'
tip=$(rgit rev-parse tenantd/status)
sed -i "s|signingKey: $k/status}|signingKey: $k/nokey}|" "$d/tenantd.yaml"
sed -i 's/"connection_limit": *[0-9]*/"connection_limit": 4/' "$db"
expect_rc "signing key missing: the pass fails" 1 apply
expect_out "signing key missing: named" "status.signingKey $k/nokey" "$tmp/err"
expect_rc "run --check: a missing signing key is an error" 1 "$bin" run --check --config "$d/tenantd.yaml"
expect_out "run --check: the signing key named" "status.signingKey $k/nokey: No such file" "$tmp/err"
eq "signing key missing: no unsigned status commit" "$(rgit rev-parse tenantd/status)" "$tip"
sed -i "s|signingKey: $k/nokey}|signingKey: $k/status}|" "$d/tenantd.yaml"

# Approval alone (no source.verify): an unsigned commit whose trailer
# names an approver approves nothing either.
fresh trailer "approval: {environments: [production], format: ssh, keys: $k/approvers}" noverify
as carol -C "$W" tag -s -m ok approved/initial HEAD
git -C "$W" push -q origin approved/initial
expect_rc "trailer world: applied" 0 apply
image greenwood-high 1 registry.pycom.io/edu/portal:6.0.0
git -C "$W" commit -q -am "portal 6 in production

Approved-by: carol@example.com
Tenantd-Approved: yes"
git -C "$W" push -q origin main
expect_rc "unsigned trailer: production waits" 1 apply
eq "unsigned trailer: not applied" "$(svc_image portal.production.greenwood-high)" registry.pycom.io/edu/portal:5.0.3
status_of greenwood-high >"$tmp/out"
expect_out "unsigned trailer: AwaitingApproval" 'reason: AwaitingApproval'
expect_no_out "unsigned trailer: no SourceUntrusted without verify" 'type: SourceUntrusted'
# A lightweight tag approves nothing; carol's signed tag does.
git -C "$W" tag approved/light
git -C "$W" push -q origin approved/light
expect_rc "lightweight tag: still waits" 1 apply
as carol -C "$W" tag -s -m ok approved/six HEAD
git -C "$W" push -q origin approved/six
expect_rc "signed tag: applied" 0 apply
eq "signed tag: production applied" "$(svc_image portal.production.greenwood-high)" registry.pycom.io/edu/portal:6.0.0
# A withdrawn approval (the tag deleted at the remote) approves nothing
# more: the next gated change waits again.
git -C "$W" push -q origin :refs/tags/approved/six
image greenwood-high 1 registry.pycom.io/edu/portal:6.0.1
git -C "$W" commit -q -am "portal 6.0.1"
git -C "$W" push -q origin main
expect_rc "next change: waits" 1 apply
check "withdrawn tag: gone from the mirror" test -z "$(git --git-dir "$(ls -d "$d"/cache/*.git)" tag -l approved/six)"
expect_rc "a directory is not applied past approval" 1 \
  "$bin" apply --once "$W" --config "$d/tenantd.yaml"
expect_out "a directory: says why" 'source.verify or approval, which check Git commits' "$tmp/err"

# ==== the daemon ====

fresh daemon "approval: {environments: [production], format: ssh, keys: $k/approvers}"
as carol -C "$W" tag -s -m ok approved/initial HEAD
git -C "$W" push -q origin approved/initial
: >"$d/log"
"$bin" run --config "$d/tenantd.yaml" 2>>"$d/log" &
pid=$!
track_pid $pid
port=$(started_port "$d/log" "$pid")
url=http://127.0.0.1:$port
sign() { printf '%s' "$1" | openssl dgst -sha256 -hmac "$2" | sed 's/^.* //'; }
hook() { # REF
  local body="{\"ref\":\"$1\"}"
  curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
    -H "X-Tenantd-Signature: sha256=$(sign "$body" "$TENANTD_WEBHOOK_SECRET")" \
    --data "$body" "$url/hooks/generic"
}
metric() {
  curl -sf "$url/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 }
    END { if (!f) print 0 }'
}
applied() { rgit log -1 --format=%B tenantd/status 2>/dev/null | grep -q "^Tenantd-Source: $1"; }
state_is() { # TENANT STATE
  curl -sf "$url/api/v1/tenants/$1" | grep -q "\"state\":\"$2\""
}
if wait_for 30 curl -sf "$url/readyz"; then ok; else bad_log "daemon: not ready" "$d/log"; fi
head=$(git -C "$W" rev-parse HEAD)
if wait_for 30 applied "$head"; then ok; else bad "daemon: first pass"; fi
check "daemon: production approved by the tag" test -e "$d/state/service/portal.production.greenwood-high.json"

# Unsigned: held, still ready, counted.
before=$(state_sum)
sed -i 's/tier: standard/tier: premium/' "$W/tenants/mwc-murata.yaml"
git -C "$W" commit -q -am "unsigned murata"
git -C "$W" push -q origin main
unsigned=$(git -C "$W" rev-parse HEAD)
eq "daemon: webhook accepted" "$(hook refs/heads/main)" 202
if wait_for 30 state_is mwc-murata SourceUntrusted; then ok; else bad "daemon: not SourceUntrusted"; fi
if wait_for 10 state_is greenwood-high SourceUntrusted; then ok; else bad "daemon: every tenant"; fi
eq "daemon: readyz stays ready" "$(http_code "$url/readyz")" 200
eq "daemon: untrusted counted" "$(metric tenantd_source_untrusted_total)" 1
eq "daemon: nothing changed" "$(state_sum)" "$before"
expect_out "daemon: logged" 'msg="source untrusted: every tenant held"' "$d/log"

# Signed by alice: staging and murata applied, production waits.
image greenwood-high 1 registry.pycom.io/edu/portal:5.0.4
image greenwood-high 2 registry.pycom.io/edu/portal:5.1.0
git -C "$W" add -A
as alice -C "$W" commit -q -S -m "portal in both environments"
git -C "$W" push -q origin main
change=$(git -C "$W" rev-parse HEAD)
eq "daemon: webhook" "$(hook refs/heads/main)" 202
if wait_for 30 state_is greenwood-high AwaitingApproval; then ok; else bad "daemon: not AwaitingApproval"; fi
if wait_for 10 state_is mwc-murata Ready; then ok; else bad "daemon: murata not Ready after the signed commit"; fi
eq "daemon: staging applied" "$(svc_image portal.staging.greenwood-high)" registry.pycom.io/edu/portal:5.1.0
eq "daemon: production waits" "$(svc_image portal.production.greenwood-high)" registry.pycom.io/edu/portal:5.0.3
eq "daemon: awaiting gauge" "$(metric tenantd_tenants_awaiting_approval)" 1

# Carol's tag, pushed and announced: production applied.
as carol -C "$W" tag -s -m ok approved/portal "$change"
git -C "$W" push -q origin approved/portal
eq "daemon: tag webhook accepted" "$(hook refs/tags/approved/portal)" 202
if wait_for 30 state_is greenwood-high Ready; then ok; else bad "daemon: approval not applied"; fi
eq "daemon: production applied" "$(svc_image portal.production.greenwood-high)" registry.pycom.io/edu/portal:5.0.4
rgit show tenantd/status:status/greenwood-high.yaml >"$tmp/out"
expect_out "daemon: the tenant runs the approved commit" "^source: \"?$change"
expect_out "daemon: approved by the tag" 'message: "?approved by tag approved/portal, signed by carol@example.com'
eq "daemon: awaiting gauge back to 0" "$(metric tenantd_tenants_awaiting_approval)" 0
stop_pid $pid

summary trust
