// Every rejection names its key, with the exact message an operator sees.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../components/config/load";
import { Actuator, ActuatorRefusal } from "../components/actuator/actuator";
import { hostLayerSteps } from "../components/host/layers";
import { planProgram } from "../components/program";
import { recordRegistrations } from "./helpers/mocks";
import { controlStack, SENTINEL, sourceOf, TestStack } from "./helpers/stack";

beforeAll(async () => {
    await recordRegistrations({ dryRun: true });
});

function problemsOf(stack: TestStack, dryRun = true): string[] {
    try {
        loadConfig(sourceOf(stack), { dryRun });
    } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
    }
    return [];
}

type Rec = Record<string, unknown>;
const hosts = (s: TestStack) => s.values.hosts as Rec[];
const services = (s: TestStack) => s.values.services as Rec[];

describe("config validation", () => {
    it("accepts the control stack", () => {
        expect(problemsOf(controlStack())).toEqual([]);
    });

    it("refuses a malformed address", () => {
        const s = controlStack();
        hosts(s)[0]!.address = "203.0.113.999";
        expect(problemsOf(s)).toEqual(["demesne:hosts[0].address: expected an IPv4 address or DNS name"]);
    });

    it("refuses a plain-text credential without echoing it", () => {
        const s = controlStack();
        s.secretKeys.delete("sshPrivateKey");
        const problems = problemsOf(s);
        expect(problems).toEqual([
            "demesne:sshPrivateKey: must be a secret; set it with `pulumi config set --secret demesne:sshPrivateKey`",
        ]);
        expect(problems.join("\n")).not.toContain(SENTINEL);
    });

    it("refuses a credential in a service's plain env", () => {
        const s = controlStack();
        services(s)[1]!.env = { WEBUI_SECRET_KEY: "plain" };
        expect(problemsOf(s)).toEqual([
            "demesne:services[1].env.WEBUI_SECRET_KEY: looks like a credential: move it to secretEnv as a `secret:<name>` reference",
        ]);
    });

    it("refuses an image not pinned by digest", () => {
        const s = controlStack();
        services(s)[1]!.image = "ghcr.io/open-webui/open-webui:main";
        expect(problemsOf(s)).toEqual(["demesne:services[1].image: must be pinned by digest (name@sha256:<64 hex>)"]);
    });

    it("refuses a provider key outside the gateway", () => {
        const s = controlStack();
        services(s)[1]!.secretEnv = { OPENAI_API_KEY: "providerKey:openai" };
        expect(problemsOf(s)).toEqual([
            "demesne:services[1].secretEnv.OPENAI_API_KEY: provider keys are for the gateway only: give this service a gateway virtual key (`secret:<name>`)",
        ]);
    });

    it("refuses a port published beyond loopback", () => {
        const s = controlStack();
        services(s)[0]!.ports = [{ bind: "0.0.0.0", hostPort: 4000, containerPort: 4000 }];
        expect(problemsOf(s)).toEqual([
            "demesne:services[0].ports[0].bind: 0.0.0.0 is not loopback: publish on 127.0.0.1 and expose with tailscale serve",
        ]);
    });

    it("refuses a service on a Talos host", () => {
        const s = controlStack();
        hosts(s).push({ name: "talos-1", address: "203.0.113.20", hostType: "talos" });
        services(s)[1]!.host = "talos-1";
        expect(problemsOf(s)).toEqual([
            "demesne:services[1].host: \"talos-1\" is a talos host: SSH steps never target it (invariant 5)",
        ]);
    });

    it("refuses an update while the kill switch is on, but lets a preview run", () => {
        const s = controlStack();
        s.values.killSwitch = true;
        expect(problemsOf(s, true)).toEqual([]);
        expect(problemsOf(s, false)).toEqual([
            "demesne:killSwitch: is on: only previews may run; turn it off with `pulumi config set demesne:killSwitch false` after review",
        ]);
    });

    it("refuses a personal-data service without its data-handling document", () => {
        const s = controlStack();
        delete services(s)[1]!.dataHandlingDoc;
        expect(problemsOf(s)).toEqual([
            "demesne:services[1].dataHandlingDoc: required when personalData is true: name the document that governs this data",
        ]);
    });

    it("takes a coordination server over https, plain http only at a private address, and names the field otherwise", () => {
        const tailnet = (s: TestStack) => s.values.tailnet as Rec;
        const withUrl = (url: string) => {
            const s = controlStack();
            tailnet(s).controlUrl = url;
            return problemsOf(s);
        };
        expect(withUrl("https://headscale.example.net")).toEqual([]);
        expect(withUrl("http://10.251.3.1:41000")).toEqual([]);
        const message = "demesne:tailnet.controlUrl: expected an https:// URL of the coordination server (http:// only at a loopback or private IP address), with no credentials, query or fragment";
        for (const bad of ["http://headscale.example.net", "http://203.0.113.7", "https://ops@example.net", "https://example.net/?key=x", "ftp://10.0.0.1", "headscale.example.net"]) {
            expect(withUrl(bad), bad).toEqual([message]);
        }
        // Unset, the layer gets an empty CONTROL_URL: no --login-server, Tailscale's own server.
        const cfg = loadConfig(sourceOf(controlStack()), { dryRun: true });
        const step = hostLayerSteps(cfg, cfg.hosts[0]!).find((x) => x.stepClass === "tailscale")!;
        expect(step.params.CONTROL_URL).toBe("");
    });

    it("lists every problem at once", () => {
        const s = controlStack();
        hosts(s)[0]!.address = "not an address";
        hosts(s)[0]!.hostKey = "ecdsa-sha2-nistp256 AAAA";
        s.values.adminRanges = ["198.51.100.0/33"];
        expect(problemsOf(s)).toEqual([
            "demesne:hosts[0].address: expected an IPv4 address or DNS name",
            "demesne:hosts[0].hostKey: expected the host's public key as `ssh-ed25519 AAAA…` (no trust on first use)",
            "demesne:adminRanges[0]: expected a CIDR range such as 198.51.100.0/24 (a decimal prefix, no leading zero)",
        ]);
    });
});

describe("revoked SSH keys", () => {
    const keys = (s: TestStack, key: string) => s.values[key] as string[];

    it("refuses a revoked key still listed for the deploy user or the observer, matched without its comment", () => {
        const s = controlStack();
        const [type, body] = keys(s, "sshPublicKeys")[0]!.split(" ");
        const observer = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIObserverKeyObserverKeyObserverKeyObs";
        s.values.observerPublicKeys = [observer];
        s.values.revokedSshKeys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUnrelatedUnrelatedUnrelatedUnrelated", `${type} ${body} laptop-stolen-2026`, `${observer} old`];
        expect(problemsOf(s)).toEqual([
            "demesne:sshPublicKeys[0]: this key is revoked (demesne:revokedSshKeys[1]): remove it here, or un-revoke it",
            "demesne:observerPublicKeys[0]: this key is revoked (demesne:revokedSshKeys[2]): remove it here, or un-revoke it",
        ]);
    });

    it("takes a revoked key no role lists, and renders it without its comment", () => {
        const s = controlStack();
        s.values.revokedSshKeys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUnrelatedUnrelatedUnrelatedUnrelated bob@old-laptop"];
        expect(problemsOf(s)).toEqual([]);
        const cfg = loadConfig(sourceOf(s), { dryRun: true });
        const step = hostLayerSteps(cfg, cfg.hosts[0]!).find((x) => x.stepClass === "ssh")!;
        expect(step.params.REVOKED_KEYS).toBe("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUnrelatedUnrelatedUnrelatedUnrelated\n");
        expect(step.params.DROPIN).toMatch(/^RevokedKeys \/etc\/ssh\/revoked_keys$/m);
        expect(step.params.EXPECT).toMatch(/^revokedkeys \/etc\/ssh\/revoked_keys$/m);
    });
});

describe("service env: provider keys stay in the gateway, the chat UI's settings are an allowlist", () => {
    const ANTHROPIC = `sk-ant-api03-${SENTINEL}-Zx81Qw`;

    it("refuses a provider key in the chat UI's env under a name that is not a credential name", () => {
        const s = controlStack();
        services(s)[1]!.env = { DEFAULT_MODELS: ANTHROPIC };
        const problems = problemsOf(s);
        expect(problems).toEqual([
            "demesne:services[1].env.DEFAULT_MODELS: holds an Anthropic key: move it to secretEnv as a `secret:<name>` reference",
        ]);
        expect(problems.join("\n")).not.toContain(SENTINEL);
    });

    it("refuses the chat UI's hardened settings in env instead of letting them override", () => {
        const s = controlStack();
        services(s)[1]!.env = { WEBUI_AUTH: "false", ENABLE_SIGNUP: "true", DEFAULT_USER_ROLE: "admin", OPENAI_API_BASE_URL: "https://api.openai.com/v1" };
        expect(problemsOf(s)).toEqual([
            "demesne:services[1].env.WEBUI_AUTH: is set by demesne for every open-webui service and cannot be overridden",
            "demesne:services[1].env.ENABLE_SIGNUP: is set by demesne for every open-webui service and cannot be overridden",
            "demesne:services[1].env.DEFAULT_USER_ROLE: is set by demesne for every open-webui service and cannot be overridden",
            "demesne:services[1].env.OPENAI_API_BASE_URL: is set by demesne for every open-webui service and cannot be overridden",
        ]);
    });

    it("refuses a secretEnv entry that would replace a key the renderer hands the service", () => {
        const s = controlStack();
        services(s)[1]!.secretEnv = { WEBUI_SECRET_KEY: "secret:webuiVirtualKey" };
        services(s)[0]!.secretEnv = { LITELLM_MASTER_KEY: "secret:webuiSecretKey" };
        services(s)[0]!.env = { DATABASE_URL: "postgresql://litellm@db:5432/litellm" };
        expect(problemsOf(s)).toEqual([
            "demesne:services[0].env.DATABASE_URL: is set by demesne for every gateway service and cannot be overridden",
            "demesne:services[0].secretEnv.LITELLM_MASTER_KEY: is set by demesne for every gateway service and cannot be overridden",
            "demesne:services[1].secretEnv.WEBUI_SECRET_KEY: is set by demesne for every open-webui service and cannot be overridden",
        ]);
    });

    it("accepts the chat UI's allowlisted settings and refuses any other", () => {
        const s = controlStack();
        services(s)[1]!.env = { WEBUI_NAME: "Team chat", DEFAULT_LOCALE: "fr-FR", ENABLE_TITLE_GENERATION: "false", WEBUI_AUTH_TRUSTED_EMAIL_HEADER: "X-Email" };
        expect(problemsOf(s)).toEqual([
            "demesne:services[1].env.WEBUI_AUTH_TRUSTED_EMAIL_HEADER: is not a setting the chat UI may carry (see OPEN_WEBUI_USER_ENV in components/model/service-env.ts)",
        ]);
    });

    it("refuses a provider key's env name outside the gateway even when it comes from a secret", () => {
        const s = controlStack();
        services(s)[1]!.secretEnv = { ANTHROPIC_API_KEY: "secret:webuiVirtualKey" };
        expect(problemsOf(s)).toEqual([
            "demesne:services[1].secretEnv.ANTHROPIC_API_KEY: is where a model provider's key goes, and provider keys are for the gateway only: give this service a gateway virtual key (`secret:<name>`) under OPENAI_API_KEY",
        ]);
    });

    it("refuses a chat UI secret that holds a provider key, naming the secret and never its value", () => {
        const s = controlStack();
        const secrets = s.values.secrets as Record<string, string>;
        secrets.webuiVirtualKey = (s.values.providerKeys as Record<string, string>).openai!;
        secrets.webuiSecretKey = ANTHROPIC;
        const problems = problemsOf(s);
        expect(problems).toEqual([
            'demesne:secrets.webuiSecretKey: holds an Anthropic key, and the open-webui service "chat" reads it as WEBUI_SECRET_KEY: provider keys are for the gateway only; give it a gateway virtual key',
            'demesne:secrets.webuiVirtualKey: holds the value of demesne:providerKeys.openai, and the open-webui service "chat" reads it as OPENAI_API_KEY: provider keys are for the gateway only; give it a gateway virtual key',
        ]);
        expect(problems.join("\n")).not.toContain(SENTINEL);
    });
});

describe("content-bound approvals", () => {
    const opts = { stack: "control", project: "demesne" };

    function tokensFromPreview(s: TestStack): Record<string, string> {
        const plan = planProgram(loadConfig(sourceOf(s), { dryRun: true }), { ...opts, dryRun: true });
        return Object.fromEntries(plan.missing.map((m) => [m.key, m.token]));
    }

    it("refuses an update of a T3 step without its token, naming the key and the token to type", () => {
        const s = controlStack();
        const tokens = tokensFromPreview(s);
        // Every T3 step approved but ssh.
        s.values.approvals = Object.fromEntries(Object.entries(tokens).filter(([key]) => key !== "control-1/ssh"));
        const cfg = loadConfig(sourceOf(s), { dryRun: false });
        expect(() => planProgram(cfg, { ...opts, dryRun: false })).toThrow(ConfigError);
        try {
            planProgram(cfg, { ...opts, dryRun: false });
        } catch (err) {
            const [problem] = (err as ConfigError).problems;
            expect((err as ConfigError).problems).toHaveLength(1);
            expect(problem).toMatch(/^demesne:approvals\["control-1\/ssh"\]: the ssh step on control-1 is T3-class and its content \(sha256 [0-9a-f]{12}\) has no valid approval; after reviewing the preview, approve it with: pulumi config set --path 'demesne:approvals\["control-1\/ssh"\]' T3-[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);
            expect(problem).toContain(tokens["control-1/ssh"]);
        }
    });

    it("keeps a token valid while the content is unchanged and voids it when the content changes", () => {
        const s = controlStack();
        s.values.approvals = tokensFromPreview(s);
        expect(() => planProgram(loadConfig(sourceOf(s), { dryRun: false }), { ...opts, dryRun: false })).not.toThrow();
        // A different AllowUsers list is different sshd content: the old token no longer fits.
        s.values.adminUsers = ["alice", "bob"];
        const plan = () => planProgram(loadConfig(sourceOf(s), { dryRun: false }), { ...opts, dryRun: false });
        expect(plan).toThrow(/demesne:approvals\["control-1\/ssh"\]/);
        expect(plan).not.toThrow(/control-1\/firewall/);
    });
});

describe("the Actuator refuses at construction", () => {
    const ctx = { stack: "control", project: "demesne", approvals: {} };
    const ssh = { address: "203.0.113.10", port: 22, hostKey: "ssh-ed25519 AAAA", bootstrapUser: "ubuntu", deployUser: "deploy", privateKey: pulumi.secret("k") };

    it("any SSH step for a Talos host", () => {
        const cfg = loadConfig(sourceOf(controlStack()), { dryRun: true });
        const step = { ...hostLayerSteps(cfg, cfg.hosts[0]!).find((s) => s.stepClass === "docker")!, hostType: "talos" as const, host: "talos-1", name: "talos-1-docker" };
        expect(() => new Actuator("talos-1-docker", { step, ssh, context: { ...ctx, dryRun: true, killSwitch: false } }))
            .toThrow(new ActuatorRefusal(["talos-1-docker: talos-1 is a talos host: SSH steps never target it (invariant 5)"]));
    });

    it("any step outside a preview while the kill switch is on", () => {
        const cfg = loadConfig(sourceOf(controlStack()), { dryRun: true });
        const step = hostLayerSteps(cfg, cfg.hosts[0]!).find((s) => s.stepClass === "docker")!;
        expect(() => new Actuator(step.name, { step, ssh, context: { ...ctx, dryRun: false, killSwitch: true } }))
            .toThrow(new ActuatorRefusal(["control-1-docker: demesne:killSwitch is on: nothing runs on a host outside a preview"]));
    });
});
