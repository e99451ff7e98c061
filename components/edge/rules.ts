// The OVH edge firewall rules for one public IPv4 (host-and-stack §6). Stateless, first match
// wins, at most 20 rules: permit established, ICMP, SSH from the admin ranges, optionally
// Tailscale's direct UDP, then deny everything at sequence 19.
import { EDGE_FINAL_DENY_SEQUENCE, NEVER_PUBLIC_PORT_NUMBERS, SSH_PORT, TAILSCALE_DIRECT_UDP_PORT } from "../model/ports";

export interface EdgeRule {
    sequence: number;
    action: "permit" | "deny";
    protocol: "tcp" | "udp" | "icmp" | "ipv4";
    source?: string;
    destinationPort?: number;
    tcpOption?: "established" | "syn";
}

export const FINAL_DENY_SEQUENCE = EDGE_FINAL_DENY_SEQUENCE;

export function renderEdgeRules(args: { adminRanges: string[]; directUdp: boolean }): EdgeRule[] {
    const v4 = args.adminRanges.filter((r) => !r.includes(":"));
    const rules: EdgeRule[] = [
        { sequence: 0, action: "permit", protocol: "tcp", tcpOption: "established" },
        { sequence: 1, action: "permit", protocol: "icmp" },
        ...v4.map((source, i): EdgeRule => ({ sequence: 2 + i, action: "permit", protocol: "tcp", source, destinationPort: SSH_PORT })),
    ];
    if (args.directUdp) {
        rules.push({ sequence: 2 + v4.length, action: "permit", protocol: "udp", destinationPort: TAILSCALE_DIRECT_UDP_PORT });
    }
    if (rules.length > FINAL_DENY_SEQUENCE) {
        throw new Error(`demesne:adminRanges: ${v4.length} ranges leave no room in OVH's 20 firewall rules; merge them`);
    }
    rules.push({ sequence: FINAL_DENY_SEQUENCE, action: "deny", protocol: "ipv4" });
    const opened = rules.filter((r) => r.action === "permit" && r.destinationPort !== undefined && NEVER_PUBLIC_PORT_NUMBERS.includes(r.destinationPort));
    if (opened.length > 0) throw new Error(`edge rules would open management port ${opened[0]?.destinationPort}`);
    return rules;
}
