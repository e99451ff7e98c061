// Approvals as records (ADR 0014): `demesne apply` acts only on an approval `demesne approve` recorded in the
// store, uses it up before the engine starts (once, even when two applies race), and a T3 token approves one
// operation. A stand-in `pulumi` counts the applies that got past every check.
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { approvalToken, DECLARE } from "../../components/model/approvals";
import { sha256Hex } from "../../components/model/hash";
import { consumeApproval } from "../../state-model/apply/records";
import { planWorkspace, refused, type PlanWorkspace } from "../helpers/plans";
import { BACKENDS, freshStore } from "../helpers/stores";

const ws = planWorkspace();
const { state, planFor, planned, audit } = ws;
const approvalPath = (sha: string) => path.join(state, "plans", `${sha}.approval.json`);
const approve = (w: PlanWorkspace, sha: string, ...more: string[]) => {
  const r = w.cli("approve", sha, "--stack", "ops", "--actor", "alice", "--json", ...more);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { approval: string };
};

describe("approvals as records", { timeout: 600_000 }, () => {
  it("a hand-written approval file, or one edited after demesne approve, is refused: no such approval is recorded", async () => {
    const p = planned("ops", planFor("ops", { baseline: "update" }));
    writeFileSync(approvalPath(p.plan), JSON.stringify({ plan: p.plan, stack: "ops", actor: "mallory", at: new Date().toISOString(), mode: "operate", tokens: [], targets: [] }));
    refused(ws.cliEngine("apply", p.plan, "--stack", "ops"), /matches no approval recorded in the store/);

    approve(ws, p.plan);
    const made = readFileSync(approvalPath(p.plan), "utf8");
    writeFileSync(approvalPath(p.plan), made.replace('"actor": "alice"', '"actor": "mallory"'));
    refused(ws.cliEngine("apply", p.plan, "--stack", "ops"), /matches no approval recorded in the store/);
    expect(ws.engineCalls()).toEqual([]);
    const last = (await audit()).filter((a) => a.action === "apply refused").pop()!;
    expect(last.params.reason).toMatch(/a file written or edited by hand is refused/);
  });

  it("an approval is used once: a second apply of the same plan needs a new approval", () => {
    const before = ws.engineCalls().length;
    const p = planned("ops", planFor("ops", { docker: "update" }));
    approve(ws, p.plan);
    const first = ws.cliEngine("apply", p.plan, "--stack", "ops");
    expect(first.code, first.stderr).toBe(0);
    refused(ws.cliEngine("apply", p.plan, "--stack", "ops"), /was already used by an apply .*approve the plan again/);
    approve(ws, p.plan);
    expect(ws.cliEngine("apply", p.plan, "--stack", "ops").code).toBe(0);
    expect(ws.engineCalls().length - before).toBe(2);
  });

  it.each(BACKENDS)("two applies of one approval at the same time: only one reaches the engine (%s)", async (backend) => {
    const target = backend === "pglite" ? undefined : await freshStore(backend);
    const w = target ? planWorkspace(target.env) : ws;
    const before = w.engineCalls().length;
    const p = w.planned("ops", w.planFor("ops", { coolify: "update" }));
    approve(w, p.plan);
    const both = await Promise.all([0, 1].map(() => w.cliEngineAsync(["apply", p.plan, "--stack", "ops"])));
    expect(both.map((r) => r.code).sort(), both.map((r) => r.stderr).join("\n")).toEqual([0, 1]);
    expect(both.find((r) => r.code === 1)!.stderr).toMatch(/was already used by an apply/);
    expect(w.engineCalls().length - before).toBe(1);
  });

  it.each(BACKENDS)("the store records one use of an approval, whoever checked what before (%s)", async (backend) => {
    const target = await freshStore(backend);
    const plan = sha256Hex("a plan");
    const id = sha256Hex("an approval");
    if (backend === "pglite") {
      const store = await target.open();
      try {
        await consumeApproval(store, plan, id, "alice");
        await expect(consumeApproval(store, plan, id, "bob")).rejects.toThrow(/was already used by an apply/);
      } finally {
        await store.close();
      }
      return;
    }
    // Two connections (the first open migrates the new database), neither reading first: the store alone decides.
    const first = await target.open();
    const stores = [first, await target.open()];
    try {
      const r = await Promise.allSettled(stores.map((s, i) => consumeApproval(s, plan, id, `actor-${i}`)));
      expect(r.map((x) => x.status).sort()).toEqual(["fulfilled", "rejected"]);
      expect(String((r.find((x) => x.status === "rejected") as PromiseRejectedResult).reason)).toMatch(/already used/);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("an update's token does not approve a delete of the same URN", () => {
    const update = planned("glass", planFor("glass", { ssh: "update" })).changes.find((c) => c.urn.endsWith("::h1-ssh"))!;
    const del = planned("glass", planFor("glass", { ssh: "delete" }));
    const deleted = del.changes.find((c) => c.urn.endsWith("::h1-ssh"))!;
    expect(deleted.token).not.toBe(update.token);
    refused(ws.cli("approve", del.plan, "--stack", "glass", "--actor", "alice", "--token", update.token!),
      new RegExp(`T3 change delete of .*needs its token typed after review: --token ${deleted.token}`));
    // One token per operation, and the config token (a declared step) is none of them.
    const tokens = ["create", "update", "replace", "delete", DECLARE].map((op) => approvalToken(update.urn, "c".repeat(64), op));
    expect(new Set(tokens).size).toBe(5);
  });

  it("the approval and its use are recorded: the plan's history and the audit log hold them, never the token", async () => {
    const p = planned("glass", planFor("glass", { firewall: "update" }));
    const token = p.changes.find((c) => c.urn.endsWith("::h1-firewall"))!.token!;
    const a = ws.cli("approve", p.plan, "--stack", "glass", "--actor", "alice", "--token", token, "--json");
    expect(a.code, a.stderr).toBe(0);
    const id = (JSON.parse(a.stdout) as { approval: string }).approval;
    const applied = ws.cliEngine("apply", p.plan, "--stack", "glass", "--actor", "bob", "--json");
    expect(applied.code, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ plan: p.plan, approval: id, exitCode: 0 });

    const h = ws.cli("history", `plan:${p.plan}`, "--json");
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).not.toContain(token);
    const rows = JSON.parse(h.stdout) as { attribute: string; key: string; value: Record<string, unknown> }[];
    expect(rows.find((r) => r.attribute === "approval")).toMatchObject({
      key: id, value: { actor: "alice", maxTier: "T3", tokenDigests: [sha256Hex(token)], t3: [expect.stringMatching(/^update urn:pulumi:glass::.*::h1-firewall$/)] },
    });
    expect(rows.find((r) => r.attribute === "approval.consumed")).toMatchObject({ key: id, value: { by: "bob" } });

    const entries = (await audit()).filter((e) => e.params.plan === p.plan);
    expect(entries.map((e) => e.action)).toEqual(["plan", "approve", "approval used", "apply"]);
    for (const e of entries.slice(1)) expect(e.params.approval).toBe(id);
    expect(JSON.stringify(entries)).not.toContain(token);
    expect(ws.cli("audit", "verify").code).toBe(0);
  });
});
