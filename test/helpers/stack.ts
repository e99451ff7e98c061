// The control stack's config as the program sees it, plus the secrets an operator would set.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ConfigSource } from "../../components/config/load";

export const REPO = path.resolve(__dirname, "..", "..");

/** A unique string planted as secrets; tests grep for it where secrets must never appear. */
export const SENTINEL = "sentinel-5f2c9e1a7b3d";

export const TEST_PRIVATE_KEY =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-" + SENTINEL + "\n-----END OPENSSH PRIVATE KEY-----\n";

export const TEST_SECRETS = {
    sshPrivateKey: TEST_PRIVATE_KEY,
    providerKeys: { openai: `sk-provider-${SENTINEL}` },
    secrets: {
        gatewayMasterKey: `sk-master-${SENTINEL}`,
        gatewaySaltKey: `salt-${SENTINEL}`,
        gatewayDbPassword: `db-${SENTINEL}`,
        webuiSecretKey: `webui-${SENTINEL}`,
        webuiVirtualKey: `sk-virtual-${SENTINEL}`,
        coolifyRootPassword: `coolify-${SENTINEL}`,
    },
};

/** `demesne:*` keys of Pulumi.control.yaml, without the namespace, as parsed YAML values. */
export function controlStackValues(): Record<string, unknown> {
    const doc = parse(readFileSync(path.join(REPO, "Pulumi.control.yaml"), "utf8")) as { config: Record<string, unknown> };
    return Object.fromEntries(Object.entries(doc.config)
        .filter(([k]) => k.startsWith("demesne:"))
        .map(([k, v]) => [k.slice("demesne:".length), v]));
}

/** Pulumi stores every config value as a string; objects and lists as JSON. */
function asConfigString(v: unknown): string {
    return typeof v === "string" ? v : JSON.stringify(v);
}

export interface TestStack {
    values: Record<string, unknown>;
    secretKeys: Set<string>;
}

/**
 * The control stack with its secrets set as secrets, before its T3 steps were approved (tests type the
 * tokens they need); mutate freely, it is a fresh copy.
 */
export function controlStack(): TestStack {
    const { approvals: _approved, ...shipped } = controlStackValues();
    const values = { ...structuredClone(shipped), ...structuredClone(TEST_SECRETS) } as Record<string, unknown>;
    return { values, secretKeys: new Set(Object.keys(TEST_SECRETS)) };
}

export function sourceOf(stack: TestStack): ConfigSource {
    return {
        get: (key) => (key in stack.values && stack.values[key] !== undefined ? asConfigString(stack.values[key]) : undefined),
        isSecret: (key) => stack.secretKeys.has(key),
        keys: () => Object.keys(stack.values).filter((k) => stack.values[k] !== undefined),
    };
}

/** The same stack as the Pulumi runtime's config map (`demesne:key` → string) and secret keys. */
export function runtimeConfigOf(stack: TestStack): { config: Record<string, string>; secretKeys: string[] } {
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(stack.values)) if (v !== undefined) config[`demesne:${k}`] = asConfigString(v);
    return { config, secretKeys: [...stack.secretKeys].map((k) => `demesne:${k}`) };
}
