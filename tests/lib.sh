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
# example_remote DIR: DIR/remote.git, a bare remote whose main holds the
# example manifests, and DIR/wc, a clone to commit to; sets R and W.
# Needs $root, the project's top directory.
example_remote() {
  R=$1/remote.git
  W=$1/wc
  mkdir -p "$1"
  git init -q --bare -b main "$R"
  git clone -q "$R" "$W" 2>/dev/null
  git -C "$W" checkout -q -b main 2>/dev/null
  cp -r "$root/deploy/examples/tenants-repo"/. "$W"/
  git -C "$W" add -A
  git -C "$W" commit -q -m "Tenants of the example"
  git -C "$W" push -q origin main
}
# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# summary NAME: prints the counts; the suite's exit status.
summary() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
