// `npm run steps [-- --stack NAME] [--json]`: every step the program would run on each host,
// with its tier per kind of change, content hash and approval status — straight from
// Pulumi.<stack>.yaml, with no engine, account, server or secret needed.
import * as path from "node:path";
import { ConfigError } from "../components/config/load";
import { loadStackFile } from "../components/config/stack-file";
import { planProgram } from "../components/program";
import { stepIdentity } from "../components/actuator/steps";
import { STEP_CLASSES } from "../components/model/tiers";

const args = process.argv.slice(2);
const stack = args.includes("--stack") ? args[args.indexOf("--stack") + 1] ?? "control" : "control";
const json = args.includes("--json");

try {
    const cfg = loadStackFile(path.join(__dirname, "..", `Pulumi.${stack}.yaml`));
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
