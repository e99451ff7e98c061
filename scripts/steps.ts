// `npm run steps [-- --stack NAME] [--json]`: every step the program would run on each host,
// with its tier per kind of change, content hash and approval status — straight from
// Pulumi.<stack>.yaml, with no engine, account, server or secret needed.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { BUILTIN_SECRETS, ConfigError, loadConfig } from "../components/config/load";
import { planProgram } from "../components/program";
import { stepIdentity } from "../components/actuator/steps";
import { STEP_CLASSES } from "../components/model/tiers";

const args = process.argv.slice(2);
const stack = args.includes("--stack") ? args[args.indexOf("--stack") + 1] ?? "control" : "control";
const json = args.includes("--json");
const file = path.join(__dirname, "..", `Pulumi.${stack}.yaml`);
const doc = parse(readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
const plain = Object.fromEntries(Object.entries(doc.config ?? {})
    .filter(([k]) => k.startsWith("demesne:")).map(([k, v]) => [k.slice(8), v]));

// Listing steps never reads a secret: stand-ins for the secrets the config refers to.
const services = (plain.services ?? []) as { kind: keyof typeof BUILTIN_SECRETS; models?: { providerKey: string }[]; secretEnv?: Record<string, string> }[];
const named = new Set([...services.flatMap((s) => BUILTIN_SECRETS[s.kind] ?? []), "coolifyRootPassword",
    ...services.flatMap((s) => Object.values(s.secretEnv ?? {}).filter((r) => r.startsWith("secret:")).map((r) => r.slice(7)))]);
const stand = (names: Iterable<string>) => JSON.stringify(Object.fromEntries([...names].map((n) => [n, "(not read)"])));
const secrets: Record<string, string> = {
    sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\n(not read)\n-----END OPENSSH PRIVATE KEY-----\n",
    providerKeys: stand(services.flatMap((s) => (s.models ?? []).map((m) => m.providerKey))),
    secrets: stand(named),
};

try {
    const cfg = loadConfig({
        get: (k) => (k in secrets ? secrets[k] : plain[k] === undefined ? undefined : typeof plain[k] === "string" ? plain[k] as string : JSON.stringify(plain[k])),
        isSecret: (k) => k in secrets,
    }, { dryRun: true });
    const plan = planProgram(cfg, { stack, project: "demesne", dryRun: true });
    const steps = [...[...plan.hostSteps.values()].flat(), ...plan.services.map((s) => s.step)].map((s) => {
        const id = stepIdentity(s, plan.context);
        const cls = STEP_CLASSES[s.stepClass];
        return {
            host: s.host, step: s.name, class: s.stepClass,
            tiers: { create: cls.create, update: cls.update, replace: cls.replace, delete: cls.delete },
            contentSha256: id.contentHash, deadManSeconds: s.deadManSeconds ?? null,
            approval: id.token === undefined ? "not needed" : plan.missing.some((m) => m.key === id.approvalKey) ? `missing: ${id.token}` : "valid",
        };
    });
    if (json) {
        console.log(JSON.stringify({ stack, steps }, null, 2));
    } else {
        console.log(`stack ${stack}: ${steps.length} steps (tiers: create/update/replace/delete)`);
        for (const s of steps) {
            const t = s.tiers;
            console.log(`  ${s.step.padEnd(28)} ${s.class.padEnd(10)} ${t.create}/${t.update}/${t.replace}/${t.delete}  ${s.contentSha256.slice(0, 12)}  approval ${s.approval}`);
        }
        for (const m of plan.missing) console.log(`\napprove after review:  pulumi config set --path 'demesne:approvals["${m.key}"]' ${m.token}`);
    }
} catch (err) {
    if (err instanceof ConfigError) {
        console.error(err.message);
        process.exit(2);
    }
    throw err;
}
