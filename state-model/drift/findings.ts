// Drift findings as the recorder knows them: `demesne drift` records each finding as a fact of the vertex
// `finding:<source>:<host>` (drift.ts), so the latest findings and their history are plain reads. Reading
// never runs a comparison: that would record a new batch, and a read must write nothing.
import type { Queryable } from "../db/store";
import { asOf, history, type FactRow, type When } from "../queries";

/** The host of a finding vertex: its last `:`-separated part (a source such as `desired:control` has colons). */
export const findingHost = (subject: string) => subject.slice(subject.lastIndexOf(":") + 1);
/** The source a finding was measured against: `desired:<stack>`, `applied:<stack>`, `plan:…` or `baseline:<name>`. */
export const findingSource = (subject: string) => subject.slice("finding:".length, subject.lastIndexOf(":"));

/** Findings in force at valid time `validAt` as known at `knownAt` (both default now), optionally of one host. */
export async function latestFindings(db: Queryable, q: { validAt?: When; knownAt?: When; host?: string }): Promise<FactRow[]> {
  const rows = await asOf(db, { kind: "finding", validAt: q.validAt, knownAt: q.knownAt });
  return q.host === undefined ? rows : rows.filter((r) => findingHost(r.subject) === q.host);
}

/** Every stored version of one host's findings (optionally against one source), oldest recording first. */
export async function findingHistory(db: Queryable, q: { host: string; source?: string }): Promise<FactRow[]> {
  const subjects = await db.query<{ id: string }>("SELECT id FROM vertex WHERE kind = 'finding' ORDER BY id");
  const mine = subjects.rows.map((r) => r.id).filter((s) => findingHost(s) === q.host && (q.source === undefined || findingSource(s) === q.source));
  const out: FactRow[] = [];
  for (const subject of mine) out.push(...(await history(db, { subject })));
  return out;
}
