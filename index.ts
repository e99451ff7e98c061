// demesne: configures a private, hardened AI control plane on existing hosts.
// Config is validated in full before any resource is registered; see components/program.ts.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig } from "./components/config/load";
import { pulumiConfigSource } from "./components/config/pulumi-source";
import { ActuatorRefusal } from "./components/actuator/actuator";
import { buildProgram } from "./components/program";

function main() {
    const dryRun = pulumi.runtime.isDryRun();
    try {
        const cfg = loadConfig(pulumiConfigSource(), { dryRun });
        return buildProgram(cfg, { stack: pulumi.getStack(), project: pulumi.getProject(), dryRun });
    } catch (err) {
        // A clean, complete message instead of a stack trace: these are the operator's to fix.
        if (err instanceof ConfigError || err instanceof ActuatorRefusal) throw new pulumi.RunError(err.message);
        throw err;
    }
}

export = main();
