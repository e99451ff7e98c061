// The restore drill (issue #18), and the runbook runbooks/restoring-a-service-after-losing-a-host.md followed
// step by step: the gateway's real PostgreSQL (Debian's, postgres-image.ts) with rows in it and the chat UI's
// volume with files in it run on a control-plane host under real systemd; the backup layer's own timer unit
// backs them up over SFTP to a second test host; the host is then lost (torn down), a replacement host is
// configured by the program, and each service's data comes back through a T3 restore step that the program
// refuses until it is approved — the same checksums before and after.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadStackFile } from "../../components/config/stack-file";
import { BACKUP_PATHS, BACKUP_UNITS, type BackupStatus } from "../../components/model/backup";
import { tierOf } from "../../components/model/tiers";
import { hostRepositoryPassword } from "../../components/render/backup";
import { planProgram } from "../../components/program";
import { backupFindingLines } from "../helpers/backup-drift";
import { backupTarget, type BackupTarget } from "../helpers/backup-target";
import { keyPair, layerParams, runLayer, serviceParams, writeStackFile, type SecretValues } from "../helpers/configured-host";
import { demesne } from "../helpers/demesne-cli";
import type { HostLink } from "../helpers/host-link";
import { startTestHost, type TestHost } from "../helpers/test-host";
import { DEBIAN_DOCKER_PACKAGES, must, startControlPlaneHost, type ControlPlaneHost } from "./host";
import { buildPostgresImage, psql, tableChecksum, waitForPostgres } from "./postgres-image";
import { startRegistry } from "./registry";
import { serviceImages } from "./service-images";

const LOST = "bklost";
const NEW = "bknew";
const work = mkdtempSync(path.join(tmpdir(), "demesne-backup-drill-"));
const hex = (n: number) => randomBytes(n).toString("hex");
const PASSWORD = `restic-${hex(16)}`;
const VALUES: SecretValues = {
    providerKeys: { openai: `sk-provider-${hex(16)}` },
    secrets: {
        gatewayMasterKey: `sk-master-${hex(16)}`, gatewaySaltKey: hex(32), gatewayDbPassword: hex(24),
        webuiSecretKey: hex(32), webuiVirtualKey: `sk-virtual-${hex(16)}`,
    },
};
const CHAT_VOLUME = "/var/lib/docker/volumes/chat_open-webui/_data";
const DB = "gateway-db-1";
let target: TestHost;
let sftp: BackupTarget;
const links: HostLink[] = [];
const hosts: ControlPlaneHost[] = [];
const observerPub = () => keyPair(work, `observer-${hex(4)}`).pub;
let before: { rows: string; files: string };
let snapshot = "";
let lostStatus: BackupStatus;
const seconds: Record<string, number> = {};

/** A stack of one control-plane host with the gateway (real Postgres) and the chat UI, backing up to the target. */
function stack(name: string, host: ControlPlaneHost, link: HostLink, img: { gateway: string; postgres: string; chatUi: string }, extra: Record<string, unknown> = {}): string {
    return writeStackFile(work, name, [{ name: host.name, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" }], {
        observerPub: observerPub(), adminRange: host.network,
        services: [
            { name: "gateway", kind: "gateway", host: host.name, image: img.gateway, postgresImage: img.postgres,
                models: [{ name: "gpt-4o-mini", model: "openai/gpt-4o-mini", providerKey: "openai" }] },
            { name: "chat", kind: "open-webui", host: host.name, image: img.chatUi, gateway: "gateway" },
        ],
        extra: { "demesne:backup": { target: sftp.config(link) }, ...extra },
    });
}

/** A host running both services with the program's layers, its backup layer applied; the stack file. */
async function serviceHost(name: string, systemd: boolean): Promise<{ host: ControlPlaneHost; file: string }> {
    const host = await startControlPlaneHost(name, { systemd });
    hosts.push(host);
    const link = await sftp.link(host);
    links.push(link);
    await host.writeFile("/usr/local/bin/tailscale", readFileSync(path.join(__dirname, "tailscale-standin.sh"), "utf8"), 0o755);
    await startRegistry(host);
    const images = await serviceImages(host);
    const file = stack(name, host, link, { ...images, postgres: await buildPostgresImage(host) });
    const params = layerParams(file, name, name);
    await runLayer(host, "docker", { ...params("docker"), PACKAGES: DEBIAN_DOCKER_PACKAGES });
    for (const service of ["gateway", "chat"]) await runLayer(host, "service", await serviceParams(file, name, service, VALUES), 300_000);
    await waitForPostgres(host, DB);
    // As the program delivers them: this host's own repository password, derived from the stack's one.
    const out = await runLayer(host, "backup", { ...params("backup"), REPOSITORY_PASSWORD: hostRepositoryPassword(PASSWORD, name), TARGET_CREDENTIAL: sftp.credential });
    expect(out).toBe("changed=true");
    return { host, file };
}

const filesChecksum = (host: TestHost) => must(host, `cd ${CHAT_VOLUME} && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum`);
const status = async (host: TestHost) => JSON.parse(await must(host, `cat ${BACKUP_PATHS.status}`)) as BackupStatus;

beforeAll(async () => {
    target = await startTestHost("bktarget");
    sftp = await backupTarget(target, work);
}, 600_000);

afterAll(async () => {
    for (const l of links) await l.remove();
    for (const h of hosts) await h.stop();
    await target?.stop();
    if (Object.keys(seconds).length) console.log(`restore drill: ${JSON.stringify(seconds)}`);
});

describe("the restore drill: back up, lose the host, restore on a replacement", { timeout: 1_200_000 }, () => {
    it("the backup timer's own unit backs up the gateway's database and the chat UI's volume over SFTP", async () => {
        const { host } = await serviceHost(LOST, true);
        await psql(host, DB, "create table chats(id serial primary key, who text, body text);" +
            "insert into chats(who, body) select 'user-' || g, md5(g::text) from generate_series(1, 2000) g;");
        await must(host, `for i in $(seq 1 50); do head -c 4096 /dev/urandom > ${CHAT_VOLUME}/upload-$i.bin; done; mkdir -p ${CHAT_VOLUME}/vector_db; echo v > ${CHAT_VOLUME}/vector_db/index`);
        before = { rows: await tableChecksum(host, DB, "chats"), files: await filesChecksum(host) };
        expect(before.rows).toMatch(/^[0-9a-f]{32}$/);

        const timers = await must(host, "systemctl list-timers --all --no-legend --plain");
        expect(timers).toContain(`${BACKUP_UNITS.backup}.timer`);
        expect(timers).toContain(`${BACKUP_UNITS.check}.timer`);
        const t0 = Date.now();
        await must(host, `systemctl start ${BACKUP_UNITS.backup}.service`, 600_000);
        seconds.backup = (Date.now() - t0) / 1000;
        const s = await status(host);
        expect(s.lastRun?.ok, s.lastRun?.error ?? "").toBe(true);
        expect(s.lastSuccess?.snapshot).toMatch(/^[0-9a-f]{8}$/);
        snapshot = s.lastSuccess!.snapshot;
        // The chat UI was stopped while its volume was read, and runs again.
        expect((await must(host, "docker ps --filter label=com.docker.compose.project=chat --format '{{.State}}'")).trim()).toBe("running");
        // The weekly check reads every pack back: clean on a fresh repository.
        await must(host, `systemctl start ${BACKUP_UNITS.check}.service`, 600_000);
        lostStatus = await status(host);
        expect(lostStatus.lastCheck?.ok).toBe(true);
        // What is on the target is restic's encrypted repository: no row and no file name in the clear.
        const leaked = await target.exec(`grep -rlF -e user-1999 -e upload-1.bin ${sftp.repositoryDir(LOST)}`);
        expect(leaked.stdout).toBe("");
    });

    it("the host is lost: torn down with its disk", async () => {
        await hosts[0]!.stop();
        expect((await hosts[0]!.exec("true")).code).not.toBe(0);
    });

    it("runbook step 1: a replacement host gets the program's layers and services, empty, and its backup layer", async () => {
        const { host } = await serviceHost(NEW, false);
        await expect(tableChecksum(host, DB, "chats")).rejects.toThrow(/does not exist/);
    });

    it("runbook step 2: the snapshot is the lost host's newest as last observed; the replacement's own password cannot open that repository", async () => {
        const host = hosts[1]!;
        expect(lostStatus.lastSuccess?.snapshot).toBe(snapshot);
        expect(backupFindingLines(LOST, JSON.stringify(lostStatus), Date.parse(lostStatus.lastSuccess!.at))).toEqual([]);
        // Each host's repository has its own password: root on one host cannot read another's backups.
        const r = await host.exec(`${BACKUP_PATHS.runScript} restic -r sftp:demesne-backup-target:${sftp.repositoryDir(LOST)} snapshots`, { timeoutMs: 120_000 });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/wrong password/);
    });

    it("runbook steps 3-5: demesne restore asks for it, the program refuses it until approved, and the approved step restores both", async () => {
        const host = hosts[1]!;
        const file = path.join(work, `Pulumi.${NEW}.yaml`);
        for (const service of ["gateway", "chat"]) {
            const r = demesne(["restore", "--host", NEW, "--service", service, "--snapshot", snapshot, "--from-host", LOST, "--stack", NEW],
                { DEMESNE_STATE_DIR: path.join(work, "state"), DEMESNE_ACTOR: "drill" }, undefined, work);
            expect(r.code, r.stderr).toBe(0);
            expect(r.stdout).toContain(`--layer ${NEW}/restore-${service}`);
        }
        const cfg = loadStackFile(file);
        const plan = planProgram(cfg, { stack: NEW, project: "demesne", dryRun: true });
        const steps = plan.restores.get(NEW) ?? [];
        expect(steps.map((s) => s.name)).toEqual([`${NEW}-restore-gateway`, `${NEW}-restore-chat`]);
        expect(steps.map((s) => tierOf(s.stepClass, "create"))).toEqual(["T3", "T3"]);
        // Not approved: a real update (not a preview) is refused, naming the approval to give.
        expect(() => planProgram(cfg, { stack: NEW, project: "demesne", dryRun: false })).toThrow(`demesne:approvals["${NEW}/restore-gateway"]`);
        expect(plan.missing.filter((m) => m.layer === "restore").map((m) => m.key)).toEqual([`${NEW}/restore-gateway`, `${NEW}/restore-chat`]);
        // The operator approves, having reviewed the preview: here every T3 step of the new host at once.
        const missing = plan.missing;
        const doc = parse(readFileSync(file, "utf8")) as { config: Record<string, unknown> };
        doc.config["demesne:approvals"] = Object.fromEntries(missing.map((m) => [m.key, m.token]));
        writeFileSync(file, stringify(doc));
        const approved = planProgram(loadStackFile(file), { stack: NEW, project: "demesne", dryRun: false });
        expect(approved.missing).toEqual([]);

        const t0 = Date.now();
        // The Actuator delivers the snapshot's own host's password with the step (a secret parameter).
        const withPassword = (p: Record<string, string>) => ({ ...p, REPOSITORY_PASSWORD: hostRepositoryPassword(PASSWORD, p.SOURCE_HOST!) });
        for (const step of approved.restores.get(NEW)!) expect(await runLayer(host, "restore", withPassword(step.params), 600_000)).toBe("changed=true");
        seconds.restore = (Date.now() - t0) / 1000;
        await waitForPostgres(host, DB);
        expect(await tableChecksum(host, DB, "chats")).toBe(before.rows);
        expect(await filesChecksum(host)).toBe(before.files);
        expect((await must(host, "docker ps --filter label=com.docker.compose.project=chat --format '{{.State}}'")).trim()).toBe("running");
        // Done once: the same restore again changes nothing.
        for (const step of approved.restores.get(NEW)!) expect(await runLayer(host, "restore", withPassword(step.params), 600_000)).toBe("changed=false");
    });

    it("runbook step 6: the replacement's own first backup succeeds and its status is what demesne observes", async () => {
        const host = hosts[1]!;
        // No systemd on this host: the timers' unit commands, run directly.
        await must(host, `${BACKUP_PATHS.runScript} backup && ${BACKUP_PATHS.runScript} check`, 600_000);
        const s = await status(host);
        expect(s.host).toBe(NEW);
        expect(s.lastRun?.ok).toBe(true);
        expect(s.lastSuccess?.snapshot).not.toBe(snapshot);
        // The dump is gone from the host's disk once restic has it: plain SQL never stays outside the repository.
        expect((await must(host, `ls -A ${BACKUP_PATHS.dumps} 2> /dev/null || true`)).trim()).toBe("");
        // Read as demesne observe reads it and judged as demesne drift judges it: no finding.
        expect(backupFindingLines(NEW, await must(host, `cat ${BACKUP_PATHS.status}`), Date.now())).toEqual([]);
    });
});
