// The backup layer's generated regions (docs/backups.md, policy/retention-and-erasure.md): retention, schedule,
// limits and what each kind of service contributes, from the one table (components/model/backup.ts).
import {
    BACKUP_CHECK_MAX_AGE_DAYS, BACKUP_LONGEST_KEPT_DAYS, BACKUP_MAX_AGE_HOURS, BACKUP_PATHS, BACKUP_RETENTION, BACKUP_SCHEDULE,
    BACKUP_SECRETS, BACKUP_UNITS,
} from "../components/model/backup";
import { backupSources, sourcePath } from "../components/model/backup-sources";
import { retentionFlags } from "../components/render/backup";

const table = (head: string[], rows: string[][]): string =>
    [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
const code = (s: string | number) => `\`${s}\``;

function retention(): string {
    return [
        table(["what", "value"], [
            ["daily snapshots kept", String(BACKUP_RETENTION.daily)],
            ["weekly snapshots kept (the newest of each ISO week)", String(BACKUP_RETENTION.weekly)],
            ["monthly snapshots kept (the newest of each month)", String(BACKUP_RETENTION.monthly)],
            ["the longest any snapshot survives", `${BACKUP_LONGEST_KEPT_DAYS} days`],
            ["backup schedule (`OnCalendar`, plus up to a random delay)", `${code(BACKUP_SCHEDULE.backup)} + ${BACKUP_SCHEDULE.randomizedDelay}`],
            ["full check schedule (`restic check --read-data`)", `${code(BACKUP_SCHEDULE.check)} + ${BACKUP_SCHEDULE.randomizedDelay}`],
            ["drift is critical when the newest backup is older than", `${BACKUP_MAX_AGE_HOURS} hours`],
            ["… or the last full check is older than", `${BACKUP_CHECK_MAX_AGE_DAYS} days`],
        ]),
        "",
        `Applied after every backup by \`restic forget --group-by host,tags ${retentionFlags().join(" ")} --prune\` ` +
        `(\`${BACKUP_UNITS.backup}.service\`), so what the policy states is what the hosts keep.`,
    ].join("\n");
}

function sources(): string {
    const example = backupSources({
        services: [
            { name: "gateway", host: "h", kind: "gateway", enabled: true },
            { name: "chat", host: "h", kind: "open-webui", enabled: true },
            { name: "ollama", host: "h", kind: "inference", enabled: true },
        ],
        coolify: { enabled: true, host: "h" },
        backup: { tailscaleState: true },
    }, "h");
    const how = (s: (typeof example)[number]): string => {
        if (s.kind === "pgdump") return "`pg_dump -Fc` inside the running database container (consistent while the gateway runs)";
        if (s.kind === "volume") return "the named volume, its compose project stopped while restic reads it";
        return s.stop ? `the directory, the compose project \`${s.stop}\` stopped while restic reads it` : "the directory";
    };
    return [
        table(["source (restore name)", "what restic reads", "how"], example.map((s) => [code(s.name), code(sourcePath(s)), how(s)])),
        "",
        "`tailscale` only with `demesne:backup.tailscaleState: true`; an inference service's models are not backed up",
        `(re-downloadable). \`${BACKUP_PATHS.dir}\` (the repository password \`${BACKUP_SECRETS.password}\` and the`,
        `target's credential \`${BACKUP_SECRETS.credential}\`, both from demesne:secrets) is never in a backup.`,
    ].join("\n");
}

export const BACKUP_REGIONS: Record<string, () => string> = { "backup-retention": retention, "backup-sources": sources };
