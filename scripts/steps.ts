// `npm run steps [-- --stack NAME | --file PULUMI.STACK.YAML] [--json]`: every step the program would run on each host, with its tier
// per kind of change, content hash and approval status — straight from Pulumi.<stack>.yaml, with no engine,
// account, server or secret needed. It runs exactly the program's validation (index.ts under the mock
// engine) and the policy pack, and exits non-zero on anything `pulumi preview --policy-pack` would refuse.
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../components/config/load";
import { loadStackFile } from "../components/config/stack-file";
import { planProgram } from "../components/program";
import { stepIdentity } from "../components/actuator/steps";
import { STEP_CLASSES } from "../components/model/tiers";
import { previewOffline } from "./lib/offline-preview";

async function main(argv: string[]): Promise<number> {
    const { values } = parseArgs({ args: argv, options: { stack: { type: "string", default: "control" }, file: { type: "string" }, json: { type: "boolean", default: false } }, strict: true });
    const stack = values.stack as string;
    const file = values.file ? path.resolve(values.file) : path.join(__dirname, "..", `Pulumi.${stack}.yaml`);
    const cfg = loadStackFile(file);
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
    const violations = await previewOffline(file, stack);
    const refused = violations.filter((v) => v.enforcementLevel === "mandatory");
    if (values.json) {
        console.log(JSON.stringify({ stack, steps, policyViolations: violations }, null, 2));
    } else {
        console.log(`stack ${stack}: ${steps.length} steps (tiers: create/update/replace/delete)`);
        for (const s of steps) {
            const t = s.tiers;
            console.log(`  ${s.step.padEnd(28)} ${s.class.padEnd(10)} ${t.create}/${t.update}/${t.replace}/${t.delete}  ${s.contentSha256.slice(0, 12)}  approval ${s.approval}`);
        }
        for (const m of plan.missing) console.log(`\napprove after review:  pulumi config set --path 'demesne:approvals["${m.key}"]' ${m.token}`);
        console.log(`\npolicy pack: ${violations.length === 0 ? "no violation" : `${violations.length} violation${violations.length === 1 ? "" : "s"}`}`);
    }
    for (const v of violations) console.error(`${v.enforcementLevel} policy ${v.policy}: ${v.message}`);
    return refused.length > 0 ? 3 : 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    // The program's own refusals, with the message `pulumi preview` prints.
    if (err instanceof ConfigError || err instanceof pulumi.RunError) {
        console.error(err.message);
        process.exitCode = 2;
        return;
    }
    console.error(`steps: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
});
