#!/usr/bin/env bash
# make bench, containers: tenantd's docker provider against a private
# Podman (tests/podman.sh), each figure measured once, and its baseline in
# the same run.  Writes tests/bench/DOCKER.md.
#
#   create   N tenants, each an environment with a network and two apps
#            (api and web, one replica each, health-checked): the time
#            `tenantd apply --once` takes to make every network and
#            container and see each one pass its health check, vs the same
#            networks and containers made by `podman network create` and
#            `podman run -d` in a shell loop, then waited for until every
#            one answers its health check
#   heal     `podman kill` of one replica, then `tenantd apply --once` (what
#            the daemon's next resync does): the time until a replica of
#            that service answers its health check again
#
# Usage: tests/bench/docker.sh TENANTD
# Environment: BENCH_DOCKER_TENANTS (20)
set -uo pipefail

bin=$(realpath "${1:?usage: docker.sh TENANTD}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${BENCH_DOCKER_TENANTS:-20}
tmp=$(mktemp -d /tmp/tdb.XXXXXX)
# shellcheck source=../podman.sh
. "$root/tests/podman.sh"
cleanup() {
  podman_private_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
export HOME=$tmp GIT_CONFIG_NOSYSTEM=1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

for tool in podman runc curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench/docker: $tool missing (make deps installs it)" >&2
    exit 1
  fi
done
sfx=$(printf '%04x' $((RANDOM % 65536)))
if ! podman_private "$tmp/p" "tdb$sfx"; then
  echo "bench/docker: podman system service did not start" >&2
  exit 1
fi
img=localhost/tdb-app:1
"$root/tests/images/build-app.sh" "$img" 1 || exit 1
now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

# ---- tenantd ----

M=$tmp/repo
mkdir -p "$M/tenants"
cp "$root/deploy/examples/tenants-repo/tiers.yaml" "$M/"
cat >"$M/platform.yaml" <<EOF
apiVersion: tenantd.io/v1
kind: Platform
metadata:
  name: bench
spec:
  domains:
    public: example.test
  providers:
    network: docker
    service: docker
  policies:
    maxDeletePercent: 100
EOF
tenant() { echo "b$sfx-$1"; }
for i in $(seq 0 $((N - 1))); do
  cat >"$M/tenants/$(tenant "$i").yaml" <<EOF
apiVersion: tenantd.io/v1
kind: Tenant
metadata: {name: $(tenant "$i")}
spec:
  tier: basic
  environments:
    - name: prod
      network: {cidr: 10.$pod_octet.$i.0/24}
      apps:
        - name: api
          image: $img
          port: 8080
          healthCheck: {path: /health, intervalSeconds: 1, timeoutSeconds: 1}
        - name: web
          image: $img
          port: 8080
          healthCheck: {path: /health, intervalSeconds: 1, timeoutSeconds: 1}
EOF
done
cfg=$tmp/tenantd.yaml
cat >"$cfg" <<EOF
source: {url: file://$tmp/unused.git, branch: main}
providers:
  local: {type: local, stateDir: $tmp/state}
  docker: {type: docker, socket: $pod_sock, healthTimeoutMs: 60000,
           stopTimeoutSeconds: 2}
EOF
apply() {
  "$bin" apply --once --config "$cfg" --status-dir "$tmp/status" \
    --health-timeout 120s "$M" >"$tmp/apply.out" 2>&1
}
t0=$(now_ms)
if ! apply; then
  echo "bench/docker: tenantd's apply failed" >&2
  tail -5 "$tmp/apply.out" >&2
  exit 1
fi
td_ms=$(($(now_ms) - t0))
made=$(podman ps --filter label=managed-by=tenantd --format '{{.Names}}' | wc -l)
[ "$made" -eq $((2 * N)) ] ||
  echo "bench/docker: $made containers running, want $((2 * N))" >&2

# ---- heal: kill one replica, apply, until a replica answers ----

# healthy ID: a running replica of resource ID answers /health.
healthy() {
  local c p
  for c in $(podman ps --filter "label=tenantd.id=$1" --format '{{.Names}}'); do
    p=$(podman port "$c" 8080/tcp 2>/dev/null | sed 's/.*://' | head -1)
    [ -n "$p" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
      "http://127.0.0.1:$p/health")" = 200 ] && return 0
  done
  return 1
}
victim=service/api.prod.$(tenant 0)
podman kill "$(podman ps --filter "label=tenantd.id=$victim" --format '{{.Names}}' | head -1)" >/dev/null
t0=$(now_ms)
apply &
apid=$!
until healthy "$victim"; do sleep 0.05; done
heal_ms=$(($(now_ms) - t0))
wait "$apid" || echo "bench/docker: the healing apply failed" >&2

podman rm -af -t 0 >/dev/null 2>&1
for n in $(podman network ls -q); do
  [ "$n" = "tdb$sfx" ] || podman network rm -f "$n" >/dev/null 2>&1
done

# ---- the shell loop: the same networks and containers by hand ----

t0=$(now_ms)
for i in $(seq 0 $((N - 1))); do
  t=$(tenant "$i")
  podman network create --subnet "10.$pod_octet.$i.0/24" "$t-prod" >/dev/null
  for app in api web; do
    podman run -d --name "$app.prod.$t-0" --network "$t-prod" --init \
      -p 127.0.0.1::8080 --cpus 1 --memory 2048m --label managed-by=bench \
      -e TENANTD_TENANT="$t" -e TENANTD_ENV=prod -e TENANTD_APP="$app" \
      "$img" >/dev/null
  done
done
for c in $(podman ps --filter label=managed-by=bench --format '{{.Names}}'); do
  p=$(podman port "$c" 8080/tcp | sed 's/.*://' | head -1)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
    "http://127.0.0.1:$p/health")" = 200 ]; do sleep 0.05; done
done
loop_ms=$(($(now_ms) - t0))

ratio=$(awk -v a="$td_ms" -v b="$loop_ms" 'BEGIN { printf "%.2f", a / b }')
printf 'create %d tenants (%d containers)\t%s s\t%s s (podman run loop)\t%s\n' \
  "$N" $((2 * N)) "$(secs "$td_ms")" "$(secs "$loop_ms")" "$ratio"
printf 'podman kill to a healthy replica\t%s s\n' "$(secs "$heal_ms")"
{
  echo "# tenantd benchmarks: containers"
  echo
  echo "Made by \`make bench\` (tests/bench/docker.sh, $(date -u +%Y-%m-%d)), each"
  echo "figure measured once, its baseline in the same run, against a private"
  echo "Podman $(podman --version | awk '{ print $3 }') (Docker-compatible API, runc, vfs storage)."
  echo
  echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)),"
  echo "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r);"
  echo "load average when it ended: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| measure | N | tenantd | baseline | ratio |"
  echo "|---|---|---|---|---|"
  echo "| create every network and container, all healthy (s) | $N tenants, $((2 * N)) containers | $(secs "$td_ms") | $(secs "$loop_ms") (podman run loop) | $ratio |"
  echo "| \`podman kill\` to a healthy replica (s) | 1 | $(secs "$heal_ms") |   |   |"
  echo
  echo "Commands:"
  echo
  echo "- create: \`tenantd apply --once\` on N tenants, each a network and two"
  echo "  health-checked apps of one replica (api, web), network and service bound"
  echo "  to the docker provider; baseline: \`podman network create\` and"
  echo "  \`podman run -d --init -p 127.0.0.1::8080\` of the same containers, one"
  echo "  after the other in a shell loop, then \`curl\` of each one's /health until"
  echo "  every one answers 200"
  echo "- heal: \`podman kill\` of api's replica in the first tenant, then at once"
  echo "  \`tenantd apply --once\` (the daemon's next resync); until \`curl\` of a"
  echo "  running replica's /health answers 200"
} >"$here/DOCKER.md"
echo "wrote tests/bench/DOCKER.md"
