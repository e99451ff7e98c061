// Least-privilege sudo (host-and-stack §7, praxis invariant 9): the deploy user may run one
// exact command, the root-owned runner, with no arguments. Never `NOPASSWD: ALL`.

import { UNRESTRICTED_SUDO } from "../model/sudo";

export const RUNNER_PATH = "/usr/local/sbin/demesne-run";
export const SCRIPT_ALLOWLIST_PATH = "/etc/demesne/scripts.allow";
/** Where the baseline layer installs renderSudoers() (baseline.sh). */
export const SUDOERS_PATH = "/etc/sudoers.d/demesne";

export function renderSudoers(deployUser: string): string {
    return [
        "# Managed by demesne (baseline layer). Validated with visudo -cf before install.",
        `Defaults:${deployUser} use_pty`,
        `Defaults:${deployUser} logfile=/var/log/sudo-demesne.log`,
        `Defaults:${deployUser} env_reset`,
        // "" = no arguments allowed: the runner takes everything it needs from stdin.
        `${deployUser} ALL=(root) NOPASSWD: ${RUNNER_PATH} ""`,
        "",
    ].join("\n");
}

/** Sudoers rules that hand out unrestricted root; refused in any sudoers content we render. */
export const UNRESTRICTED_SUDO_PATTERNS: readonly RegExp[] = UNRESTRICTED_SUDO.map((u) => u.pattern);
