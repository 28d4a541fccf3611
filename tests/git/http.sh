#!/usr/bin/env bash
# tenantd's Git source over git's real smart-HTTP server, with credentials
# from the environment or the URL: nginx (basic auth) -> fcgiwrap ->
# git-http-backend, run as the current user on 127.0.0.1, everything (config,
# logs, pid, temp files, socket) inside a temporary directory.  Checks: no
# credentials, wrong credentials (a bounded failure), right ones (status
# branch, trailers, notes pushed over HTTP), a pass with nothing new,
# credentials in the URL (never shown, never stored), another writer on the
# status branch (before the fetch, during the apply, and between the
# server's advertisement and its ref update), and `tenantd status` over HTTP.
# Usage: tests/git/http.sh path/to/tenantd
set -uo pipefail

bin=$(realpath "${1:?usage: http.sh TENANTD}")
root=$(cd "$(dirname "$0")/../.." && pwd)
example=$root/deploy/examples/tenants-repo
backend=/usr/lib/git-core/git-http-backend
tmp=$(mktemp -d)
# Hermetic git, and the servers stopped on exit (tests/lib.sh).
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
cleanup_on_exit

for tool in fcgiwrap nginx openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "git-http: $tool is not installed"
    exit 1
  fi
done
[ -x "$backend" ] || { echo "git-http: no $backend"; exit 1; }

# No proxy between libgit2 (or curl) and the local server.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
unset TENANTD_GIT_USERNAME TENANTD_GIT_PASSWORD

user=tenantd
pw=s3cr3t-t0ken-42
wrong=wr0ng-pa55-99

# Every run is bounded: tenantd must never wait for ever on the server.
# Every run's output is kept in $tmp/all, searched for secrets at the end.
expect_timeout=20
expect_transcript=$tmp/all
# expect_no_str NAME STRING FILE: FILE does not hold STRING (fixed string).
expect_no_str() {
  if grep -qF -- "$2" "$3"; then
    bad "$1: $(basename "$3") holds the secret"
    grep -F -- "$2" "$3" | sed 's/^/    /' | head -5
  else ok; fi
}

# ---- the server ----
srv=$tmp/srv
R=$srv/tenants.git
W=$tmp/wc
C=$tmp/cache
S=$tmp/state
ngx=$tmp/nginx
mkdir -p "$srv" "$ngx"

# The repository it serves, filled over file:// from a working clone.
git init -q --bare -b main "$R"
git clone -q "$R" "$W" 2>/dev/null
git -C "$W" checkout -q -b main 2>/dev/null
cp -r "$example"/. "$W"/
git -C "$W" add -A
git -C "$W" commit -q -m "Tenants of the example"
git -C "$W" push -q origin main

# fcgiwrap in the foreground (in the background here), restricted to the
# backend; its socket appears once it listens.
fcgiwrap -s "unix:$tmp/fcgi.sock" -p "$backend" 2>"$tmp/fcgiwrap.log" &
track_pid $!
for _ in $(seq 100); do
  [ -S "$tmp/fcgi.sock" ] && break
  sleep 0.05
done
if [ ! -S "$tmp/fcgi.sock" ]; then
  echo "git-http: fcgiwrap did not start"
  cat "$tmp/fcgiwrap.log"
  exit 1
fi

printf '%s:%s\n' "$user" "$(openssl passwd -apr1 "$pw")" >"$ngx/htpasswd"
write_conf() { # PORT
  nginx_conf "$ngx" <<EOF
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$1;
    location / {
      auth_basic "tenants";
      auth_basic_user_file $ngx/htpasswd;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $backend;
      fastcgi_param GIT_PROJECT_ROOT $srv;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param GIT_CONFIG_NOSYSTEM 1;
      fastcgi_param HOME $tmp;
      fastcgi_param PATH_INFO \$uri;
      fastcgi_param REMOTE_USER \$remote_user;
      fastcgi_pass unix:$tmp/fcgi.sock;
    }
  }
EOF
}
# code PATH [CURL ARGS...]: the HTTP status of a GET.
code() {
  local p=$1
  shift
  http_code "http://127.0.0.1:$port$p" --max-time 2 "$@"
}
refs=/tenants.git/info/refs?service=git-upload-pack
port=
for _ in 1 2 3 4 5; do
  try=$(free_port)
  write_conf "$try"
  nginx -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf" 2>>"$ngx/stderr.log" &
  npid=$!
  track_pid "$npid"
  port=$try
  for _ in $(seq 100); do
    kill -0 "$npid" 2>/dev/null || break
    [ "$(code "$refs")" = 401 ] && break
    sleep 0.05
  done
  if kill -0 "$npid" 2>/dev/null && [ "$(code "$refs")" = 401 ]; then
    break
  fi
  stop_pid "$npid"
  port=
done
if [ -z "$port" ]; then
  echo "git-http: nginx did not start"
  tail -5 "$ngx/error.log" "$ngx/stderr.log" 2>/dev/null
  exit 1
fi
# The server itself: no credentials 401, wrong ones 401, right ones 200.
eq "0 server without credentials" "$(code "$refs")" 401
eq "0 server with a wrong password" "$(code "$refs" -u "$user:$wrong")" 401
eq "0 server with the password" "$(code "$refs" -u "$user:$pw")" 200

url=http://127.0.0.1:$port/tenants.git
url_pw=http://$user:$pw@127.0.0.1:$port/tenants.git
A=(apply --once --cache-dir "$C" --state-dir "$S")
rgit() { git --git-dir "$R" "$@"; }
wgit() { git -C "$W" "$@"; }
commit_push() { # MSG: commits everything in the clone and pushes main
  wgit add -A
  wgit commit -q -m "$1"
  wgit push -q origin main
}
set_tier() { # TENANT FROM TO
  sed -i "s/^  tier: $2\$/  tier: $3/" "$W/tenants/$1.yaml"
  grep -q "^  tier: $3\$" "$W/tenants/$1.yaml" || bad "fixture: $1 has no tier $2"
}
status_tip() { rgit rev-parse -q --verify refs/heads/tenantd/status; }
trailer() { # KEY: its values on the server's status tip, one line
  rgit log -1 --format="%(trailers:key=$1,valueonly)" tenantd/status | sed '/^$/d' | tr '\n' ' '
}
main1=$(rgit rev-parse main)

# ==== 1. no credentials ====
expect_rc "1 apply without credentials" 1 "$bin" "${A[@]}" --repo "$url"
expect_out "1 the remote asks for credentials" 'asks for credentials' "$tmp/err"
expect_out "1 names TENANTD_GIT_PASSWORD" 'TENANTD_GIT_PASSWORD' "$tmp/err"
expect_out "1 names the URL" "127\\.0\\.0\\.1:$port/tenants\\.git" "$tmp/err"
eq "1 nothing in the state dir" "$(find "$S" -type f 2>/dev/null | wc -l)" 0
check "1 no status branch on the server" test -z "$(status_tip)"

# ==== 2. a wrong password in the environment ====
n401_before=$(grep -c " 401 " "$ngx/access.log")
start=$(date +%s%N)
TENANTD_GIT_USERNAME=$user TENANTD_GIT_PASSWORD=$wrong \
  expect_rc "2 apply with a wrong password" 1 "$bin" "${A[@]}" --repo "$url"
ms=$((($(date +%s%N) - start) / 1000000))
sed 's/^/    2 says: /' "$tmp/err" | head -3
check "2 fails quickly (${ms} ms)" test "$ms" -lt 10000
expect_out "2 says the credentials were refused" 'refused the credentials' "$tmp/err"
expect_no_str "2 stderr hides the wrong password" "$wrong" "$tmp/err"
expect_no_str "2 stdout hides the wrong password" "$wrong" "$tmp/out"
eq "2 nothing in the state dir" "$(find "$S" -type f 2>/dev/null | wc -l)" 0
check "2 no status branch on the server" test -z "$(status_tip)"
# The tries reached the server and were refused there, a bounded number.
n401=$(($(grep -c " 401 " "$ngx/access.log") - n401_before))
check "2 the server refused a few tries ($n401)" test "$n401" -ge 2 -a "$n401" -le 10
grep -q "user \"$user\": password mismatch" "$ngx/error.log" && ok ||
  bad "2 the server refused the user's password"

# ==== 3. the right credentials in the environment ====
export TENANTD_GIT_USERNAME=$user TENANTD_GIT_PASSWORD=$pw
expect_rc "3 apply with credentials" 0 "$bin" "${A[@]}" --repo "$url"
expect_out "3 summary" '^3 tenants: [1-9][0-9]* changed, 0 failed'
expect_out "3 status commit named" "^source ${main1:0:12}; status commit [0-9a-f]{12}\$"
expect_no_out "3 pushed" 'not pushed'
check "3 status branch on the server" test -n "$(status_tip)"
eq "3 output names the pushed status commit" \
  "$(sed -nE 's/.*status commit ([0-9a-f]{12}).*/\1/p' "$tmp/out")" "$(status_tip | cut -c1-12)"
eq "3 Tenantd-Source is main" "$(trailer Tenantd-Source)" "$main1 "
eq "3 Tenantd-Tenant lists the 3 tenants" "$(trailer Tenantd-Tenant | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ')" \
  "greenwood-high mwc-murata mwc-sequans "
check "3 notes ref on the server" rgit rev-parse -q --verify refs/notes/tenantd
if rgit notes --ref=tenantd show main >"$tmp/note" 2>&1; then ok; else bad "3 no note on main"; fi
eq "3 note first line" "$(head -1 "$tmp/note")" "tenantd: ready"
eq "3 note names the status commit" "$(sed -n 2p "$tmp/note")" "status: $(status_tip) (tenantd/status)"
check "3 state written" test -f "$S/service/api.staging.mwc-sequans.json"
# The push went through git-http-backend as the authenticated user.
grep -qE "\"POST /tenants.git/git-receive-pack HTTP/1.1\" 200 .*" "$ngx/access.log" && ok ||
  bad "3 no receive-pack over HTTP in the server's log"
grep -qE "^127\\.0\\.0\\.1 - $user .*\"POST /tenants.git/git-receive-pack" "$ngx/access.log" && ok ||
  bad "3 the push was not made as $user"

# ==== 4. nothing new ====
st3=$(status_tip)
notes3=$(rgit rev-parse refs/notes/tenantd)
expect_rc "4 second apply" 0 "$bin" "${A[@]}" --repo "$url"
expect_out "4 status unchanged" "^source ${main1:0:12}; status unchanged\$"
eq "4 no new status commit" "$(status_tip)" "$st3"
eq "4 notes unchanged" "$(rgit rev-parse refs/notes/tenantd)" "$notes3"

# ==== 5. credentials in the URL, a commit touching one tenant ====
unset TENANTD_GIT_USERNAME TENANTD_GIT_PASSWORD
set_tier mwc-sequans basic premium
commit_push "mwc-sequans to premium"
main5=$(rgit rev-parse main)
expect_rc "5 apply, password in the URL" 0 "$bin" "${A[@]}" --repo "$url_pw" --changed
expect_out "5 one tenant" '^1 tenants?: [1-9][0-9]* changed, 0 failed'
expect_out "5 new status commit" "^source ${main5:0:12}; status commit [0-9a-f]{12}\$"
eq "5 one new commit on the server" "$(rgit rev-list --count "$st3..tenantd/status")" 1
eq "5 Tenantd-Source is the new main" "$(trailer Tenantd-Source)" "$main5 "
eq "5 Tenantd-Tenant" "$(trailer Tenantd-Tenant)" "mwc-sequans "
grep -q '"cpu": 2' "$S/service/api.staging.mwc-sequans.json" && ok ||
  bad "5 premium applied"
check "5 note on the new main" rgit notes --ref=tenantd show "$main5"
# The same URL with a wrong password: refused, shown as user:***@.
wrong_url=http://$user:$wrong@127.0.0.1:$port/tenants.git
expect_rc "5 wrong password in the URL" 1 "$bin" apply --once --repo "$wrong_url" \
  --cache-dir "$tmp/cache5w" --state-dir "$tmp/state5w"
expect_out "5 URL shown with ***" "http://$user:\\*\\*\\*@127\\.0\\.0\\.1:$port/tenants\\.git" "$tmp/err"
expect_out "5 says the URL's credentials were refused" 'refused the credentials in the URL' "$tmp/err"
expect_no_str "5 wrong URL password not shown (stderr)" "$wrong" "$tmp/err"
expect_no_str "5 wrong URL password not shown (stdout)" "$wrong" "$tmp/out"
# A URL password and a server that is not there: the message names the URL.
dead=$(free_port)
expect_rc "5 unreachable server" 1 "$bin" apply --once \
  --repo "http://$user:$pw@127.0.0.1:$dead/tenants.git" \
  --cache-dir "$tmp/cache5d" --state-dir "$tmp/state5d"
expect_out "5 unreachable URL shown with ***" "http://$user:\\*\\*\\*@127\\.0\\.0\\.1:$dead/tenants\\.git" "$tmp/err"
expect_rc "5 status, password in the URL" 0 "$bin" status --repo "$url_pw" --cache-dir "$C"
expect_out "5 status lists mwc-sequans" 'mwc-sequans'
# Nothing in the cache holds the password: not a name, not a byte.
for c in "$C" "$tmp/cache5w" "$tmp/cache5d"; do
  eq "5 no file named with the password in $(basename "$c")" \
    "$(find "$c" -name "*$pw*" -o -name "*$wrong*" | wc -l)" 0
  if grep -rlaF -e "$pw" -e "$wrong" "$c" >"$tmp/leaks" 2>/dev/null; then
    bad "5 $(basename "$c") holds the password in:"
    sed "s|^$tmp/|    |" "$tmp/leaks" | head -5
  else ok; fi
done

# ==== 6. another writer on the status branch, over HTTP ====
export TENANTD_GIT_USERNAME=$user TENANTD_GIT_PASSWORD=$pw
O=$tmp/other
git clone -q -b tenantd/status "$R" "$O"
echo "hand-written" >"$O/notes.txt"
git -C "$O" add notes.txt
git -C "$O" commit -q -m "A note by hand"
git -C "$O" push -q origin tenantd/status
other1=$(git -C "$O" rev-parse HEAD)
set_tier mwc-murata standard premium
commit_push "mwc-murata to premium"
main6=$(rgit rev-parse main)
expect_rc "6 apply after another writer" 0 "$bin" "${A[@]}" --repo "$url"
expect_no_out "6 pushed" 'not pushed'
check "6 the other writer's commit kept" rgit merge-base --is-ancestor "$other1" tenantd/status
check "6 notes.txt at the tip" rgit cat-file -e tenantd/status:notes.txt
eq "6 linear: one new commit after the other's" "$(rgit rev-list --count "$other1..tenantd/status")" 1
eq "6 no merge" "$(rgit rev-list --merges --count tenantd/status)" 0
eq "6 tenantd's commit on top" "$(trailer Tenantd-Tenant)" "mwc-murata "
eq "6 Tenantd-Source" "$(trailer Tenantd-Source)" "$main6 "
# The race proper: the other writer pushes while an apply runs (after its
# fetch, before its push); tenantd's push over HTTP is refused, and it
# must fetch, replay its commit on top and push again.
git -C "$O" pull -q --rebase origin tenantd/status
set_tier greenwood-high premium enterprise
commit_push "greenwood-high to enterprise"
main6b=$(rgit rev-parse main)
touch "$tmp/mark6"
timeout 20 "$bin" "${A[@]}" --repo "$url" --set local.latencyMs=300 >"$tmp/out6" 2>"$tmp/err6" &
apid=$!
track_pid "$apid"
# Until a state file is newer than the mark: the apply is past its fetch.
seen=
for _ in $(seq 150); do
  seen=$(find "$S" -name '*.json' -newer "$tmp/mark6" | head -1)
  [ -n "$seen" ] && break
  sleep 0.02
done
check "6 the racing apply wrote state before the other writer pushed" test -n "$seen"
echo "second note" >>"$O/notes.txt"
git -C "$O" commit -q -am "Another note by hand"
git -C "$O" push -q origin tenantd/status
other2=$(git -C "$O" rev-parse HEAD)
kill -0 "$apid" 2>/dev/null && ok || bad "6 the apply ended before the other writer pushed (race not exercised)"
wait "$apid"
rc=$?
forget_pid "$apid"
cat "$tmp/out6" "$tmp/err6" >>"$tmp/all"
eq "6 racing apply exit" "$rc" 0
[ "$rc" -eq 0 ] || sed 's/^/    /' "$tmp/out6" "$tmp/err6" | tail -8
expect_no_out "6 racing apply pushed" 'not pushed' "$tmp/out6"
check "6 racing writer's commit kept" rgit merge-base --is-ancestor "$other2" tenantd/status
eq "6 racing: one new commit after the other's" "$(rgit rev-list --count "$other2..tenantd/status")" 1
eq "6 racing: still no merge" "$(rgit rev-list --merges --count tenantd/status)" 0
eq "6 racing apply's commit on top" "$(trailer Tenantd-Tenant)" "greenwood-high "
eq "6 racing Tenantd-Source" "$(trailer Tenantd-Source)" "$main6b "
eq "6 racing note names the pushed status commit" \
  "$(rgit notes --ref=tenantd show main 2>&1 | sed -n 2p)" "status: $(status_tip) (tenantd/status)"
# The narrowest race, made certain: the other writer's commit lands
# between the server's advertisement (GET info/refs) and its ref update
# (POST git-receive-pack).  A pre-receive hook moves the branch once, as a
# push from elsewhere would at that instant; receive-pack then answers
# "failed to update ref": the same race, to be fetched and retried.
git -C "$O" pull -q --rebase origin tenantd/status
echo "third note" >>"$O/notes.txt"
git -C "$O" commit -q -am "A note pushed mid-push"
other3=$(git -C "$O" rev-parse HEAD)
git -C "$O" push -q origin HEAD:refs/other/next
cat >"$R/hooks/pre-receive" <<EOF
#!/bin/sh
# Once, while tenantd pushes its status branch: another writer lands first.
grep -q " refs/heads/tenantd/status\$" || exit 0
[ -f "$tmp/hook-armed" ] || exit 0
rm -f "$tmp/hook-armed"
env -u GIT_QUARANTINE_PATH git update-ref refs/heads/tenantd/status $other3
EOF
chmod +x "$R/hooks/pre-receive"
set_tier mwc-sequans premium enterprise
commit_push "mwc-sequans to enterprise"
touch "$tmp/hook-armed"
main6c=$(rgit rev-parse main)
expect_rc "6 mid-push writer: apply" 0 "$bin" "${A[@]}" --repo "$url"
check "6 mid-push writer: the hook fired" test ! -e "$tmp/hook-armed"
expect_no_out "6 mid-push writer: pushed" 'not pushed'
check "6 mid-push writer's commit kept" rgit merge-base --is-ancestor "$other3" tenantd/status
eq "6 mid-push: one new commit after the other's" "$(rgit rev-list --count "$other3..tenantd/status" 2>&1)" 1
eq "6 mid-push: tenantd's commit on top" "$(trailer Tenantd-Tenant)" "mwc-sequans "
eq "6 mid-push: Tenantd-Source" "$(trailer Tenantd-Source)" "$main6c "
rm -f "$R/hooks/pre-receive"

# ==== 7. tenantd status over HTTP ====
expect_rc "7 status over HTTP" 0 "$bin" status --repo "$url" --cache-dir "$C"
for t in greenwood-high mwc-murata mwc-sequans; do
  expect_out "7 status lists $t" "(^|[^a-z-])$t([^a-z-]|\$)"
done
# Without credentials status shows the cached copy, and says why.
expect_rc "7 status without credentials" 0 env -u TENANTD_GIT_PASSWORD -u TENANTD_GIT_USERNAME \
  "$bin" status --repo "$url" --cache-dir "$C"
expect_out "7 says the copy is cached" 'showing the cached status' "$tmp/err"
expect_out "7 says why" 'asks for credentials: set TENANTD_GIT_PASSWORD' "$tmp/err"
expect_out "7 cached copy lists the tenants" 'greenwood-high'
# The tip planned over HTTP with the password in the URL: the plan names
# the repository without it.
expect_rc "7 plan of the tip, password in the URL" 0 "$bin" plan --repo "$url_pw" \
  --cache-dir "$C" --state-dir "$S" --format markdown
expect_out "7 the plan names the repository without credentials" \
  "^Repository \`http://127\\.0\\.0\\.1:$port/tenants\\.git\` at \`[0-9a-f]{12}\`\$"

# ==== secrets: no run ever printed a password ====
expect_no_str "no output holds the password" "$pw" "$tmp/all"
expect_no_str "no output holds the wrong password" "$wrong" "$tmp/all"
eq "no file in the cache named with the password" "$(find "$C" -name "*$pw*" | wc -l)" 0
if grep -rlaF -e "$pw" -e "$wrong" "$C" >"$tmp/leaks" 2>/dev/null; then
  bad "the cache holds the password in:"
  sed "s|^$tmp/|    |" "$tmp/leaks" | head -5
else ok; fi

summary git-http
