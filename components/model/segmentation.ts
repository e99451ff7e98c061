// One segmentation model for the tailnet: who may reach which port on the servers.
// The Tailnet component renders the policy file from it, the policy pack checks rendered
// policies against it, and the docs quote it. Dependency-free.

export const TAILNET_TAGS = {
    /** People who use the chat UI and the gateway. */
    team: "tag:team",
    /** Visitors' devices: nothing sensitive, never the gateway. */
    guest: "tag:guest",
    /** Reserved for automated agents: no grant at all until one is designed. */
    agent: "tag:agent",
    /** The hosts this program configures. */
    servers: "tag:aihost",
} as const;

export const ADMINS_GROUP = "group:admins";

/** Sources that must never reach a server's service or SSH ports. */
export const UNTRUSTED_TAGS: readonly string[] = [TAILNET_TAGS.guest, TAILNET_TAGS.agent];

/** Who may reach a port exposed on the tailnet: `team` (team and admins) or `admin` (admins only). */
export type TrustTier = "team" | "admin";

export interface TailnetExposure {
    port: number;
    tier: TrustTier;
    what: string;
}

/** SSH over the tailnet is for admins only. */
export const SSH_EXPOSURE: TailnetExposure = { port: 22, tier: "admin", what: "OpenSSH" };

export interface TailnetGrant {
    src: string[];
    dst: string[];
    ip: string[];
}

export interface TailnetTest {
    src: string;
    accept?: string[];
    deny?: string[];
}

export interface TailnetPolicy {
    groups: Record<string, string[]>;
    tagOwners: Record<string, string[]>;
    grants: TailnetGrant[];
    tests: TailnetTest[];
}

export interface TailnetPolicyArgs {
    /** Login names of the admins (group:admins). */
    admins: string[];
    /** Ports the servers expose on the tailnet (besides SSH), each with its trust tier. */
    exposures: TailnetExposure[];
}

function portsFor(exposures: TailnetExposure[], tiers: TrustTier[]): number[] {
    return [...new Set(exposures.filter((e) => tiers.includes(e.tier)).map((e) => e.port))].sort((a, b) => a - b);
}

/**
 * Renders the tailnet policy. Default deny: grants only add access, so guest and agent get
 * none; the `tests` make Tailscale itself refuse a later edit that would let them in.
 */
export function renderTailnetPolicy(args: TailnetPolicyArgs): TailnetPolicy {
    const servers = TAILNET_TAGS.servers;
    const all = [SSH_EXPOSURE, ...args.exposures];
    const teamPorts = portsFor(all, ["team"]);
    const adminPorts = portsFor(all, ["team", "admin"]);
    const allPorts = adminPorts;
    const grants: TailnetGrant[] = [];
    if (teamPorts.length > 0) {
        grants.push({ src: [TAILNET_TAGS.team], dst: [servers], ip: teamPorts.map((p) => `tcp:${p}`) });
    }
    grants.push({ src: [ADMINS_GROUP], dst: [servers], ip: adminPorts.map((p) => `tcp:${p}`) });
    const dsts = (ports: number[]) => ports.map((p) => `${servers}:${p}`);
    const tests: TailnetTest[] = UNTRUSTED_TAGS.map((tag) => ({ src: tag, deny: dsts(allPorts) }));
    const adminOnly = allPorts.filter((p) => !teamPorts.includes(p));
    tests.push({
        src: TAILNET_TAGS.team,
        ...(teamPorts.length > 0 ? { accept: dsts(teamPorts) } : {}),
        ...(adminOnly.length > 0 ? { deny: dsts(adminOnly) } : {}),
    });
    for (const admin of args.admins) tests.push({ src: admin, accept: dsts(adminPorts) });
    const owners = [ADMINS_GROUP];
    return {
        groups: { [ADMINS_GROUP]: [...args.admins] },
        tagOwners: Object.fromEntries(Object.values(TAILNET_TAGS).map((t) => [t, owners])),
        grants,
        tests,
    };
}

function srcMatches(entry: string, src: string, policy: TailnetPolicy): boolean {
    if (entry === "*" || entry === src) return true;
    if (entry.startsWith("group:")) return (policy.groups[entry] ?? []).includes(src);
    if (entry === "autogroup:member") return !src.startsWith("tag:");
    return false;
}

function ipMatches(entry: string, port: number): boolean {
    if (entry === "*") return true;
    const [proto, ports] = entry.includes(":") ? entry.split(":", 2) : ["tcp", entry];
    if (proto !== "tcp" && proto !== "*") return false;
    if (ports === "*") return true;
    return ports.split(",").some((range) => {
        const [lo, hi] = range.split("-").map(Number);
        return hi === undefined ? port === lo : port >= lo && port <= hi;
    });
}

/** Does any grant let `src` reach `dst` ("tag:x:port")? The same question Tailscale asks of a test. */
export function grantAllows(policy: TailnetPolicy, src: string, dst: string): boolean {
    const cut = dst.lastIndexOf(":");
    const target = dst.slice(0, cut);
    const port = Number(dst.slice(cut + 1));
    return policy.grants.some((g) =>
        g.src.some((s) => srcMatches(s, src, policy)) &&
        g.dst.some((d) => d === "*" || d === target) &&
        g.ip.some((ip) => ipMatches(ip, port)));
}

/** Evaluates the policy's own tests against its grants; returns one line per failed assertion. */
export function failingTailnetTests(policy: TailnetPolicy): string[] {
    const failures: string[] = [];
    for (const test of policy.tests) {
        for (const dst of test.accept ?? []) {
            if (!grantAllows(policy, test.src, dst)) failures.push(`${test.src} should reach ${dst} but no grant allows it`);
        }
        for (const dst of test.deny ?? []) {
            if (grantAllows(policy, test.src, dst)) failures.push(`${test.src} must not reach ${dst} but a grant allows it`);
        }
    }
    return failures;
}
