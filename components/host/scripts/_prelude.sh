#!/usr/bin/env bash
# demesne layer prelude — prepended to every layer script when the catalogue is built.
# Contract: parameters arrive on stdin as NAME=<base64> lines (never in argv or the
# environment, which sshd and sudo drop); every layer checks, changes, verifies, and prints
# `changed=true|false` as its last line. Any failure after a change restores the files this
# run replaced, so a failed layer leaves the previous working config in place.
set -euo pipefail
umask 077
export LC_ALL=C

# Test runs point DEMESNE_ROOT at a scratch root; over SSH (via sudo) it is always empty.
ROOT="${DEMESNE_ROOT:-}"
STATE="$ROOT/var/lib/demesne"
: "${LAYER:?the catalogue sets LAYER before the prelude}"
CHANGED=false
RUN_BACKUP=""
RESTORE_HOOK=""
declare -a TOUCHED=()
# A dead-man restore that fired leaves this mark: the layer's confirm step then fails (the change shut the
# operator out and was rolled back) until the layer itself runs again, which starts clean.
DEADMAN_FIRED="$STATE/deadman/$LAYER.fired"
if [ "$LAYER" != confirm ]; then rm -f "$DEADMAN_FIRED"; fi

log() { printf '[%s] %s\n' "$LAYER" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- parameters -------------------------------------------------------------------------
declare -A PARAMS=()
read_params() {
    local line name
    while IFS= read -r line || [ -n "$line" ]; do
        [ -n "$line" ] || continue
        name="${line%%=*}"
        case " $* " in *" $name "*) ;; *) die "unknown parameter: $name" ;; esac
        PARAMS[$name]="${line#*=}"
    done
    for name in "$@"; do
        [ -n "${PARAMS[$name]+set}" ] || die "missing parameter: $name"
    done
}
# Prints a parameter's exact bytes (decoded on use, so trailing newlines survive).
param() { printf '%s' "${PARAMS[$1]}" | base64 -d; }

# --- files: stage, back up, install, restore ---------------------------------------------
# A layer stages every file it wants to change, backs them up, (arms the dead-man,) then
# installs them together; content and mode are compared, so an unchanged file is untouched.
declare -a STAGED=()

# stage SRC DEST MODE: queue the temp file SRC to replace DEST (under ROOT) if they differ.
stage() {
    local dest="$ROOT$2"
    if [ -f "$dest" ] && cmp -s "$1" "$dest" && [ "$(stat -c %a "$dest")" = "${3#0}" ]; then
        rm -f "$1"
    else
        STAGED+=("$1|$2|$3")
    fi
}

# stage_param PARAM DEST MODE: the same for a parameter's exact content.
stage_param() {
    local tmp
    tmp="$(mktemp)"
    param "$1" > "$tmp"
    stage "$tmp" "$2" "$3"
}

staged() { [ "${#STAGED[@]}" -gt 0 ]; }

backup_staged() {
    local entry src dest mode
    for entry in "${STAGED[@]}"; do
        IFS='|' read -r src dest mode <<< "$entry"
        backup_file "$dest"
    done
}

install_staged() {
    local entry src dest mode tmp
    backup_staged
    for entry in "${STAGED[@]}"; do
        IFS='|' read -r src dest mode <<< "$entry"
        install -d -m 0755 "$(dirname "$ROOT$dest")"
        tmp="$(mktemp "$ROOT$dest.demesne.XXXXXX")"
        cat "$src" > "$tmp"
        rm -f "$src"
        chmod "$mode" "$tmp"
        chown 0:0 "$tmp"
        mv -f "$tmp" "$ROOT$dest"
        CHANGED=true
        log "wrote $dest"
    done
    STAGED=()
}

# put_file PARAM DEST MODE: stage and install one parameter's content at once.
put_file() {
    stage_param "$1" "$2" "$3"
    install_staged
}

# Keeps the pre-run version of a file (or notes it was absent) once per run.
backup_file() {
    local path="$1" key
    if [ -z "$RUN_BACKUP" ]; then
        RUN_BACKUP="$STATE/backup/$LAYER/$(date +%Y%m%dT%H%M%S).$$"
        install -d -m 0700 "$RUN_BACKUP"
    fi
    key="$(printf '%s' "$path" | sha256sum | cut -c1-16)"
    [ -e "$RUN_BACKUP/$key.path" ] && return 0
    printf '%s' "$path" > "$RUN_BACKUP/$key.path"
    if [ -e "$ROOT$path" ]; then
        cp -a "$ROOT$path" "$RUN_BACKUP/$key.orig"
    fi
    TOUCHED+=("$key")
}

# Writes a standalone script that puts every file touched by this run back as it was,
# then runs the layer's restore hook (e.g. reload sshd). Used on failure and by the dead-man,
# which also passes the mark to leave when it fires.
write_restore_script() {
    local out="$1" mark="${2:-}" key path
    {
        printf '#!/bin/bash\n# demesne restore for layer %s\nset -u\n' "$LAYER"
        for key in "${TOUCHED[@]}"; do
            path="$ROOT$(cat "$RUN_BACKUP/$key.path")"
            if [ -e "$RUN_BACKUP/$key.orig" ]; then
                printf 'cp -a %q %q\n' "$RUN_BACKUP/$key.orig" "$path"
            else
                printf 'rm -f %q\n' "$path"
            fi
        done
        [ -n "$RESTORE_HOOK" ] && printf '%s\n' "$RESTORE_HOOK"
        [ -z "$mark" ] || printf 'date -u +%%FT%%TZ > %q\n' "$mark"
        printf 'rm -f %q %q\n' "$STATE/deadman/$LAYER.sh" "$STATE/deadman/$LAYER.pid"
    } > "$out"
    chmod 0700 "$out"
}

restore_now() {
    [ "${#TOUCHED[@]}" -gt 0 ] || return 0
    log "restoring the previous configuration"
    local script
    script="$(mktemp)"
    write_restore_script "$script"
    bash "$script" || log "restore reported an error"
    rm -f "$script"
    deadman_cancel quiet || true
}

on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        restore_now
        printf 'changed=false\n'
    fi
    exit "$rc"
}
trap on_exit EXIT

# --- dead-man restore for lock-out-capable layers -----------------------------------------
# Armed after backups exist and before the new config takes effect. Unless the confirm step
# (a fresh SSH login) cancels it within the window, the previous config comes back by itself.
deadman_arm() {
    local seconds="$1" script="$STATE/deadman/$LAYER.sh"
    install -d -m 0700 "$STATE/deadman"
    deadman_cancel quiet || true
    write_restore_script "$script" "$DEADMAN_FIRED"
    if [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemd-run > /dev/null; then
        systemd-run --quiet --unit="demesne-deadman-$LAYER" --on-active="${seconds}s" \
            --timer-property=AccuracySec=1s /bin/bash "$script"
    else
        # shellcheck disable=SC2016 # expanded by the inner shell, on purpose
        setsid bash -c 'sleep "$1"; exec bash "$2"' demesne-deadman "$seconds" "$script" \
            < /dev/null > /dev/null 2>&1 &
        echo "$!" > "$STATE/deadman/$LAYER.pid"
    fi
    log "dead-man restore armed for ${seconds}s"
}

# Cancels a pending restore; prints nothing when called with "quiet".
deadman_cancel() {
    local pidfile="$STATE/deadman/$LAYER.pid" found=false
    if [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl > /dev/null; then
        if systemctl is-active --quiet "demesne-deadman-$LAYER.timer" 2> /dev/null; then
            systemctl stop "demesne-deadman-$LAYER.timer" && found=true
        fi
    fi
    if [ -f "$pidfile" ]; then
        kill -- "-$(cat "$pidfile")" 2> /dev/null || kill "$(cat "$pidfile")" 2> /dev/null || true
        rm -f "$pidfile"
        found=true
    fi
    rm -f "$STATE/deadman/$LAYER.sh"
    [ "${1:-}" = quiet ] || [ "$found" = false ] || log "dead-man restore cancelled"
    [ "$found" = true ]
}

# A restore hook that re-runs one of the layer's functions (with ROOT as it was).
# serve_https PORT LOCAL: the tailnet's HTTPS port PORT proxies to 127.0.0.1:LOCAL and nothing else. A mapping
# that exists with another target (left by a service that had the port before) is replaced, not kept.
serve_https() {
    local want="http://127.0.0.1:$2" have
    have="$(tailscale serve status --json 2> /dev/null |
        jq -r --arg p ":$1" '(.Web // {}) | to_entries[] | select(.key | endswith($p)) | .value.Handlers["/"].Proxy // empty' | head -n 1)"
    [ "$have" = "$want" ] && return 0
    if [ -n "$have" ]; then tailscale serve --https="$1" off > /dev/null; fi
    tailscale serve --bg --https="$1" "$want" > /dev/null
    CHANGED=true
}

hook_for() { printf '%s\nROOT=%q\n%s\n' "$(declare -f "$1")" "$ROOT" "$1"; }

# --- reporting ----------------------------------------------------------------------------
finish() {
    trap - EXIT
    printf 'changed=%s\n' "$CHANGED"
}
