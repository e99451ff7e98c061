// The backup probe on a real sandboxed host: the baseline layer installs the observer with its sudoers entry,
// and `demesne observe` over SSH reads the backup runner's status file through it. No file: "unavailable", and
// `backup status` and drift call a host with the backup layer critical. A fresh status: ok. Hostile text is
// recorded stripped; a malformed file fails the probe; critical either way, never a crash or a raw control
// character on the terminal. The observer's sudo reads that one file only. (The file here is written by the test in BackupStatus's format; the backup
// drill, test/controlplane/backup-drill.test.ts, has the real runner write it.)
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKUP_PATHS, type BackupStatus } from "../../components/model/backup";
import { OBSERVER_USER } from "../../components/model/observer";
import { keyPair, layerParams, runLayer, writeStackFile } from "../helpers/configured-host";
import { demesne } from "../helpers/demesne-cli";
import { startTestHost, type TestHost } from "../helpers/test-host";

const NAME = "obsbackup";
const work = mkdtempSync(path.join(tmpdir(), "demesne-observe-backup-"));
const env = { DEMESNE_STATE_DIR: path.join(work, "state"), DATABASE_URL: "", DEMESNE_ACTOR: "observe-backup-test" };
const cli = (...args: string[]) => demesne(args, env, undefined, work);
let host: TestHost;
let observerKey: string;

const HOUR = 3_600_000;
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

interface HostReport { verdict: string; probe: string | null; lastSuccess: { snapshot: string } | null; problems: { key: string; why: string }[] }

/** Observes the host, then returns `backup status --json`'s row for it and its exit code. */
function observeThenStatus(): { code: number; row: HostReport; stdout: string } {
    const o = cli("observe", "--stack", "t", "--identity", observerKey, "--json");
    const observed = JSON.parse(o.stdout) as { hosts: { reachable: boolean; failed: string }[] };
    expect(observed.hosts[0]!.reachable, o.stderr).toBe(true);
    const r = cli("backup", "status", "--stack", "t", "--json");
    return { code: r.code, row: (JSON.parse(r.stdout) as { hosts: HostReport[] }).hosts[0]!, stdout: r.stdout };
}

async function writeStatus(text: string): Promise<void> {
    const r = await host.exec(`install -d -m 0700 ${BACKUP_PATHS.stateDir} && umask 077 && cat > ${BACKUP_PATHS.status}`, { input: text });
    expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
    host = await startTestHost(NAME);
    observerKey = keyPair(work, "observer").key;
    const file = writeStackFile(work, "t", [{ name: NAME, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" }], {
        observerPub: readFileSync(`${observerKey}.pub`, "utf8").trim(), adminRange: host.network,
        extra: { "demesne:backup": { target: { kind: "s3", endpoint: "https://s3.gra.io.cloud.ovh.net", bucket: "demesne-backups", accessKeyId: "AKIAEXAMPLE123" } } },
    });
    expect(await runLayer(host, "baseline", layerParams(file, "t", NAME)("baseline"))).toBe("changed=true");
}, 300_000);

afterAll(async () => {
    await host?.stop();
});

describe("the backup probe on a real host", { timeout: 180_000 }, () => {
    it("no status file: the probe is unavailable (not failed), and a host with the backup layer is critical", () => {
        const { code, row } = observeThenStatus();
        expect(code).toBe(1);
        expect(row.probe).toMatch(/^unavailable: no backup status file/);
        expect(row).toMatchObject({ verdict: "critical", lastSuccess: null });
        expect(row.problems.map((p) => p.key)).toEqual(["status"]);
    });

    it("a fresh status: read through sudo as the observer, ok; and drift against the desired state has no backup finding", async () => {
        const now = Date.now();
        const status: BackupStatus = {
            host: NAME,
            lastRun: { at: new Date(now - HOUR).toISOString(), ok: true, error: null },
            lastSuccess: { at: new Date(now - HOUR).toISOString(), snapshot: "0123456789abcdef", sizeBytes: 4096, files: 12 },
            lastCheck: { at: new Date(now - 2 * HOUR).toISOString(), ok: true, error: null },
        };
        await writeStatus(JSON.stringify(status));
        const { code, row } = observeThenStatus();
        expect(row.probe).toBe("ok");
        expect(row).toMatchObject({ verdict: "ok", lastSuccess: { snapshot: "0123456789abcdef" }, problems: [] });
        expect(code).toBe(0);
        const d = cli("drift", "--stack", "t", "--json");
        const findings = (JSON.parse(d.stdout) as { findings: { attribute: string; key: string }[] }).findings;
        expect(findings.filter((f) => f.attribute === "backup" || f.key === "backup")).toEqual([]);
    });

    it("hostile text is recorded stripped, and a malformed file fails the probe: critical either way, nothing raw on the terminal", async () => {
        const now = Date.now();
        await writeStatus(JSON.stringify({
            host: "\u001b]0;owned\u0007", lastSuccess: null, lastCheck: null,
            lastRun: { at: new Date(now - HOUR).toISOString(), ok: false, error: "\r\u001b[2K all good\u202e" },
        }));
        const hostile = observeThenStatus();
        expect(hostile.code).toBe(1);
        expect(hostile.row.probe).toBe("ok");
        expect(hostile.row.problems.map((p) => p.key)).toEqual(["lastSuccess", "lastRun", "lastCheck"]);
        expect(hostile.row.problems[1]!.why).toMatch(/failed: \ufffd\ufffd\[2K all good\ufffd$/);
        const table = cli("backup", "status", "--stack", "t");
        expect(table.code).toBe(1);
        expect(table.stdout).not.toMatch(RAW_CONTROL);
        // Raw control bytes inside a JSON string are not JSON at all.
        await writeStatus(`{"host":"\u001b]0;owned\u0007","lastRun":null,"lastSuccess":null,"lastCheck":null}`);
        const { code, row } = observeThenStatus();
        expect(code).toBe(1);
        expect(row.probe).toBe("failed: unreadable output: the status file is not JSON");
        expect(row.problems.map((p) => p.key)).toEqual(["status"]);
        const d = cli("drift", "--stack", "t", "--json");
        const findings = (JSON.parse(d.stdout) as { findings: { attribute: string; key: string; severity: string }[] }).findings;
        expect(findings).toContainEqual(expect.objectContaining({ attribute: "backup", key: "status", severity: "critical" }));
        expect(findings).toContainEqual(expect.objectContaining({ attribute: "probe", key: "backup" }));
    });

    it("the observer's sudo reads that one file and nothing else", async () => {
        const as = (cmd: string) => host.exec(`su -s /bin/sh ${OBSERVER_USER} -c '${cmd}'`);
        expect((await as(`sudo -n /usr/bin/cat ${BACKUP_PATHS.status}`)).code).toBe(0);
        expect((await as("sudo -n /usr/bin/cat /etc/shadow")).code).not.toBe(0);
        expect((await as(`sudo -n /usr/bin/cat ${BACKUP_PATHS.status} /etc/shadow`)).code).not.toBe(0);
        expect((await as(`cat ${BACKUP_PATHS.status}`)).code).not.toBe(0);
    });
});
