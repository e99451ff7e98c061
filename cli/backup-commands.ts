// `demesne backup status` and `demesne restore`. Status reads the store's current facts (what the last
// `demesne observe` saw) and judges them with drift's own backup rule. Restore never touches a host: it adds
// a request to the stack's demesne:restores, which the normal plan → approve → apply path carries out as a T3
// step, and says which commands to run.
import { chmodSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { isMap, isSeq, parseDocument, type YAMLMap } from "yaml";
import { BACKUP_CHECK_MAX_AGE_DAYS, BACKUP_MAX_AGE_HOURS } from "../components/model/backup";
import { backupSources } from "../components/model/backup-sources";
import { loadStackFile, stackFilePath } from "../components/config/stack-file";
import type { Store } from "../state-model/db/store";
import { backupVerdict, type BackupVerdict } from "../state-model/drift/backup";
import { desiredFromConfig } from "../state-model/drift/desired";
import { hostState } from "../state-model/drift/drift";
import { SNAPSHOT_ID } from "../state-model/observe/parse-backup";
import { str, type Parsed } from "./args";
import { hostsOf, loadStack, stackOf } from "./drift-commands";
import { EXIT, Refused, UsageError } from "./exit";
import { esc, shown } from "./escape";
import { table, type Output } from "./output";

const HOST_NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** 1536 → "1.5 KiB". */
export function bytes(n: number): string {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = n;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
        v /= 1024;
        u += 1;
    }
    return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

interface HostBackup extends BackupVerdict {
    host: string;
    /** The stack gives this host the backup layer; without it there is nothing to judge. */
    backupLayer: boolean;
    probe: string | null;
}

/** `demesne backup status`: exit 1 when any host with the backup layer is critical. */
export async function backupStatus(p: Parsed, out: Output, store: Store, now = Date.now()): Promise<number> {
    if (p.positional[0] !== "status" || p.positional.length > 1) throw new UsageError("usage: demesne backup status [--stack S] [--json]");
    const stack = stackOf(p);
    const desired = desiredFromConfig(stack.cfg, stack.name);
    const hosts: HostBackup[] = [];
    for (const host of hostsOf(p, stack)) {
        const s = await hostState(store, host);
        const probes = s.probes ?? {};
        const v = backupVerdict({ host, facts: s.facts, probes }, now);
        const backupLayer = desired.hosts.get(host)?.backup === true;
        hosts.push({ host, backupLayer, probe: probes.backup ?? null, ...v, verdict: backupLayer ? v.verdict : "ok", problems: backupLayer ? v.problems : [] });
    }
    const verdictOf = (h: HostBackup) => (h.backupLayer ? h.verdict : "none");
    if (out.json) {
        out.data({
            stack: stack.name, at: new Date(now).toISOString(), limits: { maxAgeHours: BACKUP_MAX_AGE_HOURS, checkMaxAgeDays: BACKUP_CHECK_MAX_AGE_DAYS },
            hosts: hosts.map((h) => ({
                host: h.host, backupLayer: h.backupLayer, verdict: verdictOf(h), probe: h.probe,
                lastSuccess: h.lastSuccess, ageHours: h.ageHours, lastRun: h.lastRun, lastCheck: h.lastCheck, checkAgeDays: h.checkAgeDays,
                problems: h.problems.map((x) => ({ key: x.key, why: x.why, converge: x.converge })),
            })),
        });
    } else {
        out.line(shown`backups of stack ${stack.name} at ${new Date(now).toISOString()} (critical: newest success older than ${BACKUP_MAX_AGE_HOURS}h, a failed run, or no passing check within ${BACKUP_CHECK_MAX_AGE_DAYS} days)`);
        out.line(table(hosts.map((h) => ({
            host: h.host,
            verdict: h.backupLayer ? h.verdict : "none (no backup layer)",
            "last success": h.lastSuccess?.at ?? "never",
            age: h.ageHours === null ? "-" : `${h.ageHours}h`,
            snapshot: h.lastSuccess?.snapshot.slice(0, 8) ?? "-",
            size: h.lastSuccess ? bytes(h.lastSuccess.sizeBytes) : "-",
            files: h.lastSuccess?.files ?? "-",
            "last run": h.lastRun ? `${h.lastRun.ok ? "ok" : "FAILED"} ${h.lastRun.at}` : "never",
            "last check": h.lastCheck ? `${h.lastCheck.ok ? "ok" : "FAILED"} ${h.lastCheck.at}` : "never",
        })), ["host", "verdict", "last success", "age", "snapshot", "size", "files", "last run", "last check"]));
        for (const h of hosts) {
            for (const x of h.problems) {
                out.line(shown`\n[critical] ${h.host} backup ${x.key}: ${x.why}`);
                out.line(shown`  do: ${x.converge}`);
            }
        }
    }
    return hosts.some((h) => h.backupLayer && h.verdict === "critical") ? EXIT.refused : EXIT.ok;
}

export interface RestoreRequest {
    host: string;
    service: string;
    snapshot: string;
    fromHost?: string;
    /** When it was asked for (UTC, seconds): each request is its own step, approval and run. */
    requested?: string;
}

/** The flags as a request, each checked for shape; nothing is read yet. */
export function restoreRequestOf(p: Parsed): RestoreRequest {
    if (p.positional.length) throw new UsageError("restore takes no positional arguments: --host H --service S --snapshot ID");
    const host = str(p, "host");
    const service = str(p, "service");
    const snapshot = str(p, "snapshot")?.toLowerCase();
    const fromHost = str(p, "from-host");
    if (!host || !service || !snapshot) throw new UsageError("restore needs --host H --service S --snapshot ID");
    if (!SNAPSHOT_ID.test(snapshot)) throw new UsageError(`--snapshot ${esc(snapshot.slice(0, 80))}: expected a restic snapshot id (8 to 64 hex digits, from restic snapshots)`);
    for (const [flag, v] of [["host", host], ["from-host", fromHost]] as const) {
        if (v !== undefined && !HOST_NAME.test(v)) throw new UsageError(`--${flag} ${esc(v.slice(0, 80))}: not a host name (a-z, 0-9, -)`);
    }
    const requested = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    return { host, service, snapshot, ...(fromHost && fromHost !== host ? { fromHost } : {}), requested };
}

const RESTORES = ["config", "demesne:restores"];

/** Writes `text` as the stack file only if the config it holds loads (atomically: a temporary file, then rename). */
function writeChecked(file: string, text: string): void {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.restore-${process.pid}`);
    writeFileSync(tmp, text, { mode: 0o600 });
    try {
        chmodSync(tmp, statSync(file).mode & 0o777);
        loadStackFile(tmp);
        renameSync(tmp, file);
    } catch (e) {
        rmSync(tmp, { force: true });
        throw new Refused(`the stack file with this restore would not load, so it was left as it was: ${(e as Error).message}`);
    }
}

/** `demesne restore`: adds the request to Pulumi.<stack>.yaml (comments and order kept) and prints the path to apply it. */
export function restore(p: Parsed, out: Output): { code: number; request: RestoreRequest; stack: string } {
    const req = restoreRequestOf(p);
    const stack = loadStack(str(p, "stack"));
    const cfg = stack.cfg;
    if (!cfg.backup) throw new Refused(`stack ${stack.name} has no demesne:backup: there is no repository to restore from`);
    const host = cfg.hosts.find((h) => h.name === req.host);
    if (!host) throw new UsageError(`--host ${req.host}: not a host of stack ${stack.name} (hosts: ${cfg.hosts.map((h) => h.name).join(", ")})`);
    if (host.hostType !== "ubuntu") throw new UsageError(`--host ${req.host}: a ${host.hostType} host is never reached over SSH`);
    const sources = backupSources(cfg, req.host).map((s) => s.name);
    if (!sources.includes(req.service)) throw new UsageError(`--service ${esc(req.service.slice(0, 80))}: ${req.host} backs up no such source (its sources: ${sources.join(", ")})`);
    const pending = cfg.restores.find((r) => r.host === req.host && r.service === req.service);
    if (pending) {
        throw new Refused(`a restore of ${req.service} on ${req.host} is already pending (snapshot ${pending.snapshot}): apply it, or remove it from demesne:restores, first`);
    }
    const file = stackFilePath(stack.name);
    const doc = parseDocument(readFileSync(file, "utf8"));
    const list = doc.getIn(RESTORES, true);
    const entry = doc.createNode(req);
    if (list === undefined || list === null) {
        if (!isMap(doc.get("config", true))) throw new Refused(`Pulumi.${stack.name}.yaml has no config map to add demesne:restores to`);
        (doc.get("config", true) as YAMLMap).set("demesne:restores", doc.createNode([req]));
    } else if (isSeq(list)) {
        list.add(entry);
    } else {
        throw new Refused(`demesne:restores in Pulumi.${stack.name}.yaml is not a YAML list: edit it by hand`);
    }
    writeChecked(file, doc.toString());
    const s = ` --stack ${stack.name}`;
    const layer = `${req.host}/restore-${req.service}`;
    if (out.json) {
        out.data({ stack: stack.name, request: req, file: path.basename(file), next: [`demesne plan${s} --layer ${layer}`, `demesne approve <plan-sha256> --actor NAME${s} --token T3-…`, `demesne apply <plan-sha256>${s}`] });
    } else {
        out.line(shown`added to demesne:restores in ${path.basename(file)}: restore ${req.service} on ${req.host} from snapshot ${req.snapshot}${req.fromHost ? ` (taken on ${req.fromHost})` : ""}`);
        out.line("Nothing has run yet. The restore overwrites the data there now (T3); next:");
        out.line(shown`  demesne plan${s} --layer ${layer}`);
        out.line(shown`  demesne approve <plan-sha256> --actor NAME${s} --token T3-…   (the token the plan prints for ${layer})`);
        out.line(shown`  demesne apply <plan-sha256>${s}`);
        out.line("Afterwards remove the entry from demesne:restores (a T1 delete that runs nothing on the host).");
    }
    return { code: EXIT.ok, request: req, stack: stack.name };
}
