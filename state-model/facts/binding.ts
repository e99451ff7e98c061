import { sha256Hex } from "../../components/model/hash";
import type { Queryable } from "../db/store";
import { isSealed, PERSONAL_MARK } from "./personal";

/**
 * Tamper evidence for the facts (ADR 0013). Every recorded batch appends, in its own transaction, an audit
 * entry that binds what the batch wrote: a digest over canonical lines for the facts it added, the facts it
 * closed, the vertices it created and its batch row. `audit verify` recomputes every digest from the stored
 * rows, so a row changed, deleted, inserted or resurrected behind the recorder's back (triggers bypassed by
 * any means) no longer matches the chain. Everything here is computed in TypeScript from plain columns: a
 * function in the store could be replaced by its owner.
 *
 * Times are milliseconds since the epoch as float8, exactly as the writer reads pieces back (µs precision).
 * A batch is found again by its recorded time T (the writer's now()): its facts were recorded from T, its
 * closings recorded up to T, its vertices recorded from T; the writer refuses a second batch at the same T.
 */
export const BIND_ACTION = "record facts";
/** Rows written before migration 0005 are bound once, by the migration, in one entry. */
export const LEGACY_ACTION = "bind facts recorded before 0005";

export interface AddedRow {
  batch: string;
  subject: string;
  attribute: string;
  key: string;
  vf: number;
  vt: number | null;
  rf: number;
  /** The stored value's canonical JSON. */
  value: string;
  actor: string | null;
  reason: string | null;
}
/** A version a batch closed: the fact's identity and times, and when it stopped being current. */
export type ClosedRow = Pick<AddedRow, "subject" | "attribute" | "key" | "vf" | "vt" | "rf"> & { rt: number };
export interface BatchRow {
  id: string;
  sha: string;
  kind: string;
  stack: string | null;
  update: string | null;
  complete: boolean;
  added: number;
  closed: number;
  at: number;
}

// One line per row; JSON arrays, so no separator can be forged inside a field (a JSON text holds no raw tab,
// so the value follows the array after one).
export const addedLine = (r: AddedRow) =>
  `${JSON.stringify(["+", r.batch, r.subject, r.attribute, r.key, r.vf, r.vt, r.rf, r.actor, r.reason])}\t${r.value}`;
export const closedLine = (r: ClosedRow) => JSON.stringify(["-", r.subject, r.attribute, r.key, r.vf, r.vt, r.rf, r.rt]);
export const vertexLine = (id: string, kind: string, at: number) => JSON.stringify(["v", id, kind, at]);
export const batchLine = (b: BatchRow) =>
  JSON.stringify(["b", b.id, b.sha, b.kind, b.stack, b.update, b.complete, b.added, b.closed, b.at]);

/** Order-independent: the lines are sorted first (rows come back in any order). */
export function digestOf(lines: string[]): string {
  return sha256Hex([...lines].sort().join("\n"));
}

/**
 * A value's canonical JSON: keys sorted, and otherwise what JSON.stringify sends to the store (toJSON,
 * undefined in an array as null, undefined and functions in an object dropped), so the writer's value and the
 * one verify parses back from the store give the same text. Hand-rolled: it is on the ingest path.
 */
export function canonicalValue(v: unknown): string {
  if (v !== null && typeof v === "object" && typeof (v as { toJSON?: unknown }).toJSON === "function") v = (v as { toJSON(): unknown }).toJSON();
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) {
    let out = "[";
    for (let i = 0; i < v.length; i++) out += (i ? "," : "") + canonicalValue(v[i]);
    return `${out}]`;
  }
  const o = v as Record<string, unknown>;
  let out = "{";
  for (const k of Object.keys(o).sort()) {
    const x = o[k];
    if (x === undefined || typeof x === "function" || typeof x === "symbol") continue;
    out += `${out.length > 1 ? "," : ""}${JSON.stringify(k)}:${canonicalValue(x)}`;
  }
  return `${out}}`;
}

/** The params of a batch's binding entry. */
export interface BatchBinding {
  batch: string;
  recordedAt: number;
  facts: number;
  closed: number;
  vertices: number;
  digest: string;
}
/** The params of the legacy entry: rows recorded before `before` (and not bound by a batch of their own). */
export interface LegacyBinding {
  before: number;
  facts: number;
  closed: number;
  vertices: number;
  batches: number;
  digest: string;
}

const MS = (col: string) => `(extract(epoch FROM ${col}) * 1000)::float8`;
const MS_OR_NULL = (col: string) => `CASE WHEN ${col} = 'infinity' THEN NULL ELSE ${MS(col)} END`;

/** Every stored row, as lines: what verify (and the legacy binding) digest. Reads the whole store. */
export async function storedLines(db: Queryable) {
  const facts = await db.query<{
    batch: string; subject: string; attribute: string; value_key: string; value: unknown; actor: string | null; reason: string | null;
    vf: number; vt: number | null; rf: number; rt: number | null;
  }>(
    `SELECT batch, subject, attribute, value_key, value, actor, reason, ${MS("valid_from")} AS vf, ${MS_OR_NULL("valid_to")} AS vt,
            ${MS("recorded_from")} AS rf, ${MS_OR_NULL("recorded_to")} AS rt FROM fact`,
  );
  const vertices = await db.query<{ id: string; kind: string; at: number }>(`SELECT id, kind, ${MS("recorded_from")} AS at FROM vertex`);
  const batches = await db.query<{
    id: string; input_sha256: string; kind: string; stack: string | null; update_id: string | null; complete: boolean;
    facts_added: number; facts_closed: number; at: number;
  }>(`SELECT id, input_sha256, kind, stack, update_id, complete, facts_added, facts_closed, ${MS("recorded_at")} AS at FROM batch`);
  const refs = new Set<string>();
  const sealedIn = (v: unknown): void => {
    if (isSealed(v)) refs.add(v[PERSONAL_MARK]);
    else if (v && typeof v === "object") for (const x of Object.values(v)) sealedIn(x);
  };
  for (const r of facts.rows) sealedIn(r.value);
  return {
    /** The data subjects whose sealed values the facts hold. */
    refs,
    added: facts.rows.map((r) => {
      const row = { batch: r.batch, subject: r.subject, attribute: r.attribute, key: r.value_key, vf: Number(r.vf), vt: num(r.vt), rf: Number(r.rf) };
      return { ...row, line: addedLine({ ...row, value: canonicalValue(r.value), actor: r.actor, reason: r.reason }) };
    }),
    closed: facts.rows.filter((r) => r.rt !== null).map((r) => {
      const row = { subject: r.subject, attribute: r.attribute, key: r.value_key, vf: Number(r.vf), vt: num(r.vt), rf: Number(r.rf), rt: Number(r.rt) };
      return { ...row, line: closedLine(row) };
    }),
    vertices: vertices.rows.map((r) => ({ id: r.id, at: Number(r.at), line: vertexLine(r.id, r.kind, Number(r.at)) })),
    batches: batches.rows.map((r) => {
      const b = {
        id: r.id, sha: r.input_sha256, kind: r.kind, stack: r.stack, update: r.update_id, complete: r.complete,
        added: Number(r.facts_added), closed: Number(r.facts_closed), at: Number(r.at),
      };
      return { ...b, line: batchLine(b) };
    }),
  };
}
const num = (v: number | null) => (v === null ? null : Number(v));
export type StoredLines = Awaited<ReturnType<typeof storedLines>>;

/** The legacy entry's params over everything stored now (the migration to 0005 runs it under the write lock). */
export function legacyBinding(s: StoredLines, before: number): LegacyBinding {
  const lines = [...s.added, ...s.closed, ...s.vertices, ...s.batches].map((x) => x.line);
  return { before, facts: s.added.length, closed: s.closed.length, vertices: s.vertices.length, batches: s.batches.length, digest: digestOf(lines) };
}

/** An audit entry as verify walked it. */
export interface ChainEntry {
  seq: number;
  action: string;
  params: unknown;
}

export interface FactsVerified {
  batches: number;
  facts: number;
}

const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));
const KINDS = { "+": "facts added", "-": "closed", v: "vertices", b: "batch rows" } as const;
const isBatchBinding = (p: unknown): p is BatchBinding =>
  !!p && typeof (p as BatchBinding).batch === "string" && typeof (p as BatchBinding).recordedAt === "number" && typeof (p as BatchBinding).digest === "string";
const isLegacyBinding = (p: unknown): p is LegacyBinding =>
  !!p && typeof (p as LegacyBinding).before === "number" && typeof (p as LegacyBinding).digest === "string";

/**
 * Recomputes every binding's digest from the stored rows and finds rows that no binding claims. Returns the
 * problems found (empty: the facts are exactly what the chain says was recorded).
 */
export async function verifyFacts(db: Queryable, chain: ChainEntry[]): Promise<{ problems: string[]; verified: FactsVerified }> {
  const problems: string[] = [];
  let legacy: { seq: number; p: LegacyBinding } | undefined;
  const byBatch = new Map<string, { seq: number; p: BatchBinding; lines: string[] }>();
  const byTime = new Map<number, string>();
  let last = -Infinity;
  for (const e of chain) {
    if (e.action === LEGACY_ACTION) {
      if (!isLegacyBinding(e.params)) problems.push(`audit entry ${e.seq} binds the facts before 0005 but its parameters are not a binding`);
      else if (legacy || byBatch.size) problems.push(`audit entry ${e.seq} binds facts recorded before 0005 a second time, or after later batches`);
      else {
        legacy = { seq: e.seq, p: e.params };
        last = e.params.before;
      }
    } else if (e.action === BIND_ACTION) {
      if (!isBatchBinding(e.params)) problems.push(`audit entry ${e.seq} binds a batch but its parameters are not a binding`);
      else if (byBatch.has(e.params.batch)) problems.push(`audit entry ${e.seq} binds batch ${e.params.batch} a second time`);
      else if (!(e.params.recordedAt > last)) {
        problems.push(`audit entry ${e.seq} binds batch ${e.params.batch} at ${iso(e.params.recordedAt)}, not after the batch bound before it`);
      } else {
        byBatch.set(e.params.batch, { seq: e.seq, p: e.params, lines: [] });
        byTime.set(e.params.recordedAt, e.params.batch);
        last = e.params.recordedAt;
      }
    }
  }
  const before = legacy?.p.before ?? -Infinity;
  const legacyLines: string[] = [];
  const s = await storedLines(db);
  const unclaimed: string[] = [];
  const claim = (batch: string | undefined, old: boolean, line: string, what: () => string) => {
    const b = batch === undefined ? undefined : byBatch.get(batch);
    if (b) b.lines.push(line);
    else if (old) legacyLines.push(line);
    else unclaimed.push(what());
  };
  for (const a of s.added) {
    claim(a.batch, a.rf < before, a.line, () => `fact ${a.subject} ${a.attribute}${a.key ? ` [${a.key}]` : ""} of batch ${a.batch}, recorded ${iso(a.rf)}, is in no audit entry: it was inserted behind the recorder's back`);
  }
  for (const c of s.closed) {
    claim(byTime.get(c.rt), c.rt < before, c.line, () => `fact ${c.subject} ${c.attribute}${c.key ? ` [${c.key}]` : ""} was closed at ${iso(c.rt)}, when no batch was recorded`);
  }
  for (const v of s.vertices) {
    claim(byTime.get(v.at), v.at < before, v.line, () => `vertex ${v.id}, recorded ${iso(v.at)}, is in no audit entry: it was inserted behind the recorder's back`);
  }
  for (const b of s.batches) {
    claim(b.id, b.at < before, b.line, () => `batch ${b.id}, recorded ${iso(b.at)}, is in no audit entry: it was inserted behind the recorder's back`);
  }
  // A key deleted behind the recorder's back shreds data as an erasure would, without the erasure's record.
  const kept = new Set((await db.query<{ r: string }>("SELECT subject_ref AS r FROM subject_key UNION SELECT subject_ref FROM erasure")).rows.map((x) => x.r));
  for (const ref of s.refs) {
    if (!kept.has(ref)) unclaimed.push(`personal data under subject ref ${ref} can no longer be read: its key is gone and no erasure is recorded`);
  }
  problems.push(...unclaimed.slice(0, 5));
  if (unclaimed.length > 5) problems.push(`… and ${unclaimed.length - 5} more rows in no audit entry`);

  const counts = (lines: string[]) => {
    const n = { "+": 0, "-": 0, v: 0, b: 0 };
    for (const l of lines) n[l[2] as keyof typeof n] += 1; // the kind: the first field of the line's array
    return n;
  };
  const compare = (what: string, want: Record<keyof typeof KINDS, number>, lines: string[], digest: string) => {
    if (digestOf(lines) === digest) return;
    const got = counts(lines);
    const diff = (Object.keys(KINDS) as (keyof typeof KINDS)[])
      .filter((k) => want[k] !== got[k])
      .map((k) => `${KINDS[k]}: ${want[k]} bound, ${got[k]} stored`);
    problems.push(`${what} does not match its stored rows: ${diff.length ? diff.join("; ") : "a stored row was changed"}`);
  };
  if (legacy) {
    const p = legacy.p;
    compare(`the facts recorded before 0005 (audit entry ${legacy.seq})`, { "+": p.facts, "-": p.closed, v: p.vertices, b: p.batches }, legacyLines, p.digest);
  }
  for (const [batch, b] of byBatch) {
    compare(`batch ${batch} (audit entry ${b.seq})`, { "+": b.p.facts, "-": b.p.closed, v: b.p.vertices, b: 1 }, b.lines, b.p.digest);
  }
  return { problems, verified: { batches: byBatch.size, facts: s.added.length } };
}
