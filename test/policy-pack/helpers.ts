// Test helpers in the style of pulumi/compliance-policies (@pulumi/policy ships none): build the
// arguments a policy receives, run it, and assert on the violations it reports.
import type { PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { encodeStdin } from "../../components/actuator/wire";
import type { DemesnePolicy } from "../../policy-pack/lib/metadata";
import type { Registration } from "../helpers/mocks";

export interface Violation {
    message: string;
    urn?: string;
}

/** PolicyResources with parent links, as the engine hands them to a stack policy. */
export function policyResources(registrations: Registration[]): PolicyResource[] {
    const byUrn = new Map<string, PolicyResource>();
    const out = registrations.map((r) => {
        const res = {
            type: r.type,
            name: r.name,
            urn: r.urn ?? `urn:pulumi:control::demesne::${r.type}::${r.name}`,
            // As the engine does: a component's (and the stack's) props are its registered outputs.
            props: structuredClone(r.custom ? r.inputs : r.outputs ?? {}),
            opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [], ...(r.parent ? { parent: r.parent } : {}) },
            dependencies: [],
            propertyDependencies: {},
            isType: () => false,
            asType: () => undefined,
        } as unknown as PolicyResource & { parentUrn?: string };
        res.parentUrn = r.parent;
        byUrn.set(res.urn, res);
        return res;
    });
    for (const r of out) {
        const p = (r as { parentUrn?: string }).parentUrn;
        if (p) (r as { parent?: PolicyResource }).parent = byUrn.get(p);
    }
    return out;
}

/** A deep copy (parents re-linked) so that a mutation never leaks into another case. */
export function cloneResources(resources: PolicyResource[]): PolicyResource[] {
    const copies = new Map(resources.map((r) => [r.urn, { ...r, props: structuredClone(r.props) } as PolicyResource]));
    for (const c of copies.values()) {
        if (c.parent) (c as { parent?: PolicyResource }).parent = copies.get(c.parent.urn);
    }
    return [...copies.values()];
}

export function createStackValidationArgs(resources: PolicyResource[], config: Record<string, unknown> = {}): StackValidationArgs {
    return { resources, stackTags: new Map(), getConfig: <T extends object>() => config as T, notApplicable: () => undefined } as unknown as StackValidationArgs;
}

export function createResourceValidationArgs(r: PolicyResource, config: Record<string, unknown> = {}): ResourceValidationArgs {
    return {
        type: r.type,
        props: r.props,
        urn: r.urn,
        name: r.name,
        opts: r.opts,
        stackTags: new Map(),
        getConfig: <T extends object>() => config as T,
        isType: () => false,
        asType: () => undefined,
        notApplicable: () => undefined,
    } as unknown as ResourceValidationArgs;
}

/** Runs one policy over a whole stack (resource policies: over each resource) and collects violations. */
export async function runPolicy(policy: DemesnePolicy, resources: PolicyResource[], config: Record<string, unknown> = {}): Promise<Violation[]> {
    const out: Violation[] = [];
    if ("validateStack" in policy && policy.validateStack) {
        await policy.validateStack(createStackValidationArgs(resources, config), (message, urn) => out.push({ message, urn }));
    }
    if ("validateResource" in policy && policy.validateResource) {
        const validate = policy.validateResource;
        for (const r of resources) {
            const fns = Array.isArray(validate) ? validate : [validate];
            for (const fn of fns) await fn(createResourceValidationArgs(r, config), (message) => out.push({ message, urn: r.urn }));
        }
    }
    return out;
}

export function assertHasViolation(violations: Violation[], expected: string | RegExp): void {
    const hit = violations.some((v) => (typeof expected === "string" ? v.message === expected : expected.test(v.message)));
    if (!hit) {
        throw new Error(`expected a violation ${String(expected)}; got:\n${violations.map((v) => `  - ${v.message}`).join("\n") || "  (none)"}`);
    }
}

export function assertNoViolations(violations: Violation[]): void {
    if (violations.length > 0) throw new Error(`expected no violations; got:\n${violations.map((v) => `  - ${v.message}`).join("\n")}`);
}

export function find(resources: PolicyResource[], type: string, name: string): PolicyResource {
    const r = resources.find((x) => x.type === type && x.name === name);
    if (!r) throw new Error(`no ${type} named ${name}`);
    return r;
}

/** Decodes a command's stdin, lets `edit` change the script or parameters, and encodes it again. */
export function editStep(r: PolicyResource, edit: (s: { script: string; params: Record<string, string> }) => void): void {
    const [first, ...rest] = String(r.props.stdin).split("\n");
    const script = Buffer.from(first ?? "", "base64").toString("utf8");
    const params: Record<string, string> = {};
    for (const l of rest) {
        const i = l.indexOf("=");
        if (i > 0) params[l.slice(0, i)] = Buffer.from(l.slice(i + 1), "base64").toString("utf8");
    }
    const s = { script, params };
    edit(s);
    r.props.stdin = encodeStdin(s.script, s.params);
}
