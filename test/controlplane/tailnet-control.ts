// What the tailscale test needs around the control-plane host: the built Tailscale binaries
// (scripts/tailscale-tools.sh), the local coordination server (test/tailcontrol) started on the machine's
// end of the host's link, where only test hosts reach it, and a watch over every process's argv and
// environment for a secret.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";

export const TAILSCALE_VERSION = "v1.102.5";

/** The cache scripts/tailscale-tools.sh builds into; throws, naming the command, when a binary is missing. */
export function tailscaleTools(): { tailscale: string; tailscaled: string; tailcontrol: string } {
    const cache = process.env.DEMESNE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), ".cache"), "demesne");
    const dir = path.join(cache, `tailscale-${TAILSCALE_VERSION}`);
    const tools = { tailscale: path.join(dir, "tailscale"), tailscaled: path.join(dir, "tailscaled"), tailcontrol: path.join(dir, "tailcontrol") };
    const missing = Object.values(tools).filter((f) => !existsSync(f));
    if (missing.length) {
        throw new Error(`missing ${missing.join(", ")}: build Tailscale ${TAILSCALE_VERSION} and the test control server with \`npm run tailscale-tools\``);
    }
    return tools;
}

export interface TailControl {
    url: string;
    /** The nodes the server knows, with their tags (its /demesne/nodes). */
    nodes(): Promise<{ name: string; hostname: string; tags: string[] | null; authorized: boolean }[]>;
    /** Makes key the one-off key the next node must present (the one before is spent or void). */
    setKey(key: string): Promise<void>;
    /** Gives the node with this hostname the packet filter rules (tailcfg.FilterRule) in place of allow-all;
     * needs the server started with ownMapStream. */
    setPacketFilter(hostname: string, rules: object[]): Promise<void>;
    /** What the server logged so far (for failure messages). */
    log(): string;
    stop(): Promise<void>;
}

/**
 * Starts test/tailcontrol listening on ip (any port), requiring the one-off key in keyFile (read from the file,
 * never put in argv) and letting nodes take the given tags at signup. With ownMapStream it serves the map
 * long-poll itself, so setPacketFilter works (test/tailcontrol/filter.go).
 */
export async function startTailControl(binary: string, ip: string, keyFile: string, tags: string[], opts: { ownMapStream?: boolean } = {}): Promise<TailControl> {
    const args = ["-listen", `${ip}:0`, "-authkey-file", keyFile, "-tags", tags.join(","), ...(opts.ownMapStream ? ["-own-map-stream"] : [])];
    const child: ChildProcess = spawn(binary, args, {
        stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`tailcontrol printed no URL within 20 s:\n${stderr}`)), 20_000);
        child.stdout!.on("data", (d: Buffer) => {
            out += d.toString();
            const line = out.split("\n")[0]!;
            if (out.includes("\n")) {
                clearTimeout(timer);
                resolve(line.trim());
            }
        });
        child.on("exit", (code) => {
            clearTimeout(timer);
            reject(new Error(`tailcontrol exited (${code}):\n${stderr}`));
        });
    });
    return {
        url,
        async nodes() {
            const res = await fetch(`${url}/demesne/nodes`);
            return (await res.json()) as Awaited<ReturnType<TailControl["nodes"]>>;
        },
        async setKey(key: string) {
            const res = await fetch(`${url}/demesne/authkey`, { method: "POST", body: key });
            if (res.status !== 204) throw new Error(`tailcontrol refused the new key: ${res.status} ${await res.text()}`);
        },
        async setPacketFilter(hostname: string, rules: object[]) {
            const res = await fetch(`${url}/demesne/packetfilter?hostname=${encodeURIComponent(hostname)}`, { method: "POST", body: JSON.stringify(rules) });
            if (res.status !== 204) throw new Error(`tailcontrol refused the packet filter: ${res.status} ${await res.text()}`);
        },
        log: () => stderr,
        stop: () => new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
        }),
    };
}

/** A key as Tailscale prints one: tskey-auth-<id>-<secret>, random each call. */
export function randomAuthKey(): string {
    const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
    return `tskey-auth-k${hex(6)}CNTRL-${hex(16)}`;
}

/** Writes the key to a root-only file for the server to read. */
export function writeKeyFile(file: string, key: string): string {
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    return file;
}

/**
 * Reads /proc/PID/cmdline and /proc/PID/environ of every process on this machine (the test hosts' processes
 * included: their pid namespaces are children of this one) every few milliseconds until stopped. Returns
 * the pids whose argv or environment held the secret, and how many sweeps ran.
 */
export function watchProcesses(secret: string, everyMs = 20): { stop(): { hits: string[]; sweeps: number; processesSeen: number } } {
    const hits = new Set<string>();
    const seen = new Set<string>();
    let sweeps = 0;
    const sweep = () => {
        for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
            if (pid === String(process.pid)) continue; // this test holds the key in memory, not in argv or environ
            seen.add(pid);
            for (const f of ["cmdline", "environ"]) {
                try {
                    if (readFileSync(`/proc/${pid}/${f}`, "latin1").includes(secret)) hits.add(`${pid}/${f}`);
                } catch {
                    // gone between the listing and the read
                }
            }
        }
        sweeps++;
    };
    const timer = setInterval(sweep, everyMs);
    sweep();
    return {
        stop() {
            clearInterval(timer);
            sweep();
            return { hits: [...hits], sweeps, processesSeen: seen.size };
        },
    };
}
