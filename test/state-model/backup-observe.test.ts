// The backup probe: the status file the backup runner writes (BackupStatus, components/model/backup.ts) as facts,
// and everything else — no file, a malformed or hostile file — as "unavailable" or a failed probe with its
// reason, never a crash and never raw control characters in the store. The fixtures in test/fixtures/observe are
// BackupStatus as the type documents it (a healthy host, a host whose last run and check failed with restic's own
// error lines, a host where nothing ran yet).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { BACKUP_PATHS } from "../../components/model/backup";
import { PROBES, renderObserveScript, renderObserverSudoers } from "../../components/model/observer";
import { openFleetStore } from "../../state-model/db/open";
import { hostState } from "../../state-model/drift/drift";
import { recordObservation } from "../../state-model/observe/observe";
import { parseObserveOutput, parseProbe } from "../../state-model/observe/parse";
import { BACKUP_NO_STATUS, BACKUP_STATUS_MAX_BYTES, BACKUP_TEXT_MAX } from "../../state-model/observe/parse-backup";
import { requireTool } from "../helpers/tools";

const backupFixture = (name: string) => readFileSync(path.join(__dirname, "..", "fixtures", "observe", `backup-status.${name}.json`), "utf8");
const facts = (out: string) => parseProbe("backup", 0, out);

describe("the backup probe in the observer's catalogue", () => {
    it("reads exactly the status file as root, and sudoers lists it with that argument only", () => {
        requireTool("visudo");
        const p = PROBES.find((x) => x.id === "backup")!;
        expect(p).toMatchObject({ argv: ["/usr/bin/cat", BACKUP_PATHS.status], sudo: true, optional: true });
        const text = renderObserverSudoers();
        expect(text).toContain(`/usr/bin/cat ${BACKUP_PATHS.status}`);
        const f = path.join(mkdtempSync(path.join(tmpdir(), "demesne-sudoers-")), "observer");
        writeFileSync(f, text, { mode: 0o440 });
        expect(spawnSync("visudo", ["-cf", f], { encoding: "utf8" }).status).toBe(0);
    });

    it("the observe script names the probe, and a host without the file reports it unavailable, not failed", () => {
        const dir = mkdtempSync(path.join(tmpdir(), "demesne-observe-backup-"));
        const script = path.join(dir, "observe");
        writeFileSync(script, renderObserveScript(), { mode: 0o755 });
        // This machine has no backup layer: sudo (or, without sudo, the shell) finds no status file.
        const r = spawnSync("bash", [script], { env: { PATH: process.env.PATH, SSH_ORIGINAL_COMMAND: "probe backup" }, encoding: "utf8" });
        expect(r.status).toBe(0);
        const [res] = parseObserveOutput(r.stdout);
        expect(res).toMatchObject({ probe: "backup", status: "unavailable", facts: [] });
        expect(res!.error).toContain(BACKUP_NO_STATUS);
    });
});

describe("parsing the status file", () => {
    it("a healthy host: the last success (time, snapshot, size, files), the last run and the last check", () => {
        const r = facts(backupFixture("healthy"));
        expect(r.status).toBe("ok");
        expect(r.facts).toEqual([
            { attribute: "backup", key: "host", value: "control-1" },
            { attribute: "backup", key: "lastRun", value: { at: "2026-12-06T03:31:07.000Z", ok: true, error: null } },
            {
                attribute: "backup", key: "lastSuccess",
                value: { at: "2026-12-06T03:31:07.000Z", snapshot: "4f3c2a1be0d94c7a8f6b5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b", sizeBytes: 734003200, files: 18342 },
            },
            { attribute: "backup", key: "lastCheck", value: { at: "2026-12-06T05:42:55.000Z", ok: true, error: null } },
        ]);
        // No age: it would change every minute. Drift derives it.
        expect(JSON.stringify(r.facts)).not.toMatch(/age/i);
    });

    it("failures keep restic's error; a field that never happened is no fact", () => {
        const r = facts(backupFixture("failing"));
        expect(r.facts.find((f) => f.key === "lastRun")?.value).toEqual({ at: "2026-12-06T03:29:41.000Z", ok: false, error: "Fatal: unable to open config file: wrong password or no key found" });
        expect(r.facts.find((f) => f.key === "lastCheck")?.value).toMatchObject({ ok: false, error: "Pack ID does not match, want 1f0e, got 8c2a" });
        expect(facts(backupFixture("never")).facts.map((f) => f.key)).toEqual(["host"]);
    });

    it.each([
        ["not JSON", "{\"host\": \"x\", lastRun", /not JSON/],
        ["a list", "[]", /not a JSON object/],
        ["no host", "{\"lastRun\":null,\"lastSuccess\":null,\"lastCheck\":null}", /host is not text/],
        ["a bad time", backupFixture("healthy").replace("2026-12-06T03:31:07Z", "yesterday"), /lastRun\.at is not an ISO-8601 time/],
        ["a time without a zone", backupFixture("healthy").replace("2026-12-06T05:42:55Z", "2026-12-06T05:42:55"), /lastCheck\.at/],
        ["ok as a string", backupFixture("healthy").replace("\"ok\":true", "\"ok\":\"true\""), /lastRun\.ok is not true or false/],
        ["a snapshot id that is not hex", backupFixture("healthy").replace("4f3c2a1b", "../../et"), /snapshot is not a restic snapshot id/],
        ["a short snapshot id", backupFixture("failing").replace("9ab81c2d", "9ab81c"), /snapshot/],
        ["a negative size", backupFixture("healthy").replace("734003200", "-1"), /sizeBytes is not a whole number/],
        ["a fractional file count", backupFixture("healthy").replace("18342", "18342.5"), /files is not a whole number/],
        ["a size beyond exact integers", backupFixture("healthy").replace("734003200", "1e300"), /sizeBytes/],
        ["lastSuccess as text", "{\"host\":\"h\",\"lastRun\":null,\"lastSuccess\":\"yes\",\"lastCheck\":null}", /lastSuccess is not an object/],
        ["an error that is a number", backupFixture("failing").replace("\"Pack ID does not match, want 1f0e, got 8c2a\"", "42"), /lastCheck\.error is not text/],
    ])("a malformed status file (%s) fails the probe with the reason", (_what, text, why) => {
        const r = facts(text);
        expect(r.status).toBe("failed");
        expect(r.facts).toEqual([]);
        expect(r.error).toMatch(why);
        expect(r.error).toMatch(/^unreadable output: /);
    });

    it("JSON.parse's message, which quotes the input, is not repeated", () => {
        const r = facts("{\"host\": \"\u001b]0;pwned\u0007\", oops");
        expect(r.error).toBe("unreadable output: the status file is not JSON");
    });

    it("a huge file is refused before it is parsed", () => {
        const r = facts(`{"host":"${"a".repeat(BACKUP_STATUS_MAX_BYTES)}","lastRun":null,"lastSuccess":null,"lastCheck":null}`);
        expect(r).toMatchObject({ status: "failed", error: expect.stringMatching(/larger than 65536 bytes/) });
    });

    it("hostile text from the host is recorded without control characters and cut short", () => {
        const evil = `\u001b[2J\u001b]0;owned\u0007wrong password\r\nFAKE: all good\u202e${"x".repeat(1000)}`;
        const doc = JSON.parse(backupFixture("failing")) as { host: string; lastRun: { error: string } };
        doc.host = "ctl\u001b[31m-1\u0085";
        doc.lastRun.error = evil;
        const r = facts(JSON.stringify(doc));
        expect(r.status).toBe("ok");
        const all = JSON.stringify(r.facts.map((f) => f.value));
        expect(all).not.toMatch(/\\u001b|\\r|\\n|\\u0007/);
        expect(r.facts.map((f) => JSON.stringify(f.value)).join("")).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
        const error = (r.facts.find((f) => f.key === "lastRun")!.value as { error: string }).error;
        expect(error.length).toBe(BACKUP_TEXT_MAX);
        expect(error.startsWith("\ufffd[2J\ufffd]0;owned\ufffdwrong password\ufffd\ufffdFAKE")).toBe(true);
        expect(r.facts.find((f) => f.key === "host")!.value).toBe("ctl\ufffd[31m-1\ufffd");
    });

    it("a failed run that gives no error still says so; a passing one drops a stray error", () => {
        const doc = JSON.parse(backupFixture("failing")) as { lastRun: { error: string | null }; lastCheck: { ok: boolean } };
        doc.lastRun.error = null;
        doc.lastCheck.ok = true;
        const r = facts(JSON.stringify(doc));
        expect(r.facts.find((f) => f.key === "lastRun")!.value).toMatchObject({ ok: false, error: "(no error given)" });
        expect(r.facts.find((f) => f.key === "lastCheck")!.value).toMatchObject({ ok: true, error: null });
    });

    it("no file (cat's exit 1) is unavailable with the reason; any other exit too, never facts", () => {
        expect(parseProbe("backup", 1, "")).toMatchObject({ status: "unavailable", facts: [], error: `${BACKUP_NO_STATUS} (exit code 1)` });
    });
});

describe("recording", () => {
    it("a run replaces the backup facts whole; a failed probe leaves the last ones; no file ends them", async () => {
        const store = await openFleetStore({ stateDir: mkdtempSync(path.join(tmpdir(), "demesne-backup-store-")), databaseUrl: "" });
        try {
            const t0 = Date.parse("2026-12-06T06:00:00Z");
            const record = (code: number, out: string, at: number) =>
                recordObservation(store, { host: "h1", at, reachable: true, results: [parseProbe("backup", code, out)], outputSha256: `${at}` });
            await record(0, backupFixture("healthy"), t0);
            expect((await hostState(store, "h1")).facts.map((f) => f.key).sort()).toEqual(["host", "lastCheck", "lastRun", "lastSuccess"]);
            await record(0, "garbage", t0 + 1000);
            const failed = await hostState(store, "h1");
            expect(failed.failedProbes).toEqual(["backup"]);
            expect(failed.facts.find((f) => f.key === "lastSuccess")).toBeDefined();
            await record(0, backupFixture("never"), t0 + 2000);
            expect((await hostState(store, "h1")).facts.map((f) => f.key)).toEqual(["host"]);
            await record(1, "", t0 + 3000);
            const gone = await hostState(store, "h1");
            expect(gone.facts).toEqual([]);
            expect(gone.probes?.backup).toMatch(/^unavailable: no backup status file/);
        } finally {
            await store.close();
        }
    });
});
