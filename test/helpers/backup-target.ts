// An SFTP backup target on a test host: a `restic` account holding a fresh key's public half, /srv/restic
// owned by it, and sshd also listening on a private link to each host that backs up to it (the test host's
// sshd listens on its own link only). What demesne:backup.target and the credential secret then say.
import { readFileSync } from "node:fs";
import { keyPair } from "./configured-host";
import { linkHosts, type HostLink } from "./host-link";
import type { TestHost } from "./test-host";

export interface BackupTarget {
    /** demesne:backup.target for a host linked with link(). */
    config(link: HostLink): { kind: "sftp"; host: string; port: number; user: string; path: string; hostKey: string };
    /** demesne:secrets.backupTargetCredential: the account's private key. */
    credential: string;
    /** Links a source host to the target; the target's sshd listens on the new address too. */
    link(source: TestHost): Promise<HostLink>;
    /** The repository directory of a source host on the target. */
    repositoryDir(host: string): string;
}

const run = async (host: TestHost, cmd: string) => {
    const r = await host.exec(cmd, { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`${cmd} on ${host.name}: ${r.stderr.trim()}`);
    return r.stdout;
};

export async function backupTarget(target: TestHost, work: string): Promise<BackupTarget> {
    const key = keyPair(work, `restic-${target.name}`);
    await run(target, "id restic > /dev/null 2>&1 || useradd -m -s /bin/sh restic; install -d -o restic -g restic -m 0700 /srv/restic /home/restic/.ssh");
    await target.writeFile("/home/restic/.ssh/authorized_keys", `${key.pub}\n`, 0o600);
    await run(target, "chown restic:restic /home/restic/.ssh/authorized_keys");
    return {
        credential: readFileSync(key.key, "utf8"),
        config: (link) => ({ kind: "sftp", host: link.b, port: 22, user: "restic", path: "/srv/restic", hostKey: target.hostKey }),
        repositoryDir: (host) => `/srv/restic/${host}`,
        link: async (source) => {
            const link = await linkHosts(source, target);
            await run(target, `printf 'ListenAddress %s:22\\n' ${link.b} >> /etc/ssh/sshd_config.d/91-backup-links.conf; kill -HUP "$(cat /run/sshd.pid)"`);
            // sshd re-executes itself on SIGHUP: wait for it to listen on the new address.
            for (let i = 0; i < 50; i++) {
                if ((await target.exec(`ss -ltnH 'sport = :22' | grep -qF ${link.b}:22`)).code === 0) return link;
                await new Promise((r) => setTimeout(r, 100));
            }
            throw new Error(`sshd on ${target.name} does not listen on ${link.b}:22 after a reload`);
        },
    };
}
