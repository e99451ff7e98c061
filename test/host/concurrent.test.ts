// Two runs at once never collide: test hosts brought up at the same moment by two processes (as two runs of
// the suite, or two checkouts, bring them up) take their own index, address, veth and namespace, answer only
// on their own address, and one's teardown, or its process dying, leaves the other one up.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { bindTestHost, runCommand, startTestHost, type TestHost, type TestHostData } from "../helpers/test-host";
import { freePort, startPostgres } from "../helpers/postgres-server";
import { tempDir } from "../helpers/tools";

const REPO = path.resolve(__dirname, "..", "..");
const LEASES = "/run/demesne-testhost";

interface Held {
    host: TestHost;
    owner: number;
    child: ChildProcessWithoutNullStreams;
    /** Resolves with the exit code once the process has ended. */
    exited: Promise<number | null>;
}

const children: ChildProcessWithoutNullStreams[] = [];

/** A host held by a process of its own (test/host/hold-host.ts). */
function hold(name: string): Promise<Held> {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "hold-host.ts"), name], { cwd: REPO });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    return new Promise((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
            out += d.toString();
            const line = out.split("\n")[0]!;
            if (out.includes("\n") && line.startsWith("{")) {
                const data = JSON.parse(line) as TestHostData & { owner: number };
                resolve({ host: bindTestHost(data), owner: data.owner, child, exited });
            }
        });
        void exited.then((code) => reject(new Error(`hold-host ${name} exited (${code}) before its host was up:\n${err}`)));
    });
}

async function release(h: Held): Promise<void> {
    h.child.stdin.end("stop\n");
    expect(await h.exited).toBe(0);
}

const namespaces = () => spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").map((l) => l.split(" ")[0]);
const linkExists = (index: number) => spawnSync("ip", ["link", "show", `dmh${index}`]).status === 0;
const leaseOwner = (index: number) => {
    const f = path.join(LEASES, String(index));
    return existsSync(f) ? /^owner (\d+) /m.exec(readFileSync(f, "utf8"))?.[1] : undefined;
};

/** Whether a TCP connection from inside `from` to `address`:22 opens (the host's bash, /dev/tcp). */
async function opens(from: TestHost, address: string): Promise<boolean> {
    const r = await from.exec(`timeout 3 bash -c 'exec 3<>/dev/tcp/${address}/22' 2>/dev/null && echo open || echo closed`);
    return r.stdout.trim() === "open";
}

afterAll(() => {
    // A process whose stdin closes stops its host; one that already exited ignores this.
    for (const c of children) c.stdin.end();
});

describe("two runs at once", { timeout: 180_000 }, () => {
    it("hosts of the same name brought up at once by two processes each get their own index, address and namespace, answer only there, and come down alone", async () => {
        const [a, b] = await Promise.all([hold("twin"), hold("twin")]);
        expect(a.host.index).not.toBe(b.host.index);
        expect(a.host.address).not.toBe(b.host.address);
        expect(a.host.netns).not.toBe(b.host.netns);
        expect(a.host.hostKey).not.toBe(b.host.hostKey);
        // Each lease names the process that holds the host.
        expect(leaseOwner(a.host.index)).toBe(String(a.owner));
        expect(leaseOwner(b.host.index)).toBe(String(b.owner));

        for (const h of [a.host, b.host]) {
            const r = await h.ssh("admin", h.adminKey, "hostname");
            expect(r.code, r.stderr).toBe(0);
            expect(r.stdout).toBe("twin\n");
            const scan = spawnSync("ssh-keyscan", ["-t", "ed25519", h.address], { encoding: "utf8" });
            expect(scan.stdout.trim().split(" ").slice(1).join(" ")).toBe(h.hostKey);
        }
        // Each reaches its own address and not the other's.
        expect(await opens(a.host, a.host.address)).toBe(true);
        expect(await opens(a.host, b.host.address)).toBe(false);
        expect(await opens(b.host, b.host.address)).toBe(true);
        expect(await opens(b.host, a.host.address)).toBe(false);

        await release(a);
        expect(namespaces()).not.toContain(a.host.netns);
        expect(linkExists(a.host.index)).toBe(false);
        expect(existsSync(a.host.stateDir)).toBe(false);
        expect(leaseOwner(a.host.index)).not.toBe(String(a.owner));
        // b is untouched by a's teardown.
        expect(namespaces()).toContain(b.host.netns);
        expect((await b.host.ssh("admin", b.host.adminKey, "hostname")).stdout).toBe("twin\n");
        await release(b);
        expect(namespaces()).not.toContain(b.host.netns);
        expect(existsSync(b.host.stateDir)).toBe(false);
    });

    it("the host of a run that was killed is torn down by the next up, and a live run's host stays", async () => {
        const [crashed, alive] = await Promise.all([hold("crashed"), hold("alive")]);
        crashed.child.kill("SIGKILL");
        await crashed.exited;
        // Killed, it could not tear down: its host stays until the next up on the machine sweeps it.
        expect(existsSync(`/proc/${crashed.host.pid}`)).toBe(true);
        const next = await startTestHost("next");
        try {
            expect(existsSync(`/proc/${crashed.host.pid}`)).toBe(false);
            if (next.index === crashed.host.index) {
                expect(leaseOwner(next.index)).toBe(String(process.pid));
            } else {
                expect(leaseOwner(crashed.host.index)).toBeUndefined();
                expect(namespaces()).not.toContain(crashed.host.netns);
                expect(linkExists(crashed.host.index)).toBe(false);
                expect(existsSync(crashed.host.stateDir)).toBe(false);
            }
            expect(leaseOwner(alive.host.index)).toBe(String(alive.owner));
            const r = await alive.host.ssh("admin", alive.host.adminKey, "hostname");
            expect(r.code, r.stderr).toBe(0);
            expect(r.stdout).toBe("alive\n");
        } finally {
            await next.stop();
        }
        await release(alive);
    });
});

describe("two runs asking for the rootfs at once", () => {
    it("build it once under the lock, into a directory renamed into place complete, and both get that path; a killed build's leftovers go", async () => {
        const dir = tempDir("rootfs-race");
        // A stand-in debootstrap that counts its runs and takes a while, so that the second run arrives mid-build.
        const bin = path.join(dir, "bin");
        mkdirSync(bin);
        writeFileSync(path.join(bin, "debootstrap"), [
            "#!/usr/bin/env bash",
            "while [[ $1 == --* ]]; do shift; done",
            'echo run >> "$FAKE_DEBOOTSTRAP_RUNS"',
            'mkdir -p "$2/etc" && sleep 2 && echo stand-in > "$2/etc/marker"',
        ].join("\n") + "\n");
        chmodSync(path.join(bin, "debootstrap"), 0o755);
        const cache = path.join(dir, "cache");
        mkdirSync(path.join(cache, "rootfs", ".build-killed", "root"), { recursive: true });
        const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, DEMESNE_CACHE_DIR: cache, FAKE_DEBOOTSTRAP_RUNS: path.join(dir, "runs") };
        const script = path.join(__dirname, "rootfs.sh");
        const [one, two] = await Promise.all([runCommand("bash", [script], { env }), runCommand("bash", [script], { env })]);
        expect(one.code, one.stderr).toBe(0);
        expect(two.code, two.stderr).toBe(0);
        const built = one.stdout.trim();
        expect(two.stdout.trim()).toBe(built);
        expect(readFileSync(path.join(dir, "runs"), "utf8")).toBe("run\n");
        expect(`${one.stderr}${two.stderr}`).toContain("waiting for it");
        expect(readFileSync(path.join(built, "etc", "marker"), "utf8")).toBe("stand-in\n");
        expect(existsSync(path.join(built, ".complete"))).toBe(true);
        expect(readdirSync(path.join(cache, "rootfs")).filter((f) => f.startsWith(".build-"))).toEqual([]);
    });
});

/** SELECT 1 through the admin URL: whether that server answers. */
async function answers(url: string): Promise<boolean> {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    try {
        await c.connect();
        return (await c.query("SELECT 1 AS one")).rows[0]?.one === 1;
    } catch {
        return false;
    } finally {
        await c.end().catch(() => undefined);
    }
}

describe("two runs starting PostgreSQL at once", { timeout: 120_000 }, () => {
    it("each gets its own cluster and port; a port taken between its pick and the bind is picked again", async () => {
        const taken = net.createServer();
        await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
        const busy = (taken.address() as net.AddressInfo).port;
        let picks = 0;
        try {
            // The first pick is a port another process holds, as when a parallel run binds it first.
            const [one, two] = await Promise.all([
                startPostgres({ pickPort: async () => (picks++ === 0 ? busy : freePort()) }),
                startPostgres(),
            ]);
            const port = (u: string) => new URL(u).port;
            expect(picks).toBe(2);
            expect(port(one.adminUrl)).not.toBe(String(busy));
            expect(port(one.adminUrl)).not.toBe(port(two.adminUrl));
            expect(await answers(one.adminUrl)).toBe(true);
            one.stop();
            expect(await answers(one.adminUrl)).toBe(false);
            expect(await answers(two.adminUrl)).toBe(true);
            two.stop();
        } finally {
            taken.close();
        }
    });

    it("a cluster whose run died is stopped and removed by the next start", async () => {
        const orphan = await startPostgres();
        // Its owner file now names a pid with a start time no live process has: a run that died.
        expect(existsSync(path.join(orphan.dir, `.s.PGSQL.${new URL(orphan.adminUrl).port}`))).toBe(true);
        writeFileSync(path.join(orphan.dir, "owner"), `${process.pid} 1\n`);
        expect(await answers(orphan.adminUrl)).toBe(true);
        const next = await startPostgres();
        try {
            expect(existsSync(orphan.dir)).toBe(false);
            expect(await answers(orphan.adminUrl)).toBe(false);
            expect(await answers(next.adminUrl)).toBe(true);
        } finally {
            next.stop();
        }
    });
});
