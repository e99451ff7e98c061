// The program's check of its own outcome: render what the hosts, the tailnet and the edge would enforce,
// ask the effective-access model who can reach what, and name the config keys behind every violation.
import { StepSpec } from "./actuator/steps";
import { formatPath, StackConfig } from "./config/load";
import { renderEdgeRules } from "./edge/rules";
import { accessViolations, type AccessViolation } from "./model/access";
import { hostOutcomeOf, type Outcome } from "./model/outcome";
import { cidrWithin } from "./model/ranges";
import { renderTailnetPolicy, type TailnetExposure } from "./model/segmentation";
import type { ServicePlan } from "./service/spec";

export interface PlannedSteps {
    hostSteps: Map<string, StepSpec[]>;
    services: ServicePlan[];
}

/** What the tailnet exposes: each service's serve port with its tier, and Coolify's dashboard. */
export function exposuresOf(cfg: StackConfig<unknown>, plan: PlannedSteps): TailnetExposure[] {
    const out: TailnetExposure[] = plan.services.flatMap((s) => (s.exposure ? [s.exposure] : []));
    if (cfg.coolify?.enabled) out.push({ port: cfg.coolify.servePort, tier: "admin", what: "Coolify dashboard" });
    return out;
}

/** The rendered outcome of a planned program: the same artefacts the hosts, Tailscale and OVH receive. */
export function outcomeOfPlan(cfg: StackConfig<unknown>, plan: PlannedSteps): Outcome {
    const tiers: Outcome["tiers"] = Object.fromEntries(cfg.services.map((s) => [s.name, s.trustTier]));
    const hosts = cfg.hosts.filter((h) => h.hostType === "ubuntu").map((h) => {
        const steps = [...(plan.hostSteps.get(h.name) ?? []), ...plan.services.filter((s) => s.service.host === h.name).map((s) => s.step)];
        const edge = h.edgeFirewall && h.publicIp
            ? { enabled: true, rules: renderEdgeRules({ adminRanges: cfg.adminRanges, directUdp: cfg.tailnet.directUdp }) }
            : undefined;
        return hostOutcomeOf(h.name, h.sshPort, steps.map((s) => ({ layer: s.script, params: s.params })), edge);
    });
    return { tailnet: renderTailnetPolicy({ admins: cfg.tailnet.admins, exposures: exposuresOf(cfg, plan) }), hosts, tiers: { ...tiers, coolify: "admin" } };
}

/** The config keys that produced a violating reach: the grant's, the listener's and the source's. */
function blame(cfg: StackConfig<unknown>, plan: PlannedSteps, v: AccessViolation): string[] {
    const r = v.reach;
    const keys = new Set<string>();
    const serviceIndex = (name: string) => cfg.services.findIndex((s) => s.name === name);
    if (r.principal === "team" || r.principal === "guest" || r.principal === "agent") {
        // The grant: team-tier exposures on this port (the policy grants per port, on every server).
        plan.services.forEach((sp) => {
            if (sp.exposure !== undefined && sp.exposure.port === r.port && sp.exposure.tier === "team") keys.add(formatPath("services", [serviceIndex(sp.service.name), "servePort"]));
        });
    }
    const hostIndex = cfg.hosts.findIndex((h) => h.name === r.host);
    if (r.owner.kind === "ssh") keys.add(formatPath("hosts", [hostIndex, "sshPort"]));
    if (r.owner.kind === "coolify") keys.add(formatPath("coolify", ["servePort"]));
    if (r.owner.kind === "service") {
        const i = serviceIndex(r.owner.name);
        keys.add(formatPath("services", [i, r.via === "serve" ? "servePort" : "ports"]));
        if (r.via === "serve") keys.add(formatPath("services", [i, "trustTier"]));
    }
    if (r.owner.kind === "unknown") {
        plan.services.forEach((sp) => {
            if (sp.service.host === r.host && sp.exposure?.port === r.port) keys.add(formatPath("services", [serviceIndex(sp.service.name), "ports"]));
        });
    }
    if (r.principal === "internet") {
        for (const s of r.sources ?? []) {
            cfg.adminRanges.forEach((a, i) => { if (cidrWithin(s, a) || cidrWithin(a, s)) keys.add(formatPath("adminRanges", [i])); });
            cfg.dockerSubnets.forEach((d, i) => { if (cidrWithin(s, d) || cidrWithin(d, s)) keys.add(formatPath("dockerSubnets", [i])); });
        }
        if (r.family === 4 && r.limitedBy !== "edge") keys.add(formatPath("hosts", [hostIndex, "edgeFirewall"]));
    }
    return [...keys];
}

/** One line per violation of the effective-access property, naming the config keys that caused it. */
export function accessProblems(cfg: StackConfig<unknown>, plan: PlannedSteps): string[] {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const v of accessViolations(outcomeOfPlan(cfg, plan), cfg.adminRanges)) {
        const keys = blame(cfg, plan, v);
        const line = `effective access: ${v.message}${keys.length > 0 ? ` (from ${keys.join(", ")})` : ""}`;
        if (!seen.has(line)) out.push(line);
        seen.add(line);
    }
    return out;
}
