// The Actuator: the single execution path onto a host (praxis invariant 1). Every remote
// step is a command.remote.Command created here, with a pinned host key, the script and its
// parameters on stdin, secret stdout/stderr, no revert-on-delete, and — for lock-out-capable
// layers — a confirm step over a fresh SSH login that cancels the dead-man restore.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { layerScript, LayerScriptName } from "../host/scripts";
import { RUNNER_PATH } from "../render/sudoers";
import { StepClassName } from "../model/tiers";
import { TYPES } from "../model/types";
import { confirmStepName, ProgramContext, refusalsFor, StepSpec, stepIdentity } from "./steps";
import { encodeStdin, bootstrapCommand, runnerCommand } from "./wire";

export interface SshTarget {
    address: string;
    port: number;
    /** The host's public key line; the connection fails if the server presents another. */
    hostKey: string;
    bootstrapUser: string;
    deployUser: string;
    privateKey: pulumi.Input<string>;
}

export interface ActuatorArgs {
    /** What to run and where; see StepSpec. */
    step: StepSpec;
    ssh: SshTarget;
    /** Values of the step's secret parameters. Delivered on stdin, never hashed or logged. */
    secretParams?: Record<string, pulumi.Input<string>>;
    context: ProgramContext;
}

export class ActuatorRefusal extends Error {
    constructor(readonly reasons: string[]) {
        super(`actuator refused:\n${reasons.map((r) => `  - ${r}`).join("\n")}`);
        this.name = "ActuatorRefusal";
    }
}

export class Actuator extends pulumi.ComponentResource {
    /** The step's class; with the operation it gives the change's tier (see model/tiers). */
    public readonly stepClass: StepClassName;
    public readonly scriptSha256: string;
    public readonly contentHash: string;
    /** For T3-class steps, the approval token bound to this content. */
    public readonly approvalToken?: string;
    /** `changed=true|false` as reported by the script's last line. */
    public readonly changed: pulumi.Output<boolean>;
    public readonly command: command.remote.Command;

    constructor(name: string, args: ActuatorArgs, opts?: pulumi.ComponentResourceOptions) {
        const refusals = refusalsFor(args.step, args.context);
        if (refusals.length > 0) throw new ActuatorRefusal(refusals);
        const id = stepIdentity(args.step, args.context);
        if (id.token !== undefined && !args.context.dryRun && args.context.approvals[id.approvalKey] !== id.token) {
            throw new ActuatorRefusal([`${args.step.name}: no valid approval for this content (demesne:approvals["${id.approvalKey}"])`]);
        }
        super(TYPES.Actuator, name, {
            host: args.step.host, stepClass: args.step.stepClass, contentHash: id.contentHash,
        }, opts);
        this.stepClass = args.step.stepClass;
        this.scriptSha256 = layerScript(args.step.script).sha256;
        this.contentHash = id.contentHash;
        this.approvalToken = id.token;

        // The operator's token (not the computed one) rides in the triggers: the policy pack recomputes
        // what it must be from the step's URN and content and refuses a step that lacks it.
        const given = id.token !== undefined ? args.context.approvals[id.approvalKey] ?? "none" : undefined;
        this.command = remoteStep(args.step.name, args.step.script, {
            ...args, triggers: [`content:${id.contentHash}`, ...(given !== undefined ? [`approval:${given}`] : [])],
        }, { parent: this, dependsOn: opts?.dependsOn });
        this.changed = pulumi.unsecret(this.command.stdout.apply(parseChanged));

        if (args.step.deadManSeconds !== undefined) {
            // A fresh login, after the change, cancels the dead-man: if it cannot log in, the
            // previous config comes back by itself.
            remoteStep(confirmStepName(args.step.name), "confirm", {
                ...args,
                step: { ...args.step, params: { TARGET_LAYER: args.step.script }, secretParams: [], runAs: "deploy" },
                secretParams: {},
                triggers: [`content:${id.contentHash}`],
            }, { parent: this, dependsOn: [this.command] });
        }
        this.registerOutputs({
            stepClass: this.stepClass,
            scriptSha256: this.scriptSha256,
            contentHash: this.contentHash,
            approvalToken: this.approvalToken,
            changed: this.changed,
        });
    }
}

interface RemoteStepArgs extends ActuatorArgs {
    triggers: string[];
}

function remoteStep(name: string, script: LayerScriptName, args: RemoteStepArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const { step, ssh } = args;
    const layer = layerScript(script);
    const secretValues = args.secretParams ?? {};
    const missing = step.secretParams.filter((p) => !(p in secretValues));
    if (missing.length > 0) throw new ActuatorRefusal([`${name}: secret parameters not supplied: ${missing.join(", ")}`]);
    const stdin = pulumi.all(secretValues).apply((secrets) => encodeStdin(layer.text, { ...step.params, ...secrets }));
    const bootstrap = step.runAs === "bootstrap";
    return new command.remote.Command(name, {
        connection: {
            host: ssh.address,
            port: ssh.port,
            user: bootstrap ? ssh.bootstrapUser : ssh.deployUser,
            privateKey: ssh.privateKey,
            hostKey: ssh.hostKey,
            dialErrorLimit: 3,
        },
        create: bootstrap ? bootstrapCommand(layer.sha256) : runnerCommand(RUNNER_PATH, script, layer.sha256),
        stdin: step.secretParams.length > 0 ? pulumi.secret(stdin) : stdin,
        triggers: args.triggers,
        // Layers log progress on stderr; stdout carries only `changed=…`. Neither holds secrets,
        // and both are still kept secret in state in case a tool on the host prints one.
        logging: "stderr",
    }, { ...opts, additionalSecretOutputs: ["stdout", "stderr"] });
}

/** Reads the `changed=true|false` line a layer prints last. */
export function parseChanged(stdout: string | undefined): boolean {
    const lines = (stdout ?? "").trim().split("\n");
    return lines[lines.length - 1]?.trim() === "changed=true";
}
