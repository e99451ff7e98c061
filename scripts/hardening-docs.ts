// The hardening and audit layers' generated regions of docs/hardening.md: every setting from the one table
// (components/model/hardening.ts, components/render/audit.ts) with its reason and its Article 32 row.
import {
    FAILLOCK, LOGIN_BANNER, LOGIN_DEFS, MODULES_DISABLED, MOUNTS, SHELL_TIMEOUT_SECONDS, SU_GROUP, SUID_REASON, SUID_REMOVED, SYSCTLS,
    isNamespacedSysctl, type Article32,
} from "../components/model/hardening";
import { AUDIT_LOG_MB, AUDIT_RULES } from "../components/render/audit";

const table = (head: string[], rows: string[][]): string =>
    [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
const code = (s: string | number) => `\`${String(s).replaceAll("|", "\\|")}\``;

/** The register row (policy/article-32-measures.md) each kind of setting serves. */
const ARTICLE_32: Record<Article32, string> = {
    "access-control": "(b) confidentiality: least privilege on the host",
    integrity: "(b) integrity: the host's attack surface",
    logging: "(b) integrity / (d) testing: a record of what happened",
    availability: "(b) availability and resilience",
};

function sysctls(): string {
    return table(["key", "value", "proven on a running kernel here", "why", "Art. 32(1)"], SYSCTLS.map((s) => [
        code(s.key), code(s.value), isNamespacedSysctl(s.key) ? "yes (the test host's own network namespace)" : "no: file and verify logic only",
        s.reason, ARTICLE_32[s.article32],
    ]));
}

function mounts(): string {
    return table(["mount", "options", "why", "Art. 32(1)"], MOUNTS.map((m) => [code(m.target), code(m.options.join(",")), m.reason, ARTICLE_32[m.article32]]));
}

function accounts(): string {
    return [
        table(["`login.defs`", "value", "why"], LOGIN_DEFS.map((d) => [code(d.key), code(d.value), d.reason])),
        "",
        `PAM \`pam_faillock\`: ${FAILLOCK.deny} failed passwords within ${FAILLOCK.failInterval} s lock a local account for ${FAILLOCK.unlockTime} s ` +
        "(keys never count: SSH takes keys only). `su` is for members of " + `${code(SU_GROUP)} only (\`pam_wheel\`). Interactive shells close after ` +
        `${SHELL_TIMEOUT_SECONDS} s idle (\`TMOUT\`, read-only). Core dumps are off four ways: \`* hard core 0\`, \`ulimit -c 0\` in login shells, systemd-coredump's ` +
        "`Storage=none` and `fs.suid_dumpable = 0`. `/etc/issue` and `/etc/issue.net` say: " + `"${LOGIN_BANNER}" ` +
        "All of these serve (b) confidentiality: least privilege on the host.",
    ].join("\n");
}

function suid(): string {
    return [`${SUID_REASON}. Removed with \`dpkg-statoverride\` (a package upgrade keeps them off); (b) integrity:`, "",
        SUID_REMOVED.map(code).join(", ")].join("\n");
}

function modules(): string {
    return table(["module", "why"], MODULES_DISABLED.map((m) => [code(m.name), m.reason]));
}

function auditRules(): string {
    return [
        table(["rule", "why"], AUDIT_RULES.map((r) => [code(r.rule), r.reason])),
        "",
        `Logs rotate at ${AUDIT_LOG_MB} MB; \`demesne:hardening.auditLogFiles\` of them are kept. With ` +
        "`demesne:hardening.auditImmutable: true` the rules end in `-e 2`. All rules serve (b) integrity / (d) testing: a record of what happened.",
    ].join("\n");
}

export const HARDENING_REGIONS: Record<string, () => string> = {
    "hardening-sysctls": sysctls,
    "hardening-mounts": mounts,
    "hardening-accounts": accounts,
    "hardening-suid": suid,
    "hardening-modules": modules,
    "audit-rules": auditRules,
};
