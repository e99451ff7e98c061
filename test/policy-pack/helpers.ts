// Test helpers in the style of pulumi/compliance-policies (@pulumi/policy ships none): build the
// arguments a policy receives, run it, and assert on the violations it reports.
import type { PolicyResource } from "@pulumi/policy";
import { encodeStdin } from "../../components/actuator/wire";
import { type Violation } from "../../scripts/lib/pack-offline";

export { createResourceValidationArgs, createStackValidationArgs, policyResources, runPolicy, type Violation } from "../../scripts/lib/pack-offline";

/** A deep copy (parents re-linked) so that a mutation never leaks into another case. */
export function cloneResources(resources: PolicyResource[]): PolicyResource[] {
    const copies = new Map(resources.map((r) => [r.urn, { ...r, props: structuredClone(r.props) } as PolicyResource]));
    for (const c of copies.values()) {
        if (c.parent) (c as { parent?: PolicyResource }).parent = copies.get(c.parent.urn);
    }
    return [...copies.values()];
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
