/**
 * `npm run bench:backup` (also part of `npm run bench`): the restore drill's time as a ratio to the backup's,
 * measured side by side in one run on two sandboxed test hosts (a source and its SFTP target on a private link).
 * Each rep starts from an empty repository: a first (full) backup of the `etc` source holding a mix of large and
 * small files, a second backup with nothing changed, then the data destroyed and brought back by the program's
 * restore step (its params from the plan, as the Actuator would send them) and checked by checksum. Printed:
 * medians over --reps of restore ÷ full backup and unchanged backup ÷ full backup; never absolute times alone.
 * Needs root (test hosts). Options: --reps N (default 3), --mb M (large data, default 32), --json
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { parse, stringify } from "yaml";
import { loadStackFile } from "../../components/config/stack-file";
import { BACKUP_PATHS } from "../../components/model/backup";
import { planProgram } from "../../components/program";
import { backupTarget } from "../helpers/backup-target";
import { keyPair, layerParams, runLayer, writeStackFile } from "../helpers/configured-host";
import { startTestHost, type TestHost } from "../helpers/test-host";

const { values: opts } = parseArgs({ options: {
    reps: { type: "string", default: "3" }, mb: { type: "string", default: "32" }, json: { type: "boolean", default: false },
} });
const REPS = Number(opts.reps);
const MB = Number(opts.mb);
if (!Number.isInteger(REPS) || REPS < 1) throw new Error(`--reps: expected a whole number of at least 1, got ${opts.reps}`);
if (!Number.isInteger(MB) || MB < 1) throw new Error(`--mb: expected a whole number of at least 1, got ${opts.mb}`);
const log = (s: string) => process.stderr.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const DATA = "/etc/demesne/bench-data";
const RESTORED = "/etc/demesne.restored";

async function must(host: TestHost, cmd: string): Promise<string> {
    const r = await host.exec(cmd, { timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`${cmd} on ${host.name}: ${r.stderr.trim()}`);
    return r.stdout.trim();
}
async function timed(f: () => Promise<unknown>): Promise<number> {
    const t = process.hrtime.bigint();
    await f();
    return Number(process.hrtime.bigint() - t) / 1e6;
}

async function main(): Promise<void> {
    const work = mkdtempSync(path.join(tmpdir(), "demesne-bench-backup-"));
    const source = await startTestHost("bbsrc");
    const target = await startTestHost("bbtgt");
    const rows: { full: number; unchanged: number; restore: number }[] = [];
    try {
        const sftp = await backupTarget(target, work);
        const link = await sftp.link(source);
        const password = randomBytes(24).toString("hex");
        const file = writeStackFile(work, "b", [{ name: source.name, address: source.address, hostKey: source.hostKey, bootstrapUser: "admin" }], {
            observerPub: keyPair(work, "observer").pub, adminRange: source.network, extra: { "demesne:backup": { target: sftp.config(link) } },
        });
        const backupParams = { ...layerParams(file, "b", source.name)("backup"), REPOSITORY_PASSWORD: password, TARGET_CREDENTIAL: sftp.credential };
        const checksum = (dir = DATA) => must(source, `cd ${dir} && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum`);
        for (let rep = 1; rep <= REPS; rep++) {
            await must(target, `rm -rf ${sftp.repositoryDir(source.name)}`);
            await must(source, `rm -rf ${DATA} ${RESTORED} /var/lib/demesne/restore ${BACKUP_PATHS.stateDir}/cache; mkdir -p ${DATA}/small; ` +
                `head -c ${MB}M /dev/urandom > ${DATA}/large.bin; for i in $(seq 1 500); do head -c 2048 /dev/urandom > ${DATA}/small/$i; done`);
            await runLayer(source, "backup", backupParams, 300_000);
            const want = await checksum();
            const full = await timed(() => must(source, `${BACKUP_PATHS.runScript} backup`));
            const unchanged = await timed(() => must(source, `${BACKUP_PATHS.runScript} backup`));
            const snapshot = (JSON.parse(await must(source, `cat ${BACKUP_PATHS.status}`)) as { lastSuccess: { snapshot: string } }).lastSuccess.snapshot;
            await must(source, `rm -rf ${DATA}`);
            const doc = parse(readFileSync(file, "utf8")) as { config: Record<string, unknown> };
            doc.config["demesne:restores"] = [{ host: source.name, service: "etc", snapshot, requested: new Date().toISOString().replace(/\.\d+Z$/, "Z") }];
            writeFileSync(file, stringify(doc));
            const step = planProgram(loadStackFile(file), { stack: "b", project: "demesne", dryRun: true }).restores.get(source.name)![0]!;
            const restore = await timed(() => runLayer(source, "restore", { ...step.params, REPOSITORY_PASSWORD: password }, 900_000));
            // demesne's own config comes back beside the live one (docs/backups.md).
            if ((await checksum(`${RESTORED}/bench-data`)) !== want) throw new Error(`rep ${rep}: the restored data differs from what was backed up`);
            rows.push({ full, unchanged, restore });
            log(`rep ${rep}: full ${full.toFixed(0)} ms, unchanged ${unchanged.toFixed(0)} ms, restore ${restore.toFixed(0)} ms`);
        }
        await link.remove();
    } finally {
        await source.stop();
        await target.stop();
    }
    const ratio = (k: "unchanged" | "restore") => Number(median(rows.map((r) => r[k] / r.full)).toFixed(2));
    const out = { reps: REPS, mb: MB, restoreOverBackup: ratio("restore"), unchangedOverBackup: ratio("unchanged") };
    if (opts.json) {
        process.stdout.write(`${JSON.stringify(out)}\n`);
        return;
    }
    console.log(`backup and restore drill over SFTP, ${MB} MB + 500 small files, median of ${REPS} rep(s), each a fresh repository`);
    console.log(`restore (the program's restore step) ÷ full backup   ${out.restoreOverBackup.toFixed(2)}`);
    console.log(`backup with nothing changed ÷ full backup           ${out.unchangedOverBackup.toFixed(2)}`);
}

main().catch((e: unknown) => {
    log(e instanceof Error ? e.message : String(e));
    process.exit(1);
});
