#!/bin/bash
# A stand-in for Coolify's install.sh (https://cdn.coollabs.io/coolify/install.sh), served on the
# control-plane test host's loopback by test/controlplane/coolify.test.ts, which pins its sha256 in the test
# stack. It does what the real one does that the coolify layer relies on, and nothing that needs a network:
#  - takes ROOT_USERNAME, ROOT_USER_EMAIL and ROOT_USER_PASSWORD from its environment into
#    /data/coolify/source/.env (appended with printf, a builtin: the value is in no process's argv);
#  - writes docker-compose.yml and docker-compose.prod.yml there; the prod file publishes 8000 (dashboard),
#    6001 (realtime) and 6002 (terminal) without an address, as Coolify's does, which on a daemon without
#    "ip" in daemon.json is 0.0.0.0 and [::];
#  - starts them with `docker compose up -d` in the project directory /data/coolify/source (project "source").
# Its images are built here from the host's busybox and named by tag (the stand-in's own; real Coolify runs
# ghcr.io images by tag too). Each answers HTTP with its name, so a test can tell who answered.
set -euo pipefail
: "${ROOT_USERNAME:?}" "${ROOT_USER_EMAIL:?}" "${ROOT_USER_PASSWORD:?}"
src=/data/coolify/source
mkdir -p /data/coolify/{source,ssh,applications,databases,backups,services,proxy}

# image TAG NAME CMD-JSON: a busybox image whose /www/index.html says NAME.
image() {
    local d
    d=$(mktemp -d)
    install -D -m 755 /bin/busybox "$d/bin/busybox"
    ln -s busybox "$d/bin/sh"
    mkdir "$d/www" && echo "$2" > "$d/www/index.html"
    tar -C "$d" -c . | docker import --change "CMD $3" - "$1" > /dev/null
    rm -rf "$d"
}
image demesne-test/coolify-standin:1 coolify '["/bin/busybox","httpd","-f","-p","8080","-h","/www"]'
image demesne-test/soketi-standin:1 soketi '["/bin/sh","-c","busybox httpd -p 6001 -h /www && exec busybox httpd -f -p 6002 -h /www"]'

cat > "$src/docker-compose.yml" << 'EOF'
services:
  coolify:
    image: demesne-test/coolify-standin:1
    container_name: coolify
    restart: always
    env_file: .env
  soketi:
    image: demesne-test/soketi-standin:1
    container_name: coolify-realtime
    restart: always
EOF
cat > "$src/docker-compose.prod.yml" << 'EOF'
services:
  coolify:
    ports:
      - "${APP_PORT:-8000}:8080"
  soketi:
    ports:
      - "${SOKETI_PORT:-6001}:6001"
      - "6002:6002"
EOF
umask 077
{
    printf 'APP_ID=%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    printf 'ROOT_USERNAME=%s\nROOT_USER_EMAIL=%s\nROOT_USER_PASSWORD=%s\n' "$ROOT_USERNAME" "$ROOT_USER_EMAIL" "$ROOT_USER_PASSWORD"
    [ "${AUTOUPDATE:-}" != false ] || printf 'AUTOUPDATE=false\n'
} > "$src/.env"
docker compose --env-file "$src/.env" -f "$src/docker-compose.yml" -f "$src/docker-compose.prod.yml" \
    up -d --remove-orphans --force-recreate
