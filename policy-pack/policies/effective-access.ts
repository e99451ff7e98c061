import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import { accessViolations } from "../../components/model/access";
import { hostOutcomeOf, type EdgeRuleOutcome, type HostOutcome, type Outcome, type RenderedStep } from "../../components/model/outcome";
import { SSH_PORT } from "../../components/model/ports";
import { PROVIDER_TYPES, TYPES } from "../../components/model/types";
import type { DemesneStackPolicy } from "../lib/metadata";
import { ancestors, decodeStdin, isCommand, prop } from "../lib/steps";
import { parsePolicy } from "./tailnet-segmentation";

const num = (v: unknown) => (v === undefined || v === null || v === "" ? undefined : Number(v));

/** The host a command runs on: its Host component, or the host its Service component names. */
function hostOf(r: PolicyResource): string | undefined {
    const up = ancestors(r);
    const host = up.find((a) => a.type === TYPES.Host);
    if (host) return host.name;
    const service = up.find((a) => a.type === TYPES.Service);
    return typeof service?.props.host === "string" ? service.props.host : undefined;
}

function edgeOf(args: StackValidationArgs, publicIp: unknown, declared: boolean): HostOutcome["edge"] {
    if (typeof publicIp !== "string" || !declared) return undefined;
    const fw = args.resources.find((r) => r.type === PROVIDER_TYPES.ovhFirewall && prop(r, "ipOnFirewall") === publicIp);
    // Declared but absent: no edge guards the host, which the property then reports.
    if (!fw) return { enabled: false, rules: [] };
    const rules: EdgeRuleOutcome[] = args.resources
        .filter((r) => r.type === PROVIDER_TYPES.ovhFirewallRule && prop(r, "ipOnFirewall") === publicIp)
        .map((r) => ({
            sequence: Number(prop(r, "sequence")), action: String(prop(r, "action")), protocol: String(prop(r, "protocol")),
            source: prop(r, "source") as string | undefined, destinationPort: num(prop(r, "destinationPort")),
            tcpOption: prop(r, "tcpOption") as string | undefined,
        }));
    return { enabled: prop(fw, "enabled") === true, rules };
}

/** The stack's outcome as the engine will create it, from the same resources the other policies read. */
export function outcomeOfResources(args: StackValidationArgs): Outcome {
    const steps = new Map<string, RenderedStep[]>();
    for (const r of args.resources) {
        if (!isCommand(r)) continue;
        const step = decodeStdin(r.props.stdin);
        const host = hostOf(r);
        if ("error" in step || !step.layer || !host) continue;
        steps.set(host, [...(steps.get(host) ?? []), { layer: step.layer, params: step.params }]);
    }
    const hosts = args.resources.filter((r) => r.type === TYPES.Host).map((h) =>
        hostOutcomeOf(h.name, num(h.props.sshPort) ?? SSH_PORT, steps.get(h.name) ?? [], edgeOf(args, h.props.publicIp, h.props.edgeFirewall !== false)));
    const tiers: Outcome["tiers"] = { coolify: "admin" };
    for (const s of args.resources.filter((r) => r.type === TYPES.Service)) tiers[s.name] = s.props.trustTier === "team" ? "team" : "admin";
    const acl = args.resources.find((r) => r.type === PROVIDER_TYPES.tailnetAcl);
    return { tailnet: acl ? parsePolicy(prop(acl, "acl")) : undefined, hosts, tiers };
}

/** The admin ranges: the pack's config, else the SSH sources the hosts' own firewall steps accept. */
function adminRangesOf(args: StackValidationArgs, outcome: Outcome): string[] {
    const configured = (args.getConfig<{ adminRanges?: string[] }>().adminRanges ?? []) as string[];
    if (configured.length > 0) return configured;
    return [...new Set(outcome.hosts.flatMap((h) => (h.hostFirewall?.accepts ?? [])
        .filter((a) => a.port === h.sshPort && a.source !== undefined).map((a) => a.source as string)))];
}

/** One global property over everything the stack renders: who can reach which host:port. */
export const effectiveAccess: DemesneStackPolicy = {
    name: "effective-access",
    description: "Computed over the whole rendered outcome (tailnet grants, tailscale serve mappings, UFW v4 and v6, DOCKER-USER, Docker's published ports, the OVH edge): team reaches only team-tier services through their serve ports, never SSH or an admin-only service; guest and agent reach nothing on the servers; the internet reaches only SSH, from the admin ranges (never a catch-all or over-wide range), limited by the edge firewall where the host has one.",
    enforcementLevel: "mandatory",
    severity: "critical",
    control: "segmentation",
    remediationSteps: "Read the reach the violation names (who, which host and port, through what); change the service's servePort, ports or trustTier, the admin ranges or the host's edgeFirewall so the program renders an outcome that keeps the segmentation (policy/segmentation.md).",
    configSchema: { properties: { adminRanges: { type: "array", items: { type: "string" }, description: "the only sources SSH may be reached from (default: those the hosts' firewall steps accept)" } } },
    validateStack: (args, report) => {
        const outcome = outcomeOfResources(args);
        for (const v of accessViolations(outcome, adminRangesOf(args, outcome))) report(v.message);
    },
};
