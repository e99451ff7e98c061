// The real Pulumi engine for the end-to-end tests: the CLI, the Node language host and the command provider,
// found on PATH or in the toolchain cache (scripts/toolchain.sh), on a file backend with passphrase secrets in a
// temporary directory. A missing binary fails the suite with what to install; nothing is mocked.
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import { loadStackFile } from "../../components/config/stack-file";
import { planProgram } from "../../components/program";

export const REPO = path.resolve(__dirname, "..", "..");
export const PACK = path.join(REPO, "policy-pack");
export const PACK_CONFIG = path.join(PACK, "config.json");
export const PACK_ARGS = ["--policy-pack", PACK, "--policy-pack-config", PACK_CONFIG];

/** What `pulumi up` of this program needs besides the CLI; provider plugins with the version the SDKs pin. */
const NEEDED = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-command"];
const PLUGIN_VERSIONS: Record<string, string> = { command: "1.2.1", tailscale: "0.29.1", ovh: "2.19.1" };

function toolchainDir(): string | undefined {
    const r = spawnSync("bash", [path.join(REPO, "scripts", "toolchain.sh"), "--print-path"], {
        encoding: "utf8", env: { ...process.env, DEMESNE_TOOLCHAIN_BINARIES: "pulumi" },
    });
    const dir = r.stdout.trim().split("\n").pop();
    return r.status === 0 && dir && existsSync(dir) ? dir : undefined;
}

function which(name: string, pathVar: string): string | undefined {
    for (const d of pathVar.split(path.delimiter)) {
        if (d && existsSync(path.join(d, name))) return path.join(d, name);
    }
    return undefined;
}

export interface Engine {
    /** The environment every pulumi and demesne call of one test uses. */
    env: NodeJS.ProcessEnv;
    pulumi(args: string[], opts?: { cwd?: string; input?: string }): SpawnSyncReturns<string>;
    /** The same without blocking this process: for tests whose API doubles serve from it. */
    pulumiAsync(args: string[], opts?: { cwd?: string }): Promise<{ status: number; stdout: string; stderr: string }>;
}

/**
 * The engine on a file backend under dir; throws, naming what to install, when a binary is missing. `extra`
 * names further provider plugins a test needs (`tailscale`, `ovh`).
 */
export function engine(dir: string, extra: string[] = []): Engine {
    const tc = toolchainDir();
    // `pulumi plugin install resource NAME VERSION` puts a provider in the user's plugin cache; the tests use a
    // Pulumi home of their own, so those directories go on PATH instead.
    const home = process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
    const cached = Object.entries(PLUGIN_VERSIONS).map(([n, v]) => path.join(home, "plugins", `resource-${n}-v${v}`)).filter((d) => existsSync(d));
    const PATH = [tc, ...cached, process.env.PATH].filter(Boolean).join(path.delimiter);
    const missing = [...NEEDED, ...extra.map((n) => `pulumi-resource-${n}`)].filter((n) => !which(n, PATH));
    if (missing.length > 0) {
        const plugins = ["command", ...extra].map((n) => `pulumi plugin install resource ${n} ${PLUGIN_VERSIONS[n]}`).join("; ");
        throw new Error(
            `running the program through the real engine (npm run test:e2e, npm run preview:local) needs ${missing.join(", ")} on PATH. Install the Pulumi CLI (it ships ` +
            `pulumi-language-nodejs) and the provider plugins (${plugins}), ` +
            "or build them from Go modules with `npm run toolchain` " +
            "where the module proxy serves them (see docs/engine.md).");
    }
    mkdirSync(path.join(dir, "backend"), { recursive: true });
    mkdirSync(path.join(dir, "pulumi-home"), { recursive: true });
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        PATH,
        PULUMI_HOME: path.join(dir, "pulumi-home"),
        PULUMI_BACKEND_URL: `file://${path.join(dir, "backend")}`,
        PULUMI_CONFIG_PASSPHRASE: "demesne-e2e",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        DEMESNE_STATE_DIR: path.join(dir, "state"),
        NO_COLOR: "1",
        // Turns on --event-log, the engine's own event stream (the Automation API does the same).
        PULUMI_DEBUG_COMMANDS: "true",
    };
    return {
        env,
        pulumi: (args, opts = {}) => spawnSync("pulumi", [...args, "--non-interactive"], {
            cwd: opts.cwd ?? dir, env, input: opts.input, encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: 600_000,
        }),
        pulumiAsync: (args, opts = {}) => new Promise((resolve, reject) => {
            const child = spawn("pulumi", [...args, "--non-interactive"], { cwd: opts.cwd ?? dir, env, stdio: ["ignore", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
            child.on("error", reject);
            child.on("close", (code) => resolve({ status: code ?? -1, stdout, stderr }));
        }),
    };
}

/**
 * A Pulumi project directory for the program or one of test/e2e/programs. Its name is `demesne`, so URNs, approval keys and
 * tokens are those of the real program.
 */
export function project(dir: string, program: "demesne" | "edge" | "hosts" | "rogue" | "tailnet"): string {
    const proj = path.join(dir, `project-${program}`);
    mkdirSync(proj, { recursive: true });
    // `demesne` is the program itself (index.ts at the checkout's root).
    const main = path.relative(proj, program === "demesne" ? REPO : path.join(REPO, "test", "e2e", "programs", program));
    writeFileSync(path.join(proj, "Pulumi.yaml"), stringify({ name: "demesne", runtime: "nodejs", main }));
    return proj;
}

/**
 * A stack of a project on the engine's backend: Pulumi.<stack>.yaml with `config`, plus (with `approve`) every
 * T3 step's approval, as an operator types them after reviewing the first preview; then `stack init` and the
 * secrets (`--path` keys allowed).
 */
export function initStack(e: Engine, proj: string, stack: string, config: Record<string, unknown>, secrets: [string, string][], opts: { approve: boolean }): void {
    const file = path.join(proj, `Pulumi.${stack}.yaml`);
    writeFileSync(file, stringify({ config }));
    if (opts.approve) {
        const missing = planProgram(loadStackFile(file), { stack, project: "demesne", dryRun: true }).missing;
        writeFileSync(file, stringify({ config: { ...config, "demesne:approvals": Object.fromEntries(missing.map((m) => [m.key, m.token])) } }));
    }
    const run = (args: string[], input?: string) => {
        const r = e.pulumi(args, { cwd: proj, input });
        if (r.status !== 0) throw new Error(`pulumi ${args.slice(0, 4).join(" ")}: ${r.stderr}`);
    };
    run(["stack", "init", stack]);
    for (const [key, value] of secrets) run(["config", "set", "--secret", "--path", key, "--stack", stack], value);
}

/** Runs the demesne CLI in a project directory with the engine's environment. */
export function demesne(e: Engine, cwd: string, args: string[]): SpawnSyncReturns<string> {
    return spawnSync(process.execPath, [path.join(REPO, "bin", "demesne.js"), ...args], {
        cwd, env: e.env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: 600_000,
    });
}

/** Engine events (`--event-log`), one JSON object per line. */
export function events(file: string): Array<Record<string, unknown>> {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The mandatory policy violations among engine events: policy name → messages. */
export function violations(evs: Array<Record<string, unknown>>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const e of evs) {
        const p = e.policyEvent as { policyName?: string; enforcementLevel?: string; message?: string } | undefined;
        if (!p?.policyName || p.enforcementLevel !== "mandatory") continue;
        out.set(p.policyName, [...(out.get(p.policyName) ?? []), p.message ?? ""]);
    }
    return out;
}
