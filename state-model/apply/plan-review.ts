// A saved update plan (`pulumi preview --save-plan`) read as a list of changes, each with its tier (from the
// one tier table), its host, and — for a T3 change — the content-bound token a person must type to approve it.
import { canonicalJson, sha256Hex } from "../../components/model/hash";
import { approvalToken } from "../../components/model/approvals";
import { PROVIDER_TYPES } from "../../components/model/types";
import { tierOf, tierRank, type StepClassName, type Tier } from "../../components/model/tiers";
import { confirmStepName, stepIdentity } from "../../components/actuator/steps";
import type { StackConfig } from "../../components/config/load";
import { planProgram } from "../../components/program-plan";
import { plannedInputs, plannedTriggers, type PlannedResource } from "../plan-format";

export interface PlannedChange {
  urn: string;
  type: string;
  op: string;
  stepClass: StepClassName | null;
  host: string | null;
  tier: Tier;
  contentHash: string;
  /** For a T3 change: the token to type (operation + URN + content). */
  token?: string;
}

export interface PlanReview {
  sha256: string;
  changes: PlannedChange[];
  maxTier: Tier;
  t3: PlannedChange[];
}


/** Provider resources that are not command steps, by the class whose tiers they take. */
const TYPE_CLASS: Record<string, StepClassName> = {
  [PROVIDER_TYPES.tailnetAcl]: "tailnet-policy",
  [PROVIDER_TYPES.tailnetKey]: "tailnet-key",
  [PROVIDER_TYPES.ovhFirewall]: "edge-firewall",
  [PROVIDER_TYPES.ovhFirewallRule]: "edge-firewall",
};

/** Components, the stack and providers change nothing anywhere by themselves. */
const noEffect = (type: string) => type === "pulumi:pulumi:Stack" || type.startsWith("pulumi:providers:") || type.startsWith("demesne:");

/** The engine's step list for one resource, as one operation. */
export function opOf(steps: string[] | null | undefined): string {
  const s = steps ?? [];
  if (s.length === 0 || s.every((x) => x === "same")) return "same";
  if (s.some((x) => x === "replace" || x === "create-replacement" || x === "delete-replaced")) return "replace";
  for (const op of ["create", "update", "delete", "read", "refresh"]) if (s.includes(op)) return op;
  return s.join(",");
}

const typeOfUrn = (urn: string) => urn.split("::")[2]?.split("$").pop() ?? "";

export class PlanError extends Error {
  override name = "PlanError";
}

export function reviewPlan(text: string, cfg: StackConfig<unknown>, stack: string): PlanReview {
  let doc: { resourcePlans?: Record<string, PlannedResource> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (e) {
    throw new PlanError(`not a plan: ${(e as Error).message}`);
  }
  if (!doc.resourcePlans || typeof doc.resourcePlans !== "object") throw new PlanError("not a plan: no resourcePlans");
  const program = planProgram(cfg, { stack, project: "demesne", dryRun: true });
  const steps = new Map<string, { stepClass: StepClassName; host: string }>();
  for (const s of [...[...program.hostSteps.values()].flat(), ...program.services.map((x) => x.step), ...[...program.restores.values()].flat()]) {
    const urn = stepIdentity(s, program.context).urn;
    steps.set(urn, { stepClass: s.stepClass, host: s.host });
    if (s.deadManSeconds !== undefined) steps.set(confirmStepName(urn), { stepClass: "confirm", host: s.host });
  }
  const changes: PlannedChange[] = [];
  for (const [urn, rp] of Object.entries(doc.resourcePlans)) {
    const type = rp.goal?.type ?? typeOfUrn(urn);
    const op = opOf(rp.steps);
    const known = steps.get(urn);
    const stepClass = known?.stepClass ?? TYPE_CLASS[type] ?? null;
    // Unknown resources fail closed: tierOf gives T3 for a class it does not know.
    const tier: Tier = op === "same" || noEffect(type) ? "T0" : tierOf(stepClass ?? undefined, op);
    const content = plannedTriggers(rp)?.find((t): t is string => typeof t === "string" && t.startsWith("content:"));
    const contentHash = content ? content.slice("content:".length) : sha256Hex(canonicalJson({ op, inputs: plannedInputs(rp) }));
    changes.push({
      urn, type, op, stepClass, host: known?.host ?? null, tier, contentHash,
      ...(tier === "T3" ? { token: approvalToken(urn, contentHash, op) } : {}),
    });
  }
  changes.sort((a, b) => (a.host ?? "~").localeCompare(b.host ?? "~") || tierRank(b.tier) - tierRank(a.tier) || a.urn.localeCompare(b.urn));
  const maxTier = changes.reduce<Tier>((m, c) => (tierRank(c.tier) > tierRank(m) ? c.tier : m), "T0");
  return { sha256: sha256Hex(text), changes, maxTier, t3: changes.filter((c) => c.tier === "T3") };
}

