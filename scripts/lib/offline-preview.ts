// The program and the policy pack run together without an engine, account or secret: the program under the
// mock engine on a stack file's config (its secrets as stand-ins), then every policy of the pack over what
// it registered. `npm run steps` uses it so that it refuses what `pulumi preview --policy-pack` would.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { stackFileSource } from "../../components/config/stack-file";
import { POLICIES } from "../../policy-pack/policies";
import { recordRegistrations, settle } from "./mock-engine";
import { policyResources, runPolicy } from "./pack-offline";

export interface PackViolation {
    policy: string;
    enforcementLevel: string;
    message: string;
    urn?: string;
}

/** The pack's own config file, as CI passes it with --policy-pack-config. */
export function packConfig(): Record<string, Record<string, unknown>> {
    return JSON.parse(readFileSync(path.join(__dirname, "..", "..", "policy-pack", "config.json"), "utf8")) as Record<string, Record<string, unknown>>;
}

/**
 * Runs index.ts under the mock engine on the stack file's config and the pack over the result. A refusal
 * of the program itself rejects with the message `pulumi preview` would print.
 */
export async function previewOffline(file: string, stack: string): Promise<PackViolation[]> {
    const source = stackFileSource(file);
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const key of source.keys()) {
        const value = source.get(key);
        if (value === undefined) continue;
        config[`demesne:${key}`] = value;
        if (source.isSecret(key)) secretKeys.push(`demesne:${key}`);
    }
    const registrations = await recordRegistrations({ dryRun: true, stack });
    pulumi.runtime.setAllConfig(config, secretKeys);
    await import("../../index");
    await settle(registrations);
    const resources = policyResources(registrations);
    const cfg = packConfig();
    const out: PackViolation[] = [];
    for (const policy of POLICIES) {
        for (const v of await runPolicy(policy, resources, cfg[policy.name] ?? {})) {
            out.push({ policy: policy.name, enforcementLevel: policy.enforcementLevel, message: v.message, urn: v.urn });
        }
    }
    return out;
}
