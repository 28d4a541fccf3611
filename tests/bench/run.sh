#!/usr/bin/env bash
# make bench: tenantd's speed and memory, each figure a median of repeated
# runs and a ratio to a baseline measured in the same run.  Prints one
# table and writes it, with the machine and the commands, to
# tests/bench/RESULTS.md.
#
#   cold     plan on an empty local provider (load, validate, compose,
#            observe, diff, plan) for N tenants; floor: libyaml's raw event
#            parse of the same files (tests/bench/yaml_floor.c)
#   incr     the daemon's pass for a commit touching one tenant, from the
#            fetch done to the status commit written (its "pass done" log
#            line), on the smallest and the largest repository
#   poll     the daemon's no-change poll (a fetch) vs git fetch and
#            git ls-remote of the same local bare remote
#   apply    provider calls per second on the local provider at 20 ms a
#            call, by concurrency, vs the ideal concurrency / latency (10
#            tenants up to concurrency 8, 100 beyond: a graph wide enough
#            to keep that many calls in flight)
#   latency  webhook to status commit on the remote, through the daemon
#
# Usage: tests/bench/run.sh TENANTD YAML_FLOOR
# Environment: BENCH_NS ("100 1000 10000"), BENCH_RUNS (3), BENCH_COMMITS (50),
# BENCH_INCR (7: one-tenant commits per repository for incr)
set -uo pipefail

bin=$(realpath "${1:?usage: run.sh TENANTD YAML_FLOOR}")
floor=$(realpath "${2:?usage: run.sh TENANTD YAML_FLOOR}")
here=$(cd "$(dirname "$0")" && pwd)
NS=${BENCH_NS:-"100 1000 10000"}
RUNS=${BENCH_RUNS:-3}
COMMITS=${BENCH_COMMITS:-50}
INCR=${BENCH_INCR:-7}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tenantd-bench.XXXXXX")
dpid=""
cleanup() {
  [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export HOME=$tmp GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
rows=()
row() { # the table's columns, |-separated
  rows+=("$1")
  printf '%s\n' "$1" | tr '|' '\t'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
pct() { # P: the P-th percentile of stdin
  sort -g | awk -v p="$1" '{ v[NR] = $1 }
    END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
# timed OUT CMD...: runs CMD, "<wall s> <max RSS KiB>" appended to OUT.
timed() {
  local out=$1
  shift
  /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >"$tmp/cmd.out" 2>&1 ||
    { echo "bench: failed: $*" >&2; tail -5 "$tmp/cmd.out" >&2; }
  cat "$tmp/time" >>"$out"
}

echo "tenantd benchmarks: $(nproc) CPUs, runs=$RUNS; tenants: $NS"

# ---- cold full pass ----
row "measure|N|tenantd|baseline|ratio"
for n in $NS; do
  repo=$tmp/repo-$n
  python3 "$here/gen.py" "$n" "$repo"
  : >"$tmp/cold" && : >"$tmp/floor"
  for _ in $(seq "$RUNS"); do
    rm -rf "$tmp/state" "$tmp/status"
    timed "$tmp/floor" "$floor" "$repo"
    timed "$tmp/cold" "$bin" plan --state-dir "$tmp/state" \
      --status-dir "$tmp/status" "$repo"
  done
  resources=$(sed -n 's/^\([0-9]*\) changes pending$/\1/p' "$tmp/cmd.out")
  wall=$(cut -d' ' -f1 "$tmp/cold" | median)
  rss=$(cut -d' ' -f2 "$tmp/cold" | median)
  fwall=$(cut -d' ' -f1 "$tmp/floor" | median)
  row "cold pass (s)|$n|$wall|$fwall (yaml parse)|$(ratio "$wall" "$fwall")"
  row "cold pass peak RSS (MB)|$n|$((rss / 1024))| | "
  row "cold pass per tenant (ms)|$n|$(awk -v w="$wall" -v n="$n" 'BEGIN { printf "%.3f", w * 1000 / n }')| | "
  row "cold pass per resource (us)|$n|$(awk -v w="$wall" -v r="${resources:-1}" 'BEGIN { printf "%.1f", w * 1e6 / r }') ($resources resources)| | "
done

# ---- the daemon: incremental passes, polling, commit-to-applied latency ----
export TENANTD_WEBHOOK_SECRET=bench
body='{}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac bench | sed 's/^.* //')
# setup N: a bare remote with the N-tenant repository, applied once (not
# measured), and a daemon on it, ready.  Sets d, port, dpid.
setup() {
  local n=$1
  d=$tmp/git-$n
  mkdir -p "$d"
  git init -q --bare -b main "$d/remote.git"
  git clone -q "$d/remote.git" "$d/wc" 2>/dev/null
  cp -r "$tmp/repo-$n"/. "$d/wc/"
  git -C "$d/wc" add -A && git -C "$d/wc" commit -q -m "$n tenants"
  git -C "$d/wc" push -q origin HEAD:main
  "$bin" apply --once --repo "file://$d/remote.git" --cache-dir "$d/cache" \
    --state-dir "$d/state" >/dev/null 2>&1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$d/tenantd.yaml" <<EOF
source: {url: file://$d/remote.git, interval: 1h}
cacheDir: $d/cache
reconcile: {resync: 1h, concurrency: 32}
http: {listen: "127.0.0.1:$port", webhookSecretEnv: TENANTD_WEBHOOK_SECRET}
providers:
  local: {type: local, stateDir: $d/state}
EOF
  "$bin" run --config "$d/tenantd.yaml" 2>"$d/daemon.log" &
  dpid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
    kill -0 "$dpid" 2>/dev/null || { cat "$d/daemon.log" >&2; exit 1; }
    sleep 0.1
  done
}
stop() {
  kill -TERM "$dpid" && wait "$dpid"
  dpid=""
}
hook() {
  curl -s -o /dev/null -X POST -H "X-Tenantd-Signature: sha256=$sig" \
    --data "$body" "http://127.0.0.1:$port/hooks/generic"
}
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# commit N I: the I-th one-tenant commit, pushed; odd ones move a tenant to
# another tier, even ones move it back.  Sets head.
commit() {
  local n=$1 i=$2 k
  k=$(((i - 1) / 2 % n))
  if [ $((i % 2)) -eq 1 ]; then
    python3 "$here/gen.py" "$n" "$d/wc" --touch "$k"
  else
    python3 "$here/gen.py" "$n" "$d/wc" --restore "$k"
  fi
  git -C "$d/wc" commit -q -am "commit $i" >/dev/null
  git -C "$d/wc" push -q origin HEAD:main
  head=$(git -C "$d/wc" rev-parse HEAD)
}
# applied: waits, without polling, for the daemon's "pass done" line of
# $head, logged once its status commit is pushed; prints that line.  A
# pass that never comes fails the bench after 120 s instead of hanging.
applied() {
  local tp rc
  exec 3< <(exec tail -n +1 -F "$d/daemon.log" 2>/dev/null)
  tp=$!
  timeout 120 grep -m1 -a "msg=\"pass done\" source=$head" <&3
  rc=$?
  kill "$tp" 2>/dev/null
  exec 3<&-
  if [ "$rc" -ne 0 ]; then
    echo "bench: no pass done for $head; the daemon's log ends:" >&2
    tail -5 "$d/daemon.log" >&2
    [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
    exit 1
  fi
}
# incr N: the daemon's one-tenant passes on the N-tenant repository.
incr() {
  local n=$1
  setup "$n"
  : >"$d/incr"
  for i in $(seq "$INCR"); do
    commit "$n" "$i"
    hook
    applied | sed -n 's/.* commit_seconds=\([0-9.]*\).*/\1/p' >>"$d/incr"
  done
  stop
  median <"$d/incr"
}
small=$(echo "$NS" | awk '{ print $1 }')
large=$(echo "$NS" | awk '{ print $NF }')
i_small=$(incr "$small") && [ -n "$i_small" ] || exit 1
i_large=$i_small
if [ "$large" != "$small" ]; then
  i_large=$(incr "$large") && [ -n "$i_large" ] || exit 1
fi
row "one-tenant commit: fetch done to status commit (s)|$large|$i_large|$i_small (N=$small)|$(ratio "$i_large" "$i_small")"

# The daemon again on the small repository (its state and cache kept).
d=$tmp/git-$small
"$bin" run --config "$d/tenantd.yaml" 2>"$d/daemon.log" &
dpid=$!
port=$(sed -n 's/.*listen: "127.0.0.1:\([0-9]*\)".*/\1/p' "$d/tenantd.yaml")
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
  kill -0 "$dpid" 2>/dev/null || { cat "$d/daemon.log" >&2; exit 1; }
  sleep 0.05
done
c0=$(metric tenantd_source_fetch_duration_seconds_count)
s0=$(metric tenantd_source_fetch_duration_seconds_sum)
for _ in $(seq 20); do hook; sleep 0.1; done
sleep 0.5
c1=$(metric tenantd_source_fetch_duration_seconds_count)
s1=$(metric tenantd_source_fetch_duration_seconds_sum)
poll=$(awk -v a="$s0" -v b="$s1" -v x="$c0" -v y="$c1" 'BEGIN { printf "%.4f", (b - a) / (y - x) }')
git clone -q --bare "$d/remote.git" "$d/fetch.git"
: >"$d/gitfetch" && : >"$d/lsremote"
for _ in $(seq 20); do
  timed "$d/gitfetch" git --git-dir "$d/fetch.git" fetch -q "$d/remote.git" \
    "+refs/heads/*:refs/heads/*"
  timed "$d/lsremote" git ls-remote "$d/remote.git"
done
gf=$(cut -d' ' -f1 "$d/gitfetch" | median)
ls=$(cut -d' ' -f1 "$d/lsremote" | median)
row "no-change poll (s, mean of 20)|$small|$poll|$gf (git fetch)|$(ratio "$poll" "$gf")"
row "no-change poll (s, mean of 20)|$small|$poll|$ls (git ls-remote)|$(ratio "$poll" "$ls")"

: >"$d/lat"
for i in $(seq $((INCR + 1)) $((INCR + COMMITS))); do
  commit "$small" "$i"
  t0=$(date +%s%N)
  hook
  applied >/dev/null
  echo $((($(date +%s%N) - t0) / 1000)) >>"$d/lat"
  git --git-dir "$d/remote.git" log -1 --format=%B tenantd/status |
    grep -q "Tenantd-Source: $head" ||
    echo "bench: $head: no status commit on the remote" >&2
done
p50=$(pct 50 <"$d/lat")
p99=$(pct 99 <"$d/lat")
stop
row "webhook to status commit p50 (ms, $(wc -l <"$d/lat") commits)|$small|$((p50 / 1000))|100 (aim)|$(ratio "$((p50 / 1000))" 100)"
row "webhook to status commit p99 (ms)|$small|$((p99 / 1000))| | "

# ---- apply throughput at 20 ms a call ----
python3 "$here/gen.py" 10 "$tmp/thr-10"
python3 "$here/gen.py" 100 "$tmp/thr-100"
for c in 1 8 32 128; do
  nt=$((c <= 8 ? 10 : 100))
  repo=$tmp/thr-$nt
  : >"$tmp/thr"
  for _ in $(seq "$RUNS"); do
    rm -rf "$tmp/tstate" "$tmp/tstatus"
    timed "$tmp/thr" "$bin" apply --once --concurrency "$c" \
      --set local.latencyMs=20 --state-dir "$tmp/tstate" \
      --status-dir "$tmp/tstatus" "$repo"
  done
  # Every resource is read, then created: two calls each.
  calls=$((2 * $(find "$tmp/tstate" -name '*.json' | wc -l)))
  wall=$(cut -d' ' -f1 "$tmp/thr" | median)
  rate=$(awk -v c="$calls" -v w="$wall" 'BEGIN { printf "%.0f", c / w }')
  row "apply calls/s at 20 ms, concurrency $c|$nt|$rate|$((c * 50)) (ideal)|$(ratio "$rate" $((c * 50)))"
done

# ---- RESULTS.md ----
{
  echo "# tenantd benchmarks"
  echo
  echo "Made by \`make bench\` ($(date -u +%Y-%m-%d)). Each figure is the median of"
  echo "$RUNS runs unless it says otherwise; each ratio is against a baseline"
  echo "measured in the same run."
  echo
  echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)),"
  echo "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r)."
  echo
  echo "| measure | N | tenantd | baseline | ratio |"
  echo "|---|---|---|---|---|"
  for r in "${rows[@]:1}"; do echo "| ${r//|/ | } |"; done
  echo
  echo "Commands (N tenants from \`tests/bench/gen.py N DIR\`):"
  echo
  echo "- cold: \`tenantd plan --state-dir EMPTY --status-dir EMPTY DIR\`; floor: \`build/bench/yaml_floor DIR\`"
  echo "- incr: \`tenantd run\` on a bare remote applied once before; after each push of \`gen.py N WC --touch K\` (or \`--restore K\`), a signed POST /hooks/generic; \`commit_seconds\` of the daemon's \"pass done\" line for that commit ($INCR commits)"
  echo "- poll: \`tenantd_source_fetch_duration_seconds\` of \`tenantd run\` over 20 signed webhooks; \`git fetch\` and \`git ls-remote\` of the same bare remote"
  echo "- latency: signed POST /hooks/generic after a push, until the daemon logs the pass of that commit done (its status pushed), followed with \`tail -F\`, not polled; each then checked with \`git log -1 tenantd/status\` on the remote ($COMMITS commits)"
  echo "- apply: \`tenantd apply --once --concurrency C --set local.latencyMs=20 DIR\` on 10 tenants (C <= 8) or 100 (C >= 32)"
} >"$here/RESULTS.md"
echo "wrote tests/bench/RESULTS.md"
bash "$here/docker.sh" "$bin" || exit 1 # containers: tests/bench/DOCKER.md
