// The effective-access model: from a rendered Outcome, who can reach which host:port — admins, team, guest
// and agent over the tailnet, the internet over IPv4 and IPv6 — and the one global property the
// segmentation promises. The program refuses a config whose outcome breaks it, the policy pack refuses a
// preview, `npm run steps` reports it; all three call accessViolations. Dependency-free.
import { type HostOutcome, loopbackOwner, openListeners, type Outcome, type Owner } from "./outcome";
import { anywhere, cidrWithin, tooWideProblem } from "./ranges";
import { ADMINS_GROUP, TAILNET_TAGS, type TailnetPolicy } from "./segmentation";

export type TailnetPrincipal = "admins" | "team" | "guest" | "agent";
export type Principal = TailnetPrincipal | "internet";

/** Each tailnet principal as a grant source. */
export const PRINCIPAL_SOURCE: Readonly<Record<TailnetPrincipal, string>> = {
    admins: ADMINS_GROUP, team: TAILNET_TAGS.team, guest: TAILNET_TAGS.guest, agent: TAILNET_TAGS.agent,
};

export interface Reach {
    principal: Principal;
    host: string;
    /** undefined: every port (a container on the host's network). */
    port?: number;
    owner: Owner;
    /** tailnet: a port the grants open on the server; serve: a `tailscale serve` mapping; public: the internet. */
    via: "tailnet" | "serve" | "public";
    family?: 4 | 6;
    /** Internet sources that get through every layer. */
    sources?: string[];
    /** Which layer narrows the internet's sources: the edge firewall, the host firewall, or none. */
    limitedBy?: "edge" | "host firewall" | "nothing";
    /** Every internet source is under the host firewall's per-source connection rate limit (SSH against DHEat). */
    rateLimited?: boolean;
}

export interface AccessViolation {
    message: string;
    reach: Reach;
}

/**
 * Does a grant's source entry cover a principal? Exact names, `*`, the admins group and its members, and
 * autogroup:member (people) / autogroup:tagged (tags) are read; any form not read here (an address, a
 * hosts alias, another autogroup) is taken to cover everyone, so an unknown shape can only over-report.
 */
function srcMatches(entry: string, src: string, policy: TailnetPolicy): boolean {
    if (entry === "*" || entry === src) return true;
    if (entry.startsWith("group:")) return !src.startsWith("group:") && (policy.groups[entry] ?? []).includes(src);
    if (entry === "autogroup:member") return !src.startsWith("tag:");
    if (entry === "autogroup:tagged") return src.startsWith("tag:");
    if (entry.startsWith("tag:") || entry.includes("@")) return false;
    return true;
}

/** Does a destination entry cover the servers? Other tags and users do not; anything unread does. */
function dstMatches(entry: string): boolean {
    if (entry === "*" || entry === TAILNET_TAGS.servers) return true;
    if (entry.startsWith("tag:") || entry.startsWith("group:") || entry.includes("@") || entry === "autogroup:member") return false;
    return true;
}

function ipMatches(entry: string, port: number | undefined): boolean {
    if (entry === "*") return true;
    const [proto, ports] = entry.includes(":") ? entry.split(":", 2) : ["tcp", entry];
    if (proto === "udp" || proto === "icmp") return false;
    if (ports === "*" || ports === undefined) return true;
    if (port === undefined) return true; // every port is open on the host's network: any grant reaches one
    return ports.split(",").some((range) => {
        const [lo, hi] = range.split("-").map(Number);
        if (!Number.isInteger(lo) || (hi !== undefined && !Number.isInteger(hi))) return true; // unread: assume it covers
        return hi === undefined ? port === lo : port >= (lo as number) && port <= hi;
    });
}

/** Does the tailnet policy let `principal` reach the servers on `port`? (Admins: the group itself or a member.) */
export function tailnetAllows(policy: TailnetPolicy | undefined, principal: TailnetPrincipal, port: number | undefined): boolean {
    if (!policy) return principal === "admins"; // no policy managed here: only the tailnet's own admins, as Tailscale's default deny
    const srcs = principal === "admins" ? [ADMINS_GROUP, ...(policy.groups[ADMINS_GROUP] ?? [])] : [PRINCIPAL_SOURCE[principal]];
    return policy.grants.some((g) =>
        g.src.some((s) => srcs.some((src) => s === src || srcMatches(s, src, policy))) &&
        g.dst.some(dstMatches) &&
        g.ip.some((ip) => ipMatches(ip, port)));
}

function tailnetReaches(o: Outcome, h: HostOutcome): Reach[] {
    const out: Reach[] = [];
    for (const principal of Object.keys(PRINCIPAL_SOURCE) as TailnetPrincipal[]) {
        for (const s of h.serves) {
            if (!tailnetAllows(o.tailnet, principal, s.port)) continue;
            for (const owner of loopbackOwner(h, s.localPort)) out.push({ principal, host: h.host, port: s.port, owner, via: "serve" });
        }
        for (const l of openListeners(h)) {
            if (tailnetAllows(o.tailnet, principal, l.port)) out.push({ principal, host: h.host, port: l.port, owner: l.owner, via: "tailnet" });
        }
    }
    return out;
}

/** Sources the edge lets through to a TCP port: first match wins, replies-only rules open nothing. */
function edgeSources(h: HostOutcome, port: number | undefined, family: 4 | 6): string[] {
    if (family === 6 || !h.edge || !h.edge.enabled) return [anywhere(family)]; // OVH's edge filters IPv4 only
    const out: string[] = [];
    for (const r of [...h.edge.rules].sort((a, b) => a.sequence - b.sequence)) {
        if (r.protocol !== "tcp" && r.protocol !== "ipv4") continue;
        if (r.protocol === "tcp" && r.destinationPort !== undefined && port !== undefined && r.destinationPort !== port) continue;
        if (r.tcpOption === "established") continue;
        const source = r.source && r.source !== "any" ? r.source : anywhere(4);
        if (r.action === "permit") out.push(source);
        else if (source === anywhere(4)) break;
    }
    return out;
}

function hostInputSources(h: HostOutcome, port: number | undefined, family: 4 | 6): string[] {
    if (!h.hostFirewall || !h.hostFirewall.inputDrop) return [anywhere(family)];
    return h.hostFirewall.accepts
        .filter((a) => a.family === family && (a.port === undefined || port === undefined || a.port === port))
        .map((a) => a.source ?? anywhere(family));
}

/** Internet sources a published container port gets from FORWARD: all, unless DOCKER-USER drops DNATed ones. */
function dockerForwardSources(h: HostOutcome, family: 4 | 6): string[] {
    const du = family === 4 ? h.dockerUser : h.dockerUser6;
    if (!du?.dropsPublished) return [anywhere(family)];
    return du.trustedSources.filter((s) => (family === 4) === !s.includes(":"));
}

function intersect(a: string[], b: string[]): string[] {
    const out = new Set<string>();
    for (const x of a) for (const y of b) {
        if (cidrWithin(y, x)) out.add(y);
        else if (cidrWithin(x, y)) out.add(x);
    }
    return [...out];
}

function internetReaches(h: HostOutcome): Reach[] {
    const out: Reach[] = [];
    for (const family of [4, 6] as const) {
        for (const l of openListeners(h)) {
            const edge = edgeSources(h, l.port, family);
            const inner = l.owner.kind === "ssh" || l.owner.kind === "unknown" || l.port === undefined
                ? hostInputSources(h, l.port, family)
                : dockerForwardSources(h, family);
            const sources = intersect(edge, inner);
            if (sources.length === 0) continue;
            const any = anywhere(family);
            const limitedBy = !edge.includes(any) ? "edge" : !inner.includes(any) ? "host firewall" : "nothing";
            const throttles = h.hostFirewall?.throttles ?? [];
            const rateLimited = sources.every((s) => throttles.some((t) => t.family === family && t.port === l.port && cidrWithin(s, t.source)));
            out.push({ principal: "internet", host: h.host, port: l.port, owner: l.owner, via: "public", family, sources, limitedBy, rateLimited });
        }
    }
    return out;
}

/** Everyone's reach on every host of the outcome. */
export function effectiveAccess(o: Outcome): Reach[] {
    return o.hosts.flatMap((h) => [...tailnetReaches(o, h), ...internetReaches(h)]);
}

const portText = (r: Reach) => (r.port === undefined ? "every port" : `port ${r.port}`);

export function describeOwner(owner: Owner): string {
    switch (owner.kind) {
        case "ssh": return "SSH";
        case "coolify": return "the Coolify dashboard (admin only)";
        case "service": return `service "${owner.name}"`;
        default: return `an unmanaged listener (${owner.name})`;
    }
}

function teamProblem(o: Outcome, r: Reach): string | undefined {
    if (r.owner.kind === "ssh") return "SSH is for admins only";
    if (r.via !== "serve") return "team reaches services only through their `tailscale serve` port";
    if (r.owner.kind !== "service") return "only team-tier services are for the team";
    if (o.tiers[r.owner.name] !== "team") return `"${r.owner.name}" is an admin-only service`;
    return undefined;
}

function internetProblem(h: HostOutcome | undefined, r: Reach, adminRanges: string[]): string | undefined {
    if (r.owner.kind !== "ssh") return "from the internet only SSH may be reachable";
    const sources = r.sources ?? [];
    const wide = sources.map((s) => tooWideProblem(s)).find((p) => p !== undefined);
    if (wide) return wide;
    const outside = sources.filter((s) => !adminRanges.some((a) => cidrWithin(s, a)));
    if (outside.length > 0) return `from ${outside.join(", ")}, which ${outside.length === 1 ? "is" : "are"} not an admin range`;
    if (r.family === 4 && h?.edge && r.limitedBy !== "edge") return "the host has an edge firewall, but it does not limit SSH to the admin ranges";
    return undefined;
}

/**
 * The global property (policy/segmentation.md): admins reach anything; team reaches only team-tier services
 * through their serve ports, never SSH or an admin-only service; guest and agent reach nothing on the
 * servers; the internet reaches only SSH, from the admin ranges, limited by the edge firewall where the host
 * has one and by the host firewall otherwise (IPv6: always the host firewall; the edge filters IPv4 only).
 */
export function accessViolations(o: Outcome, adminRanges: string[]): AccessViolation[] {
    const out: AccessViolation[] = [];
    const hosts = new Map(o.hosts.map((h) => [h.host, h]));
    for (const r of effectiveAccess(o)) {
        let why: string | undefined;
        if (r.principal === "guest" || r.principal === "agent") why = `${r.principal} may reach nothing on the servers`;
        else if (r.principal === "team") why = teamProblem(o, r);
        else if (r.principal === "internet") why = internetProblem(hosts.get(r.host), r, adminRanges);
        if (!why) continue;
        const who = r.principal === "internet" ? `the internet (IPv${r.family})` : PRINCIPAL_SOURCE[r.principal];
        out.push({ message: `${who} reaches ${describeOwner(r.owner)} on ${r.host} (${portText(r)}, ${r.via}): ${why}`, reach: r });
    }
    return out;
}
