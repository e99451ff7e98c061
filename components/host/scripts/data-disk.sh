# Encryption at rest: Docker's data (images, containers, every named volume) on a LUKS2 volume on a separate
# data disk. The key is the operator's secret config, on stdin only: cryptsetup reads it from a pipe
# (--key-file=-), never from argv, the environment or a file. Nothing unlocks the volume at boot (the key is
# off-host): fstab and crypttab say noauto, and Docker requires the binds, so after a reboot Docker stays down
# until this layer runs again and unlocks. It formats only a blank disk, never one that holds anything, and
# never moves data: a bind path with data on the root disk is refused (migrating is a runbook step).
read_params DEVICE MAPPER MOUNTPOINT BINDS KEY
DEVICE="$(param DEVICE)"
MAPPER="$(param MAPPER)"
MOUNTPOINT="$(param MOUNTPOINT)"
MAPPED="/dev/mapper/$MAPPER"
FSTAB=/etc/fstab
CRYPTTAB=/etc/crypttab
DROPIN=/etc/systemd/system/docker.service.d/demesne-data-disk.conf
BEGIN="# demesne data-disk: begin (written by the data-disk layer)"
END="# demesne data-disk: end"
mapfile -t BIND_LIST < <(param BINDS | sed '/^[[:space:]]*$/d')

[[ $DEVICE == /dev/* ]] || die "DEVICE must be a path under /dev, not $DEVICE"
[[ $MAPPER =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "MAPPER is not a device-mapper name: $MAPPER"
[[ $MOUNTPOINT =~ ^/[A-Za-z0-9_./-]+$ && $MOUNTPOINT != / ]] || die "MOUNTPOINT must be an absolute path: $MOUNTPOINT"
[ "$(param KEY | head -c 1 | wc -c)" -eq 1 ] || die "the data disk's key is empty (demesne:secrets)"

# Each bind path B lives in MOUNTPOINT/<B with slashes as dashes>: /var/lib/docker in …/var-lib-docker.
bind_name() { local n="${1#/}"; printf '%s' "${n//\//-}"; }
declare -A SEEN=()
for b in "${BIND_LIST[@]}"; do
    [[ $b =~ ^/[A-Za-z0-9_./-]+$ && $b != / ]] || die "a bind path must be absolute: $b"
    [ -z "${SEEN[$(bind_name "$b")]+x}" ] || die "two bind paths share the name $(bind_name "$b")"
    SEEN[$(bind_name "$b")]=1
done

command -v cryptsetup > /dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -qq -y install --no-install-recommends cryptsetup-bin > /dev/null
    CHANGED=true
}

# The key goes to cryptsetup through a pipe from a builtin: no process ever has it in its argv.
key() { param KEY; }
signatures() { wipefs --no-act --noheadings --output TYPE "$1" 2> /dev/null | sort -u | paste -sd, -; }
maj_min() { printf '%d:%d' "0x$(stat -L -c %t "$1")" "0x$(stat -L -c %T "$1")"; }
# "MAJ:MIN FSROOT" of what is mounted at a path, empty when nothing is.
mounted_at() { { findmnt -n -o MAJ:MIN,FSROOT --mountpoint "$1" 2> /dev/null || true; } | tail -n 1 | tr -s ' '; }
is_open() { cryptsetup status "$MAPPER" > /dev/null 2>&1; }
open_device() { cryptsetup status "$MAPPER" | awk '$1 == "device:" { print $2 }'; }
dir_has_data() { [ -d "$1" ] && [ -n "$(find "$1" -mindepth 1 -maxdepth 1 -print -quit)" ]; }

verify() {
    local rc=0 dev want b
    if ! is_open; then log "$MAPPER is not open"; return 1; fi
    cryptsetup status "$MAPPER" | grep -Eq '^[[:space:]]*type:[[:space:]]+LUKS2$' || { log "$MAPPER is not a LUKS2 mapping"; rc=1; }
    dev="$(open_device)"
    [ "$(realpath "$dev")" = "$(realpath "$DEVICE")" ] || { log "$MAPPER is open on $dev, not $DEVICE"; rc=1; }
    want="$(maj_min "$MAPPED")"
    [ "$(mounted_at "$MOUNTPOINT")" = "$want /" ] || { log "$MOUNTPOINT is not $MAPPED"; rc=1; }
    for b in "${BIND_LIST[@]}"; do
        [ "$(mounted_at "$b")" = "$want /$(bind_name "$b")" ] || { log "$b is not bound from $MOUNTPOINT/$(bind_name "$b")"; rc=1; }
    done
    return "$rc"
}

# --- check: refuse before changing anything ------------------------------------------------
[ -b "$DEVICE" ] || die "$DEVICE is not a block device on this host (the config's dataDisk.device)"
FORMAT=false
if cryptsetup isLuks "$DEVICE" 2> /dev/null; then
    cryptsetup isLuks --type luks2 "$DEVICE" ||
        die "$DEVICE is LUKS1, not LUKS2: convert it (cryptsetup convert --type luks2) or wipe it; nothing changed"
    # The key must open the volume even when it is already open: a key that no longer does would only fail at the
    # next reboot, with the data locked.
    if ! err="$(key | cryptsetup open --test-passphrase --type luks2 --key-file=- "$DEVICE" 2>&1)"; then
        die "the key in demesne:secrets does not open the LUKS volume on $DEVICE (${err:-cryptsetup failed}); nothing changed"
    fi
else
    sigs="$(signatures "$DEVICE")"
    [ -z "$sigs" ] || die "$DEVICE holds $sigs, not a LUKS volume: refusing to format it (demesne formats a blank disk only; wipe it yourself if its data is not needed); nothing changed"
    [ -z "$(lsblk -n -o NAME "$DEVICE" | tail -n +2)" ] || die "$DEVICE has partitions or holders: refusing to format it; nothing changed"
    FORMAT=true
fi
if is_open && [ "$(realpath "$(open_device)")" != "$(realpath "$DEVICE")" ]; then
    die "$MAPPER is already open on $(open_device), not $DEVICE; nothing changed"
fi
have="$(mounted_at "$MOUNTPOINT")"
if [ -n "$have" ] && { ! is_open || [ "$have" != "$(maj_min "$MAPPED") /" ]; }; then
    die "$MOUNTPOINT already has another filesystem mounted; nothing changed"
fi
for b in "${BIND_LIST[@]}"; do
    have="$(mounted_at "$b")"
    if [ -n "$have" ]; then
        { is_open && [ "$have" = "$(maj_min "$MAPPED") /$(bind_name "$b")" ]; } ||
            die "$b is already a mount point of something else; nothing changed"
    elif dir_has_data "$b"; then
        die "$b already holds data on the root disk: move it onto the data disk first (runbook: encryption at rest), then run again; nothing changed"
    fi
done

# --- change --------------------------------------------------------------------------------
if [ "$FORMAT" = true ]; then
    log "formatting blank $DEVICE as LUKS2"
    key | cryptsetup luksFormat --batch-mode --type luks2 --key-file=- "$DEVICE"
    CHANGED=true
fi
if ! is_open; then
    key | cryptsetup open --type luks2 --key-file=- "$DEVICE" "$MAPPER"
    log "unlocked $DEVICE as $MAPPED"
    CHANGED=true
fi
fs="$(signatures "$MAPPED")"
case "$fs" in
    "") mkfs.ext4 -q -L "$MAPPER" "$MAPPED"; log "made ext4 on $MAPPED"; CHANGED=true ;;
    ext4) ;;
    *) die "$MAPPED holds $fs, not ext4: refusing to format it" ;;
esac
if [ -z "$(mounted_at "$MOUNTPOINT")" ]; then
    install -d -m 0755 "$MOUNTPOINT"
    mount -t ext4 "$MAPPED" "$MOUNTPOINT"
    log "mounted $MAPPED at $MOUNTPOINT"
    CHANGED=true
fi
BOUND=false
for b in "${BIND_LIST[@]}"; do
    [ -z "$(mounted_at "$b")" ] || continue
    install -d -m 0700 "$MOUNTPOINT/$(bind_name "$b")" "$b"
    mount --bind "$MOUNTPOINT/$(bind_name "$b")" "$b"
    log "bound $MOUNTPOINT/$(bind_name "$b") at $b"
    BOUND=true
    CHANGED=true
done

# fstab and crypttab name the volume so the operator (and systemd) know it, but noauto: a boot never waits for a
# key that is off-host. headless: systemd never asks for it on a console either, so Docker's start fails at once.
with_block() {
    local file="$ROOT$1" tmp
    tmp="$(mktemp)"
    if [ -f "$file" ]; then
        awk -v b="$BEGIN" -v e="$END" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip' "$file" > "$tmp"
    fi
    { printf '%s\n' "$BEGIN"; cat; printf '%s\n' "$END"; } >> "$tmp"
    stage "$tmp" "$1" 0644
}
with_block "$CRYPTTAB" <<< "$MAPPER UUID=$(cryptsetup luksUUID "$DEVICE") none luks,noauto,headless=true"
fstab_lines() {
    printf '%s %s ext4 defaults,noauto,nofail,x-systemd.device-timeout=5s 0 0\n' "$MAPPED" "$MOUNTPOINT"
    for b in "${BIND_LIST[@]}"; do
        printf '%s %s none bind,noauto,x-systemd.requires-mounts-for=%s 0 0\n' "$MOUNTPOINT/$(bind_name "$b")" "$b" "$MOUNTPOINT"
    done
}
with_block "$FSTAB" < <(fstab_lines)
dropin="$(mktemp)"
{
    printf '# Written by demesne'"'"'s data-disk layer: Docker'"'"'s data is on the encrypted data disk, which only the\n'
    printf '# layer unlocks. Until it has, after every reboot, Docker does not start (fail closed).\n[Unit]\n'
    for b in "${BIND_LIST[@]}"; do printf 'RequiresMountsFor=%s\n' "$b"; done
} > "$dropin"
stage "$dropin" "$DROPIN" 0644
if staged; then
    install_staged
    if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
fi
# After a reboot Docker could not start (its data was locked); now that it is unlocked, it can.
if [ "$BOUND" = true ] && [ -z "$ROOT" ] && [ -d /run/systemd/system ] && systemctl is-enabled --quiet docker.service 2> /dev/null; then
    systemctl start docker.service
    log "started docker.service on the unlocked data"
fi

# --- verify --------------------------------------------------------------------------------
verify || die "the data disk is not in place"
finish
