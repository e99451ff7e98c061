// What the hardening layer sets, each with its reason and the Article 32 measure it serves: the one table the
// renderer (../render/hardening.ts), the layer's verify step, the observer's drift rules and docs/hardening.md
// read. Dependency-free on purpose.

/** Rows of policy/article-32-measures.md a setting serves. */
export type Article32 = "access-control" | "integrity" | "logging" | "availability";

export interface Setting {
    reason: string;
    article32: Article32;
}

export interface SysctlSetting extends Setting {
    key: string;
    value: string;
}

const sysctl = (key: string, value: string, reason: string, article32: Article32 = "integrity"): SysctlSetting =>
    ({ key, value, reason, article32 });

export const SYSCTLS: readonly SysctlSetting[] = [
    // Network (per network namespace: proven on a running kernel in the test host).
    sysctl("net.ipv4.conf.all.rp_filter", "1", "drop packets whose source could not be routed back out the interface they came in on (spoofing)"),
    sysctl("net.ipv4.conf.default.rp_filter", "1", "the same for interfaces created later (Docker's bridges, tailscale0)"),
    sysctl("net.ipv4.conf.all.accept_redirects", "0", "an ICMP redirect from the link could reroute the host's traffic"),
    sysctl("net.ipv4.conf.default.accept_redirects", "0", "the same for interfaces created later"),
    sysctl("net.ipv6.conf.all.accept_redirects", "0", "the same for IPv6"),
    sysctl("net.ipv6.conf.default.accept_redirects", "0", "the same for IPv6 interfaces created later"),
    sysctl("net.ipv4.conf.all.secure_redirects", "0", "not even from the listed gateways: OVH routes are static"),
    sysctl("net.ipv4.conf.default.secure_redirects", "0", "the same for interfaces created later"),
    sysctl("net.ipv4.conf.all.send_redirects", "0", "the host forwards for Docker only, it is no router to advertise"),
    sysctl("net.ipv4.conf.default.send_redirects", "0", "the same for interfaces created later"),
    sysctl("net.ipv4.conf.all.accept_source_route", "0", "a sender must not choose the path through the host"),
    sysctl("net.ipv4.conf.default.accept_source_route", "0", "the same for interfaces created later"),
    sysctl("net.ipv6.conf.all.accept_source_route", "0", "the same for IPv6"),
    sysctl("net.ipv6.conf.default.accept_source_route", "0", "the same for IPv6 interfaces created later"),
    sysctl("net.ipv4.conf.all.log_martians", "1", "impossible source addresses are logged: a spoofing attempt leaves a trace", "logging"),
    sysctl("net.ipv4.conf.default.log_martians", "1", "the same for interfaces created later", "logging"),
    sysctl("net.ipv4.conf.all.proxy_arp", "0", "the host answers ARP for its own addresses only"),
    sysctl("net.ipv4.conf.all.bootp_relay", "0", "the host relays no DHCP"),
    sysctl("net.ipv4.tcp_syncookies", "1", "a SYN flood cannot fill the listen queue (SSH stays reachable)", "availability"),
    sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "1", "no part in smurf amplification", "availability"),
    sysctl("net.ipv4.icmp_ignore_bogus_error_responses", "1", "bogus ICMP errors do not fill the log", "availability"),
    sysctl("net.ipv4.ip_forward", "1", "kept on: Docker routes container traffic; UFW's routed policy and DOCKER-USER decide what crosses", "availability"),
    // Kernel-wide (set by the host's own kernel: a container test host cannot, see LIMITATIONS.md).
    sysctl("kernel.kptr_restrict", "2", "kernel addresses stay hidden, even from root's tools (no KASLR leak)"),
    sysctl("kernel.dmesg_restrict", "1", "only root reads the kernel log (addresses, hardware, firewall logs)"),
    sysctl("kernel.yama.ptrace_scope", "1", "a process may trace only its own children: one compromised service cannot read another's memory"),
    sysctl("kernel.unprivileged_bpf_disabled", "1", "BPF programs need root; Docker loads none unprivileged"),
    sysctl("net.core.bpf_jit_harden", "2", "JIT-compiled BPF is blinded against spraying"),
    sysctl("kernel.sysrq", "0", "no magic SysRq from a console or /proc"),
    sysctl("kernel.ctrl-alt-del", "0", "Ctrl-Alt-Del on the (KVM) console goes to init, never straight to a hard reboot", "availability"),
    sysctl("kernel.randomize_va_space", "2", "full address-space randomisation"),
    sysctl("kernel.core_uses_pid", "1", "a core file, if one is ever allowed, never overwrites another"),
    sysctl("fs.suid_dumpable", "0", "a setuid process never dumps core (its memory holds another user's secrets)", "access-control"),
    sysctl("fs.protected_hardlinks", "1", "no hard link to a file the user does not own (classic /tmp races)", "access-control"),
    sysctl("fs.protected_symlinks", "1", "no following another user's symlink in a sticky directory", "access-control"),
    sysctl("fs.protected_fifos", "2", "no writing to another user's FIFO in a sticky directory", "access-control"),
    sysctl("fs.protected_regular", "2", "no writing to another user's file in a sticky directory", "access-control"),
    sysctl("dev.tty.ldisc_autoload", "0", "no line discipline module is loaded on demand by an unprivileged user"),
];

/** Per network namespace, so a container test host can set and prove them; the rest belong to the kernel's owner. */
export const isNamespacedSysctl = (key: string): boolean => /^net\.ipv[46]\./.test(key);

export interface MountSetting extends Setting {
    target: string;
    /** The fstab line the layer writes (the boot-time source of the options). */
    fstab: string;
    /** Options `findmnt` must show once mounted. */
    options: readonly string[];
}

/** The group whose members may see every process in /proc (none of the control plane's users needs to). */
export const PROC_GROUP = "proc";

export const MOUNTS: readonly MountSetting[] = [
    {
        target: "/tmp", fstab: "/tmp /tmp none bind,nodev,nosuid 0 0", options: ["nodev", "nosuid"],
        reason: "no device files or setuid programs from the world-writable directory; exec stays (installers and apt hooks run scripts from /tmp)",
        article32: "integrity",
    },
    {
        target: "/dev/shm", fstab: "tmpfs /dev/shm tmpfs defaults,nodev,nosuid,noexec 0 0", options: ["nodev", "nosuid", "noexec"],
        reason: "shared memory holds data, never programs",
        article32: "integrity",
    },
    {
        target: "/proc", fstab: `proc /proc proc defaults,hidepid=invisible,gid=${PROC_GROUP} 0 0`, options: ["hidepid=invisible", `gid=${PROC_GROUP}`],
        reason: "a user sees only their own processes and their command lines (a secret on a command line stays private); root, Docker and the observer's sudo probes see all",
        article32: "access-control",
    },
];

/**
 * Setuid/setgid bits the control plane does not need (reviewed: none is used by the layers, Docker, the
 * services, Coolify, Tailscale or the observer). sudo, su (restricted by PAM), passwd, mount/umount and
 * unix_chkpwd (PAM) keep theirs. Removed with dpkg-statoverride so a package upgrade does not put them back.
 */
export const SUID_REMOVED: readonly string[] = [
    "/usr/bin/chfn", "/usr/bin/chsh", "/usr/bin/newgrp", "/usr/bin/gpasswd", "/usr/bin/chage", "/usr/bin/expiry",
    "/usr/bin/pkexec", "/usr/bin/at", "/usr/bin/fusermount3", "/usr/bin/wall", "/usr/bin/bsd-write",
    "/usr/lib/openssh/ssh-keysign", "/usr/bin/dotlockfile",
];

export const SUID_REASON = "a setuid program nobody here uses is only attack surface (pkexec: CVE-2021-4034; ssh-keysign: host-based auth is off)";

/**
 * The setuid/setgid programs reviewed and kept: the layer leaves their bits, and the observer's drift rules
 * report any other setuid/setgid file (a new one is how a foothold becomes root again). Debian bookworm's and
 * trixie's stock set is these and SUID_REMOVED; the Ubuntu entries are its server image's stock extras.
 */
export const SUID_KEPT: readonly { path: string; reason: string }[] = [
    { path: "/usr/bin/sudo", reason: "the runner's and the admins' one way to root, logged by sudo and audited" },
    { path: "/usr/bin/su", reason: "kept for the su group only (pam_wheel)" },
    { path: "/usr/bin/passwd", reason: "a user changes their own password" },
    { path: "/usr/bin/mount", reason: "util-linux checks fstab's user option itself" },
    { path: "/usr/bin/umount", reason: "the same for unmounting" },
    { path: "/usr/sbin/unix_chkpwd", reason: "PAM checks a password from a process that is not root (setgid shadow: reads /etc/shadow only)" },
    { path: "/usr/bin/ssh-agent", reason: "setgid _ssh (Debian): other processes of the same user cannot trace the agent" },
    { path: "/usr/sbin/pam_extrausers_chkpwd", reason: "Ubuntu: unix_chkpwd's counterpart for libnss-extrausers" },
    { path: "/usr/lib/dbus-1.0/dbus-daemon-launch-helper", reason: "Ubuntu: the system bus starts bus-activated services (logind, polkit)" },
    { path: "/usr/lib/polkit-1/polkit-agent-helper-1", reason: "Ubuntu: polkit authenticates a user for systemctl; pkexec itself is removed" },
    { path: "/usr/bin/crontab", reason: "Ubuntu: setgid crontab, writes a user's crontab into the spool only cron reads" },
    { path: "/usr/lib/snapd/snap-confine", reason: "Ubuntu: confines snaps (remove snapd to drop it)" },
    { path: "/usr/lib/x86_64-linux-gnu/utempter/utempter", reason: "Ubuntu: setgid utmp, records terminal sessions for tmux and screen" },
];

/** Kernel modules refused (`install <m> /bin/false`): filesystems and protocols nothing here mounts or speaks. */
export const MODULES_DISABLED: readonly { name: string; reason: string }[] = [
    ...["cramfs", "freevxfs", "jffs2", "hfs", "hfsplus", "udf"].map((name) => ({ name, reason: "a filesystem nothing here mounts: a parser bug is all it brings" })),
    { name: "usb-storage", reason: "no removable disks on a hosted server: data cannot leave or arrive on a stick" },
    { name: "firewire-core", reason: "FireWire DMA reads memory" },
    ...["dccp", "sctp", "rds", "tipc"].map((name) => ({ name, reason: "a network protocol nothing here speaks (each has had remote kernel bugs)" })),
];


/** login.defs keys the layer sets (the rest of the file stays the distribution's). */
export const LOGIN_DEFS: readonly { key: string; value: string; reason: string }[] = [
    { key: "UMASK", value: "027", reason: "new files are not world-readable (home directories, logs a user writes)" },
    { key: "PASS_MAX_DAYS", value: "365", reason: "a password, where a local account has one, is changed at least yearly" },
    { key: "PASS_MIN_DAYS", value: "1", reason: "a changed password cannot be changed straight back" },
    { key: "PASS_WARN_AGE", value: "14", reason: "two weeks' warning before a password expires" },
    { key: "SHA_CRYPT_MIN_ROUNDS", value: "65536", reason: "a stolen shadow file costs more to brute-force" },
    { key: "SHA_CRYPT_MAX_ROUNDS", value: "65536", reason: "the same, as a fixed cost" },
];

/** pam_faillock: lock a local account after repeated failed passwords (keys never count). */
export const FAILLOCK = { deny: 5, unlockTime: 900, failInterval: 900 };

/** Only members of this group may use `su` (admins use sudo; su is the one path around its log). */
export const SU_GROUP = "sudo";

/** The login banner (/etc/issue, /etc/issue.net): states that access is restricted and recorded. */
export const LOGIN_BANNER = "Private system: authorised access only. Activity is monitored and recorded, and may be used as evidence.";

/** Interactive shells idle this long are closed (seconds). */
export const SHELL_TIMEOUT_SECONDS = 900;

export const HARDENING_PACKAGES = ["libpam-modules", "kmod", "procps"];
export const AUDIT_PACKAGES = ["auditd"];
