// Strict config and the effective-access refusal, case by case with the exact message an operator sees:
// each of these configs was accepted before (issue: invariants hold on the outcome).
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../components/config/load";
import { strayNamespaceKeys } from "../components/config/strict";
import { planProgram } from "../components/program";
import { controlStack, sourceOf, type TestStack } from "./helpers/stack";

type Rec = Record<string, unknown>;
const IMAGE = `docker.io/library/nginx@sha256:${"e".repeat(64)}`;

function problemsOf(mutate: (v: Rec) => void): string[] {
    const s: TestStack = controlStack();
    mutate(s.values);
    try {
        planProgram(loadConfig(sourceOf(s), { dryRun: true }), { stack: "control", project: "demesne", dryRun: true });
    } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
    }
    return [];
}

const hosts = (v: Rec) => v.hosts as Rec[];
const services = (v: Rec) => v.services as Rec[];
const addCustom = (v: Rec, extra: Rec) => services(v).push({ name: "wiki", kind: "custom", host: "control-1", image: IMAGE, trustTier: "team", ports: [{ hostPort: 9000, containerPort: 80 }], ...extra });
const addHost = (v: Rec, extra: Rec = {}) => hosts(v).push({ ...hosts(v)[0], name: "control-2", address: "203.0.113.11", ...extra });

describe("segmentation by accident: refused on the rendered outcome, naming the keys", () => {
    it("a team service served on another host's admin-only gateway port", () => {
        expect(problemsOf((v) => {
            addHost(v);
            services(v)[0]!.trustTier = "admin";
            services(v)[1]!.trustTier = "admin";
            addCustom(v, { host: "control-2", servePort: 4000 });
        })).toEqual([
            'effective access: tag:team reaches service "gateway" on control-1 (port 4000, serve): "gateway" is an admin-only service (from demesne:services[2].servePort, demesne:services[0].servePort, demesne:services[0].trustTier)',
        ]);
    });

    it("a team service served on Coolify's port on another host", () => {
        expect(problemsOf((v) => {
            addHost(v);
            addCustom(v, { host: "control-2", servePort: 8443 });
        })).toEqual([
            "effective access: tag:team reaches the Coolify dashboard (admin only) on control-1 (port 8443, serve): only team-tier services are for the team (from demesne:services[2].servePort, demesne:coolify.servePort)",
        ]);
    });

    it("a team serve port on SSH, whichever port sshd is on", () => {
        expect(problemsOf((v) => addCustom(v, { servePort: 22 }))).toEqual([
            "demesne:services[2].servePort: 22 is SSH's port: a serve mapping there would take SSH over the tailnet, and a team grant on it would reach sshd",
        ]);
        expect(problemsOf((v) => {
            addHost(v, { sshPort: 2222 });
            addCustom(v, { servePort: 2222 });
        })).toEqual([
            "effective access: tag:team reaches SSH on control-2 (port 2222, tailnet): SSH is for admins only (from demesne:services[2].servePort, demesne:hosts[1].sshPort)",
        ]);
    });

    it("a service that takes Coolify's loopback port or a reserved name", () => {
        expect(problemsOf((v) => addCustom(v, { servePort: 9443, ports: [{ hostPort: 8000, containerPort: 80 }] }))).toEqual([
            "demesne:services[2].ports[0].hostPort: port 8000 on control-1 is already Coolify's",
        ]);
        expect(problemsOf((v) => addCustom(v, { name: "gateway-litellm" }))).toEqual([
            `demesne:services[2].name: "gateway-litellm" is a name other containers on the host's service network answer to: choose another`,
        ]);
    });

    it("a team chat UI in front of an admin-only gateway", () => {
        expect(problemsOf((v) => void (services(v)[0]!.trustTier = "admin"))).toEqual([
            'demesne:services[1].trustTier: the team would use the admin-only gateway "gateway" through this chat UI: make the chat UI admin-tier or the gateway team-tier',
        ]);
    });
});

describe("catch-all ranges", () => {
    it.each([
        ["::/0", "demesne:adminRanges[1]: ::/0 is every IPv6 address: name the range people connect from"],
        ["0.0.0.0/0", "demesne:adminRanges[1]: 0.0.0.0/0 is every IPv4 address: name the range people connect from"],
        ["2001:db8::/32", "demesne:adminRanges[1]: 2001:db8::/32 is wider than /48, wider than one organisation's network: name the narrower range people connect from"],
        ["::ffff:0:0/96", "demesne:adminRanges[1]: ::ffff:0:0/96 carries IPv4 inside IPv6 and spans more than an IPv4 /16: name the IPv4 range instead"],
        ["198.51.100.0/017", "demesne:adminRanges[1]: expected a CIDR range such as 198.51.100.0/24 (a decimal prefix, no leading zero)"],
        ["198.51.100.77/16", "demesne:adminRanges[1]: 198.51.100.77/16 has host bits set: write it as 198.51.0.0/16"],
        ["172.17.0.0/24", "demesne:adminRanges[1]: 172.17.0.0/24 overlaps 172.17.0.0/16, which is on the host itself (loopback or Docker's networks), not where people connect from"],
    ])("refuses %s as an admin range", (range, message) => {
        expect(problemsOf((v) => (v.adminRanges as string[]).push(range))).toEqual([message]);
    });

    it("refuses a public Docker subnet", () => {
        expect(problemsOf((v) => void (v.dockerSubnets = ["203.0.113.0/24"]))).toEqual([
            "demesne:dockerSubnets[0]: 203.0.113.0/24 is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7): Docker's networks live on the host itself, and a public range there would hide the real hosts that use it",
        ]);
    });

    it("accepts a narrow IPv6 admin range: SSH over IPv6 is then limited by the host firewall alone", () => {
        expect(problemsOf((v) => (v.adminRanges as string[]).push("2001:db8:1::/48"))).toEqual([]);
    });
});

describe("identities", () => {
    it.each([
        [(v: Rec) => void (v.deployUser = "root"), "demesne:deployUser: root cannot be the deploy user: name a non-root account"],
        [(v: Rec) => void (hosts(v)[0]!.bootstrapUser = "root"), "demesne:hosts[0].bootstrapUser: root cannot be the bootstrap user of control-1: name a non-root account"],
        [(v: Rec) => void (v.adminUsers = ["root"]), "demesne:adminUsers[0]: root cannot be an admin user: name a non-root account"],
        [(v: Rec) => void (v.deployUser = "demesne-observer"), "demesne:deployUser: demesne-observer is the read-only observer's account; it cannot also be the deploy user"],
        [(v: Rec) => void (v.adminUsers = ["deploy"]), 'demesne:adminUsers[0]: "deploy" is also the deploy user: each role needs its own identity'],
        [(v: Rec) => void (hosts(v)[0]!.bootstrapUser = "alice"), 'demesne:hosts[0].bootstrapUser: "alice" is also an admin user: each role needs its own identity'],
    ])("refuses a root or shared identity (%#)", (mutate, message) => {
        expect(problemsOf(mutate)).toEqual([message]);
    });
});

describe("silently ignored config", () => {
    it("refuses an unknown key with the nearest valid name", () => {
        expect(problemsOf((v) => void (v.killSwich = true))).toEqual(["demesne:killSwich: unknown key; did you mean demesne:killSwitch?"]);
    });

    it("names keys set under a misspelt namespace", () => {
        expect(strayNamespaceKeys(["Demesne:killSwitch", "demsne:mode", "demesne:mode", "tailscale:tailnet", "ovh:endpoint"])).toEqual(["Demesne:killSwitch", "demsne:mode"]);
    });

    it("refuses a host with no public IPv4 unless it says it has no edge firewall", () => {
        expect(problemsOf((v) => void (hosts(v)[0]!.address = "control.example.org"))).toEqual([
            "demesne:hosts[0].edgeFirewall: control-1 has no public IPv4 for the OVH edge firewall: set publicIp, or set edgeFirewall: false to rely on the host firewall alone",
        ]);
        expect(problemsOf((v) => Object.assign(hosts(v)[0]!, { address: "control.example.org", edgeFirewall: false }))).toEqual([]);
        expect(problemsOf((v) => void (hosts(v)[0]!.address = "100.101.102.103"))).toEqual([
            "demesne:hosts[0].address: 100.101.102.103 is not a public IPv4, so OVH's edge firewall cannot guard it: set publicIp to the host's public address, or set edgeFirewall: false",
        ]);
    });

    it("refuses duplicate addresses, host ports and serve ports", () => {
        expect(problemsOf((v) => addHost(v, { address: "203.0.113.10", sshPort: 2222, edgeFirewall: false }))).toEqual([]);
        expect(problemsOf((v) => addHost(v, { publicIp: "203.0.113.10" }))).toEqual(["demesne:hosts[1].publicIp: 203.0.113.10's edge firewall is already control-1's: OVH has one firewall per address"]);
        expect(problemsOf((v) => addHost(v, { address: "203.0.113.10" }))).toEqual([
            "demesne:hosts[1].address: 203.0.113.10 is also the address of control-1 (SSH port 22)",
            "demesne:hosts[1].address: 203.0.113.10's edge firewall is already control-1's: OVH has one firewall per address",
        ]);
        expect(problemsOf((v) => addCustom(v, { ports: [{ hostPort: 4000, containerPort: 80 }] }))).toEqual(['demesne:services[2].ports[0].hostPort: port 4000 on control-1 is already service "gateway"\'s']);
        expect(problemsOf((v) => addCustom(v, { servePort: 443 }))).toEqual(['demesne:services[2].servePort: tailnet port 443 on control-1 is already service "chat"\'s']);
    });

    it("refuses a serve port with nothing to serve", () => {
        expect(problemsOf((v) => addCustom(v, { servePort: 9443, ports: [] }))).toEqual([
            "demesne:services[2].servePort: there is no published port to serve: add one to ports (tailscale serve proxies to the first)",
        ]);
    });

    it("refuses a credential anywhere in plain config, never echoing it", () => {
        const key = "sk-proj-" + "Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY";
        const problems = problemsOf((v) => void ((services(v)[0]!.models as Rec[])[0]!.model = key));
        expect(problems).toEqual([expect.stringMatching(/^demesne:services\[0\]\.models\[0\]\.model: holds .+: set credentials as secrets/)]);
        expect(problems.join("\n")).not.toContain(key);
    });
});
