import { EDGE_FINAL_DENY_SEQUENCE, NEVER_PUBLIC_PORT_NUMBERS, SSH_PORT } from "../../components/model/ports";
import { PROVIDER_TYPES } from "../../components/model/types";
import type { DemesneStackPolicy } from "../lib/metadata";
import { decodeStdin, isCommand, prop } from "../lib/steps";

const ANYWHERE = new Set(["0.0.0.0/0", "any", ""]);

/** The OVH IP firewall of each public address: default deny at the end, SSH only from the admin ranges. */
export const edgeFirewall: DemesneStackPolicy = {
    name: "edge-firewall",
    description: "Each OVH IP firewall is enabled and ends in a deny of everything at sequence 19; no rule permits a management port; SSH is permitted only from the admin ranges (never from anywhere).",
    enforcementLevel: "mandatory",
    severity: "critical",
    control: "exposure",
    remediationSteps: "Let the EdgeFirewall component render the rules; add admin ranges to demesne:adminRanges.",
    configSchema: { properties: { adminRanges: { type: "array", items: { type: "string" }, description: "the only sources SSH may be permitted from (default: those the hosts' firewall steps accept)" } } },
    validateStack: (args, report) => {
        // The admin ranges: from the pack's config, else the SSH sources the hosts' own firewall steps accept
        // (one source of truth, demesne:adminRanges, rendered by the program into both places).
        let adminRanges = (args.getConfig<{ adminRanges?: string[] }>().adminRanges ?? []) as string[];
        if (adminRanges.length === 0) {
            for (const r of args.resources) {
                if (!isCommand(r)) continue;
                const step = decodeStdin(r.props.stdin);
                if ("error" in step || step.layer !== "firewall") continue;
                for (const m of (step.params.USER_RULES ?? "").matchAll(/--dport 22 -s (\S+) -j ACCEPT/g)) adminRanges.push(m[1]!);
            }
        }
        // A rule property the program leaves to the provider (a rule's source, its port) is unknown during a
        // preview: read as absent, which is what it is (OVH's default: any).
        const firewalls = args.resources.filter((r) => r.type === PROVIDER_TYPES.ovhFirewall);
        const rules = args.resources.filter((r) => r.type === PROVIDER_TYPES.ovhFirewallRule);
        for (const fw of firewalls) {
            if (prop(fw, "enabled") !== true) report(`${fw.name}: the edge firewall of ${String(prop(fw, "ipOnFirewall"))} is not enabled`, fw.urn);
            const mine = rules.filter((r) => prop(r, "ipOnFirewall") === prop(fw, "ipOnFirewall"));
            const last = mine.find((r) => Number(prop(r, "sequence")) === EDGE_FINAL_DENY_SEQUENCE);
            if (!last || prop(last, "action") !== "deny" || prop(last, "protocol") !== "ipv4" || !ANYWHERE.has(String(prop(last, "source") ?? ""))) {
                report(`${fw.name}: no final rule denying all IPv4 at sequence ${EDGE_FINAL_DENY_SEQUENCE}`, fw.urn);
            }
        }
        for (const r of rules) {
            if (prop(r, "action") !== "permit") continue;
            const port = prop(r, "destinationPort") === undefined ? undefined : Number(prop(r, "destinationPort"));
            const source = String(prop(r, "source") ?? "");
            if (port !== undefined && NEVER_PUBLIC_PORT_NUMBERS.includes(port)) report(`${r.name}: permits management port ${port} at the edge`, r.urn);
            if (prop(r, "protocol") === "tcp" && port === undefined && prop(r, "tcpOption") !== "established") report(`${r.name}: permits every TCP port`, r.urn);
            if (port === SSH_PORT) {
                if (ANYWHERE.has(source)) report(`${r.name}: permits SSH from anywhere`, r.urn);
                else if (adminRanges.length > 0 && !adminRanges.includes(source)) report(`${r.name}: permits SSH from ${source}, which is not an admin range`, r.urn);
            }
        }
    },
};
