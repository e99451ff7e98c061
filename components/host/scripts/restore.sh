# Overwrites one backed-up source's data with a named snapshot (T3): a database is restored into its running
# container with pg_restore in one transaction, streamed from the repository (no plain dump on disk); a volume or
# directory is swapped for the snapshot's copy with its project stopped, the previous data kept beside it as
# `<path>.before-restore` (and put back if the swap fails halfway); demesne's own config is restored beside the
# live one as `<path>.restored`, never over it. The snapshot may come from another host's repository (a
# replacement host), opened with that host's password (stdin). A request already carried out is not redone.
read_params SOURCE SNAPSHOT SOURCE_HOST REPOSITORY REQUESTED REPOSITORY_PASSWORD
RUN=/usr/local/lib/demesne/backup-run
DONE_DIR="$STATE/restore"
[ -x "$ROOT$RUN" ] || die "$RUN is missing: apply the backup layer on this host first"
IFS=$'\t' read -r kind name path a mode <<< "$(param SOURCE)"
snapshot="$(param SNAPSHOT)"
request="$(param REQUESTED | tr -cd '0-9TZ')"
mark="$DONE_DIR/$name.$snapshot${request:+.$request}"

# check
if [ -f "$mark" ]; then
    log "this request ($name from $snapshot) was carried out already"
    finish
    exit 0
fi
install -d -m 0700 "$STATE/restore-tmp"
pwfile="$(mktemp "$STATE/restore-tmp/pw.XXXXXX")"
param REPOSITORY_PASSWORD > "$pwfile"
err="$STATE/restore-tmp/stderr"
repo() { "$ROOT$RUN" restic -r "$(param REPOSITORY)" --password-file "$pwfile" "$@"; }
snapshots="$(repo snapshots --json --host "$(param SOURCE_HOST)" 2> "$err")" ||
    die "the repository of $(param SOURCE_HOST) cannot be read: $(tail -n 1 "$err")"
found="$(jq -r --arg id "$snapshot" '[.[] | select(.id | startswith($id))] | length' <<< "$snapshots")"
[ "$found" = 1 ] || die "no single snapshot $snapshot of $(param SOURCE_HOST) in its repository ($found match)"
jq -e --arg id "$snapshot" --arg p "$path" '.[] | select(.id | startswith($id)) | .paths | index($p)' <<< "$snapshots" > /dev/null ||
    die "snapshot $snapshot does not hold $name ($path)"

declare -a STOPPED=()
start_stopped() { [ "${#STOPPED[@]}" -eq 0 ] || docker start "${STOPPED[@]}" > /dev/null || log "could not start again: ${STOPPED[*]}"; STOPPED=(); }
stop_project() {
    local id
    for id in $(docker ps -q --filter "label=com.docker.compose.project=$1"); do
        [ "$id" = "${2:-}" ] && continue
        docker stop "$id" > /dev/null || die "could not stop $id of $1"
        STOPPED+=("$id")
    done
}
# A swap cut short leaves the path missing: the previous data goes back before anything else.
undo_swap() { if [ -n "${swapping:-}" ] && [ ! -e "$ROOT$path" ] && [ -e "$ROOT$path.before-restore" ]; then mv "$ROOT$path.before-restore" "$ROOT$path"; fi; }
# The prelude's exit handler still runs, after the stopped containers are started and the secrets removed.
trap 'rc=$?; undo_swap; start_stopped; rm -rf "$STATE/restore-tmp" "${staging:-/nonexistent-demesne}"; (exit $rc); on_exit' EXIT

# change
case "$kind" in
    pgdump)
        IFS=$'\t' read -r _ _ _ project service user database <<< "$(param SOURCE)"
        ctr="$(docker ps -q --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$service" | head -n 1)"
        [ -n "$ctr" ] || die "the $name database ($project/$service) is not running: apply the service first"
        # Everything else in the project stops while its database is replaced.
        stop_project "$project" "$ctr"
        repo dump "$snapshot" "$path" 2> "$err" |
            docker exec -i "$ctr" pg_restore -U "$user" -d "$database" --clean --if-exists --single-transaction --no-owner ||
            die "the restore of $name failed (restic: $(tail -n 1 "$err")); the database is as it was (one transaction)" ;;
    volume | path)
        [ "$a" = - ] || stop_project "$a"
        staging="$(dirname "$ROOT$path")/.demesne-restore.$$"
        repo restore "$snapshot" --target "$staging" --include "$path" > /dev/null 2> "$err" ||
            die "restic restore failed: $(tail -n 1 "$err")"
        [ -e "$staging$path" ] || die "snapshot $snapshot holds nothing at $path"
        if [ "$mode" = aside ]; then
            rm -rf "$ROOT$path.restored"
            mv "$staging$path" "$ROOT$path.restored"
            log "restored $name beside the live copy, as $path.restored: take from it what this host needs"
        else
            [ -e "$ROOT$path" ] || [ ! -e "$ROOT$path.before-restore" ] ||
                die "$path is missing and $path.before-restore holds the previous data: put it back first"
            rm -rf "$ROOT$path.before-restore"
            swapping=1
            if [ -e "$ROOT$path" ]; then mv "$ROOT$path" "$ROOT$path.before-restore"; fi
            mv "$staging$path" "$ROOT$path"
            swapping=""
        fi ;;
    *) die "unknown source kind '$kind'" ;;
esac
CHANGED=true
start_stopped

# verify
case "$kind" in
    pgdump) docker exec "$ctr" psql -U "$user" -d "$database" -Atc 'select 1' > /dev/null || die "the restored $name database does not answer" ;;
    *) target="$path"; [ "$mode" != aside ] || target="$path.restored"
       [ -e "$ROOT$target" ] || die "$target is missing after the restore" ;;
esac
install -d -m 0700 "$DONE_DIR"
date -u +%Y-%m-%dT%H:%M:%SZ > "$mark"
log "restored $name from snapshot $snapshot of $(param SOURCE_HOST)"
finish
