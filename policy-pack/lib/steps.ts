import { UnknownValueError, type PolicyResource } from "@pulumi/policy";
import { bootstrapCommand, runnerCommand } from "../../components/actuator/wire";
import { SCRIPT_CATALOGUE } from "../../components/model/catalogue";
import { RUNNER_PATH } from "../../components/render/sudoers";
import { stepContentHash } from "../../components/model/approvals";
import { layerOfScript } from "../../components/model/catalogue";
import { sha256Hex } from "../../components/model/hash";
import { secretParamsOf } from "../../components/model/layer-params";
import { PROVIDER_TYPES, TYPES } from "../../components/model/types";

/**
 * A command step as the pack sees it: the script and parameters recovered from stdin (the pack recomputes
 * the script's sha256 and content hash itself and never trusts a stamp). Secret inputs arrive as plain
 * values in a policy (pulumi/pulumi-policy#241): nothing here may echo a parameter value in a message.
 */
export interface DecodedStep {
    scriptSha256: string;
    /** The layer whose catalogued script has this sha256; undefined when it is not catalogued. */
    layer?: string;
    params: Record<string, string>;
    /** The content hash the approval token binds (secret parameters left out, as the program does). */
    contentHash: string;
}

const PARAM = /^([A-Z][A-Z0-9_]*)=([A-Za-z0-9+/=]*)$/;

export function decodeStdin(stdin: unknown): DecodedStep | { error: string } {
    if (typeof stdin !== "string" || stdin === "") return { error: "it has no stdin carrying a layer script" };
    const [first, ...rest] = stdin.split("\n");
    const script = Buffer.from(first ?? "", "base64").toString("utf8");
    if (!script.startsWith("#!")) return { error: "the first line of its stdin is not a base64 script" };
    const params: Record<string, string> = {};
    for (const line of rest) {
        if (line === "") continue;
        const m = PARAM.exec(line);
        if (!m) return { error: "its stdin has a line that is not NAME=<base64>" };
        params[m[1]!] = Buffer.from(m[2]!, "base64").toString("utf8");
    }
    const scriptSha256 = sha256Hex(script);
    const layer = layerOfScript(scriptSha256);
    const secret = new Set(secretParamsOf(layer ?? ""));
    const hashed = Object.fromEntries(Object.entries(params).filter(([k]) => !secret.has(k)));
    return { scriptSha256, layer, params, contentHash: stepContentHash(scriptSha256, hashed) };
}

export const isCommand = (r: { type: string }) => r.type === PROVIDER_TYPES.remoteCommand;

/**
 * A property that may not be known during a preview (a provider-computed default, an output not created yet):
 * undefined then, instead of the policy SDK's UnknownValueError, which would skip the whole policy.
 */
export function prop(r: PolicyResource, key: string): unknown {
    try {
        return r.props[key];
    } catch (e) {
        if (e instanceof UnknownValueError) return undefined;
        throw e;
    }
}

/**
 * A step's stdin that depends on something not created yet (the tailscale layer's auth key) is secret and
 * unknown during a preview, and reaches the pack as "". Its content is checked when the update runs; until
 * then its command line must be exactly a catalogued layer's, through the runner or the bootstrap path.
 */
export function isCataloguedCommandLine(create: unknown): boolean {
    return Object.entries(SCRIPT_CATALOGUE).some(([layer, sha]) => create === runnerCommand(RUNNER_PATH, layer, sha) || create === bootstrapCommand(sha));
}

/**
 * A resource outside a targeted update's scope (`--target`) that does not exist yet reaches the pack with no
 * inputs at all: it runs nothing in this update, so there is nothing to check.
 */
export const outsideTargets = (r: { props: Record<string, unknown> }) => Object.keys(r.props).length === 0;

/** Remote actions other than a command: file copies. None may exist outside an Actuator. */
export const REMOTE_COPY_TYPES = ["command:remote:CopyToRemote", "command:remote:CopyFile"];

export function ancestors(r: PolicyResource): PolicyResource[] {
    const out: PolicyResource[] = [];
    for (let p = r.parent; p; p = p.parent) out.push(p);
    return out;
}

/** The Actuator a step belongs to: its direct parent, and only that. */
export function actuatorOf(r: PolicyResource): PolicyResource | undefined {
    return r.parent?.type === TYPES.Actuator ? r.parent : undefined;
}

export function triggersOf(r: PolicyResource): string[] {
    const t = r.props.triggers;
    return Array.isArray(t) ? t.filter((x): x is string => typeof x === "string") : [];
}
