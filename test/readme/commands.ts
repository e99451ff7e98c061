// Helpers of the README suite: the README's commands as written, a fresh clone, an environment like a new
// shell's, and a PATH on which a program is missing.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import * as path from "node:path";

export const ROOT = path.join(__dirname, "..", "..");

/** The lines of README.md's first fenced code block, as written (a trailing `# …` is bash's to ignore). */
export function readmeCommands(markdown: string): string[] {
    const block = /^```[a-z]*\n([\s\S]*?)^```/m.exec(markdown);
    if (!block) throw new Error("README.md: no fenced code block with the commands");
    return block[1].split("\n").filter((line) => line.trim() !== "");
}

/** A clone of this repository's committed HEAD (what CI checks out), not of its work tree. */
export function freshClone(into: string): string {
    const head = execFileSync("git", ["-C", ROOT, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    execFileSync("git", ["clone", "--quiet", ROOT, into]);
    const cloned = execFileSync("git", ["-C", into, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    if (cloned !== head) execFileSync("git", ["-C", into, "checkout", "--quiet", "--detach", head]);
    return into;
}

// Set by the outer npm and vitest for their own children; a user's new shell has none of them (npm reads
// npm_config_* as its settings, vitest's markers change how a nested vitest behaves).
const RUNNER_VARS = /^(VITEST.*|npm_.*|NODE_ENV|TEST|INIT_CWD|PWD|OLDPWD|_)$/;

/**
 * This process's environment without the test runner's variables, as a nested run should see it: PATH,
 * proxies, CA bundles, CI and DEMESNE_* settings of the machine kept. `DEMESNE_CI_NESTED` tells the nested
 * .ci/run that it is itself this suite's case, so that it does not start this suite again (adr/0015).
 */
export function nestedEnv(overrides: Record<string, string>): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
        if (value !== undefined && !RUNNER_VARS.test(name)) env[name] = value;
    }
    return { ...env, DEMESNE_CI_NESTED: "1", ...overrides };
}

/** A directory of links to every program on `searchPath` but `missing`, to use as PATH: `missing` is not installed. */
export function pathWithout(missing: string, searchPath: string, dir: string): string {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const from of searchPath.split(":").filter((d) => path.isAbsolute(d) && existsSync(d))) {
        let names: string[];
        try {
            names = readdirSync(from);
        } catch {
            continue; // an unreadable PATH entry finds nothing for a shell either
        }
        for (const name of names) {
            const target = path.join(from, name);
            if (name === missing || existsSync(path.join(dir, name))) continue; // the first one on PATH wins
            try {
                const st = statSync(target);
                if (st.isFile() && (st.mode & 0o111) !== 0) symlinkSync(target, path.join(dir, name));
            } catch {
                // a dangling link is no program
            }
        }
    }
    return dir;
}

export interface LineRun {
    line: string;
    status: number | null;
    seconds: number;
}

/**
 * Runs each line in `cwd` with bash, as a user types it, one after the other until one fails; all output is
 * appended to `log`. `argv` runs bash as another user (e.g. setpriv …). All lines together get `timeoutMs`:
 * then the line's whole process group is stopped (status null), so that no run outlives its case.
 */
export async function runLines(
    lines: string[],
    opts: { cwd: string; env: Record<string, string>; log: string; timeoutMs: number; argv?: string[] },
): Promise<LineRun[]> {
    const deadline = Date.now() + opts.timeoutMs;
    const runs: LineRun[] = [];
    for (const line of lines) {
        const began = Date.now();
        const fd = openSync(opts.log, "a");
        const [cmd, ...args] = [...(opts.argv ?? []), "bash", "-c", line];
        const status = await new Promise<number | null>((resolve, reject) => {
            const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", fd, fd], detached: true });
            const stop = (signal: NodeJS.Signals) => () => {
                try {
                    process.kill(-child.pid!, signal);
                } catch {
                    // the group has already gone
                }
            };
            const term = setTimeout(stop("SIGTERM"), Math.max(0, deadline - Date.now()));
            const kill = setTimeout(stop("SIGKILL"), Math.max(0, deadline - Date.now()) + 30_000);
            child.on("error", reject);
            child.on("exit", (code) => {
                clearTimeout(term);
                clearTimeout(kill);
                resolve(code);
            });
        }).finally(() => closeSync(fd));
        runs.push({ line, status, seconds: Math.round((Date.now() - began) / 1000) });
        if (status !== 0) break;
    }
    return runs;
}

/** The last lines of a log, for a failure message. */
export function tail(log: string, lines = 60): string {
    return readFileSync(log, "utf8").split("\n").slice(-lines).join("\n");
}
