// A step is one remote script run on one host, described before any resource exists, so
// approvals, the kill switch and host-type gates are all checked up front (nothing half-declared).
import { approvalKey, approvalToken, DECLARE, isValidApproval, resourceUrn, stepContentHash } from "../model/approvals";
import { isT3Class, STEP_CLASSES, StepClassName } from "../model/tiers";
import { PROVIDER_TYPES, TYPES } from "../model/types";
import { LayerScriptName, layerScript } from "../host/scripts";

export type HostType = "ubuntu" | "talos";

/** Host types demesne may reach over SSH. Anything else (Talos has no shell) is never actuated. */
export const SSH_HOST_TYPES: readonly HostType[] = ["ubuntu"];

export interface StepSpec {
    /** Host name from demesne:hosts. */
    host: string;
    hostType: HostType;
    /** The step's name: `<host>-<layer>` or `<host>-service-<name>`; also the Command's name. */
    name: string;
    stepClass: StepClassName;
    script: LayerScriptName;
    /** Plain parameters; with the script they make the step's content hash. */
    params: Record<string, string>;
    /** Names of secret parameters (their values are bound when resources are declared). */
    secretParams: string[];
    /** `bootstrap` connects as the host's bootstrap user; `deploy` goes through the runner. */
    runAs: "bootstrap" | "deploy";
    /** Lock-out-capable steps: seconds before the dead-man restore fires unless confirmed. */
    deadManSeconds?: number;
    /** The `<layer>` of its demesne:approvals key when not the step class (a restore: `restore-<service>`). */
    approvalLayer?: string;
    /** Type tokens of the components above the Actuator, outermost first. */
    parentTypes: string[];
}

export interface StepIdentity {
    urn: string;
    contentHash: string;
    /** Set for T3-class steps: the token the operator must type into demesne:approvals. */
    token?: string;
    approvalKey: string;
}

export interface ProgramContext {
    stack: string;
    project: string;
    dryRun: boolean;
    killSwitch: boolean;
    approvals: Record<string, string>;
}

/**
 * A lock-out-capable step's confirm step: named after it and declared beside it under the same Actuator, so
 * its URN is the step's with this suffix. Drift and plan review find it by this name.
 */
export function confirmStepName(stepNameOrUrn: string): string {
    return `${stepNameOrUrn}-confirm`;
}

export function stepIdentity(step: StepSpec, ctx: Pick<ProgramContext, "stack" | "project">): StepIdentity {
    const urn = resourceUrn(ctx.stack, ctx.project, [...step.parentTypes, TYPES.Actuator, PROVIDER_TYPES.remoteCommand], step.name);
    const contentHash = stepContentHash(layerScript(step.script).sha256, step.params);
    const key = approvalKey(step.host, step.approvalLayer ?? (step.stepClass === "service" ? step.name : step.stepClass));
    return {
        urn,
        contentHash,
        approvalKey: key,
        ...(isT3Class(step.stepClass) ? { token: approvalToken(urn, contentHash, DECLARE) } : {}),
    };
}

export interface MissingApproval {
    key: string;
    urn: string;
    contentHash: string;
    token: string;
    layer: StepClassName;
    host: string;
}

/** T3-class steps whose current content has no valid approval in demesne:approvals. */
export function missingApprovals(steps: StepSpec[], ctx: ProgramContext): MissingApproval[] {
    const missing: MissingApproval[] = [];
    for (const step of steps) {
        const id = stepIdentity(step, ctx);
        if (id.token === undefined) continue;
        if (!isValidApproval(ctx.approvals[id.approvalKey], id.urn, id.contentHash)) {
            missing.push({ key: id.approvalKey, urn: id.urn, contentHash: id.contentHash, token: id.token, layer: step.stepClass, host: step.host });
        }
    }
    return missing;
}

export function approvalMessage(m: MissingApproval): string {
    return `demesne:approvals["${m.key}"]: the ${m.layer} step on ${m.host} is ${STEP_CLASSES[m.layer].create}-class and its content ` +
        `(sha256 ${m.contentHash.slice(0, 12)}) has no valid approval; after reviewing the preview, approve it with: ` +
        `pulumi config set --path 'demesne:approvals["${m.key}"]' ${m.token}`;
}

/**
 * The refusals that hold whatever the change: SSH steps never target a non-SSH host
 * (invariant 5), and nothing runs outside a preview while the kill switch is on.
 */
export function refusalsFor(step: StepSpec, ctx: ProgramContext): string[] {
    const out: string[] = [];
    if (!SSH_HOST_TYPES.includes(step.hostType)) {
        out.push(`${step.name}: ${step.host} is a ${step.hostType} host: SSH steps never target it (invariant 5)`);
    }
    if (ctx.killSwitch && !ctx.dryRun) {
        out.push(`${step.name}: demesne:killSwitch is on: nothing runs on a host outside a preview`);
    }
    return out;
}
