// The program's tailnet alone, for the end-to-end tests against a local Tailscale API double: the same config
// validation, planning and Tailnet component as index.ts (buildTailnet), pointed at the double only through the
// provider's documented `tailscale:baseUrl` setting in the test stack.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig } from "../../../../components/config/load";
import { pulumiConfigSource } from "../../../../components/config/pulumi-source";
import { buildTailnet, planProgram } from "../../../../components/program";

function main() {
    const dryRun = pulumi.runtime.isDryRun();
    try {
        const cfg = loadConfig(pulumiConfigSource(), { dryRun });
        buildTailnet(cfg, planProgram(cfg, { stack: pulumi.getStack(), project: pulumi.getProject(), dryRun }));
    } catch (err) {
        if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
        throw err;
    }
}

main();
