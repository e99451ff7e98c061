# Coolify, installed once from its reviewed installer (pinned by sha256), with every
# published port re-bound to 127.0.0.1; admins reach it through tailscale serve.
read_params INSTALLER_URL INSTALLER_SHA256 CUSTOM_COMPOSE ROOT_ENV SERVE_PORT
source_dir=/data/coolify/source

if [ ! -f "$source_dir/docker-compose.yml" ]; then
    installer="$(mktemp)"
    curl -fsSL "$(param INSTALLER_URL)" -o "$installer"
    got="$(sha256sum "$installer" | cut -d' ' -f1)"
    if [ "$got" != "$(param INSTALLER_SHA256)" ]; then
        rm -f "$installer"
        die "the Coolify installer from $(param INSTALLER_URL) has sha256 $got, not the pinned $(param INSTALLER_SHA256): not run"
    fi
    envfile="$(mktemp)"
    param ROOT_ENV > "$envfile"
    # shellcheck source=/dev/null
    (set -a; . "$envfile"; AUTOUPDATE=false; export AUTOUPDATE; bash "$installer") > /dev/null
    rm -f "$envfile" "$installer"
    CHANGED=true
fi
# Coolify's ports that something listens on beyond loopback (Docker's proxy, for a published port).
wide_ports() {
    local port
    for port in 8000 6001 6002; do
        if [ -n "$(ss -Hltn "sport = :$port" | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]):')" ]; then
            echo "$port"
        fi
    done
}

before="$CHANGED"
CHANGED=false
put_file CUSTOM_COMPOSE "$source_dir/docker-compose.custom.yml" 0644
# Also when the containers were recreated without the override (Coolify's own upgrade keeps it; a hand-run
# compose up does not): the override file is then unchanged, but the ports are not on loopback.
if [ "$CHANGED" = true ] || [ -n "$(wide_ports)" ]; then
    docker compose --project-directory "$source_dir" -f "$source_dir/docker-compose.yml" \
        -f "$source_dir/docker-compose.prod.yml" -f "$source_dir/docker-compose.custom.yml" up -d --remove-orphans > /dev/null
    CHANGED=true
fi
[ "$before" = true ] && CHANGED=true
serve_https "$(param SERVE_PORT)" 8000

# verify: nothing of Coolify's listens beyond loopback
for port in $(wide_ports); do
    die "port $port listens on a non-loopback address"
done
finish
