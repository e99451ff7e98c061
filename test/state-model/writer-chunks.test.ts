import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditVerify } from "../../state-model/audit";
import type { Queryable, Store } from "../../state-model/db/store";
import type { BatchInput, FactOp } from "../../state-model/facts/types";
import { recordBatch, sha256Hex } from "../../state-model/facts/writer";
import { asOf } from "../../state-model/queries";
import { BACKENDS, freshStore } from "../helpers/stores";

/**
 * The writer sends a batch's new rows in chunks and builds the next chunk while the store inserts the one
 * before. A chunk the store refuses half-way through the batch leaves nothing of the batch behind, surfaces as
 * the batch's own error (never as an unhandled rejection), and the same batch then lands whole.
 */
const T0 = Date.parse("2026-06-01T00:00:00Z");
const HOSTS = 5;
const FACTS = 1_000; // 5,000 new rows: three chunks

function batch(): BatchInput {
  const ops: FactOp[] = [];
  const vertices = [];
  for (let h = 0; h < HOSTS; h++) {
    vertices.push({ id: `host:w-${h}`, kind: "host" as const });
    for (let f = 0; f < FACTS; f++) ops.push({ subject: `host:w-${h}`, attribute: `a-${f}`, op: "assert", at: T0, value: { n: f, h } });
  }
  return { kind: "test", inputSha256: sha256Hex(`writer-chunks-${Math.random()}`), complete: true, vertices, ops };
}

/** The store, except that its `nth` insert into fact runs a statement the server refuses instead. */
function failingInsert(store: Store, nth: number): Store {
  let inserts = 0;
  const wrap = (q: Queryable): Queryable => ({
    query: (sql, params) => {
      if (/^\s*INSERT INTO fact\b/.test(sql) && ++inserts === nth) return q.query("SELECT 1 / 0");
      return q.query(sql, params);
    },
  });
  return { ...store, query: wrap(store).query, transaction: (fn) => store.transaction((tx) => fn(wrap(tx))) };
}

describe.each(BACKENDS)("a batch's rows in chunks on %s", (backend) => {
  let store: Store;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  beforeAll(async () => {
    store = await (await freshStore(backend)).open();
    process.on("unhandledRejection", onUnhandled);
  }, 60_000);
  afterAll(async () => {
    process.off("unhandledRejection", onUnhandled);
    await store?.close();
  });

  it("a value that cannot be written, met while a refused chunk is in flight, is the error; the refusal is not left unhandled", async () => {
    const input = batch();
    const poisoned = input.ops[4_500]! as Extract<FactOp, { op: "assert" }>;
    poisoned.value = { toJSON: () => { throw new Error("poisoned value"); } };
    await expect(recordBatch(failingInsert(store, 2), input)).rejects.toThrow(/poisoned value/);
    await new Promise((r) => setTimeout(r, 50));
    expect(unhandled).toEqual([]);
    for (let h = 0; h < HOSTS; h++) expect(await asOf(store, { subject: `host:w-${h}` })).toEqual([]);
  }, 60_000);

  it("a chunk refused half-way leaves nothing of the batch, and the batch then lands whole", async () => {
    const input = batch();
    await expect(recordBatch(failingInsert(store, 2), input)).rejects.toThrow(/division by zero/);
    await new Promise((r) => setTimeout(r, 50));
    expect(unhandled).toEqual([]);
    for (let h = 0; h < HOSTS; h++) expect(await asOf(store, { subject: `host:w-${h}` })).toEqual([]);
    const batches = await store.query<{ n: number }>("SELECT count(*)::int AS n FROM batch WHERE input_sha256 = $1", [input.inputSha256]);
    expect(batches.rows[0]!.n).toBe(0);

    const res = await recordBatch(store, input);
    expect(res).toMatchObject({ duplicate: false, factsAdded: HOSTS * FACTS, factsClosed: 0 });
    for (let h = 0; h < HOSTS; h++) {
      const facts = await asOf(store, { subject: `host:w-${h}` });
      const values = facts.map((f) => f.value as { n: number; h: number }).sort((a, b) => a.n - b.n);
      expect(values).toEqual(Array.from({ length: FACTS }, (_, f) => ({ n: f, h })));
    }
    await expect(auditVerify(store)).resolves.toMatchObject({ batches: 1, facts: HOSTS * FACTS });
  }, 60_000);
});
