// The hardening and audit layers' tables (components/model/hardening.ts, components/render/audit.ts) against
// what the observer saw: sysctl values, the managed mounts' options, setuid/setgid bits, and whether the kernel
// audits with demesne's rules. Applied to a host whose desired state includes those layers (desired.ts); a
// baseline compares the same facts plainly.
//
// Three things are reported as notes, not findings, because no run of the layer could change them:
//  - a key this kernel does not have (the layer skips it too: "this kernel has no …");
//  - a kernel-wide key that differs where /proc/sys is mounted read-only: the host is a container and the kernel
//    belongs to the machine it runs in (the layer writes the file and leaves the value, saying so). The network
//    keys are per network namespace, so a container's own are real drift;
//  - an audit probe the kernel refused (a container again): the audit layer cannot run there either, and says so.
// A probe that did not run (an observe script from before these probes) or failed leaves its rules unchecked,
// said by one finding, never by a finding per setting.
import { AUDIT_RULES } from "../../components/render/audit";
import { MOUNTS, SUID_KEPT, SUID_REASON, SUID_REMOVED, SYSCTLS } from "../../components/model/hardening";
import type { StepClassName } from "../../components/model/tiers";
import { AUDIT_REFUSED, auditRuleKey } from "../observe/parse";
import type { Severity } from "./owners";

/** Which layers' tables a host is held to (what its desired state includes). */
export interface HardeningRules {
  hardening?: boolean;
  audit?: { immutable: boolean };
}

export interface RuleFinding {
  attribute: string;
  key: string;
  change: "changed" | "missing" | "unexpected" | "unobservable";
  desired: unknown;
  observed: unknown;
  severity: Severity;
  why: string;
  /** The layer whose replace converges it; null: by hand. */
  layer: StepClassName | null;
}

export interface HostFacts {
  host: string;
  facts: { attribute: string; key: string; value: unknown }[];
  /** Each probe's last status as recorded (`ok`, `unavailable[: why]`, `failed: why`); absent: never ran. */
  probes: Record<string, string>;
}

/** Spoofing, rerouting and one service reading another's memory: what an attacker on the link or the host wants first. */
const HIGH_SYSCTL = /\.(rp_filter|accept_redirects|secure_redirects|send_redirects|accept_source_route)$|^kernel\.yama\.ptrace_scope$/;

export const sysctlSeverity = (key: string): Severity => (HIGH_SYSCTL.test(key) ? "high" : "medium");

const KEPT = new Set(SUID_KEPT.map((k) => k.path));

interface MountValue { readOnly?: boolean; options?: string[] }

/** The mount a path resolves to: the longest mounted target it lies under. */
function mountOf(facts: HostFacts["facts"], file: string): MountValue | undefined {
  const hit = facts.filter((f) => f.attribute === "mount" && (file === f.key || file.startsWith(f.key === "/" ? "/" : `${f.key}/`)))
    .sort((a, b) => b.key.length - a.key.length)[0];
  return hit?.value as MountValue | undefined;
}

const sysctlPath = (key: string) => `/proc/sys/${key.replaceAll(".", "/")}`;

function probeUnchecked(h: HostFacts, probe: string, what: string): RuleFinding[] {
  const status = h.probes[probe];
  if (status === "ok" || status?.startsWith("failed")) return []; // a failure is reported with the other probes'
  return [{
    attribute: "probe", key: probe, change: "unobservable", desired: "ok", observed: status ?? null, severity: "medium", layer: null,
    why: status === undefined ? `the host's observe script has no ${probe} probe (an older baseline layer): ${what} unchecked; replace the baseline layer`
      : `${probe} is ${status}: ${what} unchecked`,
  }];
}

function sysctls(h: HostFacts, notes: string[]): RuleFinding[] {
  if (h.probes.sysctl !== "ok") return probeUnchecked(h, "sysctl", "the kernel settings are");
  const seen = new Map(h.facts.filter((f) => f.attribute === "sysctl").map((f) => [f.key, f.value as string]));
  const out: RuleFinding[] = [];
  const absent: string[] = [];
  const elsewhere: string[] = [];
  for (const s of SYSCTLS) {
    const have = seen.get(s.key);
    if (have === undefined) absent.push(s.key);
    else if (have !== s.value) {
      if (mountOf(h.facts, sysctlPath(s.key))?.readOnly) elsewhere.push(`${s.key} = ${have}`);
      else out.push({ attribute: "sysctl", key: s.key, change: "changed", desired: s.value, observed: have, severity: sysctlSeverity(s.key), why: s.reason, layer: "hardening" });
    }
  }
  if (absent.length) notes.push(`${h.host}: this kernel has no ${absent.join(", ")} (the hardening layer cannot set them either); left out`);
  if (elsewhere.length) {
    notes.push(`${h.host}: ${elsewhere.join(", ")} differ from the hardening table, but /proc/sys is read-only here: the kernel belongs to the machine this host runs in (a container); left out`);
  }
  return out;
}

/** `gid=NAME` as findmnt shows it: the group's number (from the groups probe). */
function resolveOption(h: HostFacts, option: string): string {
  const m = /^gid=(\D.*)$/.exec(option);
  if (!m) return option;
  const g = h.facts.find((f) => f.attribute === "group" && f.key === m[1])?.value as { gid?: number } | undefined;
  return g?.gid === undefined ? option : `gid=${g.gid}`;
}

function mounts(h: HostFacts, notes: string[]): RuleFinding[] {
  if (h.probes.mounts !== "ok") return probeUnchecked(h, "mounts", "the mount options are");
  return MOUNTS.flatMap((m): RuleFinding[] => {
    const fact = h.facts.find((f) => f.attribute === "mount" && f.key === m.target);
    if (!fact) {
      return [{ attribute: "mount", key: m.target, change: "missing", desired: m.options, observed: null, severity: "medium", why: m.reason, layer: "hardening" }];
    }
    const have = (fact.value as MountValue).options;
    if (!have) {
      notes.push(`${h.host}: ${m.target}'s options were recorded by an older demesne, which did not keep them; observe again`);
      return [];
    }
    const lacking = m.options.filter((o) => !have.includes(resolveOption(h, o)));
    if (!lacking.length) return [];
    return [{
      attribute: "mount", key: m.target, change: "changed", desired: m.options, observed: have, severity: "medium", layer: "hardening",
      why: `mounted without ${lacking.join(",")}: ${m.reason}`,
    }];
  });
}

function setuid(h: HostFacts): RuleFinding[] {
  if (h.probes.suid !== "ok") return probeUnchecked(h, "suid", "the setuid/setgid programs are");
  return h.facts.filter((f) => f.attribute === "suid" && !KEPT.has(f.key)).map((f): RuleFinding => SUID_REMOVED.includes(f.key)
    ? { attribute: "suid", key: f.key, change: "unexpected", desired: null, observed: f.value, severity: "high", layer: "hardening", why: `its setuid/setgid bit is back: ${SUID_REASON}` }
    : {
      attribute: "suid", key: f.key, change: "unexpected", desired: null, observed: f.value, severity: "high", layer: null,
      why: "a setuid/setgid program on neither the kept nor the removed list (components/model/hardening.ts): a new one is how a foothold becomes root again",
    });
}

function auditd(h: HostFacts, want: { immutable: boolean }, notes: string[]): RuleFinding[] {
  const status = h.probes.audit;
  if (status?.startsWith(`unavailable: ${AUDIT_REFUSED}`)) {
    notes.push(`${h.host}: ${AUDIT_REFUSED} (a container: the kernel belongs to the machine it runs in); the audit layer cannot run on this host; left out`);
    return [];
  }
  const finding = (change: RuleFinding["change"], desired: unknown, observed: unknown, severity: Severity, why: string, attribute = "audit", key = ""): RuleFinding =>
    ({ attribute, key, change, desired, observed, severity, why, layer: "audit" });
  if (status === "unavailable") {
    return [finding("missing", "auditd", null, "critical", "auditctl is not installed: nothing records privileged actions (Article 32); the audit layer installs auditd")];
  }
  if (status !== "ok") return probeUnchecked(h, "audit", "auditd is");
  const v = h.facts.find((f) => f.attribute === "audit")?.value as { enabled?: number; daemon?: boolean } | undefined;
  const out: RuleFinding[] = [];
  const enabled = want.immutable ? [2] : [1, 2];
  if (!v || v.enabled === 0) out.push(finding("changed", { enabled }, v ?? null, "critical", "auditing is off in the kernel (enabled 0): nothing records privileged actions"));
  else if (!enabled.includes(v.enabled ?? -1)) out.push(finding("changed", { enabled }, v, "high", "the rules are not immutable yet: a reboot loads -e 2 (hardening.auditImmutable)"));
  if (v && v.daemon === false) out.push(finding("changed", { daemon: true }, v, "critical", "auditd is not running: the kernel's audit records reach no audit log"));
  if (h.probes["audit-rules"] !== "ok") return [...out, ...probeUnchecked(h, "audit-rules", "the loaded audit rules are")];
  const loaded = h.facts.filter((f) => f.attribute === "audit.rule").map((f) => f.key);
  // By key and count, as the audit layer's own verify does: the kernel lists a rule in its own order and spelling.
  const keys = [...new Set(AUDIT_RULES.map((r) => auditRuleKey(r.rule)!))];
  for (const key of keys) {
    const wantRules = AUDIT_RULES.filter((r) => auditRuleKey(r.rule) === key).map((r) => r.rule);
    const have = loaded.filter((l) => auditRuleKey(l) === key);
    // Counts, not the rules' text: a report redacts `key=…` as an assignment. (Not `audit.key`: that reads as a credential's name.)
    if (have.length < wantRules.length) {
      out.push(finding("missing", wantRules.length, have.length, "high", `${have.length} of ${wantRules.length} audit rules with key ${key} are loaded: ${AUDIT_RULES.find((r) => r.rule === wantRules[0])!.reason}`, "audit.rules", key));
    }
  }
  return out;
}

/** The findings and notes of one host against the tables its desired state holds it to. */
export function hardeningFindings(h: HostFacts, rules: HardeningRules): { findings: RuleFinding[]; notes: string[] } {
  const notes: string[] = [];
  const findings = [
    ...(rules.hardening ? [...sysctls(h, notes), ...mounts(h, notes), ...setuid(h)] : []),
    ...(rules.audit ? auditd(h, rules.audit, notes) : []),
  ];
  return { findings, notes };
}
