// demesne plan → approve → apply, up to the engine: a saved plan (written the way `pulumi preview --save-plan`
// writes one, for this program's steps) is classified by tier; approval is bound to the plan's sha256, to the
// mode's ceiling, to one T3 target with its typed token, and optionally to an SSH signature; every refusal is
// an audit entry with its reason, and only a plan that passes every check reaches `pulumi up --plan`.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { planWorkspace, refused } from "../helpers/plans";

const { work, state, cli, planFor, planned, audit, keys } = planWorkspace();
const { alice } = keys;

describe("plan, approve, apply", { timeout: 600_000 }, () => {
  it("classifies every change of a saved plan by tier, names it by sha256 and records it", async () => {
    const p = planned("ops", planFor("ops", { baseline: "update" }));
    expect(p.plan).toMatch(/^[0-9a-f]{64}$/);
    expect(p.maxTier).toBe("T2");
    expect(p.approvable).toBe(true);
    expect(p.changes.find((c) => c.urn.endsWith("::h1-baseline"))).toMatchObject({ tier: "T2", op: "update" });
    expect(p.changes.find((c) => c.urn.endsWith("::h1-ssh"))).toMatchObject({ tier: "T0", op: "same" });
    const human = cli("plan", "--stack", "ops", "--plan-file", planFor("ops", { baseline: "update" }));
    expect(human.stdout).toMatch(/highest tier T2 {2}1 change/);
    expect(human.stdout).toMatch(/h1 +T2 +update +baseline +h1-baseline/);
    expect((await audit()).map((a) => a.action)).toContain("plan");
  });

  it("refuses to apply without an approval, and says so in the audit log", async () => {
    const p = planned("ops", planFor("ops", { docker: "update" }));
    refused(cli("apply", p.plan, "--stack", "ops"), /has no approval/);
    const last = (await audit()).pop()!;
    expect(last.action).toBe("apply refused");
    expect(last.params.reason).toMatch(/has no approval/);
  });

  it("a signed approval of exactly this plan lets it through every check to the engine", () => {
    const p = planned("ops", planFor("ops", { baseline: "update" }));
    const a = cli("approve", p.plan, "--stack", "ops", "--actor", "alice", "--sign-key", alice.key);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/approved by alice \(signed\)/);
    const r = cli("apply", p.plan, "--stack", "ops", "--allowed-signers", path.join(work, "allowed_signers"));
    // Every check passed: the next step is `pulumi up --plan`, which this machine cannot run for this program.
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pulumi is not on PATH/);
  });

  it("the approval carries the plan's --target list, so the apply has exactly the preview's scope", () => {
    const file = planFor("ops", { worker: "update" });
    const urn = Object.keys((JSON.parse(readFileSync(file, "utf8")) as { resourcePlans: Record<string, unknown> }).resourcePlans)[0]!;
    const r = cli("plan", "--stack", "ops", "--plan-file", file, "--target", urn, "--json");
    const sha = (JSON.parse(r.stdout) as { plan: string }).plan;
    expect(cli("approve", sha, "--stack", "ops", "--actor", "alice").code).toBe(0);
    const approval = JSON.parse(readFileSync(path.join(state, "plans", `${sha}.approval.json`), "utf8")) as { targets: string[]; actor: string };
    expect(approval).toMatchObject({ targets: [urn], actor: "alice" });
  });

  it("refuses a bad signature, a tampered plan, an approval of another plan and a kill switch", async () => {
    const p = planned("ops", planFor("ops", { baseline: "update", docker: "update" }));
    expect(cli("approve", p.plan, "--stack", "ops", "--actor", "alice", "--sign-key", alice.key).code).toBe(0);
    refused(cli("apply", p.plan, "--stack", "ops", "--allowed-signers", path.join(work, "allowed_signers_bob")), /signature does not verify for alice/);

    const other = planned("ops", planFor("ops", { docker: "replace" }));
    copyFileSync(path.join(state, "plans", `${p.plan}.approval.json`), path.join(state, "plans", `${other.plan}.approval.json`));
    refused(cli("apply", other.plan, "--stack", "ops"), /the approval found is for plan/);

    const saved = path.join(state, "plans", `${p.plan}.plan.json`);
    const original = readFileSync(saved, "utf8");
    writeFileSync(saved, original.replace('"update"', '"delete"'));
    refused(cli("apply", p.plan, "--stack", "ops"), /changed since demesne plan saved it/);
    writeFileSync(saved, original);

    const k = planned("killed", planFor("killed", { baseline: "update" }));
    refused(cli("apply", k.plan, "--stack", "killed"), /kill switch is on/);
    const reasons = (await audit()).filter((a) => a.action === "apply refused").map((a) => a.params.reason);
    for (const re of [/signature/, /another|approval found/, /changed since/, /kill switch/]) expect(reasons.some((r) => re.test(r ?? ""))).toBe(true);
  });

  it("holds a T3 change to the mode's ceiling, one target at a time, with its typed token", () => {
    const inOperate = planned("ops", planFor("ops", { ssh: "update" }));
    expect(inOperate.maxTier).toBe("T3");
    refused(cli("approve", inOperate.plan, "--stack", "ops", "--actor", "alice"), /T3 change and mode 'operate' allows up to T2/);

    const two = planned("glass", planFor("glass", { ssh: "update", firewall: "update" }));
    refused(cli("approve", two.plan, "--stack", "glass", "--actor", "alice"), /2 T3 targets; approve one T3 target at a time/);

    const one = planned("glass", planFor("glass", { ssh: "update" }));
    const token = one.changes.find((c) => c.urn.endsWith("::h1-ssh"))!.token!;
    expect(token).toMatch(/^T3-[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);
    refused(cli("approve", one.plan, "--stack", "glass", "--actor", "alice"), new RegExp(`needs its token typed after review: --token ${token}`));
    refused(cli("approve", one.plan, "--stack", "glass", "--actor", "alice", "--token", "T3-0000-0000-0000-0000"), /needs its token/);
    const ok = cli("approve", one.plan, "--stack", "glass", "--actor", "alice", "--token", token);
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(path.join(state, "plans", `${one.plan}.approval.json`))).toBe(true);
  });
});
