// A backup source and its SFTP target as two real test hosts on a private link: the target has a `restic`
// account whose authorized_keys holds a fresh key's public half and owns /srv/restic; the source has the
// program's backup layer applied, with the stack's demesne:backup pointing at the target's link address and
// pinning its host key, and the two secrets delivered as the Actuator would (params on stdin).
// The bookworm test hosts have restic but no systemd: the layer writes the units and says the timers cannot
// run, so the tests run the unit's command (`backup-run backup`, `backup-run check`) directly.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { encodeParams } from "../../components/actuator/wire";
import { BACKUP_PATHS } from "../../components/model/backup";
import { layerScript } from "../../components/host/scripts";
import { keyPair, layerParams, writeStackFile } from "./configured-host";
import { backupTarget } from "./backup-target";
import type { HostLink } from "./host-link";
import { type CommandResult, startTestHost, type TestHost } from "./test-host";

export interface BackupHosts {
    source: TestHost;
    target: TestHost;
    link: HostLink;
    /** The backup layer's params, secret params included. */
    params: Record<string, string>;
    password: string;
    /** The OpenSSH private key (the target credential), as delivered to the layer. */
    privateKey: string;
    /** The source's repository directory on the target. */
    repoDir: string;
    /** The layer's first run on the source, which created the repository. */
    firstLayer: CommandResult;
    /** Runs the backup layer on the source with params (default: the configured ones). */
    runBackupLayer(params?: Record<string, string>): Promise<CommandResult>;
    /** `backup-run ARGS` on the source, as the systemd unit's ExecStart would. */
    runner(args: string, timeoutMs?: number): Promise<CommandResult>;
    /** The status file on the source, parsed (null when absent). */
    status(): Promise<unknown>;
    stop(): Promise<void>;
}

/** `bash -c cmd` on host; throws with stderr when it fails. */
export async function sh(host: TestHost, cmd: string, timeoutMs = 60_000): Promise<string> {
    const r = await host.exec(cmd, { timeoutMs });
    if (r.code !== 0) throw new Error(`${cmd} on ${host.name} exited ${r.code}: ${r.stderr}`);
    return r.stdout.trim();
}

export async function startBackupHosts(name: string): Promise<BackupHosts> {
    const work = mkdtempSync(path.join(tmpdir(), `demesne-${name}-`));
    const started: TestHost[] = [];
    let link: HostLink | undefined;
    const stop = async () => {
        await link?.remove();
        for (const h of started) await h.stop();
        rmSync(work, { recursive: true, force: true });
    };
    try {
        const source = await startTestHost(name);
        started.push(source);
        const target = await startTestHost(`${name}-t`);
        started.push(target);
        const sftp = await backupTarget(target, work);
        link = await sftp.link(source);
        const observer = keyPair(work, "observer");
        const file = writeStackFile(work, "t", [{ name, address: source.address, hostKey: source.hostKey, bootstrapUser: "admin" }], {
            observerPub: observer.pub, adminRange: source.network, extra: { "demesne:backup": { target: sftp.config(link) } },
        });
        const password = `pw-${randomBytes(18).toString("hex")}`;
        const privateKey = sftp.credential;
        const params = { ...layerParams(file, "t", name)("backup"), REPOSITORY_PASSWORD: password, TARGET_CREDENTIAL: privateKey };

        const runBackupLayer = async (p = params) => {
            await source.writeFile("/root/backup.sh", layerScript("backup").text, 0o700);
            return source.exec("bash /root/backup.sh", { input: encodeParams(p), timeoutMs: 180_000 });
        };
        const firstLayer = await runBackupLayer();
        if (firstLayer.code !== 0) throw new Error(`the backup layer failed on ${name}:\n${firstLayer.stderr}`);
        const hosts: BackupHosts = {
            source, target, link, params, password, privateKey, repoDir: sftp.repositoryDir(name),
            firstLayer, runBackupLayer,
            runner: (args, timeoutMs = 180_000) => source.exec(`${BACKUP_PATHS.runScript} ${args}`, { timeoutMs }),
            status: async () => {
                const out = await sh(source, `cat ${BACKUP_PATHS.status} 2>/dev/null || true`);
                return out === "" ? null : JSON.parse(out);
            },
            stop,
        };
        // A little data under demesne's own config directory: the `etc` source every host backs up.
        await sh(source, "install -d /etc/demesne/app && printf 'hello backup\\n' > /etc/demesne/app/greeting && head -c 20000 /dev/urandom > /etc/demesne/app/blob");
        return hosts;
    } catch (e) {
        await stop();
        throw e;
    }
}
