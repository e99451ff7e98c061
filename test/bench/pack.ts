/**
 * `npm run bench:pack`: what the policy pack costs `pulumi preview`, and where that goes (adr/0021).
 *
 * 1. Start-up: the pack's process as the Node language host starts it (run-policy-pack), timed from spawn to the
 *    port it prints when its gRPC server is up, next to stripped-down packs that show what each part costs.
 * 2. Previews of the program's hosts (test/e2e/programs/hosts) for 1, 10 and 50 hosts without the pack, with the
 *    pack as it ran before adr/0021 (from TypeScript, SDK loaded whole) and as shipped (compiled), side by side in
 *    one run; prints the pack's cost as a ratio and its per-host cost (no absolute gate). Hosts are never
 *    contacted: a preview runs no command.
 * Needs what the end-to-end suite needs (the CLI, the Node language host and the command provider;
 * test/e2e/engine.ts says how). Builds the pack first (scripts/build-pack.ts). Options: --sizes 1,10,50 --runs 2
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { buildPack } from "../../scripts/build-pack";
import { keyPair } from "../helpers/configured-host";
import { tempDir } from "../helpers/tools";
import { engine, initStack, PACK, PACK_ARGS, project, REPO } from "../e2e/engine";

const arg = (name: string, def: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1]! : def;
};
const SIZES = arg("sizes", "1,10,50").split(",").map(Number);
const RUNS = Number(arg("runs", "2"));
const log = (s: string) => process.stderr.write(`${s}\n`);
const RUNNER = path.join(REPO, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack", "index.js");
/** The pack as it ran before adr/0021: TypeScript through ts-node, the SDK loaded whole. */
const BEFORE = { DEMESNE_PACK_FROM_SOURCE: "1", DEMESNE_PACK_EAGER_SDK: "1" };

/** Milliseconds from spawning the pack's process until its gRPC server is listening (it prints the port). */
function startUp(dir: string, env: Record<string, string> = {}): Promise<number> {
    return new Promise((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        const child = spawn(process.execPath, [RUNNER, "127.0.0.1:1", dir], { cwd: dir, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
        child.stdout.once("data", () => {
            resolve(Number(process.hrtime.bigint() - t0) / 1e6);
            child.kill("SIGKILL");
        });
        child.on("exit", (code) => code !== null && reject(new Error(`the pack in ${dir} exited ${code} before listening:\n${stderr.slice(-2000)}`)));
    });
}

/** A pack directory whose index.js is `body`, resolving the repo's node_modules. */
function stripped(work: string, name: string, body: string): string {
    const dir = path.join(work, name);
    mkdirSync(dir, { recursive: true });
    symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, version: "0.0.1", main: "index.js" }));
    writeFileSync(path.join(dir, "index.js"), body);
    return dir;
}

async function startUpRows(work: string): Promise<string[]> {
    const policy = `{ name: "nothing", description: "nothing", enforcementLevel: "advisory", validateResource: () => {} }`;
    const cases: [string, string, Record<string, string>?][] = [
        ["runner only: node, run-policy-pack, TypeScript + ts-node (no pack)", stripped(work, "runner", `console.log("0");`)],
        ["+ @pulumi/policy and the whole SDK, gRPC up (a one-policy pack)", stripped(work, "empty", `new (require("@pulumi/policy").PolicyPack)("empty", { policies: [${policy}] });`)],
        ["demesne, as shipped: compiled, SDK's codePaths deferred", PACK],
        ["demesne, compiled, SDK loaded whole", PACK, { DEMESNE_PACK_EAGER_SDK: "1" }],
        ["demesne before: TypeScript, ts-node cache warm", PACK, BEFORE],
        ["demesne before: TypeScript, ts-node cache cold (after any edit)", PACK, BEFORE],
    ];
    const best = cases.map(() => Infinity);
    // Interleaved, so that a slow moment of the machine does not land on one case only.
    for (let i = 0; i < Math.max(RUNS, 3); i++) {
        for (const [k, [, dir, env]] of cases.entries()) {
            const cold: Record<string, string> = k === cases.length - 1 ? { TS_NODE_CACHE_DIRECTORY: path.join(work, `ts-node-cold-${i}`) } : {};
            best[k] = Math.min(best[k]!, await startUp(dir, { ...env, ...cold }));
        }
    }
    const [runner, empty, shipped, eager, warm, cold] = best as [number, number, number, number, number, number];
    const ms = (x: number) => `${x.toFixed(0)} ms`;
    return [
        ...cases.map(([label], k) => `${best[k]!.toFixed(0).padStart(7)}  ${label}`),
        `  so: the SDK and gRPC ${ms(empty - runner)}; Arborist (deferred now) ${ms(eager - shipped)}; the pack's own modules, compiled ${ms(eager - empty)} (noise when near 0);`,
        `      the type check after an edit (gone when built) ${ms(cold - warm)}; above a one-policy pack now ${ms(shipped - empty)}`,
    ];
}

function previewRows(work: string): string[] {
    const e = engine(work);
    const proj = project(work, "hosts");
    const deploy = keyPair(work, "deploy");
    const hostKey = keyPair(work, "hostkey").pub.split(" ").slice(0, 2).join(" ");
    const rows: string[] = [];
    const extra: { n: number; before: number; now: number }[] = [];
    for (const n of SIZES) {
        const stack = `bench-${n}`;
        initStack(e, proj, stack, {
            "demesne:deployUser": "deploy",
            "demesne:adminRanges": ["198.51.100.0/24"],
            "demesne:sshPublicKeys": [deploy.pub],
            "demesne:tailnet": { admins: ["ops@example.com"], aptKeySha256: "0".repeat(64) },
            "demesne:hosts": Array.from({ length: n }, (_, i) => ({
                name: `h${i}`, address: `10.252.${Math.floor(i / 250)}.${(i % 250) + 1}`, hostType: "ubuntu", hostKey, bootstrapUser: "ubuntu", edgeFirewall: false,
            })),
        }, [["demesne:sshPrivateKey", readFileSync(deploy.key, "utf8")]], { approve: true });
        const once = (pack: "none" | "before" | "now") => {
            // The engine's environment reaches the pack's process: that is how the "before" variant is chosen.
            for (const k of Object.keys(BEFORE)) delete e.env[k];
            if (pack === "before") Object.assign(e.env, BEFORE);
            const t0 = process.hrtime.bigint();
            const r = e.pulumi(["preview", "--stack", stack, ...(pack === "none" ? [] : PACK_ARGS)], { cwd: proj });
            if (r.status !== 0) throw new Error(`preview of ${n} hosts (pack: ${pack}) failed:\n${(r.stdout + r.stderr).slice(-3000)}`);
            return Number(process.hrtime.bigint() - t0) / 1e9;
        };
        log(`previewing ${n} host${n === 1 ? "" : "s"} (${RUNS} runs each, best kept)…`);
        const t = { none: Infinity, before: Infinity, now: Infinity };
        for (let i = 0; i < RUNS; i++) {
            for (const k of ["none", "before", "now"] as const) t[k] = Math.min(t[k], once(k));
        }
        extra.push({ n, before: t.before - t.none, now: t.now - t.none });
        const f = (x: number, w: number) => x.toFixed(2).padStart(w);
        rows.push(`${String(n).padStart(5)}  ${f(t.none, 11)}  ${f(t.before, 15)}  ${f(t.before / t.none, 12)}  ${f(t.now, 14)}  ${f(t.now / t.none, 9)}`);
    }
    // What the pack adds per host beyond its fixed cost: the engine's Analyze calls for each resource.
    const first = extra[0]!;
    const last = extra[extra.length - 1]!;
    const perHost = (k: "before" | "now") => ((last[k] - first[k]) / (last.n - first.n)) * 1000;
    return [
        "hosts  no pack (s)  before pack (s)  before ratio  with pack (s)  ratio now",
        ...rows,
        ...(last.n > first.n ? [`the pack's cost per host beyond its fixed cost (${first.n} → ${last.n} hosts): before ${perHost("before").toFixed(0)} ms, now ${perHost("now").toFixed(0)} ms`] : []),
    ];
}

async function main() {
    const t0 = Date.now();
    buildPack();
    log(`pack built in ${Date.now() - t0} ms (npm run build:pack)`);
    const work = tempDir("bench-pack");
    log("timing the pack's start-up…");
    const start = await startUpRows(work);
    const previews = previewRows(work);
    process.stdout.write([
        `start-up of the pack's process, spawn → listening (ms, best of ${Math.max(RUNS, 3)}):`,
        ...start,
        "",
        ...previews,
        "",
    ].join("\n"));
}

main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
});
