// The sandboxed test host (test/host/testhost.sh) from TypeScript: a Debian bookworm rootfs under an overlay,
// in its own network namespace, reachable over real SSH from this machine. Needs root. Each host takes a
// machine-wide lease on its index (addresses, interface and namespace names) owned by this process, so test
// files, two runs or two checkouts never collide; hosts of a process that died are torn down by the next up.
import { spawn } from "node:child_process";
import { accessSync, constants, writeFileSync } from "node:fs";
import * as path from "node:path";

const HOST_DIR = path.join(__dirname, "..", "host");
const ROOTFS_SH = path.join(HOST_DIR, "rootfs.sh");
const TESTHOST_SH = path.join(HOST_DIR, "testhost.sh");
const TOOLS = ["debootstrap", "ssh", "ssh-keygen", "ssh-keyscan", "ip", "nsenter", "unshare", "setpriv", "mount", "findmnt", "flock"];
const INSTALL = "apt-get install debootstrap openssh-client iproute2 util-linux mount";

export interface CommandResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** What `testhost.sh up` prints. */
export interface TestHostInfo {
    /** The hostname inside; only this run's own (two runs may both have a host of that name). */
    name: string;
    /** The index testhost.sh leased for this host, unique on the machine while it is up. */
    index: number;
    /** 10.251.INDEX.2, where sshd listens. */
    address: string;
    /** 10.251.INDEX.0/30, the host's link: the only network it can reach (e.g. a stack's admin range). */
    network: string;
    port: number;
    /** The host's root (the overlay), as seen from this machine. */
    root: string;
    stateDir: string;
    /** The host's public key line, "ssh-ed25519 AAAA…". */
    hostKey: string;
    /** Private key of the host's `admin` user (uid 1000, no sudo). */
    adminKey: string;
    netns: string;
    /** The namespaced init, as seen from this machine. */
    pid: number;
}

export interface SshOptions {
    input?: string;
    /** Defaults to the host's own known_hosts (written from hostKey). */
    knownHostsFile?: string;
    timeoutMs?: number;
}

export interface TestHost extends TestHostInfo {
    /** The cached rootfs used read-only as the overlay's lower layer. */
    rootfs: string;
    /** `<address> <hostKey>`, the file ssh() checks the host key against. */
    knownHostsFile: string;
    /** `bash -c cmd` as root inside the host. */
    exec(cmd: string, opts?: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
    /** Writes a file inside the host as root (parent directories created); throws on failure. */
    writeFile(filePath: string, content: string, mode?: number): Promise<void>;
    /** The real ssh client as `user` with `keyPath`, strict host key checking, no ssh_config. */
    ssh(user: string, keyPath: string, remoteCommand: string, opts?: SshOptions): Promise<CommandResult>;
    /** `testhost.sh down`: idempotent. */
    stop(): Promise<void>;
}

/** Runs a program; never rejects for a non-zero exit (code -1 when it could not run or timed out). */
export function runCommand(
    file: string,
    args: string[],
    opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
    return new Promise((resolve) => {
        const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        let timedOut = false;
        // TERM first so that a timed-out `testhost.sh up` tears down what it made.
        let killer: NodeJS.Timeout | undefined;
        const timer = setTimeout(() => {
            timedOut = true;
            child.kill("SIGTERM");
            killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        }, opts.timeoutMs ?? 60_000);
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        // The child may exit without reading its input.
        child.stdin.on("error", () => undefined);
        child.stdin.end(opts.input ?? "");
        child.on("error", (e) => {
            clearTimeout(timer);
            clearTimeout(killer);
            resolve({ code: -1, stdout, stderr: `${stderr}${file}: ${e.message}\n` });
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            clearTimeout(killer);
            if (timedOut) stderr += `${file} timed out after ${opts.timeoutMs ?? 60_000} ms\n`;
            resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
        });
    });
}

function onPath(tool: string): boolean {
    const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin"];
    return dirs.some((d) => {
        try {
            accessSync(path.join(d, tool), constants.X_OK);
            return true;
        } catch {
            return false;
        }
    });
}

function preflight(): void {
    if (process.getuid?.() !== 0) {
        throw new Error("the sandboxed test host needs root (overlay mounts, network namespaces): run these tests as root");
    }
    const missing = TOOLS.filter((t) => !onPath(t));
    if (missing.length) throw new Error(`the sandboxed test host needs ${missing.join(", ")}: ${INSTALL}`);
}

function failure(what: string, r: CommandResult): Error {
    return new Error(`${what} failed (exit ${r.code}):\n${r.stderr.trim() || r.stdout.trim()}`);
}

/** Single-quotes a string for bash. */
export function shellQuote(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `testhost.sh down INDEX`: removes what the host left behind; fine when it is not up. */
export async function stopTestHost(index: number): Promise<void> {
    const r = await runCommand("bash", [TESTHOST_SH, "down", String(index)], { timeoutMs: 30_000 });
    if (r.code !== 0) throw failure(`testhost.sh down ${index}`, r);
}

/**
 * Builds (or reuses) the cached rootfs and brings up a host whose hostname is NAME, at the address of the
 * first free index (see TestHostInfo.address). Owned by this process: if it dies without stop(), the next
 * up on the machine tears the host down.
 */
export async function startTestHost(name: string): Promise<TestHost> {
    preflight();
    const built = await runCommand("bash", [ROOTFS_SH], { timeoutMs: 600_000 });
    if (built.code !== 0) throw failure("test/host/rootfs.sh", built);
    const rootfs = built.stdout.trim().split("\n").pop()!;
    const env = { ...process.env, DEMESNE_TESTHOST_ROOTFS: rootfs, DEMESNE_TESTHOST_OWNER: String(process.pid) };
    const up = await runCommand("bash", [TESTHOST_SH, "up", name], { timeoutMs: 60_000, env });
    if (up.code !== 0) throw failure(`testhost.sh up ${name}`, up);
    const info = JSON.parse(up.stdout) as TestHostInfo;

    const knownHostsFile = path.join(info.stateDir, "known_hosts");
    const hostPattern = info.port === 22 ? info.address : `[${info.address}]:${info.port}`;
    writeFileSync(knownHostsFile, `${hostPattern} ${info.hostKey}\n`);

    return bindTestHost({ ...info, rootfs, knownHostsFile });
}

/** A host's facts without its methods: what JSON keeps of a TestHost. */
export type TestHostData = Omit<TestHost, "exec" | "writeFile" | "ssh" | "stop">;

/** The methods over a host's facts; also for a host that another process brought up and printed. */
export function bindTestHost(data: TestHostData): TestHost {
    const exec = (cmd: string, opts: { input?: string; timeoutMs?: number } = {}) =>
        runCommand("bash", [TESTHOST_SH, "exec", String(data.index), "--", "bash", "-c", cmd], { input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000 });

    return {
        ...data,
        exec,
        async writeFile(filePath: string, content: string, mode = 0o644) {
            const p = shellQuote(filePath);
            const r = await exec(`mkdir -p -- "$(dirname -- ${p})" && cat > ${p} && chmod ${mode.toString(8)} -- ${p}`, { input: content });
            if (r.code !== 0) throw failure(`writing ${filePath} on ${data.name}`, r);
        },
        ssh(user: string, keyPath: string, remoteCommand: string, opts: SshOptions = {}) {
            const args = [
                "-F", "none", "-i", keyPath, "-p", String(data.port),
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", `UserKnownHostsFile=${opts.knownHostsFile ?? data.knownHostsFile}`, "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "ConnectTimeout=5", `${user}@${data.address}`, remoteCommand,
            ];
            return runCommand("ssh", args, { input: opts.input, timeoutMs: opts.timeoutMs ?? 30_000 });
        },
        stop: () => stopTestHost(data.index),
    };
}
