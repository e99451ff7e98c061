// Host: adopts an existing host by address (never provisions it) and runs its layers in order,
// each through the Actuator, each depending on the one before.
import * as pulumi from "@pulumi/pulumi";
import { Actuator, SshTarget } from "../actuator/actuator";
import { ProgramContext, StepSpec } from "../actuator/steps";
import { ResolvedHost } from "../config/load";
import { STEP_CLASSES } from "../model/tiers";
import { TYPES } from "../model/types";

export interface HostArgs {
    host: ResolvedHost;
    /** The host's layers in order (see hostLayerSteps). */
    steps: StepSpec[];
    ssh: SshTarget;
    /** Secret parameter values by layer, e.g. { tailscale: { AUTH_KEY } }. */
    secretParams: Record<string, Record<string, pulumi.Input<string>>>;
    context: ProgramContext;
}

export class Host extends pulumi.ComponentResource {
    public readonly layers: Record<string, Actuator>;
    /** The last layer: services on this host wait for it. */
    public readonly ready: pulumi.Resource;

    constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.Host, name, { address: args.host.address, hostType: args.host.hostType }, opts);
        this.layers = {};
        let previous: pulumi.Resource | undefined;
        for (const step of args.steps) {
            const actuator: Actuator = new Actuator(step.name, {
                step, ssh: args.ssh, secretParams: args.secretParams[step.stepClass] ?? {}, context: args.context,
            }, { parent: this, dependsOn: previous ? [previous] : [] });
            this.layers[step.stepClass] = actuator;
            previous = actuator;
        }
        this.ready = previous ?? this;
        // A component's constructor inputs never reach the engine; what the policy pack reads must be an output.
        this.registerOutputs({
            address: args.host.address,
            hostType: args.host.hostType,
            // The effective-access policy needs where SSH listens and whether an edge firewall should guard the host.
            sshPort: args.host.sshPort,
            publicIp: args.host.publicIp ?? null,
            edgeFirewall: args.host.edgeFirewall,
            layers: Object.fromEntries(Object.entries(this.layers).map(([layer, a]) => [layer, {
                stepClass: a.stepClass, tiers: STEP_CLASSES[a.stepClass], contentHash: a.contentHash, changed: a.changed,
            }])),
        });
    }
}
