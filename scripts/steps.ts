// `npm run steps [-- --stack NAME | --file PULUMI.STACK.YAML] [--json]`: every step the program would run on each host, with its tier
// per kind of change, content hash and approval status — straight from Pulumi.<stack>.yaml, with no engine,
// account, server or secret needed. It runs exactly the program's validation (index.ts under the mock
// engine) and the policy pack, and exits non-zero on anything `pulumi preview --policy-pack` would refuse.
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../components/config/load";
import { loadStackFile } from "../components/config/stack-file";
import { stepReport } from "../components/step-report";
import { previewOffline } from "./lib/offline-preview";

async function main(argv: string[]): Promise<number> {
    const { values } = parseArgs({ args: argv, options: { stack: { type: "string", default: "control" }, file: { type: "string" }, json: { type: "boolean", default: false } }, strict: true });
    const stack = values.stack as string;
    const file = values.file ? path.resolve(values.file) : path.join(__dirname, "..", `Pulumi.${stack}.yaml`);
    const cfg = loadStackFile(file);
    const { steps: rows, missing } = stepReport(cfg, stack);
    // The script's own JSON shape: approval as one string, with the token to set when it is missing.
    const steps = rows.map((s) => ({ ...s, approval: s.approval.status === "missing" ? `missing: ${s.approval.token}` : s.approval.status }));
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
        for (const m of missing) console.log(`\napprove after review:  pulumi config set --path 'demesne:approvals["${m.key}"]' ${m.token}`);
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
