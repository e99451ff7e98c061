/**
 * `npm run bench:guard` (also part of `npm run bench`): the guard hook's cost per tool call.
 *  - in-process: the decision alone (parse, unwrap, rules, paths) for every row of test/guard/table.ts;
 *    the budget is 50 ms per call at the 99th percentile, and the bench exits 1 above it.
 *  - whole process: `node bin/demesne-guard.js` as Claude Code runs it, once without the store (`check`:
 *    node + tsx start-up + decision) and once as the hook (that plus opening the store and one audit
 *    append). Reported, not gated: the embedded store's start-up dominates it (adr/0017).
 * Options: --iterations N (default 20), --spawns N (default 5)
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { decideCommand } from "../../cli/guard/decide";
import { CTX, ROOT } from "../guard/context";
import { ALLOWED, ASKED, BLOCKED } from "../guard/table";

const BUDGET_MS = 50;
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const log = (s: string) => process.stderr.write(`${s}\n`);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const ms = (n: number) => `${n.toFixed(n < 1 ? 3 : 1)} ms`;

function inProcess(iterations: number): number[] {
  const rows = [...BLOCKED, ...ASKED, ...ALLOWED];
  for (const r of rows) decideCommand(r.cmd, CTX); // warm the JIT
  const times: number[] = [];
  for (let k = 0; k < iterations; k++) {
    for (const r of rows) {
      const t = process.hrtime.bigint();
      decideCommand(r.cmd, CTX);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  return times;
}

function spawnTimes(n: number, args: string[], input: string, env: Record<string, string>): number[] {
  const times: number[] = [];
  for (let k = 0; k < n; k++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [path.join(ROOT, "bin", "demesne-guard.js"), ...args], { input, env: { ...process.env, DATABASE_URL: "", ...env }, encoding: "utf8" });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.status !== 0 && r.status !== 1) throw new Error(`demesne-guard ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  }
  return times;
}

function main(): number {
  const iterations = arg("iterations", 20);
  const spawns = arg("spawns", 5);
  const times = inProcess(iterations);
  const p99 = pct(times, 99);
  log(`guard decision, in-process: ${times.length} calls, median ${ms(pct(times, 50))}, p99 ${ms(p99)}, max ${ms(Math.max(...times))} (budget ${BUDGET_MS} ms at p99)`);

  const work = mkdtempSync(path.join(tmpdir(), "demesne-bench-guard-"));
  try {
    const env = { DEMESNE_STATE_DIR: path.join(work, "state") };
    const input = JSON.stringify({ session_id: "bench", tool_name: "Bash", tool_input: { command: "npx vitest run test/guard" }, cwd: ROOT, hook_event_name: "PreToolUse" });
    const check = spawnTimes(spawns, ["check", "npx vitest run test/guard"], "", env);
    log(`whole process without the store (node + tsx + decision): median ${ms(pct(check, 50))} over ${spawns}`);
    spawnTimes(1, ["hook"], input, env); // creates and migrates the store: not a per-call cost
    const hook = spawnTimes(spawns, ["hook"], input, env);
    log(`whole process as the hook (+ open the embedded store, append, close): median ${ms(pct(hook, 50))}, max ${ms(Math.max(...hook))} over ${spawns}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (p99 > BUDGET_MS) {
    log(`FAIL: the decision's p99 ${ms(p99)} is over the ${BUDGET_MS} ms budget`);
    return 1;
  }
  return 0;
}

process.exitCode = main();
