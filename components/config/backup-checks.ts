// The backup, restore and data-disk settings against the rest of the config and demesne:secrets: each
// credential they read is there and has the right shape (never echoed), and a restore names a host that backs
// up and a source that host's backups hold.
import { BACKUP_SECRETS } from "../model/backup";
import { backupSources, HOST_SOURCE_NAMES } from "../model/backup-sources";
import type { HostConfig, PlainConfig } from "./schema";

type Problem = (key: string, path: PropertyKey[], msg: string) => void;

const PRIVATE_KEY = /^-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+-----END [A-Z ]*PRIVATE KEY-----\s*$/;
/** A passphrase shorter than this is refused for the repository and for a data disk. */
export const MIN_PASSPHRASE_LENGTH = 20;

export function backupProblems(cfg: PlainConfig, named: Record<string, string>, hosts: Map<string, HostConfig>, p: Problem): void {
    if (cfg.backup) {
        const password = named[BACKUP_SECRETS.password];
        if (password === undefined) p("secrets", [BACKUP_SECRETS.password], "required while demesne:backup is set (restic's repository password)");
        else if (password.length < MIN_PASSPHRASE_LENGTH) p("secrets", [BACKUP_SECRETS.password], `must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
        const credential = named[BACKUP_SECRETS.credential];
        const what = cfg.backup.target.kind === "sftp" ? "the SFTP account's OpenSSH private key" : "the S3 secret access key";
        if (credential === undefined) p("secrets", [BACKUP_SECRETS.credential], `required while demesne:backup is set (${what})`);
        else if (cfg.backup.target.kind === "sftp" && !PRIVATE_KEY.test(credential)) p("secrets", [BACKUP_SECRETS.credential], `expected ${what}`);
    }
    cfg.services.forEach((svc, i) => {
        if ((HOST_SOURCE_NAMES as readonly string[]).includes(svc.name) || svc.name.startsWith("restore-")) {
            p("services", [i, "name"], `"${svc.name}" is reserved (a host's own backup source, or the restore steps' prefix)`);
        }
    });
    if (cfg.backup) {
        for (const h of cfg.hosts) {
            const seen = new Set<string>();
            for (const src of backupSources(cfg, h.name)) {
                if (seen.has(src.name)) p("backup", [], `${h.name} would back up two sources named "${src.name}": rename a service or a volume`);
                seen.add(src.name);
            }
        }
    }
    const pending = new Set<string>();
    cfg.restores.forEach((r, i) => {
        const host = hosts.get(r.host);
        if (!cfg.backup) p("restores", [i], "a restore reads the backup repository: set demesne:backup first");
        if (!host) return p("restores", [i, "host"], `no host named "${r.host}" in demesne:hosts`);
        if (host.hostType !== "ubuntu") return p("restores", [i, "host"], `"${r.host}" is a ${host.hostType} host: SSH steps never target it`);
        const key = `${r.host}/${r.service}`;
        if (pending.has(key)) p("restores", [i], `a second restore of ${r.service} on ${r.host}: one at a time`);
        pending.add(key);
        const names = backupSources(cfg, r.host).map((s) => s.name);
        if (!names.includes(r.service)) p("restores", [i, "service"], `${r.host} backs up no "${r.service}" (its sources: ${names.join(", ")})`);
        if (r.service === "tailscale") p("restores", [i, "service"], "tailscale's state is restored by hand with tailscaled stopped (docs/backups.md), never by a step under a running daemon");
    });
    cfg.hosts.forEach((h, i) => {
        if (!h.dataDisk) return;
        const key = named[h.dataDisk.keySecret];
        if (key === undefined) p("hosts", [i, "dataDisk", "keySecret"], `no secret "${h.dataDisk.keySecret}" in demesne:secrets (the data disk's LUKS passphrase)`);
        else if (key.length < MIN_PASSPHRASE_LENGTH) p("secrets", [h.dataDisk.keySecret], `must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
    });
}
