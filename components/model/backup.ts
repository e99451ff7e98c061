// Backups and encryption at rest, in one place: what is kept and for how long (the retention the policy
// documents and `restic forget` applies), when it runs, where its files live on a host, which entries of
// demesne:secrets hold its credentials, and how old the newest backup may be before drift calls it critical.
// The backup and restore layers, the observer, drift, the CLI and the docs all read this table.
// No imports: every layer may depend on it.

/** `restic forget --prune --keep-daily … --keep-weekly … --keep-monthly …`, per host. */
export const BACKUP_RETENTION = { daily: 7, weekly: 4, monthly: 6 } as const;

/** The longest any snapshot can survive under BACKUP_RETENTION: the erasure bound the policy states. */
export const BACKUP_LONGEST_KEPT_DAYS = BACKUP_RETENTION.monthly * 31 + 1;

/** systemd calendar specs (`OnCalendar=`); each timer also waits a random delay so a fleet does not start at once. */
export const BACKUP_SCHEDULE = { backup: "*-*-* 03:15:00", check: "Sun *-*-* 05:30:00", randomizedDelay: "30min" } as const;

/** Drift is critical when the newest successful backup is older than this, or the last check older than that. */
export const BACKUP_MAX_AGE_HOURS = 26;
export const BACKUP_CHECK_MAX_AGE_DAYS = 8;

/** Where the backup layer keeps its files on a host. Credentials are root-only files, never argv or another process's env. */
export const BACKUP_PATHS = {
    dir: "/etc/demesne/backup",
    password: "/etc/demesne/backup/repository-password",
    credential: "/etc/demesne/backup/target-credential",
    sshConfig: "/etc/demesne/backup/ssh_config",
    knownHosts: "/etc/demesne/backup/known_hosts",
    s3Env: "/etc/demesne/backup/s3.env",
    runScript: "/usr/local/lib/demesne/backup-run",
    stateDir: "/var/lib/demesne/backup",
    status: "/var/lib/demesne/backup/status.json",
    dumps: "/var/lib/demesne/backup/dumps",
} as const;

/** The systemd units the backup layer writes (`<name>.service` and `<name>.timer`). */
export const BACKUP_UNITS = { backup: "demesne-backup", check: "demesne-backup-check" } as const;

/** The entries of demesne:secrets the backup layer reads: restic's repository password and the target's credential. */
export const BACKUP_SECRETS = {
    password: "backupRepositoryPassword",
    /** An OpenSSH private key for an SFTP target, or the S3 secret access key. */
    credential: "backupTargetCredential",
} as const;

/** The ssh_config alias restic's sftp backend connects through (HostName, port, key and pinned host key behind it). */
export const BACKUP_SSH_ALIAS = "demesne-backup-target";

/** The host-wide data a restore can name besides a service: demesne's own config and, opted in, tailscale's state. */
export const BACKUP_HOST_SOURCES = {
    etc: "/etc/demesne", tailscale: "/var/lib/tailscale", coolify: "/data/coolify", coolifyDb: "/var/lib/docker/volumes/coolify-db/_data",
} as const;

/** What `backup-run` writes after every run and check; the observer reads it and drift judges it. */
export interface BackupStatus {
    host: string;
    lastRun: { at: string; ok: boolean; error: string | null } | null;
    lastSuccess: { at: string; snapshot: string; sizeBytes: number; files: number } | null;
    lastCheck: { at: string; ok: boolean; error: string | null } | null;
}

/** Encryption at rest on a separate data disk: the mapper name, where it mounts and what is bound onto it. */
export const DATA_DISK = {
    mapper: "demesne-data",
    mountpoint: "/srv/demesne-data",
    /** Docker's data (images, containers and every named volume) lives on the encrypted disk. */
    binds: ["/var/lib/docker"],
} as const;

/** The entry of demesne:secrets holding a host's LUKS key unless its dataDisk names another. */
export const DATA_DISK_DEFAULT_SECRET = "dataDiskKey";

/** Where restic keeps each host's repository (demesne:backup.target, validated by the config schema). */
export type BackupTarget =
    | { kind: "sftp"; host: string; port: number; user: string; path: string; hostKey: string }
    | { kind: "s3"; endpoint: string; bucket: string; path: string; accessKeyId: string };
