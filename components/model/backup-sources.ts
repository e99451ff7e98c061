// What a host's backups hold, from the stack config: one source per service with data on the host, demesne's
// own config, and Coolify's and tailscale's state where they apply. The backup layer backs these up, the
// restore layer restores one of them by name, and the config check refuses a restore naming anything else.
import { BACKUP_HOST_SOURCES, BACKUP_PATHS } from "./backup";

/**
 * - pgdump: a consistent `pg_dump -Fc` from the compose service's running container, kept under BACKUP_PATHS.dumps;
 * - volume: a compose project's named volume, with the project's containers stopped while restic reads it;
 * - path: a directory, with a compose project stopped first when `stop` names one.
 */
export type BackupSource =
    | { kind: "pgdump"; name: string; project: string; service: string; user: string; database: string }
    | { kind: "volume"; name: string; project: string; volume: string }
    | { kind: "path"; name: string; path: string; stop?: string; aside?: boolean };

/** Source names the host itself uses: no service may take one (nor start with `restore-`, the restore steps' prefix). */
export const HOST_SOURCE_NAMES = ["etc", "coolify", "coolify-db", "tailscale"] as const;

/** The slice of the stack config this reads (the plain config satisfies it). */
export interface BackupSourceConfig {
    services: readonly { name: string; host: string; kind: string; enabled: boolean; volumes?: readonly string[] }[];
    coolify?: { enabled: boolean; host: string };
    backup?: { tailscaleState: boolean };
}

export function backupSources(cfg: BackupSourceConfig, host: string): BackupSource[] {
    const out: BackupSource[] = [];
    for (const s of cfg.services.filter((x) => x.enabled && x.host === host)) {
        if (s.kind === "gateway") {
            // The database holds virtual keys, budgets and spend; pg_dump is consistent while the gateway runs.
            out.push({ kind: "pgdump", name: s.name, project: s.name, service: "db", user: "litellm", database: "litellm" });
        } else if (s.kind === "open-webui") {
            out.push({ kind: "volume", name: s.name, project: s.name, volume: "open-webui" });
        } else if (s.kind === "custom") {
            for (const v of s.volumes ?? []) {
                const volume = v.split(":")[0] as string;
                out.push({ kind: "volume", name: s.volumes!.length === 1 ? s.name : `${s.name}-${volume}`, project: s.name, volume });
            }
        }
        // inference: its models volume is re-downloadable and large, so it is not backed up.
    }
    if (cfg.coolify?.enabled && cfg.coolify.host === host) {
        // Coolify's files and its own PostgreSQL's volume (the installer names it coolify-db), both read stopped.
        out.push({ kind: "path", name: "coolify", path: BACKUP_HOST_SOURCES.coolify, stop: "coolify" });
        out.push({ kind: "path", name: "coolify-db", path: BACKUP_HOST_SOURCES.coolifyDb, stop: "coolify" });
    }
    // Tailscale's node state: restored by hand (a restore under a running tailscaled would be lost or cut SSH).
    if (cfg.backup?.tailscaleState) out.push({ kind: "path", name: "tailscale", path: BACKUP_HOST_SOURCES.tailscale });
    // demesne's own config is restored beside the live one (`.restored`), never over it: the runner's allowlist,
    // the backup credentials and the services' env files there belong to this host.
    out.push({ kind: "path", name: "etc", path: BACKUP_HOST_SOURCES.etc, aside: true });
    return out;
}

/** The directory restic reads for a source (a dump lives in the dumps directory). */
export function sourcePath(s: BackupSource): string {
    switch (s.kind) {
        case "pgdump": return `${BACKUP_PATHS.dumps}/${s.name}.pgdump`;
        case "volume": return `/var/lib/docker/volumes/${s.project}_${s.volume}/_data`;
        case "path": return s.path;
    }
}

/** One tab-separated line per source, as backup-run and the restore layer read them. */
export function renderSourceLine(s: BackupSource): string {
    switch (s.kind) {
        case "pgdump": return ["pgdump", s.name, sourcePath(s), s.project, s.service, s.user, s.database].join("\t");
        case "volume": return ["volume", s.name, sourcePath(s), s.project].join("\t");
        case "path": return ["path", s.name, sourcePath(s), s.stop ?? "-", s.aside ? "aside" : "swap"].join("\t");
    }
}
