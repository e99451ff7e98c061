// Connection throttling for SSH against the DHEat class (CVE-2002-20001: many unauthenticated connections, each
// forcing an expensive key exchange). OpenSSH on Ubuntu 24.04 is 9.6 (no PerSourcePenalties), so the host firewall
// limits NEW connections to port 22 per source address. The block goes into /etc/ufw/before.rules (before6.rules):
// ufw rewrites user.rules from its own rule tuples on every `ufw enable` and `ufw reload`, so a rule of ours there
// would be gone after the next reload (and the firewall layer would report a change on every run); before.rules
// is read as it is on every start and reload and never rewritten.
import { SSH_PORT } from "../model/ports";

/**
 * The numbers. Debian trixie's ssh-audit 3.3.0 (the same logic from 3.2.0 to 3.4.0-dev) opens at most 38
 * connections, 3 at a time, for at most 1.5 s, and reports "insufficient connection throttling" when more than
 * 20 a second got the SSH banner. A client that hits the limit has its SYN dropped, so in 1.5 s at most
 * BURST + 1.5 × RATE connections get through: 20 + 3 = 23, 15 a second, under ssh-audit's 20 even on a fresh
 * bucket. A `pulumi up` opens one connection per step (about ten per host, a few of them at once), an
 * observer run one, and a test suite's logins follow one another: all well inside a burst of 20 refilled at 2
 * a second (a client never waits more than the 1 s of a SYN retransmit). ufw's stock `limit` (6 in 30 s)
 * would refuse the fourth step of a `pulumi up`.
 */
export const SSH_THROTTLE = {
    /** New connections a second each source keeps once its burst is spent. */
    perSecond: 2,
    /** New connections a source may open at once (the bucket also refills to this after 10 s idle). */
    burst: 20,
    /** One hashlimit table per family, shared by the rules of every admin range. */
    name: "demesne-ssh",
    /** IPv6 sources are counted per /64: one client holds a whole /64 and could rotate addresses in it. */
    ipv6SourceMask: 64,
} as const;

export const THROTTLE_BEGIN = "# BEGIN DEMESNE SSH THROTTLE";
export const THROTTLE_END = "# END DEMESNE SSH THROTTLE";

export function sshThrottleRule(family: 4 | 6, range: string): string {
    const p = family === 4 ? "ufw" : "ufw6";
    const mask = family === 6 ? ` --hashlimit-srcmask ${SSH_THROTTLE.ipv6SourceMask}` : "";
    return `-A ${p}-before-input -p tcp --dport ${SSH_PORT} -s ${range} -m conntrack --ctstate NEW ` +
        `-m hashlimit --hashlimit-above ${SSH_THROTTLE.perSecond}/sec --hashlimit-burst ${SSH_THROTTLE.burst} ` +
        `--hashlimit-mode srcip${mask} --hashlimit-name ${SSH_THROTTLE.name} -j DROP`;
}

/**
 * The block the firewall layer appends to before.rules (family 4) or before6.rules (6), replaced whole on each
 * run. Its rules follow the package's own in ufw-before-input, which ufw ends with the jump to ufw-user-input:
 * a connection over the limit is dropped before the rule that accepts the admin range sees it. Only the admin
 * ranges are counted: every other source is dropped by the default policy anyway.
 */
export function renderSshThrottleBlock(adminRanges: readonly string[], family: 4 | 6): string {
    const ranges = adminRanges.filter((r) => r.includes(":") === (family === 6));
    return [THROTTLE_BEGIN, "*filter", ...ranges.map((r) => sshThrottleRule(family, r)), "COMMIT", THROTTLE_END, ""].join("\n");
}
