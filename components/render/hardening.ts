// The hardening layer's files, rendered from the one table in ../model/hardening.ts (the layer installs them
// as rendered and verifies the running system against the same table).
import {
    FAILLOCK, LOGIN_BANNER, LOGIN_DEFS, MODULES_DISABLED, MOUNTS, SHELL_TIMEOUT_SECONDS, SUID_REMOVED, SU_GROUP, SYSCTLS, isNamespacedSysctl,
} from "../model/hardening";

const HEADER = "# Managed by demesne (hardening layer): docs/hardening.md gives each line's reason.";

export function renderSysctlConf(): string {
    return [HEADER, ...SYSCTLS.map((s) => `# ${s.reason}\n${s.key} = ${s.value}`), ""].join("\n");
}

/** `key value` per line, namespaced ones marked: what the layer applies and checks against the kernel. */
export function renderSysctlExpect(): string {
    return SYSCTLS.map((s) => `${s.key} ${s.value} ${isNamespacedSysctl(s.key) ? "netns" : "kernel"}\n`).join("");
}

export function renderModprobeConf(): string {
    return [HEADER, ...MODULES_DISABLED.flatMap((m) => [`# ${m.reason}`, `install ${m.name} /bin/false`, `blacklist ${m.name}`]), ""].join("\n");
}

/** Core dumps off three ways: the rlimit, systemd-coredump's storage, and fs.suid_dumpable (the sysctls). */
export function renderCoreLimits(): string {
    return `${HEADER}\n# no process leaves its memory (keys, tokens, chats) on disk\n* hard core 0\n* soft core 0\n`;
}

export function renderCoredumpConf(): string {
    return `${HEADER}\n[Coredump]\nStorage=none\nProcessSizeMax=0\n`;
}

export function renderFaillockConf(): string {
    return [
        HEADER,
        "# a local password is guessed at most this often before the account locks for a while",
        `deny = ${FAILLOCK.deny}`,
        `fail_interval = ${FAILLOCK.failInterval}`,
        `unlock_time = ${FAILLOCK.unlockTime}`,
        "audit",
        "silent",
        "",
    ].join("\n");
}

/** pam-auth-update profiles: the preauth check runs first, the failure count after pam_unix fails. */
export function renderPamFaillockProfiles(): { main: string; notify: string } {
    return {
        main: [
            "Name: demesne: count failed passwords (pam_faillock)",
            "Default: yes",
            "Priority: 0",
            "Auth-Type: Primary",
            "Auth:",
            "\t[default=die]\tpam_faillock.so authfail",
            "Account-Type: Primary",
            "Account:",
            "\trequired\tpam_faillock.so",
            "",
        ].join("\n"),
        notify: [
            "Name: demesne: refuse a locked account before asking for its password (pam_faillock)",
            "Default: yes",
            "Priority: 1024",
            "Auth-Type: Primary",
            "Auth:",
            "\trequisite\tpam_faillock.so preauth",
            "",
        ].join("\n"),
    };
}

/** The line /etc/pam.d/su gets: `su` only for the group's members. */
export const SU_PAM_LINE = `auth required pam_wheel.so use_uid group=${SU_GROUP}`;

/** Login shells: an idle interactive shell is closed (read-only: a user cannot lift it); no core files. */
export function renderShellProfile(): string {
    return [
        HEADER,
        "# an interactive admin shell left open is closed after a while",
        `if [ -n "\${PS1-}" ]; then TMOUT=${SHELL_TIMEOUT_SECONDS}; readonly TMOUT; export TMOUT; fi`,
        "# no core file from anything a login shell starts (the limits file says the same to PAM)",
        "ulimit -c 0",
        "",
    ].join("\n");
}

/** pam_faillock keeps its tally in /run/faillock, which it makes only at the first failure: made at boot. */
export function renderFaillockTmpfiles(): string {
    return `${HEADER}\nd /run/faillock 0755 root root -\n`;
}

export function renderIssue(): string {
    return `${LOGIN_BANNER}\n`;
}

export function renderLoginDefs(): string {
    return LOGIN_DEFS.map((d) => `${d.key} ${d.value}\n`).join("");
}

export function renderFstabLines(): string {
    return MOUNTS.map((m) => `${m.fstab}\n`).join("");
}

/** `target option,option` per line: what findmnt must show. */
export function renderMountExpect(): string {
    return MOUNTS.map((m) => `${m.target} ${m.options.join(",")}\n`).join("");
}

export function renderSuidList(): string {
    return SUID_REMOVED.map((p) => `${p}\n`).join("");
}
