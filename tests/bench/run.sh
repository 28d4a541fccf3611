#!/usr/bin/env bash
# make bench: tenantd's speed and memory, each figure a median of repeated
# runs and a ratio to a baseline measured in the same run.  Prints one
# table and writes it, with the machine and each row's command, to
# tests/bench/RESULTS.md.
#
#   cold      plan on an empty local provider (load, validate, compose,
#             observe, diff, plan, print) for N tenants of gen.py, and for
#             the largest N of gen.py --varied (other names, tiers and
#             shapes);
#             floor: libyaml's raw event parse of the same files
#             (tests/bench/yaml_floor.c)
#   first     apply --once --repo from nothing on the largest repository
#   daemon    tenantd run on each repository, state applied: start to
#             /readyz; one-tenant commits, announced by signed webhooks,
#             from the fetch done to the status commit written (the
#             "pass done" line), at every N in the same run; webhook to
#             status commit on the remote; the no-change poll vs git fetch
#             and git ls-remote of the same bare remote; the floor of a
#             status commit: libgit2 writing the status/ tree alone
#             (tests/bench/status_floor.c)
#   apply     creates per second on the local provider at 20 ms a call,
#             by concurrency, vs the ideal concurrency / latency (the
#             reads before them go in batches, a call each)
#   providers PowerDNS, nginx and PostgreSQL at scale, against their own
#             clients (tests/bench/providers.sh)
#
# Usage: tests/bench/run.sh TENANTD YAML_FLOOR STATUS_FLOOR
# Environment: BENCH_NS ("100 1000 10000"), BENCH_RUNS (3), BENCH_COMMITS
# (30: webhook latency commits per repository), BENCH_INCR (15: one-tenant
# commits per repository), BENCH_FIRST_CONCURRENCY (64),
# BENCH_SKIP_PROVIDERS (set: not the real providers), and
# tests/bench/providers.sh's own
set -uo pipefail

usage="usage: run.sh TENANTD YAML_FLOOR STATUS_FLOOR"
bin=$(realpath "${1:?$usage}")
floor=$(realpath "${2:?$usage}")
sfloor=$(realpath "${3:?$usage}")
here=$(cd "$(dirname "$0")" && pwd)
NS=${BENCH_NS:-"100 1000 10000"}
RUNS=${BENCH_RUNS:-3}
COMMITS=${BENCH_COMMITS:-30}
INCR=${BENCH_INCR:-15}
FIRSTC=${BENCH_FIRST_CONCURRENCY:-64}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tenantd-bench.XXXXXX")
dpid=""
t_start=$SECONDS
cleanup() {
  [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export HOME=$tmp GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export TENANTD_WEBHOOK_SECRET=bench
small=$(echo "$NS" | awk '{ print $1 }')
large=$(echo "$NS" | awk '{ print $NF }')
rows=() later=()
# row MEASURE N VALUE BASELINE RATIO COMMAND: one line of the table;
# later_row: the same, for the end of the daemon's rows.
row() {
  rows+=("$1|$2|$3|$4|$5|$6")
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5"
}
later_row() {
  later+=("$1|$2|$3|$4|$5|$6")
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
pct() { # P: the P-th percentile of stdin
  sort -g | awk -v p="$1" '{ v[NR] = $1 }
    END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'; }
# timed OUT CMD...: runs CMD, after a sync, "<wall s> <peak RSS KiB> <cpu
# s>" appended to OUT (tests/bench/measure.py: microseconds, getrusage);
# its output in $tmp/cmd.out.
timed() {
  local out=$1
  shift
  # What ran before (a build, the bench's own setup) leaves its writes
  # to the command's flushes otherwise.
  sync
  python3 "$here/measure.py" "$tmp/measure" "$@"
  cat "$tmp/measure" >>"$out"
  rm -f "$tmp/measure"
  mv "$tmp/measure.out" "$tmp/cmd.out"
}
col() { cut -d' ' -f"$1" "$2" | median; }

echo "tenantd benchmarks: $(nproc) CPUs, runs=$RUNS; tenants: $NS"

# ---- cold full pass ----
# cold N LABEL [--varied]: plan on an empty provider against the raw
# parse; the repository is kept for the daemon (not the varied one).
cold() {
  local n=$1 label=$2 shape=${3:-} gen repo resources
  gen="gen.py $n DIR${shape:+ $shape}"
  repo=$tmp/repo-$n${shape:+-varied}
  python3 "$here/gen.py" "$n" "$repo" ${shape:+"$shape"}
  : >"$tmp/cold" && : >"$tmp/floor"
  for _ in $(seq "$RUNS"); do
    rm -rf "$tmp/state" "$tmp/status"
    timed "$tmp/floor" "$floor" "$repo"
    timed "$tmp/cold" "$bin" plan --state-dir "$tmp/state" \
      --status-dir "$tmp/status" "$repo"
  done
  resources=$(sed -n 's/^\([0-9]*\) changes pending$/\1/p' "$tmp/cmd.out")
  local wall fwall cpu fcpu rss
  wall=$(col 1 "$tmp/cold")
  rss=$(col 2 "$tmp/cold")
  cpu=$(col 3 "$tmp/cold")
  fwall=$(col 1 "$tmp/floor")
  fcpu=$(col 3 "$tmp/floor")
  local cmd="\`tenantd plan --state-dir EMPTY --status-dir EMPTY DIR\` on \`$gen\`; floor \`yaml_floor DIR\`"
  row "cold pass$label (s)" "$n" "$(fmt "$wall" %.3f)" "$(fmt "$fwall" %.4f) (yaml parse)" "$(ratio "$wall" "$fwall")" "$cmd"
  row "cold pass$label CPU, user+sys (s)" "$n" "$(fmt "$cpu" %.3f)" "$(fmt "$fcpu" %.4f) (yaml parse)" "$(ratio "$cpu" "$fcpu")" "$cmd"
  row "cold pass$label peak RSS (MB)" "$n" "$((rss / 1024))" " " " " "$cmd"
  if [ "$n" = "$large" ]; then
    T[cold$shape]=$(fmt "$wall" %.3f)
    T[cold_rss$shape]=$((rss / 1024))
    T[cold_x$shape]=$(ratio "$wall" "$fwall")
  fi
  row "cold pass$label per resource (us)" "$n" "$(awk -v w="$wall" -v r="${resources:-1}" 'BEGIN { printf "%.1f", w * 1e6 / r }') ($resources resources)" " " " " "$cmd"
}
declare -A T # the figures the targets table shows
row "measure" "N" "tenantd" "baseline" "ratio" "command"
for n in $NS; do
  cold "$n" ""
done
cold "$large" " (--varied)" --varied

# ---- the daemon ----
body='{}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac bench | sed 's/^.* //')
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# remote N: a bare remote with the N-tenant repository and a working
# clone, in $tmp/git-N; sets d.
remote() {
  local n=$1
  d=$tmp/git-$n
  mkdir -p "$d"
  git init -q --bare -b main "$d/remote.git"
  git clone -q "$d/remote.git" "$d/wc" 2>/dev/null
  cp -r "$tmp/repo-$n"/. "$d/wc/"
  git -C "$d/wc" add -A && git -C "$d/wc" commit -q -m "$n tenants"
  git -C "$d/wc" push -q origin HEAD:main
}
# first N [C]: the first apply from nothing of the N-tenant remote.
first() {
  "$bin" apply --once --concurrency "${2:-8}" --repo "file://$d/remote.git" \
    --cache-dir "$d/cache" --state-dir "$d/state"
}
# start: the daemon on $d, until /readyz; sets port, dpid, ready_ms.
start() {
  local t0
  port=$(free_port)
  cat >"$d/tenantd.yaml" <<EOF
source: {url: file://$d/remote.git, interval: 1h}
cacheDir: $d/cache
reconcile: {resync: 1h, concurrency: 32}
http: {listen: "127.0.0.1:$port", webhookSecretEnv: TENANTD_WEBHOOK_SECRET}
providers:
  local: {type: local, stateDir: $d/state}
EOF
  t0=$(date +%s%N)
  "$bin" run --config "$d/tenantd.yaml" 2>"$d/daemon.log" &
  dpid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
    kill -0 "$dpid" 2>/dev/null || { cat "$d/daemon.log" >&2; exit 1; }
    sleep 0.02
  done
  ready_ms=$((($(date +%s%N) - t0) / 1000000))
}
rss_mb() { awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$dpid/status"; }
# cpu_ticks: the daemon's user + system time so far, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$dpid/stat"; }
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
  # The working copy's and the push's writes are the bench's, not the
  # daemon's to flush.
  sync
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
# settled: the statuses the API shows are read (after /readyz).
settled() {
  local i
  for i in $(seq 600); do
    grep -q 'msg="statuses read"' "$d/daemon.log" && return
    sleep 0.1
  done
}

declare -A incr incr_q incr_cpu start_ms start_rss tree_s tree_kb
hz=$(getconf CLK_TCK)
fcmd="\`tenantd apply --once --concurrency $FIRSTC --repo file://REMOTE --cache-dir C --state-dir S\` on \`gen.py $large\`"
for n in $NS; do
  remote "$n"
  if [ "$n" = "$large" ]; then
    : >"$tmp/first"
    timed "$tmp/first" "$bin" apply --once --concurrency "$FIRSTC" \
      --repo "file://$d/remote.git" --cache-dir "$d/cache" \
      --state-dir "$d/state"
    tail -2 "$tmp/cmd.out" >&2
    fres=$(find "$d/state" -name '*.json' | wc -l)
    # The file system's own cost of those files: a copy of the state the
    # apply wrote, made durable, on the same disk in the same run.
    : >"$tmp/fsfloor"
    timed "$tmp/fsfloor" sh -c 'cp -r "$1" "$2" && sync' sh "$d/state" \
      "$d/state-copy"
    rm -rf "$d/state-copy"
    row "first apply from nothing (s)" "$n" "$(fmt "$(col 1 "$tmp/first")" %.2f)" "$(fmt "$(col 1 "$tmp/fsfloor")" %.2f) (cp -r of the state it wrote, then sync)" "$(ratio "$(col 1 "$tmp/first")" "$(col 1 "$tmp/fsfloor")")" "$fcmd ($fres resources)"
    row "first apply from nothing, CPU user+sys (s)" "$n" "$(fmt "$(col 3 "$tmp/first")" %.2f)" " " " " "$fcmd"
    row "first apply from nothing, peak RSS (MB)" "$n" "$(($(col 2 "$tmp/first") / 1024))" " " " " "$fcmd"
    T[first]=$(fmt "$(col 1 "$tmp/first")" %.1f)
    T[first_floor]=$(fmt "$(col 1 "$tmp/fsfloor")" %.1f)
    T[first_x]=$(ratio "$(col 1 "$tmp/first")" "$(col 1 "$tmp/fsfloor")")
    T[first_rss]=$(($(col 2 "$tmp/first") / 1024))
  else
    first "$n" "$FIRSTC" >/dev/null 2>&1
  fi
  start
  start_ms[$n]=$ready_ms
  start_rss[$n]=$(rss_mb)
  settled
  : >"$d/incr"
  c0=$(cpu_ticks)
  for i in $(seq "$INCR"); do
    commit "$n" "$i"
    hook
    applied | sed -n 's/.* commit_seconds=\([0-9.]*\).*/\1/p' >>"$d/incr"
  done
  # What the daemon spent over the commits, from the webhook to the
  # push, per commit: a figure the machine's load hardly moves.  It
  # includes the paced resync's work meanwhile (resync 1h: at 10,000
  # tenants, about three tenants a second).
  incr_cpu[$n]=$(awk -v a="$c0" -v b="$(cpu_ticks)" -v hz="$hz" -v k="$INCR" \
    'BEGIN { printf "%.1f", (b - a) * 1000 / hz / k }')
  incr[$n]=$(median <"$d/incr")
  incr_q[$n]="$(pct 25 <"$d/incr")-$(pct 75 <"$d/incr")"
  # What every status commit pays however it is made: libgit2 writing
  # the flat status/ tree (one entry a tenant) once, loose, compressed.
  read -r tree_s[$n] _ bytes < <("$sfloor" "$d/remote.git" tenantd/status \
    "$d/floor.git" 51)
  tree_kb[$n]=$(awk -v b="${bytes:-0}" 'BEGIN { printf "%.1f", b / 1024 }')
  rm -rf "$d/floor.git"
  if [ "$n" = "$large" ] || [ "$n" = "$small" ]; then
    : >"$d/lat"
    for i in $(seq $((INCR + 1)) $((INCR + COMMITS))); do
      commit "$n" "$i"
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
    T[p50_$n]=$((p50 / 1000))
    T[p99_$n]=$((p99 / 1000))
    lcmd="signed POST /hooks/generic after a push of \`gen.py $n WC --touch K\` and a \`sync\`, to the daemon's \"pass done\" line (status pushed), followed with \`tail -F\`; checked with \`git log -1 tenantd/status\` on the remote ($(wc -l <"$d/lat") commits)"
    later_row "webhook to status commit p50 (ms)" "$n" "$((p50 / 1000))" "100 (aim)" "$(ratio "$((p50 / 1000))" 100)" "$lcmd"
    later_row "webhook to status commit p99 (ms)" "$n" "$((p99 / 1000))" "250 (aim)" "$(ratio "$((p99 / 1000))" 250)" "$lcmd"
  fi
  if [ "$n" = "$large" ]; then
    c0=$(metric tenantd_source_fetch_duration_seconds_count)
    s0=$(metric tenantd_source_fetch_duration_seconds_sum)
    for _ in $(seq 20); do hook; sleep 0.2; done
    sleep 1
    c1=$(metric tenantd_source_fetch_duration_seconds_count)
    s1=$(metric tenantd_source_fetch_duration_seconds_sum)
    poll=$(awk -v a="$s0" -v b="$s1" -v x="$c0" -v y="$c1" 'BEGIN { printf "%.4f", (y > x ? (b - a) / (y - x) : 0) }')
    git clone -q --bare "$d/remote.git" "$d/fetch.git"
    : >"$d/gitfetch" && : >"$d/lsremote"
    for _ in $(seq 20); do
      timed "$d/gitfetch" git --git-dir "$d/fetch.git" fetch -q \
        "$d/remote.git" "+refs/heads/*:refs/heads/*"
      timed "$d/lsremote" git ls-remote "$d/remote.git"
    done
    gf=$(col 1 "$d/gitfetch")
    ls=$(col 1 "$d/lsremote")
    pcmd="\`tenantd_source_fetch_duration_seconds\` of \`tenantd run\` over 20 signed webhooks with nothing new; \`git fetch\` and \`git ls-remote\` of the same bare remote"
    later_row "no-change poll (s, mean of 20)" "$n" "$poll" "$(fmt "$gf" %.4f) (git fetch)" "$(ratio "$poll" "$gf")" "$pcmd"
    later_row "no-change poll (s, mean of 20)" "$n" "$poll" "$(fmt "$ls" %.4f) (git ls-remote)" "$(ratio "$poll" "$ls")" "$pcmd"
  fi
  stop
done
scmd="\`tenantd run\` on a bare remote whose state \`apply --once --repo\` applied, until GET /readyz answers 200"
for n in $NS; do
  row "daemon start to /readyz (s)" "$n" "$(fmt "${start_ms[$n]}" %d | awk '{ printf "%.2f", $1 / 1000 }')" " " " " "$scmd"
  row "daemon peak RSS at /readyz (MB)" "$n" "${start_rss[$n]}" " " " " "$scmd"
done
icmd="\`tenantd run\` as above; after each push of \`gen.py N WC --touch K\` (or \`--restore K\`) and a \`sync\`, a signed POST /hooks/generic; \`commit_seconds\` of the daemon's \"pass done\" line for that commit, median of $INCR"
for n in $NS; do
  row "one-tenant commit: fetch done to status commit (s)" "$n" "${incr[$n]}" "${incr[$small]} (N=$small)" "$(ratio "${incr[$n]}" "${incr[$small]}")" "$icmd (quartiles ${incr_q[$n]})"
done
tcmd="\`status_floor REMOTE tenantd/status EMPTY 51\` (tests/bench/status_floor.c) after those commits: the remote's status/ tree with one entry's id changed, written with \`git_odb_write\` into an empty repository, median of 51"
for n in $NS; do
  row "status/ tree write alone, the floor of a status commit (s)" "$n" "${tree_s[$n]}" "${incr[$n]} (the commit)" "$(ratio "${tree_s[$n]}" "${incr[$n]}")" "$tcmd (${tree_kb[$n]} KB)"
done
rest() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a - b }'; }
for n in $NS; do
  r=$(rest "${incr[$n]}" "${tree_s[$n]}")
  r0=$(rest "${incr[$small]}" "${tree_s[$small]}")
  row "one-tenant commit less the status/ tree write (s)" "$n" "$r" "$r0 (N=$small)" "$(ratio "$r" "$r0")" "the two rows above"
done
ccmd="\`tenantd run\` as above, the same commits; the daemon's user + system time (/proc/PID/stat) over the $INCR commits, from the push's webhook to the status commit pushed, fetch and push included, divided by $INCR; the paced resync's work meanwhile (resync 1h) is in it"
for n in $NS; do
  row "one-tenant commit: daemon CPU per commit (ms)" "$n" "${incr_cpu[$n]}" "${incr_cpu[$small]} (N=$small)" "$(ratio "${incr_cpu[$n]}" "${incr_cpu[$small]}")" "$ccmd"
done
rows+=("${later[@]}")

# ---- apply throughput at 20 ms a call ----
# throughput WHERE LABEL: the rows, with the provider's state and the
# statuses under WHERE (the bench's disk, or a tmpfs: there the file
# system's costs vanish and what is left is tenantd's).
throughput() {
  local where=$1 label=$2 c nt repo calls wall rate r
  for c in 1 8 32 128; do
    nt=$((c <= 8 ? 10 : 100))
    repo=$tmp/thr-$nt
    : >"$tmp/thr"
    # Each run in directories of its own, all removed after the rows: on
    # a file system that skips inodes freed seconds ago (ext4 without a
    # journal), creating files right after removing as many measures the
    # removal, not tenantd.
    for r in $(seq "$RUNS"); do
      timed "$tmp/thr" "$bin" apply --once --concurrency "$c" \
        --set local.latencyMs=20 --state-dir "$where/tstate-$c-$r" \
        --status-dir "$where/tstatus-$c-$r" "$repo"
    done
    # Every resource is read, then created.  The local provider answers
    # up to 512 reads as one call (provider.h's read_batch), so the reads
    # of a pass are a call or a few; the creates are the calls counted,
    # `concurrency` at a time, and the whole run's wall time is theirs.
    calls=$(find "$where/tstate-$c-1" -name '*.json' | wc -l)
    wall=$(col 1 "$tmp/thr")
    rate=$(awk -v c="$calls" -v w="$wall" 'BEGIN { printf "%.0f", c / w }')
    [ $c = 128 ] && T[thr$label]=$(ratio "$rate" $((c * 50)))
    row "apply calls/s at 20 ms, concurrency $c$label" "$nt" "$rate" "$((c * 50)) (ideal)" "$(ratio "$rate" $((c * 50)))" "\`tenantd apply --once --concurrency $c --set local.latencyMs=20 DIR\` on \`gen.py $nt DIR\` ($calls creates, one per resource, after their reads, which go 512 a call; the wall time includes the reads), each run with empty state and status directories of its own"
  done
  rm -rf "$where"/tstate-* "$where"/tstatus-*
}
python3 "$here/gen.py" 10 "$tmp/thr-10"
python3 "$here/gen.py" 100 "$tmp/thr-100"
throughput "$tmp" ""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  shm=$(mktemp -d /dev/shm/tenantd-bench.XXXXXX)
  throughput "$shm" ", state on tmpfs"
  rm -rf "$shm"
fi

# ---- the real providers at scale (tests/bench/providers.sh) ----
# Their own table in RESULTS.md: each server is started here on
# 127.0.0.1, and every row names its command and its baseline.
prov_rows=()
if [ -z "${BENCH_SKIP_PROVIDERS:-}" ]; then
  if bash "$here/providers.sh" "$bin" "$tmp/providers.rows"; then
    mapfile -t prov_rows < <(tail -n +2 "$tmp/providers.rows")
  else
    echo "bench: the providers' benchmark failed" >&2
  fi
fi

# ---- RESULTS.md ----
# target MEASURE VALUE TARGET CONDITION: a line of the targets table; the
# condition is awk's, on the figures.
target() {
  local met
  met=$(awk "BEGIN { print ($4) ? \"yes\" : \"no\" }")
  [ -n "$2" ] || met="not measured"
  echo "| $1 | ${2:--} | $3 | $met |"
}
{
  echo "# tenantd benchmarks"
  echo
  echo "Made by \`make bench\` ($(date -u +%Y-%m-%d), $(((SECONDS - t_start) / 60)) min). Each figure is the median"
  echo "of $RUNS runs unless it says otherwise; each ratio is against a"
  echo "baseline measured in the same run.  Wall times depend on what else"
  echo "the machine runs; the CPU rows (user + system seconds) much less."
  echo
  echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)),"
  echo "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r);"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "Reproduce: \`make bench\` (BENCH_NS=\"$NS\" BENCH_RUNS=$RUNS"
  echo "BENCH_INCR=$INCR BENCH_COMMITS=$COMMITS BENCH_FIRST_CONCURRENCY=$FIRSTC)."
  echo
  echo "## Targets"
  echo
  echo "The figures the targets are set on, at N=$large unless it says"
  echo "otherwise, from the table below (same run)."
  echo
  echo "| measure | measured | target | met |"
  echo "|---|---|---|---|"
  target "cold plan, local provider (s)" "${T[cold]:-}" "< 2" "${T[cold]:-9e9} < 2"
  target "cold plan, peak RSS (MB)" "${T[cold_rss]:-}" "< 300" "${T[cold_rss]:-9e9} < 300"
  target "cold plan / libyaml's raw parse (wall)" "${T[cold_x]:-}" "<= 8" "${T[cold_x]:-9e9} <= 8"
  target "cold plan, --varied tenants (s)" "${T[cold--varied]:-}" "< 2.5" "${T[cold--varied]:-9e9} < 2.5"
  target "cold plan, --varied tenants, peak RSS (MB)" "${T[cold_rss--varied]:-}" "< 300" "${T[cold_rss--varied]:-9e9} < 300"
  target "daemon start to /readyz (s)" "$(awk -v m="${start_ms[$large]:-}" 'BEGIN { printf "%.2f", m / 1000 }')" "< 10" "${start_ms[$large]:-9e9} < 10000"
  target "daemon peak RSS at /readyz (MB)" "${start_rss[$large]:-}" "< 400" "${start_rss[$large]:-9e9} < 400"
  target "one-tenant commit, fetch done to status commit (ms)" "$(awk -v s="${incr[$large]:-}" 'BEGIN { printf "%.1f", s * 1000 }')" "< 20" "${incr[$large]:-9e9} < 0.020"
  target "one-tenant commit vs N=$small" "$(ratio "${incr[$large]:-0}" "${incr[$small]:-0}")" "<= 1.5" "$(ratio "${incr[$large]:-0}" "${incr[$small]:-0}") <= 1.5 && ${incr[$small]:-0} > 0"
  target "webhook to status commit p50 (ms)" "${T[p50_$large]:-}" "< 100" "${T[p50_$large]:-9e9} < 100"
  target "webhook to status commit p99 (ms)" "${T[p99_$large]:-}" "< 250" "${T[p99_$large]:-9e9} < 250"
  target "first apply from nothing (s)" "${T[first]:-}" "< 30" "${T[first]:-9e9} < 30"
  target "first apply from nothing, peak RSS (MB)" "${T[first_rss]:-}" "< 500" "${T[first_rss]:-9e9} < 500"
  target "apply calls/s at 20 ms, concurrency 128, of ideal" "${T[thr]:-}" ">= 0.70" "${T[thr]:-0} >= 0.70"
  target "the same, state on tmpfs" "${T[thr, state on tmpfs]:-}" ">= 0.70" "${T[thr, state on tmpfs]:-0} >= 0.70"
  if [ -n "${tree_s[$large]:-}" ]; then
    echo
    echo "The one-tenant commit at N=$large includes writing the status/ tree"
    echo "(${tree_kb[$large]} KB, one entry a tenant) once: libgit2 alone took"
    echo "$(awk -v s="${tree_s[$large]}" 'BEGIN { printf "%.1f", s * 1000 }') ms for it in the same run, against $(awk -v s="${tree_s[$small]}" 'BEGIN { printf "%.2f", s * 1000 }') ms at N=$small."
    echo "The commit less that write took $(ratio "$(rest "${incr[$large]}" "${tree_s[$large]}")" "$(rest "${incr[$small]}" "${tree_s[$small]}")") times N=$small's."
    # With G the write's growth from N=small, a commit at N=large of at
    # most 1.5 times N=small's needs N=small's to be at least 2G, and
    # is then at least 3G itself.
    echo "The two one-tenant targets can both hold only when three times"
    echo "the write's growth from N=$small is under 20 ms; here it is"
    echo "$(awk -v a="${tree_s[$large]}" -v b="${tree_s[$small]}" 'BEGIN { printf "%.1f", 3 * (a - b) * 1000 }') ms."
  fi
  if [ -n "${T[first_floor]:-}" ]; then
    echo
    echo "The first apply against this disk: the files it wrote, copied with"
    echo "\`cp -r\` and made durable with \`sync\`, took ${T[first_floor]} s in the same run;"
    echo "the apply took ${T[first_x]} times that."
  fi
  echo
  echo "## All figures"
  echo
  echo "| measure | N | tenantd | baseline | ratio | command |"
  echo "|---|---|---|---|---|---|"
  for r in "${rows[@]:1}"; do echo "| ${r//|/ | } |"; done
  echo
  echo "N tenants come from \`tests/bench/gen.py N DIR\` (every tenant alike:"
  echo "two environments, three apps, 23 resources) or \`tests/bench/gen.py"
  echo "N DIR --varied\` (other names, its own tier catalog, one to four environments"
  echo "of one to six apps, apps elsewhere, aliases; about 37 resources a"
  echo "tenant).  The daemon rows come from \`tenantd run\` driven as a user"
  echo "would: pushes to a bare remote, signed webhooks, its own log and"
  echo "metrics."
  echo
  echo "## The real providers at scale"
  echo
  echo "\`tests/bench/providers.sh\` (\`make bench-providers\` runs it alone):"
  echo "PowerDNS, nginx and PostgreSQL started here on 127.0.0.1, each set"
  echo "against its own client doing the same work in the same run.  Observe"
  echo "is a \`tenantd plan\` with everything applied; every tenant also has"
  echo "a network (and, but for PostgreSQL, a route or records) on the local"
  echo "provider, whose share is in every tenantd figure.  The request rows"
  echo "count what the server saw (PowerDNS's log, each nginx run, PostgreSQL's"
  echo "log_statement), against what a pass should send."
  echo
  if [ "${#prov_rows[@]}" -gt 0 ]; then
    echo "| measure | N | tenantd | baseline | ratio | command |"
    echo "|---|---|---|---|---|---|"
    for r in "${prov_rows[@]}"; do echo "| ${r//|/ | } |"; done
  else
    echo "Not measured in this run (BENCH_SKIP_PROVIDERS, or it failed)."
  fi
} >"$here/RESULTS.md"
echo "wrote tests/bench/RESULTS.md ($(((SECONDS - t_start) / 60)) min)"
bash "$here/docker.sh" "$bin" || exit 1 # containers: tests/bench/DOCKER.md
