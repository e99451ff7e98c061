#!/usr/bin/env bash
# demesne's backup runner, installed by the backup layer and run by its systemd timers:
#   backup-run backup   consistent dumps, one restic snapshot of every source, then the policy's retention
#   backup-run check    `restic check --read-data`: every pack read back and verified (read-only)
#   backup-run init     create the repository unless it exists (the layer runs this)
#   backup-run restic … restic itself with this host's settings (the restore layer runs this)
# After a backup or check it rewrites the status file the observer reads (components/model/backup.ts). The
# repository password and the target's credential stay in root-only files: restic reads --password-file, ssh
# reads IdentityFile; neither is ever an argument. (restic takes an S3 secret only from its environment, so
# for an S3 target that one value is in restic's own environment, never another process's.)
# shellcheck disable=SC2016 # the single-quoted strings are jq filters with jq's own $variables
set -euo pipefail
umask 077
export LC_ALL=C
DIR=/etc/demesne/backup
STATE=/var/lib/demesne/backup
STATUS=$STATE/status.json
DUMPS=$STATE/dumps

say() { printf '[backup-run] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the timers do)"
[ -r "$DIR/backup.conf" ] || die "$DIR/backup.conf is missing: apply the backup layer first"
conf() { sed -n "s/^$1=//p" "$DIR/backup.conf" | head -n 1; }
HOST="$(conf HOST)"
KIND="$(conf KIND)"
read -r -a RETENTION <<< "$(conf RETENTION)"
export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE="$DIR/repository-password" RESTIC_CACHE_DIR="$STATE/cache"
RESTIC_REPOSITORY="$(conf REPOSITORY)"
install -d -m 0700 "$STATE"

restic_() {
    case "$KIND" in
        sftp) command restic -o sftp.command="ssh -F $DIR/ssh_config demesne-backup-target -s sftp" "$@" ;;
        s3) AWS_ACCESS_KEY_ID="$(conf S3_ACCESS_KEY_ID)" AWS_SECRET_ACCESS_KEY="$(cat "$DIR/target-credential")" command restic "$@" ;;
        *) die "unknown target kind '$KIND' in $DIR/backup.conf" ;;
    esac
}

# What went wrong: restic's last line on stderr and, when an earlier line names the cause (ssh's own error, a
# pack that does not match its id), the first such line; without control characters, at most 300 bytes.
reason() {
    local clean last cause
    clean="$(tr -d '\000-\010\013-\037\177' < "$1" | grep -v '^[[:space:]]*$')" || true
    last="$(tail -n 1 <<< "$clean")"
    cause="$(grep -m 1 -E '^subprocess ssh: |^Pack ID does not match|^error for pack' <<< "$clean")" || true
    # restic relays ssh's stderr from a goroutine that can lose the race with its own exit ("file already
    # closed"); then ssh is asked once more, alone, so the cause is still named.
    if [ -z "$cause" ] && [ "$KIND" = sftp ] && grep -q 'sftp session' <<< "$last"; then
        cause="$(ssh -F "$DIR/ssh_config" demesne-backup-target -s sftp < /dev/null 2>&1 > /dev/null |
            tr -d '\000-\010\013-\037\177' | grep -m 1 -v '^[[:space:]]*$')" || true
        [ -z "$cause" ] || cause="subprocess ssh: $cause"
    fi
    if [ -n "$cause" ] && [ "$cause" != "$last" ]; then last="$last ($cause)"; fi
    printf '%s\n' "$last" | cut -c1-300
}

# status FILTER [jq args…]: rewrite the status file through jq, atomically.
status() {
    local tmp filter="$1"
    shift
    tmp="$(mktemp "$STATE/.status.XXXXXX")"
    if [ -s "$STATUS" ] && jq -e 'type == "object"' "$STATUS" > /dev/null 2>&1; then cat "$STATUS"; else
        printf '{"lastRun":null,"lastSuccess":null,"lastCheck":null}'; fi |
        jq --arg host "$HOST" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$@" ".host = \$host | $filter" > "$tmp"
    chmod 0600 "$tmp"
    mv "$tmp" "$STATUS"
}

# Containers this run stopped, started again however the run ends.
declare -a STOPPED=()
start_stopped() {
    [ "${#STOPPED[@]}" -gt 0 ] || return 0
    local ok=0
    docker start "${STOPPED[@]}" > /dev/null || { say "could not start again: ${STOPPED[*]}"; ok=1; }
    STOPPED=()
    return "$ok"
}
stop_project() {
    local ids
    ids="$(docker ps -q --filter "label=com.docker.compose.project=$1")"
    [ -n "$ids" ] || return 0
    # shellcheck disable=SC2206
    STOPPED+=($ids)
    # shellcheck disable=SC2086 # one id per word
    docker stop $ids > /dev/null || return 1
}
container_of() {
    docker ps -q --filter "label=com.docker.compose.project=$1" --filter "label=com.docker.compose.service=$2" | head -n 1
}

run_backup() {
    local err="$STATE/stderr" kind name path a b c d ctr paths=() summary
    rm -rf "$DUMPS"
    install -d -m 0700 "$DUMPS"
    # The dumps are plain SQL on the root disk: they exist only while this run needs them.
    trap 'start_stopped || true; rm -rf "$DUMPS"' EXIT
    while IFS=$'\t' read -r kind name path a b c d; do
        case "$kind" in
            pgdump)
                ctr="$(container_of "$a" "$b")"
                [ -n "$ctr" ] || { echo "the $name database ($a/$b) is not running" > "$err"; return 1; }
                docker exec "$ctr" pg_dump -U "$c" -Fc "$d" > "$path.partial" 2> "$err" || return 1
                mv "$path.partial" "$path" || return 1
                paths+=("$path") ;;
            volume)
                [ -d "$path" ] || { echo "the $name volume ($path) does not exist" > "$err"; return 1; }
                stop_project "$a" || { echo "could not stop $a to read its volume" > "$err"; return 1; }
                paths+=("$path") ;;
            path)
                [ -e "$path" ] || { say "$name: $path does not exist here; not backed up"; continue; }
                [ "$a" = - ] || stop_project "$a" || { echo "could not stop $a to read $path" > "$err"; return 1; }
                paths+=("$path") ;;
            *) echo "unknown source kind '$kind' in $DIR/sources" > "$err"; return 1 ;;
        esac
    done < "$DIR/sources"
    say "backing up ${#paths[@]} sources to the repository"
    restic_ backup --json --host "$HOST" --tag demesne --exclude "$DIR" "${paths[@]}" > "$STATE/backup.json" 2> "$err" || return 1
    # A service left down is a failed run, whatever restic did.
    start_stopped || { echo "a stopped service did not start again" > "$err"; return 1; }
    summary="$(jq -c 'select(.message_type == "summary")' "$STATE/backup.json" | tail -n 1)"
    [ -n "$summary" ] || { echo "restic printed no summary" > "$err"; return 1; }
    say "retention: ${RETENTION[*]}"
    rm -rf "$DUMPS"
    restic_ forget --host "$HOST" --tag demesne --group-by host,tags "${RETENTION[@]}" --prune --quiet > /dev/null 2> "$err" || return 1
    status '.lastRun = {at: $at, ok: true, error: null} | .lastSuccess = {at: $at, snapshot: $s.snapshot_id[0:8],
        sizeBytes: ($s.total_bytes_processed // 0), files: ($s.total_files_processed // 0)}' --argjson s "$summary"
    printf 'backup: snapshot %s, %s files, %s bytes\n' "$(jq -r '.snapshot_id[0:8]' <<< "$summary")" \
        "$(jq -r '.total_files_processed' <<< "$summary")" "$(jq -r '.total_bytes_processed' <<< "$summary")"
}

run_check() {
    local err="$STATE/stderr"
    if restic_ check --read-data > /dev/null 2> "$err"; then
        status '.lastCheck = {at: $at, ok: true, error: null}'
        echo "check: the repository and every pack in it verified"
    else
        local why
        why="$(reason "$err")"
        status '.lastCheck = {at: $at, ok: false, error: $e}' --arg e "$why"
        die "check failed: $why"
    fi
}

exec 9> "$STATE/lock"
flock -w 3600 9 || die "another backup-run holds $STATE/lock"
case "${1:-}" in
    backup)
        if ! run_backup; then
            start_stopped || true
            why="$(reason "$STATE/stderr")"
            status '.lastRun = {at: $at, ok: false, error: $e}' --arg e "$why"
            die "backup failed: $why"
        fi ;;
    check) run_check ;;
    init)
        if restic_ cat config > /dev/null 2> "$STATE/stderr"; then exit 0; fi
        # Only a repository that is not there is created; a wrong password or an unreachable target is an error.
        grep -qiE 'does not exist|no such file|unable to open config file|config.*not found|Is there a repository at the following location' "$STATE/stderr" ||
            die "the repository cannot be opened: $(reason "$STATE/stderr")"
        restic_ init > /dev/null 2> "$STATE/stderr" || die "restic init failed: $(reason "$STATE/stderr")"
        echo "init: created the repository" ;;
    restic) shift; restic_ "$@" ;;
    *) die "usage: backup-run backup|check|init|restic ARGS…" ;;
esac
