#!/usr/bin/env bash
# The nginx provider against a real nginx on 127.0.0.1 (a free port, its
# config, pid, logs and temp files in a temporary directory), driven by
# `tenantd apply --once --config` on the example repository with routes
# bound to it.  Checks what nginx serves with curl, not only what tenantd
# says: every route and alias after the first apply, with few reloads; a
# no-op second apply (no reload); drift (an edited upstream, an edit
# elsewhere, a deleted file) corrected with one reload; an unmarked file
# left alone as a conflict; a spec nginx refuses, alone in a batch that
# otherwise applies; a broken foreign file for one apply (transient: the
# config fails without the batch too); nginx run with a minimal environment
# (no secrets); files marked pending until nginx serves them, so a tenantd
# killed mid-apply, or a pending file nginx refuses, is repaired by the
# next apply; a file that cannot be restored moved out of nginx's glob;
# nginx that cannot run, and a reload that never takes (transient, file
# taken back); prune; nginx down (transient, exit 1) and back; the options
# checked at open.  After every apply that reloads, no worker of the old
# config may still accept connections and every host of the changed routes,
# aliases included, answers with its route request after request: tenantd
# answers only once nginx has handed over (its master lets the old workers
# accept for 100 ms after the new ones start).
# Usage: tests/providers/nginx.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: nginx.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
example=$root/deploy/examples/tenants-repo
tmp=$(mktemp -d)
# Hermetic git, and nginx stopped on exit (tests/lib.sh).
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
cleanup_on_exit
npid=
stop_nginx() {
  [ -n "$npid" ] || return 0
  stop_pid "$npid"
  npid=
}
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 || true)

command -v nginx >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
for tool in nginx curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "providers/nginx: $tool is not installed"
    exit 1
  fi
done
nginx_bin=$(command -v nginx)

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

# Every tenantd run is bounded: a provider must never wait for ever.
expect_timeout=60

# ---- nginx ----
ngx=$tmp/nginx
sites=$ngx/sites
mkdir -p "$sites"
# Notice level logs each reload ("signal 1 (SIGHUP) received"); the
# access log says when each request ended and how long it took, which
# worker answered and with which route; the default server keeps hosts
# without a route away from the route files; the bucket size is pinned so
# the long alias below fails on any CPU.
write_conf() { # PORT
  nginx_conf "$ngx" notice '$msec $request_time $pid $request_method $host [$sent_http_x_tenantd_route] [$sent_http_x_tenantd_revision]' <<EOF
  proxy_connect_timeout 2s;
  server_names_hash_bucket_size 64;
  server {
    listen 127.0.0.1:$1 default_server;
    return 404;
  }
  include $sites/*.conf;
EOF
}
ngx_cmd=("$nginx_bin" -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf")
# code HOST: the status nginx answers for HOST.
code() { http_code "http://127.0.0.1:$port/" -H "Host: $1"; }
start_nginx() {
  "${ngx_cmd[@]}" 2>>"$ngx/stderr.log" &
  npid=$!
  track_pid "$npid"
  for _ in $(seq 100); do
    kill -0 "$npid" 2>/dev/null || break
    [ "$(code nowhere.example)" = 404 ] && return 0
    sleep 0.05
  done
  stop_nginx
  return 1
}
port=
for _ in 1 2 3 4 5; do
  port=$(free_port)
  write_conf "$port"
  start_nginx && break
  port=
done
if [ -z "$port" ]; then
  echo "providers/nginx: nginx did not start"
  tail -5 "$ngx/error.log" "$ngx/stderr.log" 2>/dev/null
  exit 1
fi
master=$(cat "$ngx/nginx.pid")

reloads() { grep -c 'signal 1 (SIGHUP) received' "$ngx/error.log"; }
# route HOST: the X-Tenantd-Route nginx answers for HOST ("" when none).
route() {
  curl -s -o /dev/null -D - --max-time 3 -H "Host: $1" \
    "http://127.0.0.1:$port/" | tr -d '\r' |
    sed -n 's/^[Xx]-[Tt]enantd-[Rr]oute: *//p'
}
# The pids of nginx's workers that accept connections: not those shutting
# down after a reload (nginx retitles them before it closes their
# sockets), nor exited ones.
accepting_workers() {
  local m
  m=$(cat "$ngx/nginx.pid" 2>/dev/null) || return 0
  ps -o pid=,args= --ppid "$m" | sed -n 's/^ *\([0-9]*\) nginx: worker process$/\1/p'
}
# workers_gone PIDS: none of them accepts connections any more.
workers_gone() {
  local now p
  now=$(accepting_workers)
  for p in $1; do
    if grep -qx "$p" <<<"$now"; then return 1; fi
  done
  return 0
}
# note_workers, then handed_over NAME after an apply that reloads: the
# workers of the config before it no longer accept connections.
note_workers() { workers_before=$(accepting_workers); }
handed_over() {
  check "$1: no worker of the old config accepts" workers_gone "$workers_before"
}
# served_steadily NAME HOST ID: request after request, each on a new
# connection (so each may reach any worker), HOST answers with route ID
# ("" for none).
served_steadily() {
  local urls=() got
  for _ in $(seq 20); do urls+=(-o /dev/null "http://127.0.0.1:$port/"); done
  got=$(curl -s --max-time 10 -H "Host: $2" -H "Connection: close" \
    -w '%header{x-tenantd-route}\n' "${urls[@]}" | sort | uniq -c |
    sed 's/^ *//')
  eq "$1" "$got" "20 $3"
}
# Reloads nginx behind tenantd's back, and waits until the old workers
# stopped accepting and the new config serves: HOST answers with route ID
# ("" for none).
hand_reload() { # HOST ID
  local old
  old=$(accepting_workers)
  "${ngx_cmd[@]}" -s reload 2>/dev/null
  if ! wait_for 5 workers_gone "$old" || ! wait_for 5 test_route "$1" "$2"; then
    bad "hand reload: $1 does not answer '$2'"
  fi
}
test_route() { [ "$(route "$1")" = "$2" ]; }
temp_files() { find "$sites" -name '.*' -type f | wc -l; }

# ---- the repository, the config ----
repo=$tmp/repo
cp -r "$example" "$repo"
sed -i 's/route: local/route: edge/' "$repo/platform.yaml"
cfg=$tmp/tenantd.yaml
write_config() { # EXTRA EDGE OPTIONS
  cat >"$cfg" <<EOF
source: {url: "file://$tmp/unused.git"}
providers:
  local: {type: local, stateDir: "$tmp/state"}
  edge:
    type: nginx
    sitesDir: "$sites"
    command: ["$nginx_bin", -p, "$ngx", -e, "$ngx/error.log", -c, "$ngx/nginx.conf"]
    listen: "127.0.0.1:$port"
$1
EOF
}
A=(apply --once --config "$cfg" --status-dir "$tmp/status")
P=(plan --config "$cfg" --status-dir "$tmp/status")

# ---- options are checked at open ----
write_config "    bogus: 1"
expect_rc "open: unknown option" 1 "$bin" "${P[@]}" "$repo"
expect_out "open: unknown option named" "nginx: unknown option 'bogus'" "$tmp/err"
write_config "    verifyTimeoutMs: 0"
expect_rc "open: verifyTimeoutMs range" 1 "$bin" "${P[@]}" "$repo"
expect_out "open: verifyTimeoutMs explained" "verifyTimeoutMs must be an integer" "$tmp/err"
sed -i 's/listen: .*/listen: "127.0.0.1:80; include \/etc\/passwd"/' "$cfg"
expect_rc "open: listen injection" 1 "$bin" "${P[@]}" "$repo"
expect_out "open: listen explained" "listen must be host:port" "$tmp/err"
write_config ""
check "nothing written by failed opens" test "$(find "$sites" -type f | wc -l)" -eq 0

# ---- the first apply: every route served, few reloads ----
declare -A host_route=(
  [portal.production.greenwood-high.pycom.io]=route/portal.production.greenwood-high
  [portal.greenwood-high.example]=route/portal.production.greenwood-high
  [portal.staging.greenwood-high.pycom.io]=route/portal.staging.greenwood-high
  [api.staging.mwc-murata.pycom.io]=route/api.staging.mwc-murata
  [api.mwc.murata.example]=route/api.staging.mwc-murata
  [web.staging.mwc-murata.pycom.io]=route/web.staging.mwc-murata
  [api.staging.mwc-sequans.pycom.io]=route/api.staging.mwc-sequans
)
r0=$(reloads)
note_workers
expect_rc "first apply" 0 "$bin" "${A[@]}" "$repo"
handed_over "first apply"
expect_out "first apply summary" '^3 tenants: [0-9]+ changed, 0 failed, 0 skipped, 0 conflicts'
expect_out "routes created" '^\[[0-9]+/[0-9]+\] create +route/api.staging.mwc-murata done'
eq "one file per route" "$(find "$sites" -name '*.conf' | wc -l)" 5
for h in "${!host_route[@]}"; do
  served_steadily "first apply: $h served" "$h" "${host_route[$h]}"
done
eq "a host without a route gets no route" "$(route nowhere.example)" ""
f=$sites/api.staging.mwc-murata.conf
expect_out "marker in the header" '^# managed-by=tenantd tenant=mwc-murata id=route/api.staging.mwc-murata$' "$f"
expect_out "spec in the header" '^# spec: \{"hosts":\["api.staging.mwc-murata.pycom.io","api.mwc.murata.example"\],"upstreams":\["100\.64\.[0-9]+\.[0-9]+:8080","100\.64\.[0-9]+\.[0-9]+:8080"\]\}$' "$f"
# Both replicas of the service, in one upstream block proxy_pass names.
eq "a server per replica" "$(grep -c '^  server 100\.64\.[0-9]*\.[0-9]*:8080;$' "$f")" 2
expect_out "proxied to the upstream block" '^    proxy_pass http://tenantd\.route\.api\.staging\.mwc-murata;$' "$f"
expect_out "server_name in order" '^  server_name api.staging.mwc-murata.pycom.io api.mwc.murata.example;$' "$f"
r1=$(($(reloads) - r0))
check "first apply: $r1 reloads for 5 routes" test "$r1" -ge 1 -a "$r1" -le 2
eq "no temp files left" "$(temp_files)" 0
check "nginx -t accepts what tenantd wrote" "${ngx_cmd[@]}" -t

# ---- a second apply changes nothing and does not reload ----
sums=$(cd "$sites" && md5sum -- *.conf)
r1=$(reloads)
expect_rc "plan after apply" 0 "$bin" "${P[@]}" --detailed-exitcode "$repo"
expect_out "plan: nothing pending" '^0 changes pending$'
expect_rc "second apply" 0 "$bin" "${A[@]}" "$repo"
expect_out "second apply: 0 changed" '^3 tenants: 0 changed, 0 failed'
eq "second apply: no reload" "$(reloads)" "$r1"
eq "second apply: same nginx master" "$(cat "$ngx/nginx.pid")" "$master"
eq "second apply: files untouched" "$(cd "$sites" && md5sum -- *.conf)" "$sums"

# ---- drift: an edited upstream, an edit elsewhere, a deleted file ----
upstream=$(sed -n 's/^  server \(.*\);$/\1/p' "$f" | tail -1)
sed -i "s/^  server $upstream;/  server 127.0.0.1:9;/" "$f"
sed -i '/X-Tenantd-Revision/d' "$sites/portal.staging.greenwood-high.conf"
rm "$sites/web.staging.mwc-murata.conf"
hand_reload web.staging.mwc-murata.pycom.io ""
expect_rc "plan shows drift" 2 "$bin" "${P[@]}" --detailed-exitcode "$repo"
expect_out "drift: upstream" "~ upstreams: \[\"[0-9.:]+\",\"127.0.0.1:9\"\] -> \[\"[0-9.:]+\",\"$upstream\"\]"
expect_out "drift: edit elsewhere" 'route/portal.staging.greenwood-high +\(drift\)'
expect_out "drift: deleted file" '\+ +route/web.staging.mwc-murata +\(drift\)'
r1=$(reloads)
note_workers
expect_rc "apply corrects drift" 0 "$bin" "${A[@]}" "$repo"
handed_over "drift"
served_steadily "drift: deleted route served again" web.staging.mwc-murata.pycom.io route/web.staging.mwc-murata
expect_out "drift: 3 corrected" '^3 tenants: 3 changed, 0 failed'
eq "drift: one reload for three routes" "$(($(reloads) - r1))" 1
expect_out "drift: upstream restored" "^  server $upstream;\$" "$f"
expect_out "drift: edit reverted" 'X-Tenantd-Revision' "$sites/portal.staging.greenwood-high.conf"
expect_rc "after drift: nothing pending" 0 "$bin" "${P[@]}" --detailed-exitcode "$repo"

# ---- an unmarked file at a route's name is a conflict, left alone ----
cat >>"$repo/tenants/mwc-sequans.yaml" <<'EOF'
        - name: docs
          image: registry.pycom.io/pybytes/docs:1.0.0
          port: 8081
          dns:
            public: true
EOF
docs=docs.staging.mwc-sequans.pycom.io
cat >"$sites/docs.staging.mwc-sequans.conf" <<EOF
server {
  listen 127.0.0.1:$port;
  server_name $docs;
  location / { add_header X-Tenantd-Route hand-made always; return 200 "hand\n"; }
}
EOF
cp "$sites/docs.staging.mwc-sequans.conf" "$tmp/hand.conf"
hand_reload "$docs" hand-made
expect_rc "conflict: apply fails" 1 "$bin" "${A[@]}" "$repo"
expect_out "conflict: reported" '^conflict route/docs.staging.mwc-sequans: .*without'
check "conflict: file untouched" cmp -s "$tmp/hand.conf" "$sites/docs.staging.mwc-sequans.conf"
served_steadily "conflict: nginx still serves it" "$docs" hand-made
rm "$sites/docs.staging.mwc-sequans.conf"
hand_reload "$docs" ""
note_workers
expect_rc "conflict gone: apply" 0 "$bin" "${A[@]}" "$repo"
handed_over "conflict gone"
served_steadily "conflict gone: route served" "$docs" route/docs.staging.mwc-sequans

# ---- a spec nginx refuses fails alone; the rest of the batch applies ----
long=a-very-long-alias-for-the-murata-api-that-nginx-refuses.beyond-the-server-names-hash-bucket.murata.example
cp "$f" "$tmp/murata.conf"
cp "$repo/tenants/mwc-murata.yaml" "$tmp/murata.yaml"
sed -i "s/aliases: \[api.mwc.murata.example\]/aliases: [api.mwc.murata.example, $long]/" \
  "$repo/tenants/mwc-murata.yaml"
sed -i 's/aliases: \[portal.greenwood-high.example\]/aliases: [portal.greenwood-high.example, www.greenwood-high.example]/' \
  "$repo/tenants/greenwood-high.yaml"
r1=$(reloads)
note_workers
expect_rc "refused spec: apply fails" 1 "$bin" "${A[@]}" "$repo"
handed_over "refused spec"
served_steadily "refused spec: new alias of the other route served" www.greenwood-high.example route/portal.production.greenwood-high
expect_out "refused spec: invalid with nginx's message" '^failed +route/api.staging.mwc-murata: invalid: nginx -t: .*server_names_hash'
expect_out "refused spec: the other route applied" '^\[[0-9]+/[0-9]+\] update +route/portal.production.greenwood-high done'
check "refused spec: previous file restored" cmp -s "$tmp/murata.conf" "$f"
eq "refused spec: old hosts still served" "$(route api.mwc.murata.example)" route/api.staging.mwc-murata
eq "refused spec: one reload" "$(($(reloads) - r1))" 1
check "refused spec: nginx -t passes" "${ngx_cmd[@]}" -t
eq "refused spec: no temp files" "$(temp_files)" 0
cp "$tmp/murata.yaml" "$repo/tenants/mwc-murata.yaml"

# ---- a broken foreign file for one apply: nothing applies, nothing left;
# the config fails without the change too, so it is transient (retried) ----
cp "$sites/web.staging.mwc-murata.conf" "$tmp/web.conf"
# web (the file's last app) gets an alias.
"$py" - "$repo/tenants/mwc-murata.yaml" <<'EOF'
import sys
p, line = sys.argv[1], "            public: true\n"
s = open(p).read()
i = s.rindex(line) + len(line)
open(p, "w").write(s[:i] + "            aliases: [web.murata.example]\n" + s[i:])
EOF
printf 'server { this_is_not_a_directive; }\n' >"$sites/zz-broken.conf"
r1=$(reloads)
expect_rc "broken file: apply fails" 1 "$bin" "${A[@]}" "$repo"
expect_out "broken file: transient with nginx's message" '^failed +route/web.staging.mwc-murata: transient: .*without this change too.*nginx -t: .*unknown directive'
check "broken file: route file restored" cmp -s "$tmp/web.conf" "$sites/web.staging.mwc-murata.conf"
eq "broken file: no reload" "$(reloads)" "$r1"
eq "broken file: old config still serves" "$(route web.staging.mwc-murata.pycom.io)" route/web.staging.mwc-murata
eq "broken file: new alias not served" "$(route web.murata.example)" ""
eq "broken file: no temp files" "$(temp_files)" 0
check "broken file: left where it was" test -f "$sites/zz-broken.conf"
rm "$sites/zz-broken.conf"
note_workers
expect_rc "broken file gone: apply" 0 "$bin" "${A[@]}" "$repo"
handed_over "broken file gone"
served_steadily "broken file gone: new alias served" web.murata.example route/web.staging.mwc-murata
expect_out "broken file gone: converged" '^3 tenants: [0-9]+ changed, 0 failed'
served_steadily "broken file gone: first host served" web.staging.mwc-murata.pycom.io route/web.staging.mwc-murata

# ---- a wrapper as the nginx command: it records nginx's environment and
# which files are pending at `nginx -t`; on request it kills tenantd there
# (a crash mid-apply) or turns a route file into a directory and refuses
# (so the restore fails) ----
wrap=$tmp/nginx-wrap
cat >"$wrap" <<EOF
#!/bin/sh
env >"$tmp/wrap-env"
case " \$* " in
*" -t "*)
  grep -l '^# state: pending\$' "$sites"/*.conf >"$tmp/wrap-pending" 2>/dev/null
  if [ -e "$tmp/crash" ]; then
    rm -f "$tmp/crash"
    kill -9 "\$PPID"
    exit 1
  fi
  if [ -e "$tmp/dirify" ]; then
    f=\$(cat "$tmp/dirify")
    rm -f "$tmp/dirify" "\$f"
    mkdir "\$f"
    echo "nginx: [emerg] simulated refusal" >&2
    exit 1
  fi
  ;;
esac
exec "$nginx_bin" "\$@"
EOF
chmod +x "$wrap"
wrap_config() {
  write_config ""
  sed -i 's|^    command: \["[^"]*"|    command: ["'"$wrap"'"|' "$cfg"
}
murata=$repo/tenants/mwc-murata.yaml
add_api_alias() { # HOST
  sed -i "s/aliases: \[api.mwc.murata.example/aliases: [api.mwc.murata.example, $1/" "$murata"
}

# ---- nginx runs with PATH, TZ and LANG only: no secret reaches it; the
# new file is pending during nginx -t, unmarked once served ----
wrap_config
add_api_alias api2.murata.example
note_workers
expect_rc "env: apply" 0 env PDNS_API_KEY=s3cret-pdns TENANTD_TEST_TOKEN=s3cret-token \
  LANG=C TZ=UTC "$bin" "${A[@]}" "$repo"
handed_over "env"
served_steadily "env: nginx served the new alias" api2.murata.example route/api.staging.mwc-murata
expect_out "env: PATH passed" '^PATH=.' "$tmp/wrap-env"
expect_out "env: LANG passed" '^LANG=C$' "$tmp/wrap-env"
expect_no_out "env: no secret reaches nginx" 's3cret|PDNS_API_KEY|TENANTD_TEST_TOKEN' "$tmp/wrap-env"
expect_out "pending: the new file is marked during nginx -t" "/api.staging.mwc-murata.conf\$" "$tmp/wrap-pending"
expect_no_out "pending: unmarked once served" '^# state:' "$f"
expect_rc "pending: nothing pending after" 0 "$bin" "${P[@]}" --detailed-exitcode "$repo"

# ---- a reload command that returns only once nginx's new workers run (as
# one over ssh or docker exec would), with traffic on the alias it adds:
# both generations of workers accept for a while, and tenantd may report
# the change only once no worker answers with the old config.  nginx's
# access log says it: no request for the alias that began after tenantd's
# last verification request got an old answer ----
late=$tmp/nginx-late
cat >"$late" <<EOF
#!/bin/bash
case " \$* " in
*" reload "*)
  m=\$(cat "$ngx/nginx.pid")
  old=\$(ps -o pid= --ppid "\$m")
  "$nginx_bin" "\$@" || exit
  for _ in \$(seq 400); do
    for p in \$(ps -o pid= --ppid "\$m"); do
      grep -qw "\$p" <<<"\$old" || exit 0
    done
    sleep 0.005
  done
  exit 0 ;;
esac
exec "$nginx_bin" "\$@"
EOF
chmod +x "$late"
# probe HOST: requests HOST over and over, each on a new connection, until
# $tmp/probe-stop exists.
probe() {
  local urls=()
  for _ in $(seq 10); do urls+=(-o /dev/null "http://127.0.0.1:$port/"); done
  while [ ! -e "$tmp/probe-stop" ]; do
    curl -s --max-time 5 -H "Host: $1" -H "Connection: close" "${urls[@]}"
  done
}
# stale_after_verify HOST ID REV: how many requests for HOST began after
# the last verification request for route ID at revision REV ended, and
# were answered otherwise.
stale_after_verify() {
  awk -v host="$1" -v id="[$2]" -v rev="[$3]" '
    $4 == "HEAD" && $6 == id && $7 == rev && $1 > verified { verified = $1 }
    $4 == "GET" && $5 == host { start[n] = $1 - $2; got[n++] = $6 " " $7 }
    END {
      for (i = 0; i < n; i++)
        if (start[i] > verified && got[i] != id " " rev) stale++
      print stale + 0
    }' "$ngx/access.log"
}
write_config ""
sed -i 's|^    command: \["[^"]*"|    command: ["'"$late"'"|' "$cfg"
add_api_alias api5.murata.example
rm -f "$tmp/probe-stop"
: >"$ngx/access.log"
probe api5.murata.example &
prober=$!
note_workers
expect_rc "late reload: apply" 0 "$bin" "${A[@]}" "$repo"
handed_over "late reload"
touch "$tmp/probe-stop"
wait "$prober"
rev=$(sed -n 's/^# revision: //p' "$f")
eq "late reload: no old answer after tenantd's verification" \
  "$(stale_after_verify api5.murata.example route/api.staging.mwc-murata "$rev")" 0
check "late reload: the alias was probed" grep -q ' GET api5.murata.example ' "$ngx/access.log"
served_steadily "late reload: the new alias served" api5.murata.example route/api.staging.mwc-murata

# ---- tenantd killed during nginx -t: the file stays, marked pending; it
# reads as drift, and the next apply loads it ----
wrap_config
add_api_alias api3.murata.example
touch "$tmp/crash"
r1=$(reloads)
# (bash's "Killed" notice goes to /dev/null)
expect_rc "crash: tenantd killed mid-apply" 137 "$bin" "${A[@]}" "$repo" 2>/dev/null
expect_out "crash: the new file is left pending" '^# state: pending$' "$f"
expect_out "crash: the new file has the new alias" '^  server_name .* api3\.murata\.example[ ;]' "$f"
eq "crash: no reload" "$(reloads)" "$r1"
eq "crash: nginx does not serve it" "$(route api3.murata.example)" ""
write_config ""
expect_rc "crash: plan shows drift" 2 "$bin" "${P[@]}" --detailed-exitcode "$repo"
expect_out "crash: pending is drift" '~ upstreams: \["[0-9.:]+","[0-9.:]+ \(pending\)"\] -> \["[0-9.:]+","[0-9.:]+"\]$'
note_workers
expect_rc "crash: the next apply" 0 "$bin" "${A[@]}" "$repo"
handed_over "crash: the next apply"
served_steadily "crash: the next apply serves it" api3.murata.example route/api.staging.mwc-murata
expect_no_out "crash: unmarked once served" '^# state:' "$f"
expect_rc "crash: nothing pending after" 0 "$bin" "${P[@]}" --detailed-exitcode "$repo"

# ---- a pending file nginx refuses (left by a crash): nginx -t fails until
# the next apply rewrites it ----
g=$sites/portal.staging.greenwood-high.conf
cp "$g" "$tmp/g.conf"
sed -e '/^# revision:/a # state: pending' \
  -e 's|^    proxy_pass .*|    proxy_pass http://127.0.0.1:99999;|' "$tmp/g.conf" >"$g"
check "refused pending: nginx -t fails" test "$("${ngx_cmd[@]}" -t 2>&1 | grep -c 'invalid port')" -ge 1
note_workers
expect_rc "refused pending: apply repairs it" 0 "$bin" "${A[@]}" "$repo"
handed_over "refused pending"
expect_out "refused pending: one route rewritten" '^3 tenants: 1 changed, 0 failed'
check "refused pending: nginx -t passes" "${ngx_cmd[@]}" -t
expect_no_out "refused pending: unmarked" '^# state:' "$g"
expect_no_out "refused pending: the bad upstream is gone" '99999' "$g"
eq "refused pending: route served" "$(route portal.staging.greenwood-high.pycom.io)" route/portal.staging.greenwood-high

# ---- a restore that fails: the file is moved out of nginx's glob ----
wrap_config
add_api_alias api4.murata.example
echo "$f" >"$tmp/dirify"
r1=$(reloads)
expect_rc "failed restore: apply fails" 1 "$bin" "${A[@]}" "$repo"
expect_out "failed restore: reported" '^failed +route/api.staging.mwc-murata: invalid: nginx -t: .*simulated refusal; cannot restore .*moved aside to .*/\.api\.staging\.mwc-murata\.conf\.failed'
check "failed restore: out of the glob" test ! -e "$f" -a -e "$sites/.api.staging.mwc-murata.conf.failed"
check "failed restore: nginx -t passes" "${ngx_cmd[@]}" -t
eq "failed restore: no reload" "$(reloads)" "$r1"
write_config ""
note_workers
expect_rc "failed restore: the next apply" 0 "$bin" "${A[@]}" "$repo"
handed_over "failed restore: the next apply"
served_steadily "failed restore: the next apply serves it" api4.murata.example route/api.staging.mwc-murata
check "failed restore: the moved file is kept" test -e "$sites/.api.staging.mwc-murata.conf.failed"
rm -rf "$sites/.api.staging.mwc-murata.conf.failed"

# ---- nginx cannot run: transient, the file taken back ----
write_config ""
sed -i 's|^    command: .*|    command: ["'"$tmp"'/no-such-nginx"]|' "$cfg"
rm "$sites/web.staging.mwc-murata.conf"
hand_reload web.staging.mwc-murata.pycom.io ""
expect_rc "cannot run: apply fails" 1 "$bin" "${A[@]}" "$repo"
expect_out "cannot run: transient" '^failed +route/web.staging.mwc-murata: transient: nginx -t: cannot run .*no-such-nginx'
check "cannot run: file taken back" test ! -e "$sites/web.staging.mwc-murata.conf"

# ---- a reload nginx never applies: not served in time, taken back ----
write_config "    verifyTimeoutMs: 300"
sed -i 's|^    command: .*|    command: ["'"$(type -P true)"'"]|' "$cfg"
expect_rc "not served: apply fails" 1 "$bin" "${A[@]}" "$repo"
expect_out "not served: transient" '^failed +route/web.staging.mwc-murata: transient: .*not served by route route/web.staging.mwc-murata within 300 ms'
check "not served: file taken back" test ! -e "$sites/web.staging.mwc-murata.conf"
write_config ""
note_workers
expect_rc "real nginx again: apply" 0 "$bin" "${A[@]}" "$repo"
handed_over "real nginx again"
served_steadily "real nginx again: route served" web.staging.mwc-murata.pycom.io route/web.staging.mwc-murata

# ---- prune: an app removed from the manifest loses its route ----
cp "$example/tenants/mwc-sequans.yaml" "$repo/tenants/mwc-sequans.yaml"
"$bin" "${P[@]}" "$repo" >"$tmp/out" 2>&1
n=$(sed -nE 's/^tenant mwc-sequans: .* ([0-9]+) to delete.*/\1/p' "$tmp/out")
expect_out "prune: planned" '^  - +route/docs.staging.mwc-sequans'
r1=$(reloads)
note_workers
expect_rc "prune: apply" 0 "$bin" "${A[@]}" --allow-delete "${n:-0}" "$repo"
handed_over "prune"
served_steadily "prune: host no longer routed" "$docs" ""
check "prune: file gone" test ! -e "$sites/docs.staging.mwc-sequans.conf"
eq "prune: one reload" "$(($(reloads) - r1))" 1

# ---- nginx down: transient, exit 1; back up: converges ----
stop_nginx
rm "$sites/web.staging.mwc-murata.conf"
expect_rc "nginx down: apply fails" 1 "$bin" "${A[@]}" "$repo"
expect_out "nginx down: transient" '^failed +route/web.staging.mwc-murata: transient: nginx -s reload'
check "nginx down: unloaded file taken back" test ! -e "$sites/web.staging.mwc-murata.conf"
start_nginx || bad "nginx restarts"
note_workers
expect_rc "nginx back: apply converges" 0 "$bin" "${A[@]}" "$repo"
handed_over "nginx back"
served_steadily "nginx back: route served" web.staging.mwc-murata.pycom.io route/web.staging.mwc-murata
expect_out "nginx back: summary" '^3 tenants: 1 changed, 0 failed'
for h in "${!host_route[@]}"; do
  eq "at the end: $h served" "$(route "$h")" "${host_route[$h]}"
done
r1=$(reloads)
expect_rc "last apply" 0 "$bin" "${A[@]}" "$repo"
expect_out "last apply: 0 changed" '^3 tenants: 0 changed, 0 failed'
eq "last apply: no reload" "$(reloads)" "$r1"
eq "no temp files at the end" "$(temp_files)" 0

# ---- many routes at a low concurrency: one test and one reload a pass ----
# The provider batches (provider.h): the pass hands it every route that
# is ready at once, whatever --concurrency says, and one cycle takes
# them all.  nginx's runs are counted by a wrapper that logs each.
L=$tmp/many
mkdir -p "$L/tenants"
cp "$repo/platform.yaml" "$repo/tiers.yaml" "$L/"
nmany=40
for i in $(seq 1 $nmany); do
  cat >"$L/tenants/many-$i.yaml" <<EOF
apiVersion: tenantd.io/v1
kind: Tenant
metadata:
  name: many-$i
spec:
  tier: basic
  owner: ops@many.example
  environments:
    - name: staging
      network:
        cidr: 10.$((100 + i)).0.0/16
      apps:
        - name: web
          endpoint: 127.0.0.1:9
          dns: {public: true, aliases: [many-$i.example]}
EOF
done
counting=$tmp/nginx-counting
cat >"$counting" <<EOF
#!/bin/sh
echo "\$*" >>"$tmp/runs.log"
exec "$nginx_bin" "\$@"
EOF
chmod +x "$counting"
: >"$tmp/runs.log"
mcfg=$tmp/many.yaml
sed -e "s|^    command: \[\"[^\"]*\"|    command: [\"$counting\"|" \
  -e "s|stateDir: \"$tmp/state\"|stateDir: \"$tmp/state-many\"|" "$cfg" >"$mcfg"
MA=(apply --once --concurrency 2 --config "$mcfg" --status-dir "$tmp/status-many")
r1=$(reloads)
note_workers
expect_rc "many routes: apply" 0 "$bin" "${MA[@]}" "$L"
handed_over "many routes"
expect_out "many routes: every route created" "^$nmany tenants: $((nmany * 4)) changed, 0 failed"
eq "many routes: one nginx -t" "$(grep -c -- ' -t' "$tmp/runs.log")" 1
eq "many routes: one reload run" "$(grep -c -- '-s reload' "$tmp/runs.log")" 1
eq "many routes: one reload" "$(($(reloads) - r1))" 1
for i in 1 17 $nmany; do
  eq "many routes: many-$i served" "$(route "many-$i.example")" \
    "route/web.staging.many-$i"
done
: >"$tmp/runs.log"
expect_rc "many routes: again" 0 "$bin" "${MA[@]}" "$L"
expect_out "many routes: nothing to do" "^$nmany tenants: 0 changed, 0 failed"
eq "many routes: no nginx run" "$(wc -l <"$tmp/runs.log")" 0

summary "providers/nginx"
