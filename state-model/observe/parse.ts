// Each probe's output parsed into typed facts of its host: (attribute, key, value). The vocabulary here
// is what drift compares; keep values stable across runs (no pids, counters or timestamps).
import { sha256Hex } from "../../components/model/hash";
import { PROBE_UNAVAILABLE } from "../../components/model/observer";
import { unrestrictedSudoIn } from "../../components/model/sudo";
import { BACKUP_ATTRIBUTE, BACKUP_NO_STATUS, parseBackupStatus } from "./parse-backup";

export interface ObservedFact {
  attribute: string;
  key: string;
  value: unknown;
}

export type ProbeStatus = "ok" | "unavailable" | "failed";

export interface ProbeResult {
  probe: string;
  status: ProbeStatus;
  exitCode: number;
  facts: ObservedFact[];
  /** Why a probe failed or its output could not be read. */
  error?: string;
}

/** The attributes each probe owns: when it succeeds, its facts missing from the output have ended. */
export const PROBE_ATTRIBUTES: Record<string, readonly string[]> = {
  sshd: ["sshd"],
  packages: ["package"],
  ufw: ["ufw.status", "ufw.default", "ufw.rule"],
  iptables: ["iptables.policy", "iptables.rule"],
  listeners: ["listener"],
  sudoers: ["sudoers.file"],
  users: ["user"],
  groups: ["group"],
  units: ["unit"],
  mounts: ["mount"],
  blockdevices: ["blockdevice"],
  containers: ["container"],
  images: ["image"],
  tailscale: ["tailscale"],
  sysctl: ["sysctl"],
  audit: ["audit"],
  "audit-rules": ["audit.rule"],
  suid: ["suid"],
  backup: [BACKUP_ATTRIBUTE],
};

const lines = (text: string) => text.split("\n").filter((l) => l.trim() !== "");

function sshd(out: string): ObservedFact[] {
  const byKey = new Map<string, string[]>();
  for (const l of lines(out)) {
    const i = l.indexOf(" ");
    const k = i < 0 ? l : l.slice(0, i);
    byKey.set(k, [...(byKey.get(k) ?? []), i < 0 ? "" : l.slice(i + 1)]);
  }
  return [...byKey].map(([k, v]) => ({ attribute: "sshd", key: k, value: v.join(" ") }));
}

function packages(out: string): ObservedFact[] {
  return lines(out).flatMap((l) => {
    const [name, version, status] = l.split("\t");
    return name && status?.trim() === "ii" ? [{ attribute: "package", key: name, value: version ?? "" }] : [];
  });
}

/** `ufw status verbose`; a v4 and a v6 rule of the same shape are one fact with both families. */
function ufw(out: string): ObservedFact[] {
  const facts: ObservedFact[] = [];
  const status = /^Status:\s*(\S+)/m.exec(out)?.[1];
  if (!status) throw new Error("no 'Status:' line");
  facts.push({ attribute: "ufw.status", key: "", value: status });
  const def = /^Default:\s*(.+)$/m.exec(out)?.[1];
  if (def) {
    // "deny (incoming), allow (outgoing), disabled (routed)" → { incoming: "deny", outgoing: "allow", routed: "disabled" }
    const policy: Record<string, string> = {};
    for (const m of def.matchAll(/(\w+) \((\w+)\)/g)) policy[m[2]!] = m[1]!;
    facts.push({ attribute: "ufw.default", key: "", value: policy });
  }
  const rules = new Map<string, string[]>();
  const body = out.split("\n");
  const start = body.findIndex((l) => /^--/.test(l));
  if (start >= 0) {
    for (const raw of body.slice(start + 1)) {
      if (!raw.trim()) continue;
      const v6 = raw.includes("(v6)");
      const rule = raw.replace(/\s*\(v6\)/g, "").replace(/\s+/g, " ").trim();
      rules.set(rule, [...(rules.get(rule) ?? []), v6 ? "v6" : "v4"]);
    }
  }
  for (const [rule, fam] of rules) facts.push({ attribute: "ufw.rule", key: rule, value: [...new Set(fam)].sort() });
  return facts;
}

/** Only the chains that decide forwarding to containers; UFW's own chains are the ufw probe's. */
const IPTABLES_CHAINS = ["INPUT", "FORWARD", "DOCKER-USER"];

function iptables(out: string): ObservedFact[] {
  const facts: ObservedFact[] = [];
  const seen = new Map<string, number>();
  for (const l of lines(out)) {
    const p = /^-P (\S+) (\S+)$/.exec(l);
    if (p && IPTABLES_CHAINS.includes(p[1]!)) facts.push({ attribute: "iptables.policy", key: p[1]!, value: p[2]! });
    const a = /^-A (\S+) /.exec(l);
    if (a && IPTABLES_CHAINS.includes(a[1]!)) {
      const chain = a[1]!;
      const pos = (seen.get(chain) ?? 0) + 1;
      seen.set(chain, pos);
      // Keyed by the rule itself; its value is its position, so a reorder is a change, not a new rule.
      let key = l;
      for (let n = 2; facts.some((f) => f.attribute === "iptables.rule" && f.key === key); n++) key = `${l} #${n}`;
      facts.push({ attribute: "iptables.rule", key, value: pos });
    }
  }
  return facts;
}

/** `ss -ltnupH`: Netid State Recv-Q Send-Q Local Peer [Process]. */
function listeners(out: string): ObservedFact[] {
  const m = new Map<string, Set<string>>();
  for (const l of lines(out)) {
    const f = l.trim().split(/\s+/);
    if (f.length < 6) throw new Error(`unexpected ss line: ${l}`);
    const key = `${f[0]} ${f[4]}`;
    const procs = m.get(key) ?? new Set<string>();
    for (const p of (f.slice(6).join(" ").match(/\("([^"]+)"/g) ?? [])) procs.add(p.slice(2, -1));
    m.set(key, procs);
  }
  return [...m].map(([key, procs]) => ({ attribute: "listener", key, value: { processes: [...procs].sort() } }));
}

/** `grep -rHZ -e ^ …`: file NUL line, one per line of every file. */
function sudoers(out: string): ObservedFact[] {
  const files = new Map<string, string[]>();
  for (const l of out.split("\n")) {
    const z = l.indexOf("\u0000");
    if (z < 0) continue;
    const file = l.slice(0, z);
    files.set(file, [...(files.get(file) ?? []), l.slice(z + 1)]);
  }
  return [...files].map(([file, ls]) => {
    const text = `${ls.join("\n")}\n`;
    const rules = text.replace(/\\\n\s*/g, " ").split("\n").map((x) => x.trim()).filter((x) => x && !x.startsWith("#") && !x.startsWith("@"));
    return {
      attribute: "sudoers.file",
      key: file,
      value: { sha256: sha256Hex(text), rules, unrestricted: unrestrictedSudoIn(text) },
    };
  });
}

function users(out: string): ObservedFact[] {
  return lines(out).map((l) => {
    const [name, , uid, gid, , home, shell] = l.split(":");
    return { attribute: "user", key: name!, value: { uid: Number(uid), gid: Number(gid), home, shell } };
  });
}

/** System groups and any group with members: a user's private group adds nothing to watch. */
function groups(out: string): ObservedFact[] {
  return lines(out).flatMap((l) => {
    const [name, , gid, members] = l.split(":");
    const list = (members ?? "").split(",").filter(Boolean).sort();
    return Number(gid) < 1000 || list.length ? [{ attribute: "group", key: name!, value: { gid: Number(gid), members: list } }] : [];
  });
}

function units(out: string): ObservedFact[] {
  return lines(out).map((l) => {
    const [name, load, active, sub] = l.trim().split(/\s+/);
    return { attribute: "unit", key: name!, value: { load, active, sub } };
  });
}

interface MountNode {
  target: string;
  source: string;
  fstype: string;
  options: string;
  children?: MountNode[];
}

/** One fact per target: of mounts stacked on one target, the top one (the one a path there resolves to). */
function mounts(out: string): ObservedFact[] {
  const byTarget = new Map<string, ObservedFact>();
  const walk = (n: MountNode) => {
    const options = n.options.split(",");
    byTarget.delete(n.target);
    byTarget.set(n.target, { attribute: "mount", key: n.target, value: { source: n.source, fstype: n.fstype, readOnly: options.includes("ro"), options } });
    for (const c of n.children ?? []) walk(c);
  };
  for (const n of (JSON.parse(out) as { filesystems: MountNode[] }).filesystems) walk(n);
  return [...byTarget.values()];
}

interface BlockNode {
  name: string;
  type: string;
  fstype: string | null;
  mountpoints?: (string | null)[];
  children?: BlockNode[];
}

function blockdevices(out: string): ObservedFact[] {
  const facts: ObservedFact[] = [];
  const walk = (n: BlockNode, encrypted: boolean) => {
    const enc = encrypted || n.type === "crypt";
    facts.push({
      attribute: "blockdevice", key: n.name,
      value: { type: n.type, fstype: n.fstype, mountpoints: (n.mountpoints ?? []).filter(Boolean), encrypted: enc },
    });
    for (const c of n.children ?? []) walk(c, enc);
  };
  for (const n of (JSON.parse(out) as { blockdevices: BlockNode[] }).blockdevices) walk(n, false);
  return facts;
}

function jsonLines(out: string): Record<string, string>[] {
  return lines(out).map((l) => JSON.parse(l) as Record<string, string>);
}

function containers(out: string): ObservedFact[] {
  return jsonLines(out).map((c) => ({
    attribute: "container",
    key: c.Names ?? c.ID ?? "",
    value: { image: c.Image, state: c.State, ports: (c.Ports ?? "").split(", ").filter(Boolean).sort() },
  }));
}

function images(out: string): ObservedFact[] {
  return jsonLines(out).map((i) => ({ attribute: "image", key: `${i.Repository}:${i.Tag}`, value: { digest: i.Digest, id: i.ID } }));
}

function tailscale(out: string): ObservedFact[] {
  const s = JSON.parse(out) as { BackendState?: string; Self?: { HostName?: string; Tags?: string[]; Online?: boolean } };
  return [{
    attribute: "tailscale", key: "",
    value: { backendState: s.BackendState ?? null, hostName: s.Self?.HostName ?? null, tags: [...(s.Self?.Tags ?? [])].sort() },
  }];
}

/** `sysctl -e KEY…`: `key = value` per key the kernel has (multi-valued ones tab-separated: one space here). */
function sysctl(out: string): ObservedFact[] {
  return lines(out).map((l) => {
    const m = /^(\S+) = (.*)$/.exec(l);
    if (!m) throw new Error(`unexpected sysctl line: ${l}`);
    return { attribute: "sysctl", key: m[1]!, value: m[2]!.trim().replace(/\s+/g, " ") };
  });
}

/** `auditctl -s`: `name value` lines. Kept: whether the kernel audits and whether auditd takes its records (pid 0: none). */
function audit(out: string): ObservedFact[] {
  const v = new Map(lines(out).map((l) => [l.split(" ")[0]!, l.split(" ")[1] ?? ""] as const));
  if (!v.has("enabled")) throw new Error("no 'enabled' line");
  return [{ attribute: "audit", key: "", value: { enabled: Number(v.get("enabled")), failure: Number(v.get("failure")), daemon: (v.get("pid") ?? "0") !== "0" } }];
}

/** `auditctl -l`: one rule per line as the kernel holds it (`-w PATH -p wa -k KEY`, `-a … -F key=KEY`), or `No rules`. */
function auditRules(out: string): ObservedFact[] {
  return lines(out).filter((l) => l !== "No rules").map((l) => ({ attribute: "audit.rule", key: l, value: auditRuleKey(l) }));
}

/** The key a listed audit rule is filed under (`-k KEY` for a watch, `-F key=KEY` for a syscall rule), or null. */
export function auditRuleKey(rule: string): string | null {
  return /(?:^| )(?:-k |-F key=)(\S+)$/.exec(rule)?.[1] ?? null;
}

/** `find … -printf '%m:%u:%g:%p\n'`: mode (octal), owner and group, path. */
function suid(out: string): ObservedFact[] {
  return lines(out).map((l) => {
    const m = /^([0-7]+):([^:]*):([^:]*):(\/.*)$/.exec(l);
    if (!m) throw new Error(`unexpected find line: ${l}`);
    return { attribute: "suid", key: m[4]!, value: { mode: m[1]!, owner: `${m[2]}:${m[3]}` } };
  });
}

const PARSERS: Record<string, (out: string) => ObservedFact[]> = {
  sshd, packages, ufw, iptables, listeners, sudoers, users, groups, units, mounts, blockdevices, containers, images, tailscale,
  sysctl, audit, "audit-rules": auditRules, suid, backup: parseBackupStatus,
};

/** Installed but not running (no systemd in a container, no docker daemon), or no backup status file: nothing to say. */
const PROBE_OPTIONAL_FAILURE = new Set(["units", "containers", "images", "tailscale", "audit", "audit-rules", "backup"]);

/**
 * What an optional probe's failure means. auditctl fails only when the kernel will not talk audit to it: in a
 * container (the kernel belongs to the machine it runs in; it answers "Operation not permitted") or a kernel built
 * without audit. auditd not running is no failure: `-s` then says `pid 0`.
 */
export const AUDIT_REFUSED = "the kernel refuses audit control here";
const FAILURE_MEANS: Record<string, string> = { audit: AUDIT_REFUSED, "audit-rules": AUDIT_REFUSED, backup: BACKUP_NO_STATUS };

/** One probe's exit code and output into its result; a parse failure is the probe's failure, not a crash. */
export function parseProbe(probe: string, exitCode: number, stdout: string): ProbeResult {
  const parse = PARSERS[probe];
  if (!parse) return { probe, status: "failed", exitCode, facts: [], error: `unknown probe '${probe}'` };
  if (exitCode === PROBE_UNAVAILABLE) return { probe, status: "unavailable", exitCode, facts: [] };
  // grep exits 1 when there is nothing to print; every other probe must exit 0.
  if (exitCode !== 0 && !(probe === "sudoers" && exitCode === 1)) {
    return {
      probe, status: PROBE_OPTIONAL_FAILURE.has(probe) ? "unavailable" : "failed", exitCode, facts: [],
      error: FAILURE_MEANS[probe] ? `${FAILURE_MEANS[probe]} (exit code ${exitCode})` : `exit code ${exitCode}`,
    };
  }
  try {
    return { probe, status: "ok", exitCode, facts: parse(stdout) };
  } catch (e) {
    return { probe, status: "failed", exitCode, facts: [], error: `unreadable output: ${(e as Error).message}` };
  }
}

/** Decodes the observe script's output: one `<id> <exit code> <base64 stdout>` line per probe. */
export function parseObserveOutput(text: string): ProbeResult[] {
  const results: ProbeResult[] = [];
  for (const l of text.split("\n")) {
    if (!l.trim()) continue;
    const m = /^([a-z-]+) (\d+) ?([A-Za-z0-9+/=]*)$/.exec(l);
    if (!m) throw new Error(`unexpected line from the observe script: ${l.slice(0, 80)}`);
    results.push(parseProbe(m[1]!, Number(m[2]), Buffer.from(m[3] ?? "", "base64").toString("utf8")));
  }
  return results;
}
