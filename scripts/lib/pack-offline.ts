// The policy pack run outside the engine: the resources a program registered under the mock engine, with
// parent links, handed to each policy as the engine would (`npm run steps`, and the pack's unit tests).
import type { PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import type { DemesnePolicy } from "../../policy-pack/lib/metadata";
import type { Registration } from "./mock-engine";

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

