// The observer: a separate SSH identity that can only read. Its key is forced onto one script that
// knows a fixed catalogue of probes (the client names a probe, never a command), and sudo lets it run
// exactly the probe commands that need root, with exactly these arguments. Dependency-free but for the
// hardening table (its sysctl keys are the sysctl probe's arguments) and the backup table (the status file's
// path): the observer layer, the test host and `demesne observe` read this one catalogue.
import { BACKUP_PATHS } from "./backup";
import { SYSCTLS } from "./hardening";

export const OBSERVER_USER = "demesne-observer";
export const OBSERVE_SCRIPT_PATH = "/usr/local/lib/demesne/observe";
export const OBSERVER_SUDOERS_PATH = "/etc/sudoers.d/demesne-observer";

export interface Probe {
    id: string;
    what: string;
    /** Absolute path and fixed arguments; nothing from the client is ever appended. */
    argv: readonly string[];
    /** Run through `sudo -n` (and listed in the observer's sudoers entry). */
    sudo: boolean;
    /** The host may not have this program (no docker, no tailscale): "unavailable", not an error. */
    optional?: boolean;
}

export const PROBES: readonly Probe[] = [
    { id: "sshd", what: "effective sshd configuration", argv: ["/usr/sbin/sshd", "-T"], sudo: true },
    {
        id: "packages", what: "installed Debian packages",
        argv: ["/usr/bin/dpkg-query", "-W", "-f", "${Package}\\t${Version}\\t${db:Status-Abbrev}\\n"], sudo: false,
    },
    { id: "ufw", what: "UFW status, defaults and rules", argv: ["/usr/sbin/ufw", "status", "verbose"], sudo: true },
    { id: "iptables", what: "IPv4 filter rules (FORWARD, DOCKER-USER, UFW chains)", argv: ["/usr/sbin/iptables", "-S"], sudo: true },
    { id: "listeners", what: "listening TCP/UDP sockets and their processes", argv: ["/usr/bin/ss", "-ltnupH"], sudo: true },
    {
        id: "sudoers", what: "sudoers files (content hash and rules)",
        argv: ["/usr/bin/grep", "-rHZ", "-e", "^", "/etc/sudoers", "/etc/sudoers.d"], sudo: true,
    },
    { id: "users", what: "local users", argv: ["/usr/bin/getent", "passwd"], sudo: false },
    { id: "groups", what: "local groups and members", argv: ["/usr/bin/getent", "group"], sudo: false },
    {
        id: "units", what: "systemd services",
        argv: ["/usr/bin/systemctl", "list-units", "--type=service", "--all", "--no-legend", "--plain", "--no-pager"],
        sudo: false, optional: true,
    },
    { id: "mounts", what: "mounted filesystems", argv: ["/usr/bin/findmnt", "-J", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS"], sudo: false },
    { id: "blockdevices", what: "block devices (dm-crypt layers)", argv: ["/usr/bin/lsblk", "-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINTS"], sudo: false, optional: true },
    {
        id: "containers", what: "containers, images and published ports",
        argv: ["/usr/bin/docker", "ps", "--all", "--no-trunc", "--format", "{{json .}}"], sudo: true, optional: true,
    },
    {
        id: "images", what: "image digests",
        argv: ["/usr/bin/docker", "images", "--digests", "--no-trunc", "--format", "{{json .}}"], sudo: true, optional: true,
    },
    { id: "tailscale", what: "tailscale status", argv: ["/usr/bin/tailscale", "status", "--json"], sudo: false, optional: true },
    // Root: some keys are readable by root only (fs.protected_*, net.core.bpf_jit_harden are 0600). -e: a key this
    // kernel does not have is left out of the output rather than failing the probe.
    {
        id: "sysctl", what: "the kernel and network settings the hardening layer sets",
        argv: ["/usr/sbin/sysctl", "-e", ...SYSCTLS.map((s) => s.key)], sudo: true,
    },
    // Root: the kernel answers audit requests from CAP_AUDIT_CONTROL only. auditctl takes one request per run.
    { id: "audit", what: "the kernel's audit status (enabled, auditd's pid)", argv: ["/usr/sbin/auditctl", "-s"], sudo: true, optional: true },
    { id: "audit-rules", what: "the loaded audit rules", argv: ["/usr/sbin/auditctl", "-l"], sudo: true, optional: true },
    // Root: a directory only root can read (polkit's rules.d is 0700) would hide a setuid file from anyone else.
    // /bin and /sbin are symlinks on a merged /usr (find does not follow them) and directories elsewhere.
    {
        id: "suid", what: "setuid and setgid programs",
        argv: ["/usr/bin/find", "/bin", "/sbin", "/usr", "-xdev", "-type", "f", "-perm", "/6000", "-printf", "%m:%u:%g:%p\\n"], sudo: true,
    },
    // Root: the backup runner's status file is root's. cat exits 1 when there is none (no backup layer, or it
    // never ran): the parser reads that as "unavailable", and drift decides whether the host should have one.
    { id: "backup", what: "the backup runner's last run, success and check", argv: ["/usr/bin/cat", BACKUP_PATHS.status], sudo: true, optional: true },
];

export const PROBE_IDS: readonly string[] = PROBES.map((p) => p.id);

/** Exit code the observe script reports for a probe whose program is not installed. */
export const PROBE_UNAVAILABLE = 127;

/**
 * An argument as sudoers matches it exactly: sudo matches arguments with fnmatch, so its wildcards and a
 * backslash are escaped for fnmatch first, then sudoers' own specials (`,` `:` `=` `\`) for its parser.
 */
function sudoersArg(a: string): string {
    return a.replace(/[\\*?[\]]/g, "\\$&").replace(/[\\,:=]/g, "\\$&");
}

/** /etc/sudoers.d/demesne-observer: the root probes, each with its exact arguments. */
export function renderObserverSudoers(user = OBSERVER_USER): string {
    const cmds = PROBES.filter((p) => p.sudo).map((p) => p.argv.map(sudoersArg).join(" "));
    return [
        "# Managed by demesne (observer). Read-only probes only, each with its exact arguments.",
        `Defaults:${user} !requiretty, env_reset`,
        `${user} ALL=(root) NOPASSWD: ${cmds.join(", \\\n    ")}`,
        "",
    ].join("\n");
}

function shellQuote(a: string): string {
    return /^[A-Za-z0-9_./=:-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

/**
 * The forced command. `all` runs every probe; `probe ID…` runs the named ones. Each probe prints one line:
 * `<id> <exit code> <stdout as base64>`, so no output can be mistaken for framing.
 */
export function renderObserveScript(): string {
    const cases = PROBES.map((p) => {
        const cmd = [...(p.sudo ? ["/usr/bin/sudo", "-n"] : []), ...p.argv].map(shellQuote).join(" ");
        return `    ${p.id}) run ${p.id} ${shellQuote(p.argv[0]!)} ${cmd} ;;`;
    });
    return [
        "#!/bin/bash",
        "# Managed by demesne (observer): the only command the observer key can run. Read-only probes.",
        "# shellcheck disable=SC2016 # dpkg-query's format is meant literally",
        "set -u",
        "export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "run() {",
        "  local id=$1 prog=$2 out rc",
        "  shift 2",
        `  if [[ ! -x $prog ]]; then printf '%s ${PROBE_UNAVAILABLE} \\n' "$id"; return; fi`,
        // The probe's own exit code, not base64's.
        "  out=$(\"$@\" 2>/dev/null | base64 -w0; exit \"${PIPESTATUS[0]}\"); rc=$?",
        "  printf '%s %s %s\\n' \"$id\" \"$rc\" \"$out\"",
        "}",
        "probe() {",
        '  case "$1" in',
        ...cases,
        "    *) echo \"demesne-observe: unknown probe '$1'\" >&2; exit 2 ;;",
        "  esac",
        "}",
        "read -r -a words <<<\"${SSH_ORIGINAL_COMMAND:-}\"",
        'case "${words[0]:-}" in',
        `  all) for id in ${PROBE_IDS.join(" ")}; do probe "$id"; done ;;`,
        '  probe) [[ ${#words[@]} -ge 2 ]] || { echo "demesne-observe: name a probe" >&2; exit 2; }',
        '         for id in "${words[@]:1}"; do probe "$id"; done ;;',
        `  *) echo "demesne-observe: read-only; run 'all' or 'probe <id>' (${PROBE_IDS.join(", ")})" >&2; exit 2 ;;`,
        "esac",
        "",
    ].join("\n");
}

/** The observer's authorized_keys line: no pty, no forwarding, only the observe script. */
export function renderObserverAuthorizedKey(publicKey: string): string {
    return `restrict,command="${OBSERVE_SCRIPT_PATH}" ${publicKey.trim()}\n`;
}
