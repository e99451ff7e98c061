// The layers of one host as plain step specs (pure: no resources), in the order they run.
// Rendering lives in ../render; this file decides which layers a host gets and with what.
import { StepSpec } from "../actuator/steps";
import { secretParamsOf } from "../model/layer-params";
import { ResolvedHost, StackConfig } from "../config/load";
import { LAYER_SCRIPT_NAMES, backupRunScript, computeScriptCatalogue, runnerScript } from "./scripts";
import { renderSshDropin, sshdExpectations } from "../render/sshd";
import { renderRevokedKeys } from "../render/revoked-keys";
import { renderSshThrottleBlock } from "../render/ssh-throttle";
import { renderSudoers } from "../render/sudoers";
import { renderDockerUserBlock, renderUfwDefaults, renderUser6Rules, renderUserRules, UFW_LOGLEVEL } from "../render/ufw";
import { renderCoolifyOverride } from "../render/coolify";
import { TAILNET_TAGS } from "../model/segmentation";
import { AUDIT_PACKAGES, HARDENING_PACKAGES, PROC_GROUP } from "../model/hardening";
import {
    renderCoreLimits, renderCoredumpConf, renderFaillockConf, renderFstabLines, renderLoginDefs, renderModprobeConf,
    renderMountExpect, renderPamFaillockProfiles, renderSuidList, renderSysctlConf, renderSysctlExpect, renderShellProfile, SU_PAM_LINE,
    renderFaillockTmpfiles, renderIssue,
} from "../render/hardening";
import { renderAuditdSettings, renderAuditRules } from "../render/audit";
import { TYPES } from "../model/types";
import { DATA_DISK } from "../model/backup";
import { backupSources } from "../model/backup-sources";
import {
    renderBackupConf, renderBackupKnownHosts, renderBackupSshConfig, renderBackupUnits, renderSources, repositoryOf,
} from "../render/backup";
import { OBSERVER_USER, renderObserveScript, renderObserverAuthorizedKey, renderObserverSudoers } from "../model/observer";

export const BASELINE_PACKAGES = [
    "ca-certificates", "curl", "iproute2", "jq", "openssh-server", "sudo", "ufw", "unattended-upgrades",
];
export const DOCKER_PACKAGES = ["docker.io", "docker-compose-v2"];
export const BACKUP_PACKAGES = ["restic", "openssh-client"];
export const NVIDIA_PACKAGES = ["nvidia-driver-550-server", "nvidia-utils-550-server"];

const AUTO_UPGRADES = 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n';

/** Docker defaults: iptables backend kept, published ports default to loopback. */
export const DOCKER_DAEMON = {
    iptables: true,
    ip: "127.0.0.1",
    "live-restore": true,
    "log-driver": "local",
    "log-opts": { "max-size": "20m", "max-file": "5" },
};


export function allowUsers(cfg: StackConfig<unknown>, host: ResolvedHost): string[] {
    // The observer logs in too, but its key can only run the read-only probe script.
    return [...new Set([cfg.deployUser, host.bootstrapUser, ...cfg.adminUsers, OBSERVER_USER])];
}

export function hostLayerSteps(cfg: StackConfig<unknown>, host: ResolvedHost): StepSpec[] {
    const base = { host: host.name, hostType: host.hostType, secretParams: [] as string[], parentTypes: [TYPES.Host] };
    const step = (layer: StepSpec["stepClass"] & StepSpec["script"], params: Record<string, string>, extra: Partial<StepSpec> = {}): StepSpec =>
        ({ ...base, name: `${host.name}-${layer}`, stepClass: layer, script: layer, params, runAs: "deploy", ...extra });
    const catalogue = computeScriptCatalogue();
    const ufw = { adminRanges: cfg.adminRanges };
    const pam = renderPamFaillockProfiles();
    const steps: StepSpec[] = [
        step("baseline", {
            PACKAGES: BASELINE_PACKAGES.join(" "),
            AUTO_UPGRADES,
            DEPLOY_USER: cfg.deployUser,
            AUTHORIZED_KEYS: `${cfg.sshPublicKeys.join("\n")}\n`,
            RUNNER: runnerScript().text,
            ALLOWLIST: `${LAYER_SCRIPT_NAMES.filter((n) => n !== "baseline").map((n) => catalogue[n]).join("\n")}\n`,
            SUDOERS: renderSudoers(cfg.deployUser),
            OBSERVER_USER,
            OBSERVER_KEYS: cfg.observerPublicKeys.map(renderObserverAuthorizedKey).join(""),
            OBSERVE_SCRIPT: renderObserveScript(),
            OBSERVER_SUDOERS: renderObserverSudoers(),
        }, { runAs: "bootstrap" }),
        step("ssh", {
            DROPIN: renderSshDropin({ allowUsers: allowUsers(cfg, host) }),
            EXPECT: `${sshdExpectations({ allowUsers: allowUsers(cfg, host) }).join("\n")}\n`,
            REVOKED_KEYS: renderRevokedKeys(cfg.revokedSshKeys),
            DEADMAN_SECONDS: String(host.deadManSeconds),
        }, { deadManSeconds: host.deadManSeconds }),
        step("tailscale", {
            APT_SOURCE: "deb [signed-by=/usr/share/keyrings/tailscale-archive-keyring.gpg] https://pkgs.tailscale.com/stable/ubuntu noble main\n",
            APT_KEY_URL: "https://pkgs.tailscale.com/stable/ubuntu/noble.noarmor.gpg",
            APT_KEY_SHA256: cfg.tailnet.aptKeySha256,
            TAGS: TAILNET_TAGS.servers,
            HOSTNAME: host.name,
            // Empty: Tailscale's own coordination server (no --login-server flag).
            CONTROL_URL: cfg.tailnet.controlUrl ?? "",
        }, { secretParams: [...secretParamsOf("tailscale")] }),
        step("firewall", {
            BEFORE_BLOCK: renderSshThrottleBlock(cfg.adminRanges, 4),
            BEFORE6_BLOCK: renderSshThrottleBlock(cfg.adminRanges, 6),
            AFTER_BLOCK: renderDockerUserBlock(4),
            AFTER6_BLOCK: renderDockerUserBlock(6),
            USER_RULES: renderUserRules(ufw),
            USER6_RULES: renderUser6Rules(ufw),
            UFW_DEFAULTS: renderUfwDefaults(),
            UFW_LOGLEVEL,
            DEADMAN_SECONDS: String(host.deadManSeconds),
        }, { deadManSeconds: host.deadManSeconds }),
        step("hardening", {
            PACKAGES: HARDENING_PACKAGES.join(" "),
            SYSCTL_CONF: renderSysctlConf(),
            SYSCTL_EXPECT: renderSysctlExpect(),
            MODPROBE_CONF: renderModprobeConf(),
            CORE_LIMITS: renderCoreLimits(),
            COREDUMP_CONF: renderCoredumpConf(),
            FAILLOCK_CONF: renderFaillockConf(),
            PAM_FAILLOCK: pam.main,
            PAM_FAILLOCK_NOTIFY: pam.notify,
            SU_PAM_LINE: `${SU_PAM_LINE}\n`,
            SHELL_PROFILE: renderShellProfile(),
            FAILLOCK_TMPFILES: renderFaillockTmpfiles(),
            ISSUE: renderIssue(),
            LOGIN_DEFS: renderLoginDefs(),
            FSTAB: renderFstabLines(),
            MOUNT_EXPECT: renderMountExpect(),
            PROC_GROUP,
            SUID_LIST: renderSuidList(),
            DEADMAN_SECONDS: String(host.deadManSeconds),
        }, { deadManSeconds: host.deadManSeconds }),
        step("audit", {
            PACKAGES: AUDIT_PACKAGES.join(" "),
            RULES: renderAuditRules({ immutable: cfg.hardening.auditImmutable }),
            AUDITD_SETTINGS: renderAuditdSettings({ logFiles: cfg.hardening.auditLogFiles }),
            IMMUTABLE: cfg.hardening.auditImmutable ? "yes" : "no",
        }),
    ];
    if (host.dataDisk) {
        steps.push(step("data-disk", {
            DEVICE: host.dataDisk.device,
            MAPPER: DATA_DISK.mapper,
            MOUNTPOINT: DATA_DISK.mountpoint,
            BINDS: `${DATA_DISK.binds.join("\n")}\n`,
        }, { secretParams: [...secretParamsOf("data-disk")] }));
    }
    steps.push(
        step("docker", {
            PACKAGES: DOCKER_PACKAGES.join(" "),
            DAEMON_JSON: `${JSON.stringify(DOCKER_DAEMON, null, 2)}\n`,
        }),
    );
    if (cfg.coolify?.enabled && cfg.coolify.host === host.name) {
        steps.push(step("coolify", {
            INSTALLER_URL: cfg.coolify.installerUrl,
            INSTALLER_SHA256: cfg.coolify.installerSha256,
            CUSTOM_COMPOSE: renderCoolifyOverride(),
            SERVE_PORT: String(cfg.coolify.servePort),
        }, { secretParams: [...secretParamsOf("coolify")] }));
    }
    if (cfg.backup) {
        const units = renderBackupUnits();
        steps.push(step("backup", {
            PACKAGES: BACKUP_PACKAGES.join(" "),
            CONF: renderBackupConf(cfg.backup.target, host.name),
            SOURCES: renderSources(backupSources(cfg, host.name)),
            SSH_CONFIG: renderBackupSshConfig(cfg.backup.target),
            KNOWN_HOSTS: renderBackupKnownHosts(cfg.backup.target),
            RUN_SCRIPT: backupRunScript().text,
            UNITS: Object.entries(units).map(([file, text]) => `${file}\n${Buffer.from(text).toString("base64")}`).join("\n") + "\n",
        }, { secretParams: [...secretParamsOf("backup")] }));
    }
    if (cfg.gpuTier && host.gpu) {
        steps.push(step("nvidia", { PACKAGES: NVIDIA_PACKAGES.join(" ") }));
        steps.push(step("worker", { WORKER_USER: "inference", MODEL_DIR: "/srv/models" }));
    }
    return steps;
}

/**
 * The host's pending restores (demesne:restores), each a T3 step of its own: `<host>-restore-<source>`, approved
 * under `<host>/restore-<source>`. They run after the services (program.ts), from the snapshot's own host's
 * repository, with the credentials the backup layer installed.
 */
export function restoreSteps(cfg: StackConfig<unknown>, host: ResolvedHost): StepSpec[] {
    if (!cfg.backup) return [];
    const sources = backupSources(cfg, host.name);
    return cfg.restores.filter((r) => r.host === host.name).map((r) => {
        const source = sources.find((s) => s.name === r.service);
        // The config check refused a restore naming no source; a caller that skipped it still never restores blind.
        if (!source) throw new Error(`demesne:restores: ${host.name} has no backed-up source "${r.service}"`);
        return {
            host: host.name, hostType: host.hostType, name: `${host.name}-restore-${r.service}`, stepClass: "restore", script: "restore",
            runAs: "deploy", secretParams: [...secretParamsOf("restore")], parentTypes: [TYPES.Host], approvalLayer: `restore-${r.service}`,
            params: {
                SOURCE: `${renderSources([source])}`,
                SNAPSHOT: r.snapshot,
                // A new request is a new step content: its own approval, and a run even for a snapshot restored before.
                REQUESTED: r.requested ?? "",
                SOURCE_HOST: r.fromHost ?? host.name,
                REPOSITORY: repositoryOf(cfg.backup!.target, r.fromHost ?? host.name),
            },
        } satisfies StepSpec;
    });
}
