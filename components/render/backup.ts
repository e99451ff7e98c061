// The backup layer's files: the runner's config (repository, host, retention, sources), restic's SSH
// settings for an SFTP target (a pinned host key, batch mode, the root-only key), and the systemd units that
// run the backup daily and a full read-back check weekly. Values come from components/model/backup.ts.
import {
    BACKUP_PATHS, BACKUP_RETENTION, BACKUP_SCHEDULE, BACKUP_SSH_ALIAS, BACKUP_UNITS, type BackupTarget,
} from "../model/backup";
import { createHmac } from "node:crypto";
import { type BackupSource, renderSourceLine } from "../model/backup-sources";

/** A host's own repository: `<path>/<host>` on the target, so hosts never contend for one repository's lock. */
export function repositoryOf(target: BackupTarget, host: string): string {
    const dir = `${target.path.replace(/\/+$/, "")}/${host}`;
    return target.kind === "sftp"
        ? `sftp:${BACKUP_SSH_ALIAS}:${dir}`
        : `s3:${target.endpoint.replace(/\/+$/, "")}/${target.bucket}${dir}`;
}

/** restic's `forget` flags for the policy's retention. */
export function retentionFlags(): string[] {
    return [
        "--keep-daily", String(BACKUP_RETENTION.daily),
        "--keep-weekly", String(BACKUP_RETENTION.weekly),
        "--keep-monthly", String(BACKUP_RETENTION.monthly),
    ];
}

/** The runner's plain config: KEY=value lines (no secrets: those are the root-only files beside it). */
export function renderBackupConf(target: BackupTarget, host: string): string {
    const lines = [
        `REPOSITORY=${repositoryOf(target, host)}`,
        `HOST=${host}`,
        `KIND=${target.kind}`,
        `RETENTION=${retentionFlags().join(" ")}`,
        ...(target.kind === "s3" ? [`S3_ACCESS_KEY_ID=${target.accessKeyId}`] : []),
    ];
    // One KEY=value a line: a value that could start another line is refused, whatever let it through.
    for (const l of lines) if (/[\0-\x1f\x7f]/.test(l)) throw new Error(`backup.conf: a control character in ${l.split("=")[0]}`);
    return `${lines.join("\n")}\n`;
}

/**
 * Each host's repository password, derived from the stack's one secret: root on one host holds only its own, so
 * it cannot read another host's backups (it could still delete them where the target's account is shared).
 */
export function hostRepositoryPassword(master: string, host: string): string {
    return createHmac("sha256", master).update(`demesne-backup-repository:${host}`).digest("base64url");
}

export function renderSources(sources: readonly BackupSource[]): string {
    const lines = sources.map(renderSourceLine);
    for (const l of lines) if (/[\0-\x08\x0a-\x1f\x7f]/.test(l)) throw new Error(`backup sources: a control character in ${l.split("\t")[1]}`);
    return `${lines.join("\n")}\n`;
}

/** restic's sftp backend runs `ssh … -s sftp`; this file is its only SSH config (`ssh -F`). */
export function renderBackupSshConfig(target: BackupTarget): string {
    if (target.kind !== "sftp") return "";
    return [
        `Host ${BACKUP_SSH_ALIAS}`,
        `    HostName ${target.host}`,
        `    Port ${target.port}`,
        `    User ${target.user}`,
        `    IdentityFile ${BACKUP_PATHS.credential}`,
        "    IdentitiesOnly yes",
        `    UserKnownHostsFile ${BACKUP_PATHS.knownHosts}`,
        "    StrictHostKeyChecking yes",
        "    BatchMode yes",
        "    ConnectTimeout 15",
        "    ServerAliveInterval 15",
        "    ServerAliveCountMax 4",
        "",
    ].join("\n");
}

export function renderBackupKnownHosts(target: BackupTarget): string {
    if (target.kind !== "sftp") return "";
    const name = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
    return `${name} ${target.hostKey}\n`;
}

function unit(what: string, arg: string): string {
    return [
        "[Unit]",
        `Description=demesne ${what} (restic)`,
        "Wants=network-online.target",
        "After=network-online.target docker.service",
        "",
        "[Service]",
        "Type=oneshot",
        `ExecStart=${BACKUP_PATHS.runScript} ${arg}`,
        "Nice=10",
        "IOSchedulingClass=idle",
        "PrivateTmp=yes",
        "",
    ].join("\n");
}

function timer(what: string, calendar: string): string {
    return [
        "[Unit]",
        `Description=demesne ${what} schedule`,
        "",
        "[Timer]",
        `OnCalendar=${calendar}`,
        `RandomizedDelaySec=${BACKUP_SCHEDULE.randomizedDelay}`,
        // A host that was off at the scheduled time runs the missed backup when it comes back.
        "Persistent=true",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ].join("\n");
}

/** The four unit files, by file name. */
export function renderBackupUnits(): Record<string, string> {
    return {
        [`${BACKUP_UNITS.backup}.service`]: unit("backup", "backup"),
        [`${BACKUP_UNITS.backup}.timer`]: timer("backup", BACKUP_SCHEDULE.backup),
        [`${BACKUP_UNITS.check}.service`]: unit("backup check", "check"),
        [`${BACKUP_UNITS.check}.timer`]: timer("backup check", BACKUP_SCHEDULE.check),
    };
}
