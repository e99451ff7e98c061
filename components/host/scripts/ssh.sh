# Hardens sshd with a 00- drop-in: sshd keeps the first value it reads, so 00- beats
# cloud-init's 50- file (which may say PasswordAuthentication yes). Lock-out-capable:
# a dead-man restore is armed before the new config can take effect.
read_params DROPIN EXPECT REVOKED_KEYS DEADMAN_SECONDS
CONFIG="$ROOT/etc/ssh/sshd_config"
# The drop-in's RevokedKeys: sshd refuses every public key while this file is missing or unreadable.
REVOKED=/etc/ssh/revoked_keys

reload_sshd() {
    if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
        systemctl try-reload-or-restart ssh
    elif [ -f "$ROOT/run/sshd.pid" ]; then
        kill -HUP "$(cat "$ROOT/run/sshd.pid")"
    fi
}

verify() {
    local effective missing=0 line
    # Present, world-readable, exactly the rendered keys: a missing file would refuse every key.
    if ! { [ -f "$ROOT$REVOKED" ] && [ "$(stat -c %a "$ROOT$REVOKED")" = 644 ] && cmp -s <(param REVOKED_KEYS) "$ROOT$REVOKED"; }; then
        log "$REVOKED is missing or not the rendered revoked keys"
        return 1
    fi
    sshd -t -f "$CONFIG" || return 1
    effective="$(sshd -T -f "$CONFIG")" || return 1
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        if ! grep -Fxq -- "$line" <<< "$effective"; then
            log "effective config lacks: $line"
            missing=1
        fi
    done < <(param EXPECT)
    return "$missing"
}

# check
[ -f "$CONFIG" ] || die "$CONFIG not found"
grep -Eq '^[[:space:]]*Include[[:space:]].*sshd_config\.d/\*\.conf' "$CONFIG" ||
    die "$CONFIG does not include sshd_config.d/*.conf, so the drop-in would be ignored"
# 24.04's socket activation leaves no privilege-separation dir, and sshd -t fails without it.
install -d -m 0755 /run/sshd
# Staged (so installed) before the drop-in that names it, under the same backup and dead-man.
stage_param REVOKED_KEYS "$REVOKED" 0644
stage_param DROPIN /etc/ssh/sshd_config.d/00-hardening.conf 0600
# Group-exchange moduli below 3072 bits are dropped (column 5 is the size minus one).
if [ -f "$ROOT/etc/ssh/moduli" ]; then
    moduli="$(mktemp)"
    awk '/^#/ || $5 >= 3071' "$ROOT/etc/ssh/moduli" > "$moduli"
    stage "$moduli" /etc/ssh/moduli 0644
fi

# change
if staged; then
    backup_staged
    RESTORE_HOOK="$(hook_for reload_sshd)"
    deadman_arm "$(param DEADMAN_SECONDS)"
    install_staged
    sshd -t -f "$CONFIG" || die "sshd -t rejected the new configuration"
    reload_sshd
fi

# verify
verify || die "the effective sshd configuration does not match the hardening drop-in"
finish
