// The program's OVH edge firewalls alone, for the end-to-end tests against a local OVH API double: the same
// config validation and EdgeFirewall component as index.ts (buildEdgeFirewalls), pointed at the double only
// through the provider's documented `ovh:endpoint` setting in the test stack.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig } from "../../../../components/config/load";
import { pulumiConfigSource } from "../../../../components/config/pulumi-source";
import { buildEdgeFirewalls } from "../../../../components/program";

try {
    buildEdgeFirewalls(loadConfig(pulumiConfigSource(), { dryRun: pulumi.runtime.isDryRun() }));
} catch (err) {
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
}
