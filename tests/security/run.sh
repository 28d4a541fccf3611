#!/usr/bin/env bash
# Replays of attacks on, and accidents to, tenantd's Git source, each
# against real servers this script starts on loopback (tests/security/
# hostile.py, git daemon):
#   1. credentials never follow a redirect to another host or port, and
#      never go over plain http to another machine unless allowed;
#   2. passwords with '@', '***' or percent-escapes never show (and never
#      hang a pass), in apply's output, the daemon's log or /readyz;
#   3. a server that accepts and never answers, or answers a byte a second,
#      fails a fetch within source.timeout (http, https, ssh, git), for
#      `apply --once` and for the daemon, which keeps answering /healthz;
#      the mirror and the provider's state stay as they were;
#   4. tenantd killed with SIGKILL at random moments of a pass, 50 times:
#      each next pass succeeds (no lock file wedges the mirror, nor the
#      local remote a killed push was writing).
# Usage: tests/security/run.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
hostile=$root/tests/security/hostile.py
tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
py=$(command -v python3 || echo /usr/bin/python3)
for tool in "$py" git curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "security: no $tool"; exit 1; }
done

# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
unset TENANTD_GIT_USERNAME TENANTD_GIT_PASSWORD TENANTD_GIT_TIMEOUT
# ssh must find no agent and no keys of the user's.
unset SSH_AUTH_SOCK

pw=env-pa55-w0rd-17
url_pw=url-pa55-w0rd-23

# expect_rc, bounded, every output kept in $tmp/all (searched for the
# passwords at the end); the run's wall time in $took (seconds).
expect_rc() {
  local name=$1 want=$2 t0
  shift 2
  t0=$(date +%s%N)
  timeout 30 "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  took=$((($(date +%s%N) - t0) / 1000000000))
  cat "$tmp/out" "$tmp/err" >>"$tmp/all"
  if [ "$rc" -eq "$want" ]; then ok; else
    bad "$name: exit $rc, want $want"
    sed 's/^/    out: /' "$tmp/out" | tail -8
    sed 's/^/    err: /' "$tmp/err" | tail -8
  fi
}
# within NAME SECONDS: the last run took at most that long.
within() {
  if [ "$took" -le "$2" ]; then ok; else bad "$1: took ${took}s, want <= $2s"; fi
}
expect_no_str() { # NAME STRING FILE
  if grep -qF -- "$2" "$3" 2>/dev/null; then
    bad "$1: $(basename "$3") holds '$2'"
    grep -F -- "$2" "$3" | sed 's/^/    /' | head -5
  else ok; fi
}

# serve MODE ADDR ARGS...: a hostile server; its port in $port.
serve() {
  local pf=$tmp/port.$((++nserve))
  "$py" "$hostile" "$1" "$2" "$pf" "${@:3}" 2>>"$tmp/hostile.log" &
  pids+=($!)
  if ! wait_for 10 test -s "$pf"; then
    echo "security: hostile.py $1 did not start"
    cat "$tmp/hostile.log"
    exit 1
  fi
  port=$(cat "$pf")
}
nserve=0
C=$tmp/cache
S=$tmp/state
A=(apply --once --cache-dir "$C" --state-dir "$S")

# ==== 1. credentials stay with the configured host and port ====
# Two servers that record any Authorization header they receive: one on
# another loopback address (another host), one on another port.
serve record 127.0.0.2 "$tmp/other-host.log"
other_host=http://127.0.0.2:$port
serve record 127.0.0.1 "$tmp/other-port.log"
other_port=http://127.0.0.1:$port
# The configured servers: 401 until credentials come, then 302 away; or
# 302 away at once (the other side then asks for credentials).
serve auth-redirect 127.0.0.1 "$other_host" "$tmp/first.log"
auth_to_host=$port
serve auth-redirect 127.0.0.1 "$other_port" "$tmp/first.log"
auth_to_port=$port
serve redirect 127.0.0.1 "$other_host"
to_host=$port
serve redirect 127.0.0.1 "$other_port"
to_port=$port

export TENANTD_GIT_USERNAME=tenantd TENANTD_GIT_PASSWORD=$pw
for p in $auth_to_host $auth_to_port $to_host $to_port; do
  expect_rc "1 redirect from :$p (env credentials)" 1 "$bin" "${A[@]}" \
    --repo "http://127.0.0.1:$p/t.git"
  expect_out "1 redirect from :$p refused" \
    "cannot redirect from|refused to connect to 127\\.0\\.0\\.1:" "$tmp/err"
  expect_rc "1 redirect from :$p (URL credentials)" 1 "$bin" "${A[@]}" \
    --repo "http://tenantd:$url_pw@127.0.0.1:$p/t.git"
done
unset TENANTD_GIT_USERNAME TENANTD_GIT_PASSWORD
# The replay reached the redirect: the configured server got credentials.
expect_out "1 the configured server was sent credentials" \
  '^Authorization: Basic' "$tmp/first.log"
for f in other-host other-port; do
  expect_no_str "1 no credentials reached the $f" "Authorization" "$tmp/$f.log"
done

# Plain http to another machine: "127.1" is loopback to the resolver but
# not a name tenantd takes for this machine, so the rule for other
# machines applies while nothing leaves loopback.
serve record 127.0.0.1 "$tmp/insecure.log"
insecure=$port
expect_rc "1 plain http to another machine" 1 env \
  TENANTD_GIT_PASSWORD="$pw" "$bin" "${A[@]}" \
  --repo "http://127.1:$insecure/t.git"
expect_out "1 says how to allow it" 'source\.allowInsecure: true' "$tmp/err"
expect_rc "1 plain http, URL credentials" 1 "$bin" "${A[@]}" \
  --repo "http://tenantd:$url_pw@127.1:$insecure/t.git"
expect_no_str "1 no credentials over plain http" "Authorization" \
  "$tmp/insecure.log"

# ==== 2. passwords that used to leak or hang ====
dead=$(free_port)
for u in "http://tenantd:p@ss-$url_pw@127.0.0.1:$dead/t.git" \
  "http://tenantd:***@127.0.0.1:$dead/t.git" \
  "http://tenantd:pct%40$url_pw@127.0.0.1:$dead/t.git"; do
  expect_rc "2 $u fails" 1 "$bin" "${A[@]}" --repo "$u"
  within "2 $u ends" 10
  expect_out "2 $u names the server" "127\\.0\\.0\\.1:$dead" "$tmp/err"
  expect_no_str "2 $u: the password hidden" "tenantd:${u#http://tenantd:}" "$tmp/err"
done
expect_no_str "2 '@' password hidden" "p@ss-" "$tmp/all"
expect_no_str "2 decoded password hidden" "pct@" "$tmp/all"
# A password "***" shows as another word, so no "***" is it.
expect_out "2 '***' password shown as [redacted]" 'tenantd:\[redacted\]@' "$tmp/all"

# ==== 3. a fetch that never ends ====
serve silent 127.0.0.1
silent=$port
serve trickle-http 127.0.0.1
trickle_http=$port
serve trickle-ssh 127.0.0.1
trickle_ssh=$port
export TENANTD_GIT_TIMEOUT=2s
for u in "http://127.0.0.1:$silent/t.git" "https://127.0.0.1:$silent/t.git" \
  "ssh://git@127.0.0.1:$silent/t.git" "git://127.0.0.1:$silent/t.git" \
  "http://127.0.0.1:$trickle_http/t.git" \
  "ssh://git@127.0.0.1:$trickle_ssh/t.git"; do
  # libgit2 1.5.1 leaks two strings on every ssh connection (its
  # load_known_hosts() clears instead of disposing them): in a sanitized
  # build, leak checking is off for ssh runs.
  leaks=1
  case $u in ssh:*) leaks=0 ;; esac
  expect_rc "3 $u times out" 1 env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=$leaks" \
    "$bin" "${A[@]}" --repo "$u"
  within "3 $u within the timeout" 6
  expect_out "3 $u says so" "fetch from ${u//./\\.} timed out after 2s \\(source\\.timeout\\)" "$tmp/err"
done
unset TENANTD_GIT_TIMEOUT

# A real server behind a proxy that stalls on demand: the mirror and the
# state keep what the last good pass made.
d=$tmp/stall
example_remote "$d"
gport=$(free_port)
git daemon --listen=127.0.0.1 --port="$gport" --base-path="$d" --export-all \
  --enable=receive-pack --reuseaddr "$d" 2>>"$tmp/gitd.log" &
pids+=($!)
wait_for 10 git ls-remote "git://127.0.0.1:$gport/remote.git" ||
  { echo "security: git daemon did not start"; cat "$tmp/gitd.log"; exit 1; }
stall=$tmp/stall.flag
serve proxy 127.0.0.1 "$gport" "$stall"
proxied=git://127.0.0.1:$port/remote.git
S=$d/state
A=(apply --once --cache-dir "$d/cache" --state-dir "$S")
expect_rc "3 apply through the proxy" 0 "$bin" "${A[@]}" --repo "$proxied"
states() { (cd "$S" && find . -type f | sort | xargs md5sum); }
states >"$tmp/states.before"
sed -i 's|portal:5\.0\.3|portal:5.0.4|' "$W/tenants/greenwood-high.yaml"
git -C "$W" commit -qam "portal 5.0.4"
git -C "$W" push -q origin main
touch "$stall"
expect_rc "3 apply, the server stalls" 1 env TENANTD_GIT_TIMEOUT=2s \
  "$bin" "${A[@]}" --repo "$proxied"
within "3 apply, the server stalls: bounded" 6
expect_out "3 names the URL and the timeout" \
  "fetch from git://127\\.0\\.0\\.1:$port/remote\\.git timed out after 2s" "$tmp/err"
expect_out "3 holds the last good manifests" 'holding the last good manifests' "$tmp/err"
states >"$tmp/states.after"
check "3 nothing changed at the provider" cmp -s "$tmp/states.before" "$tmp/states.after"
rm -f "$stall"
expect_rc "3 apply once the server answers" 0 "$bin" "${A[@]}" --repo "$proxied"
expect_out "3 the new commit applied" '^[0-9]+ tenants?: 1 changed'

# The daemon: a pass stalls, /healthz keeps answering, the pass ends at
# the timeout, and the next one (the server back) succeeds.
cat >"$d/tenantd.yaml" <<EOF
source: {url: "$proxied", branch: main, interval: 1s, timeout: 2s}
cacheDir: $d/cache
status: {branch: tenantd/status, push: true}
reconcile: {resync: 1h, backoff: {base: 1s, max: 2s}}
http: {listen: "127.0.0.1:0"}
providers:
  local: {type: local, stateDir: $S}
EOF
# start_daemon CONFIG LOG: $pid, $url.
start_daemon() {
  : >"$2"
  "$bin" run --config "$1" 2>>"$2" &
  pid=$!
  pids+=("$pid")
  local hp
  hp=$(started_port "$2" "$pid")
  url=http://127.0.0.1:$hp
}
log=$d/daemon.log
start_daemon "$d/tenantd.yaml" "$log"
check "3 daemon ready" wait_for 20 curl -sf "$url/readyz"
touch "$stall"
sed -i 's|portal:5\.0\.4|portal:5.0.5|' "$W/tenants/greenwood-high.yaml"
git -C "$W" commit -qam "portal 5.0.5"
git -C "$W" push -q origin main
healthy=0
for _ in $(seq 30); do
  curl -sf --max-time 1 "$url/healthz" >/dev/null && healthy=$((healthy + 1))
  grep -q 'timed out after 2s' "$log" && break
  sleep 0.2
done
expect_out "3 daemon: the fetch timed out" \
  "fetch from git://127\\.0\\.0\\.1:$port/remote\\.git timed out after 2s" "$log"
check "3 daemon: /healthz answered during the stall" test "$healthy" -ge 5
check "3 daemon: /healthz answers after it" curl -sf --max-time 1 "$url/healthz"
rm -f "$stall"
check "3 daemon: the next pass applies the commit" \
  wait_for 20 grep -q 'portal:5.0.5' -r "$S"
kill -TERM "$pid"
wait "$pid"
eq "3 daemon: SIGTERM exits 0" "$?" 0

# The daemon's log and /readyz with a password holding '@' and '***'.
cat >"$d/leak.yaml" <<EOF
source: {url: "http://tenantd:***@p@ss-$url_pw@127.0.0.1:$dead/t.git",
         interval: 1s, timeout: 2s}
cacheDir: $d/cache2
http: {listen: "127.0.0.1:0"}
providers:
  local: {type: local, stateDir: $d/state2}
EOF
start_daemon "$d/leak.yaml" "$d/leak.log"
check "2 daemon: a pass failed" wait_for 20 grep -q 'pass failed\|source error' "$d/leak.log"
curl -s --max-time 2 "$url/readyz" >"$tmp/readyz"
expect_out "2 daemon: /readyz says why" "127\\.0\\.0\\.1:$dead" "$tmp/readyz"
kill -TERM "$pid"
wait "$pid"
cat "$tmp/readyz" "$d/leak.log" >>"$tmp/all"
# With reads behind a token, /readyz (public, for probes) keeps the
# reason for those who may read.
sed -i 's|^http: {listen: "127.0.0.1:0"}|http: {listen: "127.0.0.1:0", readTokenEnv: SEC_READ_TOKEN}|' "$d/leak.yaml"
SEC_READ_TOKEN=sec-read-token start_daemon "$d/leak.yaml" "$d/leak2.log"
check "2 daemon (read token): a pass failed" \
  wait_for 20 grep -q 'pass failed\|source error' "$d/leak2.log"
curl -s --max-time 2 "$url/readyz" >"$tmp/readyz"
expect_out "2 /readyz without the token: no reason" \
  'not ready: the last pass failed \(the reason is for readers\)' "$tmp/readyz"
curl -s --max-time 2 -H "Authorization: Bearer sec-read-token" "$url/readyz" >"$tmp/readyz2"
expect_out "2 /readyz with the token: the reason" "127\\.0\\.0\\.1:$dead" "$tmp/readyz2"
kill -TERM "$pid"
wait "$pid"
cat "$tmp/readyz" "$tmp/readyz2" "$d/leak2.log" >>"$tmp/all"
expect_no_str "2 daemon: password hidden" "p@ss-$url_pw" "$tmp/all"
expect_no_str "2 daemon: password's tail hidden" "$url_pw" "$tmp/all"

# source.allowInsecure: true lets credentials go over plain http.
cat >"$d/insecure.yaml" <<EOF
source: {url: "http://127.1:$insecure/t.git", interval: 1s,
         allowInsecure: true}
cacheDir: $d/cache3
http: {listen: "127.0.0.1:0"}
providers:
  local: {type: local, stateDir: $d/state3}
EOF
TENANTD_GIT_PASSWORD=$pw start_daemon "$d/insecure.yaml" "$d/insecure.log"
check "1 allowInsecure: credentials sent when allowed" \
  wait_for 20 grep -q '^Authorization: Basic' "$tmp/insecure.log"
kill -TERM "$pid"
wait "$pid"

# ==== 4. SIGKILL at random moments of a pass ====
d=$tmp/kill
example_remote "$d"
S=$d/state
A=(apply --once --repo "$R" --cache-dir "$d/cache" --state-dir "$S")
expect_rc "4 first apply" 0 "$bin" "${A[@]}"
bump() { # N: a commit that changes one service
  sed -i "s|portal:5\\.0\\.[0-9]*|portal:5.0.$1|" "$W/tenants/greenwood-high.yaml"
  git -C "$W" commit -qam "portal 5.0.$1"
  git -C "$W" push -q origin main
}
# How long such a pass takes on this machine (and build): the window to
# kill in.
bump 10
t0=$(date +%s%N)
expect_rc "4 a pass with one change" 0 "$bin" "${A[@]}"
pass_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$pass_ms" -ge 20 ] || pass_ms=20
RANDOM=4242
# A kill lands only while the pass still runs, and passes on a loaded
# machine vary about the one measured above: the trials go on until
# ten kills have landed (at least 50 trials, at most 300).
killed=0 i=0
while [ "$i" -lt 50 ] || { [ "$killed" -lt 10 ] && [ "$i" -lt 300 ]; }; do
  i=$((i + 1))
  bump $((10 + i))
  "$bin" "${A[@]}" >/dev/null 2>&1 &
  victim=$!
  ms=$((RANDOM % pass_ms))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  kill -9 "$victim" 2>/dev/null && killed=$((killed + 1))
  wait "$victim" 2>/dev/null
  expect_rc "4 trial $i: the next pass" 0 "$bin" "${A[@]}"
  expect_no_out "4 trial $i: pushed" 'not pushed|failed to lock'
  expect_no_out "4 trial $i: no lock error" 'failed to lock|locked' "$tmp/err"
done
check "4 trials killed a running pass ($killed of $i)" test "$killed" -ge 10
check "4 the last commit is applied" grep -q "portal:5.0.$((10 + i))" -r "$S"

# ==== 5. a thousand hostile HTTP clients ====
# Idle connections, pipelining clients that never read, slow drips, from
# a hundred addresses, all reconnecting when closed: the daemon's memory
# stays bounded and /healthz, asked from another address (as kubelet
# asks from the node's), answers within a second throughout.
d=$tmp/flood
example_remote "$d"
cat >"$d/tenantd.yaml" <<EOF
source: {url: "file://$R", branch: main, interval: 1h}
cacheDir: $d/cache
reconcile: {resync: 1h}
http: {listen: "127.0.0.1:0"}
providers:
  local: {type: local, stateDir: $d/state}
EOF
start_daemon "$d/tenantd.yaml" "$d/daemon.log"
check "5 daemon ready" wait_for 30 curl -sf "$url/readyz"
rss() { awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$pid/status"; }
rss0=$(rss)
"$py" "$root/tests/security/flood.py" 127.0.0.1 "${url##*:}" "$d/ready" &
flood=$!
pids+=("$flood")
check "5 the flood started" wait_for 60 test -s "$d/ready"
check "5 at least 900 connections opened ($(cat "$d/ready" 2>/dev/null))" \
  test "$(cat "$d/ready" 2>/dev/null || echo 0)" -ge 900
slow=0 worst=0 codes=""
for _ in $(seq 20); do
  t0=$(date +%s%N)
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
    --interface 127.0.0.2 "$url/healthz")
  codes="$codes $code"
  [ "$code" = 200 ] || slow=$((slow + 1))
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ "$ms" -gt "$worst" ] && worst=$ms
  sleep 0.25
done
rss1=$(rss)
check "5 /healthz answered within a second, 20 of 20 (got:$codes)" \
  test "$slow" -eq 0
check "5 the daemon is still there" kill -0 "$pid"
# An ASan build carries shadow memory of its own: there the bound is on
# what the flood added.
if nm -D "$bin" 2>/dev/null | grep -q __asan_init || ldd "$bin" | grep -q asan; then
  check "5 memory: what the flood added stays under 100 MB (ASan)" \
    test $((rss1 - rss0)) -lt 100
else
  check "5 memory: under 100 MB under the flood" test "$rss1" -lt 100
  echo "    memory under the flood: ${rss1} MB (${rss0} MB before); slowest /healthz ${worst} ms"
fi
kill "$flood"
wait "$flood" 2>/dev/null
check "5 /healthz after the flood" curl -sf --max-time 1 "$url/healthz"
kill -TERM "$pid"
wait "$pid"
eq "5 SIGTERM exits 0" "$?" 0

# ==== everything said ====
expect_no_str "no output holds the environment's password" "$pw" "$tmp/all"
expect_no_str "no output holds a URL password" "$url_pw" "$tmp/all"

summary security
