# Overwrites one backed-up source's data with a named snapshot (T3): a database is restored into its running
# container with pg_restore; a volume or directory is swapped for the snapshot's copy with its project stopped,
# the previous data kept beside it as `<path>.before-restore`. The snapshot may come from another host's
# repository (a replacement host). Uses the backup layer's runner and credentials; a restore already done
# (same source, same snapshot) is not done again.
read_params SOURCE SNAPSHOT SOURCE_HOST REPOSITORY
RUN=/usr/local/lib/demesne/backup-run
DONE_DIR="$STATE/restore"
[ -x "$ROOT$RUN" ] || die "$RUN is missing: apply the backup layer on this host first"
IFS=$'\t' read -r kind name path a b c d <<< "$(param SOURCE)"
snapshot="$(param SNAPSHOT)"
mark="$DONE_DIR/$name.$snapshot"

# check
if [ -f "$mark" ]; then
    log "$name was restored from $snapshot already"
    finish
    exit 0
fi
repo() { "$ROOT$RUN" restic -r "$(param REPOSITORY)" "$@"; }
snapshots="$(repo snapshots --json --host "$(param SOURCE_HOST)" 2> "$STATE/restore.err")" ||
    die "the repository of $(param SOURCE_HOST) cannot be read: $(tail -n 1 "$STATE/restore.err")"
found="$(jq -r --arg id "$snapshot" '[.[] | select(.id | startswith($id))] | length' <<< "$snapshots")"
[ "$found" = 1 ] || die "no single snapshot $snapshot of $(param SOURCE_HOST) in its repository ($found match)"
jq -e --arg id "$snapshot" --arg p "$path" '.[] | select(.id | startswith($id)) | .paths | index($p)' <<< "$snapshots" > /dev/null ||
    die "snapshot $snapshot does not hold $name ($path)"

declare -a STOPPED=()
start_stopped() { [ "${#STOPPED[@]}" -eq 0 ] || docker start "${STOPPED[@]}" > /dev/null; }
stop_project() {
    local ids
    ids="$(docker ps -q --filter "label=com.docker.compose.project=$1" "${@:2}")"
    [ -n "$ids" ] || return 0
    # shellcheck disable=SC2086 # one id per word
    docker stop $ids > /dev/null
    # shellcheck disable=SC2206
    STOPPED+=($ids)
}
# The prelude's exit handler still runs after the stopped containers are started again.
trap 'rc=$?; start_stopped; (exit $rc); on_exit' EXIT

# change
case "$kind" in
    pgdump)
        ctr="$(docker ps -q --filter "label=com.docker.compose.project=$a" --filter "label=com.docker.compose.service=$b" | head -n 1)"
        [ -n "$ctr" ] || die "the $name database ($a/$b) is not running: apply the service first"
        dump="$(mktemp)"
        repo dump "$snapshot" "$path" > "$dump" 2> "$STATE/restore.err" || die "restic dump failed: $(tail -n 1 "$STATE/restore.err")"
        # Everything else in the project stops while its database is replaced.
        for id in $(docker ps -q --filter "label=com.docker.compose.project=$a"); do
            [ "$id" = "$ctr" ] || { docker stop "$id" > /dev/null; STOPPED+=("$id"); }
        done
        docker exec -i "$ctr" pg_restore -U "$c" -d "$d" --clean --if-exists --single-transaction --no-owner < "$dump" ||
            die "pg_restore into $name failed; the database is as it was (one transaction)"
        rm -f "$dump" ;;
    volume | path)
        [ "$a" = - ] || stop_project "$a"
        staging="$(dirname "$ROOT$path")/.demesne-restore"
        rm -rf "$staging"
        repo restore "$snapshot" --target "$staging" --include "$path" > /dev/null 2> "$STATE/restore.err" ||
            die "restic restore failed: $(tail -n 1 "$STATE/restore.err")"
        [ -e "$staging$path" ] || die "snapshot $snapshot holds nothing at $path"
        rm -rf "$ROOT$path.before-restore"
        if [ -e "$ROOT$path" ]; then mv "$ROOT$path" "$ROOT$path.before-restore"; fi
        mv "$staging$path" "$ROOT$path"
        rm -rf "$staging" ;;
    *) die "unknown source kind '$kind'" ;;
esac
CHANGED=true
start_stopped
STOPPED=()

# verify
case "$kind" in
    pgdump) docker exec "$ctr" psql -U "$c" -d "$d" -Atc 'select 1' > /dev/null || die "the restored $name database does not answer" ;;
    *) [ -e "$ROOT$path" ] || die "$path is missing after the restore" ;;
esac
install -d -m 0700 "$DONE_DIR"
date -u +%Y-%m-%dT%H:%M:%SZ > "$mark"
log "restored $name from snapshot $snapshot of $(param SOURCE_HOST)"
finish
