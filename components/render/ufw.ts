// UFW files rendered whole (host-and-stack §2): defaults, the user rules (SSH from the admin
// range only) and the DOCKER-USER block for after.rules. Checked with iptables-restore --test.
import { DOCKER_BRIDGES } from "../model/outcome";
import { SSH_PORT } from "../model/ports";

export interface UfwArgs {
    /** CIDR ranges allowed to reach SSH on the public interface. */
    adminRanges: string[];
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

/**
 * The block appended to /etc/ufw/after.rules (family 4) or after6.rules (6) so UFW also filters what Docker
 * publishes: those packets are DNATed to a container and cross FORWARD, never INPUT. It matches the outcome, not
 * Docker's addresses: every new connection Docker DNATed, and every new one routed into a Docker bridge, is
 * dropped unless it came from a container. A rule on subnets missed compose's own networks (172.18.0.0/16 and
 * up, any IPv6 prefix) and trusted a source address anyone on the link can forge; see adr/0019.
 */
export function renderDockerUserBlock(family: 4 | 6 = 4): string {
    const p = family === 4 ? "ufw" : "ufw6";
    const deny = `${p}-docker-logging-deny`;
    return [
        "# BEGIN UFW AND DOCKER",
        "*filter",
        `:${p}-user-forward - [0:0]`,
        `:${deny} - [0:0]`,
        ":DOCKER-USER - [0:0]",
        // `ufw route allow` rules come first, as in UFW's own FORWARD handling.
        `-A DOCKER-USER -j ${p}-user-forward`,
        "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-A DOCKER-USER -m conntrack --ctstate INVALID -j DROP",
        // From a container (Docker's own rules keep its networks apart), never forgeable from outside.
        ...DOCKER_BRIDGES.map((i) => `-A DOCKER-USER -i ${i} -j RETURN`),
        `-A DOCKER-USER -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -j ${deny}`,
        ...DOCKER_BRIDGES.map((i) => `-A DOCKER-USER -o ${i} -m conntrack --ctstate NEW -j ${deny}`),
        "-A DOCKER-USER -j RETURN",
        `-A ${deny} -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW DOCKER BLOCK] "`,
        `-A ${deny} -j DROP`,
        "COMMIT",
        "# END UFW AND DOCKER",
        "",
    ].join("\n");
}
