// Helpers of the README suite: the README's commands as written, a fresh clone, an environment like a new
// shell's, and a machine on which a program is not installed.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, realpathSync, rmSync } from "node:fs";
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

/**
 * The argv prefix that runs a command in a private mount namespace where /usr/bin has no `missing`: a
 * hard-linked copy of /usr/bin without it is mounted over /usr/bin there. PATH stays as it is, so programs run
 * in a chroot (the test hosts) still find theirs, and `/usr/bin/sudo` by its full path is gone too.
 */
export function withoutProgram(missing: string, scratchDir: string): string[] {
    const found = execFileSync("sh", ["-c", `command -v ${missing} || true`], { encoding: "utf8" }).trim();
    if (found !== "" && realpathSync(found) !== path.join("/usr/bin", missing)) {
        throw new Error(`${missing} is at ${found}, not in /usr/bin: this suite can only hide it from /usr/bin`);
    }
    const copy = path.join(scratchDir, "usr-bin");
    execFileSync("cp", ["-al", "/usr/bin", copy]);
    rmSync(path.join(copy, missing), { force: true });
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", 'mount --bind "$0" /usr/bin && exec "$@"', copy];
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
