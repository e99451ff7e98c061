# UFW default deny plus the DOCKER-USER block: Docker-published ports go through FORWARD,
# not INPUT, so plain `ufw deny` never covers them. Also the SSH throttle in before.rules (ufw
# rewrites user.rules on every reload; it reads before.rules as it is). Lock-out-capable: dead-man armed first.
read_params BEFORE_BLOCK BEFORE6_BLOCK AFTER_BLOCK AFTER6_BLOCK USER_RULES USER6_RULES UFW_DEFAULTS UFW_LOGLEVEL DEADMAN_SECONDS

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
    # The SSH throttle: the kernel's ufw-before-input holds exactly the block's hashlimit rules, one per range.
    # (`ufw status` lists ufw's own rules only; `ufw show raw` shows these.)
    local family ipt
    for family in "" 6; do
        ipt="ip${family}tables"
        [ -n "$family" ] || ipt=iptables
        loaded="$("$ipt" -S "ufw$family-before-input" | grep -- '-m hashlimit')" || loaded=""
        want=0
        while read -r src; do
            want=$((want + 1))
            grep -q -- "-s $src .*-j DROP" <<< "$loaded" || { log "the SSH throttle for $src is not loaded"; return 1; }
        done < <(param "BEFORE${family}_BLOCK" | awk '/^-A / { for (i = 1; i < NF; i++) if ($i == "-s") print $(i + 1) }')
        [ "$(grep -c . <<< "$loaded")" -eq "$want" ] || { log "the loaded SSH throttle is not the file's"; return 1; }
    done
}

# stage_block NAME FAMILY PARAM MARK: /etc/ufw/NAME[6].rules as the package wrote it, then our block between
# the BEGIN/END MARK lines (replaced, never doubled).
stage_block() {
    local file="/etc/ufw/$1$2.rules" out
    out="$(mktemp)"
    awk -v b="# BEGIN $4" -v e="# END $4" 'index($0, b) == 1 { skip = 1 } !skip { print } index($0, e) == 1 { skip = 0 }' \
        "$ROOT$file" > "$out"
    param "$3" >> "$out"
    stage "$out" "$file" 0640
}

# check
command -v ufw > /dev/null || die "ufw is not installed (the baseline layer installs it)"
for f in before.rules before6.rules after.rules after6.rules ufw.conf; do
    [ -f "$ROOT/etc/ufw/$f" ] || die "/etc/ufw/$f not found"
done

for family in "" 6; do
    stage_block before "$family" "BEFORE${family}_BLOCK" "DEMESNE SSH THROTTLE"
    stage_block after "$family" "AFTER${family}_BLOCK" "UFW AND DOCKER"
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
