# Dormant GPU tier: the unprivileged account and directories an inference worker runs in.
read_params WORKER_USER MODEL_DIR
user="$(param WORKER_USER)"
dir="$(param MODEL_DIR)"
[[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "invalid worker user name"
[[ "$dir" =~ ^/[A-Za-z0-9/_.-]+$ ]] || die "invalid model directory"
if ! id -u "$user" > /dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    CHANGED=true
fi
if [ ! -d "$ROOT$dir" ]; then
    install -d -m 0750 -o "$user" -g "$user" "$ROOT$dir"
    CHANGED=true
fi
if ! id -u "$user" > /dev/null || [ ! -d "$ROOT$dir" ]; then
    die "worker account or model directory missing"
fi
finish
