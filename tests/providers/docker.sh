#!/usr/bin/env bash
# The docker provider against a real Engine API: Podman's compatible
# service (`podman system service`) on a unix socket in a private
# directory, with its own containers.conf, storage (vfs), registries.conf
# and CNI network config, so nothing global is touched.  Manifests bind
# network and service to it (the rest stays local); `tenantd apply --once
# --config` drives it, and Podman's own client and curl to the published
# ports check what happened.
#
# Cases: create from scratch (health-gated: web waits for api); re-apply
# changes nothing; a replica killed or removed by hand comes back; one
# failing its health checks is restarted; scaling up and down touches
# only the replicas added or removed; a rolling update keeps the service
# answering, one ordinal at a time; a broken version is rolled back while
# the old one serves; kill -9 of tenantd in a rolling update, then a pass
# that converges without duplicates; unmarked containers and networks
# are conflicts, left alone; an image pulled from a registry with a
# credential (missing tag: invalid; wrong credential: auth); a CIDR
# change moves the replicas to the new subnet; prune; the API socket
# gone gives transient errors and deletes nothing, and the next pass
# recovers; the credential never shows.
# Usage: tests/providers/docker.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: docker.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
# Short: the API's socket path must fit a sockaddr_un.
tmp=$(mktemp -d /tmp/tdd.XXXXXX)
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"

for tool in podman runc curl python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "docker: $tool missing (make deps installs it)"
    exit 1
  fi
done

# shellcheck source=../podman.sh
. "$root/tests/podman.sh"
reg_pid=""

# Networks live on the host: this run's names and subnets are its own.
sfx=$(printf '%04x' $((RANDOM % 65536)))
A=acme$sfx
B=beta$sfx
G=gamma$sfx

cleanup() {
  podman_private_stop
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  stop_tracked
}
trap cleanup EXIT

# ---- Podman, private ----

reg_port=$(free_port)
if ! podman_private "$tmp/p" "tdd$sfx" "127.0.0.1:$reg_port"; then
  echo "docker: podman system service did not start"
  exit 1
fi
sub=$pod_octet
sock=$pod_sock

img=localhost/tdd-app
for v in 1 2; do
  if ! "$root/tests/images/build-app.sh" "$img:$v" "$v"; then
    echo "docker: the test image did not build"
    exit 1
  fi
done
"$root/tests/images/build-app.sh" "$img:broken" 3 --broken || exit 1
"$root/tests/images/build-app.sh" "$img:slow" 1 --slow || exit 1

# A registry holding td/app:7 (version 2's image), behind a password.
regpass="reg-pass-$$-$RANDOM$RANDOM-do-not-print"
export TD_REG_AUTH="puller:$regpass"
podman save --format oci-dir -o "$tmp/oci" "$img:2" >/dev/null 2>&1
python3 "$root/tests/images/registry.py" "$reg_port" "td/app:7=$tmp/oci" \
  --auth "puller:$regpass" --log "$tmp/registry.log" &
reg_pid=$!
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$reg_port/v2/"

# ---- tenantd's world ----

M=$tmp/repo
mkdir -p "$M/tenants"
cp "$root/deploy/examples/tenants-repo/tiers.yaml" "$M/"
cat >"$M/platform.yaml" <<EOF
apiVersion: tenantd.io/v1
kind: Platform
metadata:
  name: dockertest
spec:
  domains:
    public: example.test
  providers:
    network: docker
    service: docker
  policies:
    maxDeletePercent: 100
EOF
# app NAME IMAGE REPLICAS [EXTRA-LINES]: an app of the test image.
app() {
  cat <<EOF
        - name: $1
          image: $2
          port: 8080
          replicas: $3
          healthCheck: {path: /health, intervalSeconds: 1, timeoutSeconds: 1}
EOF
  [ -z "${4:-}" ] || printf '%s\n' "$4"
}
# acme IMAGE REPLICAS VERSION [CIDR-OCTET]
acme() {
  {
    cat <<EOF
apiVersion: tenantd.io/v1
kind: Tenant
metadata: {name: $A}
spec:
  tier: basic
  environments:
    - name: prod
      network: {cidr: 10.$sub.${4:-1}.0/24}
      database: {}
      apps:
EOF
    app api "$1" "$2" "          env: {APP_VERSION: \"$3\", LOG_LEVEL: info}"
    app web "$img:1" 1 "          dependsOn: [api]"
  } >"$M/tenants/$A.yaml"
}
# beta [EXTRA-APPS]
beta() {
  {
    cat <<EOF
apiVersion: tenantd.io/v1
kind: Tenant
metadata: {name: $B}
spec:
  tier: basic
  environments:
    - name: prod
      network: {cidr: 10.$sub.2.0/24}
      apps:
EOF
    app api "$img:1" 1
    [ -z "${1:-}" ] || printf '%s\n' "$1"
  } >"$M/tenants/$B.yaml"
}
acme "$img:1" 2 1
beta

cfg=$tmp/tenantd.yaml
cat >"$cfg" <<EOF
source: {url: file://$tmp/unused.git, branch: main}
providers:
  local: {type: local, stateDir: $tmp/state}
  docker:
    type: docker
    socket: $sock
    registryAuthEnv: TD_REG_AUTH
    healthTimeoutMs: 8000
    stopTimeoutSeconds: 2
EOF
expect_transcript=$tmp/transcript
expect_timeout=120
apply() { # NAME WANT-RC
  expect_rc "$1" "$2" "$bin" apply --once --config "$cfg" \
    --status-dir "$tmp/status" --health-timeout 30s "$M"
}
plan_rc() { # NAME WANT-RC
  expect_rc "$1" "$2" "$bin" plan --detailed-exitcode --config "$cfg" \
    --status-dir "$tmp/status" "$M"
}

svc() { echo "service/$1.prod.$2"; }
# names ID [all]: the containers of a resource, running (or all), sorted.
names() {
  podman ps ${2:+-a} --filter "label=tenantd.id=$1" --format '{{.Names}}' |
    sort
}
count() { names "$@" | grep -c . ; }
# more_than ID N: the resource has more than N containers (for wait_for).
more_than() { [ "$(count "$1" all)" -gt "$2" ]; }
not() { ! "$@"; }
cid() { podman inspect --format '{{.Id}}' "$1"; }
port_of() { podman port "$1" 8080/tcp | sed 's/.*://'; }
page() { curl -s -m 3 "127.0.0.1:$(port_of "$1")/"; }
# pages ID: every running replica's page, one a line.
pages() {
  local c
  for c in $(names "$1"); do page "$c"; echo; done
}

# ---- 1. create from scratch ----

apply "create" 0
eq "api replicas" "$(count "$(svc api "$A")")" 2
eq "web replica" "$(count "$(svc web "$A")")" 1
eq "beta replica" "$(count "$(svc api "$B")")" 1
eq "tenantd's containers" \
  "$(podman ps -a --filter label=managed-by=tenantd --format '{{.Names}}' | wc -l)" 4
pages "$(svc api "$A")" >"$tmp/pages"
eq "api pages" "$(grep -c "\"tenant\":\"$A\",\"env\":\"prod\",\"app\":\"api\",\"version\":\"1\",\"db\":\"127.0.0.1\"" "$tmp/pages")" 2
eq "network subnet" \
  "$(podman network inspect --format '{{range .Subnets}}{{.Subnet}}{{end}}' "$A-prod")" \
  "10.$sub.1.0/24"
eq "network marker" \
  "$(podman network inspect --format '{{index .Labels "tenantd.id"}}' "$A-prod")" \
  "network/$A.prod"
a0=$(names "$(svc api "$A")" | head -1)
b0=$(names "$(svc api "$B")" | head -1)
eq "acme on its network" \
  "$(podman inspect --format '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$a0")" \
  "$A-prod"
eq "beta on its network" \
  "$(podman inspect --format '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$b0")" \
  "$B-prod"
eq "labels: ownership marker" \
  "$(podman inspect --format '{{index .Config.Labels "managed-by"}} {{index .Config.Labels "tenantd.tenant"}}' "$a0")" \
  "tenantd $A"
# The health gate: web was created only once api's replicas were up.
api_up=$(for c in $(names "$(svc api "$A")"); do
  podman inspect --format '{{.State.StartedAt.UnixNano}}' "$c"; done | sort -n | tail -1)
web_made=$(podman inspect --format '{{.Created.UnixNano}}' \
  "$(names "$(svc web "$A")")")
check "web created after api started" [ "$web_made" -gt "$api_up" ]
check "init: a PID 1 that forwards signals" \
  [ "$(podman inspect --format '{{.HostConfig.Init}}' "$a0")" = true ]
expect_out "status ready" "status: \"True\"" "$tmp/status/$A.yaml"

# ---- 2. nothing changes ----

plan_rc "plan after create" 0
apply "re-apply" 0
expect_out "re-apply: nothing changed" "0 changed"

# ---- 3. killed, removed: restored ----

a1=$(names "$(svc api "$A")" | tail -1)
w0=$(names "$(svc web "$A")")
podman kill "$a1" >/dev/null
podman rm -f "$w0" >/dev/null
plan_rc "drift seen" 2
expect_out "drift marked" "drift"
apply "drift corrected" 0
eq "api back" "$(count "$(svc api "$A")")" 2
eq "api, no duplicates" "$(count "$(svc api "$A")" all)" 2
eq "web back" "$(count "$(svc web "$A")")" 1
check "killed replica answers" page "$a1"
plan_rc "converged after drift" 0

# ---- 4. failing health checks: restarted ----

started=$(podman inspect --format '{{.State.StartedAt.UnixNano}}' "$a0")
podman exec "$a0" /bin/busybox rm /www/health
eq "health broken by hand" \
  "$(http_code "127.0.0.1:$(port_of "$a0")/health")" 404
apply "failing replica restarted" 0
eq "health back" "$(http_code "127.0.0.1:$(port_of "$a0")/health")" 200
check "same container, started again" [ "$(podman inspect --format \
  '{{.State.StartedAt.UnixNano}}' "$a0")" -gt "$started" ]

# ---- 5. scaling ----

ids_before=$(for c in $(names "$(svc api "$A")"); do cid "$c"; done)
acme "$img:1" 3 1
apply "scale up" 0
eq "three replicas" "$(count "$(svc api "$A")")" 3
for id in $ids_before; do
  check "scale up keeps $id" podman inspect "$id"
done
acme "$img:1" 1 1
apply "scale down" 0
eq "one replica" "$(count "$(svc api "$A")" all)" 1
eq "scale down keeps ordinal 0" "$(names "$(svc api "$A")")" "$a0"
acme "$img:1" 2 1
apply "scale back" 0

# ---- 6. rolling update ----

python3 "$root/tests/providers/watch.py" "$sock" \
  "tenantd.id=$(svc api "$A")" >"$tmp/watch" 2>&1 &
watch_pid=$!
track_pid "$watch_pid"
wait_for 10 grep -q . "$tmp/watch"
t0=$(date +%s%N)
acme "$img:2" 2 2
apply "rolling update" 0
sleep 0.3
stop_pid "$watch_pid"
eq "never down during the update" "$(grep -c '^down' "$tmp/watch")" 0
pages "$(svc api "$A")" >"$tmp/pages"
eq "version 2 everywhere" "$(grep -c '"version":"2"' "$tmp/pages")" 2
eq "old replicas gone" "$(count "$(svc api "$A")" all)" 2
# One ordinal at a time: each new replica started before its old one
# died, and the next began after.
podman events --since "$(date -d "@$((t0 / 1000000000 - 1))" --iso-8601=seconds)" \
  --stream=false --filter "label=tenantd.id=$(svc api "$A")" \
  --filter event=start --filter event=died \
  --format '{{.Time.UnixNano}} {{.Status}} {{.Name}}' >"$tmp/events" 2>&1
awk -v t0="$t0" '$1 >= t0 && ($2 == "start" || $2 == "died") {
  sub(/-[0-9a-f]+$/, "", $3); printf "%s %s ", $2, $3 }' \
  "$tmp/events" >"$tmp/order"
eq "rolling order" "$(cat "$tmp/order")" \
  "start api.prod.$A-0 died api.prod.$A-0 start api.prod.$A-1 died api.prod.$A-1 "
plan_rc "converged after the update" 0

# ---- 7. a broken version is rolled back ----

v2=$(names "$(svc api "$A")" | tr '\n' ' ')
acme "$img:broken" 2 3
apply "broken version fails" 1
expect_out "why it failed" "never turned healthy"
expect_out "rolled back" "the old replicas keep serving"
eq "old replicas still there" "$(names "$(svc api "$A")" all | tr '\n' ' ')" "$v2"
pages "$(svc api "$A")" >"$tmp/pages"
eq "old version answers" "$(grep -c '"version":"2"' "$tmp/pages")" 2
expect_out "tenant failed" "status: \"False\"" "$tmp/status/$A.yaml"
acme "$img:2" 2 2
plan_rc "back to the good version" 0

# ---- 8. kill -9 during a rolling update ----

old=$(names "$(svc api "$A")" all)
# A version slow to turn healthy: the update is caught with both there.
acme "$img:slow" 2 1
"$bin" apply --once --config "$cfg" --status-dir "$tmp/status" \
  --health-timeout 30s "$M" >"$tmp/killed.out" 2>&1 &
tpid=$!
track_pid "$tpid"
# Once a replica of the new version exists beside the old ones.
wait_for 30 more_than "$(svc api "$A")" 2
kill -9 "$tpid" 2>/dev/null
wait "$tpid" 2>/dev/null
forget_pid "$tpid"
check "killed mid-update" [ "$(names "$(svc api "$A")" all | wc -l)" -gt 2 ]
# The new version's replica stopped too (as if killed between its create
# and its start): the next pass takes it up under its name.
for c in $(names "$(svc api "$A")" all); do
  grep -qx "$c" <<<"$old" || podman stop -t 1 "$c" >/dev/null
done
apply "converges after kill -9" 0
eq "no duplicates" "$(count "$(svc api "$A")" all)" 2
names "$(svc api "$A")" | sed 's/-[0-9a-f]\{8\}$//' >"$tmp/ordinals"
eq "one replica per ordinal" "$(tr '\n' ' ' <"$tmp/ordinals")" \
  "api.prod.$A-0 api.prod.$A-1 "
pages "$(svc api "$A")" >"$tmp/pages"
eq "version 1 everywhere" "$(grep -c '"version":"1"' "$tmp/pages")" 2
plan_rc "converged after kill -9" 0

# ---- 9. unmarked containers and networks: conflicts ----

podman run -d --name "extra.prod.$B-0" "$img:1" >/dev/null
hand=$(cid "extra.prod.$B-0")
beta "$(app extra "$img:1" 1)"
apply "unmarked container" 1
expect_out "conflict reported" "conflict +service/extra.prod.$B"
eq "hand-made container untouched" "$(cid "extra.prod.$B-0")" "$hand"
check "hand-made still running" [ "$(podman inspect --format \
  '{{.State.Running}}' "extra.prod.$B-0")" = true ]
podman rm -f -t 0 "extra.prod.$B-0" >/dev/null
apply "created once free" 0
eq "extra created" "$(count "$(svc extra "$B")")" 1

podman network create --subnet "10.$sub.4.0/24" "$G-prod" >/dev/null
cat >"$M/tenants/$G.yaml" <<EOF
apiVersion: tenantd.io/v1
kind: Tenant
metadata: {name: $G}
spec:
  tier: basic
  environments:
    - name: prod
      network: {cidr: 10.$sub.4.0/24}
EOF
apply "unmarked network" 1
expect_out "network conflict" "conflict +network/$G.prod"
check "hand-made network kept" podman network exists "$G-prod"
rm "$M/tenants/$G.yaml"
podman network rm "$G-prod" >/dev/null

# ---- 10. pulled with a credential ----

reg=127.0.0.1:$reg_port
beta "$(app extra "$img:1" 1)
$(app pulled "$reg/td/app:7" 1)"
check "not present before" not podman image exists "$reg/td/app:7"
apply "pulled" 0
check "present after" podman image exists "$reg/td/app:7"
expect_out "credential sent" \
  "Basic $(printf 'puller:%s' "$regpass" | base64 -w0)" "$tmp/registry.log"
pages "$(svc pulled "$B")" >"$tmp/pages"
expect_out "pulled image answers" '"app":"pulled"' "$tmp/pages"
beta "$(app extra "$img:1" 1)
$(app pulled "$reg/td/app:9" 1)"
apply "missing image" 1
expect_out "missing image: invalid" "invalid: docker: pulling $reg/td/app:9"
TD_REG_AUTH="puller:wrong" apply "wrong credential" 1
expect_out "wrong credential: auth" "auth: docker: pulling $reg/td/app:9"
beta "$(app extra "$img:1" 1)"
apply "image back" 0

# ---- 11. a CIDR change replaces the network, replicas move ----

acme "$img:slow" 2 1 3
apply "cidr change" 0
eq "new subnet" \
  "$(podman network inspect --format '{{range .Subnets}}{{.Subnet}}{{end}}' "$A-prod")" \
  "10.$sub.3.0/24"
a0=$(names "$(svc api "$A")" | head -1)
expect_out "replica on the new subnet" "^10\.$sub\.3\." \
  <(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$a0")
check "replica still answers" page "$a0"
plan_rc "converged after the cidr change" 0

# ---- 12. prune ----

rm "$M/tenants/$B.yaml"
apply "prune beta" 0
eq "beta's containers gone" \
  "$(podman ps -a --filter "label=tenantd.tenant=$B" --format '{{.Names}}' | wc -l)" 0
check "beta's network gone" not podman network exists "$B-prod"
eq "acme untouched" "$(count "$(svc api "$A")")" 2

# ---- 13. the API socket gone ----

podman_service_stop
apply "socket gone" 1
expect_out "transient" "transient"
eq "nothing deleted" "$(count "$(svc api "$A")")" 2
check "replicas serve without the API" page "$a0"
podman_service_start || bad "podman service restart"
apply "recovered" 0
plan_rc "converged after recovery" 0

# ---- 14. the credential never shows ----

expect_no_out "credential not in any output" "$regpass" "$expect_transcript"
expect_no_out "credential not in status" "$regpass" \
  <(cat "$tmp"/status/*.yaml)

summary docker
