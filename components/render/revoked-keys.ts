// sshd's RevokedKeys file (the ssh layer installs it) and the identity two key lines are compared by:
// type and base64 body. The comment is free text an operator may change; it never names another key.

/** Where the ssh layer writes the file and where the drop-in's RevokedKeys points. */
export const REVOKED_KEYS_PATH = "/etc/ssh/revoked_keys";

/** `ssh-ed25519 AAAA…` of an OpenSSH public key line, without its comment. */
export function sshKeyIdentity(line: string): string {
    const [type = "", body = ""] = line.trim().split(/\s+/);
    return `${type} ${body}`;
}

/**
 * The file's content: one key a line, sorted, no duplicates, no comments (stable bytes: re-running the layer
 * changes nothing). Empty when nothing is revoked: sshd refuses every public key when the file is missing
 * or unreadable, so the file always exists once the drop-in names it.
 */
export function renderRevokedKeys(keys: readonly string[]): string {
    return [...new Set(keys.map(sshKeyIdentity))].sort().map((k) => `${k}\n`).join("");
}
