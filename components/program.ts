// The whole program as one function of the validated config: plan every step first (pure),
// refuse what must be refused, then declare the components. index.ts only wires Pulumi in.
import * as pulumi from "@pulumi/pulumi";
import { exposuresOf } from "./access-check";
import { SshTarget } from "./actuator/actuator";
import { ResolvedHost, StackConfig } from "./config/load";
import { EdgeFirewall } from "./edge/edge-firewall";
import { Host } from "./host/host";
import { Actuator } from "./actuator/actuator";
import { approvalMessage } from "./actuator/steps";
import { BACKUP_SECRETS } from "./model/backup";
import { hostRepositoryPassword } from "./render/backup";
import { STEP_CLASSES } from "./model/tiers";
import { Service } from "./service/service";
import { Tailnet } from "./tailnet/tailnet";
import { planProgram, sshHosts, type ProgramOptions, type ProgramPlan } from "./program-plan";

export { planProgram, sshHosts, type ProgramOptions, type ProgramPlan };

/** How the Actuator reaches one host: its address, pinned key, bootstrap and deploy users, the stack's key. */
export function sshTargetOf(cfg: StackConfig, h: ResolvedHost): SshTarget {
    return {
        address: h.address, port: h.sshPort, hostKey: h.hostKey as string,
        bootstrapUser: h.bootstrapUser, deployUser: cfg.deployUser, privateKey: cfg.sshPrivateKey,
    };
}

/** The tailnet: its policy from the segmentation model (with the services' exposures) and a key per SSH host. */
export function buildTailnet(cfg: StackConfig, plan: ProgramPlan): Tailnet {
    return new Tailnet("tailnet", {
        admins: cfg.tailnet.admins,
        exposures: exposuresOf(cfg, plan),
        hosts: sshHosts(cfg).map((h) => h.name),
        authKeyExpirySeconds: cfg.tailnet.authKeyExpirySeconds,
    });
}

/** A secret from demesne:secrets for a step's stdin; empty where the layer is absent (its step is never declared). */
function secretOrEmpty(cfg: StackConfig, name: string | undefined): pulumi.Output<string> {
    return pulumi.secret(name !== undefined ? cfg.secrets[name] ?? "" : "");
}

/** One host's restic repository password, derived from the stack's (render/backup.ts). */
function repositoryPassword(cfg: StackConfig, host: string): pulumi.Output<string> {
    return secretOrEmpty(cfg, BACKUP_SECRETS.password).apply((m) => (m === "" ? "" : hostRepositoryPassword(m, host)));
}

/** OVH's IP firewall in front of every host with a public IPv4. */
export function buildEdgeFirewalls(cfg: StackConfig): EdgeFirewall[] {
    return cfg.hosts.filter((x) => x.edgeFirewall && x.publicIp).map((h) => new EdgeFirewall(`edge-${h.name}`, {
        publicIp: h.publicIp as string, adminRanges: cfg.adminRanges, directUdp: cfg.tailnet.directUdp,
    }));
}

export function buildProgram(cfg: StackConfig, opts: ProgramOptions) {
    const plan = planProgram(cfg, opts);
    // A preview shows what to type; `up` never gets here without every approval (see planProgram).
    for (const m of plan.missing) pulumi.log.warn(approvalMessage(m));

    const tailnet = buildTailnet(cfg, plan);
    buildEdgeFirewalls(cfg);
    const sshTargets = new Map<string, SshTarget>(sshHosts(cfg).map((h) => [h.name, sshTargetOf(cfg, h)]));
    const hosts = new Map<string, Host>();
    for (const h of sshHosts(cfg)) {
        const rootEnv = cfg.coolify
            ? pulumi.interpolate`ROOT_USERNAME=${cfg.coolify.rootUsername}\nROOT_USER_EMAIL=${cfg.coolify.rootEmail}\nROOT_USER_PASSWORD=${cfg.secrets.coolifyRootPassword ?? ""}\n`
            : pulumi.output("");
        hosts.set(h.name, new Host(h.name, {
            host: h,
            steps: plan.hostSteps.get(h.name) ?? [],
            ssh: sshTargets.get(h.name) as SshTarget,
            secretParams: {
                tailscale: { AUTH_KEY: tailnet.authKeys[h.name] as pulumi.Output<string> },
                coolify: { ROOT_ENV: pulumi.secret(rootEnv) },
                backup: {
                    REPOSITORY_PASSWORD: repositoryPassword(cfg, h.name),
                    // OpenSSH refuses a key file without its final newline, which `config set "$(cat key)"` drops.
                    TARGET_CREDENTIAL: secretOrEmpty(cfg, BACKUP_SECRETS.credential).apply((k) => (k.endsWith("\n") || k === "" ? k : `${k}\n`)),
                },
                "data-disk": { KEY: secretOrEmpty(cfg, h.dataDisk?.keySecret) },
            },
            context: plan.context,
        }, { dependsOn: [tailnet] }));
    }
    const services: Record<string, { host: string; ports: string[]; trustTier: string; personalData: boolean }> = {};
    const serviceByName = new Map<string, Service>();
    for (const sp of plan.services) {
        const svc = new Service(sp.service.name, {
            plan: sp,
            ssh: sshTargets.get(sp.service.host) as SshTarget,
            secrets: cfg.secrets,
            providerKeys: cfg.providerKeys,
            context: plan.context,
        }, { dependsOn: [hosts.get(sp.service.host)?.ready].filter((r): r is pulumi.Resource => r !== undefined) });
        services[sp.service.name] = { host: sp.service.host, ports: svc.ports, trustTier: svc.trustTier, personalData: svc.personalData };
        serviceByName.set(sp.service.name, svc);
    }
    for (const [hostName, steps] of plan.restores) {
        const host = hosts.get(hostName);
        for (const step of steps) {
            // The restored data belongs to a running service (a database restores into its container); a source
            // named after its service waits for it.
            const svc = serviceByName.get((step.approvalLayer ?? "").slice("restore-".length));
            // The snapshot's own host's password opens its repository.
            const secretParams = { REPOSITORY_PASSWORD: repositoryPassword(cfg, step.params.SOURCE_HOST as string) };
            new Actuator(step.name, { step, ssh: sshTargets.get(hostName) as SshTarget, context: plan.context, secretParams },
                { parent: host, dependsOn: [host?.ready, svc].filter((r): r is pulumi.Resource => r !== undefined) });
        }
    }
    return {
        hosts: Object.fromEntries([...plan.hostSteps].map(([name, steps]) => [name, {
            layers: Object.fromEntries(steps.map((s) => [s.stepClass, { stepClass: s.stepClass, tiers: STEP_CLASSES[s.stepClass] }])),
        }])),
        services,
        tailnetPolicySha256: tailnet.policySha256,
        approvalsMissing: plan.missing.map((m) => ({ key: m.key, token: m.token, urn: m.urn })),
    };
}
