# UFW default deny plus the DOCKER-USER block: Docker-published ports go through FORWARD,
# not INPUT, so plain `ufw deny` never covers them. Lock-out-capable: dead-man armed first.
read_params AFTER_BLOCK AFTER6_BLOCK USER_RULES USER6_RULES UFW_DEFAULTS UFW_LOGLEVEL DEADMAN_SECONDS

apply_ufw() {
    if grep -qx 'ENABLED=yes' "$ROOT/etc/ufw/ufw.conf"; then
        ufw --force enable > /dev/null
        # `enable` on an active UFW keeps the rules it has loaded: reload, so changed files take effect.
        ufw reload > /dev/null
    else
        ufw --force disable > /dev/null
    fi
}

verify() {
    local status
    status="$(ufw status verbose)" || return 1
    grep -q '^Status: active' <<< "$status" || { log "ufw is not active"; return 1; }
    # "disabled (routed)": the kernel forwards nothing at all (no Docker yet), stricter than deny.
    grep -Eq '^Default: deny \(incoming\), allow \(outgoing\), (deny|disabled) \(routed\)' <<< "$status" ||
        { log "ufw default policy is not deny/allow/deny"; return 1; }
    iptables -S DOCKER-USER | grep -qx -- '-A DOCKER-USER -j ufw-user-forward' ||
        { log "the DOCKER-USER block is not loaded"; return 1; }
    ip6tables -S DOCKER-USER | grep -qx -- '-A DOCKER-USER -j ufw6-user-forward' ||
        { log "the IPv6 DOCKER-USER block is not loaded"; return 1; }
    # `ufw status` reads the rule files; the kernel's chain is what filters: it must hold exactly their rules.
    local src loaded want
    loaded="$(iptables -S ufw-user-input)" || return 1
    want=0
    while read -r src; do
        want=$((want + 1))
        grep -q -- "-s $src " <<< "$loaded" || { log "the rule for $src is not loaded"; return 1; }
    done < <(awk '/^### tuple ###/ { print $9 }' "$ROOT/etc/ufw/user.rules")
    [ "$(grep -c -- '-j ACCEPT' <<< "$loaded")" -eq "$want" ] || { log "the loaded rules are not the files' rules"; return 1; }
}

# check
command -v ufw > /dev/null || die "ufw is not installed (the baseline layer installs it)"
for f in after.rules after6.rules ufw.conf; do
    [ -f "$ROOT/etc/ufw/$f" ] || die "/etc/ufw/$f not found"
done

# after.rules and after6.rules: the package's own rules, then our DOCKER-USER block (replaced, never doubled).
for family in "" 6; do
    after="$(mktemp)"
    awk '/^# BEGIN UFW AND DOCKER/{skip=1} !skip{print} /^# END UFW AND DOCKER/{skip=0}' \
        "$ROOT/etc/ufw/after$family.rules" > "$after"
    param "AFTER${family}_BLOCK" >> "$after"
    stage "$after" "/etc/ufw/after$family.rules" 0640
done
stage_param USER_RULES /etc/ufw/user.rules 0640
stage_param USER6_RULES /etc/ufw/user6.rules 0640
stage_param UFW_DEFAULTS /etc/default/ufw 0644
conf="$(mktemp)"
# LOGLEVEL decides the LOGGING block ufw writes into user.rules: the rendered files assume this one.
sed -e 's/^ENABLED=.*/ENABLED=yes/' -e "s/^LOGLEVEL=.*/LOGLEVEL=$(param UFW_LOGLEVEL)/" "$ROOT/etc/ufw/ufw.conf" > "$conf"
grep -qx 'ENABLED=yes' "$conf" || echo 'ENABLED=yes' >> "$conf"
grep -q '^LOGLEVEL=' "$conf" || echo "LOGLEVEL=$(param UFW_LOGLEVEL)" >> "$conf"
stage "$conf" /etc/ufw/ufw.conf 0644

# change
if staged; then
    backup_staged
    RESTORE_HOOK="$(hook_for apply_ufw)"
    deadman_arm "$(param DEADMAN_SECONDS)"
    install_staged
    apply_ufw
fi

# verify
verify || die "the firewall is not in the desired state"
finish
