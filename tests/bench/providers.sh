#!/usr/bin/env bash
# make bench-providers: the real providers at scale, each against its
# server's own client doing the same work, as ratios measured in the same
# run (medians of BENCH_RUNS runs):
#
#   powerdns  the DNS records of BENCH_PDNS_TENANTS tenants (3 a tenant:
#             public, private and alias) in three zones; observe is
#             `tenantd plan` with everything applied, against a GET of
#             every zone with curl and `pdnsutil list-zone` of each;
#   nginx     the routes of BENCH_NGINX_TENANTS tenants; observe against
#             `ls` of the sites directory and `nginx -t`;
#   postgres  the databases of BENCH_PG_TENANTS tenants; observe against
#             `psql -c '\l'`.
#
# For each: observe (a plan with nothing to do), the first apply from
# nothing and a no-change apply, per resource of the provider's type, and
# what the provider sent (PATCHes and GETs PowerDNS logged, nginx runs,
# catalog queries), counted from the server's side.  The first apply is
# set against the native client writing the same: one curl PATCH a zone,
# the route files copied in with one nginx -t and one reload, a psql
# script of CREATE ROLE / DATABASE and COMMENTs.  Every tenant also has a
# network (and, but for postgres, a route or records) on the local
# provider: its share is in every tenantd figure.
#
# Usage: tests/bench/providers.sh TENANTD [OUT]
#   rows, `measure|N|tenantd|baseline|ratio|command` as tests/bench/run.sh
#   builds them, go to OUT (stdout without it); progress goes to stderr.
# Environment: BENCH_RUNS (3), BENCH_FIRST_RUNS (1: first applies),
#   BENCH_PDNS_TENANTS (10000),
#   BENCH_NGINX_TENANTS (1000), BENCH_PG_TENANTS (200), BENCH_CONCURRENCY
#   (16), BENCH_ONLY ("powerdns nginx postgres").
set -uo pipefail

bin=$(realpath "${1:?usage: providers.sh TENANTD [OUT]}")
out=${2:-/dev/stdout}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
RUNS=${BENCH_RUNS:-3}
# A first apply from nothing is the longest figure (30,000 records, 200
# CREATE DATABASEs): measured this many times, its rows say so.
FIRST_RUNS=${BENCH_FIRST_RUNS:-1}
fnote=" (median of $FIRST_RUNS runs)"
[ "$FIRST_RUNS" != 1 ] || fnote=" (one run)"
PDNS_N=${BENCH_PDNS_TENANTS:-10000}
NGX_N=${BENCH_NGINX_TENANTS:-1000}
PG_N=${BENCH_PG_TENANTS:-200}
CONC=${BENCH_CONCURRENCY:-16}
ONLY=${BENCH_ONLY:-"powerdns nginx postgres"}
pgbin=/usr/lib/postgresql/15/bin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tenantd-bench-prov.XXXXXX")
# The postgres user reaches its data directory under $tmp.
chmod 711 "$tmp"
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
cleanup_on_exit
command -v nginx >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
t_start=$SECONDS

say() { echo "bench-providers: $*" >&2; }
row() { echo "$1|$2|$3|$4|$5|$6" >>"$out"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'; }
per() { awk -v v="$1" -v n="$2" 'BEGIN { printf "%.1f", v * 1e6 / n }'; }
# timed FILE CMD...: runs CMD, after a sync, "<wall s> <peak RSS KiB>
# <cpu s>" appended to FILE (measure.py); its output in $tmp/cmd.out.
timed() {
  local f=$1
  shift
  # What ran before (a build, the bench's own setup) leaves its writes
  # to the command's flushes otherwise.
  sync
  python3 "$here/measure.py" "$tmp/measure" "$@"
  cat "$tmp/measure" >>"$f"
  rm -f "$tmp/measure"
  mv "$tmp/measure.out" "$tmp/cmd.out"
}
col() { cut -d' ' -f"$1" "$2" | median; }
# sh_timed FILE SCRIPT: timed, for a baseline written as a shell line.
sh_timed() { timed "$1" bash -c "$2"; }

# gen N DIR SHAPE: N tenants of one environment, a network each, and
#   dns    an app running elsewhere with a public record, a private one
#          and an alias (a route on the local provider);
#   nginx  an app running elsewhere, public with an alias: its route;
#   pg     a database.
gen() {
  python3 - "$@" <<'EOF'
import os, shutil, sys
n, out, shape = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ex = os.path.join(os.environ["root"], "deploy", "examples", "tenants-repo")
os.makedirs(os.path.join(out, "tenants"), exist_ok=True)
for f in ("platform.yaml", "tiers.yaml"):
    shutil.copy(os.path.join(ex, f), out)
for i in range(n):
    name = "t%05d" % i
    a, b = (i // 256) % 256, i % 256
    body = ""
    if shape == "pg":
        body = "      database: {}\n"
    else:
        dns = "public: true, aliases: [%s.example]" % name
        if shape == "dns":
            dns += ", private: true"
        body = ("      apps:\n        - name: api\n"
                "          endpoint: 172.16.%d.%d:8080\n"
                "          dns: {%s}\n" % (a, b, dns))
    with open(os.path.join(out, "tenants", name + ".yaml"), "w") as f:
        f.write("apiVersion: tenantd.io/v1\nkind: Tenant\nmetadata:\n"
                "  name: %s\nspec:\n  tier: basic\n  owner: ops@%s.example\n"
                "  environments:\n    - name: staging\n      network:\n"
                "        cidr: 10.%d.%d.0/24\n%s" % (name, name, a, b, body))
EOF
}
export root

# tenantd_rows LABEL N UNIT NRES CMDLINE BASEFILE BASELABEL BASECMD:
# the observe rows (wall and CPU) of $tmp/obs against the baseline's.
observe_rows() {
  local label=$1 n=$2 nres=$3 cmd=$4 base=$5 blabel=$6
  local w c bw bc
  w=$(col 1 "$tmp/obs")
  c=$(col 3 "$tmp/obs")
  bw=$(col 1 "$base")
  bc=$(col 3 "$base")
  row "$label observe (s)" "$n" "$(fmt "$w" %.3f)" \
    "$(fmt "$bw" %.4f) ($blabel)" "$(ratio "$w" "$bw")" "$cmd"
  row "$label observe CPU, user+sys (s)" "$n" "$(fmt "$c" %.3f)" \
    "$(fmt "$bc" %.4f) ($blabel)" "$(ratio "$c" "$bc")" "$cmd"
  row "$label observe per resource (us)" "$n" \
    "$(per "$w" "$nres") ($nres resources)" \
    "$(per "$bw" "$nres") ($blabel)" "$(ratio "$w" "$bw")" "$cmd"
}
# apply_rows LABEL N NRES FILE CMD [BASEFILE BASELABEL]: an apply's rows.
apply_rows() {
  local label=$1 n=$2 nres=$3 f=$4 cmd=$5 base=${6:-} blabel=${7:-}
  local w c bw="" r=" " bcol=" "
  w=$(col 1 "$f")
  c=$(col 3 "$f")
  if [ -n "$base" ]; then
    bw=$(col 1 "$base")
    bcol="$(fmt "$bw" %.4f) ($blabel)"
    r=$(ratio "$w" "$bw")
  fi
  row "$label (s)" "$n" "$(fmt "$w" %.3f)" "$bcol" "$r" "$cmd"
  row "$label CPU, user+sys (s)" "$n" "$(fmt "$c" %.3f)" " " " " "$cmd"
  row "$label per resource (us)" "$n" "$(per "$w" "$nres") ($nres resources)" \
    " " " " "$cmd"
}
# count_row MEASURE N VALUE WANT CMD: what a pass sent, with what it
# should be.
count_row() { row "$1" "$2" "$3" "$4 (want)" " " "$5"; }
# changes: the summary's changed count of the last tenantd run.
changed() { sed -n 's/^[0-9]* tenants: \([0-9]*\) changed.*/\1/p' "$tmp/cmd.out"; }
pending() { sed -n 's/^\([0-9]*\) changes pending$/\1/p' "$tmp/cmd.out"; }
check_run() { # WHAT WANT-CHANGED
  local got
  got=$(changed)
  [ "$got" = "$2" ] || {
    say "$1: $got changed, want $2"
    tail -5 "$tmp/cmd.out" >&2
  }
}

: >"$out"
[ "$out" = /dev/stdout ] || say "rows to $out"
row "measure" "N" "tenantd" "baseline" "ratio" "command"

# ---------------------------------------------------------------- powerdns
bench_powerdns() {
  local pd=$tmp/pdns key=bench-key n=$PDNS_N dns_port http_port api
  local zones=(pycom.io pycom.awsprivate example) z
  dns_port=$(free_port)
  http_port=$(free_port)
  api=http://127.0.0.1:$http_port/api/v1/servers/localhost
  pdns_conf "$pd" "$key" "$dns_port" "$http_port"
  pdns_server --config-dir="$pd" >>"$pd/log" 2>&1 &
  local pid=$!
  track_pid "$pid"
  wait_for 10 curl -sf -H "X-API-Key: $key" "$api/zones" || {
    say "pdns_server did not start"
    tail -5 "$pd/log" >&2
    return 1
  }
  # zones_reset: the zones, empty.
  zones_reset() {
    for z in "${zones[@]}"; do
      curl -s -o /dev/null -X DELETE -H "X-API-Key: $key" "$api/zones/$z."
      curl -sf -o /dev/null -X POST -H "X-API-Key: $key" \
        -H 'Content-Type: application/json' "$api/zones" \
        --data "{\"name\": \"$z.\", \"kind\": \"Native\", \"nameservers\": [\"ns1.$z.\"]}" ||
        say "zone $z not created"
    done
  }
  local repo=$tmp/pdns-repo cfg=$tmp/pdns.yaml
  gen "$n" "$repo" dns
  sed -i 's/dns_record: local/dns_record: pdns/' "$repo/platform.yaml"
  cat >"$cfg" <<EOF
source: {url: file://$tmp/unused.git, branch: main}
providers:
  local: {type: local, stateDir: $tmp/pdns-state}
  pdns: {type: powerdns, url: "http://127.0.0.1:$http_port", apiKeyEnv: PDNS_API_KEY}
EOF
  export PDNS_API_KEY=$key
  local nres=$((n * 3))
  local A=("$bin" apply --once --concurrency "$CONC" --config "$cfg" --status-dir "$tmp/pdns-status" "$repo")
  local P=("$bin" plan --concurrency "$CONC" --config "$cfg" --status-dir "$tmp/pdns-status" "$repo")
  local acmd="\`tenantd apply --once --concurrency $CONC --config C DIR\` (dns_record on powerdns)"
  local pcmd="\`tenantd plan --concurrency $CONC --config C DIR\`, everything applied"
  # req METHOD: the requests of that method PowerDNS logged after mark.
  local mark
  req_mark() { mark=$(wc -l <"$pd/log"); }
  req() { tail -n +$((mark + 1)) "$pd/log" | grep -c "\"$1 /api/v1/servers/localhost/zones/"; }
  sent() { echo "$(req PATCH) PATCHes, $(req GET) zone GETs"; }
  # The native write: every rrset tenantd writes, with its comment, in
  # PATCHes of 1,000 rrsets (PowerDNS takes bodies up to 2 MB), as a
  # client of the API would send them.
  python3 - "$n" "$tmp/patch" <<'EOF'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
zones = {"pycom.io": [], "pycom.awsprivate": [], "example": []}
def rrset(name, typ, content, t, rid):
    return {"name": name + ".", "type": typ, "ttl": 300, "changetype": "REPLACE",
            "records": [{"content": content, "disabled": False}],
            "comments": [{"account": "tenantd", "content":
                          "managed-by=tenantd tenant=%s id=%s" % (t, rid)}]}
for i in range(n):
    t = "t%05d" % i
    key = "api.staging." + t
    zones["pycom.io"].append(rrset(key + ".pycom.io", "CNAME", "lb.pycom.io.",
                                   t, "dns_record/%s.public" % key))
    zones["pycom.awsprivate"].append(rrset(
        key + ".pycom.awsprivate", "A", "172.16.%d.%d" % ((i // 256) % 256, i % 256),
        t, "dns_record/%s.private" % key))
    zones["example"].append(rrset(t + ".example", "CNAME", "lb.pycom.io.", t,
                                  "dns_record/%s.alias.%s.example" % (key, t)))
for z, rr in zones.items():
    for k in range(0, len(rr), 1000):
        with open("%s-%s-%05d.json" % (out, z, k), "w") as f:
            json.dump({"rrsets": rr[k:k + 1000]}, f)
EOF
  local patch="" get="" util=""
  for z in "${zones[@]}"; do
    for f in "$tmp/patch-$z"-*.json; do
      patch+="curl -sf -o /dev/null -X PATCH -H 'X-API-Key: $key' -H 'Content-Type: application/json' --data @$f $api/zones/$z. && "
    done
    get+="curl -sf -o /dev/null -H 'X-API-Key: $key' $api/zones/$z. && "
    util+="pdnsutil --config-dir=$pd list-zone $z >/dev/null && "
  done
  patch+=true get+=true util+=true
  local fsent asent osent
  : >"$tmp/first" && : >"$tmp/base-first"
  for r in $(seq "$FIRST_RUNS"); do
    zones_reset
    sh_timed "$tmp/base-first" "$patch"
    zones_reset
    rm -rf "$tmp/pdns-state" "$tmp/pdns-status"
    req_mark
    timed "$tmp/first" "${A[@]}"
    check_run "powerdns first apply" $((n * 5))
    [ "$r" = 1 ] && fsent=$(sent)
  done
  say "powerdns: first apply done ($fsent) $((SECONDS - t_start)) s"
  count_row "powerdns first apply: requests" "$n" "$fsent" \
    "a PATCH per zone and batch window" "$acmd"
  apply_rows "powerdns first apply$fnote" "$n" "$nres" "$tmp/first" \
    "$acmd; baseline \`curl -X PATCH\` of the same rrsets, 1,000 a request" \
    "$tmp/base-first" "curl PATCHes of 1,000"
  : >"$tmp/again" && : >"$tmp/obs" && : >"$tmp/base-get" && : >"$tmp/base-util"
  for r in $(seq "$RUNS"); do
    req_mark
    timed "$tmp/again" "${A[@]}"
    check_run "powerdns no-change apply" 0
    [ "$r" = 1 ] && asent=$(sent)
    req_mark
    timed "$tmp/obs" "${P[@]}"
    [ "$(pending)" = 0 ] || say "powerdns plan: $(pending) pending"
    [ "$r" = 1 ] && osent=$(sent)
    sh_timed "$tmp/base-get" "$get"
    sh_timed "$tmp/base-util" "$util"
  done
  count_row "powerdns no-change apply: requests" "$n" "$asent" \
    "0 PATCHes, 1 GET a zone and zoneCacheMs" "$acmd"
  count_row "powerdns observe: requests" "$n" "$osent" \
    "0 PATCHes, 3 zone GETs" "$pcmd"
  say "powerdns: observe done $((SECONDS - t_start)) s"
  observe_rows "powerdns" "$n" "$nres" \
    "$pcmd; baseline \`curl \$API/zones/Z.\` of the 3 zones" "$tmp/base-get" "zone GETs"
  observe_rows "powerdns" "$n" "$nres" \
    "$pcmd; baseline \`pdnsutil list-zone Z\` of the 3 zones" "$tmp/base-util" "pdnsutil"
  apply_rows "powerdns no-change apply" "$n" "$nres" "$tmp/again" \
    "$acmd; baseline \`curl \$API/zones/Z.\` of the 3 zones" \
    "$tmp/base-get" "zone GETs"
  stop_pid "$pid"
}

# ------------------------------------------------------------------- nginx
bench_nginx() {
  local ngx=$tmp/nginx n=$NGX_N port nginx_bin pid
  local sites=$ngx/sites
  mkdir -p "$sites"
  nginx_bin=$(command -v nginx)
  port=$(free_port)
  nginx_conf "$ngx" notice <<EOF
  server_names_hash_bucket_size 64;
  server_names_hash_max_size 8192;
  server { listen 127.0.0.1:$port default_server; return 404; }
  include $sites/*.conf;
EOF
  sed -i 's/worker_connections 64/worker_connections 256/' "$ngx/nginx.conf"
  local ncmd=("$nginx_bin" -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf")
  # The provider's command: nginx, each run logged with its arguments.
  cat >"$ngx/nginx-logged" <<EOF
#!/bin/sh
echo "\$*" >>"$ngx/runs.log"
exec "$nginx_bin" "\$@"
EOF
  chmod +x "$ngx/nginx-logged"
  : >"$ngx/runs.log"
  "${ncmd[@]}" 2>>"$ngx/stderr.log" &
  pid=$!
  track_pid "$pid"
  serving() { [ "$(http_code "http://127.0.0.1:$port/")" = 404 ]; }
  wait_for 10 serving || {
    say "nginx did not start"
    return 1
  }
  local repo=$tmp/nginx-repo cfg=$tmp/nginx.yaml
  gen "$n" "$repo" nginx
  sed -i 's/route: local/route: edge/' "$repo/platform.yaml"
  cat >"$cfg" <<EOF
source: {url: file://$tmp/unused.git, branch: main}
providers:
  local: {type: local, stateDir: $tmp/nginx-state}
  edge:
    type: nginx
    sitesDir: "$sites"
    command: ["$ngx/nginx-logged", -p, "$ngx", -e, "$ngx/error.log", -c, "$ngx/nginx.conf"]
    listen: "127.0.0.1:$port"
    verifyTimeoutMs: 60000
EOF
  local A=("$bin" apply --once --concurrency "$CONC" --config "$cfg" --status-dir "$tmp/nginx-status" "$repo")
  local P=("$bin" plan --concurrency "$CONC" --config "$cfg" --status-dir "$tmp/nginx-status" "$repo")
  local acmd="\`tenantd apply --once --concurrency $CONC --config C DIR\` (route on nginx)"
  local pcmd="\`tenantd plan --concurrency $CONC --config C DIR\`, everything applied"
  runs() { # WHAT: how many nginx runs with that argument since the mark
    tail -n +$((mark + 1)) "$ngx/runs.log" | grep -c -- "$1"
  }
  local mark sent
  : >"$tmp/first"
  for r in $(seq "$FIRST_RUNS"); do
    rm -rf "$tmp/nginx-state" "$tmp/nginx-status"
    rm -f "$sites"/*.conf
    "${ncmd[@]}" -s reload 2>/dev/null
    mark=$(wc -l <"$ngx/runs.log")
    timed "$tmp/first" "${A[@]}"
    check_run "nginx first apply" $((n * 4))
    [ "$r" = 1 ] && sent="$(runs ' -t') tests, $(runs 'reload') reloads"
  done
  # The native write: the same files copied in, one test, one reload
  # (signalled: nginx serves them a moment later).
  mkdir -p "$tmp/routes"
  cp "$sites"/*.conf "$tmp/routes/"
  : >"$tmp/base-first"
  for _ in $(seq "$FIRST_RUNS"); do
    rm -f "$sites"/*.conf
    "${ncmd[@]}" -s reload 2>/dev/null
    sh_timed "$tmp/base-first" "cp '$tmp/routes'/*.conf '$sites/' && $(printf '%q ' "${ncmd[@]}") -t 2>/dev/null && $(printf '%q ' "${ncmd[@]}") -s reload"
  done
  say "nginx: first apply done ($sent) $((SECONDS - t_start)) s"
  count_row "nginx first apply: nginx runs" "$n" "$sent" "1 test, 1 reload" "$acmd"
  apply_rows "nginx first apply$fnote" "$n" "$n" "$tmp/first" \
    "$acmd; baseline \`cp\` of the same files, \`nginx -t\`, \`nginx -s reload\`" \
    "$tmp/base-first" "cp + nginx -t + reload"
  : >"$tmp/again"
  mark=$(wc -l <"$ngx/runs.log")
  for _ in $(seq "$RUNS"); do
    timed "$tmp/again" "${A[@]}"
    check_run "nginx no-change apply" 0
  done
  count_row "nginx no-change apply: nginx runs" "$n" \
    "$(runs ' -t') tests, $(runs 'reload') reloads" "0 tests, 0 reloads" "$acmd"
  : >"$tmp/obs" && : >"$tmp/base"
  for _ in $(seq "$RUNS"); do
    timed "$tmp/obs" "${P[@]}"
    [ "$(pending)" = 0 ] || say "nginx plan: $(pending) pending"
    sh_timed "$tmp/base" "ls '$sites' >/dev/null && $(printf '%q ' "${ncmd[@]}") -t 2>/dev/null"
  done
  observe_rows "nginx" "$n" "$n" \
    "$pcmd; baseline \`ls SITES; nginx -t\`" "$tmp/base" "ls + nginx -t"
  apply_rows "nginx no-change apply" "$n" "$n" "$tmp/again" \
    "$acmd; baseline \`ls SITES; nginx -t\`" \
    "$tmp/base" "ls + nginx -t"
  say "nginx: observe done $((SECONDS - t_start)) s"
  stop_pid "$pid"
}

# ---------------------------------------------------------------- postgres
bench_postgres() {
  local pg=$tmp/pg n=$PG_N port pid
  port=$(free_port)
  mkdir -p "$pg"
  chown postgres:postgres "$pg"
  runuser -u postgres -- "$pgbin/initdb" -D "$pg/data" -U postgres -A trust \
    --no-sync -E UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1 || {
    say "initdb failed"
    return 1
  }
  pg_start() {
    setpriv --reuid=postgres --regid=postgres --clear-groups --reset-env \
      "$pgbin/postgres" -D "$pg/data" -c listen_addresses=127.0.0.1 \
      -p "$port" -k "$pg" -c fsync=off >>"$pg/server.log" 2>&1 &
    pid=$!
    track_pid "$pid"
    wait_for 15 pg_isready -q -h 127.0.0.1 -p "$port" || {
      say "postgres did not start"
      return 1
    }
  }
  sql() { psql -h "$pg" -p "$port" -U postgres -d postgres -XqtA -c "$1"; }
  pg_start || return 1
  sql "CREATE ROLE tenantd CREATEDB CREATEROLE LOGIN" >/dev/null
  # Back to this cluster before each first apply: a copy of its data
  # directory, far quicker than 200 DROP DATABASEs (a checkpoint each).
  stop_pid "$pid" INT
  cp -a "$pg/data" "$pg/clean"
  pg_reset() {
    stop_pid "$pid" INT
    rm -rf "$pg/data"
    cp -a "$pg/clean" "$pg/data"
    pg_start
  }
  pg_start || return 1
  export TENANTD_PG_CONNINFO="host=127.0.0.1 port=$port dbname=postgres user=tenantd"
  local repo=$tmp/pg-repo cfg=$tmp/pg.yaml
  gen "$n" "$repo" pg
  sed -i 's/^    database: local/    database: pg/' "$repo/platform.yaml"
  cat >"$cfg" <<EOF
source: {url: file://$tmp/unused.git}
providers:
  local: {type: local, stateDir: $tmp/pg-state}
  pg: {type: postgres, conninfoEnv: TENANTD_PG_CONNINFO}
EOF
  local A=("$bin" apply --once --concurrency "$CONC" --config "$cfg" --status-dir "$tmp/pg-status" "$repo")
  local P=("$bin" plan --concurrency "$CONC" --config "$cfg" --status-dir "$tmp/pg-status" "$repo")
  local acmd="\`tenantd apply --once --concurrency $CONC --config C DIR\` (database on postgres)"
  local pcmd="\`tenantd plan --concurrency $CONC --config C DIR\`, everything applied"
  # Statements, counted from the server's log while log_statement is on.
  logged=0
  stmt_on() {
    sql "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
    logged=$(wc -l <"$pg/server.log")
  }
  stmt_off() {
    sql "ALTER SYSTEM RESET log_statement" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
  }
  stmts() { tail -n +$((logged + 1)) "$pg/server.log" | grep -c "$1"; }
  # The native apply: what a DBA's script does for the same databases.
  for i in $(seq 0 $((n - 1))); do
    local d
    d=$(printf 't%05d_staging' "$i")
    echo "CREATE ROLE $d LOGIN; COMMENT ON ROLE $d IS 'managed-by=tenantd';"
    echo "GRANT $d TO CURRENT_USER;"
    echo "CREATE DATABASE $d OWNER $d CONNECTION LIMIT 50;"
    echo "COMMENT ON DATABASE $d IS 'managed-by=tenantd';"
  done >"$tmp/native.sql"
  local sent
  : >"$tmp/first" && : >"$tmp/base-create"
  for r in $(seq "$FIRST_RUNS"); do
    pg_reset || return 1
    timed "$tmp/base-create" psql -h 127.0.0.1 -p "$port" -U tenantd \
      -d postgres -Xq -f "$tmp/native.sql"
    pg_reset || return 1
    rm -rf "$tmp/pg-state" "$tmp/pg-status"
    [ "$r" = 1 ] && stmt_on
    timed "$tmp/first" "${A[@]}"
    check_run "postgres first apply" $((n * 2))
    [ "$r" = 1 ] && {
      stmt_off
      sent="$(stmts 'statement: \|execute <unnamed>:') statements"
    }
  done
  say "postgres: first apply done ($sent) $((SECONDS - t_start)) s"
  count_row "postgres first apply: statements" "$n" "$sent" \
    "$((n * 5)): a probe, role, create, comment and probe a database" "$acmd"
  apply_rows "postgres first apply$fnote" "$n" "$n" "$tmp/first" \
    "$acmd; baseline \`psql -f\` of CREATE ROLE, GRANT, CREATE DATABASE and the COMMENTs" \
    "$tmp/base-create" "psql -f, the same roles and databases"
  : >"$tmp/again" && : >"$tmp/obs" && : >"$tmp/base"
  local qa qo
  for r in $(seq "$RUNS"); do
    [ "$r" = 1 ] && stmt_on
    timed "$tmp/again" "${A[@]}"
    check_run "postgres no-change apply" 0
    [ "$r" = 1 ] && {
      stmt_off
      qa=$(stmts 'SELECT d.oid IS NOT NULL')
      stmt_on
    }
    timed "$tmp/obs" "${P[@]}"
    [ "$(pending)" = 0 ] || say "postgres plan: $(pending) pending"
    [ "$r" = 1 ] && {
      stmt_off
      qo=$(stmts 'SELECT d.oid IS NOT NULL')
    }
    timed "$tmp/base" psql -h 127.0.0.1 -p "$port" -U tenantd -d postgres \
      -X -c '\l'
  done
  count_row "postgres no-change apply: catalog queries" "$n" "$qa" "1" "$acmd"
  count_row "postgres observe: catalog queries" "$n" "$qo" "1" "$pcmd"
  observe_rows "postgres" "$n" "$n" \
    "$pcmd; baseline \`psql -c '\\l'\`" "$tmp/base" "psql \\l"
  apply_rows "postgres no-change apply" "$n" "$n" "$tmp/again" \
    "$acmd; baseline \`psql -c '\\l'\`" \
    "$tmp/base" "psql \\l"
  say "postgres: done $((SECONDS - t_start)) s"
  stop_pid "$pid" INT
}

for p in $ONLY; do
  "bench_$p" || say "$p: failed"
done
say "done in $((SECONDS - t_start)) s"
