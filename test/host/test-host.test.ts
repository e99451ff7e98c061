// The sandboxed test host itself: real sshd in its own network namespace over an overlay of the cached
// rootfs, reached with the real ssh client; its kernel knobs and firewall stay its own; down leaves nothing.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, stopTestHost, TestHost } from "../helpers/test-host";

const A = "thtest-a";
const B = "thtest-b";

const machine = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "utf8" });
// Whole names and paths: another run's demesne-th12 must not count as this run's demesne-th1.
const mounts = () => machine("findmnt", ["-rn", "-o", "TARGET"]).stdout.split("\n");
const namespaces = () => machine("ip", ["netns", "list"]).stdout.split("\n").map((l) => l.split(" ")[0]);
const mountedUnder = (dir: string) => mounts().some((m) => m === dir || m.startsWith(`${dir}/`));

/** sshd closes its listener while it re-executes on SIGHUP: retry briefly. */
async function sshUntilUp(host: TestHost, cmd: string) {
    let r = await host.ssh("admin", host.adminKey, cmd);
    for (let i = 0; i < 50 && r.code !== 0; i++) {
        await new Promise((res) => setTimeout(res, 100));
        r = await host.ssh("admin", host.adminKey, cmd);
    }
    return r;
}

describe("sandboxed test host", { timeout: 120_000 }, () => {
    let a: TestHost;
    let b: TestHost | undefined;

    beforeAll(async () => {
        a = await startTestHost(A);
    }, 600_000);

    afterAll(async () => {
        await a?.stop();
        await b?.stop();
    });

    it("lets admin log in with its key; hostname is the host's name", async () => {
        expect(a).toMatchObject({ address: `10.251.${a.index}.2`, network: `10.251.${a.index}.0/30`, port: 22, netns: `demesne-th${a.index}` });
        const r = await a.ssh("admin", a.adminKey, "hostname; id -u; sudo -n true 2>/dev/null && echo sudo-ok || echo no-sudo");
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.split("\n")).toEqual(["thtest-a", "1000", "no-sudo", ""]);
        const root = await a.ssh("root", a.adminKey, "true");
        expect(root.code).toBe(255);
    });

    it("presents the host key from up's JSON, and ssh refuses any other", async () => {
        const scan = machine("ssh-keyscan", ["-t", "ed25519", a.address]);
        expect(scan.stdout.trim().split(" ").slice(1).join(" ")).toBe(a.hostKey);
        expect(a.hostKey).toMatch(/^ssh-ed25519 AAAA\S+$/);

        const wrong = path.join(a.stateDir, "wrong_known_hosts");
        const otherKey = readFileSync(`${a.adminKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
        writeFileSync(wrong, `${a.address} ${otherKey}\n`);
        const r = await a.ssh("admin", a.adminKey, "true", { knownHostsFile: wrong });
        expect(r.code).toBe(255);
        expect(r.stderr).toContain("Host key verification failed");
    });

    it("exec passes stdin, stdout, stderr and the exit code; writes stay in the overlay", async () => {
        const r = await a.exec("cat > /etc/testhost-x; echo out; echo err >&2; exit 3", { input: "hello\n" });
        expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
        await a.writeFile("/etc/testhost-dir/y", "y\n", 0o600);
        const check = await a.exec("cat /etc/testhost-x; stat -c %a /etc/testhost-dir/y; id -u");
        expect(check.stdout).toBe("hello\n600\n0\n");
        expect(existsSync(path.join(a.root, "etc/testhost-x"))).toBe(true);
        expect(existsSync(path.join(a.rootfs, "etc/testhost-x"))).toBe(false);
    });

    it("keeps the machine's kernel settings out of reach; the network's are the host's own", async () => {
        const before = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8");
        // /proc/sys/net is writable inside (the hardening layer sets it): a change stays in the host's namespace.
        const inside = (await a.exec("cat /proc/sys/net/ipv4/ip_forward")).stdout.trim();
        const flip = inside === "1" ? "0" : "1";
        const sysctl = await a.exec(`sysctl -w net.ipv4.ip_forward=${flip} > /dev/null && cat /proc/sys/net/ipv4/ip_forward`);
        expect(sysctl.code, sysctl.stderr).toBe(0);
        expect(sysctl.stdout.trim()).toBe(flip);
        expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8")).toBe(before);
        expect((await a.exec(`sysctl -w net.ipv4.ip_forward=${inside}`)).code).toBe(0);
        // Writing the current value back: harmless even if the protection were missing.
        const write = await a.exec("cat /proc/sys/vm/swappiness > /proc/sys/vm/swappiness");
        expect(write.code).not.toBe(0);
        expect(write.stderr).toContain("Read-only file system");
        expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8")).toBe(before);
    });

    it("ufw inside changes the host's own tables only", async () => {
        const machineBefore = machine("iptables", ["-S"]);
        const ufw = await a.exec("ufw allow 22/tcp && ufw --force enable");
        expect(ufw.code, ufw.stderr).toBe(0);
        const inside = await a.exec("iptables -S");
        expect(inside.stdout).toContain("-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT");
        if (machineBefore.status === 0) expect(machine("iptables", ["-S"]).stdout).toBe(machineBefore.stdout);
        const r = await a.ssh("admin", a.adminKey, "hostname");
        expect(r.code, r.stderr).toBe(0);
    });

    it("keeps serving after sshd is sent SIGHUP", async () => {
        const r = await a.exec('p=$(cat /run/sshd.pid) && kill -HUP "$p" && echo "$p"');
        expect(r.code, r.stderr).toBe(0);
        const after = await sshUntilUp(a, "hostname");
        expect(after.code, after.stderr).toBe(0);
        expect(after.stdout).toBe("thtest-a\n");
        expect((await a.exec("cat /run/sshd.pid")).stdout).toBe(r.stdout);
        expect(readFileSync(path.join(a.stateDir, "sshd.log"), "utf8")).toContain("Received SIGHUP; restarting.");
    });

    it("gives a second host of the same name its own index; its down leaves the first one up", async () => {
        const twin = await startTestHost(A);
        try {
            expect(twin.index).not.toBe(a.index);
            expect((await twin.ssh("admin", twin.adminKey, "hostname")).stdout).toBe("thtest-a\n");
        } finally {
            await twin.stop();
        }
        expect(existsSync(twin.stateDir)).toBe(false);
        await expect(stopTestHost(twin.index)).resolves.toBeUndefined();
        expect((await a.ssh("admin", a.adminKey, "hostname")).stdout).toBe("thtest-a\n");
    });

    it("runs two hosts at once, each reached on its own address; down removes everything, twice", async () => {
        b = await startTestHost(B);
        expect(b.address).not.toBe(a.address);
        expect(b.hostKey).not.toBe(a.hostKey);
        const [ra, rb] = await Promise.all([a.ssh("admin", a.adminKey, "hostname"), b.ssh("admin", b.adminKey, "hostname")]);
        expect([ra.stdout, rb.stdout]).toEqual(["thtest-a\n", "thtest-b\n"]);
        // Separate identities: a's admin key is not authorized on b.
        expect((await b.ssh("admin", a.adminKey, "true")).code).toBe(255);

        await b.stop();
        expect(namespaces()).not.toContain(b.netns);
        expect(machine("ip", ["link", "show", `dmh${b.index}`]).status).not.toBe(0);
        expect(mountedUnder(b.stateDir)).toBe(false);
        expect(existsSync(b.stateDir)).toBe(false);
        await b.stop();

        // a is untouched by b's teardown.
        expect((await a.ssh("admin", a.adminKey, "hostname")).stdout).toBe("thtest-a\n");
        await a.stop();
        expect(namespaces()).not.toContain(a.netns);
        expect(machine("ip", ["link", "show", `dmh${a.index}`]).status).not.toBe(0);
        expect(mountedUnder(a.stateDir)).toBe(false);
        expect(existsSync(`/proc/${a.pid}`)).toBe(false);
    });
});
