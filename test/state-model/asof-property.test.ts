import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../state-model/db/store";
import { recordBatch, sha256Hex } from "../../state-model/facts/writer";
import type { FactOp } from "../../state-model/facts/types";
import { asOf, asOfWhere } from "../../state-model/queries";
import { BACKENDS, freshStore } from "../helpers/stores";

/**
 * The store's as-of answers against an in-memory reference model written separately from the store's
 * timeline code: valid time is a grid of 10 seconds; the model keeps the whole grid per recording.
 */
const GRID = 10;
const BASE = Date.parse("2026-01-01T00:00:00Z");
type Cell = string | null;
type RefOp = { op: "assert"; at: number; value: string } | { op: "retract"; at: number } | { op: "correct"; from: number; to: number; value: string | null };

function applyRef(cells: Cell[], o: RefOp): Cell[] {
  const c = [...cells];
  if (o.op === "correct") {
    for (let x = o.from; x < o.to; x++) c[x] = o.value;
    return c;
  }
  // assert/retract act on the run of equal cells starting at `at` (a piece, or a gap up to the next piece)
  const old = c[o.at];
  const next: Cell = o.op === "assert" ? o.value : null;
  if (old === next) return c;
  for (let x = o.at; x < GRID && c[x] === old; x++) c[x] = next;
  return c;
}

const opArb: fc.Arbitrary<RefOp> = fc.oneof(
  fc.record({ op: fc.constant("assert" as const), at: fc.integer({ min: 0, max: GRID - 1 }), value: fc.constantFrom("a", "b", "c") }),
  fc.record({ op: fc.constant("retract" as const), at: fc.integer({ min: 0, max: GRID - 1 }) }),
  fc
    .record({ a: fc.integer({ min: 0, max: GRID - 1 }), len: fc.integer({ min: 1, max: GRID }), value: fc.option(fc.constantFrom("a", "b", "c"), { nil: null }) })
    .map(({ a, len, value }) => ({ op: "correct" as const, from: a, to: Math.min(GRID, a + len), value })),
);

describe.each(BACKENDS)("as-of answers match a reference model on %s", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await (await freshStore(backend)).open();
  }, 60_000);
  afterAll(async () => store?.close());

  it("random assertions, retractions and corrections", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 6 }), async (ops) => {
        const subject = `host:prop-${++run}`;
        let cells: Cell[] = Array(GRID).fill(null);
        const snapshots: { knownAt: string; cells: Cell[] }[] = [];
        for (const [i, o] of ops.entries()) {
          // The grid's last cell runs to infinity in the store: a correction up to GRID means "for good".
          const s = (x: number) => BASE + x * 1000;
          const op: FactOp =
            o.op === "correct"
              ? { subject, attribute: "state", op: "correct", from: s(o.from), to: o.to >= GRID ? Infinity : s(o.to), value: o.value }
              : o.op === "assert"
                ? { subject, attribute: "state", op: "assert", at: s(o.at), value: o.value }
                : { subject, attribute: "state", op: "retract", at: s(o.at) };
          const r = await recordBatch(store, {
            kind: "test",
            inputSha256: sha256Hex(`${subject}/${i}/${Math.random()}`),
            complete: true,
            vertices: [{ id: subject, kind: "host" }],
            ops: [op],
            ...(o.op === "correct" ? { actor: "prop", reason: "property test" } : {}),
          });
          cells = applyRef(cells, o);
          const at = await store.query<{ t: string }>("SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS t FROM batch WHERE id = $1", [r.batchId]);
          snapshots.push({ knownAt: at.rows[0]!.t, cells });
        }
        for (const snap of snapshots) {
          // Inside each cell, and at its first instant (where one piece ends and the next begins).
          for (let x = 0; x < GRID; x++) {
            for (const into of [500, 0]) {
              const rows = await asOf(store, { subject, validAt: new Date(BASE + x * 1000 + into), knownAt: snap.knownAt });
              const got = rows.find((f) => f.attribute === "state")?.value ?? null;
              if (got !== snap.cells[x]) {
                throw new Error(`after ${JSON.stringify(ops)}: at valid ${x}+${into}ms known ${snap.knownAt} store says ${JSON.stringify(got)}, model ${JSON.stringify(snap.cells[x])}`);
              }
            }
          }
        }
      }),
      { numRuns: backend === "pglite" ? 40 : 25 },
    );
    expect(run).toBeGreaterThan(0);
  }, 300_000);

  it("the as-of condition on plain columns is the ranges' containment, at every stored row's own bounds", async () => {
    // Each row is tested at its bounds and a microsecond before each, in valid and in recorded time: a strict
    // comparison where a bound is inclusive (or the reverse) shows up here.
    const r = await store.query<{ rows: number; differ: number }>(
      `SELECT count(DISTINCT f.fact_id)::int AS rows,
              count(*) FILTER (WHERE (f.valid @> v.t AND tstzrange(f.recorded_from, f.recorded_to) @> k.t) IS DISTINCT FROM (${asOfWhere("f", "v.t", "k.t")}))::int AS differ
         FROM fact f,
              LATERAL (VALUES (f.valid_from), (f.valid_to), (f.valid_from - interval '1 microsecond'), (f.valid_to - interval '1 microsecond')) AS v(t),
              LATERAL (VALUES (f.recorded_from), (f.recorded_to), (f.recorded_from - interval '1 microsecond'), (f.recorded_to - interval '1 microsecond'), (now())) AS k(t)`,
    );
    expect(r.rows[0]!.rows).toBeGreaterThan(0);
    expect(r.rows[0]!.differ).toBe(0);
  }, 60_000);
});
