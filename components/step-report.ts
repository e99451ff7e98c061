// What a stack would run and who could reach what, straight from its config with no engine: shared by
// `npm run steps` (scripts/steps.ts) and the MCP read tools `stack_steps` and `effective_access`.
import { outcomeOfPlan } from "./access-check";
import { stepIdentity } from "./actuator/steps";
import type { StackConfig } from "./config/load";
import { accessViolations, effectiveAccess, describeOwner } from "./model/access";
import { STEP_CLASSES, type StepClassName, type Tier } from "./model/tiers";
import { planProgram } from "./program-plan";

export interface StepRow {
    host: string;
    step: string;
    class: StepClassName;
    tiers: { create: Tier; update: Tier; replace: Tier; delete: Tier };
    contentSha256: string;
    deadManSeconds: number | null;
    /** A T3 step's content approval in config; `token` is what a person sets after review (missing only). */
    approval: { status: "not needed" | "missing" | "valid"; token?: string };
}

/** Every step the program would run on each host, with its tiers per kind of change (throws ConfigError). */
export function stepReport(cfg: StackConfig<unknown>, stack: string): { steps: StepRow[]; missing: { key: string; token: string }[] } {
    const plan = planProgram(cfg, { stack, project: "demesne", dryRun: true });
    const steps = [...[...plan.hostSteps.values()].flat(), ...plan.services.map((s) => s.step)].map((s): StepRow => {
        const id = stepIdentity(s, plan.context);
        const cls = STEP_CLASSES[s.stepClass];
        const missing = id.token !== undefined && plan.missing.some((m) => m.key === id.approvalKey);
        return {
            host: s.host, step: s.name, class: s.stepClass,
            tiers: { create: cls.create, update: cls.update, replace: cls.replace, delete: cls.delete },
            contentSha256: id.contentHash, deadManSeconds: s.deadManSeconds ?? null,
            approval: id.token === undefined ? { status: "not needed" } : missing ? { status: "missing", token: id.token } : { status: "valid" },
        };
    });
    return { steps, missing: plan.missing.map((m) => ({ key: m.key, token: m.token })) };
}

export interface ReachRow {
    principal: string;
    host: string;
    /** null: every port (a container on the host's network). */
    port: number | null;
    what: string;
    via: string;
    family: number | null;
    sources: string[];
    limitedBy: string | null;
}

/** Who reaches what on every host of the rendered outcome, and the violations of the segmentation property. */
export function accessSummary(cfg: StackConfig<unknown>, stack: string): { reaches: ReachRow[]; violations: string[] } {
    const plan = planProgram(cfg, { stack, project: "demesne", dryRun: true });
    const outcome = outcomeOfPlan(cfg, plan);
    const reaches = effectiveAccess(outcome).map((r) => ({
        principal: r.principal, host: r.host, port: r.port ?? null, what: describeOwner(r.owner), via: r.via,
        family: r.family ?? null, sources: r.sources ?? [], limitedBy: r.limitedBy ?? null,
    }));
    return { reaches, violations: accessViolations(outcome, cfg.adminRanges).map((v) => v.message) };
}
