# Shared helpers of the shell suites: counters, expectations, hermetic git,
# HTTP status codes, processes stopped on exit, nginx configs.
# Source it after setting $tmp (a scratch directory the suite owns).
# shellcheck shell=bash

pass=0
fail=0

# Hermetic git: no system or user configuration, a fixed identity; the
# user's cache (tenantd's default Git mirrors) is the suite's too.
export HOME=$tmp XDG_CONFIG_HOME=$tmp/.config XDG_CACHE_HOME=$tmp/.cache
export GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Tester GIT_AUTHOR_EMAIL=tester@example.com
export GIT_COMMITTER_NAME=Tester GIT_COMMITTER_EMAIL=tester@example.com
export GIT_TERMINAL_PROMPT=0
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE

ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL $*"
}
# bad_log NAME FILE: a failure, and FILE's last lines, the daemon's say.
bad_log() {
  bad "$1"
  tail -n 30 "$2" 2>/dev/null | sed 's/^/    log: /'
}
# expect_rc NAME WANT CMD...: stdout in $tmp/out, stderr in $tmp/err.
# A suite may set, after sourcing this file:
#   expect_timeout=SECONDS   every run is bounded (a run cut short exits
#                            124, which no check expects);
#   expect_merged=1          stderr goes to $tmp/out too, interleaved as
#                            written ($tmp/err is then empty);
#   expect_transcript=FILE   every run's stdout and stderr are appended
#                            to FILE, e.g. to search them all for secrets.
expect_timeout=
expect_merged=
expect_transcript=
expect_rc() {
  local name=$1 want=$2 rc
  shift 2
  [ -z "$expect_timeout" ] || set -- timeout "$expect_timeout" "$@"
  if [ -n "$expect_merged" ]; then
    "$@" >"$tmp/out" 2>&1
    rc=$?
    : >"$tmp/err"
  else
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
  fi
  [ -z "$expect_transcript" ] || cat "$tmp/out" "$tmp/err" >>"$expect_transcript"
  if [ "$rc" -eq "$want" ]; then ok; else
    bad "$name: exit $rc, want $want"
    sed 's/^/    out: /' "$tmp/out" | tail -12
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
  if [ ! -e "$f" ]; then
    bad "$1: $(basename "$f") does not exist"
  elif grep -qE -- "$2" "$f"; then
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
# started_port LOG PID: the port of the daemon PID, from the "tenantd
# started" line it writes to LOG; waits for it up to 30 s while PID
# lives (a daemon under a sanitizer on a loaded machine starts slowly),
# and fails without printing one otherwise.
started_port() {
  local deadline=$((SECONDS + 30)) port
  while :; do
    port=$(sed -n 's/.*msg="tenantd started".* port=\([0-9]*\).*/\1/p' \
      "$1" | tail -1)
    [ -n "$port" ] && break
    kill -0 "$2" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
  echo "$port"
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
# http_code URL [CURL-ARGS...]: the HTTP status of a GET of URL, 000
# when nothing answers; bounded by 3 s unless CURL-ARGS say otherwise.
http_code() {
  local url=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" "$url"
}
# Servers and other processes a suite starts in the background:
#   track_pid PID          stop PID when the suite exits;
#   stop_pid PID [SIGNAL]  stop it now (TERM by default), wait for it and
#                          forget it, so the exit never signals a PID the
#                          system has since given to another process;
#   forget_pid PID         after waiting for it yourself;
#   cleanup_on_exit        installs the EXIT trap: every tracked PID is
#                          sent TERM and waited for, then $tmp is removed
#                          (kept when KEEP_TMP is set, to look into).
tracked_pids=()
track_pid() { tracked_pids+=("$1"); }
forget_pid() {
  local i
  for i in "${!tracked_pids[@]}"; do
    [ "${tracked_pids[$i]}" != "$1" ] || unset "tracked_pids[$i]"
  done
}
stop_pid() {
  kill -s "${2:-TERM}" "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  forget_pid "$1"
}
stop_tracked() {
  local p
  for p in "${tracked_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${tracked_pids[@]}"; do wait "$p" 2>/dev/null; done
  tracked_pids=()
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
cleanup_on_exit() { trap stop_tracked EXIT; }
# nginx_conf DIR [ERROR-LOG-LEVEL [ACCESS-LOG-FORMAT]] <HTTP: writes
# DIR/nginx.conf for an nginx in the foreground with its pid, logs and
# temp files in DIR, one worker, and the directives read from stdin inside
# http {}.  As root
# the workers would run as nobody, who cannot reach a private temp dir:
# they stay root then.
nginx_conf() {
  local dir=$1 level=${2:+ $2} format=${3:-}
  local access="access_log $dir/access.log;"
  [ -z "$format" ] ||
    access="log_format suite '$format'; access_log $dir/access.log suite;"
  {
    [ "$(id -u)" -ne 0 ] || echo "user root;"
    cat <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log$level;
events { worker_connections 64; }
http {
  $access
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
EOF
    cat
    echo "}"
  } >"$dir/nginx.conf"
}
# pdns_conf DIR KEY DNS-PORT HTTP-PORT: a PowerDNS server's config dir:
# DIR/pdns.conf for pdns_server in the foreground on 127.0.0.1, its sqlite
# backend (DIR/pdns.sqlite3, schema loaded), the API on HTTP-PORT with
# KEY, and each API request in DIR/log (the bench counts them there).
pdns_conf() {
  local dir=$1 key=$2 dns_port=$3 http_port=$4
  mkdir -p "$dir"
  cat >"$dir/pdns.conf" <<EOF
launch=gsqlite3
gsqlite3-database=$dir/pdns.sqlite3
local-address=127.0.0.1
local-port=$dns_port
socket-dir=$dir
daemon=no
guardian=no
disable-syslog=yes
api=yes
api-key=$key
webserver=yes
webserver-address=127.0.0.1
webserver-port=$http_port
webserver-allow-from=127.0.0.0/8
webserver-loglevel=normal
loglevel=6
security-poll-suffix=
EOF
  sqlite3 "$dir/pdns.sqlite3" \
    </usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
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
