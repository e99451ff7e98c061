// The program's plan: every step of the validated config, the refusals and the approvals, before any
// resource exists. Pure, and free of the Pulumi SDK, so the CLI (drift, plan review, apply scope) reads a
// stack's plan without loading it.
import { accessProblems } from "./access-check";
import { approvalMessage, missingApprovals, MissingApproval, ProgramContext, refusalsFor, StepSpec } from "./actuator/steps";
import { ConfigError, ResolvedHost, StackConfig } from "./config/load";
import { hostLayerSteps, restoreSteps } from "./host/layers";
import { planService, ServicePlan } from "./service/spec";

export interface ProgramOptions {
    stack: string;
    project: string;
    dryRun: boolean;
}

export interface ProgramPlan {
    context: ProgramContext;
    hostSteps: Map<string, StepSpec[]>;
    services: ServicePlan[];
    /** Pending restores by host: each runs after the host's services. */
    restores: Map<string, StepSpec[]>;
    missing: MissingApproval[];
}

export function sshHosts(cfg: StackConfig<unknown>): ResolvedHost[] {
    return cfg.hosts.filter((h) => h.hostType === "ubuntu");
}

/** Plans every step and checks refusals and approvals; throws ConfigError before any resource. */
export function planProgram(cfg: StackConfig<unknown>, opts: ProgramOptions): ProgramPlan {
    const context: ProgramContext = { ...opts, killSwitch: cfg.killSwitch, approvals: cfg.approvals };
    const hostSteps = new Map(sshHosts(cfg).map((h) => [h.name, hostLayerSteps(cfg, h)]));
    const services = cfg.services.filter((s) => s.enabled).map((s) => planService(cfg, s));
    const restores = new Map(sshHosts(cfg).map((h) => [h.name, restoreSteps(cfg, h)]));
    const all = [...[...hostSteps.values()].flat(), ...services.map((s) => s.step), ...[...restores.values()].flat()];
    const refusals = [...accessProblems(cfg, { hostSteps, services }), ...all.flatMap((s) => refusalsFor(s, context))];
    if (refusals.length > 0) throw new ConfigError(refusals);
    const missing = missingApprovals(all, context);
    if (missing.length > 0 && !opts.dryRun) throw new ConfigError(missing.map(approvalMessage));
    return { context, hostSteps, services, restores, missing };
}
