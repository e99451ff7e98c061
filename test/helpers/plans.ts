// A workspace for `demesne plan → approve → apply` tests: stack files, saved plans in the engine's format, the
// CLI with the workspace's store, and a stand-in `pulumi` that records each call (so an apply that passed
// every check is seen, and counted, without a real engine).
import { spawn } from "node:child_process";
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { expect } from "vitest";
import { stepIdentity } from "../../components/actuator/steps";
import { loadStackFile } from "../../components/config/stack-file";
import { planProgram } from "../../components/program";
import { openFleetStore } from "../../state-model/db/open";
import type { Store } from "../../state-model/db/store";
import { keyPair, writeStackFile } from "./configured-host";
import { demesne, type CliResult } from "./demesne-cli";

export interface PlanJson {
  plan: string;
  maxTier: string;
  approvable: boolean;
  refusal: string | null;
  changes: { urn: string; tier: string; token?: string; op: string }[];
}

export interface PlanWorkspace {
  work: string;
  state: string;
  env: Record<string, string>;
  /** The CLI without `pulumi` on PATH: a plan that passes every check stops where the engine would start. */
  cli(...args: string[]): CliResult;
  /** The CLI with the stand-in `pulumi` first on PATH. */
  cliEngine(...args: string[]): CliResult;
  cliEngineAsync(args: string[]): Promise<CliResult>;
  /** The `pulumi` calls the stand-in has seen so far (one line each). */
  engineCalls(): string[];
  /** A saved plan in the engine's format: each named step of host h1 with an operation. */
  planFor(stack: string, ops: Record<string, string>): string;
  planned(stack: string, file: string): PlanJson;
  openStore(): Promise<Store>;
  audit(): Promise<{ action: string; params: Record<string, unknown> & { reason?: string; plan?: string } }[]>;
  keys: { alice: { key: string; pub: string }; bob: { key: string; pub: string } };
}

/**
 * Stacks `ops` (mode operate), `glass` (break-glass) and `killed` (kill switch on), each with host h1. `storeEnv`
 * points the CLI at another store (PostgreSQL); plans and approvals stay in the workspace's state directory.
 */
export function planWorkspace(storeEnv: Record<string, string> = {}): PlanWorkspace {
  const work = mkdtempSync(path.join(tmpdir(), "demesne-apply-"));
  const state = path.join(work, "state");
  const bin = path.join(work, "bin");
  const calls = path.join(work, "pulumi-calls");
  mkdirSync(bin);
  // Slow enough that a second apply started at the same time is still deciding while the first one runs.
  writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\necho "$*" >> '${calls}'\nsleep 1\nexit 0\n`);
  chmodSync(path.join(bin, "pulumi"), 0o755);
  const basePath = path.dirname(process.execPath) + ":/usr/bin:/bin";
  const env = { DEMESNE_STATE_DIR: state, DATABASE_URL: "", DEMESNE_ACTOR: "ci", PATH: basePath, ...storeEnv };
  const engineEnv = { ...env, PATH: `${bin}:${basePath}` };
  const alice = keyPair(work, "alice");
  const bob = keyPair(work, "bob");
  const host = keyPair(work, "host");
  const hosts = [{ name: "h1", address: "203.0.113.10", hostKey: host.pub.split(" ").slice(0, 2).join(" ") }];
  const opts = { observerPub: alice.pub, adminRange: "198.51.100.0/24" };
  writeStackFile(work, "ops", hosts, opts);
  for (const [stack, extra] of [["glass", "demesne:mode: break-glass"], ["killed", "demesne:killSwitch: true"]] as const) {
    writeStackFile(work, stack, hosts, opts);
    appendFileSync(path.join(work, `Pulumi.${stack}.yaml`), `  ${extra}\n`);
  }
  writeFileSync(path.join(work, "allowed_signers"), `alice ${alice.pub}\n`);
  writeFileSync(path.join(work, "allowed_signers_bob"), `alice ${bob.pub}\n`);
  const cli = (...args: string[]) => demesne(args, env, undefined, work);
  const openStore = () => openFleetStore(storeEnv.DATABASE_URL ? { databaseUrl: storeEnv.DATABASE_URL } : { stateDir: state, databaseUrl: "" });
  let n = 0;
  return {
    work, state, env, cli, openStore, keys: { alice, bob },
    cliEngine: (...args) => demesne(args, engineEnv, undefined, work),
    cliEngineAsync: (args) => run(args, engineEnv, work),
    engineCalls: () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n").filter(Boolean) : []),
    planFor(stack, ops) {
      const cfg = loadStackFile(path.join(work, `Pulumi.${stack}.yaml`));
      const program = planProgram(cfg, { stack, project: "demesne", dryRun: true });
      const resourcePlans: Record<string, unknown> = {};
      for (const s of program.hostSteps.get("h1")!) {
        const id = stepIdentity(s, program.context);
        // As the engine writes it: what the step changes in goal.inputDiff, the proposed state beside it.
        const triggers = [`content:${id.contentHash}`];
        resourcePlans[id.urn] = { goal: { type: "command:remote:Command", inputDiff: { adds: { triggers } } }, steps: [ops[s.stepClass] ?? "same"], state: { triggers } };
      }
      const file = path.join(work, `${stack}-${Object.entries(ops).map(([k, v]) => `${k}-${v}`).join("_")}-${n++}.plan.json`);
      // The manifest's time makes each plan (and its sha256) new, as each real preview is.
      writeFileSync(file, JSON.stringify({ manifest: { time: new Date(Date.now() + n).toISOString() }, resourcePlans }, null, 2));
      return file;
    },
    planned(stack, file) {
      const r = cli("plan", "--stack", stack, "--plan-file", file, "--json");
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as PlanJson;
    },
    async audit() {
      const store = await openStore();
      try {
        return (await store.query<{ action: string; params: Record<string, unknown> }>("SELECT action, params FROM audit_log ORDER BY seq")).rows;
      } finally {
        await store.close();
      }
    },
  };
}

const BIN = path.join(__dirname, "..", "..", "bin", "demesne.js");

/** The CLI in a child process that runs beside others (spawnSync would run them one after another). */
function run(args: string[], env: Record<string, string>, cwd: string): Promise<CliResult> {
  const c = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd });
  let stdout = "";
  let stderr = "";
  c.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => c.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

export const refused = (r: CliResult, re: RegExp) => {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toMatch(re);
};
