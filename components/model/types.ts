// One registry of demesne's component type tokens: `demesne:<module>:<Name>`.
// Renaming one changes every child URN, so a change here needs an alias on the component.
export const TYPES = {
    Actuator: "demesne:actuator:Actuator",
    Host: "demesne:host:Host",
    Service: "demesne:service:Service",
    Tailnet: "demesne:tailnet:Tailnet",
    EdgeFirewall: "demesne:edge:EdgeFirewall",
} as const;

/** Type tokens of the provider resources the program may declare (configure-only). */
export const PROVIDER_TYPES = {
    remoteCommand: "command:remote:Command",
    tailnetAcl: "tailscale:index/acl:Acl",
    tailnetKey: "tailscale:index/tailnetKey:TailnetKey",
    ovhFirewall: "ovh:Ip/firewall:Firewall",
    ovhFirewallRule: "ovh:Ip/firewallRule:FirewallRule",
} as const;
