// The control stack through Pulumi's mocks: the exact resources and their key inputs.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { approvalToken } from "../components/model/approvals";
import { layerOfScript, SCRIPT_CATALOGUE } from "../components/model/catalogue";
import { byType, recordRegistrations, Registration, settle } from "./helpers/mocks";
import { controlStack, runtimeConfigOf, SENTINEL } from "./helpers/stack";

async function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply((v) => { resolve(v); return v; }));
}

let registrations: Registration[];
let outputs: Record<string, unknown>;

beforeAll(async () => {
    registrations = await recordRegistrations({ dryRun: true });
    const { config, secretKeys } = runtimeConfigOf(controlStack());
    pulumi.runtime.setAllConfig(config, secretKeys);
    // Imported only after the mocks and config are in place, as `pulumi preview` would run it.
    const program = (await import("../index")) as unknown as Record<string, pulumi.Output<unknown> | unknown>;
    outputs = await outputValue(pulumi.output(program as Record<string, unknown>)) as Record<string, unknown>;
    await settle(registrations);
});

describe("the control stack", () => {
    it("declares exactly these resources", () => {
        const names = registrations.map((r) => `${r.type}::${r.name}`).sort();
        expect(names).toEqual([
            "command:remote:Command::control-1-audit",
            "command:remote:Command::control-1-baseline",
            "command:remote:Command::control-1-coolify",
            "command:remote:Command::control-1-docker",
            "command:remote:Command::control-1-firewall",
            "command:remote:Command::control-1-firewall-confirm",
            "command:remote:Command::control-1-hardening",
            "command:remote:Command::control-1-hardening-confirm",
            "command:remote:Command::control-1-service-chat",
            "command:remote:Command::control-1-service-gateway",
            "command:remote:Command::control-1-ssh",
            "command:remote:Command::control-1-ssh-confirm",
            "command:remote:Command::control-1-tailscale",
            "demesne:actuator:Actuator::control-1-audit",
            "demesne:actuator:Actuator::control-1-baseline",
            "demesne:actuator:Actuator::control-1-coolify",
            "demesne:actuator:Actuator::control-1-docker",
            "demesne:actuator:Actuator::control-1-firewall",
            "demesne:actuator:Actuator::control-1-hardening",
            "demesne:actuator:Actuator::control-1-service-chat",
            "demesne:actuator:Actuator::control-1-service-gateway",
            "demesne:actuator:Actuator::control-1-ssh",
            "demesne:actuator:Actuator::control-1-tailscale",
            "demesne:edge:EdgeFirewall::edge-control-1",
            "demesne:host:Host::control-1",
            "demesne:service:Service::chat",
            "demesne:service:Service::gateway",
            "demesne:tailnet:Tailnet::tailnet",
            "ovh:Ip/firewall:Firewall::edge-control-1-firewall",
            "ovh:Ip/firewallRule:FirewallRule::edge-control-1-rule-0",
            "ovh:Ip/firewallRule:FirewallRule::edge-control-1-rule-1",
            "ovh:Ip/firewallRule:FirewallRule::edge-control-1-rule-19",
            "ovh:Ip/firewallRule:FirewallRule::edge-control-1-rule-2",
            "tailscale:index/acl:Acl::tailnet-policy",
            "tailscale:index/tailnetKey:TailnetKey::tailnet-key-control-1",
        ].sort());
    });

    it("connects with a pinned host key and runs each layer through the runner", () => {
        const commands = byType(registrations, "command:remote:Command");
        for (const c of commands) {
            const conn = c.inputs.connection as Record<string, unknown>;
            expect(conn.host).toBe("203.0.113.10");
            expect(conn.hostKey).toMatch(/^ssh-ed25519 AAAA/);
            expect(c.inputs.delete).toBeUndefined();
            expect(c.inputs.environment).toBeUndefined();
            const script = Buffer.from(String(c.inputs.stdin).split("\n")[0] ?? "", "base64").toString("utf8");
            const sha = require("node:crypto").createHash("sha256").update(script).digest("hex") as string;
            expect(layerOfScript(sha), `${c.name} runs a catalogued script`).toBeDefined();
            if (c.name === "control-1-baseline") {
                expect(conn.user).toBe("ubuntu");
                expect(c.inputs.create).toBe(expect.any(String) && c.inputs.create);
                expect(String(c.inputs.create)).toContain(`demesne-bootstrap ${SCRIPT_CATALOGUE.baseline}`);
            } else {
                expect(conn.user).toBe("deploy");
                expect(String(c.inputs.create)).toMatch(/^sudo -n \/usr\/local\/sbin\/demesne-run # layer=[a-z]+ script=sha256:[0-9a-f]{64}$/);
            }
        }
    });

    it("binds T3 steps to their content with triggers carrying the operator's token (none given here)", () => {
        const ssh = registrations.find((r) => r.name === "control-1-ssh" && r.type === "command:remote:Command")!;
        const triggers = ssh.inputs.triggers as string[];
        expect(triggers[0]).toMatch(/^content:[0-9a-f]{64}$/);
        const urn = "urn:pulumi:control::demesne::demesne:host:Host$demesne:actuator:Actuator$command:remote:Command::control-1-ssh";
        expect(ssh.urn).toBe(urn);
        expect(triggers[1]).toBe("approval:none");
        expect(approvalToken(urn, triggers[0]!.slice("content:".length), "declare")).toMatch(/^T3-/);
    });

    it("renders the OVH edge rules in order, ending in a deny", () => {
        const rules = byType(registrations, "ovh:Ip/firewallRule:FirewallRule")
            .map((r) => r.inputs).sort((a, b) => Number(a.sequence) - Number(b.sequence));
        expect(rules).toEqual([
            { ip: "203.0.113.10/32", ipOnFirewall: "203.0.113.10", sequence: 0, action: "permit", protocol: "tcp", tcpOption: "established" },
            { ip: "203.0.113.10/32", ipOnFirewall: "203.0.113.10", sequence: 1, action: "permit", protocol: "icmp" },
            { ip: "203.0.113.10/32", ipOnFirewall: "203.0.113.10", sequence: 2, action: "permit", protocol: "tcp", source: "198.51.100.0/24", destinationPort: 22 },
            { ip: "203.0.113.10/32", ipOnFirewall: "203.0.113.10", sequence: 19, action: "deny", protocol: "ipv4" },
        ]);
    });

    it("issues a single-use, pre-authorized, tagged, expiring key per host", () => {
        const [key] = byType(registrations, "tailscale:index/tailnetKey:TailnetKey");
        expect(key?.inputs).toMatchObject({ reusable: false, ephemeral: false, preauthorized: true, expiry: 3600, tags: ["tag:aihost"] });
    });

    it("publishes every service port on loopback only", () => {
        for (const svc of ["control-1-service-gateway", "control-1-service-chat"]) {
            const c = registrations.find((r) => r.name === svc && r.type === "command:remote:Command")!;
            const params = Object.fromEntries(String(c.inputs.stdin).trim().split("\n").slice(1)
                .map((l) => [l.slice(0, l.indexOf("=")), Buffer.from(l.slice(l.indexOf("=") + 1), "base64").toString()]));
            const compose = JSON.parse(params.COMPOSE as string) as { services: Record<string, { ports?: string[]; image: string }> };
            for (const s of Object.values(compose.services)) {
                expect(s.image).toMatch(/@sha256:[0-9a-f]{64}$/);
                for (const p of s.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:/);
            }
        }
    });

    it("keeps provider keys in the gateway's env file only", () => {
        const envOf = (name: string) => {
            const c = registrations.find((r) => r.name === name && r.type === "command:remote:Command")!;
            const line = String(c.inputs.stdin).split("\n").find((l) => l.startsWith("ENV_FILE="))!;
            return Buffer.from(line.slice("ENV_FILE=".length), "base64").toString();
        };
        expect(envOf("control-1-service-gateway")).toContain(`OPENAI_API_KEY=sk-provider-${SENTINEL}`);
        expect(envOf("control-1-service-chat")).not.toContain("sk-provider-");
        expect(envOf("control-1-service-chat")).toContain(`OPENAI_API_KEY=sk-virtual-${SENTINEL}`);
    });

    it("exports layers with their tier classes, services, the policy hash and the missing approvals", () => {
        const hosts = outputs.hosts as Record<string, { layers: Record<string, { tiers: { create: string } }> }>;
        expect(Object.keys(hosts["control-1"]!.layers)).toEqual(["baseline", "ssh", "tailscale", "firewall", "hardening", "audit", "docker", "coolify"]);
        expect(hosts["control-1"]!.layers.ssh!.tiers.create).toBe("T3");
        expect(outputs.tailnetPolicySha256).toMatch(/^[0-9a-f]{64}$/);
        const missing = outputs.approvalsMissing as { key: string; token: string }[];
        expect(missing.map((m) => m.key)).toEqual(["control-1/ssh", "control-1/firewall", "control-1/hardening"]);
        for (const m of missing) expect(m.token).toMatch(/^T3-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}$/);
        expect((outputs.services as Record<string, { ports: string[] }>).gateway!.ports).toEqual(["127.0.0.1:4000:4000"]);
    });

    it("never puts a secret in a resource's plain inputs except where it is delivered", () => {
        for (const r of registrations) {
            const text = JSON.stringify(r.inputs);
            if (!text.includes(SENTINEL)) continue;
            // Only a command's connection (the SSH key) and stdin (env files, auth keys) may
            // carry one, and then only as a secret.
            expect(r.type).toBe("command:remote:Command");
            for (const [k, v] of Object.entries(r.inputs)) {
                if (JSON.stringify(v).includes(SENTINEL)) expect(r.secretInputs, `${r.name}.${k}`).toContain(k);
            }
        }
    });
});
