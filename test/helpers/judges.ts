// The outside judges of a host's hardening (issue #17): lynis run inside a test host, judging the host's own
// files, processes and kernel view, and ssh-audit run from this machine's side, as a client on the host's
// network would. Two ssh-audits: Debian bookworm's 2.5.0 on this machine, and trixie's 3.x from the control-
// plane rootfs (test/host/rootfs.sh), whose connection-rate test is the only one that finds the DHEat class.
import * as path from "node:path";
import { requireTool } from "./tools";
import { runCommand, type TestHost } from "./test-host";

export interface LynisTest {
    id: string;
    earned: number;
    max: number;
}

export interface LynisRun {
    version: string;
    index: number;
    /** Every test that counted towards the index, with the points lynis itself added up. */
    tests: LynisTest[];
}

/** `lynis audit system` inside the host (all tests, the default profile); a few minutes on a loaded machine. */
export async function runLynis(host: TestHost, timeoutMs = 900_000): Promise<LynisRun> {
    const found = await host.exec("command -v lynis");
    if (found.code !== 0) {
        throw new Error(`lynis is not in ${host.name}'s rootfs (${host.rootfs}): test/host/rootfs.sh installs it; remove the cached rootfs to rebuild it`);
    }
    const r = await host.exec("rm -f /var/log/lynis.log /var/log/lynis-report.dat && lynis audit system --quick --no-colors > /dev/null", { timeoutMs });
    if (r.code !== 0) throw new Error(`lynis failed on ${host.name} (exit ${r.code}): ${r.stderr.trim()}`);
    const report = (await host.exec("cat /var/log/lynis-report.dat")).stdout;
    const field = (k: string) => report.match(new RegExp(`^${k}=(.*)$`, "m"))?.[1];
    const index = Number(field("hardening_index"));
    if (!Number.isInteger(index)) throw new Error(`no hardening_index in ${host.name}'s /var/log/lynis-report.dat`);
    return { version: field("lynis_version") ?? "?", index, tests: lynisPoints((await host.exec("cat /var/log/lynis.log")).stdout) };
}

/**
 * Points per test from lynis.log. Each "Hardening: assigned" line carries the running totals ("Currently having
 * X points (out of Y)"); the differences are what lynis counted, which is not always what the line says (a few
 * tests assign points in a subshell, and those never reach the index).
 */
export function lynisPoints(log: string): LynisTest[] {
    const tests = new Map<string, LynisTest>();
    let id = "(before any test)";
    let have = 0;
    let total = 0;
    for (const line of log.split("\n")) {
        const started = line.match(/Performing test ID (\S+)/);
        if (started) id = started[1]!;
        const points = line.match(/Hardening: assigned .*Currently having (\d+) points \(out of (\d+)\)/);
        if (!points) continue;
        const t = tests.get(id) ?? { id, earned: 0, max: 0 };
        t.earned += Number(points[1]) - have;
        t.max += Number(points[2]) - total;
        [have, total] = [Number(points[1]), Number(points[2])];
        tests.set(id, t);
    }
    return [...tests.values()].filter((t) => t.max > 0);
}

/** The tests that did not get all their points, biggest loss first: "SSH-7408 49/60". */
export function lynisShortfalls(run: LynisRun): string[] {
    return run.tests.filter((t) => t.earned < t.max).sort((a, b) => b.max - b.earned - (a.max - a.earned) || a.id.localeCompare(b.id))
        .map((t) => `${t.id} ${t.earned}/${t.max}`);
}

export interface SshAuditRun {
    tool: string;
    fails: number;
    warns: number;
    /** ssh-audit 3.x's connection-rate note: the server let one source open connections faster than it deems safe. */
    dheat: boolean;
    out: string;
}

const count = (out: string, tag: string) => out.split("\n").filter((l) => l.includes(`[${tag}]`)).length;
const DHEAT = /insufficient connection throttling detected/;
/** What sshd says while PerSourcePenalties (OpenSSH 9.8+) holds off the source the last run came from. */
const PENALISED = /Not allowed at this time|did not receive banner/;

async function auditUntilServed(tool: string, file: string, args: string[]): Promise<SshAuditRun> {
    const deadline = Date.now() + 120_000;
    for (;;) {
        const r = await runCommand(file, args, { timeoutMs: 120_000 });
        // 0 good, 1 warnings, 2 failures... per version; a connection error prints [exception].
        const served = !PENALISED.test(r.stdout) && !/\[exception\]/.test(r.stdout) && r.stdout.includes("(gen)");
        if (served) return { tool, fails: count(r.stdout, "fail"), warns: count(r.stdout, "warn"), dheat: DHEAT.test(r.stdout), out: r.stdout };
        if (Date.now() > deadline) throw new Error(`${tool} got no full answer from ${args.at(-1)}:\n${r.stdout}${r.stderr}`);
        await new Promise((done) => setTimeout(done, 5_000));
    }
}

/** Debian bookworm's ssh-audit (2.5.0) on this machine, against the host's sshd. */
export function sshAuditMachine(host: TestHost): Promise<SshAuditRun> {
    return auditUntilServed("ssh-audit (machine)", requireTool("ssh-audit"), ["-n", "-p", String(host.port), host.address]);
}

/**
 * Trixie's ssh-audit (3.x) from the control-plane rootfs, run from this machine's network namespace: the
 * connection comes from outside the host (UFW lets loopback through, so inside it would judge nothing). The
 * cached rootfs is bound read-only in a mount namespace of its own, so the run cannot change it.
 */
export async function sshAuditRootfs(host: TestHost, controlPlaneRootfs: string): Promise<SshAuditRun> {
    const root = path.resolve(controlPlaneRootfs);
    const tool = path.join(root, "usr/bin/ssh-audit");
    if ((await runCommand("test", ["-x", tool])).code !== 0) {
        throw new Error(`no ssh-audit in ${root}: test/host/rootfs.sh controlplane installs it; remove the cached rootfs to rebuild it`);
    }
    const script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec chroot "$@"';
    return auditUntilServed("ssh-audit (trixie)", "unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", root,
        root, "env", "-i", "PATH=/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1", "ssh-audit", "-n", "-p", String(host.port), host.address]);
}
