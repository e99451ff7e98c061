# One compose project: images pinned by digest, ports on 127.0.0.1, secrets in a root-only
# env file, exposure on the tailnet through tailscale serve (never funnel).
read_params NAME COMPOSE ENV_FILE CONFIG_FILE SERVE
name="$(param NAME)"
[[ "$name" =~ ^[a-z][a-z0-9-]{0,40}$ ]] || die "invalid service name"
dir="/etc/demesne/services/$name"
stage_param COMPOSE "$dir/compose.json" 0600
stage_param ENV_FILE "$dir/service.env" 0600
stage_param CONFIG_FILE "$dir/config.json" 0600
if staged; then
    install_staged
    docker compose --project-name "$name" --project-directory "$ROOT$dir" -f "$ROOT$dir/compose.json" \
        up -d --remove-orphans --wait > /dev/null
fi
# SERVE lines: "<https port> <loopback port>"
while read -r https local; do
    [ -n "$https" ] || continue
    serve_https "$https" "$local"
done < <(param SERVE)

# verify: every published port of the project is on loopback
ports="$(docker compose --project-name "$name" -f "$ROOT$dir/compose.json" ps --format '{{.Publishers}}')"
if grep -Eo 'URL:[^ ]+' <<< "$ports" | grep -vqE 'URL:(127\.0\.0\.1|::1)$'; then
    die "a port of $name is published beyond loopback"
fi
finish
