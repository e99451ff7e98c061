import type { Queryable, Store } from "../db/store";
import { auditAppendIn } from "../audit";
import { addedLine, batchLine, BIND_ACTION, canonicalValue, closedLine, digestOf, vertexLine, type BatchBinding } from "./binding";
import { PersonalData, dataSubjectOf, mayNamePerson } from "./personal";
import { redactSecrets } from "./redact";
import { readCurrent, type Group } from "./current";
import { rowsParam } from "./rows-param";
import { applyOps, diffPieces, type Piece } from "./timeline";
import type { BatchInput, BatchResult } from "./types";

/** Serialises writers across processes and connections (PostgreSQL); PGlite is one connection anyway. */
export const WRITE_LOCK = 7_236_041;
const CHUNK = 2_000;
/** Attempts at a batch that meets a concurrent writer (SQLSTATE 40001): each runs with a fresh now(). */
const ATTEMPTS = 3;

/**
 * A batch's facts by identity, in input order. Three levels of maps rather than one joined key per op: joining
 * and hashing 200,000 keys was half the time of grouping a whole-fleet snapshot.
 */
class Groups {
  private readonly by = new Map<string, Map<string, Map<string, Group>>>();
  readonly list: Group[] = [];
  get(subject: string, attribute: string, key: string): Group | undefined {
    return this.by.get(subject)?.get(attribute)?.get(key);
  }
  add(g: Group): Group {
    let attributes = this.by.get(g.subject);
    if (!attributes) this.by.set(g.subject, (attributes = new Map()));
    let keys = attributes.get(g.attribute);
    if (!keys) attributes.set(g.attribute, (keys = new Map()));
    keys.set(g.key, g);
    this.list.push(g);
    return g;
  }
}
const finite = (ms: number) => (Number.isFinite(ms) ? ms : null);
/** A time as the store keeps it (µs) and reads it back in ms: what verify will see. */
const asStored = (ms: number) => (Number.isFinite(ms) ? Math.round(ms * 1000) / 1000 : ms);

/** Identifiers are never personal data: an e-mail inside one becomes its pseudonymous subject ref. */
async function pseudonymise(pd: PersonalData, id: string): Promise<string> {
  let out = id;
  for (let s = dataSubjectOf(out); s; s = dataSubjectOf(out)) {
    const re = new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi");
    out = out.replace(re, `pd:${await pd.ref(s)}`);
  }
  return out;
}

/**
 * Records one batch in one transaction: vertices, then per fact the new valid-time history computed from
 * what is currently known plus the batch's ops; changed pieces are superseded (recorded_to closed), new
 * pieces inserted. The same input (by sha256) twice records nothing the second time.
 */
export async function recordBatch(store: Store, input: BatchInput): Promise<BatchResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await recordOnce(store, input);
    } catch (e) {
      // A writer that began before another one committed, or whose facts it superseded: read again, redo.
      if (attempt >= ATTEMPTS || (e as { code?: string }).code !== "40001") throw e;
    }
  }
}

async function recordOnce(store: Store, input: BatchInput): Promise<BatchResult> {
  return store.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [WRITE_LOCK]);
    // T, the batch's recorded time, finds its closings and vertices again when verify recomputes its binding:
    // no two batches may share it, and bindings follow T's order in the chain (the clock refuses a writer that
    // began before the last one committed, even when it will write no fact).
    const seen = await tx.query<{ id: string | null; t: number; taken: boolean }>(
      `SELECT (SELECT id FROM batch WHERE input_sha256 = $1) AS id, (extract(epoch FROM now()) * 1000)::float8 AS t,
              EXISTS (SELECT 1 FROM batch WHERE recorded_at = now()) AS taken, demesne_tick() IS NULL AS ticked`,
      [input.inputSha256],
    );
    if (seen.rows[0]!.id) {
      return { batchId: seen.rows[0]!.id, duplicate: true, factsAdded: 0, factsClosed: 0, factsUnchanged: input.ops.length };
    }
    if (seen.rows[0]!.taken) throw Object.assign(new Error("another batch was recorded at the same instant"), { code: "40001" });
    const T = Number(seen.rows[0]!.t);
    const batchId = `${input.kind}-${input.inputSha256.slice(0, 16)}`;
    const pd = new PersonalData(tx);

    // Identifiers repeat (a host's 200 facts name it 200 times) and values rarely name a person: only what
    // contains an "@" goes through the (asynchronous) pseudonymising and sealing.
    const ids = new Map<string, string>();
    const pseud = async (id: string) => {
      let out = ids.get(id);
      if (out === undefined) ids.set(id, (out = await pseudonymise(pd, id)));
      return out;
    };
    const id = (s: string) => (s.includes("@") ? pseud(s) : s);
    const clean = (v: unknown, attribute: string) => {
      if (v === null) return null;
      const r = redactSecrets(v, attribute);
      return mayNamePerson(r) ? pd.seal(r) : r;
    };
    const vIds: string[] = [];
    const vKinds: string[] = [];
    for (const v of input.vertices) {
      vIds.push(await id(v.id));
      vKinds.push(v.kind);
    }
    const declared = new Set(vIds);
    // Group ops by fact identity, in input order. Awaited only when there is something to wait for (an "@", a
    // sealed value): three awaits per fact were a fifth of a 200,000-fact snapshot's time.
    const groups = new Groups();
    for (const o of input.ops) {
      const s = id(o.subject);
      const subject = typeof s === "string" ? s : await s;
      const kv = id(o.key ?? "");
      const key = typeof kv === "string" ? kv : await kv;
      const g = groups.get(subject, o.attribute, key) ?? groups.add({ subject, attribute: o.attribute, key, ops: [] });
      if (o.op === "retract") {
        g.ops.push({ op: "retract", at: o.at });
        continue;
      }
      const c = clean(o.value, o.attribute);
      const value = c instanceof Promise ? await c : c;
      // An assert whose value redaction left as it was is its own op (it has the op's fields): one object
      // fewer per fact, and every one of them lives until the batch ends.
      if (o.op === "assert") g.ops.push(value === o.value ? o : { op: "assert", at: o.at, value });
      else g.ops.push({ op: "correct", from: o.from, to: o.to, value });
    }
    for (const g of groups.list) {
      if (!declared.has(g.subject)) {
        throw new Error(`fact ${g.attribute} names subject ${g.subject}, which the batch does not declare`);
      }
    }
    // A vertex new in this batch has no facts yet (a fact needs its vertex; vertices are never deleted, and
    // writers take turns): its facts skip the read of what is known.
    const fresh = new Set<string>();
    const lines: string[] = [];
    if (vIds.length) {
      const made = await tx.query<{ id: string; kind: string }>(
        "INSERT INTO vertex (id, kind) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (id) DO NOTHING RETURNING id, kind",
        [vIds, vKinds],
      );
      for (const r of made.rows) {
        fresh.add(r.id);
        lines.push(vertexLine(r.id, r.kind, T));
      }
    }

    if (input.retractMissing) {
      // Everything of the snapshot's scope that is true at its time but absent from it ends then. The scope's
      // identities come back as one JSON text, not a row each: an observation restates hundreds of facts, and
      // a row apiece handed to JavaScript was a fifth of recording one (adr/0024).
      const { subjectPrefix, at, subjects, attributes } = input.retractMissing;
      const scope = await tx.query<{ ids: [string, string, string][] | null }>(
        `SELECT json_agg(json_build_array(subject, attribute, value_key)) AS ids FROM (
           SELECT DISTINCT subject, attribute, value_key FROM fact
            WHERE recorded_to = 'infinity' AND starts_with(subject, $1) AND valid @> to_timestamp($2 / 1000.0)
              AND ($3::text[] IS NULL OR attribute = ANY ($3::text[])) AND ($4::text[] IS NULL OR subject = ANY ($4::text[]))) AS d`,
        [subjectPrefix, at, attributes ?? null, subjects ?? null],
      );
      for (const [subject, attribute, key] of scope.rows[0]?.ids ?? []) {
        if (!groups.get(subject, attribute, key)) groups.add({ subject, attribute, key, ops: [{ op: "retract", at }] });
      }
    }
    const all = groups.list;
    const known = all.filter((g) => !fresh.has(g.subject));
    const { pieces, unchanged: settled } = await readCurrent(tx, known);
    const list = [...known, ...all.filter((g) => fresh.has(g.subject))]; // fresh ones have no pieces

    const close: number[] = [];
    // What to add, as (fact, piece) pairs: their rows and binding lines are built chunk by chunk below.
    const addG: Group[] = [];
    const addP: Piece[] = [];
    let unchanged = settled.size;
    for (const [i, g] of list.entries()) {
      if (settled.has(i)) continue;
      const prev = pieces[i] ?? [];
      const next = applyOps(prev, g.ops);
      const d = diffPieces(prev, next);
      if (d.close.length === 0 && d.add.length === 0) unchanged += 1;
      for (const p of d.close) {
        close.push(p.id);
        lines.push(closedLine({ subject: g.subject, attribute: g.attribute, key: g.key, vf: p.from, vt: finite(p.to), rf: p.recordedFrom, rt: T }));
      }
      for (const p of d.add) {
        addG.push(g);
        addP.push(p);
      }
    }
    for (let i = 0; i < close.length; i += CHUNK) {
      await tx.query("SELECT demesne_supersede($1::bigint[])", [close.slice(i, i + CHUNK)]);
    }
    // Each chunk is built while the store inserts the one before: PostgreSQL works in its own process while
    // this one canonicalises values and writes binding lines (on the embedded store the two take turns).
    // At most one insert is in flight; a failed one is awaited before anything else is sent.
    let inserting: Promise<unknown> | undefined;
    for (let i = 0; i < addP.length; i += CHUNK) {
      const n = Math.min(CHUNK, addP.length - i);
      const s: string[] = new Array(n), a: string[] = new Array(n), k: string[] = new Array(n), v: string[] = new Array(n);
      const f: number[] = new Array(n), t: (number | null)[] = new Array(n);
      for (let j = 0; j < n; j++) {
        const g = addG[i + j]!;
        const p = addP[i + j]!;
        // Sent in its canonical form: the same text is the value's part of the binding (jsonb ignores key order).
        const value = canonicalValue(p.value);
        s[j] = g.subject;
        a[j] = g.attribute;
        k[j] = g.key;
        v[j] = value;
        f[j] = p.from;
        t[j] = Number.isFinite(p.to) ? p.to : null;
        lines.push(addedLine({
          batch: batchId, subject: g.subject, attribute: g.attribute, key: g.key, vf: asStored(p.from), vt: finite(asStored(p.to)), rf: T,
          value, actor: input.actor ?? null, reason: input.reason ?? null,
        }));
      }
      const rows = rowsParam([
        { name: "s", type: "text", values: s },
        { name: "a", type: "text", values: a },
        { name: "k", type: "text", values: k },
        { name: "v", type: "jsonb", values: v },
        { name: "f", type: "float8", values: f },
        { name: "t", type: "float8", values: t },
      ], "x", 4);
      await inserting;
      inserting = tx.query(
        `INSERT INTO fact (subject, attribute, value_key, value, valid_from, valid_to, batch, actor, reason)
         SELECT s, a, k, v, to_timestamp(f / 1000.0), coalesce(to_timestamp(t / 1000.0), 'infinity'), $1, $2, $3
           FROM ${rows.from} ORDER BY ord`,
        [batchId, input.actor ?? null, input.reason ?? null, ...rows.params],
      );
      // Handled here so that an error met while the next chunk is built is not also an unhandled rejection;
      // the await above (or below) still throws it.
      inserting.catch(() => undefined);
    }
    const added = addP.length;
    lines.push(batchLine({
      id: batchId, sha: input.inputSha256, kind: input.kind, stack: input.stack ?? null, update: input.updateId ?? null,
      complete: input.complete, added, closed: close.length, at: T,
    }));
    const digest = digestOf(lines); // while the last chunk is inserted
    await inserting;
    // Statistics keep as-of by subject on the subject index; the function analyzes only when they are stale.
    if (added > 0) await tx.query("SELECT demesne_analyze()");
    await tx.query(
      `INSERT INTO batch (id, input_sha256, kind, stack, update_id, complete, facts_added, facts_closed)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [batchId, input.inputSha256, input.kind, input.stack ?? null, input.updateId ?? null, input.complete, added, close.length],
    );
    // The binding commits with the batch or not at all (ADR 0013).
    const binding: BatchBinding = { batch: batchId, recordedAt: T, facts: added, closed: close.length, vertices: fresh.size, digest };
    await auditAppendIn(tx, { actor: input.actor ?? "recorder", action: BIND_ACTION, params: { ...binding }, output: "" }, { verbatim: true });
    return { batchId, duplicate: false, factsAdded: added, factsClosed: close.length, factsUnchanged: unchanged };
  });
}

export { sha256Hex } from "../../components/model/hash";
export type { Queryable };
