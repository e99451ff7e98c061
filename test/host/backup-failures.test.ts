// Backups on real hosts (issue #18): a bookworm source host backs up over SFTP to a second test host on a
// private link. The test hosts have no systemd: the backup layer writes the units and says the timers cannot
// run there, so each test runs the unit's command (`/usr/local/lib/demesne/backup-run backup|check`) itself.
// A backup succeeds and is listed on the target; a wrong password, an unreachable target and a corrupted pack
// each fail loudly (non-zero, a message naming the cause, never the success line) and leave a status file
// that drift calls critical; neither secret ever shows in a process's argv or environment, or in any output.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKUP_PATHS } from "../../components/model/backup";
import { type BackupHosts, sh, startBackupHosts } from "../helpers/backup-hosts";
import { privateKeyNeedles, startProcSampler, stopProcSampler } from "../helpers/backup-secrecy";
import { runCommand } from "../helpers/test-host";
import { backupFindingLines } from "../helpers/backup-drift";

const NAME = "bkfail";
let b: BackupHosts;

const SUCCESS_LINE = /^backup: snapshot /m;
const CHECK_OK = /^check: .*verified/m;
/** Everything on the source's disk but the kernel's file systems and restic's cache (a re-run may refresh it). */
const fingerprint = () => sh(b.source,
    `find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path ${BACKUP_PATHS.stateDir}/cache \\) -prune -o -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum`);
const linkState = async (state: "up" | "down") => {
    const r = await runCommand("ip", ["-n", b.source.netns, "link", "set", `dml${b.source.index}a`, state]);
    if (r.code !== 0) throw new Error(`ip link set ${state}: ${r.stderr}`);
};
type Outcome = { at: string; ok: boolean; error: string | null } | null;
type Status = { host: string; lastRun: Outcome; lastSuccess: { at: string; snapshot: string } | null; lastCheck: Outcome };

/** A failed run as the operator must see it: non-zero, the cause in words, no success line, the status file saying so. */
async function expectFailure(args: string, field: "lastRun" | "lastCheck", cause: RegExp, run = (a: string) => b.runner(a)) {
    const before = (await b.status()) as Status | null;
    const r = await run(args);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stdout).not.toMatch(SUCCESS_LINE);
    expect(r.stdout).not.toMatch(CHECK_OK);
    expect(r.stderr).toMatch(cause);
    const status = (await b.status()) as Status;
    expect(status[field]?.ok).toBe(false);
    expect(status[field]?.error ?? "").toMatch(cause);
    // The last success stays what it was: a failure never reads as a newer backup.
    expect(status.lastSuccess).toEqual(before?.lastSuccess ?? null);
    const text = await sh(b.source, `cat ${BACKUP_PATHS.status}`);
    // Drift, a minute later by a clock held still: a critical finding on that field, with the cause.
    const findings = backupFindingLines(NAME, text, Date.parse(status[field]!.at) + 60_000).filter((l) => l.startsWith(`${field} `));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatch(new RegExp(`^${field} critical: .*failed`));
    expect(findings[0]).toMatch(cause);
    return { r, status };
}

beforeAll(async () => {
    b = await startBackupHosts(NAME);
}, 600_000);

afterAll(async () => {
    await b?.stop();
});

describe("backups over SFTP between two real hosts", { timeout: 300_000 }, () => {
    it("the layer creates the repository and says the timers cannot run without systemd", () => {
        expect(b.firstLayer.stdout.trim().split("\n").pop()).toBe("changed=true");
        expect(b.firstLayer.stderr).toMatch(/init: created the repository/);
        expect(b.firstLayer.stderr).toMatch(/no systemd here: the timers are written but cannot run/);
    });

    it("a backup makes a snapshot the status file and the target both know, and a layer re-run changes nothing", async () => {
        const r = await b.runner("backup");
        expect(r.code, r.stderr).toBe(0);
        const id = /^backup: snapshot ([0-9a-f]{8}), (\d+) files/m.exec(r.stdout)?.[1];
        expect(id, r.stdout).toBeDefined();
        const status = (await b.status()) as Status;
        expect(status.host).toBe(NAME);
        expect(status.lastRun?.ok).toBe(true);
        expect(status.lastSuccess?.snapshot).toBe(id);
        // Drift a minute later: nothing about the backup itself (the never-run check is the check's own finding).
        const text = await sh(b.source, `cat ${BACKUP_PATHS.status}`);
        expect(backupFindingLines(NAME, text, Date.parse(status.lastSuccess!.at) + 60_000).filter((l) => !l.startsWith("lastCheck "))).toEqual([]);

        // On the target itself, with the password given to restic there (the target never holds it otherwise).
        await b.target.writeFile("/root/repository-password", b.password, 0o600);
        const listed = await sh(b.target, `restic -r ${b.repoDir} --password-file /root/repository-password --no-lock --no-cache snapshots --json`);
        const snaps = JSON.parse(listed) as { short_id: string; hostname: string; tags: string[]; paths: string[] }[];
        const snap = snaps.find((s) => s.short_id === id);
        expect(snap, listed).toBeDefined();
        expect(snap!.hostname).toBe(NAME);
        expect(snap!.tags).toEqual(["demesne"]);
        expect(snap!.paths).toContain("/etc/demesne");
        const files = await sh(b.target, `restic -r ${b.repoDir} --password-file /root/repository-password --no-lock --no-cache ls ${id}`);
        expect(files).toContain("/etc/demesne/app/greeting");
        // The secrets' own directory is excluded: the repository never holds its own password or key.
        expect(files).not.toContain(BACKUP_PATHS.dir);

        const before = await fingerprint();
        const again = await b.runBackupLayer();
        expect(again.code, again.stderr).toBe(0);
        expect(again.stdout.trim().split("\n").pop()).toBe("changed=false");
        expect(await fingerprint()).toBe(before);
    });

    it("neither secret appears in any process's argv or environment, the layer's output, the status file or the runner's files", async () => {
        await startProcSampler(b.source);
        let samples: string;
        let layer, run;
        try {
            layer = await b.runBackupLayer();
            run = await b.runner("backup");
        } finally {
            samples = await stopProcSampler(b.source);
        }
        expect(layer.code, layer.stderr).toBe(0);
        expect(run.code, run.stderr).toBe(0);
        // The sampler saw the run: restic and the ssh it starts for the sftp session.
        expect(samples).toMatch(/restic\0-o\0sftp\.command=ssh -F/);
        expect(samples).toMatch(/RESTIC_REPOSITORY=sftp:/);
        const needles = [b.password, ...privateKeyNeedles(b.privateKey)];
        expect(needles.length).toBeGreaterThan(2);
        const state = await sh(b.source, `find ${BACKUP_PATHS.stateDir} /var/log /tmp /root -xdev -type f ! -path '${BACKUP_PATHS.stateDir}/cache/*' ! -name proc-samples -print0 | xargs -0 cat`);
        for (const needle of needles) {
            expect(samples.includes(needle), "a process's argv or environment held a secret").toBe(false);
            for (const out of [layer.stdout, layer.stderr, run.stdout, run.stderr, b.firstLayer.stdout, b.firstLayer.stderr]) {
                expect(out.includes(needle), "the layer's or runner's output held a secret").toBe(false);
            }
            expect(state.includes(needle), "a file the runner writes held a secret").toBe(false);
        }
        // Where the secrets do live: root-only files.
        expect(await sh(b.source, `stat -c '%a %U' ${BACKUP_PATHS.password} ${BACKUP_PATHS.credential}`)).toBe("600 root\n600 root");
    });

    it("a wrong repository password fails the layer (which keeps the working one) and the backup, by name", async () => {
        // The layer refuses a password that does not open the repository and puts back the files it staged.
        const wrong = await b.runBackupLayer({ ...b.params, REPOSITORY_PASSWORD: `${b.password}-wrong` });
        expect(wrong.code).not.toBe(0);
        expect(wrong.stderr).toMatch(/wrong password/);
        expect(await sh(b.source, `cat ${BACKUP_PATHS.password}`)).toBe(b.password);

        // A password file that no longer opens the repository (edited by hand, or the repository re-keyed elsewhere).
        await b.source.writeFile(BACKUP_PATHS.password, `${b.password}-wrong`, 0o600);
        try {
            await expectFailure("backup", "lastRun", /wrong password/);
        } finally {
            const fixed = await b.runBackupLayer();
            expect(fixed.code, fixed.stderr).toBe(0);
            expect(fixed.stdout.trim().split("\n").pop()).toBe("changed=true");
        }
    });

    it("an unreachable target fails the backup, by name", async () => {
        await linkState("down");
        try {
            // restic's own last line says only "unable to start the sftp session, error: EOF": ssh's line names the cause.
            await expectFailure("backup", "lastRun", /connect to host .* Network is unreachable/);
        } finally {
            await linkState("up");
        }
        const r = await b.runner("backup");
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(SUCCESS_LINE);
    });

    it("when restic loses ssh's line in its exit race, the runner asks ssh itself and still names the cause", async () => {
        // restic relays ssh's stderr from a goroutine; exiting first, it once printed only this in CI.
        // A stand-in restic prints exactly that and nothing of ssh's, so only the runner's own ssh can name the cause.
        const dir = await sh(b.source, "mktemp -d");
        await b.source.writeFile(`${dir}/restic`, [
            "#!/bin/sh",
            "echo 'Fatal: unable to open repository at sftp:demesne-backup-target:/srv/restic/x: unable to start the sftp session, error: read |0: file already closed' >&2",
            "exit 1", ""].join("\n"), 0o755);
        const lostLine = (args: string) => b.source.exec(`PATH=${dir}:$PATH ${BACKUP_PATHS.runScript} ${args}`, { timeoutMs: 60_000 });
        try {
            await linkState("down");
            try {
                const { status } = await expectFailure("backup", "lastRun",
                    /file already closed \(subprocess ssh: .*connect to host .* Network is unreachable\)/, lostLine);
                expect(status.lastRun?.error).not.toMatch(/[\x00-\x1f]/);
            } finally {
                await linkState("up");
            }
            // Reachable again, the stand-in still fails; ssh now connects, so the runner adds no cause of its own.
            const reachable = await lostLine("backup");
            expect(reachable.code).not.toBe(0);
            expect(reachable.stderr).toMatch(/file already closed$/m);
            expect(reachable.stderr).not.toMatch(/subprocess ssh:/);
        } finally {
            await sh(b.source, `rm -rf ${dir}`);
        }
        const r = await b.runner("backup");
        expect(r.code, r.stderr).toBe(0);
    });

    it("a corrupted pack fails the check, by name", async () => {
        const ok = await b.runner("check");
        expect(ok.code, ok.stderr).toBe(0);
        expect(ok.stdout).toMatch(CHECK_OK);

        // Bytes in the middle of one pack overwritten, its size unchanged: silent rot on the target's disk.
        // The largest pack holds file contents, which only a read-back (--read-data) verifies; a tree pack would
        // already fail restic's plain check.
        const pack = await sh(b.target, `find ${b.repoDir}/data -type f -printf '%s %p\\n' | sort -n | tail -n 1 | cut -d' ' -f2`);
        expect(pack).not.toBe("");
        const size = await sh(b.target, `stat -c %s ${pack}`);
        await sh(b.target, `dd if=/dev/urandom of=${pack} bs=1 seek=$(( ${size} / 2 )) count=32 conv=notrunc status=none`);
        expect(await sh(b.target, `stat -c %s ${pack}`)).toBe(size);
        // "Fatal: repository contains errors" alone does not say what: the pack that no longer matches its id does.
        await expectFailure("check", "lastCheck", /Pack ID does not match/);
    });
});
