# One compose project: images pinned by digest, ports on 127.0.0.1, secrets in a root-only
# env file, exposure on the tailnet through tailscale serve (never funnel).
read_params NAME COMPOSE ENV_FILE CONFIG_FILE SERVE
name="$(param NAME)"
[[ "$name" =~ ^[a-z][a-z0-9-]{0,40}$ ]] || die "invalid service name"
dir="/etc/demesne/services/$name"

# The env file is also compose's interpolation source: the project's ${NAME} references (the gateway's
# database password) resolve from it, not from a .env file the project does not have.
compose_project() {
    local d="$ROOT/etc/demesne/services/$1"
    shift
    docker compose --project-name "$(basename "$d")" --project-directory "$d" -f "$d/compose.json" --env-file "$d/service.env" "$@"
}
# After a failed run has put the files back, the containers follow them (or go, if the project had none
# before), so a refused change never stays running.
compose_restore() {
    if [ -f "$ROOT/etc/demesne/services/$1/compose.json" ]; then
        compose_project "$1" up -d --remove-orphans --wait > /dev/null
    else
        docker compose --project-name "$1" down --remove-orphans > /dev/null
    fi
}

stage_param COMPOSE "$dir/compose.json" 0600
stage_param ENV_FILE "$dir/service.env" 0600
stage_param CONFIG_FILE "$dir/config.json" 0600
if staged; then
    RESTORE_HOOK="$(declare -f compose_project compose_restore)
ROOT=$(printf %q "$ROOT")
compose_restore $(printf %q "$name")"
    install_staged
    compose_project "$name" up -d --remove-orphans --wait > /dev/null
fi
# SERVE lines: "<https port> <loopback port>"
while read -r https local; do
    [ -n "$https" ] || continue
    serve_https "$https" "$local"
done < <(param SERVE)

# verify: every published port of the project is on loopback (JSON: one object per line, or one array)
urls="$(compose_project "$name" ps --format json | jq -r '(if type == "array" then .[] else . end) | .Publishers[]? | select(.PublishedPort > 0) | .URL')"
if [ -n "$urls" ] && grep -vqxE '127\.0\.0\.1|::1' <<< "$urls"; then
    die "a port of $name is published beyond loopback"
fi
finish
