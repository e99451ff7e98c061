// `demesne observe`: run the probe catalogue on each host over SSH as the observer, and record what was
// seen as facts of the host, valid from the time of observation. Read-only by construction: the client
// sends `all`, and the host's forced command decides what runs (components/model/observer.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { OBSERVER_USER } from "../../components/model/observer";
import type { Store } from "../db/store";
import type { FactOp } from "../facts/types";
import { recordBatch, sha256Hex } from "../facts/writer";
import { parseObserveOutput, PROBE_ATTRIBUTES, type ProbeResult } from "./parse";
import { runSsh, type SshRun } from "./ssh-run";

export interface ObserveTarget {
  name: string;
  address: string;
  port: number;
  /** The host's public key: observing never trusts a key on first use. */
  hostKey: string;
  user?: string;
}

export interface HostObservation {
  host: string;
  at: number;
  reachable: boolean;
  /** Why the host could not be observed (ssh's own words, one line). */
  error?: string;
  results: ProbeResult[];
  /** sha256 of what the host sent, so the same observation is never recorded twice. */
  outputSha256: string;
}

export const hostSubject = (name: string) => `host:${name}`;

export interface ProbeOptions {
  /** The observer's private key. */
  identity: string;
  connectTimeoutSeconds?: number;
  /** Whole-run limit per host. */
  timeoutMs?: number;
  /** Where to write the host's known_hosts file (a fleet's one directory); default a directory of its own. */
  knownHostsDir?: string;
  /** Runs ssh (a fleet's launcher process); default from this process. */
  run?: (args: string[], limitMs: number) => Promise<SshRun>;
}

/**
 * The observer's ssh command line to one host (after `ssh`): its own key only, no prompt, the host's key
 * pinned in `knownHosts` and nothing else trusted, no user or system ssh_config, and `all` for the forced
 * command. `options` are more `-o` settings, placed before the destination as ssh requires.
 */
export function observerSshArgs(
  t: Pick<ObserveTarget, "address" | "port" | "user">,
  o: { identity: string; knownHosts: string; connectTimeoutSeconds: number; options?: string[] },
): string[] {
  return [
    "-i", o.identity, "-p", String(t.port), "-T",
    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${o.knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", `ConnectTimeout=${o.connectTimeoutSeconds}`, "-o", "LogLevel=ERROR",
    "-F", "/dev/null", ...(o.options ?? []), `${t.user ?? OBSERVER_USER}@${t.address}`, "all",
  ];
}

let knownHostsSeq = 0;

/** Runs the catalogue on one host. Never throws for the host's sake: unreachable is an observation. */
export async function probeHost(t: ObserveTarget, opts: ProbeOptions): Promise<HostObservation> {
  const at = Date.now();
  const limitMs = opts.timeoutMs ?? 60_000;
  const dir = opts.knownHostsDir ?? mkdtempSync(path.join(tmpdir(), "demesne-observe-"));
  const knownHosts = path.join(dir, `known_hosts.${knownHostsSeq++}`);
  try {
    const hostId = t.port === 22 ? t.address : `[${t.address}]:${t.port}`;
    writeFileSync(knownHosts, `${hostId} ${t.hostKey.trim()}\n`);
    const args = observerSshArgs(t, {
      identity: opts.identity,
      knownHosts,
      connectTimeoutSeconds: opts.connectTimeoutSeconds ?? Math.max(1, Math.min(5, Math.ceil(limitMs / 1000))),
    });
    const r = await (opts.run ?? runSsh)(args, limitMs);
    const outputSha256 = sha256Hex(`${t.name}\n${at}\n${r.stdout}`);
    if (r.timedOut) return { host: t.name, at, reachable: false, error: `no answer within ${limitMs / 1000} s`, results: [], outputSha256 };
    if (r.code !== 0) {
      const why = r.stderr.split("\n").map((l) => l.trim()).filter(Boolean).pop() ?? `ssh exited ${r.code}`;
      return { host: t.name, at, reachable: false, error: why, results: [], outputSha256 };
    }
    try {
      return { host: t.name, at, reachable: true, results: parseObserveOutput(r.stdout), outputSha256 };
    } catch (e) {
      return { host: t.name, at, reachable: false, error: (e as Error).message, results: [], outputSha256 };
    }
  } finally {
    if (opts.knownHostsDir) rmSync(knownHosts, { force: true });
    else rmSync(dir, { recursive: true, force: true });
  }
}

export interface RecordedObservation {
  host: string;
  factsAdded: number;
  factsClosed: number;
}

/**
 * Records one observation in one transaction. A probe that ran replaces its attributes whole (what it no
 * longer prints has ended); a probe that failed, or an unreachable host, leaves the last known facts alone.
 */
export async function recordObservation(store: Store, o: HostObservation, actor?: string): Promise<RecordedObservation> {
  const subject = hostSubject(o.host);
  const ops: FactOp[] = [];
  const assert = (attribute: string, key: string, value: unknown) => ops.push({ subject, attribute, key, op: "assert", at: o.at, value });
  assert("reachable", "", o.reachable);
  if (o.error) assert("reachable.error", "", o.error);
  else ops.push({ subject, attribute: "reachable.error", key: "", op: "retract", at: o.at });
  const replaced = new Set<string>();
  for (const r of o.results) {
    assert("probe", r.probe, r.error ? `${r.status}: ${r.error}` : r.status);
    if (r.status === "failed") continue;
    for (const a of PROBE_ATTRIBUTES[r.probe] ?? []) replaced.add(a);
    for (const f of r.facts) assert(f.attribute, f.key, f.value);
  }
  const r = await recordBatch(store, {
    kind: "observe",
    inputSha256: o.outputSha256,
    complete: o.reachable && o.results.every((x) => x.status !== "failed"),
    vertices: [{ id: subject, kind: "host" }],
    ops,
    // The store keeps actor and reason together: who looked, and that this is an observation.
    actor,
    reason: actor ? `observed ${o.host} over SSH` : undefined,
    // Inside the batch's transaction: what a probe that ran no longer prints has ended.
    retractMissing: { subjectPrefix: subject, subjects: [subject], attributes: [...replaced], at: o.at },
  });
  return { host: o.host, factsAdded: r.factsAdded, factsClosed: r.factsClosed };
}
