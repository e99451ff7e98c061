# restic backups of this host's data (components/model/backup-sources.ts) to the operator's target, daily, with
# the policy's retention, and a weekly check that reads every pack back. The repository password and the
# target's credential arrive on stdin and are kept in root-only files; the runner (backup-run) and its units
# are files this layer writes. Where systemd is absent (a container), the timers cannot run and the layer says
# so: the same `backup-run backup` is then run by whatever schedules jobs there.
read_params PACKAGES CONF SOURCES SSH_CONFIG KNOWN_HOSTS RUN_SCRIPT UNITS REPOSITORY_PASSWORD TARGET_CREDENTIAL
DIR=/etc/demesne/backup
RUN=/usr/local/lib/demesne/backup-run
UNIT_DIR=/etc/systemd/system
have_systemd() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

# check
[ -n "$(param REPOSITORY_PASSWORD)" ] || die "the repository password is empty (demesne:secrets.backupRepositoryPassword)"
[ -n "$(param TARGET_CREDENTIAL)" ] || die "the target credential is empty (demesne:secrets.backupTargetCredential)"
for pkg in $(param PACKAGES); do
    dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' && continue
    DEBIAN_FRONTEND=noninteractive apt-get -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -qq -y install --no-install-recommends "$pkg" > /dev/null
    CHANGED=true
done
install -d -m 0700 "$ROOT$DIR" "$ROOT/var/lib/demesne/backup"
install -d -m 0755 "$ROOT/usr/local/lib/demesne"
stage_param CONF "$DIR/backup.conf" 0600
stage_param SOURCES "$DIR/sources" 0600
stage_param REPOSITORY_PASSWORD "$DIR/repository-password" 0600
stage_param TARGET_CREDENTIAL "$DIR/target-credential" 0600
stage_param SSH_CONFIG "$DIR/ssh_config" 0600
stage_param KNOWN_HOSTS "$DIR/known_hosts" 0600
stage_param RUN_SCRIPT "$RUN" 0755
units_changed=false
while IFS= read -r file && IFS= read -r body; do
    tmp="$(mktemp)"
    printf '%s' "$body" | base64 -d > "$tmp"
    before="${#STAGED[@]}"
    stage "$tmp" "$UNIT_DIR/$file" 0644
    [ "${#STAGED[@]}" = "$before" ] || units_changed=true
done < <(param UNITS)

# change
if staged; then
    install_staged
    CHANGED=true
fi
if have_systemd; then
    [ "$units_changed" = false ] || systemctl daemon-reload
    for timer in demesne-backup.timer demesne-backup-check.timer; do
        systemctl is-enabled --quiet "$timer" 2> /dev/null || { systemctl enable --quiet "$timer"; CHANGED=true; }
        systemctl is-active --quiet "$timer" || { systemctl start "$timer"; CHANGED=true; }
    done
else
    log "no systemd here: the timers are written but cannot run; schedule \`$RUN backup\` and \`$RUN check\` another way"
fi
# A new repository is created once; a wrong password or an unreachable target fails here, before any timer fires.
out="$("$ROOT$RUN" init)" || die "the backup repository is not usable (see the line above)"
[ -z "$out" ] || { log "$out"; CHANGED=true; }

# verify
"$ROOT$RUN" restic cat config > /dev/null 2>&1 || die "the backup repository does not open with the configured password"
if have_systemd; then
    systemctl is-active --quiet demesne-backup.timer || die "demesne-backup.timer is not active"
    systemctl is-active --quiet demesne-backup-check.timer || die "demesne-backup-check.timer is not active"
fi
finish
