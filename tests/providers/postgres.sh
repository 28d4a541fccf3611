#!/usr/bin/env bash
# The postgres provider against a real PostgreSQL 15 on 127.0.0.1, through
# `tenantd apply --once --config`, checked with psql: create from scratch
# (database, owner, connection limit, markers), idempotence, drift of the
# connection limit, the owner and the recorded attributes, a tier change,
# hostile text quoted into a comment, the reads of a pass answered by one
# catalog query, conflicts with a hand-made database and a hand-made role,
# prune under deletionPolicy Delete and Orphan (never a foreign or
# unmarked database), the server going down and coming back, drift made
# with psql planned and corrected from Git by default, a server
# that never answers (a connect timeout), bad credentials and options, and
# the conninfo password never appearing anywhere tenantd writes.
# Usage: tests/providers/postgres.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: postgres.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
example=$root/deploy/examples/tenants-repo
pgbin=/usr/lib/postgresql/15/bin
tmp=$(mktemp -d)
pgdir=""
pgpid=""
silent=""
cleanup() {
  [ -n "$silent" ] && kill "$silent" 2>/dev/null
  if [ -n "$pgpid" ]; then
    kill -INT "$pgpid" 2>/dev/null
    wait "$pgpid" 2>/dev/null
  fi
  if [ -z "${KEEP_TMP:-}" ]; then
    rm -rf "$tmp"
    [ -n "$pgdir" ] && rm -rf "$pgdir"
  fi
}
trap cleanup EXIT
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"

if [ ! -x "$pgbin/initdb" ]; then
  echo "postgres: $pgbin/initdb is missing (make deps installs postgresql)"
  exit 1
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# ---- the server: trust on its socket (for psql), SCRAM on TCP ----

secret=pg-secret-for-tests
port=$(free_port)
# The postgres user must reach the data directory: not under $tmp (0700).
pgdir=$(mktemp -d)
chown postgres:postgres "$pgdir"
runuser -u postgres -- "$pgbin/initdb" -D "$pgdir/data" -U postgres -A trust \
  --no-sync -E UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1 ||
  { cat "$tmp/initdb.log"; exit 1; }
cat >"$pgdir/data/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 scram-sha-256
EOF

start_pg() {
  setpriv --reuid=postgres --regid=postgres --clear-groups --reset-env \
    "$pgbin/postgres" -D "$pgdir/data" -c listen_addresses=127.0.0.1 \
    -p "$port" -k "$pgdir" -c fsync=off >>"$pgdir/server.log" 2>&1 &
  pgpid=$!
  wait_for 15 pg_isready -q -h 127.0.0.1 -p "$port"
}
stop_pg() {
  kill -INT "$pgpid"
  wait "$pgpid" 2>/dev/null
  pgpid=""
}
# sql QUERY: one value per line, as the superuser over the socket.
sql() {
  psql -h "$pgdir" -p "$port" -U postgres -d postgres -XqtA -c "$1" 2>>"$tmp/psql.err"
}

start_pg || { echo "postgres did not start"; cat "$pgdir/server.log"; exit 1; }
sql "CREATE ROLE tenantd CREATEDB CREATEROLE LOGIN PASSWORD '$secret'"
export TENANTD_PG_CONNINFO="host=127.0.0.1 port=$port dbname=postgres user=tenantd password=$secret"

# ---- the manifests and the controller config ----

w=$tmp/w
mkdir -p "$w"
cp -r "$example" "$w/repo"
sed -i 's/^    database: local/    database: pg/' "$w/repo/platform.yaml"
cfg=$w/tenantd.yaml
write_config() { # [PG-EXTRA [CONNECT-TIMEOUT-MS]]
  cat >"$cfg" <<EOF
source: {url: file://$w/unused.git}
providers:
  local: {type: local, stateDir: $w/state}
  pg: {type: postgres, conninfoEnv: TENANTD_PG_CONNINFO,
       connectTimeoutMs: ${2:-3000}, maxConnections: 3${1:+, $1}}
EOF
}
write_config
# Every output is kept for the final secret and sanitizer greps.
run() { # NAME WANT apply|plan ARGS...
  local name=$1 want=$2 cmd=$3
  shift 3
  expect_rc "$name" "$want" "$bin" "$cmd" --config "$cfg" \
    --status-dir "$w/status" "$@"
  cat "$tmp/out" "$tmp/err" >>"$tmp/all.log"
}
apply() { run "$1" "$2" apply --once "${@:3}" "$w/repo"; }
plan() { run "$1" "$2" plan --detailed-exitcode "${@:3}" "$w/repo"; }

db_row() { # NAME: owner|connlimit|comment
  sql "SELECT pg_get_userbyid(datdba) || '|' || datconnlimit || '|' ||
       coalesce(shobj_description(oid, 'pg_database'), '')
       FROM pg_database WHERE datname = '$1'"
}
no_db() { ! db_exists "$1"; }
no_role() { ! role_exists "$1"; }
db_exists() { [ "$(sql "SELECT count(*) FROM pg_database WHERE datname = '$1'")" = 1 ]; }
role_exists() { [ "$(sql "SELECT count(*) FROM pg_roles WHERE rolname = '$1'")" = 1 ]; }
limit_of() { sql "SELECT datconnlimit FROM pg_database WHERE datname = '$1'"; }
owner_of() { sql "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$1'"; }
comment_of() { sql "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$1'"; }

# ---- options ----

check "the config is valid" "$bin" run --config "$cfg" --check
write_config "poolSize: 2"
apply "an unknown option is refused" 1
expect_out "unknown option named" "postgres: unknown option 'poolSize'" "$tmp/err"
write_config
sed -i 's/conninfoEnv: TENANTD_PG_CONNINFO/conninfoEnv: TD_TEST_UNSET_VAR/' "$cfg"
apply "an unset conninfo variable is refused" 1
expect_out "the variable is named" 'TD_TEST_UNSET_VAR \(conninfoEnv\) is not set' "$tmp/err"
write_config
TENANTD_PG_CONNINFO="host=127.0.0.1 port=$port user=tenantd password='$secret" \
  apply "an unparsable conninfo is refused" 1
expect_out "without quoting it" 'not valid for libpq \(not shown' "$tmp/err"
TENANTD_PG_CONNINFO="host=127.0.0.1 port=$port dbname=postgres user=tenantd password=wrong-$secret" \
  apply "a wrong password holds every tenant" 1
expect_out "auth class" '^held +tenant mwc-murata: cannot observe database/mwc-murata.staging: auth: postgres: .*password authentication failed'
check "nothing created with bad credentials" test "$(sql "SELECT count(*) FROM pg_database WHERE datname LIKE '%staging'")" = 0

# ---- create from scratch ----

apply "apply from scratch" 0
expect_out "apply summary" '^3 tenants: [0-9]+ changed, 0 failed'
expect_out "database progress" '^\[[0-9]+/[0-9]+\] create +database/mwc-murata.staging done'
for spec in greenwood-high:production:500:db-custom-2-4096:90 \
  greenwood-high:staging:500:db-custom-2-4096:90 \
  mwc-murata:staging:200:db-g1-small:30 mwc-sequans:staging:50:db-f1-micro:30; do
  IFS=: read -r t e limit class days <<<"$spec"
  db=${t//-/_}_$e
  eq "$db row" "$(db_row "$db")" \
    "$db|$limit|managed-by=tenantd tenant=$t id=database/$t.$e attrs={\"backup_retention_days\":$days,\"class\":\"$class\",\"ha\":false}"
  eq "$db role" "$(sql "SELECT rolcanlogin || ' ' || shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = '$db'")" \
    "true managed-by=tenantd tenant=$t id=database/$t.$e"
done
eq "the role's password is a SCRAM verifier" \
  "$(sql "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'mwc_murata_staging'")" "SCRAM-SHA-256\$"
grep -q 'provider: pg' "$w/status/mwc-murata.yaml" && ok || bad "the database is in the inventory"

# ---- idempotence ----

apply "second apply" 0
expect_out "second apply changes nothing" '^3 tenants: 0 changed, 0 failed'
plan "plan after apply: nothing" 0
expect_out "no changes" '^0 changes pending$'

# ---- drift: the connection limit, the owner, the recorded attributes ----

sql "ALTER DATABASE mwc_murata_staging CONNECTION LIMIT 3"
sql "CREATE ROLE drifter"
sql "GRANT drifter TO tenantd"
sql "ALTER DATABASE mwc_sequans_staging OWNER TO drifter"
sql "COMMENT ON DATABASE greenwood_high_staging IS 'managed-by=tenantd tenant=greenwood-high id=database/greenwood-high.staging attrs={\"class\":\"db-huge\"}'"
# A database without its comment (as if tenantd lost the connection right
# after CREATE DATABASE) is still known by its owner role's marker.
sql "COMMENT ON DATABASE greenwood_high_production IS NULL"
plan "plan shows drift" 2
expect_out "limit drift" '~ connection_limit: 3 -> 200'
expect_out "drift marked" 'database/mwc-murata.staging +\(drift\)'
expect_out "owner drift" '~ owner: drifter -> mwc_sequans_staging'
expect_out "attribute drift" '~ class: db-huge -> db-custom-2-4096'
expect_out "a lost comment is found by the role" '~ +database/greenwood-high.production'
expect_no_out "a lost comment is no conflict" 'greenwood-high.production.*(conflict|!)'
apply "apply corrects drift" 0
eq "limit corrected" "$(limit_of mwc_murata_staging)" 200
eq "owner corrected" "$(owner_of mwc_sequans_staging)" mwc_sequans_staging
eq "attributes rewritten" "$(comment_of greenwood_high_staging)" \
  'managed-by=tenantd tenant=greenwood-high id=database/greenwood-high.staging attrs={"backup_retention_days":90,"class":"db-custom-2-4096","ha":false}'
eq "the lost comment rewritten" "$(comment_of greenwood_high_production | cut -d' ' -f1-3)" \
  "managed-by=tenantd tenant=greenwood-high id=database/greenwood-high.production"
plan "converged after the correction" 0

# ---- a manifest change: tier standard -> premium ----

sed -i 's/tier: standard/tier: premium/' "$w/repo/tenants/mwc-murata.yaml"
apply "apply a tier change" 0
expect_no_out "a manifest change is not drift" 'drift'
eq "premium connection limit" "$(limit_of mwc_murata_staging)" 500
comment_of mwc_murata_staging | grep -q '"class":"db-custom-2-4096"' && ok ||
  bad "premium class recorded"

# ---- hostile text in a comment: libpq's quoting, checked by the server ----

# The tier catalog's databaseClass is free text that lands in COMMENT ON
# DATABASE: quotes, dollars, a backslash, a statement and a format.
cp "$w/repo/tiers.yaml" "$tmp/tiers.orig"
hostile="it's \$\$ ; DROP DATABASE mwc_murata_staging; -- \\ %s \"q\""
"$py" - "$w/repo/tiers.yaml" "$hostile" <<'EOF'
import sys
path, value = sys.argv[1], sys.argv[2]
text = open(path).read()
text = text.replace("databaseClass: db-custom-2-4096",
                    "databaseClass: '" + value.replace("'", "''") + "'")
open(path, "w").write(text)
EOF
apply "apply a hostile database class" 0
want=$("$py" -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$hostile")
comment_of mwc_murata_staging | grep -qF "\"class\":$want," && ok ||
  bad "the hostile class is recorded as it is: $(comment_of mwc_murata_staging)"
check "the hostile class dropped nothing" db_exists mwc_murata_staging
plan "the hostile class reads back unchanged" 0
cp "$tmp/tiers.orig" "$w/repo/tiers.yaml"
apply "back to the plain class" 0

# ---- conflicts: a hand-made database, a hand-made role ----

sql "CREATE ROLE handmade"
sql "CREATE DATABASE mwc_sequans_qa OWNER handmade"
sql "COMMENT ON DATABASE mwc_sequans_qa IS 'made by hand'"
sql "CREATE ROLE mwc_sequans_dev"
cp "$w/repo/tenants/mwc-sequans.yaml" "$tmp/sequans.orig"
cat >>"$w/repo/tenants/mwc-sequans.yaml" <<EOF
    - name: qa
      network:
        cidr: 10.22.0.0/16
      database: {}
    - name: dev
      network:
        cidr: 10.23.0.0/16
      database: {}
EOF
# The reads of a pass share one catalog query, which answers the absent
# (dev), the unmarked (qa) and the marked alike: the provider batches
# (provider.h), so the pass hands it every read at once, whatever
# --concurrency says.
sql "ALTER SYSTEM SET log_statement = 'all'" && sql "SELECT pg_reload_conf()" >/dev/null
logged=$(wc -l <"$pgdir/server.log")
plan "plan the new environments, every read at once" 2 --concurrency 1
sql "ALTER SYSTEM RESET log_statement" && sql "SELECT pg_reload_conf()" >/dev/null
tail -n +"$((logged + 1))" "$pgdir/server.log" >"$tmp/statements.log"
eq "one catalog query for every read" \
  "$(grep -c 'execute <unnamed>: SELECT d.oid IS NOT NULL' "$tmp/statements.log")" 1
expect_no_out "no read of its own" 'pg_catalog.pg_roles r ON' "$tmp/statements.log"
expect_out "the unmarked database is a conflict" '^  ! +database/mwc-sequans.qa'
expect_out "the absent database is to be created" '^  \+ +database/mwc-sequans.dev'
expect_no_out "the marked one is unchanged" 'database/mwc-sequans.staging'
expect_no_out "nothing else changes" '^tenant (mwc-murata|greenwood-high): [1-9]'
apply "conflicts fail the apply" 1
expect_out "hand-made database reported" '^conflict database/mwc-sequans.qa: exists without'
expect_out "hand-made role reported" '^failed +database/mwc-sequans.dev: conflict: postgres: role "mwc_sequans_dev" exists without'
eq "hand-made database untouched" "$(db_row mwc_sequans_qa)" "handmade|-1|made by hand"
check "no role made for the hand-made database" no_role mwc_sequans_qa
check "no database made for the hand-made role" no_db mwc_sequans_dev
eq "hand-made role untouched" "$(sql "SELECT rolcanlogin || ':' || coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles WHERE rolname = 'mwc_sequans_dev'")" "false:"
cp "$tmp/sequans.orig" "$w/repo/tenants/mwc-sequans.yaml"
apply "back without the new environments" 0

# ---- prune: Delete drops, a foreign marker is never dropped ----

sed -i 's/deletionPolicy: Orphan/deletionPolicy: Delete/' "$w/repo/tenants/greenwood-high.yaml"
apply "apply deletionPolicy Delete" 0
grep -A6 'id: database/greenwood-high.staging' "$w/status/greenwood-high.yaml" |
  grep -q 'pruneDelete: true' && ok || bad "Delete recorded in the inventory"
# The production database now claims to be another tenant's.
foreign='managed-by=tenantd tenant=someone-else id=database/someone-else.production'
sql "COMMENT ON DATABASE greenwood_high_production IS '$foreign'"
mv "$w/repo/tenants/greenwood-high.yaml" "$tmp/greenwood-high.yaml"
apply "the delete guard refuses" 1
expect_out "refusal explained" 'refused: this pass would delete [0-9]+ of [0-9]+ managed'
check "nothing dropped when refused" db_exists greenwood_high_staging
n=$(sed -nE 's/.*would delete ([0-9]+) of.*/\1/p' "$tmp/out" | head -1)
apply "prune with --allow-delete" 1 --allow-delete "${n:-0}"
expect_out "the foreign database is not pruned" '^conflict database/greenwood-high.production: not pruned'
check "Delete dropped the database" no_db greenwood_high_staging
check "Delete dropped the role" no_role greenwood_high_staging
eq "the foreign-marked database is kept" "$(db_row greenwood_high_production)" \
  "greenwood_high_production|500|$foreign"
check "its role is kept" role_exists greenwood_high_production
eq "the unmarked database is kept" "$(db_row mwc_sequans_qa)" "handmade|-1|made by hand"
check "other tenants' databases are kept" db_exists mwc_murata_staging
# Given back its marker and its manifest, the tenant converges again.
sql "COMMENT ON DATABASE greenwood_high_production IS 'managed-by=tenantd tenant=greenwood-high id=database/greenwood-high.production'"
mv "$tmp/greenwood-high.yaml" "$w/repo/tenants/greenwood-high.yaml"
apply "the tenant comes back" 0
check "its staging database is back" db_exists greenwood_high_staging

# ---- prune: Orphan keeps the database, out of the status ----

mv "$w/repo/tenants/mwc-sequans.yaml" "$tmp/mwc-sequans.yaml"
apply "the delete guard refuses (orphan)" 1
expect_out "the plan orphans the database" '^  o +database/mwc-sequans.staging'
n=$(sed -nE 's/.*would delete ([0-9]+) of.*/\1/p' "$tmp/out" | head -1)
apply "prune an Orphan database" 0 --allow-delete "${n:-0}"
check "Orphan keeps the database" db_exists mwc_sequans_staging
check "Orphan keeps the role" role_exists mwc_sequans_staging
eq "the orphan keeps its marker" "$(comment_of mwc_sequans_staging | cut -d' ' -f1-3)" \
  "managed-by=tenantd tenant=mwc-sequans id=database/mwc-sequans.staging"
if [ -e "$w/status/mwc-sequans.yaml" ]; then
  grep -q 'database/mwc-sequans.staging' "$w/status/mwc-sequans.yaml" &&
    bad "the orphan is still in the status" || ok
else ok; fi

# ---- the server goes down: transient, nothing deleted; then converges ----

sed -i 's/tier: premium/tier: standard/' "$w/repo/tenants/mwc-murata.yaml"
n_state=$(find "$w/state" -name '*.json' | wc -l)
stop_pg
apply "server down fails the apply" 1
expect_out "transient errors" 'transient: postgres: connection to server at "127.0.0.1", port [0-9]+ failed'
check "statuses keep their inventory" grep -q 'id: database/mwc-murata.staging' "$w/status/mwc-murata.yaml"
eq "nothing else touched while down" "$(find "$w/state" -name '*.json' | wc -l)" "$n_state"
start_pg || bad "postgres restarted"
check "nothing dropped while down" db_exists mwc_murata_staging
apply "converges once the server is back" 0
eq "the pending change applied" "$(limit_of mwc_murata_staging)" 200
plan "nothing left to do" 0

# ---- from Git: drift made with psql, planned and corrected by default ----

# The manifests in a bare remote, the same instances in a config that
# names it: plan and apply --once --config mean every tenant.
git init -q --bare -b main "$w/remote.git"
git clone -q "$w/remote.git" "$w/wc" 2>/dev/null
cp -r "$w/repo"/. "$w/wc"/
git -C "$w/wc" add -A && git -C "$w/wc" commit -q -m "Tenants" &&
  git -C "$w/wc" push -q origin HEAD:main
gcfg=$w/git.yaml
sed "s|^source: .*|source: {url: file://$w/remote.git}\ncacheDir: $w/cache|" "$cfg" >"$gcfg"
git_run() { # NAME WANT apply|plan ARGS...
  local name=$1 want=$2 cmd=$3
  shift 3
  expect_rc "$name" "$want" "$bin" "$cmd" --config "$gcfg" "$@"
  cat "$tmp/out" "$tmp/err" >>"$tmp/all.log"
}
# A new status branch: what the directory passes made is adopted.
git_run "git: first apply adopts" 0 apply --once
expect_out "git: adopted" '^2 tenants: 0 changed, .*, [1-9][0-9]* adopted$'
git_run "git: converged" 0 plan --detailed-exitcode
sql "ALTER DATABASE mwc_murata_staging CONNECTION LIMIT 3"
git_run "git: plan shows the drift" 2 plan --detailed-exitcode
expect_out "git: the drift marked" 'database/mwc-murata.staging +\(drift\)'
expect_out "git: the drifted limit" '~ connection_limit: 3 -> 200'
git_run "git: plan --changed does not look" 0 plan --detailed-exitcode --changed
eq "git: plans left the limit" "$(limit_of mwc_murata_staging)" 3
git_run "git: a plain apply corrects it" 0 apply --once
eq "git: limit corrected" "$(limit_of mwc_murata_staging)" 200
git_run "git: converged again" 0 plan --detailed-exitcode

# ---- a server that accepts and never answers: a timeout, transient ----

"$py" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True); time.sleep(30)' >"$tmp/silent.port" &
silent=$!
wait_for 5 test -s "$tmp/silent.port"
write_config "" 200
TENANTD_PG_CONNINFO="host=127.0.0.1 port=$(cat "$tmp/silent.port") dbname=postgres user=tenantd password=$secret" \
  apply "a silent server fails the apply" 1
expect_out "timed out, transient" 'transient: postgres: 127.0.0.1:[0-9]+: connection timed out after 200 ms'
kill "$silent" 2>/dev/null
wait "$silent" 2>/dev/null
silent=""
write_config

# ---- the password never leaks ----

for f in "$tmp/all.log" "$w/status" "$w/state" "$pgdir/server.log"; do
  if grep -rqF -- "$secret" "$f"; then
    bad "the conninfo password appears in $f"
    grep -rF -- "$secret" "$f" | head -3 | sed 's/^/    /'
  else ok; fi
done
expect_no_out "no conninfo in any message" 'password=|user=tenantd' "$tmp/all.log"
expect_no_out "no sanitizer report" 'AddressSanitizer|LeakSanitizer|runtime error' "$tmp/all.log"
[ -s "$tmp/psql.err" ] && { echo "psql said:"; sed 's/^/    /' "$tmp/psql.err" | head -5; }

summary "providers/postgres"
