// `demesne mcp --profile act` through a real MCP client over stdio: only plan and apply; plan is a dry run
// saved under its sha256 and classified, with no T3 token in its result; apply runs only a plan a person
// approved with `demesne approve`, once, under the stack's current mode, and never with the kill switch on.
// Every refusal is in the audit log. The engine is the workspace's stand-in `pulumi` (test/helpers/plans.ts),
// here also writing the plan a preview saves, so no real engine is needed.
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkContained, toolsOf } from "../../cli/mcp/server";
import { planWorkspace } from "../helpers/plans";
import { auditRows, call, connect, type Connected } from "./client";

const ws = planWorkspace();
const NEXT = path.join(ws.work, "next.plan.json");
const CALLS = path.join(ws.work, "mcp-pulumi-calls");
const BIN = path.join(ws.work, "mcp-bin");
const T3_TOKEN = /T3-[0-9a-f]{4}(-[0-9a-f]{4}){3}/;
let c: Connected;

/** What the next `pulumi preview --save-plan` writes: a plan made by the workspace for these changes. */
const nextPreview = (stack: string, ops: Record<string, string>) => copyFileSync(ws.planFor(stack, ops), NEXT);
const engineCalls = () => (existsSync(CALLS) ? readFileSync(CALLS, "utf8").trim().split("\n").filter(Boolean) : []);
const lastAudit = async (n: number) => (await auditRows(ws.openStore)).slice(-n);

beforeAll(async () => {
  const { mkdirSync } = await import("node:fs");
  mkdirSync(BIN);
  writeFileSync(path.join(BIN, "pulumi"), [
    "#!/bin/sh",
    `echo "$*" >> '${CALLS}'`,
    'if [ "$1" = preview ]; then',
    `  while [ $# -gt 0 ]; do if [ "$1" = --save-plan ]; then cp '${NEXT}' "$2"; fi; shift; done`,
    "fi",
    "exit 0",
    "",
  ].join("\n"));
  chmodSync(path.join(BIN, "pulumi"), 0o755);
  c = await connect(["--profile", "act"], { ...ws.env, PATH: `${BIN}:${ws.env.PATH}` }, ws.work);
}, 600_000);

afterAll(async () => {
  await c?.close();
});

describe("the profiles keep reading host text and acting apart (lethal trifecta)", () => {
  it("read has no act tool, act returns no host text, and a server offering both is refused", () => {
    expect(toolsOf("read").every((t) => t.kind === "read")).toBe(true);
    expect(toolsOf("act").map((t) => [t.name, t.kind, t.hostText])).toEqual([["plan", "act", false], ["apply", "act", false]]);
    expect(() => checkContained([...toolsOf("read"), ...toolsOf("act")])).toThrow(/may not offer act tools \(plan, apply\) with tools returning host text \(fleet, history/);
  });
});

describe("demesne mcp --profile act (stdio)", { timeout: 600_000 }, () => {
  it("offers only plan and apply: no approve tool, no argument for a T3 token", async () => {
    const tools = (await c.client.listTools()).tools;
    expect(tools.map((t) => t.name)).toEqual(["plan", "apply"]);
    for (const t of tools) {
      expect(t.annotations?.destructiveHint).toBe(true);
      expect(Object.keys((t.inputSchema as { properties?: object }).properties ?? {}).join(",")).not.toMatch(/token|approv|signers/i);
    }
    const r = await call(c.client, "apply", { plan: "a".repeat(64), token: "T3-0000-0000-0000-0000" });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/Input validation error.*token/s);
  });

  it("plan runs the preview, saves the plan under its sha256 and classifies it; a T3 change's token is never returned", async () => {
    nextPreview("ops", { baseline: "update" });
    const p = await call(c.client, "plan", { stack: "ops" });
    expect(p.isError, p.text).toBe(false);
    expect(p.structured).toMatchObject({ stack: "ops", mode: "operate", maxTier: "T2", approvable: true, t3: [] });
    const sha = p.structured.plan as string;
    expect(existsSync(path.join(ws.state, "plans", `${sha}.plan.json`))).toBe(true);
    expect(engineCalls().pop()).toMatch(/^preview --stack ops --policy-pack .* --save-plan /);
    expect(p.text).toMatch(/No field holds host-originated text/);

    nextPreview("glass", { ssh: "update" });
    const t3 = await call(c.client, "plan", { stack: "glass" });
    expect(t3.structured).toMatchObject({ maxTier: "T3", approvable: true, t3: [{ op: "update" }] });
    expect(JSON.stringify(t3)).not.toMatch(T3_TOKEN);
    const rows = await lastAudit(2);
    expect(rows.map((r) => [r.action, r.actor])).toEqual([["plan", "mcp:vitest-agent"], ["mcp plan", "mcp:vitest-agent"]]);
  });

  it("apply runs only a plan a person approved, once; unapproved, tampered, used and over-ceiling plans are refused and audited", async () => {
    nextPreview("ops", { docker: "update" });
    const sha = (await call(c.client, "plan", { stack: "ops" })).structured.plan as string;
    const unapproved = await call(c.client, "apply", { plan: sha, stack: "ops" });
    expect(unapproved).toMatchObject({ isError: true });
    expect(unapproved.text).toMatch(/^refused: plan [0-9a-f]{12}… has no approval \(demesne approve\)/);
    expect((await lastAudit(2)).map((r) => r.action)).toEqual(["apply refused", "mcp apply refused"]);

    // The human gate: a person approves in a terminal; the agent can then apply exactly that plan, once.
    expect(ws.cli("approve", sha, "--stack", "ops", "--actor", "alice").code).toBe(0);
    const before = engineCalls().length;
    const ok = await call(c.client, "apply", { plan: sha, stack: "ops" });
    expect(ok.isError, ok.text).toBe(false);
    expect(ok.structured).toMatchObject({ plan: sha, exitCode: 0, succeeded: true });
    expect(engineCalls().slice(before)).toEqual([expect.stringMatching(new RegExp(`^up --stack ops --plan .*${sha}\\.plan\\.json .* --skip-preview --yes`))]);
    const again = await call(c.client, "apply", { plan: sha, stack: "ops" });
    expect(again.text).toMatch(/^refused: approval [0-9a-f]{12}… of plan [0-9a-f]{12}… was already used by an apply/);

    nextPreview("ops", { baseline: "update" });
    const tampered = (await call(c.client, "plan", { stack: "ops" })).structured.plan as string;
    expect(ws.cli("approve", tampered, "--stack", "ops", "--actor", "alice").code).toBe(0);
    const saved = path.join(ws.state, "plans", `${tampered}.plan.json`);
    writeFileSync(saved, readFileSync(saved, "utf8").replace('"update"', '"delete"'));
    expect((await call(c.client, "apply", { plan: tampered, stack: "ops" })).text).toMatch(/changed since demesne plan saved it/);

    // Approved under break-glass; the mode is back to operate when the agent applies it: the ceiling holds.
    nextPreview("glass", { firewall: "update" });
    const glass = (await call(c.client, "plan", { stack: "glass" })).structured.plan as string;
    const token = ws.planned("glass", NEXT).changes.find((x) => x.tier === "T3")!.token!;
    expect(ws.cli("approve", glass, "--stack", "glass", "--actor", "alice", "--token", token).code).toBe(0);
    const stackFile = path.join(ws.work, "Pulumi.glass.yaml");
    writeFileSync(stackFile, readFileSync(stackFile, "utf8").replace("demesne:mode: break-glass", "demesne:mode: operate"));
    const over = await call(c.client, "apply", { plan: glass, stack: "glass" });
    expect(over.text).toMatch(/T3 change and mode 'operate' allows up to T2/);
    expect(over.text).not.toMatch(T3_TOKEN);

    expect(engineCalls().filter((l) => l.startsWith("up ")).length).toBe(1);
    const refusals = (await auditRows(ws.openStore)).filter((r) => r.action === "mcp apply refused").map((r) => String(r.params.reason));
    for (const re of [/has no approval/, /already used/, /changed since/, /allows up to T2/]) expect(refusals.some((x) => re.test(x)), String(re)).toBe(true);
  });

  it("with the kill switch on, every act call is refused, says so, and is audited", async () => {
    nextPreview("killed", { baseline: "update" });
    const sha = ws.planned("killed", NEXT).plan;
    expect(ws.cli("approve", sha, "--stack", "killed", "--actor", "alice").code).toBe(0);
    const before = engineCalls().length;
    const plan = await call(c.client, "plan", { stack: "killed" });
    const apply = await call(c.client, "apply", { plan: sha, stack: "killed" });
    for (const r of [plan, apply]) {
      expect(r.isError).toBe(true);
      expect(r.text).toBe("refused: the kill switch is on (demesne:killSwitch): the act profile refuses every call");
    }
    expect(engineCalls().length).toBe(before);
    const rows = await lastAudit(2);
    expect(rows.map((r) => r.action)).toEqual(["mcp plan refused", "mcp apply refused"]);
    expect(rows.every((r) => /kill switch/.test(String(r.params.reason)) && r.params.profile === "act")).toBe(true);
  });
});
