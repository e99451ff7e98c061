// Baselines: "accept today's state". `demesne baseline bless NAME` copies each host's last observed
// facts into the store under the baseline's own subject, as facts like any other (so who blessed what,
// and when, is a query); blessing again replaces it. Drift against it compares every fact.
import type { Queryable, Store } from "../db/store";
import type { FactOp } from "../facts/types";
import { recordBatch, sha256Hex } from "../facts/writer";
import { hostSubject } from "../observe/observe";
import { asOf } from "../queries";
import type { DesiredState, HostDesired } from "./desired";

/** Facts that describe the observation, not the host: never part of a baseline. */
export const OBSERVATION_ATTRIBUTES = new Set(["reachable", "reachable.error", "probe"]);

export const baselineSubject = (name: string, host: string) => `baseline:${name}:${host}`;
const BASELINE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Facts that change on their own schedule (a nightly backup): judged by their own rule, never blessed. */
export const VOLATILE_ATTRIBUTES = new Set(["backup"]);

/** Facts of a host as last observed (the probes' vocabulary only, less the volatile ones). */
export async function observedFacts(db: Queryable, host: string, at?: Date) {
  return (await asOf(db, { subject: hostSubject(host), validAt: at })).filter((f) => !OBSERVATION_ATTRIBUTES.has(f.attribute) && !VOLATILE_ATTRIBUTES.has(f.attribute));
}

export interface BlessResult {
  baseline: string;
  hosts: { host: string; facts: number }[];
}

export async function blessBaseline(store: Store, name: string, hosts: string[], opts: { actor: string; reason?: string; at?: number }): Promise<BlessResult> {
  if (!BASELINE_NAME.test(name)) throw new Error(`baseline name '${name}': expected lower-case letters, digits, '.', '_' or '-'`);
  if (!hosts.length) throw new Error("no host to bless: observe the hosts first (demesne observe)");
  const at = opts.at ?? Date.now();
  const ops: FactOp[] = [];
  const out: BlessResult = { baseline: name, hosts: [] };
  for (const host of hosts) {
    const facts = await observedFacts(store, host, new Date(at));
    if (!facts.length) throw new Error(`host '${host}' has never been observed: run demesne observe first`);
    const subject = baselineSubject(name, host);
    for (const f of facts) ops.push({ subject, attribute: f.attribute, key: f.key, op: "assert", at, value: f.value });
    out.hosts.push({ host, facts: facts.length });
  }
  const vertices = hosts.map((h) => ({ id: baselineSubject(name, h), kind: "baseline" as const }));
  // One batch per host subject keeps "blessing again replaces it" exact for each host.
  for (const v of vertices) {
    await recordBatch(store, {
      kind: "baseline",
      inputSha256: sha256Hex(`${v.id}\n${at}\n${JSON.stringify(ops.filter((o) => o.subject === v.id))}`),
      complete: true,
      vertices: [v],
      ops: ops.filter((o) => o.subject === v.id),
      actor: opts.actor,
      reason: opts.reason ?? `baseline ${name} blessed`,
      retractMissing: { subjectPrefix: v.id, subjects: [v.id], at },
    });
  }
  return out;
}

/** A blessed baseline: the hosts' facts as they were observed when it was blessed. */
export async function desiredFromBaseline(db: Queryable, name: string): Promise<DesiredState> {
  const prefix = `baseline:${name}:`;
  const rows = await db.query<{ subject: string }>(
    "SELECT DISTINCT subject FROM fact WHERE starts_with(subject, $1) AND recorded_to = 'infinity' AND valid @> now()",
    [prefix],
  );
  const hosts = new Map<string, HostDesired>();
  let blessed: string | undefined;
  for (const { subject } of rows.rows) {
    const facts = await asOf(db, { subject });
    if (!facts.length) continue;
    const expected = facts.map((f) => ({ attribute: f.attribute, key: f.key, value: f.value }));
    blessed = facts.map((f) => f.validFrom).sort().pop();
    hosts.set(subject.slice(prefix.length), { expected, complete: [...new Set(expected.map((e) => e.attribute))] });
  }
  if (!hosts.size) throw new Error(`no baseline named '${name}' (bless one with: demesne baseline bless ${name})`);
  return { source: `baseline:${name}`, hosts, asOf: blessed };
}
