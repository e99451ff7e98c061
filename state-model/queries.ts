import type { Queryable } from "./db/store";
import { canonicalJson } from "../components/model/hash";
import { PersonalData, hasSealed } from "./facts/personal";

/** One stored version of a fact, readable (personal data opened, or `[erased]`). */
export interface FactRow {
  subject: string;
  kind: string;
  attribute: string;
  key: string;
  value: unknown;
  validFrom: string;
  validTo: string | null;
  recordedFrom: string;
  recordedTo: string | null;
  batch: string;
  actor: string | null;
  reason: string | null;
}

const ISO_MS = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const ISO_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
/** Fact f's four times as ISO-8601 text (an open end is NULL), in FactRow's order: one form for every read. */
const TIMES = {
  valid_from: `to_char(f.valid_from AT TIME ZONE 'UTC', ${ISO_MS})`,
  valid_to: `CASE WHEN f.valid_to = 'infinity' THEN NULL ELSE to_char(f.valid_to AT TIME ZONE 'UTC', ${ISO_MS}) END`,
  recorded_from: `to_char(f.recorded_from AT TIME ZONE 'UTC', ${ISO_US})`,
  recorded_to: `CASE WHEN f.recorded_to = 'infinity' THEN NULL ELSE to_char(f.recorded_to AT TIME ZONE 'UTC', ${ISO_US}) END`,
};

const COLS = `f.subject, v.kind, f.attribute, f.value_key, f.value, f.batch, f.actor, f.reason,
  ${Object.entries(TIMES).map(([name, expr]) => `${expr} AS ${name}`).join(",\n  ")}`;

interface Raw {
  subject: string;
  kind: string;
  attribute: string;
  value_key: string;
  value: unknown;
  batch: string;
  actor: string | null;
  reason: string | null;
  valid_from: string;
  valid_to: string | null;
  recorded_from: string;
  recorded_to: string | null;
}

async function readable(db: Queryable, rows: Raw[]): Promise<FactRow[]> {
  const pd = new PersonalData(db);
  const out: FactRow[] = [];
  for (const r of rows) {
    out.push({
      subject: r.subject,
      kind: r.kind,
      attribute: r.attribute,
      key: r.value_key,
      value: hasSealed(r.value) ? await pd.open(r.value) : r.value,
      validFrom: r.valid_from,
      validTo: r.valid_to,
      recordedFrom: r.recorded_from,
      recordedTo: r.recorded_to,
      batch: r.batch,
      actor: r.actor,
      reason: r.reason,
    });
  }
  return out;
}

/** A time for a query: an ISO-8601 string or Date; undefined means now (the transaction's now()). */
export type When = string | Date | undefined;
const ts = (w: When) => (w === undefined ? null : w instanceof Date ? w.toISOString() : w);

/**
 * The as-of condition on fact `f`: valid at `validAt` and known at `knownAt` (SQL expressions, each a
 * timestamptz). The same test as `f.valid @> validAt AND tstzrange(f.recorded_from, f.recorded_to) @> knownAt`
 * (both ranges are [from, to) with from < to), on the plain columns: comparing two timestamps costs a fraction
 * of a range containment, and the row is read no further than recorded_to. The bench's fleet count uses it too.
 */
export function asOfWhere(f: string, validAt: string, knownAt: string): string {
  return `${f}.recorded_to > ${knownAt} AND ${f}.recorded_from <= ${knownAt} AND ${f}.valid_to > ${validAt} AND ${f}.valid_from <= ${validAt}`;
}

/** One fact as a JSON array, in FactRow's order (after subject and kind). */
const PIECE = `json_build_array(f.attribute, f.value_key, f.value, f.batch, f.actor, f.reason, ${Object.values(TIMES).join(", ")})`;
type Piece = [string, string, unknown, string, string | null, string | null, string, string | null, string, string | null];

/**
 * The fleet (or one subject, or a set of them) as it was at valid time `validAt`, as the store knew it at `knownAt`.
 * One subject is served by the subject index, the fleet by one scan. Each subject's facts come back as one
 * JSON array (one row per subject, not per fact): handing a row's fields to JavaScript, not finding the
 * rows, was most of a one-host query's time on the embedded store.
 */
export async function asOf(db: Queryable, q: { subject?: string; subjects?: readonly string[]; kind?: string; validAt?: When; knownAt?: When }): Promise<FactRow[]> {
  const r = await db.query<{ subject: string; kind: string; facts: Piece[] }>(
    `SELECT v.id AS subject, v.kind, json_agg(${PIECE} ORDER BY f.attribute, f.value_key) AS facts
       FROM fact f JOIN vertex v ON v.id = f.subject
      WHERE ${asOfWhere("f", "coalesce($1::timestamptz, now())", "coalesce($2::timestamptz, now())")}
        AND ($3::text IS NULL OR f.subject = $3) AND ($4::text IS NULL OR v.kind = $4)
        AND ($5::text[] IS NULL OR f.subject = ANY ($5::text[]))
      GROUP BY v.id ORDER BY v.id`,
    [ts(q.validAt), ts(q.knownAt), q.subject ?? null, q.kind ?? null, q.subjects ? [...q.subjects] : null],
  );
  const rows: Raw[] = [];
  for (const { subject, kind, facts } of r.rows) {
    for (const [attribute, value_key, value, batch, actor, reason, valid_from, valid_to, recorded_from, recorded_to] of facts) {
      rows.push({ subject, kind, attribute, value_key, value, batch, actor, reason, valid_from, valid_to, recorded_from, recorded_to });
    }
  }
  return readable(db, rows);
}

/** Every stored version of a subject's facts (or one attribute), oldest recording first. */
export async function history(db: Queryable, q: { subject: string; attribute?: string }): Promise<FactRow[]> {
  const r = await db.query<Raw>(
    `SELECT ${COLS} FROM fact f JOIN vertex v ON v.id = f.subject
      WHERE f.subject = $1 AND ($2::text IS NULL OR f.attribute = $2)
      ORDER BY f.attribute, f.value_key, f.recorded_from, f.valid_from, f.fact_id`,
    [q.subject, q.attribute ?? null],
  );
  return readable(db, r.rows);
}

const within = (t: number, from: string, to: string | null) => Date.parse(from) <= t && (to === null || t < Date.parse(to));

/**
 * A subject's stored versions that were valid at `validAt` and known at `knownAt` (each optional): what
 * `demesne history` prints and the MCP history tool returns.
 */
export async function historyAt(db: Queryable, q: { subject: string; attribute?: string; validAt?: Date; knownAt?: Date }): Promise<FactRow[]> {
  const [v, k] = [q.validAt?.getTime(), q.knownAt?.getTime()];
  return (await history(db, { subject: q.subject, attribute: q.attribute })).filter(
    (r) => (v === undefined || within(v, r.validFrom, r.validTo)) && (k === undefined || within(k, r.recordedFrom, r.recordedTo)),
  );
}

export interface Change {
  subject: string;
  attribute: string;
  key: string;
  change: "added" | "removed" | "changed";
  from?: unknown;
  to?: unknown;
}

/** What differs between the fleet at valid time `from` and at `to`, both as known now. */
export async function changes(db: Queryable, q: { from: When; to: When; knownAt?: When }): Promise<Change[]> {
  const [a, b] = [await asOf(db, { validAt: q.from, knownAt: q.knownAt }), await asOf(db, { validAt: q.to, knownAt: q.knownAt })];
  const id = (f: FactRow) => `${f.subject}\u0000${f.attribute}\u0000${f.key}`;
  const before = new Map(a.map((f) => [id(f), f]));
  const after = new Map(b.map((f) => [id(f), f]));
  const out: Change[] = [];
  for (const [k, f] of after) {
    const old = before.get(k);
    if (!old) out.push({ subject: f.subject, attribute: f.attribute, key: f.key, change: "added", to: f.value });
    else if (canonicalJson(old.value) !== canonicalJson(f.value)) {
      out.push({ subject: f.subject, attribute: f.attribute, key: f.key, change: "changed", from: old.value, to: f.value });
    }
  }
  for (const [k, f] of before) {
    if (!after.has(k)) out.push({ subject: f.subject, attribute: f.attribute, key: f.key, change: "removed", from: f.value });
  }
  return out.sort((x, y) => id(x as never).localeCompare(id(y as never)));
}
