// Parses the stack config once into a typed model, or throws one ConfigError listing every
// problem with its key path. Runs before any resource is registered, so a bad config leaves
// nothing half-declared. Secret values never appear in a message.
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { isLoopback } from "../model/ports";
import { providerKeyShapeOf } from "../model/secrets";
import { backupProblems } from "./backup-checks";
import { BUILTIN_SECRET_ENV, userEnvProblems } from "../model/service-env";
import { plainCredentialProblems, strictProblems, unknownKeyProblems } from "./strict";
import {
    configSchema, HostConfig, isIpv4, PlainConfig, SECRET_KEYS, SecretKey, secretsSchema, ServiceConfig,
} from "./schema";

export const NAMESPACE = "demesne";

/** Where raw config comes from: the Pulumi runtime in the program, a plain map in tests. */
export interface ConfigSource {
    /** The raw string Pulumi stores for `demesne:<key>` (objects and lists as JSON). */
    get(key: string): string | undefined;
    /** Was `demesne:<key>` set with --secret? */
    isSecret(key: string): boolean;
    /** Every `demesne:<key>` that is set (without the namespace): unknown ones are refused. */
    keys(): string[];
    /** Whole keys set under a namespace that looks like a misspelt `demesne` (`Demesne:killSwitch`). */
    strayKeys?(): string[];
}

export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
            problems.map((p) => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
    }
}

export interface ResolvedHost extends HostConfig {
    /** The public IPv4 the edge firewall protects, if the host has one. */
    publicIp?: string;
}

/** The validated config; its secrets are `S`: Pulumi secrets in the program, stand-ins where a stack file is read. */
export interface StackConfig<S = pulumi.Output<string>> extends Omit<PlainConfig, "hosts"> {
    hosts: ResolvedHost[];
    sshPrivateKey: S;
    providerKeys: Record<string, S>;
    secrets: Record<string, S>;
}

/** The secrets each built-in service kind reads from demesne:secrets. */
export const BUILTIN_SECRETS: Record<ServiceConfig["kind"], string[]> = {
    gateway: ["gatewayMasterKey", "gatewaySaltKey", "gatewayDbPassword"],
    "open-webui": ["webuiSecretKey", "webuiVirtualKey"],
    inference: [],
    custom: [],
};

const PLAIN_KEYS = Object.keys(configSchema.shape) as (keyof PlainConfig)[];

export function formatPath(key: string, path: readonly PropertyKey[]): string {
    let out = `${NAMESPACE}:${key}`;
    for (const part of path) {
        if (typeof part === "number") out += `[${part}]`;
        else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(part))) out += `.${String(part)}`;
        else out += `[${JSON.stringify(String(part))}]`;
    }
    return out;
}

function parseRaw(key: string, raw: string, problems: string[]): unknown {
    // Strings that are not JSON stay strings: `pulumi config set demesne:mode operate`.
    try {
        return JSON.parse(raw);
    } catch {
        if (/^\s*[[{]/.test(raw)) {
            problems.push(`${formatPath(key, [])}: is not valid JSON`);
        }
        return raw;
    }
}

function zodProblems(error: z.ZodError, key?: string): string[] {
    return error.issues.map((issue) => {
        const [head, ...rest] = issue.path;
        const k = key ?? String(head);
        return `${formatPath(k, key ? issue.path : rest)}: ${issue.message}`;
    });
}

/** The program's secret: @pulumi/pulumi loads only here, as it takes about a second (the CLI reads stack files without it). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pulumiSecret = (v: string) => (require("@pulumi/pulumi") as typeof pulumi).secret(v);

/**
 * Reads, validates and cross-checks the whole config. Throws ConfigError listing every problem. Each secret
 * value is handed to `secret` (default: a Pulumi secret).
 */
export function loadConfig(source: ConfigSource, opts: { dryRun: boolean }): StackConfig;
export function loadConfig<S>(source: ConfigSource, opts: { dryRun: boolean; secret: (value: string) => S }): StackConfig<S>;
export function loadConfig(source: ConfigSource, opts: { dryRun: boolean; secret?: (value: string) => unknown }): StackConfig<unknown> {
    const secret = opts.secret ?? pulumiSecret;
    const problems: string[] = [];
    const raw: Record<string, unknown> = {};
    for (const key of PLAIN_KEYS) {
        const value = source.get(key);
        if (value !== undefined) raw[key] = parseRaw(key, value, problems);
    }
    const parsed = configSchema.safeParse(raw);
    if (!parsed.success) problems.push(...zodProblems(parsed.error));

    const secretValues: Partial<Record<SecretKey, unknown>> = {};
    for (const key of SECRET_KEYS) {
        const value = source.get(key);
        if (value === undefined) continue;
        if (!source.isSecret(key)) {
            problems.push(`${formatPath(key, [])}: must be a secret; set it with \`pulumi config set --secret ${NAMESPACE}:${key}\``);
            continue;
        }
        const schema = secretsSchema[key] as z.ZodType;
        const result = schema.safeParse(key === "sshPrivateKey" ? value : parseRaw(key, value, problems));
        if (result.success) secretValues[key] = result.data;
        // Never echo a secret: only the path and the rule broken.
        else problems.push(...zodProblems(result.error, key));
    }
    if (source.get("sshPrivateKey") === undefined) {
        problems.push(`${formatPath("sshPrivateKey", [])}: required; set it with \`pulumi config set --secret ${NAMESPACE}:sshPrivateKey < key\``);
    }

    unknownKeyProblems(source.keys(), [...PLAIN_KEYS, ...SECRET_KEYS], (k, path, msg) => problems.push(`${formatPath(k, path)}: ${msg}`));
    plainCredentialProblems(raw, (k, path, msg) => problems.push(`${formatPath(k, path)}: ${msg}`));
    for (const key of source.strayKeys?.() ?? []) problems.push(`${key}: not in the ${NAMESPACE} namespace, so nothing reads it; did you mean ${NAMESPACE}:${key.slice(key.indexOf(":") + 1)}?`);
    if (parsed.success) {
        problems.push(...crossCheck(parsed.data, secretValues, opts));
        strictProblems(parsed.data, (k, path, msg) => problems.push(`${formatPath(k, path)}: ${msg}`));
    }
    if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);

    const cfg = parsed.data;
    const wrap = (m: unknown) => Object.fromEntries(Object.entries((m ?? {}) as Record<string, string>)
        .map(([k, v]) => [k, secret(v)]));
    return {
        ...cfg,
        hosts: cfg.hosts.map((h) => ({ ...h, publicIp: h.publicIp ?? (isIpv4(h.address) ? h.address : undefined) })),
        sshPrivateKey: secret(secretValues.sshPrivateKey as string),
        providerKeys: wrap(secretValues.providerKeys),
        secrets: wrap(secretValues.secrets),
    };
}

function crossCheck(cfg: PlainConfig, secrets: Partial<Record<SecretKey, unknown>>, opts: { dryRun: boolean }): string[] {
    const problems: string[] = [];
    const p = (key: string, path: PropertyKey[], msg: string) => problems.push(`${formatPath(key, path)}: ${msg}`);
    const providerKeys = (secrets.providerKeys ?? {}) as Record<string, string>;
    const named = (secrets.secrets ?? {}) as Record<string, string>;

    if (cfg.killSwitch && !opts.dryRun) {
        p("killSwitch", [], "is on: only previews may run; turn it off with `pulumi config set demesne:killSwitch false` after review");
    }
    const hosts = new Map<string, HostConfig>();
    cfg.hosts.forEach((h, i) => {
        if (hosts.has(h.name)) p("hosts", [i, "name"], `duplicate host name "${h.name}"`);
        hosts.set(h.name, h);
        if (h.hostType === "ubuntu" && !h.hostKey) {
            p("hosts", [i, "hostKey"], "required for an SSH host: the host key is pinned, never trusted on first use");
        }
    });
    const names = new Set<string>();
    cfg.services.forEach((s, i) => {
        if (names.has(s.name)) p("services", [i, "name"], `duplicate service name "${s.name}"`);
        names.add(s.name);
        const host = hosts.get(s.host);
        if (!host) p("services", [i, "host"], `no host named "${s.host}" in demesne:hosts`);
        else if (host.hostType !== "ubuntu") {
            p("services", [i, "host"], `"${s.host}" is a ${host.hostType} host: SSH steps never target it (invariant 5)`);
        }
        s.ports.forEach((port, j) => {
            if (!isLoopback(port.bind)) {
                p("services", [i, "ports", j, "bind"], `${port.bind} is not loopback: publish on 127.0.0.1 and expose with tailscale serve`);
            }
        });
        // One problem per name: a provider key handed outside the gateway says so, whatever else is wrong.
        const providerKeyRefs = new Set(s.kind === "gateway" ? [] : Object.keys(s.secretEnv).filter((n) => s.secretEnv[n]!.startsWith("providerKey:")));
        for (const e of userEnvProblems(s)) {
            if (e.path[0] === "env" || !providerKeyRefs.has(e.path[1])) p("services", [i, ...e.path], e.message);
        }
        for (const [name, ref] of Object.entries(s.secretEnv)) {
            const [kind, id] = ref.split(":") as [string, string];
            if (providerKeyRefs.has(name)) {
                p("services", [i, "secretEnv", name], "provider keys are for the gateway only: give this service a gateway virtual key (`secret:<name>`)");
            } else if (kind === "providerKey" && !(id in providerKeys)) {
                p("services", [i, "secretEnv", name], `no provider key "${id}" in demesne:providerKeys`);
            } else if (kind === "secret" && !(id in named)) {
                p("services", [i, "secretEnv", name], `no secret "${id}" in demesne:secrets`);
            }
        }
        if (s.kind !== "gateway") {
            // What this service reads from demesne:secrets (its own and the built-in entries) is never a provider's key.
            for (const [name, ref] of Object.entries({ ...BUILTIN_SECRET_ENV[s.kind], ...s.secretEnv })) {
                const [kind, id] = ref.split(":") as [string, string];
                const value = kind === "secret" ? named[id] : undefined;
                if (value === undefined) continue;
                const same = Object.keys(providerKeys).find((k) => providerKeys[k] === value);
                const shape = same ? `the value of demesne:providerKeys.${same}` : providerKeyShapeOf(value);
                if (shape) {
                    p("secrets", [id], `holds ${shape}, and the ${s.kind} service "${s.name}" reads it as ${name}: provider keys are for the gateway only; give it a gateway virtual key`);
                }
            }
        }
        if (s.personalData && !s.dataHandlingDoc) {
            p("services", [i, "dataHandlingDoc"], "required when personalData is true: name the document that governs this data");
        }
        if (s.enabled) {
            for (const id of BUILTIN_SECRETS[s.kind]) {
                if (!(id in named)) p("secrets", [id], `required by the ${s.kind} service "${s.name}"`);
            }
        }
        if (s.kind === "gateway") {
            s.models.forEach((m, j) => {
                if (!(m.providerKey in providerKeys)) {
                    p("services", [i, "models", j, "providerKey"], `no provider key "${m.providerKey}" in demesne:providerKeys`);
                }
            });
        }
    });
    cfg.services.forEach((s, i) => {
        if (s.kind === "open-webui" && !cfg.services.some((g) => g.kind === "gateway" && g.name === s.gateway)) {
            p("services", [i, "gateway"], `no gateway service named "${s.gateway}"`);
        }
    });
    if (cfg.coolify?.enabled && !hosts.has(cfg.coolify.host)) {
        p("coolify", ["host"], `no host named "${cfg.coolify.host}" in demesne:hosts`);
    }
    if (cfg.coolify?.enabled && !("coolifyRootPassword" in named)) {
        p("secrets", ["coolifyRootPassword"], "required while Coolify is enabled (its pre-created admin)");
    }
    backupProblems(cfg, named, hosts, p);
    for (const key of Object.keys(cfg.approvals)) {
        const [host] = key.split("/");
        if (!/^[a-z][a-z0-9-]*\/[a-z][a-z0-9-]*$/.test(key) || !hosts.has(host ?? "")) {
            p("approvals", [key], "expected `<host>/<layer>` naming a declared host");
        }
    }
    return problems;
}
