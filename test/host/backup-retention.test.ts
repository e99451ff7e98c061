// The retention policy (BACKUP_RETENTION) as the runner applies it on a real host: snapshots are made at chosen
// past times with restic's --time, then `backup-run backup` (the unit's command: the bookworm test hosts have
// no systemd to run its timer) makes today's snapshot and runs its own `restic forget … --prune`; exactly the
// snapshots the policy names must remain. The expected set is computed here from the policy's definition:
// the newest snapshot of each of the last N days, ISO weeks and months that have snapshots, counted from the
// newest snapshot (not from now, as restic does). For speed the runner's repository is switched to a local
// directory on the source host after the backup layer set it up over SFTP: retention is restic's forget,
// the same whatever the transport.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKUP_LONGEST_KEPT_DAYS, BACKUP_PATHS, BACKUP_RETENTION } from "../../components/model/backup";
import { type BackupHosts, sh, startBackupHosts } from "../helpers/backup-hosts";

const NAME = "bkret";
const LOCAL_REPO = "/srv/local-repo";
const DAY = 86_400_000;
let b: BackupHosts;

interface Snap { id: string; time: number }

const pad = (n: number) => String(n).padStart(2, "0");
const dayKey = (t: number) => new Date(t).toISOString().slice(0, 10);
const monthKey = (t: number) => new Date(t).toISOString().slice(0, 7);
/** ISO 8601 week (UTC): the week's Thursday decides its year. */
function isoWeekKey(t: number): string {
    const d = new Date(t);
    const thursday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) + (3 - ((d.getUTCDay() + 6) % 7)) * DAY;
    const year = new Date(thursday).getUTCFullYear();
    return `${year}-W${pad(Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * DAY)) + 1)}`;
}

/** The policy's definition: for each rule, the newest snapshot of each of its N newest buckets holding snapshots. */
function keptByPolicy(snaps: Snap[]): Set<string> {
    const newestFirst = [...snaps].sort((x, y) => y.time - x.time);
    const kept = new Set<string>();
    const rules: [number, (t: number) => string][] = [
        [BACKUP_RETENTION.daily, dayKey], [BACKUP_RETENTION.weekly, isoWeekKey], [BACKUP_RETENTION.monthly, monthKey],
    ];
    for (const [n, bucket] of rules) {
        const seen = new Set<string>();
        for (const s of newestFirst) {
            const k = bucket(s.time);
            if (seen.has(k)) continue;
            if (seen.size === n) break;
            seen.add(k);
            kept.add(s.id);
        }
    }
    return kept;
}

/** restic's --time format, in the host's zone (UTC, checked in beforeAll). */
const resticTime = (t: number) => new Date(t).toISOString().slice(0, 19).replace("T", " ");

async function snapshots(): Promise<Snap[]> {
    const out = await sh(b.source, `${BACKUP_PATHS.runScript} restic snapshots --json --no-lock`);
    return (JSON.parse(out) as { id: string; time: string }[]).map((s) => ({ id: s.id, time: Date.parse(s.time) }));
}

/** A fresh repository holding one tiny snapshot at each time, tagged and named as the runner's own. */
async function seed(times: number[]) {
    await sh(b.source, `rm -rf ${LOCAL_REPO}/${NAME} && ${BACKUP_PATHS.runScript} init`);
    const r = await b.source.exec(
        `while IFS= read -r t; do ${BACKUP_PATHS.runScript} restic backup --quiet --time "$t" --host ${NAME} --tag demesne /root/tiny > /dev/null || exit 1; done`,
        { input: `${times.map(resticTime).join("\n")}\n`, timeoutMs: 600_000 },
    );
    if (r.code !== 0) throw new Error(`seeding snapshots: ${r.stderr}`);
}

/** Seeds the series, runs the runner's backup (today's snapshot, then its retention) and compares with the policy. */
async function retentionKeepsThePolicysSet(times: number[]) {
    await seed(times);
    const seeded = await snapshots();
    expect(seeded).toHaveLength(times.length);
    const run = await b.runner("backup", 300_000);
    expect(run.code, run.stderr).toBe(0);
    const today = /^backup: snapshot ([0-9a-f]{8}),/m.exec(run.stdout)?.[1];
    expect(today, run.stdout).toBeDefined();
    const after = await snapshots();
    const todays = after.find((s) => s.id.startsWith(today!));
    expect(todays, "today's snapshot is kept").toBeDefined();
    const expected = keptByPolicy([...seeded, todays!]);
    expect(new Set(after.map((s) => s.id))).toEqual(expected);
    return after;
}

beforeAll(async () => {
    b = await startBackupHosts(NAME);
    // The runner's repository, moved to a local directory (see the header); its password and settings stay the layer's.
    await sh(b.source, [
        `install -d -m 700 ${LOCAL_REPO} /root/tiny`, "printf 'tiny\\n' > /root/tiny/file",
        `sed -i 's|^REPOSITORY=.*|REPOSITORY=${LOCAL_REPO}/${NAME}|' ${BACKUP_PATHS.dir}/backup.conf`,
    ].join(" && "));
    expect(await sh(b.source, "date +%Z")).toBe("UTC");
}, 600_000);

afterAll(async () => {
    await b?.stop();
});

describe("the runner's retention on a real repository", { timeout: 900_000 }, () => {
    it("one snapshot a day for 200 days: exactly the policy's daily, weekly and monthly snapshots remain", async () => {
        const end = Math.floor(Date.now() / DAY) * DAY - DAY + 12 * 3_600_000; // yesterday, 12:00 UTC
        const times = Array.from({ length: 200 }, (_, i) => end - i * DAY);
        const after = await retentionKeepsThePolicysSet(times);
        // Seven days, four weeks, six months, some shared: never more than their sum; one kept per month of the last six.
        expect(after.length).toBeLessThanOrEqual(BACKUP_RETENTION.daily + BACKUP_RETENTION.weekly + BACKUP_RETENTION.monthly);
        expect(new Set(after.map((s) => monthKey(s.time))).size).toBe(BACKUP_RETENTION.monthly);
        const span = (Math.max(...after.map((s) => s.time)) - Math.min(...after.map((s) => s.time))) / DAY;
        // The erasure bound the policy states: nothing older survives.
        expect(span).toBeLessThanOrEqual(BACKUP_LONGEST_KEPT_DAYS);
    });

    it("random series (several a day, gaps of weeks, bursts across month ends): the policy's set remains", async () => {
        const now = Math.floor(Date.now() / 1000) * 1000;
        const series = fc.uniqueArray(fc.integer({ min: 60, max: 400 * 24 * 60 }), { minLength: 1, maxLength: 30 })
            .map((minutesAgo) => minutesAgo.map((m) => now - m * 60_000));
        await fc.assert(fc.asyncProperty(series, async (times) => { await retentionKeepsThePolicysSet(times); }), { numRuns: 3, endOnFailure: true });
    });
});
