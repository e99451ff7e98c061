import type { EnforcementLevel, ResourceValidationPolicy, Severity, StackValidationPolicy } from "@pulumi/policy";

/** Which praxis invariant or Demesne control a policy enforces (../docs: mission.md's table). */
export type Control =
    | "invariant-1 single execution path"
    | "invariant-2 tiers and approvals"
    | "invariant-5 host type gates actuation"
    | "invariant-6 human approval of T3"
    | "invariant-9 least privilege"
    | "configure-only"
    | "supply chain"
    | "exposure"
    | "segmentation";

interface Meta {
    /** kebab-case, stable: CI and `--policy-pack-config` refer to it. */
    name: string;
    description: string;
    enforcementLevel: EnforcementLevel;
    severity: Severity;
    control: Control;
    /** What to do when it fires. */
    remediationSteps: string;
}

export type DemesneResourcePolicy = ResourceValidationPolicy & Meta;
export type DemesneStackPolicy = StackValidationPolicy & Meta;
export type DemesnePolicy = DemesneResourcePolicy | DemesneStackPolicy;
