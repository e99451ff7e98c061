// The sshd hardening drop-in (host-and-stack §1) and what `sshd -T` must print once it is in
// effect. Both come from one table, so the layer's verify step checks exactly what we wrote.
import { REVOKED_KEYS_PATH } from "./revoked-keys";

/** Algorithms: modern AEAD ciphers, ETM MACs, post-quantum-hybrid kex, no ECDSA host keys. */
export const SSH_CIPHERS = [
    "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
    "aes256-ctr", "aes192-ctr", "aes128-ctr",
];
export const SSH_MACS = [
    "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com",
    "hmac-sha2-512", "hmac-sha2-256",
];
export const SSH_KEX = [
    "sntrup761x25519-sha512@openssh.com", "curve25519-sha256@libssh.org", "diffie-hellman-group-exchange-sha256",
];
export const SSH_HOST_KEY_ALGORITHMS = [
    "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com",
    "rsa-sha2-512", "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256", "rsa-sha2-256-cert-v01@openssh.com",
];

export interface SshHardeningArgs {
    /** Who may log in at all (CIS 5.1.4): the deploy user and the admins' accounts. */
    allowUsers: string[];
}

/** [directive as written, value as written, value as `sshd -T` prints it] */
type Directive = [string, string, string?];

function directives(args: SshHardeningArgs): Directive[] {
    return [
        ["PermitRootLogin", "no"],
        ["PasswordAuthentication", "no"],
        ["KbdInteractiveAuthentication", "no"],
        ["PermitEmptyPasswords", "no"],
        ["PubkeyAuthentication", "yes"],
        ["AuthenticationMethods", "publickey"],
        ["MaxAuthTries", "2"],
        ["LoginGraceTime", "30s", "30"],
        ["MaxSessions", "10"],
        ["MaxStartups", "10:30:60"],
        ["ClientAliveInterval", "300"],
        // A dead peer is dropped after two unanswered probes (10 min); the encrypted ClientAlive probes do this,
        // not TCP keepalives, which are spoofable and would cut a session on a short network blip.
        ["ClientAliveCountMax", "2"],
        ["TCPKeepAlive", "no"],
        ["DisableForwarding", "yes"],
        ["AllowTcpForwarding", "no"],
        ["AllowAgentForwarding", "no"],
        ["X11Forwarding", "no"],
        ["PermitTunnel", "no"],
        ["GatewayPorts", "no"],
        ["HostbasedAuthentication", "no"],
        ["IgnoreRhosts", "yes"],
        ["GSSAPIAuthentication", "no"],
        ["KerberosAuthentication", "no"],
        ["PermitUserEnvironment", "no"],
        ["UsePAM", "yes"],
        // The ssh layer writes this file (empty when nothing is revoked) before the drop-in takes effect.
        ["RevokedKeys", REVOKED_KEYS_PATH],
        ["LogLevel", "VERBOSE"],
        ["UseDNS", "no"],
        ["Compression", "no"],
        ["Ciphers", SSH_CIPHERS.join(",")],
        ["MACs", SSH_MACS.join(",")],
        ["KexAlgorithms", SSH_KEX.join(",")],
        ["HostKeyAlgorithms", SSH_HOST_KEY_ALGORITHMS.join(",")],
        ["AllowUsers", args.allowUsers.join(" ")],
    ];
}

/** The drop-in, installed as /etc/ssh/sshd_config.d/00-hardening.conf (00- so it wins). */
export function renderSshDropin(args: SshHardeningArgs): string {
    const lines = directives(args).map(([key, value]) => `${key} ${value}`);
    return `# Managed by demesne (ssh layer). sshd keeps the first value it reads: this file must sort first.\n${lines.join("\n")}\n`;
}

/** The lines `sshd -T` must print once the drop-in is in effect (lower-case keys, one user a line). */
export function sshdExpectations(args: SshHardeningArgs): string[] {
    const out: string[] = [];
    for (const [key, value, effective] of directives(args)) {
        const k = key.toLowerCase();
        if (key === "AllowUsers") {
            for (const user of args.allowUsers) out.push(`${k} ${user}`);
        } else if (key === "Compression") {
            out.push(`${k} no`);
        } else {
            out.push(`${k} ${effective ?? value}`);
        }
    }
    return out;
}
