# Shared helpers of the shell suites: counters, expectations, hermetic git.
# Source it after setting $tmp (a scratch directory the suite owns).
# shellcheck shell=bash

pass=0
fail=0

# Hermetic git: no system or user configuration, a fixed identity.
export HOME=$tmp XDG_CONFIG_HOME=$tmp/.config GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Tester GIT_AUTHOR_EMAIL=tester@example.com
export GIT_COMMITTER_NAME=Tester GIT_COMMITTER_EMAIL=tester@example.com
export GIT_TERMINAL_PROMPT=0
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE

ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL $*"
}
# expect_rc NAME WANT CMD...: stdout in $tmp/out, stderr in $tmp/err.
expect_rc() {
  local name=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else
    bad "$name: exit $rc, want $want"
    sed 's/^/    out: /' "$tmp/out" | tail -8
    sed 's/^/    err: /' "$tmp/err" | tail -8
  fi
}
# expect_out NAME REGEX [FILE]: FILE ($tmp/out by default) matches REGEX.
expect_out() {
  local f=${3:-$tmp/out}
  if grep -qE -- "$2" "$f"; then ok; else
    bad "$1: $(basename "$f") does not match: $2"
    sed 's/^/    /' "$f" | tail -12
  fi
}
expect_no_out() {
  local f=${3:-$tmp/out}
  if grep -qE -- "$2" "$f"; then
    bad "$1: $(basename "$f") matches: $2"
    grep -E -- "$2" "$f" | sed 's/^/    /' | head -5
  else ok; fi
}
check() { # NAME CMD...
  local name=$1
  shift
  if "$@" >/dev/null 2>&1; then ok; else bad "$name"; fi
}
eq() { # NAME GOT WANT
  if [ "$2" = "$3" ]; then ok; else
    bad "$1: got '$2', want '$3'"
  fi
}
# wait_for SECONDS CMD...: polls CMD every 0.1 s; 0 once it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
# summary NAME: prints the counts; the suite's exit status.
summary() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
