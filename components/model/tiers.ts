// The tier table: tiers belong to changes, not to resources (praxis invariant 2).
// This module is dependency-free on purpose: the program, the policy pack, `demesne plan` (and
// `demesne approve`/`apply`) and the docs all read this one table.

/** T0 read/observe · T1 reversible, low blast radius · T2 state-changing · T3 destructive or lock-out-capable. */
export type Tier = "T0" | "T1" | "T2" | "T3";

export const TIERS: readonly Tier[] = ["T0", "T1", "T2", "T3"];

/** The operations a preview can show for a step. `same` is the unchanged step. */
export type StepOp = "same" | "create" | "update" | "replace" | "delete" | "read" | "refresh";

/** The tier of each kind of change to one class of step. */
export interface ChangeTiers {
    create: Tier;
    update: Tier;
    replace: Tier;
    delete: Tier;
}

/** A class of step: what it is, what changing it can break, and the tier of each change. */
export interface StepClass extends ChangeTiers {
    description: string;
    /** A lock-out-capable step arms a dead-man restore before it changes anything. */
    lockOutCapable: boolean;
}

// Deletes are T3 throughout: a command step has no revert script, so deleting one silently
// stops managing a setting on a live host — a human must say that is intended.
export const STEP_CLASSES = {
    baseline: {
        description: "packages, unattended-upgrades, deploy user, scoped sudoers and the script runner",
        create: "T2", update: "T2", replace: "T2", delete: "T3", lockOutCapable: false,
    },
    ssh: {
        description: "sshd hardening drop-in (can lock the operator out)",
        create: "T3", update: "T3", replace: "T3", delete: "T3", lockOutCapable: true,
    },
    tailscale: {
        description: "join the tailnet with a one-off tagged key",
        create: "T2", update: "T2", replace: "T3", delete: "T3", lockOutCapable: false,
    },
    firewall: {
        description: "UFW default deny and the DOCKER-USER block (can lock the operator out)",
        create: "T3", update: "T3", replace: "T3", delete: "T3", lockOutCapable: true,
    },
    hardening: {
        description: "kernel, PAM, login, mount and setuid hardening (rp_filter and PAM can lock the operator out)",
        create: "T3", update: "T3", replace: "T3", delete: "T3", lockOutCapable: true,
    },
    audit: {
        description: "auditd and its rules: the host's record of privileged actions",
        create: "T2", update: "T2", replace: "T2", delete: "T3", lockOutCapable: false,
    },
    "data-disk": {
        description: "LUKS encryption of a separate data disk for Docker's data (formats a blank disk; a wrong key shuts Docker's data away)",
        create: "T3", update: "T3", replace: "T3", delete: "T3", lockOutCapable: false,
    },
    docker: {
        description: "Docker engine on the iptables backend",
        create: "T2", update: "T2", replace: "T2", delete: "T3", lockOutCapable: false,
    },
    coolify: {
        description: "Coolify with its ports re-bound to loopback",
        create: "T2", update: "T2", replace: "T2", delete: "T3", lockOutCapable: false,
    },
    backup: {
        description: "restic backups on a schedule to the operator's target, with retention and a weekly full check",
        create: "T2", update: "T2", replace: "T2", delete: "T3", lockOutCapable: false,
    },
    restore: {
        description: "overwrite one service's data with a named snapshot (destroys what is there now)",
        create: "T3", update: "T3", replace: "T3", delete: "T3", lockOutCapable: false,
    },
    nvidia: {
        description: "NVIDIA driver and container toolkit (GPU tier only)",
        create: "T2", update: "T2", replace: "T2", delete: "T3", lockOutCapable: false,
    },
    worker: {
        description: "inference worker runtime (GPU tier only)",
        create: "T2", update: "T2", replace: "T2", delete: "T3", lockOutCapable: false,
    },
    service: {
        description: "a compose project bound to loopback and served on the tailnet",
        create: "T2", update: "T2", replace: "T2", delete: "T3", lockOutCapable: false,
    },
    confirm: {
        description: "a fresh SSH login that cancels a pending dead-man restore",
        create: "T1", update: "T1", replace: "T1", delete: "T1", lockOutCapable: false,
    },
    "tailnet-policy": {
        description: "the tailnet policy file (replacing it can cut every path in)",
        create: "T2", update: "T2", replace: "T3", delete: "T3", lockOutCapable: false,
    },
    "tailnet-key": {
        description: "a single-use pre-authorized auth key; replacing it is a key rotation",
        create: "T2", update: "T2", replace: "T3", delete: "T3", lockOutCapable: false,
    },
    "edge-firewall": {
        description: "OVH IP firewall and its rules (can cut SSH at the edge)",
        create: "T3", update: "T3", replace: "T3", delete: "T3", lockOutCapable: true,
    },
} as const satisfies Record<string, StepClass>;

export type StepClassName = keyof typeof STEP_CLASSES;

export const STEP_CLASS_NAMES = Object.keys(STEP_CLASSES) as StepClassName[];

export function isStepClassName(name: string): name is StepClassName {
    return Object.prototype.hasOwnProperty.call(STEP_CLASSES, name);
}

/**
 * The tier of one change. An unchanged step is T0; a read or refresh is T0; anything
 * we cannot classify — an unknown class or operation — is T3, so ignorance fails closed.
 */
export function tierOf(stepClass: string | undefined, op: string): Tier {
    if (op === "same" || op === "read" || op === "refresh") return "T0";
    if (stepClass === undefined || !isStepClassName(stepClass)) return "T3";
    const cls: ChangeTiers = STEP_CLASSES[stepClass];
    switch (op) {
        case "create": return cls.create;
        case "update": return cls.update;
        case "replace": return cls.replace;
        case "delete": return cls.delete;
        default: return "T3";
    }
}

/** A class is T3-class when creating or updating it is T3: such steps need a content-bound approval. */
export function isT3Class(stepClass: StepClassName): boolean {
    const cls: ChangeTiers = STEP_CLASSES[stepClass];
    return cls.create === "T3" || cls.update === "T3";
}

export function tierRank(tier: Tier): number {
    return TIERS.indexOf(tier);
}

/** Modes cap the highest tier of change one update may contain (enforced by `demesne approve` and `demesne apply`). */
export const MODES = {
    observe: "T0",
    operate: "T2",
    "break-glass": "T3",
} as const satisfies Record<string, Tier>;

export type Mode = keyof typeof MODES;

export const MODE_NAMES = Object.keys(MODES) as Mode[];

export function modeAllows(mode: Mode, tier: Tier): boolean {
    return tierRank(tier) <= tierRank(MODES[mode]);
}
