// The audit layer's rules (Article 32: a record of privileged actions on the host, beyond sudo's own log).
// Each watch names what it guards; `-k` keys are what `ausearch -k` and the runbook search by.
import { RUNNER_PATH, SCRIPT_ALLOWLIST_PATH, SUDOERS_PATH } from "./sudoers";

export interface AuditRule {
    rule: string;
    reason: string;
}

/** Each audit log is rotated at this size (MB); `hardening.auditLogFiles` of them are kept. */
export const AUDIT_LOG_MB = 50;

const watch = (path: string, perms: string, key: string, reason: string): AuditRule => ({ rule: `-w ${path} -p ${perms} -k ${key}`, reason });
const syscalls = (names: string, key: string, reason: string): AuditRule[] =>
    ["b64", "b32"].map((arch) => ({ rule: `-a always,exit -F arch=${arch} -S ${names} -k ${key}`, reason }));

export const AUDIT_RULES: readonly AuditRule[] = [
    ...["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/security/opasswd"].map((p) =>
        watch(p, "wa", "identity", "who added, removed or changed an account or group")),
    watch("/etc/sudoers", "wa", "sudoers", "who changed who may become root"),
    watch("/etc/sudoers.d", "wa", "sudoers", `the same for the drop-ins (demesne's own is ${SUDOERS_PATH})`),
    watch("/etc/ssh/sshd_config", "wa", "sshd", "who changed how SSH lets people in"),
    watch("/etc/ssh/sshd_config.d", "wa", "sshd", "the same for the drop-ins (the hardening drop-in lives here)"),
    watch(RUNNER_PATH, "wa", "demesne-runner", "the one program the deploy user may run as root"),
    watch(SCRIPT_ALLOWLIST_PATH, "wa", "demesne-runner", "the scripts that program agrees to run"),
    watch("/etc/docker", "wa", "docker", "Docker's daemon settings (bind address, iptables)"),
    watch("/run/docker.sock", "rwa", "docker", "who talked to Docker: root on the host by another name"),
    watch("/var/lib/tailscale", "wa", "tailscale", "the node's tailnet identity and state"),
    watch("/etc/localtime", "wa", "time-change", "a changed time zone skews every other record"),
    ...syscalls("adjtimex,settimeofday,clock_settime", "time-change", "a changed clock makes the log's times lie"),
    ...syscalls("init_module,finit_module,delete_module", "modules", "code loaded into the kernel"),
    ...syscalls("execve", "privileged",
        "every command run as root from a login session (sudo, the runner's layers): who ran what, and when")
        .map((r) => ({ ...r, rule: r.rule.replace(" -k ", " -F euid=0 -F auid>=1000 -F auid!=4294967295 -k ") })),
];

/** The rules file; `-e 2` (immutable until reboot) only where the operator opted in. */
export function renderAuditRules(opts: { immutable: boolean }): string {
    return [
        "# Managed by demesne (audit layer): docs/hardening.md gives each rule's reason.",
        ...AUDIT_RULES.map((r) => r.rule),
        ...(opts.immutable ? ["# immutable: only a reboot changes the loaded rules (hardening.auditImmutable)", "-e 2"] : []),
        "",
    ].join("\n");
}

/** auditd.conf keys set (the rest stays the package's): rotate by size and keep a fixed number of logs. */
export function renderAuditdSettings(opts: { logFiles: number }): string {
    return [
        `max_log_file = ${AUDIT_LOG_MB}`,
        "max_log_file_action = ROTATE",
        `num_logs = ${opts.logFiles}`,
        // A full disk stops recording rather than the host: the layer's verify and the observer both see it.
        "space_left_action = SYSLOG",
        "admin_space_left_action = SUSPEND",
        "disk_full_action = SUSPEND",
        "",
    ].join("\n");
}
