// Content-bound approvals for T3-class steps (praxis invariant 6).
// The token an operator types is derived from the step's URN and the hash of what the step
// will run, so an approval survives unchanged content and dies the moment the content changes.
// It is a typed confirmation bound to content, not a secret: anyone may compute it, only a
// person with write access to stack config can record it.
import { canonicalJson, sha256Hex } from "./hash";

/** The hash of a step's content: its script's sha256 and its plain parameters. */
export function stepContentHash(scriptSha256: string, params: Record<string, string>): string {
    return sha256Hex(canonicalJson({ script: scriptSha256, params }));
}

/** The token to type for a step: `T3-xxxx-xxxx-xxxx-xxxx` (64 bits of sha256 over URN and content). */
export function approvalToken(urn: string, contentHash: string): string {
    const hex = sha256Hex(`demesne-approval-v1\n${urn}\n${contentHash}`).slice(0, 16);
    return `T3-${hex.match(/.{4}/g)!.join("-")}`;
}

export function isValidApproval(token: string | undefined, urn: string, contentHash: string): boolean {
    return token !== undefined && token === approvalToken(urn, contentHash);
}

/** The key of a step in `demesne:approvals`: `<host>/<layer>`. */
export function approvalKey(host: string, layer: string): string {
    return `${host}/${layer}`;
}

/** The URN Pulumi gives a resource: stack, project, the type chain of its parents, its name. */
export function resourceUrn(stack: string, project: string, typeChain: string[], name: string): string {
    return `urn:pulumi:${stack}::${project}::${typeChain.join("$")}::${name}`;
}
