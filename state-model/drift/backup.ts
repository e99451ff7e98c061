// The backup rule: one host's backup status (the backup probe's facts) against components/model/backup.ts's
// limits, at a given moment. `demesne drift` reports each problem as a critical finding on a host whose desired
// state includes the backup layer, and `demesne backup status` prints the same verdict: one home for the rule.
// Ages are computed here from `now` (a parameter, so a test holds the clock still), never stored.
import { BACKUP_CHECK_MAX_AGE_DAYS, BACKUP_MAX_AGE_HOURS, BACKUP_PATHS, BACKUP_UNITS, type BackupStatus } from "../../components/model/backup";
import { BACKUP_ATTRIBUTE } from "../observe/parse-backup";
import type { HostFacts, RuleFinding } from "./hardening";

export const RESTORE_RUNBOOK = "runbooks/restoring-a-service-after-losing-a-host.md";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A time this far ahead of `now` is a wrong clock or a forged file: it would otherwise never grow old. */
const FUTURE_SLACK_MS = HOUR;

export interface BackupProblem {
    /** The status field it concerns (`status`: the file itself). */
    key: "status" | "lastSuccess" | "lastRun" | "lastCheck";
    change: RuleFinding["change"];
    desired: unknown;
    observed: unknown;
    why: string;
    converge: string;
}

export interface BackupVerdict {
    verdict: "ok" | "critical";
    problems: BackupProblem[];
    lastRun: BackupStatus["lastRun"];
    lastSuccess: BackupStatus["lastSuccess"];
    lastCheck: BackupStatus["lastCheck"];
    /** Hours since the newest successful backup, at `now` (null: none). */
    ageHours: number | null;
    /** Days since the last repository check, at `now` (null: never). */
    checkAgeDays: number | null;
}

/** The status fields as the probe recorded them (absent: never happened, or the probe never read a file). */
export function backupStatusOf(facts: HostFacts["facts"]): Pick<BackupStatus, "lastRun" | "lastSuccess" | "lastCheck"> {
    const get = <T>(key: string) => (facts.find((f) => f.attribute === BACKUP_ATTRIBUTE && f.key === key)?.value ?? null) as T | null;
    return { lastRun: get("lastRun"), lastSuccess: get("lastSuccess"), lastCheck: get("lastCheck") };
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** The host's backups at `now` (ms since the epoch): ok, or critical with every reason. */
export function backupVerdict(h: HostFacts, now: number): BackupVerdict {
    const status = backupStatusOf(h.facts);
    const problems: BackupProblem[] = [];
    const at = (s: { at: string } | null) => (s ? Date.parse(s.at) : null);
    const successAt = at(status.lastSuccess);
    const checkAt = at(status.lastCheck);
    const verdict = (): BackupVerdict => ({
        verdict: problems.length ? "critical" : "ok", problems, ...status,
        ageHours: successAt === null ? null : round1((now - successAt) / HOUR),
        checkAgeDays: checkAt === null ? null : round1((now - checkAt) / DAY),
    });
    const runNow = `on ${h.host}: sudo systemctl start ${BACKUP_UNITS.backup}.service, and read journalctl -u ${BACKUP_UNITS.backup}.service if it fails; then demesne observe`;
    const checkNow = `on ${h.host}: sudo systemctl start ${BACKUP_UNITS.check}.service, and read journalctl -u ${BACKUP_UNITS.check}.service; `
        + `if the check fails again the repository is damaged: start a fresh repository and back up at once, and keep ${RESTORE_RUNBOOK} at hand`;
    const probe = h.probes.backup;
    if (probe === undefined || probe.startsWith("unavailable")) {
        problems.push({
            key: "status", change: probe === undefined ? "unobservable" : "missing", desired: BACKUP_PATHS.status, observed: probe ?? null,
            why: probe === undefined
                ? "the backup probe has never run on this host: observe it (an observer layer from before the backup probe needs a replace)"
                : `no backup is recorded: ${probe.replace(/^unavailable: /, "")}`,
            converge: `demesne plan --layer ${h.host}/backup, approve and apply it (and replace ${h.host}/baseline if the observer layer predates the backup probe); then ${runNow}`,
        });
        return verdict();
    }
    if (probe !== "ok") {
        problems.push({
            key: "status", change: "unobservable", desired: "a readable status file", observed: probe,
            why: `the backup status file could not be read (${probe.replace(/^failed: /, "")}): nothing says the backups work`,
            converge: `on ${h.host}: sudo cat ${BACKUP_PATHS.status} to see what is there; the next backup run rewrites it: ${runNow}`,
        });
        return verdict();
    }
    const future = (t: number | null) => t !== null && t > now + FUTURE_SLACK_MS;
    if (!status.lastSuccess || successAt === null) {
        problems.push({ key: "lastSuccess", change: "missing", desired: `a successful backup within ${BACKUP_MAX_AGE_HOURS}h`, observed: null, why: "no successful backup is recorded on this host", converge: runNow });
    } else if (future(successAt)) {
        problems.push({
            key: "lastSuccess", change: "changed", desired: `a successful backup within ${BACKUP_MAX_AGE_HOURS}h`, observed: status.lastSuccess,
            why: `the newest successful backup is dated ${status.lastSuccess.at}, in the future: the host's clock or its status file is wrong, so its age is unknown`,
            converge: `check ${h.host}'s clock (timedatectl), then ${runNow}`,
        });
    } else if (now - successAt > BACKUP_MAX_AGE_HOURS * HOUR) {
        problems.push({
            key: "lastSuccess", change: "changed", desired: `a successful backup within ${BACKUP_MAX_AGE_HOURS}h`, observed: status.lastSuccess,
            why: `the newest successful backup (snapshot ${status.lastSuccess.snapshot}, ${status.lastSuccess.at}) is ${round1((now - successAt) / HOUR)}h old; the policy allows ${BACKUP_MAX_AGE_HOURS}h`,
            converge: runNow,
        });
    }
    if (status.lastRun && !status.lastRun.ok) {
        problems.push({ key: "lastRun", change: "changed", desired: { ok: true }, observed: status.lastRun, why: `the last backup run (${status.lastRun.at}) failed: ${status.lastRun.error}`, converge: runNow });
    }
    const checkWant = `a passing restic check within ${BACKUP_CHECK_MAX_AGE_DAYS} days`;
    if (!status.lastCheck || checkAt === null) {
        problems.push({ key: "lastCheck", change: "missing", desired: checkWant, observed: null, why: "the repository has never been checked (restic check): a backup nobody verified may not restore", converge: checkNow });
    } else if (!status.lastCheck.ok) {
        problems.push({ key: "lastCheck", change: "changed", desired: checkWant, observed: status.lastCheck, why: `the last repository check (${status.lastCheck.at}) failed: ${status.lastCheck.error}`, converge: checkNow });
    } else if (future(checkAt)) {
        problems.push({ key: "lastCheck", change: "changed", desired: checkWant, observed: status.lastCheck, why: `the last repository check is dated ${status.lastCheck.at}, in the future: the host's clock or its status file is wrong`, converge: `check ${h.host}'s clock (timedatectl), then ${checkNow}` });
    } else if (now - checkAt > BACKUP_CHECK_MAX_AGE_DAYS * DAY) {
        problems.push({
            key: "lastCheck", change: "changed", desired: checkWant, observed: status.lastCheck,
            why: `the last repository check (${status.lastCheck.at}) is ${round1((now - checkAt) / DAY)} days old; the policy allows ${BACKUP_CHECK_MAX_AGE_DAYS}`, converge: checkNow,
        });
    }
    return verdict();
}

/** The verdict's problems as drift findings: all critical, none converged by a layer run, each with what to do. */
export function backupFindings(h: HostFacts, now: number): (RuleFinding & { converge: string })[] {
    return backupVerdict(h, now).problems.map((p) => ({
        attribute: BACKUP_ATTRIBUTE, key: p.key, change: p.change, desired: p.desired, observed: p.observed,
        severity: "critical", why: p.why, layer: null, converge: p.converge,
    }));
}
