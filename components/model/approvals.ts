// Content-bound approvals for T3-class steps (praxis invariant 6).
// The token an operator types is derived from the operation, the step's URN and the hash of what the
// step will run, so an approval survives unchanged content, dies the moment the content changes, and
// approves one operation only (an update's token is not a delete's). It is a typed confirmation bound
// to content, not a secret: anyone may compute it, only a person with write access to stack config
// (or to the plan being approved) can record it.
import { canonicalJson, sha256Hex } from "./hash";

/**
 * What a token approves: an operation of a saved plan (`demesne approve`), or `declare` — a step the program
 * declares with this content (`demesne:approvals`), which the engine may create, update or replace, all of
 * which run that content. A declared step's token never approves a delete: a deleted step is not declared.
 */
export type TokenOp = "create" | "update" | "replace" | "delete" | "declare";

/** The op of a config token (`demesne:approvals`): the program cannot know what the engine will do. */
export const DECLARE: TokenOp = "declare";

/** The hash of a step's content: its script's sha256 and its plain parameters. */
export function stepContentHash(scriptSha256: string, params: Record<string, string>): string {
    return sha256Hex(canonicalJson({ script: scriptSha256, params }));
}

/**
 * The token to type: `T3-xxxx-xxxx-xxxx-xxxx` (64 bits of sha256 over the operation, URN and content).
 * `op` is one of TokenOp, or whatever else the engine's plan names (it is bound as given, so fails closed).
 */
export function approvalToken(urn: string, contentHash: string, op: TokenOp | (string & {})): string {
    const hex = sha256Hex(`demesne-approval-v2\n${op}\n${urn}\n${contentHash}`).slice(0, 16);
    return `T3-${hex.match(/.{4}/g)!.join("-")}`;
}

/** A config token (`demesne:approvals`) for a declared step: bound to its URN and content. */
export function isValidApproval(token: string | undefined, urn: string, contentHash: string): boolean {
    return token !== undefined && token === approvalToken(urn, contentHash, DECLARE);
}

/** The key of a step in `demesne:approvals`: `<host>/<layer>`. */
export function approvalKey(host: string, layer: string): string {
    return `${host}/${layer}`;
}

/** The URN Pulumi gives a resource: stack, project, the type chain of its parents, its name. */
export function resourceUrn(stack: string, project: string, typeChain: string[], name: string): string {
    return `urn:pulumi:${stack}::${project}::${typeChain.join("$")}::${name}`;
}
