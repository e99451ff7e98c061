// The program's hosts with only the layers a sandboxed test host can run (baseline, ssh, firewall), for the
// end-to-end tests: the same config validation, step planning, refusals, approvals and components as
// index.ts. The tailnet, the edge firewall and the services are left out because their providers (and
// Docker) are not available to the tests; everything that is declared is declared by the program's code.
import * as pulumi from "@pulumi/pulumi";
import { ActuatorRefusal } from "../../../../components/actuator/actuator";
import { ConfigError, loadConfig } from "../../../../components/config/load";
import { pulumiConfigSource } from "../../../../components/config/pulumi-source";
import { Host } from "../../../../components/host/host";
import { planProgram, sshHosts, sshTargetOf } from "../../../../components/program";

/** The layers a test host can run: no network for apt, no Docker, no tailnet. */
const TEST_HOST_LAYERS = ["baseline", "ssh", "firewall"];

function main() {
    const dryRun = pulumi.runtime.isDryRun();
    try {
        const cfg = loadConfig(pulumiConfigSource(), { dryRun });
        const plan = planProgram(cfg, { stack: pulumi.getStack(), project: pulumi.getProject(), dryRun });
        for (const h of sshHosts(cfg)) {
            new Host(h.name, {
                host: h,
                steps: (plan.hostSteps.get(h.name) ?? []).filter((s) => TEST_HOST_LAYERS.includes(s.stepClass)),
                ssh: sshTargetOf(cfg, h),
                secretParams: {},
                context: plan.context,
            });
        }
    } catch (err) {
        if (err instanceof ConfigError || err instanceof ActuatorRefusal) throw new pulumi.RunError(err.message);
        throw err;
    }
}

main();
