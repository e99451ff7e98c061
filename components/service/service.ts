// Service: one compose project on a host, run through the Actuator. It re-checks the rendered
// project (digests, loopback, provider keys) so a hand-built plan cannot slip past the config checks.
import * as pulumi from "@pulumi/pulumi";
import { Actuator, ActuatorRefusal, SshTarget } from "../actuator/actuator";
import { ProgramContext } from "../actuator/steps";
import { composeProblems } from "../model/compose";
import { TYPES } from "../model/types";
import { providerKeyEnvOf, ServicePlan } from "./spec";

export interface ServiceArgs {
    plan: ServicePlan;
    ssh: SshTarget;
    /** Values behind `secret:<id>` and `providerKey:<id>` references. */
    secrets: Record<string, pulumi.Output<string>>;
    providerKeys: Record<string, pulumi.Output<string>>;
    context: ProgramContext;
}

export class Service extends pulumi.ComponentResource {
    /** Published ports, all on loopback ("127.0.0.1:4000:4000"). */
    public readonly ports: string[];
    public readonly trustTier: string;
    public readonly personalData: boolean;
    public readonly actuator: Actuator;

    constructor(name: string, args: ServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        const { plan } = args;
        const problems = composeProblems(plan.compose, {
            isGateway: plan.service.kind === "gateway",
            providerKeyEnv: providerKeyEnvOf(plan),
        });
        if (problems.length > 0) throw new ActuatorRefusal(problems);
        super(TYPES.Service, name, { host: plan.service.host, kind: plan.service.kind }, opts);
        this.ports = Object.values(plan.compose.services).flatMap((s) => s.ports ?? []);
        this.trustTier = plan.service.trustTier;
        this.personalData = plan.service.personalData;
        this.actuator = new Actuator(plan.step.name, {
            step: plan.step,
            ssh: args.ssh,
            secretParams: { ENV_FILE: renderEnvFile(plan.secretEnv, args.secrets, args.providerKeys) },
            context: args.context,
        }, { parent: this, dependsOn: opts?.dependsOn });
        // The pack reads host and kind; a component's inputs never reach the engine.
        this.registerOutputs({ host: args.plan.service.host, kind: args.plan.service.kind, ports: this.ports, trustTier: this.trustTier, personalData: this.personalData });
    }
}

/** The env file (`NAME=value` lines), a secret from start to end. */
export function renderEnvFile(
    refs: Record<string, string>,
    secrets: Record<string, pulumi.Output<string>>,
    providerKeys: Record<string, pulumi.Output<string>>,
): pulumi.Output<string> {
    const entries = Object.keys(refs).sort().map((name) => {
        const [kind, id] = (refs[name] as string).split(":") as [string, string];
        const value = kind === "providerKey" ? providerKeys[id] : secrets[id];
        if (value === undefined) throw new ActuatorRefusal([`${name}: no value for ${refs[name]}`]);
        return pulumi.interpolate`${name}=${value}`;
    });
    return pulumi.secret(pulumi.all(entries).apply((lines) => `${lines.join("\n")}\n`));
}
