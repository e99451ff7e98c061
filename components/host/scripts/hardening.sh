# OS hardening beyond SSH (components/model/hardening.ts holds every value and its reason): sysctls, core
# dumps off, modules refused, login.defs, PAM faillock, su for one group, an idle-shell timeout, mount
# options, and setuid bits nobody here needs. Lock-out-capable (rp_filter on an asymmetric route, PAM): the
# dead-man is armed before anything takes effect and puts back the files and the kernel's previous values.
read_params PACKAGES SYSCTL_CONF SYSCTL_EXPECT MODPROBE_CONF CORE_LIMITS COREDUMP_CONF FAILLOCK_CONF \
    PAM_FAILLOCK PAM_FAILLOCK_NOTIFY SU_PAM_LINE SHELL_PROFILE FAILLOCK_TMPFILES ISSUE LOGIN_DEFS FSTAB MOUNT_EXPECT PROC_GROUP SUID_LIST \
    DEADMAN_SECONDS
LIVE="$STATE/hardening"

sysctl_path() { printf '%s/proc/sys/%s' "$ROOT" "${1//.//}"; }

# A kernel-wide key under a read-only /proc/sys belongs to whoever owns the kernel (a container's host); the
# layer still writes the file, says so, and the observer reports the value the host really runs with.
kernel_owned_elsewhere() { [ "$2" = kernel ] && [ -e "$(sysctl_path "$1")" ] && [ ! -w "$(sysctl_path "$1")" ]; }

# Puts back the kernel values recorded before this run changed them (the dead-man's and a failed run's hook).
restore_live() {
    local key value
    [ -f "$1" ] || return 0
    while read -r key value; do
        printf '%s\n' "$value" > "/proc/sys/${key//.//}" 2> /dev/null || true
    done < "$1"
}

# `gid=NAME` in an expected option is the group's number in findmnt's output.
expected_options() {
    local opt out=()
    IFS=, read -r -a opts <<< "$1"
    for opt in "${opts[@]}"; do
        if [[ $opt == gid=* ]] && ! [[ ${opt#gid=} =~ ^[0-9]+$ ]]; then
            opt="gid=$(getent group "${opt#gid=}" | cut -d: -f3)"
        fi
        out+=("$opt")
    done
    printf '%s\n' "${out[@]}"
}

mount_ok() {
    local have opt
    have=",$(findmnt -n -o OPTIONS --mountpoint "$1" 2> /dev/null | tail -n 1),"
    [ "$have" != ",," ] || return 1
    while IFS= read -r opt; do
        [[ $have == *",$opt,"* ]] || return 1
    done < <(expected_options "$2")
}

pam_has_faillock() {
    grep -q 'pam_faillock.so preauth' "$ROOT/etc/pam.d/common-auth" &&
        grep -q 'pam_faillock.so authfail' "$ROOT/etc/pam.d/common-auth" &&
        grep -q 'pam_faillock.so' "$ROOT/etc/pam.d/common-account"
}

suid_bits() { [ -e "$1" ] && [ $(( 0$(stat -c %a "$1") & 06000 )) -ne 0 ]; }

verify() {
    local key value scope have target opts path rc=0
    while read -r key value scope; do
        [ -e "$(sysctl_path "$key")" ] || continue
        kernel_owned_elsewhere "$key" "$scope" && continue
        have="$(cat "$(sysctl_path "$key")")"
        [ "$have" = "$value" ] || { log "$key is $have, not $value"; rc=1; }
    done < <(param SYSCTL_EXPECT)
    while read -r target opts; do
        mount_ok "$target" "$opts" || { log "$target is not mounted with $opts"; rc=1; }
    done < <(param MOUNT_EXPECT)
    while IFS= read -r path; do
        ! suid_bits "$ROOT$path" || { log "$path still has a setuid/setgid bit"; rc=1; }
    done < <(param SUID_LIST)
    pam_has_faillock || { log "pam_faillock is not in the PAM stack"; rc=1; }
    grep -qxF -- "$(param SU_PAM_LINE)" "$ROOT/etc/pam.d/su" || { log "su is not restricted to a group"; rc=1; }
    while read -r key value; do
        grep -Eq "^${key}[[:space:]]+${value}\$" "$ROOT/etc/login.defs" || { log "login.defs lacks $key $value"; rc=1; }
    done < <(param LOGIN_DEFS)
    [ -d "$ROOT/run/faillock" ] || { log "/run/faillock is missing"; rc=1; }
    local config
    config="$(modprobe --showconfig 2> /dev/null)"
    while read -r key; do
        [ -n "$key" ] || continue
        grep -qx "install ${key//-/_} /bin/false" <<< "$config" || { log "module $key is not refused"; rc=1; }
    done < <(param MODPROBE_CONF | awk '$1 == "install" { print $2 }')
    return "$rc"
}

# check
for pkg in $(param PACKAGES); do
    dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' || die "package $pkg is not installed"
done
for f in login.defs pam.d/su pam.d/common-auth fstab; do [ -f "$ROOT/etc/$f" ] || die "/etc/$f not found"; done
command -v pam-auth-update > /dev/null || die "pam-auth-update is missing (package libpam-runtime)"

stage_param SYSCTL_CONF /etc/sysctl.d/60-demesne-hardening.conf 0644
stage_param MODPROBE_CONF /etc/modprobe.d/60-demesne-hardening.conf 0644
stage_param CORE_LIMITS /etc/security/limits.d/60-demesne-hardening.conf 0644
stage_param COREDUMP_CONF /etc/systemd/coredump.conf.d/60-demesne-hardening.conf 0644
stage_param FAILLOCK_CONF /etc/security/faillock.conf 0644
stage_param PAM_FAILLOCK /usr/share/pam-configs/demesne-faillock 0644
stage_param PAM_FAILLOCK_NOTIFY /usr/share/pam-configs/demesne-faillock-notify 0644
stage_param SHELL_PROFILE /etc/profile.d/60-demesne-shell.sh 0644
stage_param FAILLOCK_TMPFILES /etc/tmpfiles.d/60-demesne-faillock.conf 0644
stage_param ISSUE /etc/issue 0644
stage_param ISSUE /etc/issue.net 0644

# login.defs: each key's line replaced (or added); the rest stays the distribution's.
defs="$(mktemp)"
cp "$ROOT/etc/login.defs" "$defs"
while read -r key value; do
    if grep -Eq "^#?[[:space:]]*${key}[[:space:]]" "$defs"; then
        sed -i -E "0,/^#?[[:space:]]*${key}[[:space:]].*/s//${key} ${value}/" "$defs"
        sed -i -E "1,/^${key} /!{/^${key}[[:space:]]/d}" "$defs"
    else
        printf '%s %s\n' "$key" "$value" >> "$defs"
    fi
done < <(param LOGIN_DEFS)
stage "$defs" /etc/login.defs 0644

# ufw applies its own sysctl.conf at every start and reload, after systemd-sysctl (log_martians=0 among them):
# each key it shares with the table is made to say the table's value, so a reload cannot undo this layer.
if [ -f "$ROOT/etc/ufw/sysctl.conf" ]; then
    ufw_sysctl="$(mktemp)"
    cp "$ROOT/etc/ufw/sysctl.conf" "$ufw_sysctl"
    while read -r key value _; do
        sed -i -E "s|^(${key//.//})=.*|\1=${value}|" "$ufw_sysctl"
    done < <(param SYSCTL_EXPECT)
    stage "$ufw_sysctl" /etc/ufw/sysctl.conf 0644
fi

# su: the pam_wheel line right after pam_rootok (root itself still switches freely).
su_pam="$(mktemp)"
awk -v line="$(param SU_PAM_LINE)" '$0 == line { next } { print } /pam_rootok\.so/ && !done { print line; done = 1 }' \
    "$ROOT/etc/pam.d/su" > "$su_pam"
grep -qxF -- "$(param SU_PAM_LINE)" "$su_pam" || die "/etc/pam.d/su has no pam_rootok line to anchor the group rule"
stage "$su_pam" /etc/pam.d/su 0644

# fstab: one line per managed target, any other line for it removed.
fstab="$(mktemp)"
targets="$(param MOUNT_EXPECT | awk '{ print $1 }')"
awk -v t="$targets" 'BEGIN { n = split(t, a, "\n"); for (i = 1; i <= n; i++) skip[a[i]] = 1 } !($2 in skip) { print }' \
    "$ROOT/etc/fstab" > "$fstab"
param FSTAB >> "$fstab"
stage "$fstab" /etc/fstab 0644

# what the kernel runs with now, for every key this run would change
install -d -m 0700 "$LIVE"
before="$LIVE/sysctl.before"
: > "$before"
while read -r key value scope; do
    path="$(sysctl_path "$key")"
    if [ ! -e "$path" ]; then log "this kernel has no $key: not set"; continue; fi
    if kernel_owned_elsewhere "$key" "$scope"; then log "$key is read-only here (set by the kernel's owner): file written, value not applied"; continue; fi
    have="$(cat "$path")"
    [ "$have" = "$value" ] || printf '%s %s\n' "$key" "$have" >> "$before"
done < <(param SYSCTL_EXPECT)
pam_changed=false
pam_has_faillock || pam_changed=true
for entry in "${STAGED[@]}"; do
    [[ $entry != *"|/usr/share/pam-configs/"* ]] || pam_changed=true
done

# change
if staged || [ -s "$before" ] || [ "$pam_changed" = true ]; then
    backup_staged
    backup_file /etc/pam.d/common-auth
    backup_file /etc/pam.d/common-account
    RESTORE_HOOK="$(declare -f restore_live); restore_live $(printf '%q' "$before")"
    deadman_arm "$(param DEADMAN_SECONDS)"
    install_staged
    while read -r key value; do
        value="$(awk -v k="$key" '$1 == k { print $2 }' < <(param SYSCTL_EXPECT))"
        printf '%s\n' "$value" > "$(sysctl_path "$key")" || die "the kernel refused $key = $value"
        CHANGED=true
    done < "$before"
    if [ "$pam_changed" = true ]; then
        DEBIAN_FRONTEND=noninteractive pam-auth-update --package
        CHANGED=true
    fi
fi

# pam_faillock's tally directory, which tmpfiles makes at every boot from now on
[ -d "$ROOT/run/faillock" ] || { install -d -m 0755 "$ROOT/run/faillock"; CHANGED=true; }

# mounts: the proc group first (fstab names it), then each target remounted with its options
getent group "$(param PROC_GROUP)" > /dev/null || { groupadd --system "$(param PROC_GROUP)"; CHANGED=true; }
while read -r target opts; do
    mount_ok "$target" "$opts" && continue
    if findmnt -n --mountpoint "$target" > /dev/null; then
        mount -o "remount,$(expected_options "$opts" | paste -sd, -)" "$target"
    else
        mount "$target"
    fi
    CHANGED=true
done < <(param MOUNT_EXPECT)

# setuid/setgid bits: a dpkg statoverride, so a package upgrade keeps them off
while IFS= read -r path; do
    suid_bits "$ROOT$path" || continue
    [ -z "$ROOT" ] || { chmod ug-s "$ROOT$path"; CHANGED=true; continue; }
    mode=$(( 0$(stat -c %a "$path") & ~06000 ))
    dpkg-statoverride --quiet --remove "$path" 2> /dev/null || true
    dpkg-statoverride --update --add "$(stat -c %U "$path")" "$(stat -c %G "$path")" "$(printf '%o' "$mode")" "$path"
    log "removed the setuid/setgid bits of $path"
    CHANGED=true
done < <(param SUID_LIST)

# password ageing for the local accounts that have a password at all
want_max="$(param LOGIN_DEFS | awk '$1 == "PASS_MAX_DAYS" { print $2 }')"
want_min="$(param LOGIN_DEFS | awk '$1 == "PASS_MIN_DAYS" { print $2 }')"
want_warn="$(param LOGIN_DEFS | awk '$1 == "PASS_WARN_AGE" { print $2 }')"
while IFS=: read -r name hash _ min max warn _; do
    case "$hash" in '' | '!'* | '*'*) continue ;; esac
    [ "$max:$min:$warn" = "$want_max:$want_min:$want_warn" ] && continue
    chage --maxdays "$want_max" --mindays "$want_min" --warndays "$want_warn" "$name"
    log "password ageing set for $name"
    CHANGED=true
done < "$ROOT/etc/shadow"

# verify
verify || die "the host does not match the hardening settings"
finish
