#!/usr/bin/env bash
# A newcomer's first contact: tenantd in an empty directory, with the
# default paths, used as the README says, options where people put them.
#
# The README's "First steps" block (the one after the "newcomer:" marker)
# is run line by line as a user types it, each line's exit status checked
# (0 unless its comment says "exit N"), so the README and this suite change
# together.  The rest of the suite checks what the README's "Commands"
# section promises: each command it lists has a --help naming the options
# it shows, options after the directory, a usage error for another
# command's option, "did you mean" for a typo, nothing written by the
# commands that only read, and directories made with their parents.
# Usage: tests/newcomer/run.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
readme=$root/README.md
tmp=$(mktemp -d)
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
cleanup_on_exit

# `tenantd` on the PATH, as after `make install`.
mkdir -p "$tmp/bin"
ln -s "$bin" "$tmp/bin/tenantd"
export PATH=$tmp/bin:$PATH

# fresh NAME: an empty directory $tmp/NAME holding the example manifest
# repository as `tenants`; sets w.
fresh() {
  w=$tmp/$1
  mkdir -p "$w"
  cp -r "$root/deploy/examples/tenants-repo" "$w/tenants"
}
# What a directory holds, one name a line (dot files too).
entries() { (cd "$1" && ls -A); }

# ==== the README's first steps, as typed ====
# The lines of the first ```sh block after the "newcomer:" marker.
mapfile -t steps < <(awk '
  /<!-- newcomer:/ { marked = 1; next }
  marked && !inblock && /^```sh$/ { inblock = 1; next }
  inblock && /^```$/ { exit }
  inblock && NF { print }' "$readme")
[ "${#steps[@]}" -ge 5 ] && ok || bad "README: no newcomer block of commands found"

fresh steps
first_apply=
drift=
for i in "${!steps[@]}"; do
  line=${steps[$i]}
  want=0
  if [[ $line =~ \#.*exit\ ([0-9]+) ]]; then want=${BASH_REMATCH[1]}; fi
  (cd "$w" && bash -o pipefail -c "$line") >"$tmp/step$i.out" 2>"$tmp/step$i.err"
  rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else
    bad "README step '$line': exit $rc, want $want"
    sed 's/^/    /' "$tmp/step$i.out" "$tmp/step$i.err" | tail -8
  fi
  entries "$w" >"$tmp/step$i.ls"
  case $line in
  "tenantd apply --once"*) [ -n "$first_apply" ] || first_apply=$i ;;
  *.tenantd/local/*) drift=$i ;;
  esac
done

# What the steps must show, found by what the lines say.
if [ -n "$first_apply" ]; then
  expect_out "README: the first apply creates everything" \
    '^3 tenants: 29 changed, 0 failed, 0 skipped' "$tmp/step$first_apply.out"
  # validate and plan before it wrote nothing where they ran.
  for ((i = 0; i < first_apply; i++)); do
    eq "README: '${steps[$i]}' writes nothing here" \
      "$(cat "$tmp/step$i.ls")" "tenants"
  done
else
  bad "README: no 'tenantd apply --once' step"
fi
if [ -n "$drift" ] && [ "$((drift + 2))" -lt "${#steps[@]}" ]; then
  eq "README: the step after the drift is a plan" \
    "$(sed 's/ *#.*//' <<<"${steps[$((drift + 1))]}")" \
    "tenantd plan tenants --detailed-exitcode"
  expect_out "README: the plan shows the drift" \
    '~   database/mwc-murata.staging +\(drift\)' "$tmp/step$((drift + 1)).out"
  expect_out "README: the drift, field by field" \
    'connection_limit: 50 -> 200' "$tmp/step$((drift + 1)).out"
  expect_out "README: apply corrects it" \
    '^3 tenants: 1 changed, 0 failed' "$tmp/step$((drift + 2)).out"
else
  bad "README: no drift step (a line editing .tenantd/local) with a plan and an apply after it"
fi
eq "README: the state is private" "$(stat -c %a "$w/.tenantd/local")" 700
check "README: the status is where --help says" test -f "$w/.tenantd/status/mwc-murata.yaml"

# ==== the Commands section: each command's --help ====
# The commands and options the README's usage block shows.
mapfile -t usage < <(awk '
  /^## Commands$/ { section = 1; next }
  section && /^```$/ { if (inblock) exit; inblock = 1; next }
  inblock { print }' "$readme")
[ "${#usage[@]}" -ge 8 ] && ok || bad "README: no usage block in Commands"
for line in "${usage[@]}"; do
  [[ $line =~ ^tenantd\ ([a-z]+) ]] || continue
  cmd=${BASH_REMATCH[1]}
  expect_rc "$cmd --help" 0 tenantd "$cmd" --help
  expect_out "$cmd --help: usage" "^Usage: tenantd $cmd"
  for opt in $(grep -oE -- '--[a-z-]+' <<<"${line%%  *}"); do
    [ "$opt" = --help ] && continue
    expect_out "README's $cmd $opt is in its --help" "^ +$opt\b"
  done
done
expect_rc "tenantd --help" 0 tenantd --help
expect_out "tenantd --help lists apply" '^  apply '

# ==== options where people put them ====
fresh opts
cd "$w" || exit 1
expect_rc "validate DIR --format json" 0 tenantd validate tenants --format json
expect_out "validate DIR --format json: JSON" '"valid": true'
expect_rc "plan DIR --state-dir S --detailed-exitcode" 2 \
  tenantd plan tenants --state-dir s --detailed-exitcode
expect_out "plan: changes pending" '^29 changes pending$'
eq "plan wrote nothing, not even its state dir" "$(entries .)" "tenants"
expect_rc "apply --once DIR --state-dir a/b/c --status-dir x/y" 0 \
  tenantd apply --once tenants --state-dir a/b/c --status-dir x/y
check "nested state dir made with its parents" test -f a/b/c/network/mwc-murata-staging.json
check "nested status dir made with its parents" test -f x/y/mwc-murata.yaml
expect_rc "-- ends the options" 0 tenantd validate -- tenants
expect_rc "apply --once DIR --format json" 1 tenantd apply --once tenants --format json
expect_out "apply --format json: a usage error of apply" \
  "^tenantd apply: unknown option '--format'$" "$tmp/err"
expect_rc "a typo in the command" 1 tenantd valdate tenants
expect_out "a typo: did you mean" "did you mean 'validate'\?" "$tmp/err"
expect_rc "a typo in an option" 1 tenantd plan tenants --formt json
expect_out "a typo in an option: did you mean" "did you mean '--format'\?" "$tmp/err"
cd "$root" || exit 1

# ==== commands that only read write nothing where they run ====
fresh git
example_remote "$tmp/remote"
cd "$w" || exit 1
rm -rf tenants
expect_rc "plan --repo from an empty directory" 0 tenantd plan --repo "file://$R"
expect_rc "status --repo before any apply" 0 tenantd status --repo "file://$R"
eq "plan and status wrote nothing here" "$(entries .)" ""
check "the mirror is in the user's cache" test -d "$XDG_CACHE_HOME/tenantd"
cd "$root" || exit 1

# ==== a directory tenantd may not write: an error naming it, not retried ====
# As root every directory is writable: drop to nobody to see it refused.
fresh perm
mkdir "$w/ro" "$w/status"
chmod 555 "$w/ro"
chmod 777 "$w/status"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  chmod 755 "$tmp"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
if [ "$(id -u)" -ne 0 ] || "${as_user[@]}" "$bin" version >/dev/null 2>&1; then
  expect_rc "unwritable state dir" 1 "${as_user[@]}" "$bin" apply --once "$w/tenants" \
    --state-dir "$w/ro/state" --status-dir "$w/status"
  expect_out "unwritable: the path, refused access" \
    "failed +network/mwc-murata.staging: auth: local: cannot create directory $w/ro/state: Permission denied"
  expect_no_out "unwritable: never transient (retried)" 'transient'
else
  echo "newcomer: cannot run as another user here; unwritable state dir not checked"
fi

summary newcomer
