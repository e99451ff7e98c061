// Strict config: what a schema cannot say on one field. Unknown keys (a typo of the kill switch would
// otherwise be ignored), identities that merge roles or are root, duplicate addresses and ports, ranges
// too wide to grant access, and a host left without an edge firewall by accident.
import { COOLIFY_LOOPBACK_PORTS } from "../render/coolify";
import { OBSERVER_USER } from "../model/observer";
import { DEFAULT_SERVE_PORT, EDGE_FINAL_DENY_SEQUENCE } from "../model/ports";
import { dockerSubnetProblem, tooWideProblem } from "../model/ranges";
import type { PlainConfig } from "./schema";

type Report = (key: string, path: PropertyKey[], message: string) => void;

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
        if (r.name === OBSERVER_USER) report(r.key, r.path, `${r.name} is the read-only observer's account; it cannot also be ${r.role}`);
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
    const seen = new Map<string, number>();
    cfg.hosts.forEach((h, i) => {
        for (const [field, value] of [["address", h.address], ["publicIp", h.publicIp]] as const) {
            if (value === undefined) continue;
            const first = seen.get(value.toLowerCase());
            if (first !== undefined && first !== i) report("hosts", [i, field], `${value} is also the address of ${cfg.hosts[first]?.name}`);
            else seen.set(value.toLowerCase(), i);
        }
        const hasPublicIpv4 = h.publicIp !== undefined || /^\d+\.\d+\.\d+\.\d+$/.test(h.address);
        if (h.edgeFirewall && !hasPublicIpv4) {
            report("hosts", [i, "edgeFirewall"], `${h.name} has no public IPv4 for the OVH edge firewall: set publicIp, or set edgeFirewall: false to rely on the host firewall alone`);
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
    cfg.services.forEach((s, i) => {
        if (!s.enabled) return;
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
    });
    cfg.dockerSubnets.forEach((r, i) => {
        const why = dockerSubnetProblem(r);
        if (why) report("dockerSubnets", [i], why);
    });
}

/** Every strict-config problem of a parsed config. */
export function strictProblems(cfg: PlainConfig, report: Report): void {
    identityProblems(cfg, report);
    hostProblems(cfg, report);
    portProblems(cfg, report);
    rangeProblems(cfg, report);
}
