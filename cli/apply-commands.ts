// `demesne plan`, `demesne approve`, `demesne apply`: the dry run, a person's approval bound to that plan's
// sha256, and exactly that plan applied — each refusal recorded in the audit log with its reason.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { approvalMessage } from "../components/actuator/steps";
import { sha256Hex } from "../components/model/hash";
import { planProgram } from "../components/program-plan";
import { MODES, type Mode } from "../components/model/tiers";
import { auditAppend } from "../state-model/audit";
import type { Store } from "../state-model/db/store";
import { ingest } from "../state-model/ingest/ingest";
import { decodeUtf8, DEFAULT_MAX_BYTES, readInputFile } from "../state-model/ingest/read";
import {
  approvalFile, approvalsDir, planFile, planMetaFile, refusalOf, signApproval, verifyApproval, writeApproval, type Approval,
} from "../state-model/apply/approval";
import { LayerError, layerTargets, type LayerScope } from "../state-model/apply/layer-targets";
import { PlanError, reviewPlan, type PlanReview } from "../state-model/apply/plan-review";
import { ApprovalRefused, consumeApproval, recordApproval, recordedApproval } from "../state-model/apply/records";
import { str, type Parsed } from "./args";
import { stackOf, type Stack } from "./drift-commands";
import { EXIT, Refused, UsageError } from "./exit";
import { shown } from "./escape";
import { note, table, type Output } from "./output";

export const APPLY_VALUED = ["stack", "target", "layer", "plan-file", "token", "sign-key", "allowed-signers", "actor"];

/** The policy pack and its config, on the preview and on the apply alike: this checkout's, wherever the project is. */
const PACK_DIR = path.resolve(__dirname, "..", "policy-pack");
const PACK = ["--policy-pack", PACK_DIR, "--policy-pack-config", path.join(PACK_DIR, "config.json")];
const listOf = (p: Parsed, name: string) => (str(p, name) ?? "").split(",").map((t) => t.trim()).filter(Boolean);

export interface Scope {
  targets: string[];
  /** Steps to run again (`--layer … --replace`): a command step has no Read, so only a replace re-runs it. */
  replaces: string[];
}

/** --target URN,… and --layer HOST/LAYER,… (expanded to the URNs the engine needs) as the update's scope. */
function scopeOf(p: Parsed, stack: Stack): Scope {
  const layers = listOf(p, "layer");
  if (p.flags.get("replace") && layers.length === 0) throw new UsageError("--replace needs --layer HOST/LAYER (the layers to run again)");
  let scope: LayerScope;
  try {
    scope = layerTargets(stack.cfg, stack.name, layers);
  } catch (e) {
    if (e instanceof LayerError) throw new UsageError(e.message);
    throw e;
  }
  return { targets: [...new Set([...listOf(p, "target"), ...scope.targets])], replaces: p.flags.get("replace") ? scope.steps : [] };
}

const scopeArgs = (s: Scope) => [...s.targets.flatMap((t) => ["--target", t]), ...s.replaces.flatMap((t) => ["--target-replace", t])];

const NO_PULUMI = "pulumi is not on PATH: install it, or build it from Go modules with `npm run toolchain` and put `scripts/toolchain.sh --print-path` on PATH";

/** Whether `pulumi` can be run, asked before an apply uses up its approval. */
function pulumiOnPath(): boolean {
  return (process.env.PATH ?? "").split(path.delimiter).filter(Boolean).some((dir) => {
    try {
      accessSync(path.join(dir, "pulumi"), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Runs the real `pulumi` with its progress on our stderr; a missing CLI says how to get one. */
function pulumi(args: string[]): number {
  // PULUMI_DEBUG_COMMANDS enables --event-log (as the Automation API does); nothing else changes.
  const r = spawnSync("pulumi", args, { stdio: ["ignore", 2, 2], env: { ...process.env, PULUMI_DEBUG_COMMANDS: "true" } });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") throw new UsageError(NO_PULUMI);
  return r.status ?? 1;
}

/** The store's refusal of an approval, as the CLI's (exit 1, an audit entry with the reason). */
async function recorded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApprovalRefused) throw new Refused(e.message);
    throw e;
  }
}

function review(text: string, stack: Stack): PlanReview {
  try {
    return reviewPlan(text, stack.cfg, stack.name);
  } catch (e) {
    if (e instanceof PlanError) throw new UsageError(e.message);
    throw e;
  }
}

/** The saved plan `sha`, checked against its name: a plan edited after `demesne plan` is refused. */
export function savedPlan(sha: string | undefined): string {
  if (!sha || !/^[0-9a-f]{64}$/.test(sha)) throw new UsageError("name the plan by its sha256 (demesne plan prints it)");
  if (!existsSync(planFile(sha))) throw new Refused(`no saved plan ${sha.slice(0, 12)}… (run demesne plan)`);
  const text = readFileSync(planFile(sha), "utf8");
  if (sha256Hex(text) !== sha) throw new Refused(`plan ${sha.slice(0, 12)}… changed since demesne plan saved it: nothing is approved or applied`);
  return text;
}

/** The kill switch (demesne:killSwitch) wins over every approval: apply here, every act tool in `demesne mcp`. */
export function checkKillSwitch(stack: Stack, consequence = "nothing is applied"): void {
  if (stack.cfg.killSwitch) throw new Refused(`the kill switch is on (demesne:killSwitch): ${consequence}`);
}

export interface SavedPlanReview {
  review: PlanReview;
  mode: Mode;
  /** Why it cannot be approved under the stack's mode (T3 tokens aside), or null. */
  refusal: string | null;
  /** The --target list and replaced steps it was made with (what its approval would carry). */
  scope: Scope;
}

/** A saved plan as `demesne approve` would judge it, without approving anything. */
export function savedPlanReview(sha: string, stack: Stack): SavedPlanReview {
  const rv = review(savedPlan(sha), stack);
  const mode = stack.cfg.mode as Mode;
  const meta = existsSync(planMetaFile(rv.sha256)) ? (JSON.parse(readFileSync(planMetaFile(rv.sha256), "utf8")) as Partial<Scope>) : {};
  return { review: rv, mode, refusal: refusalOf(rv, mode, rv.t3.map((c) => c.token!)) ?? null, scope: { targets: meta.targets ?? [], replaces: meta.replaces ?? [] } };
}

async function refusing<T>(store: Store, actor: string, action: string, params: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Refused) await auditAppend(store, { actor, action: `${action} refused`, params: { ...params, reason: e.message }, output: "" });
    throw e;
  }
}

export async function plan(p: Parsed, out: Output, store: Store, actor: string): Promise<number> {
  const stack = stackOf(p);
  const scope = scopeOf(p, stack);
  let text: string;
  const given = str(p, "plan-file");
  if (given) {
    try {
      // Read like recorder input: a regular file, within the size limit, strict UTF-8 (a FIFO would block).
      text = decodeUtf8(readInputFile(given, DEFAULT_MAX_BYTES));
    } catch (e) {
      throw new UsageError(`--plan-file ${shown`${given}`}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else {
    const tmp = `${approvalsDir()}/preview-${process.pid}.json`;
    note(shown`pulumi preview of stack ${stack.name} with the policy pack…`);
    const status = pulumi(["preview", "--stack", stack.name, ...PACK, "--save-plan", tmp, "--diff", "--non-interactive", ...scopeArgs(scope)]);
    if (status !== 0) {
      // The engine's --diff display leaves out the program's warnings, which say how to approve T3 content.
      const missing = planProgram(stack.cfg, { stack: stack.name, project: "demesne", dryRun: true }).missing;
      for (const m of missing) note(approvalMessage(m));
      throw new Refused("the preview failed or the policy pack refused it (see above): no plan saved");
    }
    text = readFileSync(tmp, "utf8");
    rmSync(tmp, { force: true });
  }
  const rv = review(text, stack);
  writeFileSync(planFile(rv.sha256), text, { mode: 0o640 });
  writeFileSync(planMetaFile(rv.sha256), `${JSON.stringify(scope)}\n`, { mode: 0o640 });
  const rec = await ingest(store, text, { kind: "plan", stack: stack.name });
  const mode = stack.cfg.mode as Mode;
  const needs = refusalOf(rv, mode, rv.t3.map((c) => c.token!));
  const changes = rv.changes.filter((c) => c.op !== "same");
  await auditAppend(store, { actor, action: "plan", params: { stack: stack.name, plan: rv.sha256, maxTier: rv.maxTier, changes: changes.length }, output: "" });
  if (out.json) {
    out.data({ plan: rv.sha256, stack: stack.name, mode, maxTier: rv.maxTier, approvable: !needs, refusal: needs ?? null, recorded: rec.batchId, changes: rv.changes });
    return EXIT.ok;
  }
  out.line(shown`plan ${rv.sha256}  stack ${stack.name}  mode ${mode} (up to ${MODES[mode]})  highest tier ${rv.maxTier}  ${changes.length} change${changes.length === 1 ? "" : "s"}`);
  if (changes.length) out.line(table(changes.map((c) => ({ host: c.host ?? "-", tier: c.tier, op: c.op, class: c.stepClass ?? c.type, urn: c.urn.split("::").pop() })), ["host", "tier", "op", "class", "urn"]));
  for (const c of rv.t3) out.line(shown`T3: ${c.op} ${c.urn}\n    review it, then type: demesne approve ${rv.sha256} --actor <you> --token ${c.token}`);
  if (needs && !needs.startsWith("T3 change")) out.line(shown`cannot be approved: ${needs}`);
  return EXIT.ok;
}

export async function approve(p: Parsed, out: Output, store: Store): Promise<number> {
  const sha = p.positional[0];
  const actor = str(p, "actor");
  if (!actor) throw new UsageError("approve needs --actor NAME (the person approving)");
  return refusing(store, actor, "approve", { plan: sha ?? null }, async () => {
    const stack = stackOf(p);
    const rv = review(savedPlan(sha), stack);
    const tokens = (str(p, "token") ?? "").split(",").filter(Boolean);
    const why = refusalOf(rv, stack.cfg.mode as Mode, tokens);
    if (why) throw new Refused(why);
    const meta = existsSync(planMetaFile(rv.sha256)) ? (JSON.parse(readFileSync(planMetaFile(rv.sha256), "utf8")) as Partial<Scope>) : {};
    const a: Approval = {
      plan: rv.sha256, stack: stack.name, actor, at: new Date().toISOString(), mode: stack.cfg.mode, tokens,
      targets: meta.targets ?? [], replaces: meta.replaces ?? [], nonce: randomBytes(16).toString("hex"),
    };
    const { file, text } = writeApproval(a);
    const key = str(p, "sign-key") ?? process.env.DEMESNE_SIGNING_KEY;
    if (key) signApproval(file, key);
    // The record, not the file, is the approval: apply looks it up by the file's sha256.
    const id = await recordApproval(store, a, text, rv, Boolean(key));
    await auditAppend(store, {
      actor, action: "approve",
      params: { plan: rv.sha256, stack: stack.name, approval: id, maxTier: rv.maxTier, t3: rv.t3.map((c) => `${c.op} ${c.urn}`), signed: Boolean(key) },
      output: "",
    });
    if (out.json) out.data({ approved: rv.sha256, approval: id, actor, signed: Boolean(key), maxTier: rv.maxTier });
    else out.line(shown`plan ${rv.sha256} approved by ${actor}${key ? " (signed)" : ""}: highest tier ${rv.maxTier}`);
    return EXIT.ok;
  });
}

export async function apply(p: Parsed, out: Output, store: Store, actor: string): Promise<number> {
  const sha = p.positional[0];
  return refusing(store, actor, "apply", { plan: sha ?? null }, async () => {
    const stack = stackOf(p);
    checkKillSwitch(stack);
    const rv = review(savedPlan(sha), stack);
    if (!existsSync(approvalFile(rv.sha256))) throw new Refused(`plan ${rv.sha256.slice(0, 12)}… has no approval (demesne approve)`);
    const text = readFileSync(approvalFile(rv.sha256), "utf8");
    let a: Approval;
    try {
      a = JSON.parse(text) as Approval;
    } catch (e) {
      throw new Refused(`the approval file of plan ${rv.sha256.slice(0, 12)}… is not JSON (${(e as Error).message}): approve the plan again`);
    }
    if (a.plan !== rv.sha256 || a.stack !== stack.name) throw new Refused(`the approval found is for plan ${String(a.plan).slice(0, 12)}… of stack ${a.stack}, not this one`);
    // The file is the transport; the store says whether demesne approve made it and whether it was used.
    const id = await recorded(() => recordedApproval(store, rv.sha256, text));
    const signers = str(p, "allowed-signers") ?? process.env.DEMESNE_ALLOWED_SIGNERS;
    if (signers) {
      const bad = verifyApproval(approvalFile(rv.sha256), a.actor, signers);
      if (bad) throw new Refused(bad);
    }
    // The rules hold at apply time too: the mode or the approval may have changed since.
    const why = refusalOf(rv, stack.cfg.mode as Mode, a.tokens);
    if (why) throw new Refused(why);
    if (!pulumiOnPath()) throw new UsageError(NO_PULUMI);
    // Used up now, before the engine starts: a failed or interrupted apply needs a new approval too.
    await recorded(() => consumeApproval(store, rv.sha256, id, actor));
    await auditAppend(store, { actor, action: "approval used", params: { plan: rv.sha256, approval: id, approvedBy: a.actor }, output: "" });
    note(shown`applying plan ${rv.sha256.slice(0, 12)}… approved by ${a.actor}`);
    // The same scope and pack as the preview: the plan was made for exactly these targets.
    // Progress goes to the person; the engine's own event log is what gets recorded. The plan was previewed
    // and approved, so the update runs it without a second preview (the engine still holds it to the plan).
    const log = `${approvalsDir()}/apply-${process.pid}.events.ndjson`;
    const status = pulumi(["up", "--stack", stack.name, "--plan", planFile(rv.sha256), ...PACK, ...scopeArgs({ targets: a.targets ?? [], replaces: a.replaces ?? [] }),
      "--skip-preview", "--yes", "--non-interactive", "--event-log", log]);
    const events = existsSync(log) ? readFileSync(log, "utf8") : "";
    rmSync(log, { force: true });
    const rec = events.trim() ? await ingest(store, events, { stack: stack.name }) : undefined;
    await auditAppend(store, {
      actor, action: "apply",
      params: { plan: rv.sha256, approval: id, approvedBy: a.actor, exitCode: status, recorded: rec?.batchId ?? null, complete: rec?.complete ?? false },
      output: events,
    });
    if (out.json) out.data({ plan: rv.sha256, approval: id, exitCode: status, recorded: rec?.batchId ?? null, complete: rec?.complete ?? false });
    else out.line(`apply of plan ${rv.sha256.slice(0, 12)}… ${status === 0 ? "succeeded" : `failed (pulumi exited ${status})`}; recorded ${shown`${rec?.batchId ?? "nothing"}`}${rec && !rec.complete ? " (incomplete)" : ""}`);
    return status === 0 ? EXIT.ok : EXIT.refused;
  });
}
