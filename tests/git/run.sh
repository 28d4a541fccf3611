#!/usr/bin/env bash
# End-to-end behaviour of tenantd against a real Git remote: apply --repo
# (status branch, trailers, notes, pushes), the tenants a commit touches
# (--changed), concurrent writers on the status branch, an unreachable
# remote, invalid manifests, force pushes, the delete guard's trailer,
# drift, one process per mirror, a refused push, other branch names,
# plan --ref, plan and apply of every tenant by default, status states and
# each tenant's own log.
# Each block builds its own bare "remote" and working clone with the git CLI.
# Usage: tests/git/run.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 || true)
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"

# ---- the world of one block ----
# fresh NAME: $d holds remote.git (the bare remote, tracked branch main),
# wc (a clone holding the example manifests, pushed), cache and state.
fresh() {
  d=$tmp/$1
  C=$d/cache
  S=$d/state
  example_remote "$d"
  A=(apply --once --repo "$R" --cache-dir "$C" --state-dir "$S")
  # CI on merge: only the tenants changed since the last status commit.
  AC=("${A[@]}" --changed)
}
rgit() { git --git-dir "$R" "$@"; }
wgit() { git -C "$W" "$@"; }
# commit_push MSG...: commits everything in the clone and pushes main.
commit_push() {
  wgit add -A
  local args=() m
  for m in "$@"; do args+=(-m "$m"); done
  wgit commit -q --allow-empty "${args[@]}"
  wgit push -q origin main
}
set_tier() { # TENANT FROM TO
  sed -i "s/^  tier: $2\$/  tier: $3/" "$W/tenants/$1.yaml"
  grep -q "^  tier: $3\$" "$W/tenants/$1.yaml" || bad "fixture: $1 has no tier $2"
}
status_count() { rgit rev-list --count tenantd/status 2>/dev/null || echo 0; }
status_tip() { rgit rev-parse -q --verify refs/heads/tenantd/status; }
notes_tip() { rgit rev-parse -q --verify refs/notes/tenantd; }
state_count() { find "$S" -name '*.json' | wc -l; }
# state_sum PATTERN: checksums of the state files whose path matches.
state_sum() {
  (cd "$S" && find . -name '*.json' | grep -E -- "$1" | sort | xargs -r md5sum)
}
# cond FILE TYPE: the status ("True"/"False") of one condition.
cond() {
  grep -A1 -- "- type: $2\$" "$1" | sed -nE 's/^ *status: "?([A-Za-z]+)"?$/\1/p' | head -1
}
# src_of FILE: the source commit a status file records (YAML may quote it:
# a sha such as 0b75... or 1e10... reads as a number unquoted).
src_of() { sed -nE 's/^source: "?([0-9a-f]+)"?$/\1/p' "$1"; }
# wait_for_state_write MARK: until a state file is newer than MARK (up to
# 2 s): a running apply is then past its fetch (its stdout is buffered).
wait_for_state_write() {
  local _
  for _ in $(seq 100); do
    [ -n "$(find "$S" -name '*.json' -newer "$1" | head -1)" ] && return
    sleep 0.02
  done
}
# the mirror tenantd keeps in the cache (one per remote).
mirror() {
  local m=("$C"/*.git)
  [ "${#m[@]}" -eq 1 ] && [ -d "${m[0]}" ] && echo "${m[0]}"
}

# ==== 1. first apply against a fresh remote ====
fresh t1
main1=$(rgit rev-parse main)
cd "$d" || exit 1
expect_rc "1 first apply" 0 "$bin" apply --once --repo "file://$R" \
  --cache-dir "$C" --state-dir "$S"
cd "$root" || exit 1
check "1 nothing written outside --cache-dir and --state-dir" test ! -e "$d/.tenantd"
expect_out "1 summary" '^3 tenants: 29 changed, 0 failed'
expect_out "1 status commit named" "^source ${main1:0:12}; status commit [0-9a-f]{12}\$"
eq "1 one status commit" "$(status_count)" 1
eq "1 output names the pushed status commit" \
  "$(sed -nE 's/.*status commit ([0-9a-f]{12}).*/\1/p' "$tmp/out")" \
  "$(status_tip | cut -c1-12)"
eq "1 Tenantd-Tenant lists the 3 tenants" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Tenant,valueonly)' tenantd/status | sed '/^$/d' | sort | tr '\n' ' ')" \
  "greenwood-high mwc-murata mwc-sequans "
eq "1 Tenantd-Source is main" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Source,valueonly)' tenantd/status | sed '/^$/d')" \
  "$main1"
eq "1 Tenantd-Result ready" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Result,valueonly)' tenantd/status | sed '/^$/d')" \
  ready
rgit log -1 --format=%s tenantd/status >"$tmp/subj"
expect_out "1 subject" '^reconcile 3 tenants: 29 created$' "$tmp/subj"
rgit log -1 --format=%b tenantd/status >"$tmp/body"
expect_out "1 body event line" '^mwc-sequans: created network/mwc-sequans\.staging in [0-9]+\.[0-9]{2} s \(\+[0-9]+\.[0-9]{2} s to \+[0-9]+\.[0-9]{2} s\)$' "$tmp/body"
expect_out "1 body: ready, and when" '^mwc-sequans: ready [0-9]+\.[0-9]{2} s into the pass$' "$tmp/body"
if rgit notes --ref=tenantd show main >"$tmp/note" 2>&1; then ok; else bad "1 no note on main"; fi
eq "1 note first line" "$(head -1 "$tmp/note")" "tenantd: ready"
eq "1 note names the status commit" "$(sed -n 2p "$tmp/note")" \
  "status: $(status_tip) (tenantd/status)"
expect_out "1 note line per tenant" '^mwc-murata: ready, 11 created$' "$tmp/note"
eq "1 status files on the branch" \
  "$(rgit ls-tree -r --name-only tenantd/status | tr '\n' ' ')" \
  "status/greenwood-high.yaml status/mwc-murata.yaml status/mwc-sequans.yaml "
rgit show tenantd/status:status/mwc-murata.yaml >"$tmp/st"
eq "1 status Ready" "$(cond "$tmp/st" Ready)" True
eq "1 status source" "$(src_of "$tmp/st")" "$main1"
check "1 state written" test -f "$S/service/api.staging.mwc-sequans.json"
check "1 mirror in the cache dir" test -n "$(mirror)"

# ==== 2. nothing new: nothing committed ====
st_before=$(status_tip)
notes_before=$(notes_tip)
sums_before=$(state_sum .)
expect_rc "2 second apply" 0 "$bin" "${A[@]}"
expect_out "2 says unchanged" "^source ${main1:0:12}; status unchanged\$"
eq "2 no new status commit" "$(status_tip)" "$st_before"
eq "2 notes unchanged" "$(notes_tip)" "$notes_before"
eq "2 state unchanged" "$(state_sum .)" "$sums_before"
# --all passes over every tenant and still commits nothing when all agree.
expect_rc "2 apply --all" 0 "$bin" "${A[@]}" --all
expect_out "2 --all visits 3 tenants" '^3 tenants: 0 changed'
eq "2 --all no new status commit" "$(status_tip)" "$st_before"

# ==== 3. a commit touching one tenant ====
fresh t3
"$bin" "${A[@]}" >/dev/null 2>&1
st1=$(status_tip)
others_before=$(state_sum 'murata|greenwood')
touch "$tmp/mark3"
set_tier mwc-sequans basic premium
commit_push "mwc-sequans to premium"
main3=$(rgit rev-parse main)
expect_rc "3 apply one tenant" 0 "$bin" "${AC[@]}"
expect_out "3 one tenant visited" '^1 tenants?: [1-9][0-9]* changed, 0 failed'
expect_out "3 summary names source" "^source ${main3:0:12}; status commit [0-9a-f]{12}\$"
eq "3 exactly one new status commit" "$(rgit rev-list --count "$st1..tenantd/status")" 1
eq "3 on top of the first" "$(rgit rev-parse tenantd/status~1)" "$st1"
eq "3 touches only its status file" \
  "$(rgit show --format= --name-only tenantd/status | tr '\n' ' ')" "status/mwc-sequans.yaml "
eq "3 a single Tenantd-Tenant" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Tenant,valueonly)' tenantd/status | sed '/^$/d' | tr '\n' ' ')" \
  "mwc-sequans "
eq "3 Tenantd-Source is the new main" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Source,valueonly)' tenantd/status | sed '/^$/d')" "$main3"
rgit log -1 --format=%s tenantd/status >"$tmp/subj"
expect_out "3 subject" '^reconcile mwc-sequans: [0-9]+ updated$' "$tmp/subj"
rgit log -1 --format=%b tenantd/status >"$tmp/body"
expect_out "3 database event" \
  '^mwc-sequans: updated database/mwc-sequans\.staging \(backup_retention_days, class, connection_limit\) in [0-9.]+ s \(\+[0-9.]+ s to \+[0-9.]+ s\)$' "$tmp/body"
expect_no_out "3 no other tenant in the body" '^(mwc-murata|greenwood-high):' "$tmp/body"
grep -q '"cpu": 2' "$S/service/api.staging.mwc-sequans.json" && ok ||
  bad "3 premium cpu applied to the service"
eq "3 other tenants' state unchanged" "$(state_sum 'murata|greenwood')" "$others_before"
eq "3 only the tenant's state files rewritten" \
  "$(find "$S" -name '*.json' -newer "$tmp/mark3" | grep -cvE 'sequans')" 0
if rgit notes --ref=tenantd show main >"$tmp/note" 2>&1; then ok; else bad "3 no note on the new main"; fi
eq "3 note ready" "$(head -1 "$tmp/note")" "tenantd: ready"
eq "3 note names the new status commit" "$(sed -n 2p "$tmp/note")" \
  "status: $(status_tip) (tenantd/status)"
expect_out "3 note tenant line" '^mwc-sequans: ready, [0-9]+ updated$' "$tmp/note"
expect_no_out "3 note lists only that tenant" '^(mwc-murata|greenwood-high):' "$tmp/note"
check "3 the first commit keeps its note" rgit notes --ref=tenantd show main~1

# ==== 4. a README-only commit ====
st_before=$(status_tip)
echo "# Tenants" >"$W/README.md"
commit_push "Add a README"
main4=$(rgit rev-parse main)
expect_rc "4 README apply" 0 "$bin" "${AC[@]}"
expect_out "4 no tenant visited" '^0 tenants: 0 changed'
expect_out "4 status unchanged" "^source ${main4:0:12}; status unchanged\$"
eq "4 no status commit" "$(status_tip)" "$st_before"
if rgit notes --ref=tenantd show main >"$tmp/note" 2>&1; then ok; else bad "4 no note on the README commit"; fi
eq "4 note ready" "$(head -1 "$tmp/note")" "tenantd: ready"
expect_out "4 note says no tenant affected" '\(no tenant affected\)' "$tmp/note"
notes_before=$(notes_tip)
expect_rc "4 rerun" 0 "$bin" "${AC[@]}"
expect_out "4 rerun unchanged" 'status unchanged$'
eq "4 rerun adds no status commit" "$(status_tip)" "$st_before"
eq "4 rerun adds no note" "$(notes_tip)" "$notes_before"
# The next tenant change after the README is still seen (the README commit
# moved main, but the last status commit's source is older).
set_tier mwc-murata standard premium
commit_push "mwc-murata to premium"
expect_rc "4 change after README" 0 "$bin" "${AC[@]}"
expect_out "4 change after README visits one" '^1 tenants?: [1-9]'
grep -q '"connection_limit": 500' "$S/database/mwc_murata_staging.json" && ok ||
  bad "4 change after the README commit applied"

# ==== 5. a concurrent writer on the status branch ====
fresh t5
"$bin" "${A[@]}" >/dev/null 2>&1
st1=$(status_tip)
O=$d/other
git clone -q -b tenantd/status "$R" "$O"
echo "hand-written" >"$O/notes.txt"
git -C "$O" add notes.txt
git -C "$O" commit -q -m "A note by hand"
git -C "$O" push -q origin tenantd/status
other1=$(git -C "$O" rev-parse HEAD)
set_tier mwc-sequans basic premium
commit_push "mwc-sequans to premium"
expect_rc "5 apply after another writer" 0 "$bin" "${A[@]}"
expect_no_out "5 pushed" 'not pushed'
check "5 the other writer's commit kept" rgit merge-base --is-ancestor "$other1" tenantd/status
check "5 notes.txt at the tip" rgit cat-file -e tenantd/status:notes.txt
eq "5 tenantd's commit on top" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Tenant,valueonly)' tenantd/status | sed '/^$/d')" mwc-sequans
eq "5 linear: one new commit after the other's" "$(rgit rev-list --count "$other1..tenantd/status")" 1
rgit show tenantd/status:status/mwc-sequans.yaml >"$tmp/st"
eq "5 status of the new source" "$(src_of "$tmp/st")" "$(rgit rev-parse main)"
eq "5 note names the pushed status commit" \
  "$(rgit notes --ref=tenantd show main | sed -n 2p)" "status: $(status_tip) (tenantd/status)"

# The race proper: the other writer pushes while an apply runs (after its
# fetch, before its push); the apply's push must still land.
git -C "$O" pull -q --rebase origin tenantd/status
set_tier mwc-murata standard premium
commit_push "mwc-murata to premium"
touch "$tmp/mark5"
# One call at a time, each slow: the window between the first state
# write and the push is seconds long, even on a loaded machine.
"$bin" "${A[@]}" --concurrency 1 --set local.latencyMs=700 >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for_state_write "$tmp/mark5"
echo "second note" >>"$O/notes.txt"
git -C "$O" commit -q -am "Another note by hand"
git -C "$O" push -q origin tenantd/status
other2=$(git -C "$O" rev-parse HEAD)
kill -0 "$pid" 2>/dev/null && ok || bad "5 the apply ended before the other writer pushed (race not exercised)"
wait "$pid"
rc=$?
eq "5 racing apply exit" "$rc" 0
check "5 racing writer's commit kept" rgit merge-base --is-ancestor "$other2" tenantd/status
eq "5 racing notes.txt content" "$(rgit show tenantd/status:notes.txt | tail -1)" "second note"
eq "5 racing apply's commit on top" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Tenant,valueonly)' tenantd/status | sed '/^$/d')" mwc-murata
rgit show tenantd/status:status/mwc-murata.yaml >"$tmp/st"
eq "5 racing status of the new source" "$(src_of "$tmp/st")" "$(rgit rev-parse main)"
check "5 racing note pushed" rgit notes --ref=tenantd show main
# What the apply reports and notes is the commit that landed, not the one
# it made before replaying on top of the other writer's.
eq "5 racing note names the pushed status commit" \
  "$(rgit notes --ref=tenantd show main 2>&1 | sed -n 2p)" "status: $(status_tip) (tenantd/status)"
eq "5 racing output names the pushed status commit" \
  "$(sed -nE 's/.*status commit ([0-9a-f]{12}).*/\1/p' "$tmp/out")" "$(status_tip | cut -c1-12)"
# Someone else adds a note to a manifest commit meanwhile: notes merge too.
reviewed=$(wgit rev-parse main~1)
git -C "$W" fetch -q origin refs/notes/tenantd:refs/notes/tenantd
git -C "$W" notes --ref=tenantd append -m "reviewed by hand" "$reviewed"
git -C "$W" push -q origin refs/notes/tenantd
set_tier greenwood-high premium enterprise
commit_push "greenwood-high to enterprise"
expect_rc "5 apply after a foreign note" 0 "$bin" "${A[@]}"
rgit notes --ref=tenantd show "$reviewed" >"$tmp/note" 2>&1
expect_out "5 foreign note kept" '^reviewed by hand$' "$tmp/note"
expect_out "5 tenantd's part of that note kept" '^tenantd: ready$' "$tmp/note"
check "5 own note added" rgit notes --ref=tenantd show main

# ==== 6. the remote unreachable ====
fresh t6
"$bin" "${A[@]}" >/dev/null 2>&1
st1=$(status_tip)
n_before=$(state_count)
mv "$R" "$d/away.git"
expect_rc "6 apply without remote" 1 "$bin" "${A[@]}"
expect_out "6 source error on stderr" 'source error' "$tmp/err"
expect_out "6 not pushed" 'not pushed \(kept in the cache\)$'
eq "6 nothing deleted" "$(state_count)" "$n_before"
M=$(mirror)
check "6 one mirror" test -n "$M"
if [ -n "$M" ]; then
  git --git-dir "$M" show tenantd/status:status/mwc-murata.yaml >"$tmp/st" 2>&1
  eq "6 SourceError True in the mirror" "$(cond "$tmp/st" SourceError)" True
  check "6 mirror's status branch ahead of the remote's" \
    git --git-dir "$M" merge-base --is-ancestor "$st1" refs/heads/tenantd/status
  serr=$(git --git-dir "$M" rev-parse refs/heads/tenantd/status)
  check "6 mirror's status branch moved" test "$serr" != "$st1"
  git --git-dir "$M" log -1 --format=%B "$serr" >"$tmp/body"
  eq "6 source-error commit lists every tenant" \
    "$(git --git-dir "$M" log -1 --format='%(trailers:key=Tenantd-Tenant,valueonly)' "$serr" | sed '/^$/d' | wc -l)" 3
fi
n_before_2=$(state_count)
expect_rc "6 second apply without remote" 1 "$bin" "${A[@]}"
eq "6 still nothing deleted" "$(state_count)" "$n_before_2"
mv "$d/away.git" "$R"
eq "6 remote untouched while away" "$(status_tip)" "$st1"
expect_rc "6 apply with the remote back" 0 "$bin" "${A[@]}"
expect_no_out "6 pushed" 'not pushed'
for t in greenwood-high mwc-murata mwc-sequans; do
  rgit show "tenantd/status:status/$t.yaml" >"$tmp/st"
  eq "6 $t SourceError cleared" "$(cond "$tmp/st" SourceError)" False
  eq "6 $t Ready" "$(cond "$tmp/st" Ready)" True
done
[ -n "${serr:-}" ] && check "6 the source-error commit reached the remote" \
  rgit merge-base --is-ancestor "$serr" tenantd/status
# (A later pass that changes no resource keeps the note's status line.)
rgit notes --ref=tenantd show main >"$tmp/note" 2>&1
eq "6 note still ready" "$(head -1 "$tmp/note")" "tenantd: ready"
named=$(sed -nE 's/^status: ([0-9a-f]{40}) \(tenantd\/status\)$/\1/p' "$tmp/note")
check "6 note names a status commit on the remote branch" \
  rgit merge-base --is-ancestor "${named:-none}" tenantd/status
expect_rc "6 then quiet" 0 "$bin" "${A[@]}"
expect_out "6 then unchanged" 'status unchanged$'

# ==== 7. an invalid manifest pushed ====
fresh t7
"$bin" "${A[@]}" >/dev/null 2>&1
seq_before=$(state_sum sequans)
set_tier mwc-sequans basic platinum
set_tier mwc-murata standard premium
commit_push "mwc-sequans to a tier that does not exist, mwc-murata to premium"
main7=$(rgit rev-parse main)
expect_rc "7 invalid manifest fails" 1 "$bin" "${A[@]}"
expect_out "7 held in the output" 'tenants/mwc-sequans\.yaml:7:9: unknown tier'
rgit show tenantd/status:status/mwc-sequans.yaml >"$tmp/st"
expect_out "7 InvalidManifest" '^ *reason: InvalidManifest$' "$tmp/st"
expect_out "7 error path" '^ *path: tenants/mwc-sequans\.yaml$' "$tmp/st"
expect_out "7 error line" '^ *line: 7$' "$tmp/st"
expect_out "7 error column" '^ *column: 9$' "$tmp/st"
eq "7 held tenant Ready False" "$(cond "$tmp/st" Ready)" False
eq "7 held tenant's state untouched" "$(state_sum sequans)" "$seq_before"
grep -q '"connection_limit": 500' "$S/database/mwc_murata_staging.json" && ok ||
  bad "7 the valid tenant in the same commit applied"
rgit log -1 --format=%B tenantd/status >"$tmp/body"
expect_out "7 valid tenant's event" '^mwc-murata: updated database/mwc-murata\.staging \(' "$tmp/body"
expect_out "7 held event" '^mwc-sequans: held: tenants/mwc-sequans\.yaml:7:9: unknown tier' "$tmp/body"
expect_out "7 result trailer" '^Tenantd-Result: held$' "$tmp/body"
rgit show tenantd/status:status/mwc-murata.yaml >"$tmp/st"
eq "7 valid tenant Ready" "$(cond "$tmp/st" Ready)" True
rgit notes --ref=tenantd show "$main7" >"$tmp/note" 2>&1
eq "7 note worst result" "$(head -1 "$tmp/note")" "tenantd: held"
expect_out "7 note held line" '^mwc-sequans: held, .*tenants/mwc-sequans\.yaml:7:9' "$tmp/note"
# A held tenant is retried on the next pass, without a new commit.
st_held=$(status_tip)
expect_rc "7 still held" 1 "$bin" "${A[@]}"
expect_out "7 the retry visits the held tenant" '^held .*mwc-sequans'
eq "7 a retry that changes nothing commits nothing" "$(status_tip)" "$st_held"
eq "7 held state still untouched" "$(state_sum sequans)" "$seq_before"
set_tier mwc-sequans platinum premium
commit_push "mwc-sequans to premium"
expect_rc "7 fixed" 0 "$bin" "${A[@]}"
rgit show tenantd/status:status/mwc-sequans.yaml >"$tmp/st"
eq "7 fixed tenant Ready" "$(cond "$tmp/st" Ready)" True
expect_out "7 fixed clears lastError" '^lastError: null$' "$tmp/st"

# ==== 8. a force push rewrites main ====
fresh t8
"$bin" "${A[@]}" >/dev/null 2>&1
svc_orig=$(cat "$S/service/api.staging.mwc-sequans.json" | grep -v '"healthyAt"')
db_orig=$(grep -v '"healthyAt"' "$S/database/mwc_sequans_staging.json")
hash_orig=$(rgit show tenantd/status:status/mwc-sequans.yaml | grep -A4 'id: service/api.staging.mwc-sequans' | sed -n 's/ *hash: //p')
set_tier mwc-sequans basic premium
commit_push "mwc-sequans to premium"
"$bin" "${A[@]}" >/dev/null 2>&1
grep -q '"cpu": 2' "$S/service/api.staging.mwc-sequans.json" && ok ||
  bad "8 premium applied before the force push"
wgit reset -q --hard HEAD~1
set_tier mwc-murata standard premium
wgit commit -q -am "mwc-murata to premium (rewritten history)"
wgit push -q --force origin main
main8=$(rgit rev-parse main)
expect_rc "8 apply after force push" 0 "$bin" "${AC[@]}"
expect_out "8 both tenants visited" '^2 tenants: '
grep -q '"cpu": 1,' "$S/service/api.staging.mwc-sequans.json" && ok ||
  bad "8 the dropped change reverted (cpu back to 1)"
grep -q '"connection_limit": 50,' "$S/database/mwc_sequans_staging.json" && ok ||
  bad "8 the dropped change reverted (connection_limit back to 50)"
eq "8 database back to the original" "$(grep -v '"healthyAt"' "$S/database/mwc_sequans_staging.json")" "$db_orig"
eq "8 inventory hash back to the original" \
  "$(rgit show tenantd/status:status/mwc-sequans.yaml | grep -A4 'id: service/api.staging.mwc-sequans' | sed -n 's/ *hash: //p')" \
  "$hash_orig"
grep -q '"connection_limit": 500' "$S/database/mwc_murata_staging.json" && ok ||
  bad "8 the new change applied"
eq "8 Tenantd-Source is the rewritten main" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Source,valueonly)' tenantd/status | sed '/^$/d')" "$main8"
for t in mwc-murata mwc-sequans; do
  eq "8 $t status source" "$(src_of <(rgit show "tenantd/status:status/$t.yaml"))" "$main8"
done
check "8 note on the rewritten main" rgit notes --ref=tenantd show "$main8"
expect_rc "8 then quiet" 0 "$bin" "${A[@]}"
expect_out "8 then unchanged" 'status unchanged$'

# ==== 9. deleting a tenant: the delete guard and its trailer ====
fresh t9
"$bin" "${A[@]}" >/dev/null 2>&1
st1=$(status_tip)
wgit rm -q tenants/mwc-murata.yaml
commit_push "Remove mwc-murata"
expect_rc "9 delete without trailer refused" 1 "$bin" "${A[@]}"
expect_out "9 refusal" 'refused: this pass would delete [0-9]+ of [0-9]+ managed'
n=$(sed -nE 's/.*would delete ([0-9]+) of.*/\1/p' "$tmp/out" "$tmp/err" | head -1)
check "9 refusal count parsed" test -n "$n"
n=${n:-0}
check "9 nothing deleted when refused" test -f "$S/service/api.staging.mwc-murata.json"
check "9 network kept when refused" test -f "$S/network/mwc-murata-staging.json"
rgit show tenantd/status:status/mwc-murata.yaml >"$tmp/st" 2>&1
expect_out "9 refusal in the status" 'reason: DeleteGuard' "$tmp/st"
rgit notes --ref=tenantd show main >"$tmp/note" 2>&1
eq "9 note refused" "$(head -1 "$tmp/note")" "tenantd: refused"
commit_push "Allow the delete (wrong count)" "Tenantd-Allow-Delete: $((n + 1))"
eq "9 trailer fixture" "$(rgit log -1 --format='%(trailers:key=Tenantd-Allow-Delete,valueonly)' main | sed '/^$/d')" "$((n + 1))"
expect_rc "9 wrong trailer count refused" 1 "$bin" "${A[@]}"
expect_out "9 wrong count refusal" "refused: this pass would delete $n of"
check "9 nothing deleted with the wrong count" test -f "$S/service/api.staging.mwc-murata.json"
# The trailer counts only on the tip: an older commit's right count is not
# carried over.
wgit commit -q --allow-empty -m "Allow the delete" -m "Tenantd-Allow-Delete: $n"
wgit commit -q --allow-empty -m "Unrelated empty commit on top"
wgit push -q origin main
expect_rc "9 trailer below the tip ignored" 1 "$bin" "${A[@]}"
check "9 nothing deleted with the trailer below the tip" test -f "$S/service/api.staging.mwc-murata.json"
commit_push "Allow the delete" "Tenantd-Allow-Delete: $n"
expect_rc "9 right trailer count" 0 "$bin" "${A[@]}"
check "9 owned service deleted" test ! -e "$S/service/api.staging.mwc-murata.json"
check "9 owned web service deleted" test ! -e "$S/service/web.staging.mwc-murata.json"
check "9 network deleted" test ! -e "$S/network/mwc-murata-staging.json"
check "9 database orphaned" test -f "$S/database/mwc_murata_staging.json"
check "9 bucket orphaned" test -f "$S/bucket/mwc-murata-staging.json"
check "9 other tenants kept" test -f "$S/service/api.staging.mwc-sequans.json"
check "9 status file removed from the branch" \
  test -z "$(rgit ls-tree --name-only tenantd/status status/mwc-murata.yaml)"
check "9 other status files kept" rgit cat-file -e tenantd/status:status/mwc-sequans.yaml
rgit log -1 --format=%B tenantd/status >"$tmp/body"
expect_out "9 delete events" '^mwc-murata: deleted service/api\.staging\.mwc-murata' "$tmp/body"
expect_rc "9 then quiet" 0 "$bin" "${A[@]}"
expect_out "9 then unchanged" 'status unchanged$'
# --allow-delete on the command line works as the trailer does.
fresh t9b
"$bin" "${A[@]}" >/dev/null 2>&1
wgit rm -q tenants/mwc-sequans.yaml
commit_push "Remove mwc-sequans"
expect_rc "9 flag: refused first" 1 "$bin" "${A[@]}"
n=$(sed -nE 's/.*would delete ([0-9]+) of.*/\1/p' "$tmp/out" "$tmp/err" | head -1)
expect_rc "9 flag: --allow-delete N" 0 "$bin" "${A[@]}" --allow-delete "${n:-0}"
check "9 flag: service deleted" test ! -e "$S/service/api.staging.mwc-sequans.json"

# ==== 10. which tenants a pass visits; drift; one process per mirror ====
fresh t10
"$bin" "${A[@]}" >/dev/null 2>&1
# Two commits since the last pass, each touching one tenant: both visited.
set_tier mwc-sequans basic premium
commit_push "mwc-sequans to premium"
set_tier mwc-murata standard premium
commit_push "mwc-murata to premium"
st1=$(status_tip)
expect_rc "10 two commits" 0 "$bin" "${AC[@]}"
expect_out "10 two tenants visited" '^2 tenants: [1-9]'
eq "10 one status commit for both" "$(rgit rev-list --count "$st1..tenantd/status")" 1
eq "10 both trailers" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Tenant,valueonly)' tenantd/status | sed '/^$/d' | tr '\n' ' ')" \
  "mwc-murata mwc-sequans "
rgit log -1 --format=%s tenantd/status >"$tmp/subj"
expect_out "10 subject counts tenants" '^reconcile 2 tenants: [0-9]+ updated$' "$tmp/subj"
# A new tenant: only it is visited, and created.
sed 's/mwc-sequans/acme/; s/10\.21\./10.77./' "$W/tenants/mwc-sequans.yaml" >"$W/tenants/acme.yaml"
commit_push "New tenant acme"
expect_rc "10 new tenant" 0 "$bin" "${AC[@]}"
expect_out "10 only the new tenant" '^1 tenants?: [1-9][0-9]* changed'
check "10 new tenant created" test -f "$S/service/api.staging.acme.json"
check "10 new tenant's status" rgit cat-file -e tenantd/status:status/acme.yaml
rgit log -1 --format=%s tenantd/status >"$tmp/subj"
expect_out "10 subject of a creation" '^reconcile acme: [0-9]+ created$' "$tmp/subj"
# A comment in a tenant file: visited, nothing to change.
echo "# reviewed" >>"$W/tenants/greenwood-high.yaml"
commit_push "Comment in greenwood-high"
sums_before=$(state_sum .)
expect_rc "10 comment only" 0 "$bin" "${AC[@]}"
expect_out "10 comment visits the tenant" '^1 tenants?: 0 changed'
eq "10 comment changes no state" "$(state_sum .)" "$sums_before"
# platform.yaml or tiers.yaml changed: every tenant is visited.
sed -i 's/resync: 5m/resync: 6m/' "$W/platform.yaml"
commit_push "Resync every 6 minutes"
expect_rc "10 platform change" 0 "$bin" "${AC[@]}"
expect_out "10 platform change visits all" '^4 tenants: '
sed -i '/^    basic:/,/^    standard:/ s/maxUsers: 50$/maxUsers: 60/; /^    premium:/,/^    enterprise:/ s/cpu: 2$/cpu: 3/' "$W/tiers.yaml"
commit_push "Premium gets 3 CPUs"
expect_rc "10 tiers change" 0 "$bin" "${AC[@]}"
expect_out "10 tiers change visits all" '^4 tenants: [1-9]'
grep -q '"cpu": 3' "$S/service/api.staging.mwc-sequans.json" && ok ||
  bad "10 the new tier catalog applied"
# Drift: a deleted state file is corrected on a pass over its tenant only.
rm "$S/service/api.staging.mwc-sequans.json"
st1=$(status_tip)
expect_rc "10 drift, no commit" 0 "$bin" "${AC[@]}"
expect_out "10 drift: nothing to visit" '^0 tenants: '
check "10 drift not looked for with --changed" test ! -e "$S/service/api.staging.mwc-sequans.json"
expect_rc "10 drift, a plain apply" 0 "$bin" "${A[@]}"
expect_out "10 a plain apply visits every tenant" '^4 tenants: [1-9][0-9]* changed'
check "10 a plain apply corrects the drift" test -f "$S/service/api.staging.mwc-sequans.json"
eq "10 drift: one status commit" "$(rgit rev-list --count "$st1..tenantd/status")" 1
eq "10 drift: only that tenant's status" \
  "$(rgit show --format= --name-only tenantd/status | tr '\n' ' ')" "status/mwc-sequans.yaml "
rgit log -1 --format=%B tenantd/status >"$tmp/body"
expect_out "10 drift event" '^mwc-sequans: drift corrected service/api\.staging\.mwc-sequans' "$tmp/body"
rgit show tenantd/status:status/mwc-sequans.yaml >"$tmp/st"
eq "10 DriftDetected" "$(cond "$tmp/st" DriftDetected)" True
# One process per mirror: a second apply on the same cache stops cleanly.
set_tier acme premium standard
commit_push "acme to standard"
touch "$tmp/mark10"
"$bin" "${AC[@]}" --concurrency 1 --set local.latencyMs=700 >"$tmp/out1" 2>&1 &
pid=$!
wait_for_state_write "$tmp/mark10"
expect_rc "10 second process on the mirror" 1 "$bin" "${AC[@]}"
expect_out "10 mirror in use" 'in use by another tenantd process' "$tmp/err"
wait "$pid"
eq "10 the first process finished" "$?" 0
eq "10 its commit landed" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Tenant,valueonly)' tenantd/status | sed '/^$/d')" acme

# ==== 11. the remote refuses the status push (fetch still works) ====
fresh t11
"$bin" "${A[@]}" >/dev/null 2>&1
st1=$(status_tip)
set_tier mwc-sequans basic premium
commit_push "mwc-sequans to premium"
main11=$(rgit rev-parse main)
# A held ref lock on the remote: the server cannot update tenantd/status.
touch "$R/refs/heads/tenantd/status.lock"
expect_rc "11 push refused" 1 "$bin" "${A[@]}"
expect_out "11 not pushed" 'status commit [0-9a-f]{12}, not pushed \(kept in the cache\)$'
expect_out "11 says why" 'status not pushed, kept in the cache' "$tmp/err"
expect_out "11 names the ref" 'refs/heads/tenantd/status' "$tmp/err"
expect_no_out "11 reason stated once" 'attempts: status not pushed after' "$tmp/err"
# A lock is not a race: the remote did not move, so no round of retries.
expect_no_out "11 not retried when nothing moved" 'not pushed after [0-9]+ attempts' "$tmp/err"
eq "11 remote status branch unchanged" "$(status_tip)" "$st1"
M=$(mirror)
kept=$(git --git-dir "$M" rev-parse -q --verify refs/heads/tenantd/status)
check "11 the commit waits in the mirror" test -n "$kept" -a "$kept" != "$st1"
grep -q '"cpu": 2' "$S/service/api.staging.mwc-sequans.json" && ok ||
  bad "11 the change itself applied"
# Whatever notes reached the remote name status commits on its branch.
named=$(rgit notes --ref=tenantd show "$main11" 2>/dev/null | sed -nE 's/^status: ([0-9a-f]{40}) .*/\1/p')
if [ -n "$named" ]; then
  check "11 a pushed note names only a pushed status commit" \
    rgit merge-base --is-ancestor "$named" tenantd/status
fi
expect_rc "11 still refused" 1 "$bin" "${A[@]}"
expect_out "11 still kept" 'not pushed \(kept in the cache\)$'
rm "$R/refs/heads/tenantd/status.lock"
expect_rc "11 push accepted again" 0 "$bin" "${A[@]}"
expect_no_out "11 pushed" 'not pushed'
eq "11 the kept commit reached the remote" "$(status_tip)" "$kept"
eq "11 note names it" "$(rgit notes --ref=tenantd show "$main11" 2>&1 | sed -n 2p)" \
  "status: $kept (tenantd/status)"

# ==== 12. another tracked branch and status branch ====
fresh t12
wgit push -q origin main:prod
A12=(apply --once --repo "$R" --branch prod --status-branch ops/status
  --cache-dir "$C" --state-dir "$S")
expect_rc "12 apply --branch prod" 0 "$bin" "${A12[@]}"
check "12 status on ops/status" rgit cat-file -e ops/status:status/mwc-murata.yaml
check "12 no tenantd/status branch" test -z "$(rgit for-each-ref refs/heads/tenantd)"
eq "12 Tenantd-Source is prod" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Source,valueonly)' ops/status | sed '/^$/d')" \
  "$(rgit rev-parse prod)"
eq "12 note names the status branch" "$(rgit notes --ref=tenantd show prod 2>&1 | sed -n 2p)" \
  "status: $(rgit rev-parse ops/status) (ops/status)"
set_tier mwc-sequans basic premium
commit_push "mwc-sequans to premium, on main only"
expect_rc "12 main's commit is not prod's" 0 "$bin" "${A12[@]}"
expect_out "12 nothing to do on prod" 'status unchanged$'
grep -q '"cpu": 1,' "$S/service/api.staging.mwc-sequans.json" && ok ||
  bad "12 a commit on another branch applied"
wgit push -q origin main:prod
expect_rc "12 prod catches up" 0 "$bin" "${A12[@]}"
grep -q '"cpu": 2' "$S/service/api.staging.mwc-sequans.json" && ok ||
  bad "12 prod's commit applied"

# ==== 13. plan --ref: a pull request's branch ====
fresh t13
"$bin" "${A[@]}" >/dev/null 2>&1
wgit checkout -q -b feature
set_tier mwc-sequans basic premium
wgit commit -q -am "mwc-sequans to premium"
wgit push -q origin feature
wgit checkout -q main
# main moves on independently (a README, another tenant): plan looks at
# what the branch changed since it left main, not at main's own changes.
echo "# Tenants" >"$W/README.md"
commit_push "README on main"
echo "# reviewed" >>"$W/tenants/mwc-murata.yaml"
commit_push "Comment in mwc-murata on main"
refs_before=$(rgit for-each-ref --format='%(objectname) %(refname)')
lsr_before=$(git ls-remote "$R")
sums_before=$(state_sum .)
P=(plan --repo "$R" --cache-dir "$C" --state-dir "$S")
expect_rc "13 plan feature" 0 "$bin" "${P[@]}" --ref feature
expect_out "13 plans the changed tenant" 'mwc-sequans'
expect_out "13 field-level change" 'connection_limit: 50 -> 500'
expect_no_out "13 only that tenant" 'mwc-murata|greenwood-high'
expect_rc "13 plan markdown" 0 "$bin" "${P[@]}" --ref feature --format markdown
eq "13 markdown heading first" "$(head -1 "$tmp/out" | cut -c1-15)" "## tenantd plan"
expect_out "13 markdown names the tenant" 'mwc-sequans'
expect_no_out "13 markdown only that tenant" 'mwc-murata|greenwood-high'
expect_rc "13 plan json" 0 "$bin" "${P[@]}" --ref feature --format json
if [ -n "$py" ]; then
  "$py" -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" 2>"$tmp/pyerr" && ok ||
    { bad "13 json parses"; cat "$tmp/pyerr"; }
  eq "13 json lists only that tenant" "$("$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(t.get("tenant", "?") for t in d.get("tenants", [])))' "$tmp/out" 2>&1)" mwc-sequans
fi
expect_rc "13 plan --detailed-exitcode" 2 "$bin" "${P[@]}" --ref feature --detailed-exitcode
eq "13 plan changed no ref on the remote" "$(rgit for-each-ref --format='%(objectname) %(refname)')" "$refs_before"
eq "13 ls-remote unchanged" "$(git ls-remote "$R")" "$lsr_before"
eq "13 plan changed no state" "$(state_sum .)" "$sums_before"
expect_rc "13 plan a commit id" 0 "$bin" "${P[@]}" --ref "$(rgit rev-parse feature)"
expect_out "13 a commit id plans the same" 'connection_limit: 50 -> 500'
expect_no_out "13 a commit id: only that tenant" 'mwc-murata|greenwood-high'
# The base is explicit too; a ref with no tenant change plans nothing.
expect_rc "13 plan --base" 0 "$bin" "${P[@]}" --ref feature --base main
expect_out "13 --base plans the tenant" 'mwc-sequans'
wgit checkout -q -b docs main
echo "more" >>"$W/README.md"
wgit commit -q -am "docs only"
wgit push -q origin docs
expect_rc "13 plan docs-only branch" 0 "$bin" "${P[@]}" --ref docs --detailed-exitcode
expect_no_out "13 docs-only plans no tenant" 'mwc-sequans|mwc-murata|greenwood-high'
# An invalid manifest on a branch: the problem at file:line:col.
wgit checkout -q -b bad main
set_tier mwc-sequans basic platinum
wgit commit -q -am "mwc-sequans to platinum"
wgit push -q origin bad
lsr_before=$(git ls-remote "$R")
"$bin" "${P[@]}" --ref bad >"$tmp/out" 2>"$tmp/err"
rc=$?
# A pull request with an invalid manifest fails its check.
eq "13 invalid branch plan exits 1" "$rc" 1
cat "$tmp/out" "$tmp/err" >"$tmp/both"
expect_out "13 invalid branch shows file:line:col" 'tenants/mwc-sequans\.yaml:7:9' "$tmp/both"
expect_out "13 invalid branch names the problem" 'unknown tier' "$tmp/both"
"$bin" "${P[@]}" --ref bad --format markdown >"$tmp/out" 2>&1
expect_out "13 invalid branch markdown" 'tenants/mwc-sequans\.yaml:7:9' "$tmp/out"
eq "13 invalid plan changed no ref" "$(git ls-remote "$R")" "$lsr_before"
eq "13 invalid plan changed no state" "$(state_sum .)" "$sums_before"
# A branch deleting a tenant shows the delete guard's verdict.
wgit checkout -q -b drop main
wgit rm -q tenants/mwc-murata.yaml
wgit commit -q -m "drop mwc-murata"
wgit push -q origin drop
"$bin" "${P[@]}" --ref drop >"$tmp/out" 2>&1
expect_out "13 delete guard verdict in the plan" 'refused: this pass would delete [0-9]+ of [0-9]+ managed'
n=$(sed -nE 's/.*would delete ([0-9]+) of.*/\1/p' "$tmp/out" | head -1)
# The ratio's whole is every managed resource, the tenants the branch
# did not touch too: each is one state file.
expect_out "13 the guard counts every managed resource" "would delete ${n:-0} of $(find "$S" -name '*.json' | wc -l) managed" "$tmp/out"
if [ -n "$py" ]; then
  "$bin" "${P[@]}" --ref drop --format json >"$tmp/out" 2>/dev/null
  eq "13 json refused" "$("$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["refused"], d["deletes"])' "$tmp/out" 2>&1)" "True ${n:-?}"
fi
wgit commit -q --allow-empty -m "Allow it" -m "Tenantd-Allow-Delete: ${n:-0}"
wgit push -q origin drop
"$bin" "${P[@]}" --ref drop >"$tmp/out" 2>&1
expect_no_out "13 the branch's trailer allows it" 'refused'
expect_out "13 allowed verdict" "deletes ${n:-0} of [0-9]+ managed resources: within maxDeletePercent \\(10%\\) or allowed"
check "13 plan of a delete deleted nothing" test -f "$S/service/api.staging.mwc-murata.json"
expect_rc "13 unknown ref" 1 "$bin" "${P[@]}" --ref no-such-branch
expect_out "13 unknown ref named" "no-such-branch" "$tmp/err"
mv "$R" "$d/away.git"
expect_rc "13 plan with the remote away fails" 1 "$bin" "${P[@]}" --ref feature
expect_out "13 plan source error" 'source error' "$tmp/err"
mv "$d/away.git" "$R"
eq "13 plans left the status branch alone" "$(git ls-remote "$R" refs/heads/tenantd/status)" \
  "$(echo "$lsr_before" | grep 'refs/heads/tenantd/status$')"

# ==== 14. status and log read the branch back ====
expect_rc "14 status" 0 "$bin" status --repo "$R" --cache-dir "$C"
expect_out "14 status row" '^mwc-sequans +Ready +[0-9a-f]{12} '
expect_rc "14 status json" 0 "$bin" status --repo "$R" --cache-dir "$C" --format json mwc-sequans
expect_out "14 status json names the tenant" '"tenant": "mwc-sequans"'
expect_rc "14 log" 0 "$bin" log --repo "$R" --cache-dir "$C" mwc-sequans --limit 1
expect_out "14 log event line" '^    '
expect_rc "14 unknown tenant" 1 "$bin" status --repo "$R" --cache-dir "$C" nobody
# Unreachable with nothing cached: an error, not an empty table.
expect_rc "14 status of nothing" 1 "$bin" status --repo "$d/none.git" --cache-dir "$d/empty-cache"
expect_out "14 says nothing is cached" 'no status of .* in the cache' "$tmp/err"

# ==== 15. a tenant file turned into a symbolic link is held, not pruned ====
fresh t15
"$bin" "${A[@]}" >/dev/null 2>&1
n15=$(state_count)
mkdir -p "$W/common"
wgit mv tenants/mwc-sequans.yaml common/mwc-sequans.yaml
ln -s ../common/mwc-sequans.yaml "$W/tenants/mwc-sequans.yaml"
commit_push "mwc-sequans through a link"
expect_rc "15 link apply held" 1 "$bin" "${A[@]}" --allow-delete 6
expect_out "15 held, says why" 'held +tenant mwc-sequans: tenants/mwc-sequans.yaml: is a symbolic link'
eq "15 nothing deleted" "$(state_count)" "$n15"
check "15 status kept" rgit cat-file -e tenantd/status:status/mwc-sequans.yaml

# ==== 16. every tenant by default: drift made by hand ====
# apply --once and plan mean the whole repository, as an operator expects;
# --changed keeps the fast selection for CI on merge.
fresh t16
"$bin" "${A[@]}" >/dev/null 2>&1
main16=$(rgit rev-parse main)
st1=$(status_tip)
P16=(plan --repo "$R" --cache-dir "$C" --state-dir "$S")
sed -i 's/"connection_limit": [0-9]*/"connection_limit": 3/' "$S/database/mwc_murata_staging.json"
expect_rc "16 plan of the tip exits 2 on drift" 2 "$bin" "${P16[@]}" --detailed-exitcode
expect_out "16 the drift marked" '^  ~ +database/mwc-murata\.staging +\(drift\)$'
expect_out "16 the drifted value" 'connection_limit: 3 -> 200'
expect_out "16 every tenant planned" '^tenant greenwood-high: '
expect_out "16 one change pending" '^1 change pending$'
expect_rc "16 plan --changed: nothing changed since the last pass" 0 \
  "$bin" "${P16[@]}" --changed --detailed-exitcode
expect_out "16 plan --changed pending" '^0 changes pending$'
expect_rc "16 plan markdown" 0 "$bin" "${P16[@]}" --format markdown
expect_out "16 markdown names the repository and the commit" \
  "^Repository \`[^\`]*remote\.git\` at \`${main16:0:12}\`\$"
expect_rc "16 plan json" 0 "$bin" "${P16[@]}" --format json
if [ -n "$py" ]; then
  eq "16 json source" "$("$py" -c 'import json,sys; d=json.load(open(sys.argv[1]))["source"]; print(d.get("head"), "repository" in d)' "$tmp/out" 2>&1)" \
    "$main16 True"
fi
eq "16 plans committed nothing" "$(status_tip)" "$st1"
grep -q '"connection_limit": 3,' "$S/database/mwc_murata_staging.json" && ok ||
  bad "16 a plan changed the database"
expect_rc "16 apply --changed" 0 "$bin" "${AC[@]}"
expect_out "16 apply --changed visits nobody" '^0 tenants: '
grep -q '"connection_limit": 3,' "$S/database/mwc_murata_staging.json" && ok ||
  bad "16 apply --changed corrected drift it was not asked to look for"
expect_rc "16 a plain apply" 0 "$bin" "${A[@]}"
expect_out "16 every tenant visited" '^3 tenants: 1 changed, 0 failed, .*, 0 adopted$'
grep -q '"connection_limit": 200,' "$S/database/mwc_murata_staging.json" && ok ||
  bad "16 a plain apply left the drift"
rgit log -1 --format=%B tenantd/status >"$tmp/body"
expect_out "16 drift corrected, on the branch" \
  '^mwc-murata: drift corrected database/mwc-murata\.staging' "$tmp/body"
expect_rc "16 plan after the correction" 0 "$bin" "${P16[@]}" --detailed-exitcode
expect_rc "16 --all names the default" 0 "$bin" "${A[@]}" --all
expect_out "16 --all visits every tenant" '^3 tenants: '
expect_rc "16 --all with --changed" 1 "$bin" "${A[@]}" --all --changed
expect_out "16 says which" 'not both' "$tmp/err"
expect_rc "16 --changed with --ref" 1 "$bin" "${P16[@]}" --ref main --changed
# A fresh status branch over resources a pass made: adopted, and said.
expect_rc "16 a new status branch adopts" 0 "$bin" "${A[@]}" --status-branch other/status
expect_out "16 adopted in the summary" '^3 tenants: 0 changed, .*, 29 adopted$'

# ==== 17. status: a state per tenant; log: each tenant's own result ====
fresh t17
V=(--repo "$R" --cache-dir "$C")
mkdir -p "$d/cwd"
cd "$d/cwd" || exit 1
expect_rc "17 status before any apply" 0 "$bin" status "${V[@]}"
cd "$root" || exit 1
check "17 status writes nothing outside the cache" test -z "$(ls -A "$d/cwd")"
expect_out "17 says there is no status yet" \
  "no status yet: tenantd has not written to tenantd/status in .*remote\.git" "$tmp/err"
expect_out "17 every tenant awaits" '^mwc-murata +AwaitingFirstReconcile +- +- +in the manifests at'
eq "17 three rows" "$(grep -c AwaitingFirstReconcile "$tmp/out")" 3
cd "$d/cwd" || exit 1
expect_rc "17 log before any apply" 0 "$bin" log "${V[@]}" mwc-murata
cd "$root" || exit 1
check "17 log writes nothing outside the cache" test -z "$(ls -A "$d/cwd")"
eq "17 an empty log" "$(cat "$tmp/out")" ""
expect_out "17 the log says why" 'mwc-murata has no status commit yet' "$tmp/err"
# A repository without tenants, never applied: nothing to show.
E=$d/empty.git
git init -q --bare -b main "$E"
git -C "$W" push -q "$E" "$(git -C "$W" commit-tree -m empty "$(git -C "$W" mktree </dev/null)"):refs/heads/main"
expect_rc "17 no status and no tenant" 1 "$bin" status --repo "$E" --cache-dir "$C"
expect_out "17 said plainly" "^tenantd: no status yet: tenantd has not written to tenantd/status in .*empty\.git\$" "$tmp/err"
"$bin" "${A[@]}" >/dev/null 2>&1
main17a=$(rgit rev-parse main)
# mwc-sequans suspended with a change that waits; mwc-murata invalid;
# then zeta added and not yet applied.
set_tier mwc-sequans basic premium
sed -i 's/^  tier: premium$/&\n  suspend: true/' "$W/tenants/mwc-sequans.yaml"
set_tier mwc-murata standard platinum
commit_push "mwc-sequans suspended to premium, mwc-murata to a tier that does not exist"
main17b=$(rgit rev-parse main)
expect_rc "17 apply holds mwc-murata" 1 "$bin" "${A[@]}"
sed 's/greenwood-high/zeta/g; s/10\.30\./10.98./; s/10\.31\./10.99./' \
  "$W/tenants/greenwood-high.yaml" >"$W/tenants/zeta.yaml"
commit_push "New tenant zeta"
expect_rc "17 status" 0 "$bin" status "${V[@]}"
expect_out "17 header" '^TENANT +STATE +APPLIED +SINCE +MESSAGE$'
# A status names the last commit that changed its tenant's manifests.
expect_out "17 ready" "^greenwood-high +Ready +${main17a:0:12} +20[0-9-]+T[0-9:]+Z +"
expect_out "17 held, at the commit it runs, naming the file" \
  "^mwc-murata +Held +${main17a:0:12} +20[0-9-]+T[0-9:]+Z +tenants/mwc-murata\.yaml:[0-9]+:[0-9]+: unknown tier 'platinum'"
expect_out "17 suspended, at the commit it runs" "^mwc-sequans +Suspended +${main17a:0:12} "
expect_out "17 never reconciled" '^zeta +AwaitingFirstReconcile +- +- +in the manifests at'
eq "17 the status branch agrees on mwc-sequans' commit" \
  "$(src_of <(rgit show tenantd/status:status/mwc-sequans.yaml))" "$main17a"
expect_rc "17 --state" 0 "$bin" status "${V[@]}" --state held
eq "17 --state held" "$(tail -n +2 "$tmp/out" | cut -d' ' -f1 | tr '\n' ' ')" "mwc-murata "
expect_rc "17 --state list and --prefix" 0 "$bin" status "${V[@]}" --state Ready,suspended --prefix mwc-
eq "17 --state list and --prefix rows" "$(tail -n +2 "$tmp/out" | cut -d' ' -f1 | tr '\n' ' ')" "mwc-sequans "
expect_rc "17 unknown state" 1 "$bin" status "${V[@]}" --state helt
expect_out "17 unknown state suggested" "unknown state 'helt' \(did you mean 'Held'\?\)" "$tmp/err"
expect_rc "17 status json" 0 "$bin" status "${V[@]}" --format json
if [ -n "$py" ]; then
  eq "17 json states" "$("$py" -c '
import json, sys
rows = json.load(open(sys.argv[1]))
print(" ".join("%s=%s" % (r["tenant"], r["state"]) for r in rows))' "$tmp/out" 2>&1)" \
    "greenwood-high=Ready mwc-murata=Held mwc-sequans=Suspended zeta=AwaitingFirstReconcile"
  eq "17 json fields" "$("$py" -c '
import json, sys
r = [r for r in json.load(open(sys.argv[1])) if r["tenant"] == "mwc-murata"][0]
print(r["source"][:12], bool(r["since"]), r["message"].startswith("tenants/mwc-murata.yaml:"))' "$tmp/out" 2>&1)" \
    "${main17a:0:12} True True"
fi
expect_rc "17 status of a tenant never reconciled" 0 "$bin" status "${V[@]}" zeta
expect_out "17 its row" '^zeta +AwaitingFirstReconcile'
expect_rc "17 status of a misspelt tenant" 1 "$bin" status "${V[@]}" mwc-murta
expect_out "17 status suggests" "no tenant 'mwc-murta' .*\(did you mean 'mwc-murata'\?\)" "$tmp/err"
# log: the commit's worst result is held, mwc-sequans' own is suspended.
eq "17 the commit's worst result" \
  "$(rgit log -1 --format='%(trailers:key=Tenantd-Result,valueonly)' tenantd/status | sed '/^$/d')" held
expect_rc "17 log" 0 "$bin" log "${V[@]}" mwc-sequans --limit 1
expect_out "17 log: its own result" "^20[0-9-]+T[0-9:]+Z  $(status_tip | cut -c1-12)  suspended +source ${main17b:0:12}\$"
expect_out "17 log: its own events" '^    suspended, 6 resources, no resource changed$'
expect_no_out "17 log: no other tenant's events" 'held|unknown tier'
expect_rc "17 log json" 0 "$bin" log "${V[@]}" mwc-sequans --format json
if [ -n "$py" ]; then
  eq "17 log json results" "$("$py" -c '
import json, sys
e = json.load(open(sys.argv[1]))
print(len(e), e[0]["result"], e[0]["passResult"], e[1]["result"])' "$tmp/out" 2>&1)" "2 suspended held ready"
fi
expect_rc "17 log of mwc-murata" 0 "$bin" log "${V[@]}" mwc-murata --limit 1
expect_out "17 held in its own entry" '  held +source '
expect_rc "17 log of an unknown tenant" 1 "$bin" log "${V[@]}" nope
expect_out "17 log: unknown named" "no tenant 'nope' on tenantd/status or in the manifests" "$tmp/err"
expect_rc "17 log of a misspelt tenant" 1 "$bin" log "${V[@]}" mwc-sequan
expect_out "17 log suggests" "\(did you mean 'mwc-sequans'\?\)" "$tmp/err"
expect_rc "17 log of a tenant never reconciled" 0 "$bin" log "${V[@]}" zeta
expect_out "17 said on stderr" 'zeta has no status commit yet' "$tmp/err"

summary git
