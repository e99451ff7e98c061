// The docker and firewall layers under real systemd (issue #15): the control-plane test host booted with
// trixie's own systemd 257 as PID 1 under systemd-nspawn (test/host/systemd-host.sh, adr/0018), so that
// `systemctl restart docker`, docker.socket, a restart of dockerd re-creating its chains, and the dead-man's
// systemd-run timer are the real thing, not the systemctl stand-in of docker.test.ts.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOCKER_DAEMON } from "../../components/host/layers";
import { layerParams, runLayer } from "../helpers/configured-host";
import { buildHttpdImage, DEBIAN_DOCKER_PACKAGES, fetchFromMachine, hostStackFile, must, startControlPlaneHost, type ControlPlaneHost } from "./host";

const NAME = "cplane-sd";
const work = mkdtempSync(path.join(tmpdir(), "demesne-controlplane-systemd-"));
let host: ControlPlaneHost;
let params: (layer: string) => Record<string, string>;

const dockerParams = () => ({ ...params("docker"), PACKAGES: DEBIAN_DOCKER_PACKAGES });
/** docker.service as systemd reports it: ActiveState, SubState and MainPID. */
async function dockerUnit(): Promise<Record<string, string>> {
    const out = await must(host, "systemctl show docker -p ActiveState,SubState,MainPID");
    return Object.fromEntries(out.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
}
const DEADMAN_TIMER = "demesne-deadman-firewall.timer";
const timerState = async () => (await host.exec(`systemctl is-active ${DEADMAN_TIMER}`)).stdout.trim();
const outside = (ms = 3_000) => fetchFromMachine(`http://${host.address}:8080/`, ms);
/** What the url answers inside the host once it answers at all, polling for up to 30 s. */
async function answersInside(url: string): Promise<string> {
    const deadline = Date.now() + 30_000;
    for (;;) {
        const r = await host.exec(`curl -sS --max-time 10 ${url}`);
        if (r.code === 0 || Date.now() > deadline) return r.stdout;
        await new Promise((done) => setTimeout(done, 500));
    }
}
/** The machine's cgroup directories of this host (the cgroup2 and name=systemd hierarchies). */
const hostCgroups = () => ["unified", "systemd"].filter((h) => existsSync(`/sys/fs/cgroup/${h}/demesne-th${host.index}`));

beforeAll(async () => {
    host = await startControlPlaneHost(NAME, { systemd: true });
    params = layerParams(hostStackFile(host, work), "t", NAME);
}, 1_500_000);

afterAll(async () => {
    await host?.stop();
});

describe("the control-plane test host with real systemd", { timeout: 180_000 }, () => {
    it("runs trixie's systemd 257 as PID 1, fully started with no failed unit", async () => {
        expect(await must(host, "cat /proc/1/comm")).toBe("systemd\n");
        expect(await must(host, "systemctl --version | head -n 1")).toMatch(/^systemd 257 /);
        const state = await host.exec("timeout 60 systemctl is-system-running --wait", { timeoutMs: 90_000 });
        const failed = await must(host, "systemctl list-units --failed --plain --no-legend");
        expect(failed, "failed units").toBe("");
        expect(state.stdout.trim()).toBe("running");
        expect(existsSync(`/proc/${host.pid}`)).toBe(true);
    });

    it("serves the host key testhost.sh generated over ssh.service, and keeps /proc/sys read-only but net", async () => {
        expect(await must(host, "systemctl is-active ssh.service")).toBe("active\n");
        const served = (await must(host, `ssh-keyscan -t ed25519 ${host.address} 2>/dev/null | grep -v '^#' | cut -d' ' -f2,3`)).trim();
        expect(served).toBe(host.hostKey);
        expect(await must(host, "id -un 1000")).toBe("admin\n");
        expect((await host.exec("echo x > /proc/sys/kernel/domainname")).code).not.toBe(0);
        expect(await must(host, "cat /proc/sys/net/ipv4/ip_forward")).toBe("1\n");
    });

    it("has dockerd under docker.service, socket-activated through docker.socket", async () => {
        expect(await dockerUnit()).toMatchObject({ ActiveState: "active", SubState: "running" });
        expect(await must(host, "systemctl is-active docker.socket")).toBe("active\n");
        expect(await must(host, "systemctl show docker -p TriggeredBy --value")).toContain("docker.socket");
        expect(await must(host, "docker info --format '{{.CgroupDriver}} {{.CgroupVersion}}'")).toBe("systemd 2\n");
    });
});

describe("the docker layer under systemd", { timeout: 180_000 }, () => {
    it("writes daemon.json and really restarts docker.service (a new MainPID) with its settings", async () => {
        const before = await dockerUnit();
        expect(await runLayer(host, "docker", dockerParams())).toBe("changed=true");
        expect(JSON.parse(await must(host, "cat /etc/docker/daemon.json"))).toEqual(DOCKER_DAEMON);
        const after = await dockerUnit();
        expect(after).toMatchObject({ ActiveState: "active", SubState: "running" });
        expect(after.MainPID).not.toBe(before.MainPID);
        expect(after.MainPID).not.toBe("0");
        const info = JSON.parse(await must(host, "docker info --format '{{json .}}'")) as { LoggingDriver: string; LiveRestoreEnabled: boolean };
        expect(info).toMatchObject({ LoggingDriver: "local", LiveRestoreEnabled: true });
    });

    it("a second run reports changed=false and leaves dockerd's MainPID alone", async () => {
        const before = await dockerUnit();
        expect(await runLayer(host, "docker", dockerParams())).toBe("changed=false");
        expect(await dockerUnit()).toEqual(before);
    });

    it("runs a container (runc under nspawn) whose port on 0.0.0.0 answers from outside before the fix", async () => {
        const image = await buildHttpdImage(host);
        await must(host, `docker run -d --name web --restart always -p 0.0.0.0:8080:80 ${image}`);
        expect(await answersInside("http://127.0.0.1:8080/")).toBe("demesne-ok\n");
        expect(await outside(15_000)).toMatchObject({ ok: true, body: "demesne-ok\n" });
    });
});

describe("the firewall layer under systemd", { timeout: 180_000 }, () => {
    it("arms the dead-man as a systemd-run timer, which confirm cancels", async () => {
        await must(host, `ufw default deny incoming && ufw default deny routed && ufw allow from ${host.network} to any port 22 proto tcp && ufw --force enable`);
        expect(await timerState()).toBe("inactive");
        expect(await runLayer(host, "firewall", params("firewall"))).toBe("changed=true");
        expect(await timerState()).toBe("active");
        // systemd-run, not the setsid fallback: no pid file.
        expect(await must(host, "ls /var/lib/demesne/deadman")).not.toMatch(/\.pid/);
        expect(await runLayer(host, "confirm", { TARGET_LAYER: "firewall" })).toBe("changed=true");
        expect(await timerState()).toBe("inactive");
        expect(await must(host, "iptables -S DOCKER-USER")).toContain("-A DOCKER-USER -j ufw-user-forward");
        expect((await outside()).ok).toBe(false);
    });

    it("the DOCKER-USER block survives systemctl restart docker, and both layers then report changed=false", async () => {
        const before = await dockerUnit();
        await must(host, "systemctl restart docker");
        const after = await dockerUnit();
        expect(after).toMatchObject({ ActiveState: "active", SubState: "running" });
        expect(after.MainPID).not.toBe(before.MainPID);
        expect(await must(host, "iptables -S DOCKER-USER")).toContain("-A DOCKER-USER -j ufw-user-forward");
        // The container comes back with dockerd (--restart always) and is still closed from outside.
        expect(await answersInside("http://127.0.0.1:8080/")).toBe("demesne-ok\n");
        expect((await outside()).ok).toBe(false);
        expect(await runLayer(host, "firewall", params("firewall"))).toBe("changed=false");
        expect(await runLayer(host, "docker", dockerParams())).toBe("changed=false");
        expect(await timerState()).toBe("inactive");
    });

    it("down leaves no process, namespace, mount or cgroup behind, nspawn's payload and supervisor included", async () => {
        expect(hostCgroups()).toEqual(["unified", "systemd"]);
        const dockerd = (await dockerUnit()).MainPID;
        const id = (await must(host, "docker inspect -f '{{.Id}}' web")).trim();
        const unit = (f: string) => readFileSync(`/sys/fs/cgroup/unified/demesne-th${host.index}/payload/system.slice/${f}/cgroup.procs`, "utf8");
        const procs = [unit("docker.service"), unit(`docker-${id}.scope`)].join("\n").split("\n").filter(Boolean);
        expect(procs.length).toBeGreaterThan(0);
        expect(dockerd).not.toBe("0");
        await host.stop();
        expect(hostCgroups()).toEqual([]);
        for (const h of ["unified", "systemd"]) {
            expect(readdirSync(`/sys/fs/cgroup/${h}`), `/sys/fs/cgroup/${h}`).not.toEqual(expect.arrayContaining(["payload"]));
            expect(readdirSync(`/sys/fs/cgroup/${h}`), `/sys/fs/cgroup/${h}`).not.toEqual(expect.arrayContaining(["supervisor"]));
        }
        expect(existsSync(`/proc/${host.pid}`)).toBe(false);
        expect(readFileSync("/proc/mounts", "utf8")).not.toContain(host.stateDir);
        expect(existsSync(`/run/netns/${host.netns}`)).toBe(false);
        expect(existsSync(host.stateDir)).toBe(false);
        for (const p of procs) expect(existsSync(`/proc/${p}`), `dockerd's or the container's process ${p}`).toBe(false);
    });
});
