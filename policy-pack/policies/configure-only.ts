import { PROVIDER_TYPES, TYPES } from "../../components/model/types";
import type { DemesneResourcePolicy } from "../lib/metadata";

/** What demesne may declare: its own components, command steps, tailnet policy/keys/DNS and OVH IP firewall. */
export const ALLOWED_TYPES: readonly string[] = [
    "pulumi:pulumi:Stack",
    ...Object.values(TYPES),
    ...Object.values(PROVIDER_TYPES),
    "tailscale:index/dnsNameservers:DnsNameservers",
    "tailscale:index/dnsPreferences:DnsPreferences",
    "tailscale:index/dnsSearchPaths:DnsSearchPaths",
];

export const configureOnly: DemesneResourcePolicy = {
    name: "configure-only",
    description: "Only configuration resources are declared (command steps, tailnet policy, keys and DNS, OVH IP firewall): nothing that provisions servers, networks or accounts.",
    enforcementLevel: "mandatory",
    severity: "high",
    control: "configure-only",
    remediationSteps: "demesne adopts existing hosts; provision elsewhere and add the host to demesne:hosts.",
    configSchema: {
        properties: {
            extraAllowedTypes: { type: "array", items: { type: "string" }, description: "more type tokens to allow (reviewed additions)" },
        },
    },
    validateResource: (args, report) => {
        if (args.type.startsWith("pulumi:providers:")) return;
        const extra = (args.getConfig<{ extraAllowedTypes?: string[] }>().extraAllowedTypes ?? []) as string[];
        if (ALLOWED_TYPES.includes(args.type) || extra.includes(args.type)) return;
        report(`${args.name}: ${args.type} is not a configuration resource demesne may declare (configure-only)`);
    },
};
