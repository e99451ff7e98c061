// Drift: the hosts as last observed against a desired state, as findings. Findings are facts too (subject
// `finding:<source>:<host>`), so "when did it start, when was it fixed, as known when" is a query. Drift
// never changes a host: each finding names the change that would converge it, for a person to run.
import { canonicalJson } from "../../components/model/hash";
import { isLoopback, NEVER_PUBLIC_PORTS, SSH_PORT, TAILSCALE_DIRECT_UDP_PORT } from "../../components/model/ports";
import { STEP_CLASSES, type StepClassName, type Tier } from "../../components/model/tiers";
import type { Queryable, Store } from "../db/store";
import type { FactOp } from "../facts/types";
import { redactSecrets } from "../facts/redact";
import { recordBatch, sha256Hex } from "../facts/writer";
import { hostSubject } from "../observe/observe";
import { asOf } from "../queries";
import { OBSERVATION_ATTRIBUTES } from "./baseline";
import type { DesiredState, Expected } from "./desired";
import { SUDOERS_PATH } from "../../components/render/sudoers";
import { OBSERVER_SUDOERS_PATH } from "../../components/model/observer";
import { containerViolation, type ContainerFactValue, type Violation } from "./containers";
import { backupFindings } from "./backup";
import { hardeningFindings, sysctlSeverity } from "./hardening";
import { SUID_REMOVED } from "../../components/model/hardening";
import { isIgnored, type IgnoreRule } from "./ignore";
import { OWNERS, type Severity } from "./owners";

export type Change = "changed" | "missing" | "unexpected" | "violation" | "unreachable" | "unobservable";
export type { Severity };
const SEVERITY_ORDER: Severity[] = ["low", "medium", "high", "critical"];

export interface Finding {
  host: string;
  subject: string;
  attribute: string;
  key: string;
  /** Attribute path as a list, like driftctl's changelog path. */
  path: string[];
  change: Change;
  desired: unknown;
  observed: unknown;
  severity: Severity;
  /** What the host was compared with: desired:<stack> or baseline:<name>. */
  source: string;
  /** The layer whose step converges it (replace), or null when nothing in the program owns it. */
  layer: StepClassName | null;
  tier: Tier | null;
  converge: string;
  why?: string;
  firstSeen?: string;
}

export interface DriftReport {
  source: string;
  /** What the comparison left out, and why (e.g. a layer whose config changed since it was applied). */
  notes: string[];
  summary: { hosts: number; findings: number; changed: number; missing: number; unexpected: number; violations: number; unreachable: number; ignored: number };
  findings: Finding[];
}

/** What drift's converge commands name: the stack, and the baseline a finding was measured against. */
export interface ConvergeContext {
  stack?: string;
  baselineName?: string;
}

/** Files a layer writes whole: only a difference in these is converged by running that layer again. */
const MANAGED_SUDOERS = [SUDOERS_PATH, OBSERVER_SUDOERS_PATH];

/** What removing something a layer never created takes: a person, with this hint. */
const BY_HAND: Record<string, string> = {
  listener: "find the process (ss -ltnp) and stop it, or bind it to loopback",
  "sudoers.file": "remove or fix the file (visudo -c afterwards)",
  user: "find who created the account, then remove it (userdel)",
  group: "restore the group's members (gpasswd)",
  package: "find why it was installed, then apt-get purge it",
  unit: "stop and disable the unit",
  mount: "unmount it and fix /etc/fstab",
  suid: "find its package (dpkg -S), then remove the bit (dpkg-statoverride) or the program; or, once reviewed, add it to SUID_KEPT",
  "audit.rule": "delete the rule (auditctl -d …) and the file under /etc/audit/rules.d that loads it",
};

/** Does running the owning layer again converge this difference? Layers add what they own; they never remove strays. */
function layerConverges(attribute: string, key: string, change: Change): boolean {
  if (attribute === "sudoers.file") return MANAGED_SUDOERS.includes(key);
  if (["user", "group", "package", "container", "image", "audit.rule"].includes(attribute)) return change === "missing" || change === "changed";
  // The hardening layer takes back only the bits it removes.
  if (attribute === "suid") return SUID_REMOVED.includes(key);
  return true;
}

function convergeFor(
  host: string, attribute: string, key: string, change: Change, ctx: ConvergeContext, invariant: boolean, layer?: StepClassName | null,
): Pick<Finding, "layer" | "tier" | "converge"> {
  // A rule that knows which layer converges its finding says so; otherwise the attribute's owner does.
  const owner = layer !== undefined ? { layer } : OWNERS[attribute] ?? { layer: null, severity: "low" };
  // Blessing cannot make an invariant violation acceptable: it would still be reported.
  const rebless = ctx.baselineName && !invariant ? `; or, if the change is intended: demesne baseline bless ${ctx.baselineName}` : "";
  if (attribute === "reachable") {
    return { layer: null, tier: null, converge: "check the host, its address and its host key; nothing is run until it answers" };
  }
  if (attribute === "probe") {
    return { layer: null, tier: null, converge: "see the probe's error in `demesne fleet --subject host:<name>`; the observer layer (baseline) may need a replace" };
  }
  if (!owner.layer || (layer === undefined && !layerConverges(attribute, key, change))) {
    return { layer: null, tier: null, converge: `by hand (no demesne layer removes it): ${BY_HAND[attribute] ?? "change it back"}${rebless}` };
  }
  const tier = STEP_CLASSES[owner.layer].replace;
  const stack = ctx.stack ? ` --stack ${ctx.stack}` : "";
  // A command step has no Read: only a replace runs its script again (a plain --target changes nothing), and
  // it goes through the audited path like any change. `--replace` also replaces a lock-out-capable layer's
  // confirm step, or its dead-man would restore the drift.
  const cmd = `demesne plan${stack} --layer ${host}/${owner.layer} --replace, then demesne approve and demesne apply`;
  const approval = tier === "T3" ? " (T3: approve with its token)" : "";
  return { layer: owner.layer, tier, converge: `${cmd}${approval}${rebless}` };
}

/** Expected values may name only some fields of an object (a sudoers file's hash, not its rules). */
function matches(expected: unknown, observed: unknown): boolean {
  if (expected !== null && typeof expected === "object" && !Array.isArray(expected) && observed !== null && typeof observed === "object" && !Array.isArray(observed)) {
    return Object.entries(expected as Record<string, unknown>).every(([k, v]) => matches(v, (observed as Record<string, unknown>)[k]));
  }
  return canonicalJson(expected) === canonicalJson(observed);
}

/** `0.0.0.0:22`, `[::]:22`, `127.0.0.53%lo:53`, `*:22` → address and port. */
export function splitListen(local: string): { address: string; port: number } {
  const i = local.lastIndexOf(":");
  const address = local.slice(0, i).replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  return { address, port: Number(local.slice(i + 1)) };
}

const TAILNET_V4 = /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./;
const isTailnet = (a: string) => TAILNET_V4.test(a) || a.toLowerCase().startsWith("fd7a:115c:a1e0:");

/** The invariants that hold whatever the source: no unrestricted sudo, nothing listening publicly but SSH, no running container published beyond loopback or on a movable image name. */
function violations(facts: { attribute: string; key: string; value: unknown }[]): Map<string, Violation> {
  const out = new Map<string, Violation>();
  for (const f of facts) {
    if (f.attribute === "sudoers.file") {
      // Invariant 9 forbids passwordless root. A password-guarded `%sudo ALL=(ALL:ALL) ALL` is the
      // distribution's default /etc/sudoers: drift against a baseline shows any change to it.
      const grants = (f.value as { unrestricted?: string[] }).unrestricted ?? [];
      if (grants.includes("NOPASSWD: ALL")) {
        out.set(`${f.attribute}\u0000${f.key}`, { severity: "critical", why: "grants root without a password (NOPASSWD: ALL); praxis invariant 9" });
      }
    }
    if (f.attribute === "container") {
      const v = containerViolation(f.value as ContainerFactValue);
      if (v) out.set(`${f.attribute}\u0000${f.key}`, v);
    }
    if (f.attribute === "listener") {
      const [proto, local] = f.key.split(" ");
      const { address, port } = splitListen(local ?? "");
      if (isLoopback(address) || isTailnet(address) || address === "127.0.0.53" || address === "127.0.0.54") continue;
      if (proto === "tcp" && port === SSH_PORT) continue;
      if (proto === "udp" && port === TAILSCALE_DIRECT_UDP_PORT) continue;
      const mgmt = NEVER_PUBLIC_PORTS.find((p) => p.port === port);
      out.set(`${f.attribute}\u0000${f.key}`, {
        severity: mgmt ? "critical" : "high",
        why: mgmt ? `${mgmt.what} port ${port} listens on ${address || "all addresses"}; it must bind to loopback only`
          : `listens on ${address || "all addresses"}; only SSH may listen beyond loopback and the tailnet`,
      });
    }
  }
  return out;
}

export interface HostState {
  host: string;
  /** Never observed, or no answer on the last observation. */
  reachable: boolean | undefined;
  error?: string;
  failedProbes: string[];
  /** Each probe's last recorded status (`ok`, `unavailable[: why]`, `failed: why`). */
  probes?: Record<string, string>;
  facts: { attribute: string; key: string; value: unknown }[];
}

export async function hostState(db: Queryable, host: string): Promise<HostState> {
  return (await hostStates(db, [host]))[0]!;
}

/** Hosts read by one query: a query per host was most of a 1,000-host drift, one for all its peak memory. */
const HOSTS_PER_READ = 100;

/** Each host's state, in the order given, read a hundred hosts at a time. */
export async function hostStates(db: Queryable, hosts: readonly string[]): Promise<HostState[]> {
  const bySubject = new Map<string, Awaited<ReturnType<typeof asOf>>>(hosts.map((h) => [hostSubject(h), []]));
  const subjects = [...bySubject.keys()];
  for (let i = 0; i < subjects.length; i += HOSTS_PER_READ) {
    for (const f of await asOf(db, { subjects: subjects.slice(i, i + HOSTS_PER_READ) })) bySubject.get(f.subject)!.push(f);
  }
  return hosts.map((host) => {
    const all = bySubject.get(hostSubject(host))!;
    const get = (a: string) => all.find((f) => f.attribute === a)?.value;
    return {
      host,
      reachable: get("reachable") as boolean | undefined,
      error: get("reachable.error") as string | undefined,
      failedProbes: all.filter((f) => f.attribute === "probe" && String(f.value).startsWith("failed")).map((f) => f.key),
      probes: Object.fromEntries(all.filter((f) => f.attribute === "probe").map((f) => [f.key, String(f.value)])),
      facts: all.filter((f) => !OBSERVATION_ATTRIBUTES.has(f.attribute)),
    };
  });
}

const show = (attribute: string, v: unknown) => (v === undefined ? null : redactSecrets(v, attribute));

/** Compares hosts with a desired state at `now` (the backup rule's ages). Pure: the caller records and prints. */
export function computeDrift(desired: DesiredState, hosts: HostState[], ignore: IgnoreRule[], ctx: ConvergeContext, now = Date.now()): DriftReport {
  const findings: Finding[] = [];
  const notes = [...(desired.notes ?? [])];
  let ignored = 0;
  const add = (f: Omit<Finding, "subject" | "path" | "source" | "layer" | "tier" | "converge" | "severity"> & { severity?: Severity; invariant?: boolean; layer?: StepClassName | null; converge?: string }) => {
    // An invariant violation is never ignorable: an ignore rule accepts drift, not a broken invariant.
    if (!f.invariant && isIgnored(ignore, f.host, f.attribute, f.key)) {
      ignored += 1;
      return;
    }
    const owner = OWNERS[f.attribute];
    const { invariant, layer, converge, ...rest } = f;
    findings.push({
      ...rest,
      subject: hostSubject(f.host),
      path: f.key ? [f.attribute, f.key] : [f.attribute],
      source: desired.source,
      severity: f.severity ?? (f.attribute === "sysctl" ? sysctlSeverity(f.key) : owner?.severity) ?? "low",
      desired: show(f.attribute, f.desired),
      observed: show(f.attribute, f.observed),
      // A rule that knows the remedy (the backup rule: a command on the host) names it itself.
      ...(converge ? { layer: layer ?? null, tier: null, converge } : convergeFor(f.host, f.attribute, f.key, f.change, ctx, invariant ?? false, layer)),
    });
  };
  for (const h of hosts) {
    const want = desired.hosts.get(h.host);
    if (h.reachable === undefined) {
      add({ host: h.host, attribute: "reachable", key: "", change: "unobservable", desired: true, observed: null, why: "never observed: run demesne observe" });
      continue;
    }
    if (!h.reachable) {
      add({ host: h.host, attribute: "reachable", key: "", change: "unreachable", desired: true, observed: false, why: h.error });
      continue;
    }
    for (const p of h.failedProbes) {
      add({ host: h.host, attribute: "probe", key: p, change: "unobservable", desired: "ok", observed: "failed", why: "its facts are the last ones seen" });
    }
    const bad = violations(h.facts);
    const byKey = new Map(h.facts.map((f) => [`${f.attribute}\u0000${f.key}`, f]));
    const reported = new Set<string>();
    const report = (k: string, f: Parameters<typeof add>[0]) => {
      const v = bad.get(k);
      reported.add(k);
      add(v ? { ...f, severity: v.severity, why: v.why, invariant: v.ignorable !== true } : f);
    };
    for (const e of want?.expected ?? ([] as Expected[])) {
      const k = `${e.attribute}\u0000${e.key}`;
      const o = byKey.get(k);
      if (!o) report(k, { host: h.host, attribute: e.attribute, key: e.key, change: "missing", desired: e.value ?? (e.anyOf ? { anyOf: e.anyOf } : "present"), observed: null });
      else if (e.value !== undefined && !matches(e.value, o.value)) {
        report(k, { host: h.host, attribute: e.attribute, key: e.key, change: "changed", desired: e.value, observed: o.value });
      } else if (e.anyOf && !e.anyOf.some((v) => matches(v, o.value))) {
        report(k, { host: h.host, attribute: e.attribute, key: e.key, change: "changed", desired: { anyOf: e.anyOf }, observed: o.value });
      }
    }
    const listed = new Set((want?.expected ?? []).map((e) => `${e.attribute}\u0000${e.key}`));
    for (const f of h.facts) {
      const k = `${f.attribute}\u0000${f.key}`;
      if (want?.complete.includes(f.attribute) && !listed.has(k)) {
        report(k, { host: h.host, attribute: f.attribute, key: f.key, change: "unexpected", desired: null, observed: f.value });
      }
    }
    for (const [k, v] of bad) {
      if (reported.has(k)) continue;
      const f = byKey.get(k)!;
      add({ host: h.host, attribute: f.attribute, key: f.key, change: "violation", desired: null, observed: f.value, severity: v.severity, why: v.why, invariant: v.ignorable !== true });
    }
    if (want?.rules) {
      const r = hardeningFindings({ host: h.host, facts: h.facts, probes: h.probes ?? {} }, want.rules);
      notes.push(...r.notes);
      // Drift from a layer's table, not a broken invariant: an ignore rule may accept it (a kernel that needs rp_filter=2).
      for (const f of r.findings) add({ host: h.host, ...f });
    }
    if (want?.backup) {
      for (const f of backupFindings({ host: h.host, facts: h.facts, probes: h.probes ?? {} }, now)) add({ host: h.host, ...f });
    }
  }
  findings.sort((a, b) => SEVERITY_ORDER.indexOf(b.severity) - SEVERITY_ORDER.indexOf(a.severity) || a.host.localeCompare(b.host) || a.attribute.localeCompare(b.attribute) || a.key.localeCompare(b.key));
  const count = (c: Change) => findings.filter((f) => f.change === c).length;
  return {
    source: desired.source,
    notes,
    summary: {
      hosts: hosts.length, findings: findings.length, changed: count("changed"), missing: count("missing"),
      unexpected: count("unexpected"), violations: count("violation"), unreachable: count("unreachable") + count("unobservable"), ignored,
    },
    findings,
  };
}

export const findingSubject = (source: string, host: string) => `finding:${source}:${host}`;

/**
 * Records the findings as facts, the whole run in one batch: a finding still present keeps its first-seen
 * time; one that is gone ends now (on the hosts drift looked at, no others). Returns the findings with
 * firstSeen filled in.
 */
export async function recordFindings(store: Store, report: DriftReport, hosts: string[], opts: { actor?: string; at?: number } = {}): Promise<Finding[]> {
  const at = opts.at ?? Date.now();
  const subjects = [...new Set(hosts)].map((h) => findingSubject(report.source, h));
  const key = (subject: string, attribute: string, k: string) => `${subject}\u0000${attribute}\u0000${k}`;
  // What each host's findings were a moment ago, read at once (one read per host was a third of a 1,000-host drift).
  const current = new Map<string, { firstSeen?: string }>();
  for (const f of await asOf(store, { subjects, validAt: new Date(at) })) current.set(key(f.subject, f.attribute, f.key), f.value as { firstSeen?: string });
  const byHost = new Map<string, Finding[]>(hosts.map((h) => [h, []]));
  for (const f of report.findings) byHost.get(f.host)?.push(f);
  const ops: FactOp[] = [];
  const out: Finding[] = [];
  for (const f of [...byHost.values()].flat()) {
    const subject = findingSubject(report.source, f.host);
    const firstSeen = current.get(key(subject, f.attribute, f.key))?.firstSeen ?? new Date(at).toISOString();
    const value = { change: f.change, severity: f.severity, desired: f.desired, observed: f.observed, tier: f.tier, firstSeen };
    ops.push({ subject, attribute: f.attribute, key: f.key, op: "assert", at, value });
    out.push({ ...f, firstSeen });
  }
  if (subjects.length === 0) return out;
  await recordBatch(store, {
    kind: "drift",
    inputSha256: sha256Hex(`${subjects.join("\n")}\n${at}\n${canonicalJson(ops)}`),
    complete: true,
    vertices: subjects.map((id) => ({ id, kind: "finding" as const })),
    ops,
    actor: opts.actor,
    reason: opts.actor ? `drift against ${report.source}` : undefined,
    retractMissing: { subjectPrefix: findingSubject(report.source, ""), subjects, at },
  });
  return out;
}
