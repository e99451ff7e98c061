// The rendered outcome of a stack, as the hosts, the tailnet and the edge will enforce it: read back from
// the rendered artefacts (step parameters, the tailnet policy, the edge rules), never from the config.
// The program builds it from its planned steps, the policy pack from the steps the engine sees; both then
// ask access.ts who can reach what. Dependency-free besides the sibling models.
import { bindAddressOf } from "./compose";
import { isLoopback, SSH_PORT } from "./ports";
import type { TailnetPolicy } from "./segmentation";

/** Who owns a listener: SSH, a service (by name), Coolify, or nobody known. */
export interface Owner {
    kind: "ssh" | "service" | "coolify" | "unknown";
    name: string;
}

/** A container port Docker publishes on the host. */
export interface Publish {
    bind: string;
    hostPort: number;
    owner: Owner;
}

/** A `tailscale serve` mapping: a tailnet HTTPS port proxied to a loopback port. */
export interface Serve {
    port: number;
    localPort: number;
    /** Who asked for the mapping (the owner of the loopback port may be someone else). */
    declaredBy: Owner;
}

export interface FirewallAccept {
    family: 4 | 6;
    /** undefined: every port. */
    port?: number;
    /** undefined: every source. */
    source?: string;
}

/** New connections to `port` from `source` beyond a per-source rate are dropped (SSH against DHEat); still open. */
export interface FirewallThrottle {
    family: 4 | 6;
    port: number;
    source: string;
}

export interface DockerUserOutcome {
    trustedSources: string[];
    dropsPublished: boolean;
}

/** What one host enforces and listens on. */
export interface HostOutcome {
    host: string;
    sshPort: number;
    /** UFW as rendered; undefined when the host has no firewall step (then nothing filters its input). */
    hostFirewall?: { inputDrop: boolean; accepts: FirewallAccept[]; throttles: FirewallThrottle[] };
    /**
     * The DOCKER-USER block of each family: whether it drops every new connection Docker DNATed (all that
     * reaches a published port from outside), and the sources it lets through before that.
     */
    dockerUser?: DockerUserOutcome;
    dockerUser6?: DockerUserOutcome;
    /** Docker's default bind for a port published without an address (daemon.json "ip"). */
    dockerDefaultBind?: string;
    publishes: Publish[];
    serves: Serve[];
    /** Containers on the host's network stack: every port they open is on every interface. */
    hostNetwork: Owner[];
    /** The OVH edge firewall of the host's public IPv4; undefined: none (the host firewall alone). */
    edge?: { enabled: boolean; rules: EdgeRuleOutcome[] };
}

export interface EdgeRuleOutcome {
    sequence: number;
    action: string;
    protocol: string;
    source?: string;
    destinationPort?: number;
    tcpOption?: string;
}

export interface Outcome {
    tailnet?: TailnetPolicy;
    hosts: HostOutcome[];
    /** Trust tier of every service by name (Coolify is admin). */
    tiers: Record<string, "team" | "admin">;
}

/** A layer step as rendered: its layer name and its parameters (what the script on the host reads). */
export interface RenderedStep {
    layer: string;
    params: Record<string, string>;
}

/** The loopback ports Coolify's own layer serves its dashboard from (coolify.sh). */
export const COOLIFY_DASHBOARD_LOCAL_PORT = 8000;

/** A rule that lets nothing in: it drops, rejects, returns or logs, and jumps nowhere else. */
const opensNothing = (line: string) => /-j (DROP|REJECT|RETURN|LOG)\b/.test(line) && !/\s-g\s/.test(line);

function parseFirewall(params: Record<string, string>): HostOutcome["hostFirewall"] {
    const accepts: FirewallAccept[] = [];
    const throttles: FirewallThrottle[] = [];
    const rules: [4 | 6, string][] = [[4, params.USER_RULES ?? ""], [6, params.USER6_RULES ?? ""]];
    for (const [family, text] of rules) {
        for (const line of text.split("\n")) {
            if (!/^-A ufw6?-user-input\b/.test(line)) continue; // other user chains are reached only from this one
            // Exactly the shape the renderer writes; any other rule of the input chain is read as opening every
            // port to everyone (a negated source, a port range, a jump to an accepting chain).
            const exact = /^-A ufw6?-user-input -p tcp --dport (\d+) -s ([0-9a-fA-F.:/]+) -j ACCEPT$/.exec(line.trim());
            if (exact) accepts.push({ family, port: Number(exact[1]), source: exact[2] });
            else if (!opensNothing(line)) accepts.push({ family });
        }
    }
    // The blocks appended to before.rules run ahead of the user rules: a drop there narrows nothing the model
    // reads as open (SSH stays open, rate-limited); any other rule is read as opening every port to everyone.
    const blocks: [4 | 6, string][] = [[4, params.BEFORE_BLOCK ?? ""], [6, params.BEFORE6_BLOCK ?? ""]];
    for (const [family, text] of blocks) {
        for (const line of text.split("\n")) {
            if (!line.startsWith("-A ")) continue;
            const throttle = /^-A ufw6?-before-input -p tcp --dport (\d+) -s ([0-9a-fA-F.:/]+) -m conntrack --ctstate NEW -m hashlimit --hashlimit-above \S+ --hashlimit-burst \d+ --hashlimit-mode srcip( --hashlimit-srcmask \d+)? --hashlimit-name [\w-]+ -j DROP$/.exec(line.trim());
            if (throttle) throttles.push({ family, port: Number(throttle[1]), source: throttle[2]! });
            else if (!opensNothing(line)) accepts.push({ family });
        }
    }
    const inputDrop = /^DEFAULT_INPUT_POLICY="(DROP|REJECT)"$/m.test(params.UFW_DEFAULTS ?? "");
    return { inputDrop, accepts, throttles };
}

/** Docker's bridges: docker0 and the br-<id> of every network Docker or compose creates (iptables' `+` wildcard). */
export const DOCKER_BRIDGES: readonly string[] = ["docker0", "br-+"];

/** A rule that only matches packets coming out of a Docker bridge, which nothing outside can send. */
const fromContainer = (line: string) => DOCKER_BRIDGES.some((i) => line.includes(` -i ${i} `));

/**
 * The DOCKER-USER block, read in order. Once it drops every new DNATed connection (all a published port
 * receives), what an earlier RETURN or ACCEPT let through is all that still reaches a container: a rule
 * matching only packets from a Docker bridge or replies lets nobody in; one with a source trusts it; any
 * other trusts everyone. A block without that drop filters nothing Docker publishes.
 */
function parseDockerUser(block: string, userRules: string): DockerUserOutcome {
    const trustedSources: string[] = [];
    // `ufw route allow` rules: the block's first rule jumps to them, so any ACCEPT there lets its source in.
    for (const line of userRules.split("\n")) {
        if (/^-A ufw6?-user-forward\b/.test(line) && /-j ACCEPT\b/.test(line)) {
            const source = /\s-s (\S+)/.exec(line)?.[1];
            trustedSources.push(...(source ? [source] : ["0.0.0.0/0", "::/0"]));
        }
    }
    for (const raw of block.split("\n")) {
        if (!raw.startsWith("-A DOCKER-USER ")) continue;
        const line = ` ${raw.trim()} `;
        const drops = /\s-j (DROP|ufw6?-docker-logging-deny)\s/.test(line);
        if (drops && /--ctstate NEW -m conntrack --ctstate DNAT -j \S+ $/.test(line) && !/\s(-[sdiop]|!)\s/.test(line)) {
            return { trustedSources, dropsPublished: true };
        }
        if (!/\s-j (RETURN|ACCEPT)\s/.test(line) || /--ctstate RELATED,ESTABLISHED -j RETURN $/.test(line) || fromContainer(line)) continue;
        const source = /\s-s (\S+)\s/.exec(line)?.[1];
        trustedSources.push(...(source ? [source] : ["0.0.0.0/0", "::/0"]));
    }
    return { trustedSources, dropsPublished: false };
}

/** `host:container`, `bind:host:container`, `[v6]:host:container` (compose short syntax). */
function publishOf(port: string, defaultBind: string | undefined, owner: Owner): Publish | undefined {
    const parts = port.split(":");
    const hostPort = Number(parts.length >= 2 ? parts[parts.length - 2] : parts[0]);
    if (!Number.isInteger(hostPort)) return undefined;
    const bind = parts.length >= 3 ? bindAddressOf(port) : defaultBind ?? "0.0.0.0";
    return { bind, hostPort, owner };
}

function servesOf(text: string, declaredBy: Owner): Serve[] {
    return text.split("\n").flatMap((line) => {
        const [port, local] = line.trim().split(/\s+/).map(Number);
        return Number.isInteger(port) && Number.isInteger(local) ? [{ port: port as number, localPort: local as number, declaredBy }] : [];
    });
}

/**
 * The outcome on one host from its rendered steps (host layers and service steps alike).
 * Unparseable parameters read as the widest outcome they could mean, never as nothing.
 */
export function hostOutcomeOf(host: string, sshPort: number, steps: RenderedStep[], edge: HostOutcome["edge"]): HostOutcome {
    const out: HostOutcome = { host, sshPort, publishes: [], serves: [], hostNetwork: [], edge };
    const docker = steps.find((s) => s.layer === "docker");
    if (docker) {
        try {
            const ip = (JSON.parse(docker.params.DAEMON_JSON ?? "{}") as { ip?: unknown }).ip;
            out.dockerDefaultBind = typeof ip === "string" ? ip : "0.0.0.0";
        } catch {
            out.dockerDefaultBind = "0.0.0.0";
        }
    }
    for (const step of steps) {
        if (step.layer === "firewall") {
            out.hostFirewall = parseFirewall(step.params);
            out.dockerUser = parseDockerUser(step.params.AFTER_BLOCK ?? "", step.params.USER_RULES ?? "");
            out.dockerUser6 = parseDockerUser(step.params.AFTER6_BLOCK ?? "", step.params.USER6_RULES ?? "");
        } else if (step.layer === "service") {
            const name = step.params.NAME ?? "?";
            const owner: Owner = { kind: "service", name };
            out.serves.push(...servesOf(step.params.SERVE ?? "", owner));
            let project: { services?: Record<string, { ports?: unknown[]; network_mode?: unknown }> } = {};
            try {
                project = JSON.parse(step.params.COMPOSE ?? "{}") as typeof project;
            } catch {
                out.hostNetwork.push(owner); // unreadable: assume the worst
            }
            for (const svc of Object.values(project.services ?? {})) {
                if (svc.network_mode === "host") out.hostNetwork.push(owner);
                for (const p of svc.ports ?? []) {
                    const pub = publishOf(String(p), out.dockerDefaultBind, owner);
                    if (pub) out.publishes.push(pub);
                }
            }
        } else if (step.layer === "coolify") {
            const owner: Owner = { kind: "coolify", name: "coolify" };
            const port = Number(step.params.SERVE_PORT);
            if (Number.isInteger(port)) out.serves.push({ port, localPort: COOLIFY_DASHBOARD_LOCAL_PORT, declaredBy: owner });
            for (const m of (step.params.CUSTOM_COMPOSE ?? "").matchAll(/^\s*-\s*"?([^"\s]+)"?\s*$/gm)) {
                const pub = publishOf(m[1]!, out.dockerDefaultBind, owner);
                if (pub) out.publishes.push(pub);
            }
        }
    }
    return out;
}

/** Who listens on a loopback port of a host: the publisher of that port, else nobody known. */
export function loopbackOwner(h: HostOutcome, port: number): Owner[] {
    const owners = h.publishes.filter((p) => p.hostPort === port).map((p) => p.owner);
    return owners.length > 0 ? owners : [{ kind: "unknown", name: `loopback port ${port}` }];
}

/** Listeners reachable through interfaces other than loopback (tailnet and public alike). */
export function openListeners(h: HostOutcome): { port?: number; owner: Owner }[] {
    // sshd's port is not rendered (the layers assume 22): SSH is on 22 and on the port the config connects to.
    const ssh = [...new Set([SSH_PORT, h.sshPort])].map((port) => ({ port, owner: { kind: "ssh", name: "sshd" } as Owner }));
    return [
        ...ssh,
        ...h.publishes.filter((p) => !isLoopback(p.bind)).map((p) => ({ port: p.hostPort, owner: p.owner })),
        ...h.hostNetwork.map((owner) => ({ port: undefined, owner })),
    ];
}
