// Docker and the DOCKER-USER fix on a running host (issue #15, first slice): the program's docker and firewall
// layers run on the control-plane test host (Debian trixie, dockerd in the host's own network namespace,
// test/controlplane/host.ts), and real packets from this machine, outside the host, show what UFW misses
// without the fix and that the fix closes it.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOCKER_DAEMON } from "../../components/host/layers";
import { layerParams, runLayer } from "../helpers/configured-host";
import { runCommand } from "../helpers/test-host";
import { buildHttpdImage, DEBIAN_DOCKER_PACKAGES, fetchFromMachine, fetchUntilAnswered, hostStackFile, must, startControlPlaneHost, type ControlPlaneHost } from "./host";

const NAME = "cplane";
const work = mkdtempSync(path.join(tmpdir(), "demesne-controlplane-"));
let host: ControlPlaneHost;
let params: (layer: string) => Record<string, string>;

const dockerParams = () => ({ ...params("docker"), PACKAGES: DEBIAN_DOCKER_PACKAGES });

const dockerdPid = async () => (await must(host, "systemctl status docker")).match(/pid (\d+)/)![1]!;
/** What the docker layer may change: files outside the kernel's and Docker's scratch file systems, and the
 * rules without their packet counters (traffic is not a change). */
const fingerprint = () => must(host, "{ { iptables-save; ip6tables-save; } | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'; " +
    "dpkg-query -W; find /etc /usr /var/lib -xdev -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum");

// A request expected to be dropped waits out its timeout, so it is short; one expected to be answered gets
// longer, for a loaded machine.
const DROPPED_MS = 3_000;
const ANSWERED_MS = 15_000;
const outside4 = (ms = DROPPED_MS) => fetchFromMachine(`http://${host.address}:8080/`, ms);
const outside6 = (ms = DROPPED_MS) => fetchFromMachine(`http://[${host.address6}]:8080/`, ms);
const inside = (url: string) => host.exec(`curl -sS --max-time ${ANSWERED_MS / 1000} ${url}`);
/** What the url answers inside the host once it answers at all, polling until the deadline (then the last try's). */
async function answersWithin(url: string, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
        const r = await inside(url);
        if (r.code === 0 || Date.now() > deadline) return r.stdout;
        await new Promise((done) => setTimeout(done, 500));
    }
}

beforeAll(async () => {
    host = await startControlPlaneHost(NAME);
    params = layerParams(hostStackFile(host, work), "t", NAME);
}, 1_500_000);

afterAll(async () => {
    await host?.stop();
});

describe("Docker on the control-plane test host", { timeout: 180_000 }, () => {
    it("runs Docker 26 from Debian's packages, with its iptables rules in the host's namespace only", async () => {
        expect(await must(host, "docker version --format '{{.Server.Version}}'")).toMatch(/^26\./);
        expect(await must(host, "systemctl is-active docker")).toBe("active\n");
        expect(await must(host, "iptables -S FORWARD")).toContain("-A FORWARD -j DOCKER-USER");
        expect(await must(host, "ip -o link show docker0")).toContain("docker0");
        // Read before anything else here touches it: the host's rules are not the machine's.
        expect(readFileSync("/proc/net/dev", "utf8")).not.toMatch(/^\s*docker0:/m);
    });

    it("the docker layer writes daemon.json, restarts dockerd and the running daemon has its settings", async () => {
        const before = await dockerdPid();
        expect(await runLayer(host, "docker", dockerParams())).toBe("changed=true");
        expect(JSON.parse(await must(host, "cat /etc/docker/daemon.json"))).toEqual(DOCKER_DAEMON);
        expect(await dockerdPid()).not.toBe(before);
        const info = JSON.parse(await must(host, "docker info --format '{{json .}}'")) as { LoggingDriver: string; LiveRestoreEnabled: boolean };
        expect(info).toMatchObject({ LoggingDriver: "local", LiveRestoreEnabled: true });
    });

    it("a second run reports changed=false, leaves files and rules alone and does not restart dockerd", async () => {
        const pid = await dockerdPid();
        const before = await fingerprint();
        expect(await runLayer(host, "docker", dockerParams())).toBe("changed=false");
        expect(await fingerprint()).toBe(before);
        expect(await dockerdPid()).toBe(pid);
    });

    it("a port published without an address is on loopback only (daemon.json's ip)", async () => {
        const image = await buildHttpdImage(host);
        await must(host, `docker run -d --name implicit -p 8081:80 ${image}`);
        expect(await must(host, "docker port implicit 80/tcp")).toBe("127.0.0.1:8081\n");
        expect((await inside("http://127.0.0.1:8081/")).stdout).toBe("demesne-ok\n");
        expect((await fetchFromMachine(`http://${host.address}:8081/`)).ok).toBe(false);
        await must(host, "docker rm -f implicit > /dev/null");
    });
});

describe("DOCKER-USER with real packets", { timeout: 180_000 }, () => {
    it("without the fix, UFW's default deny does not stop a port Docker publishes on 0.0.0.0 (the bypass)", async () => {
        // UFW as an operator would set it up: deny in and routed, SSH from the admin network.
        await must(host, `ufw default deny incoming && ufw default deny routed && ufw allow from ${host.network} to any port 22 proto tcp && ufw --force enable`);
        expect(await must(host, "iptables -S DOCKER-USER")).not.toContain("ufw-user-forward");
        const image = await buildHttpdImage(host);
        await must(host, `docker run -d --name web --restart always -p 0.0.0.0:8080:80 -p '[::]:8080:80' ${image}`);
        const r = await fetchUntilAnswered(`http://${host.address}:8080/`, ANSWERED_MS);
        expect(r, "the request from outside the host was expected to get through").toMatchObject({ ok: true, body: "demesne-ok\n" });
    });

    it("over IPv6 the published port reaches Docker's proxy through INPUT, which UFW's default deny covers", async () => {
        // The program's daemon.json gives Docker's bridge no IPv6, so nothing is DNATed over IPv6: docker-proxy
        // listens on [::]:8080 and its packets meet ufw6's INPUT chain.
        expect(await must(host, "ip6tables -t nat -S")).not.toMatch(/DNAT/);
        expect((await inside(`http://[::1]:8080/`)).stdout).toBe("demesne-ok\n");
        expect((await outside6()).ok).toBe(false);
    });

    it("the firewall layer's DOCKER-USER block stops it from outside, over IPv4 and IPv6", async () => {
        expect(await runLayer(host, "firewall", params("firewall"))).toBe("changed=true");
        // The dead-man restore the firewall layer armed is cancelled: changed=true.
        expect(await runLayer(host, "confirm", { TARGET_LAYER: "firewall" })).toBe("changed=true");
        expect(await must(host, "iptables -S DOCKER-USER")).toContain("-A DOCKER-USER -j ufw-user-forward");
        const [v4, v6] = await Promise.all([outside4(), outside6()]);
        expect(v4, "the request from outside the host was expected to be dropped").toMatchObject({ ok: false });
        expect(v4.error).toMatch(/no answer within/);
        expect(v6).toMatchObject({ ok: false });
    });

    it("the container still answers on the host's loopback, IPv4 and IPv6", async () => {
        expect((await inside("http://127.0.0.1:8080/")).stdout).toBe("demesne-ok\n");
        expect((await inside("http://[::1]:8080/")).stdout).toBe("demesne-ok\n");
    });

    it("the fix survives a restart of dockerd, and both layers then report changed=false", async () => {
        await must(host, "systemctl restart docker");
        expect(await must(host, "iptables -S DOCKER-USER")).toContain("-A DOCKER-USER -j ufw-user-forward");
        // The restarted daemon brings the published port back a moment later (slower on a loaded machine).
        expect(await answersWithin("http://127.0.0.1:8080/", 30_000)).toBe("demesne-ok\n");
        expect((await outside4()).ok).toBe(false);
        expect(await runLayer(host, "firewall", params("firewall"))).toBe("changed=false");
        expect(await runLayer(host, "docker", dockerParams())).toBe("changed=false");
        expect((await outside4()).ok).toBe(false);
    });

    it("the systemctl stand-in refuses what it does not do, naming adr/0018, never a silent success", async () => {
        const enable = await host.exec("systemctl enable docker");
        expect(enable.code).toBe(1);
        expect(enable.stderr).toContain("verb enable is not supported on this test host");
        const unit = await host.exec("systemctl restart ssh");
        expect(unit.code).toBe(5);
        expect(unit.stderr).toContain("see adr/0018");
    });

    it("down leaves no process, namespace, mount or cgroup behind, containers' included", async () => {
        const cgroups = () => readdirSync("/sys/fs/cgroup").filter((h) => existsSync(`/sys/fs/cgroup/${h}/demesne-th${host.index}`));
        expect(cgroups().length).toBeGreaterThan(0);
        // The container's processes as this machine numbers them: its cgroup under the host's parent.
        const id = (await must(host, "docker inspect -f '{{.Id}}' web")).trim();
        const procs = readFileSync(`/sys/fs/cgroup/pids/demesne-th${host.index}/${id}/cgroup.procs`, "utf8").split("\n").filter(Boolean);
        expect(procs.length).toBeGreaterThan(0);
        await host.stop();
        expect(cgroups()).toEqual([]);
        expect(existsSync(`/proc/${host.pid}`)).toBe(false);
        expect(readFileSync("/proc/mounts", "utf8")).not.toContain(host.stateDir);
        expect(existsSync(`/run/netns/${host.netns}`)).toBe(false);
        expect(existsSync(host.stateDir)).toBe(false);
        for (const p of procs) expect(existsSync(`/proc/${p}`), `container process ${p}`).toBe(false);
    });
});

describe("a missing piece fails, naming what to do", () => {
    it("up --docker on a rootfs without Docker stops and says how to build the right one", async () => {
        const hostDir = path.join(__dirname, "..", "host");
        const bookworm = (await runCommand("bash", [path.join(hostDir, "rootfs.sh")], { timeoutMs: 600_000 })).stdout.trim();
        const env = { ...process.env, DEMESNE_TESTHOST_ROOTFS: bookworm, DEMESNE_TESTHOST_OWNER: String(process.pid) };
        const r = await runCommand("bash", [path.join(hostDir, "testhost.sh"), "up", "cp-nodocker", "--docker"], { env });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`no dockerd in the rootfs ${bookworm} (test/host/rootfs.sh controlplane builds one)`);
        expect(r.stderr).toContain("up failed; tearing down cp-nodocker");
    });
});
