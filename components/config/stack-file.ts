// A stack's config read straight from Pulumi.<stack>.yaml, for tools that need the model but no engine
// (`npm run steps`, `demesne drift`). Secrets are never read: the config's secret keys get stand-ins.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { BUILTIN_SECRETS, loadConfig, type StackConfig } from "./load";

export function stackFilePath(stack: string, dir = process.cwd()): string {
    return path.join(dir, `Pulumi.${stack}.yaml`);
}

/** The validated config of a stack file (throws ConfigError naming each bad key; Error if unreadable). */
export function loadStackFile(file: string): StackConfig {
    let doc: { config?: Record<string, unknown> } | null;
    try {
        doc = parse(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
    } catch (e) {
        throw new Error(`cannot read ${path.basename(file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message.split("\n")[0]}`);
    }
    const plain = Object.fromEntries(Object.entries(doc?.config ?? {})
        .filter(([k]) => k.startsWith("demesne:")).map(([k, v]) => [k.slice(8), v]));
    const services = (plain.services ?? []) as { kind: keyof typeof BUILTIN_SECRETS; models?: { providerKey: string }[]; secretEnv?: Record<string, string> }[];
    const named = new Set([...services.flatMap((s) => BUILTIN_SECRETS[s.kind] ?? []), "coolifyRootPassword",
        ...services.flatMap((s) => Object.values(s.secretEnv ?? {}).filter((r) => r.startsWith("secret:")).map((r) => r.slice(7)))]);
    const stand = (names: Iterable<string>) => JSON.stringify(Object.fromEntries([...names].map((n) => [n, "(not read)"])));
    const secrets: Record<string, string> = {
        sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\n(not read)\n-----END OPENSSH PRIVATE KEY-----\n",
        providerKeys: stand(services.flatMap((s) => (s.models ?? []).map((m) => m.providerKey))),
        secrets: stand(named),
    };
    return loadConfig({
        get: (k) => (k in secrets ? secrets[k] : plain[k] === undefined ? undefined : typeof plain[k] === "string" ? plain[k] as string : JSON.stringify(plain[k])),
        isSecret: (k) => k in secrets,
    }, { dryRun: true });
}
