// How a step travels over SSH: the script (base64, first line of stdin) and its parameters
// (NAME=<base64> lines) go on stdin, never in argv or the environment — sshd's hardening drops
// client environment variables and argv is visible to every user of the host.

const PARAM_NAME = /^[A-Z][A-Z0-9_]*$/;

/** The parameter lines a layer script reads: `NAME=<base64>`, sorted by name. */
export function encodeParams(params: Record<string, string>): string {
    return Object.keys(params).sort().map((name) => {
        if (!PARAM_NAME.test(name)) throw new Error(`invalid step parameter name: ${name}`);
        return `${name}=${Buffer.from(params[name] ?? "", "utf8").toString("base64")}\n`;
    }).join("");
}

export function encodeStdin(script: string, params: Record<string, string>): string {
    return `${Buffer.from(script, "utf8").toString("base64")}\n${encodeParams(params)}`;
}

/** Single-quotes a string for a POSIX shell. */
export function shellQuote(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

// Before the baseline layer has installed the runner, the bootstrap user (the provider's
// default sudoer) runs the baseline script, checking its hash inline first.
const BOOTSTRAP_RUNNER = [
    "set -eu",
    "IFS= read -r s",
    "f=$(mktemp)",
    "trap 'rm -f \"$f\"' EXIT",
    "printf %s \"$s\" | base64 -d > \"$f\"",
    "[ \"$(sha256sum < \"$f\" | cut -d' ' -f1)\" = \"$1\" ] || { echo 'demesne: script hash mismatch' >&2; exit 77; }",
    "bash \"$f\"",
].join("; ");

export function bootstrapCommand(scriptSha256: string): string {
    return `sudo -n bash -c ${shellQuote(BOOTSTRAP_RUNNER)} demesne-bootstrap ${scriptSha256}`;
}

/** After baseline: the deploy user may only run the runner, which checks the allowlist itself. */
export function runnerCommand(runnerPath: string, layer: string, scriptSha256: string): string {
    return `sudo -n ${runnerPath} # layer=${layer} script=sha256:${scriptSha256}`;
}
