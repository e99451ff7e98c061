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
    "user-input", "user-output", "user-forward",
    "before-logging-input", "before-logging-output", "before-logging-forward",
    "user-logging-input", "user-logging-output", "user-logging-forward",
    "after-logging-input", "after-logging-output", "after-logging-forward",
    "logging-deny", "logging-allow", "user-limit", "user-limit-accept",
];

/** ufw's own log level, which decides its LOGGING block; the firewall layer sets it in ufw.conf. */
export const UFW_LOGLEVEL = "low";

/**
 * A user rules file exactly as ufw writes it back (blank lines, LOGGING and RATE LIMITING blocks for
 * LOGLEVEL=low, `ufw6-` chains for IPv6): ufw rewrites the file on enable, so any other form would make
 * the firewall layer report a change on every run.
 */
function userRules(p: "ufw" | "ufw6", rules: string[]): string {
    const limit = "-m limit --limit 3/min --limit-burst 10";
    return [
        "*filter",
        ...USER_CHAINS.map((c) => `:${p}-${c} - [0:0]`),
        "### RULES ###",
        "",
        ...rules,
        "### END RULES ###",
        "",
        "### LOGGING ###",
        `-A ${p}-after-logging-input -j LOG --log-prefix "[UFW BLOCK] " ${limit}`,
        `-A ${p}-after-logging-forward -j LOG --log-prefix "[UFW BLOCK] " ${limit}`,
        `-I ${p}-logging-deny -m conntrack --ctstate INVALID -j RETURN ${limit}`,
        `-A ${p}-logging-deny -j LOG --log-prefix "[UFW BLOCK] " ${limit}`,
        `-A ${p}-logging-allow -j LOG --log-prefix "[UFW ALLOW] " ${limit}`,
        "### END LOGGING ###",
        "",
        "### RATE LIMITING ###",
        `-A ${p}-user-limit -m limit --limit 3/minute -j LOG --log-prefix "[UFW LIMIT BLOCK] "`,
        `-A ${p}-user-limit -j REJECT`,
        `-A ${p}-user-limit-accept -j ACCEPT`,
        "### END RATE LIMITING ###",
        "COMMIT",
        "",
    ].join("\n");
}

function isIpv6(cidr: string): boolean {
    return cidr.includes(":");
}

function sshRules(p: "ufw" | "ufw6", ranges: string[]): string[] {
    const any = p === "ufw" ? "0.0.0.0/0" : "::/0";
    return ranges.flatMap((range) => [
        `### tuple ### allow tcp ${SSH_PORT} ${any} any ${range} in`,
        `-A ${p}-user-input -p tcp --dport ${SSH_PORT} -s ${range} -j ACCEPT`,
        "",
    ]);
}

/** /etc/ufw/user.rules (IPv4): SSH from the admin ranges, nothing else. */
export function renderUserRules(args: UfwArgs): string {
    return userRules("ufw", sshRules("ufw", args.adminRanges.filter((r) => !isIpv6(r))));
}

/** /etc/ufw/user6.rules (IPv6). */
export function renderUser6Rules(args: UfwArgs): string {
    return userRules("ufw6", sshRules("ufw6", args.adminRanges.filter(isIpv6)));
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
