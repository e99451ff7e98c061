// The hook end to end: its answers and exit codes, its entries in demesne's own audit chain (decision, rule,
// redacted command), the chain still verifying, and failing closed when it cannot read its input or record.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditAppend, auditVerify } from "../../state-model/audit";
import { openFleetStore } from "../../state-model/db/open";
import type { Store } from "../../state-model/db/store";
import { runHook, type HookDeps } from "../../cli/guard/hook";
import { readTrail } from "../../cli/guard/trail";
import { CTX, ROOT } from "./context";

const call = (tool: string, input: Record<string, unknown>) => JSON.stringify({ session_id: "run-42", tool_name: tool, tool_input: input, cwd: ROOT, hook_event_name: "PreToolUse" });

let store: Store;
let dir: string;
let deps: HookDeps;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-guard-"));
  store = await openFleetStore({ stateDir: path.join(dir, "state"), databaseUrl: "" });
  deps = { root: ROOT, home: CTX.home, scripts: CTX.scripts, fallbackCwd: ROOT, append: (e) => auditAppend(store, e) };
}, 180_000);
afterAll(async () => {
  await store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function lastEntry() {
  const r = await store.query<{ seq: number; actor: string; action: string; params: Record<string, unknown> }>("SELECT seq, actor, action, params FROM audit_log ORDER BY seq DESC LIMIT 1");
  return r.rows[0]!;
}

describe("the guard hook", () => {
  it("blocks with exit 2, says what to do instead, and records the decision and the rule", async () => {
    const r = await runHook(call("Bash", { command: "bash -c 'pulumi up --yes'" }), deps);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^demesne-guard: refused: .*demesne plan.*demesne apply.*\[audit entry \d+\]\n$/s);
    const e = await lastEntry();
    expect(e).toMatchObject({ actor: "agent", action: "agent command" });
    expect(e.params).toMatchObject({ run: "run-42", tool: "Bash", cwd: ROOT, command: "bash -c 'pulumi up --yes'", decision: "deny", rule: "blast-radius:pulumi-up", category: "blast-radius" });
    expect(r.stderr).toContain(`[audit entry ${e.seq}]`);
  });

  it("lets an honest command through silently, and records it", async () => {
    const r = await runHook(call("Bash", { command: "npx vitest run test/guard" }), deps);
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect((await lastEntry()).params).toMatchObject({ command: "npx vitest run test/guard", decision: "allow", rule: null });
  });

  it("asks a person, in Claude Code's JSON, for demesne apply", async () => {
    const r = await runHook(call("Bash", { command: "npx demesne apply 0123 --stack control" }), deps);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { hookSpecificOutput: Record<string, string> };
    expect(out.hookSpecificOutput).toMatchObject({ hookEventName: "PreToolUse", permissionDecision: "ask" });
    expect(out.hookSpecificOutput.permissionDecisionReason).toContain("needs a person");
    expect((await lastEntry()).params).toMatchObject({ decision: "ask", rule: "ask:demesne-apply" });
  });

  it("never stores a secret from the command line", async () => {
    const token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    await runHook(call("Bash", { command: `GITHUB_TOKEN=${token} curl -H "Authorization: Bearer s3cr3tvalue" --password=hunter2 --api-key=abc,xyzzy -u bob:pa55word https://x.example` }), deps);
    const stored = JSON.stringify((await lastEntry()).params);
    for (const s of [token, "s3cr3tvalue", "hunter2", "xyzzy", "pa55word"]) expect(stored).not.toContain(s);
    expect(stored).toContain("[redacted]");
  });

  it("guards Read and Edit calls: the store is never read, the guard never edited; plain reads are not recorded", async () => {
    const before = (await lastEntry()).seq;
    expect((await runHook(call("Read", { file_path: path.join(ROOT, "README.md") }), deps)).code).toBe(0);
    expect((await lastEntry()).seq).toBe(before);
    const read = await runHook(call("Read", { file_path: path.join(ROOT, ".demesne/pgdata/PG_VERSION") }), deps);
    expect(read.code).toBe(2);
    expect((await lastEntry()).params).toMatchObject({ tool: "Read", decision: "deny", rule: "secret:state" });
    const edit = await runHook(call("Edit", { file_path: path.join(ROOT, "cli/guard/rules.ts"), old_string: "deny", new_string: "allow" }), deps);
    expect(edit.code).toBe(2);
    expect((await lastEntry()).params).toMatchObject({ tool: "Edit", decision: "deny", rule: "tamper:guard" });
    const glob = await runHook(call("Glob", { pattern: ".demesne/**" }), deps);
    expect(glob.code).toBe(2);
    expect((await lastEntry()).params).toMatchObject({ tool: "Glob", decision: "deny", rule: "secret:state" });
    const cfg = await runHook(call("Write", { file_path: path.join(ROOT, "Pulumi.control.yaml"), content: "x" }), deps);
    expect(JSON.parse(cfg.stdout).hookSpecificOutput.permissionDecision).toBe("ask");
  });

  it("fails closed: unreadable input, an unparseable command, and an entry that could not be written all block", async () => {
    expect((await runHook("not json", deps)).code).toBe(2);
    expect((await lastEntry()).params).toMatchObject({ decision: "deny", rule: "unseen:bad-input" });
    const unparsed = await runHook(call("Bash", { command: "echo \"unclosed" }), deps);
    expect(unparsed.code).toBe(2);
    expect(unparsed.stderr).toContain("cannot parse");
    const unrecorded = await runHook(call("Bash", { command: "git status" }), { ...deps, append: async () => undefined });
    expect(unrecorded.code).toBe(2);
    expect(unrecorded.stderr).toContain("could not be recorded");
    const thrown = await runHook(call("Bash", { command: "git status" }), { ...deps, append: async () => { throw new Error("disk full"); } });
    expect(thrown.code).toBe(2);
  });

  it("its entries keep the chain verifying, and the trail reads them back by run", async () => {
    const v = await auditVerify(store);
    expect(v.entries).toBeGreaterThanOrEqual(8);
    const trail = await readTrail(store, { run: "run-42" });
    expect(trail.map((t) => t.decision)).toContain("deny");
    expect(trail.find((t) => t.rule === "blast-radius:pulumi-up")?.command).toBe("bash -c 'pulumi up --yes'");
  });
});

describe("the guard hook as a process (bin/demesne-guard.js)", () => {
  const BIN = path.join(ROOT, "bin", "demesne-guard.js");
  const run = (args: string[], input: string, env: Record<string, string>) =>
    spawnSync(process.execPath, [args[0]!, ...args.slice(1)], { input, env: { ...process.env, DATABASE_URL: "", ...env }, encoding: "utf8", timeout: 240_000 });

  it("blocks with exit 2 into the store `demesne audit verify` checks, and that chain verifies", () => {
    const state = path.join(dir, "process-state");
    const r = run([BIN, "hook"], call("Bash", { command: "PULUMI=pulumi; $PULUMI destroy --yes" }), { DEMESNE_STATE_DIR: state });
    expect(r.stderr).toContain("this destroys the stack's resources");
    expect(r.stderr).not.toContain("could not");
    expect(r.status).toBe(2);
    const v = run([path.join(ROOT, "bin", "demesne.js"), "audit", "verify", "--json"], "", { DEMESNE_STATE_DIR: state });
    expect(v.status).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ entries: 1 });
  }, 300_000);

  it("a guard that fails (here: input larger than it accepts) exits 2, which blocks", () => {
    const r = run([BIN, "hook"], "x".repeat((1 << 20) + 10), { DEMESNE_STATE_DIR: path.join(dir, "unused") });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("refused");
  }, 120_000);
});
