// Strict config: what a schema cannot say on one field. Unknown keys (a typo of the kill switch would
// otherwise be ignored), identities that merge roles or are root, duplicate addresses and ports, ranges
// too wide to grant access, a host left without an edge firewall by accident, and a revoked key still listed.
import { isIP } from "node:net";
import { COOLIFY_LOOPBACK_PORTS } from "../render/coolify";
import { OBSERVER_USER } from "../model/observer";
import { DEFAULT_SERVE_PORT, EDGE_FINAL_DENY_SEQUENCE, SSH_PORT } from "../model/ports";
import { cidrWithin, dockerSubnetProblem, isPublicIpv4, tooWideProblem } from "../model/ranges";
import { credentialShapeOf } from "../model/secrets";
import { sshKeyIdentity } from "../render/revoked-keys";
import type { PlainConfig } from "./schema";

type Report = (key: string, path: PropertyKey[], message: string) => void;

/** Accounts the system or a layer owns (the GPU worker layer's `inference`): never a person's or a role's. */
const RESERVED_ACCOUNTS = ["nobody", "daemon", "bin", "sys", "sshd", "messagebus", "systemd-network", "inference"];

/**
 * Names a service may not take: every project joins one Docker network on its host, where a container
 * answers to its service name and container name, so a service named `db` or `gateway-litellm` would
 * receive the gateway's database connections or the chat UI's virtual key.
 */
export const RESERVED_SERVICE_NAMES = ["db", "litellm", "open-webui", "inference", "postgres", "coolify", "soketi"];

function distance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        let prev = row[0]!;
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const cur = row[j]!;
            row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
            prev = cur;
        }
    }
    return row[b.length]!;
}

/** The valid key nearest to `key` (case-insensitive edit distance). */
export function nearestKey(key: string, valid: readonly string[]): string {
    return [...valid].sort((x, y) => distance(key, x) - distance(key, y) || x.localeCompare(y))[0] ?? "";
}

/** Keys whose namespace is `demesne` misspelt or in another case: Pulumi hands them to nobody. */
export function strayNamespaceKeys(keys: readonly string[], namespace = "demesne"): string[] {
    return keys.filter((k) => {
        const ns = k.slice(0, Math.max(0, k.indexOf(":")));
        return ns !== namespace && ns !== "" && distance(ns, namespace) <= 2;
    });
}

/**
 * A credential in plain config (a provider key pasted into a model name, a password in a URL) would sit in
 * clear text in the stack file and the state: refused wherever it is, with its path and never its value.
 * A service's env is checked by the service-env rules, which also name the setting.
 */
export function plainCredentialProblems(raw: Record<string, unknown>, report: Report): void {
    const walk = (key: string, path: PropertyKey[], v: unknown): void => {
        if (typeof v === "string") {
            const shape = credentialShapeOf(v);
            if (shape) report(key, path, `holds ${shape}: set credentials as secrets (\`pulumi config set --secret\`) and refer to them`);
        } else if (Array.isArray(v)) {
            v.forEach((x, i) => walk(key, [...path, i], x));
        } else if (v && typeof v === "object") {
            for (const [k, x] of Object.entries(v)) if (!(key === "services" && (k === "env" || k === "secretEnv"))) walk(key, [...path, k], x);
        }
    };
    for (const [key, v] of Object.entries(raw)) walk(key, [], v);
}

/** `demesne:*` keys the program does not read are refused: silently ignoring one ignores what the operator meant. */
export function unknownKeyProblems(keys: readonly string[], valid: readonly string[], report: Report): void {
    for (const key of keys) {
        if (!valid.includes(key)) report(key, [], `unknown key; did you mean demesne:${nearestKey(key, valid)}?`);
    }
}

/**
 * Each role is its own non-root identity: bootstrap, deploy, admins and the observer. One name in two
 * roles merges act and read (the observer's forced command or the deploy user's runner-only sudo would
 * apply to a person's login, or the reverse).
 */
function identityProblems(cfg: PlainConfig, report: Report): void {
    const roles: { role: string; name: string; key: string; path: PropertyKey[] }[] = [
        { role: "the deploy user", name: cfg.deployUser, key: "deployUser", path: [] },
        ...cfg.adminUsers.map((name, i) => ({ role: "an admin user", name, key: "adminUsers", path: [i] })),
        ...cfg.hosts.map((h, i) => ({ role: `the bootstrap user of ${h.name}`, name: h.bootstrapUser, key: "hosts", path: [i, "bootstrapUser"] })),
    ];
    const roleOf = (r: { role: string }) => (r.role.startsWith("the bootstrap user") ? "bootstrap" : r.role);
    for (const r of roles) {
        if (r.name === "root") report(r.key, r.path, `root cannot be ${r.role}: name a non-root account`);
        else if (r.name === OBSERVER_USER) report(r.key, r.path, `${r.name} is the read-only observer's account; it cannot also be ${r.role}`);
        else if (RESERVED_ACCOUNTS.includes(r.name)) report(r.key, r.path, `${r.name} is a system or service account; it cannot also be ${r.role}`);
        const other = roles.find((o) => o !== r && o.name === r.name && roleOf(o) !== roleOf(r));
        if (other && roles.indexOf(other) < roles.indexOf(r)) {
            report(r.key, r.path, `"${r.name}" is also ${other.role}: each role needs its own identity`);
        }
    }
    cfg.adminUsers.forEach((name, i) => {
        if (cfg.adminUsers.indexOf(name) < i) report("adminUsers", [i], `duplicate admin user "${name}"`);
    });
}

function hostProblems(cfg: PlainConfig, report: Report): void {
    // One SSH endpoint per host (two hosts behind one address on different ports are fine), and one edge
    // firewall per public IPv4 (OVH has one per address).
    const endpoints = new Map<string, number>();
    const guardedBy = new Map<string, number>();
    cfg.hosts.forEach((h, i) => {
        const endpoint = `${h.address.toLowerCase()}:${h.sshPort}`;
        const first = endpoints.get(endpoint);
        if (first !== undefined) report("hosts", [i, "address"], `${h.address} is also the address of ${cfg.hosts[first]?.name} (SSH port ${h.sshPort})`);
        else endpoints.set(endpoint, i);
        const guarded = h.publicIp ?? (isIP(h.address) === 4 ? h.address : undefined);
        if (h.edgeFirewall && guarded === undefined) {
            report("hosts", [i, "edgeFirewall"], `${h.name} has no public IPv4 for the OVH edge firewall: set publicIp, or set edgeFirewall: false to rely on the host firewall alone`);
        } else if (h.edgeFirewall && guarded !== undefined && !isPublicIpv4(guarded)) {
            // An edge firewall on a private or tailnet address guards nothing the internet reaches.
            report("hosts", [i, h.publicIp ? "publicIp" : "address"], `${guarded} is not a public IPv4, so OVH's edge firewall cannot guard it: set publicIp to the host's public address, or set edgeFirewall: false`);
        } else if (h.edgeFirewall && guarded !== undefined) {
            const other = guardedBy.get(guarded);
            if (other !== undefined) report("hosts", [i, h.publicIp ? "publicIp" : "address"], `${guarded}'s edge firewall is already ${cfg.hosts[other]?.name}'s: OVH has one firewall per address`);
            else guardedBy.set(guarded, i);
        }
        if (h.hostType !== "ubuntu" && cfg.coolify?.enabled && cfg.coolify.host === h.name) {
            report("coolify", ["host"], `${h.name} is a ${h.hostType} host: Coolify is installed over SSH, on an ubuntu host only`);
        }
    });
}

/** Host ports and tailnet serve ports are each one listener's per host: a second one is a hijack or a failed bind. */
function portProblems(cfg: PlainConfig, report: Report): void {
    const hostPorts = new Map<string, string>();
    const servePorts = new Map<string, string>();
    if (cfg.coolify?.enabled) {
        for (const p of COOLIFY_LOOPBACK_PORTS) hostPorts.set(`${cfg.coolify.host}:${p.hostPort}`, "Coolify");
        servePorts.set(`${cfg.coolify.host}:${cfg.coolify.servePort}`, "the Coolify dashboard");
    }
    const sshPorts = (host: string) => new Set([SSH_PORT, cfg.hosts.find((h) => h.name === host)?.sshPort ?? SSH_PORT]);
    if (cfg.coolify?.enabled && sshPorts(cfg.coolify.host).has(cfg.coolify.servePort)) {
        report("coolify", ["servePort"], `${cfg.coolify.servePort} is SSH's port: a serve mapping there would take SSH over the tailnet away from the admins`);
    }
    cfg.services.forEach((s, i) => {
        if (RESERVED_SERVICE_NAMES.includes(s.name) || s.name.endsWith("-litellm")) {
            report("services", [i, "name"], `"${s.name}" is a name other containers on the host's service network answer to: choose another`);
        }
        if (!s.enabled) return;
        const ssh = sshPorts(s.host);
        s.ports.forEach((p, j) => {
            if (ssh.has(p.hostPort)) report("services", [i, "ports", j, "hostPort"], `port ${p.hostPort} on ${s.host} is SSH's`);
        });
        if (s.servePort !== undefined && ssh.has(s.servePort)) {
            report("services", [i, "servePort"], `${s.servePort} is SSH's port: a serve mapping there would take SSH over the tailnet, and a team grant on it would reach sshd`);
        }
        if (s.servePort !== undefined && s.ports.length === 0) {
            report("services", [i, "servePort"], "there is no published port to serve: add one to ports (tailscale serve proxies to the first)");
        } else if (s.servePort !== undefined && s.ports[0]?.bind !== "127.0.0.1") {
            report("services", [i, "ports", 0, "bind"], "tailscale serve proxies to 127.0.0.1: publish the served port there");
        }
        s.ports.forEach((p, j) => {
            const key = `${s.host}:${p.hostPort}`;
            const owner = hostPorts.get(key);
            if (owner) report("services", [i, "ports", j, "hostPort"], `port ${p.hostPort} on ${s.host} is already ${owner}'s`);
            else hostPorts.set(key, `service "${s.name}"`);
        });
        const serve = s.servePort ?? DEFAULT_SERVE_PORT[s.kind];
        if (serve === undefined) return;
        const key = `${s.host}:${serve}`;
        const owner = servePorts.get(key);
        if (owner) report("services", [i, "servePort"], `tailnet port ${serve} on ${s.host} is already ${owner}'s`);
        else servePorts.set(key, `service "${s.name}"`);
    });
}

/** OVH's edge has 20 rules: established, ICMP, one per IPv4 admin range, Tailscale's UDP, the final deny. */
const EDGE_RULE_SLOTS = EDGE_FINAL_DENY_SEQUENCE + 1;

function rangeProblems(cfg: PlainConfig, report: Report): void {
    const v4 = cfg.adminRanges.filter((r) => !r.includes(":")).length;
    const room = EDGE_RULE_SLOTS - 3 - (cfg.tailnet.directUdp ? 1 : 0);
    if (v4 > room) report("adminRanges", [], `${v4} IPv4 ranges leave no room in OVH's ${EDGE_RULE_SLOTS} edge firewall rules (at most ${room}); merge them`);
    cfg.adminRanges.forEach((r, i) => {
        const why = tooWideProblem(r);
        if (why) report("adminRanges", [i], why);
        // Containers' own addresses, loopback and "this network" would let something on the host itself in.
        const inside = [...cfg.dockerSubnets, "127.0.0.0/8", "0.0.0.0/8", "::1/128"].find((d) => cidrWithin(r, d) || cidrWithin(d, r));
        if (!why && inside) report("adminRanges", [i], `${r} overlaps ${inside}, which is on the host itself (loopback or Docker's networks), not where people connect from`);
    });
    cfg.dockerSubnets.forEach((r, i) => {
        const why = dockerSubnetProblem(r);
        if (why) report("dockerSubnets", [i], why);
    });
}

/** The chat UI reaches its gateway with a virtual key: it may not open an admin-only gateway to the team, nor one it cannot reach. */
function chatProblems(cfg: PlainConfig, report: Report): void {
    cfg.services.forEach((s, i) => {
        if (s.kind !== "open-webui") return;
        const gw = cfg.services.find((g) => g.kind === "gateway" && g.name === s.gateway);
        if (!gw) return;
        if (s.trustTier === "team" && gw.trustTier === "admin") {
            report("services", [i, "trustTier"], `the team would use the admin-only gateway "${gw.name}" through this chat UI: make the chat UI admin-tier or the gateway team-tier`);
        }
        const ubuntu = (name: string) => cfg.hosts.find((h) => h.name === name)?.hostType === "ubuntu";
        if (gw.host !== s.host && ubuntu(s.host) && ubuntu(gw.host)) report("services", [i, "host"], `the gateway "${gw.name}" runs on ${gw.host}: servers do not reach each other over the tailnet, so put the chat UI on the same host`);
    });
}

/**
 * A revoked key still listed for the deploy user or the observer: sshd would refuse it while the config says
 * it should log in, so one of the two is a mistake. Keys compare by type and body; comments are free text.
 */
function revokedKeyProblems(cfg: PlainConfig, report: Report): void {
    const revoked = new Map<string, number>();
    cfg.revokedSshKeys.forEach((k, i) => {
        if (!revoked.has(sshKeyIdentity(k))) revoked.set(sshKeyIdentity(k), i);
    });
    for (const key of ["sshPublicKeys", "observerPublicKeys"] as const) {
        cfg[key].forEach((k, i) => {
            const at = revoked.get(sshKeyIdentity(k));
            if (at !== undefined) report(key, [i], `this key is revoked (demesne:revokedSshKeys[${at}]): remove it here, or un-revoke it`);
        });
    }
}

/** Every strict-config problem of a parsed config. */
export function strictProblems(cfg: PlainConfig, report: Report): void {
    identityProblems(cfg, report);
    hostProblems(cfg, report);
    portProblems(cfg, report);
    rangeProblems(cfg, report);
    chatProblems(cfg, report);
    revokedKeyProblems(cfg, report);
}
