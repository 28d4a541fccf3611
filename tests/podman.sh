# A private Podman for the suites and benchmarks that need containers:
# its own containers.conf, storage (vfs), registries.conf and CNI network
# config under one directory, so nothing global is touched, and its
# Docker-compatible API on a unix socket there.
#
#   podman_private DIR NET [REGISTRY]
#                              writes the config under DIR (short: the
#                              socket's path must fit a sockaddr_un),
#                              exports CONTAINERS_CONF and its siblings,
#                              makes NET the default network (a bridge of
#                              that name on 10.<octet>.250.0/24, an octet
#                              no route of the host uses: $pod_octet),
#                              trusts REGISTRY (host:port) over plain
#                              http, and starts the service: $pod_sock,
#                              $pod_pid; non-zero when it does not answer
#   podman_service_stop        stops the service alone (containers keep
#   podman_service_start       running), and starts it again
#   podman_private_stop        removes every container and network but the
#                              default one, then stops the service
# shellcheck shell=bash

pod_pid=""
pod_sock=""
pod_net=""
pod_octet=""
pod_dir=""

podman_private() {
  local dir=$1 net=$2 registry=${3:-} n
  mkdir -p "$dir/tmp" "$dir/net" "$dir/root" "$dir/run"
  export CONTAINERS_CONF=$dir/containers.conf
  export CONTAINERS_STORAGE_CONF=$dir/storage.conf
  export CONTAINERS_REGISTRIES_CONF=$dir/registries.conf
  pod_sock=$dir/podman.sock
  pod_net=$net
  pod_dir=$dir
  # Networks live on the host: an address range nobody routes.
  for _ in $(seq 50); do
    n=$((RANDOM % 200 + 30))
    if ! ip -4 route 2>/dev/null | grep -q "^10\.$n\."; then
      pod_octet=$n
      break
    fi
  done
  [ -n "$pod_octet" ] || pod_octet=$((RANDOM % 200 + 30))
  cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = "$dir/tmp"
[network]
network_config_dir = "$dir/net"
default_network = "$net"
EOF
  cat >"$dir/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$dir/root"
runroot = "$dir/run"
EOF
  echo 'unqualified-search-registries = []' >"$dir/registries.conf"
  [ -z "$registry" ] ||
    printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$registry" \
      >>"$dir/registries.conf"
  cat >"$dir/net/$net.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "$net", "plugins": [
  {"type": "bridge", "bridge": "$net", "isGateway": true,
   "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": "10.$pod_octet.250.0/24",
                         "gateway": "10.$pod_octet.250.1"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "firewall"}, {"type": "tuning"}]}
EOF
  podman_service_start
}

podman_service_start() {
  podman system service --time=0 "unix://$pod_sock" >>"$pod_dir/service.log" 2>&1 &
  pod_pid=$!
  local deadline=$((SECONDS + 30))
  until curl -sf --unix-socket "$pod_sock" http://d/_ping >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -5 "$pod_dir/service.log"
      return 1
    fi
    sleep 0.1
  done
}

podman_service_stop() {
  if [ -n "$pod_pid" ]; then
    kill "$pod_pid" 2>/dev/null
    wait "$pod_pid" 2>/dev/null
  fi
  pod_pid=""
}

podman_private_stop() {
  local n
  [ -n "$pod_net" ] || return 0
  podman rm -af -t 0 >/dev/null 2>&1
  for n in $(podman network ls -q 2>/dev/null); do
    [ "$n" = "$pod_net" ] || podman network rm -f "$n" >/dev/null 2>&1
  done
  podman_service_stop
}
