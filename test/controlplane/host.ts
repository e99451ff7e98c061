// The control-plane test host (`testhost.sh up NAME --docker`): Debian trixie, the closest suite to Ubuntu
// 24.04 the archive serves here, with dockerd running in the host's own network namespace (test/host/
// docker-host.sh, adr/0018). Also what the tests need around it: a container image built with no download,
// and HTTP requests from this machine, which stands outside the host like any client on its network.
import { accessSync, constants, writeFileSync } from "node:fs";
import { request } from "node:http";
import * as path from "node:path";
import { DOCKER_PACKAGES } from "../../components/host/layers";
import { keyPair, writeStackFile } from "../helpers/configured-host";
import { bindTestHost, runCommand, type TestHost, type TestHostInfo } from "../helpers/test-host";

const HOST_DIR = path.join(__dirname, "..", "host");
const TOOLS = ["debootstrap", "ssh", "ssh-keygen", "ssh-keyscan", "ip", "nsenter", "unshare", "setpriv", "mount", "findmnt", "flock"];
const INSTALL = "apt-get install debootstrap debian-archive-keyring openssh-client iproute2 util-linux mount";

export interface ControlPlaneHost extends TestHost {
    /** fd51:251:INDEX::2, the host's IPv6 address on its link (the machine's end is ::1). */
    address6: string;
}

/**
 * The docker layer's packages as the test host names them: Ubuntu calls Compose v2 docker-compose-v2, Debian
 * docker-compose. The rootfs has Debian's, so the layer takes its "already installed" branch.
 */
export const DEBIAN_DOCKER_PACKAGES = DOCKER_PACKAGES.map((p) => (p === "docker-compose-v2" ? "docker-compose" : p)).join(" ");

/** Pulumi.<stack>.yaml in dir for this one host (SSH from its own link only, the services given); its path. */
export function hostStackFile(host: ControlPlaneHost, dir: string, opts: { stack?: string; services?: object[] } = {}): string {
    const stack = opts.stack ?? "t";
    return writeStackFile(dir, stack, [{ name: host.name, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" }],
        { observerPub: keyPair(dir, `observer-${stack}`).pub, adminRange: host.network, services: opts.services });
}

const toolDirs = () => [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/bin"];

function preflight(): void {
    if (process.getuid?.() !== 0) {
        throw new Error("the control-plane test host needs root (overlay mounts, network namespaces, cgroups): run these tests as root");
    }
    const dirs = toolDirs();
    const missing = TOOLS.filter((t) => !dirs.some((d) => executable(path.join(d, t))));
    if (missing.length) throw new Error(`the control-plane test host needs ${missing.join(", ")}: ${INSTALL}`);
}

function executable(file: string): boolean {
    try {
        accessSync(file, constants.X_OK);
        return true;
    } catch {
        return false;
    }
}

/**
 * Builds (or reuses) the trixie rootfs and brings up a host named NAME with dockerd answering inside: under
 * the systemctl stand-in by default, or with `systemd: true` under the rootfs's own systemd as PID 1
 * (systemd-nspawn, test/host/systemd-host.sh, adr/0018).
 */
export async function startControlPlaneHost(name: string, opts: { systemd?: boolean } = {}): Promise<ControlPlaneHost> {
    preflight();
    const kind = opts.systemd ? "--systemd" : "--docker";
    if (opts.systemd && !toolDirs().some((d) => executable(path.join(d, "systemd-nspawn")))) {
        throw new Error("the real-systemd control-plane test host needs systemd-nspawn: apt-get install systemd-container");
    }
    // A cold build downloads Docker's packages from the Debian archive: a few minutes on a loaded machine.
    const built = await runCommand("bash", [path.join(HOST_DIR, "rootfs.sh"), "controlplane"], { timeoutMs: 1_200_000 });
    if (built.code !== 0) throw new Error(`test/host/rootfs.sh controlplane failed (exit ${built.code}):\n${built.stderr.trim()}`);
    const rootfs = built.stdout.trim().split("\n").pop()!;
    const env = { ...process.env, DEMESNE_TESTHOST_ROOTFS: rootfs, DEMESNE_TESTHOST_OWNER: String(process.pid) };
    const up = await runCommand("bash", [path.join(HOST_DIR, "testhost.sh"), "up", name, kind], { timeoutMs: 180_000, env });
    if (up.code !== 0) throw new Error(`testhost.sh up ${name} ${kind} failed (exit ${up.code}):\n${up.stderr.trim()}`);
    const info = JSON.parse(up.stdout) as TestHostInfo;
    const knownHostsFile = path.join(info.stateDir, "known_hosts");
    writeFileSync(knownHostsFile, `${info.address} ${info.hostKey}\n`);
    return { ...bindTestHost({ ...info, rootfs, knownHostsFile }), address6: `fd51:251:${info.index}::2` };
}

/** Runs cmd inside the host and throws with its stderr unless it exits 0; returns stdout. */
export async function must(host: TestHost, cmd: string, timeoutMs = 120_000): Promise<string> {
    const r = await host.exec(cmd, { timeoutMs });
    if (r.code !== 0) throw new Error(`on ${host.name}: ${cmd}\nexit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
}

/**
 * A container image built inside the host from the rootfs's own static busybox (busybox-static), with
 * `docker import`: no registry is reachable here, and none is needed. It serves /www with busybox httpd.
 */
export async function buildHttpdImage(host: TestHost, tag = "demesne-test/httpd:1"): Promise<string> {
    await must(host, [
        "set -e",
        "d=$(mktemp -d)",
        "install -D -m 755 /bin/busybox \"$d/bin/busybox\"",
        "ln -s busybox \"$d/bin/sh\"",
        "mkdir \"$d/www\" && echo demesne-ok > \"$d/www/index.html\"",
        `tar -C "$d" -c . | docker import --change 'CMD ["/bin/busybox","httpd","-f","-v","-p","80","-h","/www"]' - ${tag} > /dev/null`,
        "rm -rf \"$d\"",
    ].join("\n"));
    return tag;
}

/** GET url from this machine: the body on 200, or what went wrong (refused, timed out), never a throw. */
export function fetchFromMachine(url: string, timeoutMs = 3_000): Promise<{ ok: boolean; body: string; error?: string }> {
    return new Promise((resolve) => {
        const req = request(url, { timeout: timeoutMs }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ ok: res.statusCode === 200, body }));
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on("error", (e) => resolve({ ok: false, body: "", error: e.message }));
        req.end();
    });
}

/**
 * GET url from this machine until it answers 200 or ms pass: a container just started may refuse for a moment.
 * The last try's result; for a request expected to be dropped, use fetchFromMachine once with a short timeout.
 */
export async function fetchUntilAnswered(url: string, ms = 15_000): Promise<{ ok: boolean; body: string; error?: string }> {
    const deadline = Date.now() + ms;
    for (;;) {
        const r = await fetchFromMachine(url, Math.max(1_000, deadline - Date.now()));
        if (r.ok || Date.now() >= deadline) return r;
        await new Promise((done) => setTimeout(done, 500));
    }
}
