#!/usr/bin/env bash
# Builds the test application image offline: FROM scratch, Debian's static
# busybox, and an entrypoint that writes the page from its environment and
# serves it with busybox httpd on :8080.
#
#   GET /health   "ok" (200), unless the image is built broken
#   GET /         {"tenant","env","app","version","db"} from TENANTD_TENANT,
#                 TENANTD_ENV, TENANTD_APP, APP_VERSION and TENANTD_DB_HOST
#
# Usage: tests/images/build-app.sh TAG [VERSION] [--broken | --slow]
#   TAG       the image's name, e.g. localhost/tenant-app:1
#   VERSION   baked in as APP_VERSION's default (the env may override it)
#   --broken  /health answers 404: the app runs but never passes its check
#   --slow    /health passes only 3 s after the start (a slow boot)
# Runs `podman build --pull=never --network none` with whatever
# CONTAINERS_CONF / CONTAINERS_STORAGE_CONF the caller exported, so a test
# builds into its own storage.  Nothing is pulled: the base is scratch.
set -euo pipefail

tag=${1:?usage: build-app.sh TAG [VERSION] [--broken | --slow]}
version=${2:-1}
broken=${3:-}
busybox=/bin/busybox
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "build-app: $busybox is not a static busybox (apt-get install busybox-static)" >&2
  exit 1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$busybox" "$ctx/busybox"
health='echo ok >/www/health'
case $broken in
  --broken) health=': no health page' ;;
  --slow) health='(/bin/busybox sleep 3; echo ok >/www/health) &' ;;
esac
cat >"$ctx/entry.sh" <<SCRIPT
#!/bin/busybox sh
# Written at start, so the page says what this container was given.
/bin/busybox mkdir -p /www
$health
printf '{"tenant":"%s","env":"%s","app":"%s","version":"%s","db":"%s"}\n' \\
  "\$TENANTD_TENANT" "\$TENANTD_ENV" "\$TENANTD_APP" \\
  "\${APP_VERSION:-$version}" "\$TENANTD_DB_HOST" >/www/index.html
exec /bin/busybox httpd -f -p 8080 -h /www
SCRIPT
cat >"$ctx/Containerfile" <<'FILE'
FROM scratch
COPY busybox /bin/busybox
COPY entry.sh /entry.sh
EXPOSE 8080
ENTRYPOINT ["/bin/busybox", "sh", "/entry.sh"]
FILE
podman build --pull=never --network none --quiet -t "$tag" "$ctx" >/dev/null
