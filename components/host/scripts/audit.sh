# auditd with demesne's rules (components/render/audit.ts): identity files, sudoers, sshd, the runner, Docker,
# time, kernel modules, tailscale and every root command from a login session. Logs rotate by size, a fixed
# number kept. With IMMUTABLE=yes the rules end in `-e 2`: from then on only a reboot changes them.
read_params PACKAGES RULES AUDITD_SETTINGS IMMUTABLE
RULES_FILE=/etc/audit/rules.d/60-demesne.rules
CONF="$ROOT/etc/audit/auditd.conf"

# `auditctl -s` prints `enabled 0|1|2`; nothing when the kernel refuses audit control (a container).
audit_enabled() { auditctl -s 2> /dev/null | awk '$1 == "enabled" { print $2 }'; }

# The loaded rules hold each of ours: watches by path and key, syscall rules by key and count.
rules_loaded() {
    local loaded want have key
    loaded="$(auditctl -l)" || return 1
    while read -r key; do
        want="$(param RULES | grep -c -- "-k $key\$" || true)"
        have="$(grep -cE -- "(-k|key=)$key\$" <<< "$loaded" || true)"
        [ "$have" -ge "$want" ] || { log "$have of $want rules with key $key are loaded"; return 1; }
    done < <(param RULES | awk '/^-[wa]/ { print $NF }' | sort -u)
}

verify() {
    local state
    systemctl is-active --quiet auditd || { log "auditd is not running"; return 1; }
    state="$(audit_enabled)"
    case "$state" in
        1) [ "$(param IMMUTABLE)" = no ] || { log "the rules are not immutable yet (a reboot loads -e 2)"; return 1; } ;;
        2) ;;
        *) log "auditing is not enabled in the kernel (enabled=${state:-unknown})"; return 1 ;;
    esac
    rules_loaded
}

# check
for pkg in $(param PACKAGES); do
    dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' && continue
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -qq -y install --no-install-recommends "$pkg" > /dev/null
    CHANGED=true
done
[ -f "$CONF" ] || die "$CONF not found (is auditd installed?)"
[ -n "$(audit_enabled)" ] ||
    die "the kernel refuses audit control here (auditctl -s: a container, or audit=0 on the kernel command line); this layer needs the host's own kernel"

stage_param RULES "$RULES_FILE" 0640
conf="$(mktemp)"
cp "$CONF" "$conf"
while IFS=' =' read -r key value; do
    [ -n "$key" ] || continue
    if grep -Eq "^${key}[[:space:]]*=" "$conf"; then
        sed -i -E "s|^${key}[[:space:]]*=.*|${key} = ${value}|" "$conf"
    else
        printf '%s = %s\n' "$key" "$value" >> "$conf"
    fi
done < <(param AUDITD_SETTINGS)
stage "$conf" /etc/audit/auditd.conf 0640

# change
if staged; then
    # Immutable rules cannot be replaced until a reboot: refuse before writing, so nothing half-applies.
    if [ "$(audit_enabled)" = 2 ] && ! cmp -s <(param RULES) "$ROOT$RULES_FILE"; then
        die "the loaded audit rules are immutable (-e 2): reboot the host, then re-run this layer"
    fi
    install_staged
    augenrules --load > /dev/null || die "augenrules rejected the rules (see /etc/audit/audit.rules)"
    # auditd refuses a manual stop (RefuseManualStop), so it re-reads auditd.conf on a signal instead.
    if systemctl is-active --quiet auditd; then auditctl --signal reload > /dev/null 2>&1 || pkill -HUP -x auditd || true; fi
fi
systemctl is-enabled --quiet auditd || { systemctl enable --quiet --now auditd; CHANGED=true; }
systemctl is-active --quiet auditd || { systemctl start auditd; CHANGED=true; }

# verify
verify || die "auditd does not run with demesne's rules"
finish
