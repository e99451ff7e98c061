import type { DemesneStackPolicy } from "../lib/metadata";
import { decodeStdin, isCommand } from "../lib/steps";

/** UFW on each host: incoming and routed traffic denied by default; SSH accepted only from named ranges. */
export const hostFirewallDefaultDeny: DemesneStackPolicy = {
    name: "host-firewall-default-deny",
    description: "Every host firewall step sets UFW's default input and forward policies to DROP and accepts SSH only from named source ranges, never from anywhere.",
    enforcementLevel: "mandatory",
    severity: "high",
    control: "exposure",
    remediationSteps: "Let the firewall layer render UFW's files (components/render/ufw.ts).",
    validateStack: (args, report) => {
        for (const r of args.resources) {
            if (!isCommand(r)) continue;
            const step = decodeStdin(r.props.stdin);
            if ("error" in step || step.layer !== "firewall") continue;
            const defaults = step.params.UFW_DEFAULTS ?? "";
            if (!/^DEFAULT_INPUT_POLICY="DROP"$/m.test(defaults)) report(`${r.name}: UFW's default input policy is not DROP`, r.urn);
            if (!/^DEFAULT_FORWARD_POLICY="DROP"$/m.test(defaults)) report(`${r.name}: UFW's default forward policy is not DROP`, r.urn);
            for (const line of `${step.params.USER_RULES ?? ""}\n${step.params.USER6_RULES ?? ""}`.split("\n")) {
                if (/^-A ufw-user-input\b.*--dport 22\b.*-j ACCEPT/.test(line) && !/\s-s\s/.test(line)) report(`${r.name}: the host firewall accepts SSH from anywhere`, r.urn);
                if (/^-A ufw-user-input\b(?!.*--dport).*-j ACCEPT/.test(line)) report(`${r.name}: the host firewall accepts every port from some source`, r.urn);
            }
        }
    },
};
