// A stack's config read straight from Pulumi.<stack>.yaml, for tools that need the model but no engine
// (`npm run steps`, `demesne drift`). Secrets are never read: the config's secret keys get stand-ins.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { BUILTIN_SECRETS, type ConfigSource, loadConfig, type StackConfig } from "./load";
import { strayNamespaceKeys } from "./strict";
import { BACKUP_SECRETS, DATA_DISK_DEFAULT_SECRET } from "../model/backup";
import { MIN_PASSPHRASE_LENGTH } from "./backup-checks";

/** A private key's stand-in: the shape the validator expects, and nothing of any key. */
const PRIVATE_KEY_STANDIN = "-----BEGIN OPENSSH PRIVATE KEY-----\n(not read)\n-----END OPENSSH PRIVATE KEY-----\n";

export function stackFilePath(stack: string, dir = process.cwd()): string {
    return path.join(dir, `Pulumi.${stack}.yaml`);
}

/** A value `pulumi config set --secret` wrote: `{ secure: … }`, or a map (--path) whose every leaf is one. */
function isEncrypted(value: unknown): boolean {
    if (!value || typeof value !== "object" || Array.isArray(value)) return false;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && entries[0]![0] === "secure" && typeof entries[0]![1] === "string") return true;
    return entries.length > 0 && entries.every(([, v]) => isEncrypted(v));
}

/**
 * A stack file as a config source: its `demesne:*` values, and stand-ins for the secrets it cannot decrypt
 * (throws Error if unreadable). The same source feeds the program under the mock engine in `npm run steps`.
 */
export function stackFileSource(file: string): ConfigSource {
    let doc: { config?: Record<string, unknown> } | null;
    try {
        doc = parse(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
    } catch (e) {
        throw new Error(`cannot read ${path.basename(file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message.split("\n")[0]}`);
    }
    const plain = Object.fromEntries(Object.entries(doc?.config ?? {})
        .filter(([k]) => k.startsWith("demesne:")).map(([k, v]) => [k.slice(8), v]));
    const services = (plain.services ?? []) as { kind: keyof typeof BUILTIN_SECRETS; models?: { providerKey: string }[]; secretEnv?: Record<string, string> }[];
    const hosts = (plain.hosts ?? []) as { dataDisk?: { keySecret?: string } }[];
    const named = new Set([...services.flatMap((s) => BUILTIN_SECRETS[s.kind] ?? []), "coolifyRootPassword",
        ...(plain.backup ? Object.values(BACKUP_SECRETS) : []),
        ...hosts.filter((h) => h.dataDisk).map((h) => h.dataDisk?.keySecret ?? DATA_DISK_DEFAULT_SECRET),
        ...services.flatMap((s) => Object.values(s.secretEnv ?? {}).filter((r) => r.startsWith("secret:")).map((r) => r.slice(7)))]);
    // Distinct stand-ins: checks that compare secret values (a provider key reused elsewhere) see no false match.
    const stand = (names: Iterable<string>) => JSON.stringify(Object.fromEntries([...names].map((n) => [n,
        n === BACKUP_SECRETS.credential ? PRIVATE_KEY_STANDIN : `(not read: ${n})`.padEnd(MIN_PASSPHRASE_LENGTH, ".")])));
    const secrets: Record<string, string> = {
        sshPrivateKey: PRIVATE_KEY_STANDIN,
        providerKeys: stand(services.flatMap((s) => (s.models ?? []).map((m) => m.providerKey))),
        secrets: stand(named),
    };
    return {
        get: (k) => (k in secrets ? secrets[k] : plain[k] === undefined ? undefined : typeof plain[k] === "string" ? plain[k] as string : JSON.stringify(plain[k])),
        // A secret key the file does not set gets a stand-in; one it sets must be encrypted there.
        isSecret: (k) => k in secrets && (plain[k] === undefined || isEncrypted(plain[k])),
        keys: () => [...new Set([...Object.keys(plain), ...Object.keys(secrets)])],
        strayKeys: () => strayNamespaceKeys(Object.keys(doc?.config ?? {})),
    };
}

/**
 * The validated config of a stack file (throws ConfigError naming each bad key; Error if unreadable). Its
 * secrets are the source's stand-ins, kept as they are: nothing here needs the Pulumi SDK.
 */
export function loadStackFile(file: string): StackConfig<string> {
    return loadConfig(stackFileSource(file), { dryRun: true, secret: (standIn: string) => standIn });
}
