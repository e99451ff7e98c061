// UFW files rendered whole (host-and-stack §2): defaults, the user rules (SSH from the admin
// range only) and the DOCKER-USER block for after.rules. Checked with iptables-restore --test.
import { SSH_PORT } from "../model/ports";

export interface UfwArgs {
    /** CIDR ranges allowed to reach SSH on the public interface. */
    adminRanges: string[];
    /** Docker's own subnets: container-to-container traffic from these is trusted. */
    dockerSubnets: string[];
}

const USER_CHAINS = [
    "ufw-user-input", "ufw-user-output", "ufw-user-forward",
    "ufw-before-logging-input", "ufw-before-logging-output", "ufw-before-logging-forward",
    "ufw-user-logging-input", "ufw-user-logging-output", "ufw-user-logging-forward",
    "ufw-after-logging-input", "ufw-after-logging-output", "ufw-after-logging-forward",
    "ufw-logging-deny", "ufw-logging-allow", "ufw-user-limit", "ufw-user-limit-accept",
];

function userRules(rules: string[]): string {
    return [
        "*filter",
        ...USER_CHAINS.map((c) => `:${c} - [0:0]`),
        "### RULES ###",
        ...rules,
        "### END RULES ###",
        "-A ufw-user-limit -m limit --limit 3/minute -j LOG --log-prefix \"[UFW LIMIT BLOCK] \"",
        "-A ufw-user-limit -j REJECT",
        "-A ufw-user-limit-accept -j ACCEPT",
        "COMMIT",
        "",
    ].join("\n");
}

function isIpv6(cidr: string): boolean {
    return cidr.includes(":");
}

function sshRules(ranges: string[]): string[] {
    return ranges.flatMap((range) => [
        `### tuple ### allow tcp ${SSH_PORT} 0.0.0.0/0 any ${range} in`,
        `-A ufw-user-input -p tcp --dport ${SSH_PORT} -s ${range} -j ACCEPT`,
        "",
    ]);
}

/** /etc/ufw/user.rules (IPv4): SSH from the admin ranges, nothing else. */
export function renderUserRules(args: UfwArgs): string {
    return userRules(sshRules(args.adminRanges.filter((r) => !isIpv6(r))));
}

/** /etc/ufw/user6.rules (IPv6). */
export function renderUser6Rules(args: UfwArgs): string {
    return userRules(sshRules(args.adminRanges.filter(isIpv6)).map((l) => l.replace("0.0.0.0/0", "::/0")));
}

/** /etc/default/ufw: deny in, allow out, deny routed. */
export function renderUfwDefaults(): string {
    return [
        "# Managed by demesne (firewall layer).",
        "IPV6=yes",
        "DEFAULT_INPUT_POLICY=\"DROP\"",
        "DEFAULT_OUTPUT_POLICY=\"ACCEPT\"",
        "DEFAULT_FORWARD_POLICY=\"DROP\"",
        "DEFAULT_APPLICATION_POLICY=\"SKIP\"",
        "MANAGE_BUILTINS=no",
        "IPT_SYSCTL=/etc/ufw/sysctl.conf",
        "IPT_MODULES=\"\"",
        "",
    ].join("\n");
}

/** The block appended to /etc/ufw/after.rules so UFW also filters Docker-published ports. */
export function renderDockerUserBlock(args: UfwArgs): string {
    const subnets = args.dockerSubnets;
    return [
        "# BEGIN UFW AND DOCKER",
        "*filter",
        ":ufw-user-forward - [0:0]",
        ":ufw-docker-logging-deny - [0:0]",
        ":DOCKER-USER - [0:0]",
        "-A DOCKER-USER -j ufw-user-forward",
        "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-A DOCKER-USER -m conntrack --ctstate INVALID -j DROP",
        "-A DOCKER-USER -i docker0 -o docker0 -j ACCEPT",
        ...subnets.map((s) => `-A DOCKER-USER -j RETURN -s ${s}`),
        ...subnets.map((s) => `-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d ${s}`),
        "-A DOCKER-USER -j RETURN",
        "-A ufw-docker-logging-deny -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix \"[UFW DOCKER BLOCK] \"",
        "-A ufw-docker-logging-deny -j DROP",
        "COMMIT",
        "# END UFW AND DOCKER",
        "",
    ].join("\n");
}
