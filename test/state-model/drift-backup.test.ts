// The backup rule with a clock held still: a host whose desired state includes the backup layer gets a critical
// finding, with what to do, when no success is recorded, the newest is older than BACKUP_MAX_AGE_HOURS, the last
// run failed, the last check failed, is older than BACKUP_CHECK_MAX_AGE_DAYS or never ran, or the status cannot
// be read. The limits are exact: at the limit is fine, a millisecond past it is not.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../components/config/load";
import { BACKUP_CHECK_MAX_AGE_DAYS, BACKUP_MAX_AGE_HOURS, BACKUP_SECRETS, BACKUP_UNITS } from "../../components/model/backup";
import { backupVerdict, RESTORE_RUNBOOK } from "../../state-model/drift/backup";
import { desiredFromConfig, type DesiredState } from "../../state-model/drift/desired";
import { computeDrift, type HostState } from "../../state-model/drift/drift";
import { parseIgnoreRules } from "../../state-model/drift/ignore";
import { parseProbe } from "../../state-model/observe/parse";
import { controlStack, sourceOf } from "../helpers/stack";

const fixture = (name: string) => readFileSync(path.join(__dirname, "..", "fixtures", "observe", `backup-status.${name}.json`), "utf8");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// The healthy fixture's times.
const SUCCESS = Date.parse("2026-12-06T03:31:07Z");
const CHECK = Date.parse("2026-12-06T05:42:55Z");

/** A host as drift reads it from the store after one observation of the backup probe. */
function hostOf(code: number, out: string, host = "h1"): HostState {
    const r = parseProbe("backup", code, out);
    return {
        host, reachable: true, failedProbes: r.status === "failed" ? ["backup"] : [],
        probes: { backup: r.error ? `${r.status}: ${r.error}` : r.status }, facts: r.facts,
    };
}
const verdict = (h: HostState, now: number) => backupVerdict({ host: h.host, facts: h.facts, probes: h.probes ?? {} }, now);
const keys = (h: HostState, now: number) => verdict(h, now).problems.map((p) => `${p.key}:${p.change}`);
const withStatus = (edit: (d: Record<string, unknown>) => void) => {
    const d = JSON.parse(fixture("healthy")) as Record<string, unknown>;
    edit(d);
    return hostOf(0, JSON.stringify(d));
};

describe("the backup verdict at a fixed time", () => {
    const healthy = hostOf(0, fixture("healthy"));

    it("ok up to the limit, critical a millisecond past it, with the snapshot and the age", () => {
        const limit = SUCCESS + BACKUP_MAX_AGE_HOURS * HOUR;
        expect(verdict(healthy, limit)).toMatchObject({ verdict: "ok", problems: [], ageHours: BACKUP_MAX_AGE_HOURS });
        const late = verdict(healthy, limit + 1);
        expect(late.verdict).toBe("critical");
        expect(late.problems).toHaveLength(1);
        expect(late.problems[0]).toMatchObject({ key: "lastSuccess", change: "changed" });
        expect(late.problems[0]!.why).toContain("snapshot 4f3c2a1be0d9");
        expect(late.problems[0]!.why).toContain(`the policy allows ${BACKUP_MAX_AGE_HOURS}h`);
        expect(late.problems[0]!.converge).toBe(`on h1: sudo systemctl start ${BACKUP_UNITS.backup}.service, and read journalctl -u ${BACKUP_UNITS.backup}.service if it fails; then demesne observe`);
    });

    it("the check: ok up to BACKUP_CHECK_MAX_AGE_DAYS, critical past it (a fresh backup does not excuse an old check)", () => {
        const limit = CHECK + BACKUP_CHECK_MAX_AGE_DAYS * DAY;
        const fresh = withStatus((d) => {
            (d.lastSuccess as { at: string }).at = new Date(limit).toISOString();
        });
        expect(verdict(fresh, limit)).toMatchObject({ verdict: "ok", checkAgeDays: BACKUP_CHECK_MAX_AGE_DAYS });
        expect(keys(fresh, limit + 1)).toEqual(["lastCheck:changed"]);
        expect(verdict(fresh, limit + 1).problems[0]!.converge).toContain(`sudo systemctl start ${BACKUP_UNITS.check}.service`);
        expect(verdict(fresh, limit + 1).problems[0]!.converge).toContain(RESTORE_RUNBOOK);
    });

    it("a failed run and a failed check, each with restic's error, even while the last success is recent", () => {
        const h = hostOf(0, fixture("failing"));
        const now = Date.parse("2026-12-06T06:00:00Z");
        const v = verdict(h, now);
        expect(v.verdict).toBe("critical");
        expect(v.problems.map((p) => p.key)).toEqual(["lastSuccess", "lastRun", "lastCheck"]);
        expect(v.problems[1]!.why).toBe("the last backup run (2026-12-06T03:29:41.000Z) failed: Fatal: unable to open config file: wrong password or no key found");
        expect(v.problems[2]!.why).toContain("failed: Pack ID does not match");
        // The last success (2026-12-04T03:27:12Z) is 50.5h old here.
        expect(v.ageHours).toBe(50.5);
    });

    it("nothing recorded: no success and no check", () => {
        expect(keys(hostOf(0, fixture("never")), SUCCESS)).toEqual(["lastSuccess:missing", "lastCheck:missing"]);
    });

    it("no status file, an unreadable one, or a probe that never ran: one finding about the status, nothing else claimed", () => {
        const none = verdict(hostOf(1, ""), SUCCESS);
        expect(none.problems.map((p) => `${p.key}:${p.change}`)).toEqual(["status:missing"]);
        expect(none.problems[0]!.why).toMatch(/^no backup is recorded: no backup status file on the host/);
        expect(none.problems[0]!.converge).toContain("demesne plan --layer h1/backup");
        const bad = verdict(hostOf(0, "{oops"), SUCCESS);
        expect(bad.problems.map((p) => `${p.key}:${p.change}`)).toEqual(["status:unobservable"]);
        expect(bad.problems[0]!.why).toContain("the status file is not JSON");
        const never = backupVerdict({ host: "h1", facts: [], probes: {} }, SUCCESS);
        expect(never.problems.map((p) => `${p.key}:${p.change}`)).toEqual(["status:unobservable"]);
        expect(never.problems[0]!.why).toMatch(/never run/);
    });

    it("a time in the future cannot keep a backup young forever: critical, saying the clock or the file is wrong", () => {
        const forged = withStatus((d) => {
            (d.lastSuccess as { at: string }).at = "9999-01-01T00:00:00Z";
            (d.lastCheck as { at: string }).at = "9999-01-01T00:00:00Z";
        });
        const v = verdict(forged, SUCCESS + HOUR);
        expect(v.problems.map((p) => p.key)).toEqual(["lastSuccess", "lastCheck"]);
        expect(v.problems.every((p) => /in the future/.test(p.why))).toBe(true);
        // An hour of clock skew is tolerated.
        const skewed = withStatus((d) => {
            (d.lastSuccess as { at: string }).at = new Date(CHECK + HOUR).toISOString();
        });
        expect(verdict(skewed, CHECK)).toMatchObject({ verdict: "ok" });
    });
});

const desiredWith = (backup: boolean): DesiredState => ({ source: "desired:t", hosts: new Map([["h1", { expected: [], complete: [], backup }]]) });

describe("drift", () => {
    it("reports each problem as a critical finding on a host with the backup layer, with its remedy, at the time given", () => {
        const h = hostOf(0, fixture("failing"));
        const r = computeDrift(desiredWith(true), [h], [], { stack: "t" }, Date.parse("2026-12-06T06:00:00Z"));
        expect(r.findings.map((f) => [f.attribute, f.key, f.change, f.severity])).toEqual([
            ["backup", "lastCheck", "changed", "critical"], ["backup", "lastRun", "changed", "critical"], ["backup", "lastSuccess", "changed", "critical"],
        ]);
        for (const f of r.findings) {
            expect(f.converge).toMatch(/^on h1: sudo systemctl start demesne-backup/);
            expect(f.tier).toBeNull();
        }
        // The same host a day earlier (the last success 2.5h old, the run and check failing still) has two.
        const earlier = computeDrift(desiredWith(true), [h], [], { stack: "t" }, Date.parse("2026-12-04T06:00:00Z"));
        expect(earlier.findings.map((f) => f.key)).toEqual(["lastCheck", "lastRun"]);
    });

    it("a healthy host has none, and a host without the backup layer is not held to it", () => {
        const now = CHECK + HOUR;
        expect(computeDrift(desiredWith(true), [hostOf(0, fixture("healthy"))], [], {}, now).findings).toEqual([]);
        expect(computeDrift(desiredWith(false), [hostOf(1, "")], [], {}, now).findings).toEqual([]);
        expect(computeDrift(desiredWith(false), [hostOf(0, fixture("never"))], [], {}, now).findings).toEqual([]);
    });

    it("a host with the layer and no status file gets the critical finding; a malformed file adds it to the failed probe", () => {
        const none = computeDrift(desiredWith(true), [hostOf(1, "")], [], {}, SUCCESS);
        expect(none.findings.map((f) => [f.attribute, f.key, f.severity])).toEqual([["backup", "status", "critical"]]);
        const bad = computeDrift(desiredWith(true), [hostOf(0, "[]")], [], {}, SUCCESS);
        expect(bad.findings.map((f) => [f.attribute, f.key, f.severity])).toEqual([["backup", "status", "critical"], ["probe", "backup", "medium"]]);
    });

    it("an ignore rule can accept it on a host that is known to be without backups for now", () => {
        const rules = parseIgnoreRules("ignore:\n  - { host: h1, attribute: backup, reason: the host is being rebuilt; backups resume on the new one }\n", "test");
        const r = computeDrift(desiredWith(true), [hostOf(0, fixture("never"))], rules, {}, SUCCESS);
        expect(r.findings).toEqual([]);
        expect(r.summary.ignored).toBe(2);
    });
});

describe("the desired state", () => {
    it("holds a host to the backup rule exactly when the stack gives it the backup layer", () => {
        const stack = controlStack();
        expect(desiredFromConfig(loadConfig(sourceOf(stack), { dryRun: true }), "control").hosts.get("control-1")?.backup).toBe(false);
        stack.values.backup = { target: { kind: "s3", endpoint: "https://s3.gra.io.cloud.ovh.net", bucket: "demesne-backups", accessKeyId: "AKIAEXAMPLE123" } };
        (stack.values.secrets as Record<string, string>)[BACKUP_SECRETS.password] = "a-repository-password-long-enough";
        (stack.values.secrets as Record<string, string>)[BACKUP_SECRETS.credential] = "an-s3-secret-access-key";
        expect(desiredFromConfig(loadConfig(sourceOf(stack), { dryRun: true }), "control").hosts.get("control-1")?.backup).toBe(true);
    });
});
