// `demesne backup status` and `demesne restore`, run as the real command. Status reads what the last observation
// recorded and judges it with drift's own rule (a table for people, JSON for machines, exit 1 when critical).
// Restore only edits the stack file — one entry of demesne:restores, comments and order kept — and refuses a
// second pending restore of the same source, a malformed snapshot id and a source the host does not back up.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseDocument } from "yaml";
import { loadStackFile } from "../../components/config/stack-file";
import { BACKUP_MAX_AGE_HOURS } from "../../components/model/backup";
import { layerTargets } from "../../state-model/apply/layer-targets";
import { openFleetStore } from "../../state-model/db/open";
import { recordObservation } from "../../state-model/observe/observe";
import { parseProbe, type ProbeResult } from "../../state-model/observe/parse";
import { demesne } from "../helpers/demesne-cli";
import { REPO } from "../helpers/stack";

const work = mkdtempSync(path.join(tmpdir(), "demesne-backup-cli-"));
const env = { DEMESNE_STATE_DIR: path.join(work, "state"), DATABASE_URL: "", DEMESNE_ACTOR: "backup-test" };
const cli = (...args: string[]) => demesne(args, env, undefined, work);
const stackFile = (name: string) => path.join(work, `Pulumi.${name}.yaml`);
const HOUR = 3_600_000;

/** The control stack with a backup target (the `t` stack), and without one (`nobackup`). */
function writeStacks(): void {
    const text = readFileSync(path.join(REPO, "Pulumi.control.yaml"), "utf8");
    writeFileSync(stackFile("nobackup"), text);
    const doc = parseDocument(text);
    doc.setIn(["config", "demesne:backup"], doc.createNode({
        target: { kind: "s3", endpoint: "https://s3.gra.io.cloud.ovh.net", bucket: "demesne-backups", accessKeyId: "AKIAEXAMPLE123" },
    }));
    writeFileSync(stackFile("t"), `${doc.toString()}# the operator's own note, kept by demesne restore\n`);
}

/** One observation of control-1 with these backup probe results, at `at`. */
async function observeBackup(result: ProbeResult, at = Date.now()): Promise<void> {
    const store = await openFleetStore({ stateDir: env.DEMESNE_STATE_DIR, databaseUrl: "" });
    try {
        await recordObservation(store, { host: "control-1", at, reachable: true, results: [result], outputSha256: `${at}-${Math.random()}` });
    } finally {
        await store.close();
    }
}

const status = (d: Record<string, unknown>) => parseProbe("backup", 0, JSON.stringify(d));
const iso = (ms: number) => new Date(ms).toISOString();
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

beforeAll(writeStacks);
afterAll(() => undefined);

describe("demesne backup status", { timeout: 180_000 }, () => {
    it("a healthy host: a table with the last success, its age, snapshot, size and check, verdict ok, exit 0", async () => {
        const now = Date.now();
        await observeBackup(status({
            host: "control-1",
            lastRun: { at: iso(now - 2 * HOUR), ok: true, error: null },
            lastSuccess: { at: iso(now - 2 * HOUR), snapshot: "4f3c2a1be0d94c7a", sizeBytes: 734003200, files: 18342 },
            lastCheck: { at: iso(now - 30 * HOUR), ok: true, error: null },
        }));
        const r = cli("backup", "status", "--stack", "t");
        expect(r.code, r.stderr + r.stdout).toBe(0);
        const lines = r.stdout.split("\n");
        expect(lines[1]).toMatch(/^host\s+verdict\s+last success\s+age\s+snapshot\s+size\s+files\s+last run\s+last check$/);
        expect(lines[3]).toMatch(/^control-1\s+ok\s+\S+Z\s+2h\s+4f3c2a1b\s+700\.0 MiB\s+18342\s+ok \S+Z\s+ok \S+Z$/);
        expect(r.stdout).not.toContain("[critical]");
        // A stack without the backup layer is not judged.
        const none = cli("backup", "status", "--stack", "nobackup", "--json");
        expect(none.code, none.stderr).toBe(0);
        expect(JSON.parse(none.stdout).hosts[0]).toMatchObject({ host: "control-1", backupLayer: false, verdict: "none", problems: [] });
    });

    it("a stale backup and a failed check: critical with each reason and what to do, exit 1; --json has the same verdict", async () => {
        const now = Date.now();
        await observeBackup(status({
            host: "control-1",
            lastRun: { at: iso(now - 3 * HOUR), ok: false, error: "Fatal: unable to open config file: wrong password or no key found" },
            lastSuccess: { at: iso(now - (BACKUP_MAX_AGE_HOURS + 4) * HOUR), snapshot: "9ab81c2d", sizeBytes: 1536, files: 3 },
            lastCheck: { at: iso(now - HOUR), ok: false, error: "Pack ID does not match" },
        }));
        const r = cli("backup", "status", "--stack", "t");
        expect(r.code, r.stderr).toBe(1);
        expect(r.stdout).toMatch(/control-1\s+critical\s+\S+\s+30h\s+9ab81c2d\s+1\.5 KiB\s+3\s+FAILED/);
        expect(r.stdout).toContain(`[critical] control-1 backup lastSuccess: the newest successful backup (snapshot 9ab81c2d`);
        expect(r.stdout).toContain("[critical] control-1 backup lastRun: the last backup run");
        expect(r.stdout).toContain("wrong password or no key found");
        expect(r.stdout).toContain("  do: on control-1: sudo systemctl start demesne-backup.service");
        const j = cli("backup", "status", "--stack", "t", "--json");
        expect(j.code).toBe(1);
        const doc = JSON.parse(j.stdout) as { limits: { maxAgeHours: number }; hosts: { verdict: string; ageHours: number; lastSuccess: { snapshot: string }; problems: { key: string }[] }[] };
        expect(doc.limits.maxAgeHours).toBe(BACKUP_MAX_AGE_HOURS);
        expect(doc.hosts[0]).toMatchObject({ verdict: "critical", lastSuccess: { snapshot: "9ab81c2d", sizeBytes: 1536, files: 3 } });
        expect(doc.hosts[0]!.ageHours).toBeGreaterThanOrEqual(30);
        expect(doc.hosts[0]!.problems.map((p) => p.key)).toEqual(["lastSuccess", "lastRun", "lastCheck"]);
    });

    it("no status file on a host with the backup layer is critical", async () => {
        await observeBackup(parseProbe("backup", 1, ""));
        const r = cli("backup", "status", "--stack", "t", "--json");
        expect(r.code).toBe(1);
        expect(JSON.parse(r.stdout).hosts[0]).toMatchObject({ verdict: "critical", lastSuccess: null, probe: expect.stringMatching(/^unavailable: no backup status file/) });
    });

    it("text in the store is never printed raw: control characters come out escaped, in the table and in JSON", async () => {
        const now = Date.now();
        // As an older parser (or a forged batch) might have stored it: raw ESC, CR and a bidi override.
        await observeBackup({
            probe: "backup", status: "ok", exitCode: 0, facts: [
                { attribute: "backup", key: "lastRun", value: { at: iso(now - HOUR), ok: false, error: "\u001b[2J\rall good\u202e" } },
                { attribute: "backup", key: "lastSuccess", value: { at: iso(now - HOUR), snapshot: "abcdef12\u001b]0;x\u0007", sizeBytes: 1, files: 1 } },
            ],
        });
        const r = cli("backup", "status", "--stack", "t");
        expect(r.code).toBe(1);
        expect(r.stdout).not.toMatch(RAW_CONTROL);
        expect(r.stdout).toContain("\\e[2J\\rall good\\u202e");
        const j = cli("backup", "status", "--stack", "t", "--json");
        expect(j.stdout).not.toMatch(RAW_CONTROL);
        expect(JSON.parse(j.stdout).hosts[0].lastRun.error).toBe("\u001b[2J\rall good\u202e");
    });

    it("refuses other subcommands and flags", () => {
        expect(cli("backup", "list", "--stack", "t").code).toBe(2);
        expect(cli("backup", "status", "--stack", "t", "--host", "control-1").code).toBe(2);
    });
});

describe("demesne restore", { timeout: 180_000 }, () => {
    const restores = (name = "t") => (parse(readFileSync(stackFile(name), "utf8")) as { config: Record<string, unknown> }).config["demesne:restores"];

    it("adds one entry to demesne:restores, keeps every comment and the order, and prints plan, approve and apply", () => {
        const before = readFileSync(stackFile("t"), "utf8");
        const r = cli("restore", "--stack", "t", "--host", "control-1", "--service", "gateway", "--snapshot", "9AB81C2D");
        expect(r.code, r.stderr).toBe(0);
        const after = readFileSync(stackFile("t"), "utf8");
        expect(restores()).toEqual([{ host: "control-1", service: "gateway", snapshot: "9ab81c2d", requested: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/) }]);
        // Everything that was there is still there, in its order: the entry is the only addition.
        const added = after.split("\n").filter((l) => !before.split("\n").includes(l));
        expect(added.join("\n")).toMatch(/^\s*demesne:restores:\n\s*- host: control-1\n\s*service: gateway\n\s*snapshot: 9ab81c2d\n\s*requested: \S+Z$/);
        expect(before.split("\n").filter((l) => !after.split("\n").includes(l))).toEqual([]);
        expect(after).toContain("# the operator's own note, kept by demesne restore");
        expect(r.stdout).toContain("Nothing has run yet");
        expect(r.stdout).toContain("demesne plan --stack t --layer control-1/restore-gateway");
        expect(r.stdout).toContain("demesne approve <plan-sha256> --actor NAME --stack t --token T3-");
        expect(r.stdout).toContain("demesne apply <plan-sha256> --stack t");
        // The --layer it prints is one `demesne plan` accepts: the restore step and its host.
        const scope = layerTargets(loadStackFile(stackFile("t")), "t", ["control-1/restore-gateway"]);
        expect(scope.steps).toEqual([expect.stringMatching(/::control-1-restore-gateway$/)]);
    });

    it("refuses a second pending restore of the same source on the host, and leaves the file as it was", () => {
        const before = readFileSync(stackFile("t"), "utf8");
        const r = cli("restore", "--stack", "t", "--host", "control-1", "--service", "gateway", "--snapshot", "4f3c2a1be0d94c7a");
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("a restore of gateway on control-1 is already pending (snapshot 9ab81c2d)");
        expect(readFileSync(stackFile("t"), "utf8")).toBe(before);
    });

    it("another source is a second entry; --from-host names the lost host", () => {
        const r = cli("restore", "--stack", "t", "--host", "control-1", "--service", "etc", "--snapshot", "4f3c2a1be0d94c7a", "--from-host", "control-0", "--json");
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout).next[0]).toBe("demesne plan --stack t --layer control-1/restore-etc");
        expect(restores()).toEqual([
            { host: "control-1", service: "gateway", snapshot: "9ab81c2d", requested: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/) },
            { host: "control-1", service: "etc", snapshot: "4f3c2a1be0d94c7a", fromHost: "control-0", requested: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/) },
        ]);
    });

    it.each([
        [["--snapshot", "xyz12345"], /--snapshot xyz12345: expected a restic snapshot id/],
        [["--snapshot", "abc1234"], /expected a restic snapshot id/],
        [["--snapshot", "a".repeat(65)], /expected a restic snapshot id/],
        [["--snapshot", "9ab81c2d;rm -rf /"], /expected a restic snapshot id/],
        [["--service", "nosuch"], /--service nosuch: control-1 backs up no such source \(its sources: gateway, chat, coolify, coolify-db, etc\)/],
        [["--host", "control-9"], /--host control-9: not a host of stack t/],
        [["--from-host", "../x"], /--from-host \.\.\/x: not a host name/],
    ])("refuses %j before writing anything", (flags, why) => {
        const before = readFileSync(stackFile("t"), "utf8");
        const base: Record<string, string> = { "--host": "control-1", "--service": "chat", "--snapshot": "4f3c2a1b" };
        for (let i = 0; i < flags.length; i += 2) base[flags[i]!] = flags[i + 1]!;
        const r = cli("restore", "--stack", "t", ...Object.entries(base).flat());
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(why);
        expect(readFileSync(stackFile("t"), "utf8")).toBe(before);
    });

    it("a stack without demesne:backup has nothing to restore from", () => {
        const r = cli("restore", "--stack", "nobackup", "--host", "control-1", "--service", "etc", "--snapshot", "4f3c2a1b");
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("has no demesne:backup");
        expect(restores("nobackup")).toBeUndefined();
    });
});
