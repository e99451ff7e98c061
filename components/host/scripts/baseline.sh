# Packages, unattended upgrades, the deploy user, and least-privilege sudo: the deploy user
# may run only the root-owned runner, which runs only scripts whose sha256 it knows.
read_params PACKAGES AUTO_UPGRADES DEPLOY_USER AUTHORIZED_KEYS RUNNER ALLOWLIST SUDOERS \
    OBSERVER_USER OBSERVER_KEYS OBSERVE_SCRIPT OBSERVER_SUDOERS
user="$(param DEPLOY_USER)"
[[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "invalid deploy user name"
observer="$(param OBSERVER_USER)"
[[ "$observer" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "invalid observer user name"

verify() {
    local pkg
    for pkg in $(param PACKAGES); do
        dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' ||
            { log "package $pkg is not installed"; return 1; }
    done
    id -u "$user" > /dev/null 2>&1 || { log "user $user does not exist"; return 1; }
    visudo -cf "$ROOT/etc/sudoers.d/demesne" > /dev/null || { log "sudoers does not validate"; return 1; }
    id -u "$observer" > /dev/null 2>&1 || { log "user $observer does not exist"; return 1; }
    visudo -cf "$ROOT/etc/sudoers.d/demesne-observer" > /dev/null || { log "the observer's sudoers does not validate"; return 1; }
    if grep -Eq 'NOPASSWD:[[:space:]]*ALL' "$ROOT/etc/sudoers.d/demesne" "$ROOT/etc/sudoers.d/demesne-observer"; then
        log "sudoers grants NOPASSWD: ALL"
        return 1
    fi
}

# check + change: packages (only the missing ones are installed)
missing=()
for pkg in $(param PACKAGES); do
    dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -qq -y install --no-install-recommends "${missing[@]}" > /dev/null
    CHANGED=true
fi
put_file AUTO_UPGRADES /etc/apt/apt.conf.d/20auto-upgrades 0644

# the deploy user: keys are root-owned, so the user cannot add one
if ! id -u "$user" > /dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$user"
    CHANGED=true
fi
home="$(getent passwd "$user" | cut -d: -f6)"
install -d -m 0755 -o root -g root "$ROOT$home/.ssh"
put_file AUTHORIZED_KEYS "$home/.ssh/authorized_keys" 0644

# the runner and its allowlist
put_file RUNNER /usr/local/sbin/demesne-run 0755
put_file ALLOWLIST /etc/demesne/scripts.allow 0644

# the observer (demesne observe): its root-owned keys are forced onto the read-only probe script
if ! id -u "$observer" > /dev/null 2>&1; then
    useradd --system --create-home --shell /bin/bash "$observer"
    CHANGED=true
fi
ohome="$(getent passwd "$observer" | cut -d: -f6)"
install -d -m 0755 -o root -g root "$ROOT$ohome/.ssh"
put_file OBSERVER_KEYS "$ohome/.ssh/authorized_keys" 0644
install -d -m 0755 "$ROOT/usr/local/lib/demesne"
put_file OBSERVE_SCRIPT /usr/local/lib/demesne/observe 0755

# sudoers: validated by visudo before it is installed, never after
for entry in SUDOERS:demesne OBSERVER_SUDOERS:demesne-observer; do
    candidate="$(mktemp)"
    param "${entry%%:*}" > "$candidate"
    visudo -cf "$candidate" > /dev/null || die "the rendered ${entry#*:} sudoers file does not validate"
    stage "$candidate" "/etc/sudoers.d/${entry#*:}" 0440
done
install_staged

verify || die "baseline verification failed"
finish
