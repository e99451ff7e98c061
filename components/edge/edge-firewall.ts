// EdgeFirewall: OVH's IP firewall in front of each host's public IPv4, with the ordered rules
// from renderEdgeRules. The firewall is created before its rules and enabled with them.
import * as ovh from "@ovhcloud/pulumi-ovh";
import * as pulumi from "@pulumi/pulumi";
import { TYPES } from "../model/types";
import { EdgeRule, renderEdgeRules } from "./rules";

export interface EdgeFirewallArgs {
    /** The host's public IPv4 address. */
    publicIp: string;
    /** CIDR ranges allowed to reach SSH. */
    adminRanges: string[];
    /** Permit UDP 41641 for direct Tailscale connections. Default false (DERP relays still work). */
    directUdp?: boolean;
}

export class EdgeFirewall extends pulumi.ComponentResource {
    public readonly rules: EdgeRule[];
    public readonly firewall: ovh.ip.Firewall;

    constructor(name: string, args: EdgeFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        const rules = renderEdgeRules({ adminRanges: args.adminRanges, directUdp: args.directUdp ?? false });
        super(TYPES.EdgeFirewall, name, { publicIp: args.publicIp }, opts);
        this.rules = rules;
        const block = `${args.publicIp}/32`;
        // OVH keys an address on the firewall by the address, and a rule by its sequence: a second one cannot
        // exist beside the first, so a replacement must delete before it creates.
        this.firewall = new ovh.ip.Firewall(`${name}-firewall`, {
            ip: block, ipOnFirewall: args.publicIp, enabled: true,
        }, { parent: this, deleteBeforeReplace: true });
        for (const rule of rules) {
            new ovh.ip.FirewallRule(`${name}-rule-${rule.sequence}`, {
                ip: block,
                ipOnFirewall: args.publicIp,
                sequence: rule.sequence,
                action: rule.action,
                protocol: rule.protocol,
                ...(rule.source ? { source: rule.source } : {}),
                ...(rule.destinationPort !== undefined ? { destinationPort: rule.destinationPort } : {}),
                ...(rule.tcpOption ? { tcpOption: rule.tcpOption } : {}),
            }, { parent: this, dependsOn: [this.firewall], deleteBeforeReplace: true });
        }
        this.registerOutputs({ publicIp: args.publicIp, rules: this.rules });
    }
}
