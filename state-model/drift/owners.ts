// Which layer of a host owns each attribute of the probes' vocabulary, and how bad a difference in it is.
// Drift uses it to name the step that converges a finding; `--against applied` to keep only the
// expectations of layers whose applied content is the config's.
import type { StepClassName } from "../../components/model/tiers";

export type Severity = "critical" | "high" | "medium" | "low";

export const OWNERS: Record<string, { layer: StepClassName | null; severity: Severity }> = {
  sshd: { layer: "ssh", severity: "high" },
  "ufw.status": { layer: "firewall", severity: "high" },
  "ufw.default": { layer: "firewall", severity: "high" },
  "ufw.rule": { layer: "firewall", severity: "high" },
  "iptables.policy": { layer: "firewall", severity: "high" },
  "iptables.rule": { layer: "firewall", severity: "high" },
  "sudoers.file": { layer: "baseline", severity: "high" },
  user: { layer: "baseline", severity: "high" },
  group: { layer: "baseline", severity: "high" },
  package: { layer: "baseline", severity: "medium" },
  listener: { layer: null, severity: "high" },
  container: { layer: "service", severity: "medium" },
  image: { layer: "service", severity: "medium" },
  tailscale: { layer: "tailscale", severity: "medium" },
  unit: { layer: null, severity: "medium" },
  mount: { layer: null, severity: "medium" },
  blockdevice: { layer: null, severity: "low" },
  // sysctl's severity is per key (hardening.ts): rp_filter, redirects and ptrace high, the rest this.
  sysctl: { layer: "hardening", severity: "medium" },
  suid: { layer: "hardening", severity: "high" },
  audit: { layer: "audit", severity: "critical" },
  "audit.rule": { layer: "audit", severity: "high" },
  "audit.rules": { layer: "audit", severity: "high" },
  // The backup rule (backup.ts) names its own remedy: a backup run on the host, not a layer run.
  backup: { layer: null, severity: "critical" },
  reachable: { layer: null, severity: "high" },
  probe: { layer: null, severity: "medium" },
};
