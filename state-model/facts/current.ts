import type { Queryable } from "../db/store";
import { rowsParam } from "./rows-param";
import type { Op, Piece } from "./timeline";

/** A stored piece of a fact's current history, with its row id (to supersede it) and when it was recorded (ms). */
export interface Stored extends Piece {
  id: number;
  recordedFrom: number;
}

/** One fact of a batch: its identity and the batch's ops on it, in input order. */
export interface Group {
  subject: string;
  attribute: string;
  key: string;
  ops: Op[];
}

/** Above this many keys per row of the table, one pass over the current rows beats probing the index per key. */
const SCAN_WHEN_KEYS_PER_ROW = 1 / 20;
/**
 * A batch about at most this many subjects (an observation: one host, hundreds of facts) reads their current
 * rows through the subject index and joins them with the batch: the planner, which takes the batch for 1,000
 * rows whatever its size, otherwise hashed every current row of the table (26 ms a host at 100 hosts and
 * growing with the fleet; this way about 9 ms at any fleet size, adr/0024). The subject index also holds the
 * subject's past versions, which the read passes over, as retractMissing's scope always has.
 */
const BY_SUBJECT_MAX = 16;

/** Which of the equivalent plans ran. */
export type ReadPlan = "probe" | "scan" | "subjects";

const toMs = (v: unknown): number => (v === null || v === undefined ? Infinity : Number(v));

/**
 * What is currently known of exactly these facts. A fact whose only op asserts the value that its current
 * piece at that time already holds is settled in the database (jsonb equality; applyOps would keep the
 * history as it is) and comes back in `unchanged` instead of with its pieces: a whole-fleet snapshot that
 * restates 95 % of the fleet moves 5 % of it into JavaScript. `pieces[i]` belongs to `groups[i]`;
 * `plan` says which of the equivalent plans ran (for tests).
 */
export async function readCurrent(
  tx: Queryable,
  groups: Group[],
): Promise<{ pieces: Stored[][]; unchanged: Set<number>; plan: ReadPlan }> {
  const pieces: Stored[][] = groups.map(() => []);
  const unchanged = new Set<number>();
  if (groups.length === 0) return { pieces, unchanged, plan: "probe" };
  const probe = groups.map((g) => (g.ops.length === 1 && g.ops[0]!.op === "assert" ? g.ops[0]! : undefined));

  // The planner prices a GiST probe far below what it costs: past a share of the table, one hash join over
  // the current rows (on the identity's columns, no md5 per key) with room to hash in memory.
  const est = await tx.query<{ n: number }>("SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = 'fact'::regclass");
  const scan = groups.length >= Number(est.rows[0]?.n ?? 0) * SCAN_WHEN_KEYS_PER_ROW;
  const subjects = scan ? [] : [...new Set(groups.map((g) => g.subject))];
  const plan: ReadPlan = scan ? "scan" : subjects.length <= BY_SUBJECT_MAX ? "subjects" : "probe";
  // Transaction-local settings for this one query, put back after it (a failed query aborts the transaction,
  // and its local settings with it).
  const names = ["enable_nestloop", "enable_mergejoin", "work_mem"];
  const setAll = (values: string[]) =>
    tx.query("SELECT set_config(n, v, true) FROM unnest($1::text[], $2::text[]) AS x(n, v)", [names, values]);
  let was: string[] | undefined;
  if (scan) {
    const r = await tx.query<{ v: string[] }>("SELECT array_agg(current_setting(n) ORDER BY i) AS v FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)", [names]);
    was = r.rows[0]!.v;
    await setAll(["off", "off", "64MB"]);
  }
  const { from: source, params } = rowsParam([
    { name: "s", type: "text", values: groups.map((g) => g.subject) },
    { name: "a", type: "text", values: groups.map((g) => g.attribute) },
    { name: "v", type: "text", values: groups.map((g) => g.key) },
    { name: "at", type: "float8", values: probe.map((o) => (o?.op === "assert" ? o.at : null)) },
    { name: "val", type: "jsonb", values: probe.map((o) => (o?.op === "assert" ? JSON.stringify(o.value ?? null) : null)) },
  ], "k");
  // Settled facts come back as one array of their positions (and none of their pieces: half the fleet's facts
  // have two current pieces, and decoding the one that did not match was a third of a snapshot's read); the
  // rest as their current pieces. By subject, both sides are materialised first: the planner then joins two
  // small sets, whatever it guesses of the batch.
  const facts = plan === "subjects" ? "c f" : "fact f";
  const key = plan === "probe" ? "f.fact_key = demesne_fact_key(k.s, k.a, k.v) AND " : "";
  const r = await tx.query<{ ord: string | null; hits: string[] | null; fact_id: string; value: unknown; vf: number; vt: number | null; rf: number }>(
    `WITH ${plan === "subjects" ? `c AS MATERIALIZED (
       SELECT fact_id, subject, attribute, value_key, value, valid, valid_from, valid_to, recorded_from, recorded_to
         FROM fact WHERE subject = ANY ($${params.length + 1}::text[]) AND recorded_to = 'infinity'),
     ks AS MATERIALIZED (SELECT * FROM ${source}),` : ""}
     j AS MATERIALIZED (
       SELECT k.ord, f.fact_id, f.value, f.valid_from, f.valid_to, f.recorded_from,
              coalesce(k.at IS NOT NULL AND f.valid @> to_timestamp(k.at / 1000.0) AND f.value = k.val, false) AS hit
         FROM ${plan === "subjects" ? "ks k" : source}
         JOIN ${facts} ON ${key}f.recorded_to = 'infinity'
                    AND f.subject = k.s AND f.attribute = k.a AND f.value_key = k.v),
     h AS MATERIALIZED (SELECT ord FROM j WHERE hit)
     SELECT ord, NULL::bigint[] AS hits, fact_id, value, (extract(epoch FROM valid_from) * 1000)::float8 AS vf,
            CASE WHEN valid_to = 'infinity' THEN NULL ELSE (extract(epoch FROM valid_to) * 1000)::float8 END AS vt,
            (extract(epoch FROM recorded_from) * 1000)::float8 AS rf
       FROM j WHERE NOT hit AND NOT EXISTS (SELECT 1 FROM h WHERE h.ord = j.ord)
     UNION ALL
     SELECT NULL, array_agg(ord), NULL, NULL, NULL, NULL, NULL FROM h`,
    plan === "subjects" ? [...params, subjects] : params,
  );
  for (const row of r.rows) {
    if (row.ord === null) for (const o of row.hits ?? []) unchanged.add(Number(o) - 1);
    else pieces[Number(row.ord) - 1]!.push({ id: Number(row.fact_id), from: Number(row.vf), to: toMs(row.vt), value: row.value, recordedFrom: Number(row.rf) });
  }
  if (was) await setAll(was);
  return { pieces, unchanged, plan };
}
