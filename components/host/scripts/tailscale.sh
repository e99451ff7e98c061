# Joins the tailnet with a one-off, tagged, pre-authorized key; skipped when already running.
# The key goes to a root-only file under /run and is deleted after use, never into argv.
read_params APT_SOURCE APT_KEY_URL APT_KEY_SHA256 AUTH_KEY TAGS HOSTNAME CONTROL_URL
backend_state() {
    tailscale status --json 2> /dev/null | jq -r '.BackendState // empty' || true
}

# check + change: the package from Tailscale's own repository
if ! command -v tailscale > /dev/null; then
    keyring="$(mktemp)"
    curl -fsSL "$(param APT_KEY_URL)" -o "$keyring"
    echo "$(param APT_KEY_SHA256)  $keyring" | sha256sum -c --quiet - ||
        die "Tailscale's apt key does not match its pinned sha256"
    stage "$keyring" /usr/share/keyrings/tailscale-archive-keyring.gpg 0644
    install_staged
    put_file APT_SOURCE /etc/apt/sources.list.d/tailscale.list 0644
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -qq -y install tailscale > /dev/null
    CHANGED=true
fi

if [ "$(backend_state)" != "Running" ]; then
    install -d -m 0700 /run/demesne
    keyfile="$(mktemp /run/demesne/tskey.XXXXXX)"
    # on_exit reads the exit status from $?: rm's must not replace it, and under set -e a bare failing
    # (exit "$rc") would end the trap before on_exit prints changed=false.
    trap 'rc=$?; rm -f "$keyfile"; (exit "$rc") || on_exit' EXIT
    param AUTH_KEY > "$keyfile"
    login=()
    if [ -n "$(param CONTROL_URL)" ]; then login=(--login-server="$(param CONTROL_URL)"); fi
    # A refused key makes `tailscale up` fail; the trap removes the key file either way.
    tailscale up --auth-key="file:$keyfile" --advertise-tags="$(param TAGS)" "${login[@]}" \
        --hostname="$(param HOSTNAME)" --ssh=false --accept-dns=false > /dev/null ||
        die "tailscale up failed (its message is above): the auth key may be wrong, spent or expired"
    rm -f "$keyfile"
    CHANGED=true
fi

# verify
[ "$(backend_state)" = "Running" ] || die "tailscaled is not running after join"
for tag in $(param TAGS | tr ',' ' '); do
    tailscale status --json | jq -e --arg t "$tag" '.Self.Tags // [] | index($t)' > /dev/null ||
        die "this node does not carry $tag"
done
finish
