import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../state-model/db/store";
import { readCurrent, type Group } from "../../state-model/facts/current";
import type { FactOp } from "../../state-model/facts/types";
import { recordBatch, sha256Hex } from "../../state-model/facts/writer";
import { asOf } from "../../state-model/queries";
import { BACKENDS, freshStore } from "../helpers/stores";

/**
 * Reading what is known before a batch: a restated fact is settled in the database, a changed one comes
 * back with its pieces, and the three plans (a probe per fact, a few subjects' current rows, one pass over
 * the current rows) agree.
 */
const T0 = Date.parse("2026-06-01T00:00:00Z");
const HOSTS = 20;
const FACTS = 100;

function fleet(at: number, value: (h: number, f: number) => string, only?: (h: number, f: number) => boolean) {
  const ops: FactOp[] = [];
  const vertices = [];
  for (let h = 0; h < HOSTS; h++) {
    vertices.push({ id: `host:c-${h}`, kind: "host" as const });
    for (let f = 0; f < FACTS; f++) {
      if (only && !only(h, f)) continue;
      ops.push({ subject: `host:c-${h}`, attribute: `a-${f}`, op: "assert", at, value: { v: value(h, f), n: f } });
    }
  }
  return { kind: "test", inputSha256: sha256Hex(`${at}-${Math.random()}`), complete: true, vertices, ops };
}

const group = (h: number, f: number, at: number, v: string): Group => ({
  subject: `host:c-${h}`,
  attribute: `a-${f}`,
  key: "",
  ops: [{ op: "assert", at, value: { n: f, v } }],
});

describe.each(BACKENDS)("reading current facts on %s", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await (await freshStore(backend)).open();
    const r = await recordBatch(store, fleet(T0, () => "1"));
    expect(r.factsAdded).toBe(HOSTS * FACTS);
  }, 60_000);
  afterAll(async () => store?.close());

  it("a few subjects' facts are read by subject: the restated one is settled, the changed one comes back", async () => {
    const at = T0 + 3_600_000;
    const res = await store.transaction((tx) => readCurrent(tx, [group(0, 1, at, "1"), group(0, 2, at, "2"), group(0, 3, T0 - 1, "1")]));
    expect(res.plan).toBe("subjects");
    expect([...res.unchanged]).toEqual([0]);
    expect(res.pieces[1]).toEqual([expect.objectContaining({ from: T0, to: Infinity, value: { v: "1", n: 2 } })]);
    // Before the piece began: nothing holds that time, so the database cannot settle it.
    expect(res.pieces[2]).toHaveLength(1);
  });

  it("a few facts of many subjects are probed one by one, with the same answers", async () => {
    const at = T0 + 3_600_000;
    // Per host: one restated, one changed, one asked before its piece began.
    const groups = Array.from({ length: HOSTS }, (_, h) => [group(h, 1, at, "1"), group(h, 2, at, "2"), group(h, 3, T0 - 1, "1")]).flat();
    const res = await store.transaction((tx) => readCurrent(tx, groups));
    expect(res.plan).toBe("probe");
    expect([...res.unchanged].sort((a, b) => a - b)).toEqual(Array.from({ length: HOSTS }, (_, h) => 3 * h));
    for (let h = 0; h < HOSTS; h++) {
      expect(res.pieces[3 * h + 1]).toEqual([expect.objectContaining({ from: T0, to: Infinity, value: { v: "1", n: 2 } })]);
      expect(res.pieces[3 * h + 2]).toHaveLength(1);
    }
  });

  it("a whole-fleet snapshot is one pass: restated facts add nothing, the changed ones supersede", async () => {
    const at = T0 + 7_200_000;
    const groups: Group[] = [];
    for (let h = 0; h < HOSTS; h++) for (let f = 0; f < FACTS; f++) groups.push(group(h, f, at, f % 25 === 0 ? "2" : "1"));
    const res = await store.transaction((tx) => readCurrent(tx, groups));
    expect(res.plan).toBe("scan");
    expect(res.unchanged.size).toBe(HOSTS * (FACTS - 4));

    const r = await recordBatch(store, fleet(at, (_h, f) => (f % 25 === 0 ? "2" : "1")));
    expect(r).toMatchObject({ factsAdded: HOSTS * 4 * 2, factsClosed: HOSTS * 4, factsUnchanged: HOSTS * (FACTS - 4) });
    const before = await asOf(store, { subject: "host:c-3", validAt: new Date(at - 1) });
    const after = await asOf(store, { subject: "host:c-3", validAt: new Date(at) });
    expect(before.filter((x) => (x.value as { v: string }).v === "2")).toHaveLength(0);
    expect(after.filter((x) => (x.value as { v: string }).v === "2").map((x) => x.attribute)).toEqual(["a-0", "a-25", "a-50", "a-75"]);
  });

  it("a fact with several ops, or a retraction, is never settled in the database", async () => {
    const at = T0 + 9_000_000;
    const g: Group = { subject: "host:c-5", attribute: "a-7", key: "", ops: [{ op: "assert", at, value: { n: 7, v: "1" } }, { op: "retract", at: at + 1000 }] };
    const res = await store.transaction((tx) => readCurrent(tx, [g, { ...g, ops: [{ op: "retract", at }] }]));
    expect(res.unchanged.size).toBe(0);
    expect(res.pieces.map((p) => p.length)).toEqual([1, 1]);
    const r = await recordBatch(store, { ...fleet(at, () => "1", (h, f) => h === 5 && f === 7), ops: [{ subject: "host:c-5", attribute: "a-7", op: "retract", at }] });
    expect(r).toMatchObject({ factsAdded: 1, factsClosed: 1 });
  });

  it("identities and values holding the batch's separators (\\x1e, \\x1f) read back exactly", async () => {
    const at = T0 + 10_000_000;
    const odd = (key: string, v: string): Group => ({ subject: "host:c-6", attribute: "pkg\x1fname", key, ops: [{ op: "assert", at, value: { v } }] });
    const r = await recordBatch(store, {
      kind: "test", inputSha256: sha256Hex(`odd-${Math.random()}`), complete: true, vertices: [{ id: "host:c-6", kind: "host" }],
      ops: [
        { subject: "host:c-6", attribute: "pkg\x1fname", key: "a\x1eb", op: "assert", at: T0, value: { v: "x\x1ey\x1f" } },
        { subject: "host:c-6", attribute: "pkg\x1fname", key: "a", op: "assert", at: T0, value: { v: "b" } },
      ],
    });
    expect(r.factsAdded).toBe(2);
    // Restating both settles both; "a" with the other's tail must not be taken for "a\x1eb".
    const same = await store.transaction((tx) => readCurrent(tx, [odd("a\x1eb", "x\x1ey\x1f"), odd("a", "b"), group(6, 1, at, "1")]));
    expect([...same.unchanged].sort()).toEqual([0, 1, 2]);
    const changed = await store.transaction((tx) => readCurrent(tx, [odd("a\x1eb", "x\x1ey"), odd("a", "b\x1e"), group(6, 1, at, "2")]));
    expect(changed.unchanged.size).toBe(0);
    expect(changed.pieces.map((p) => p.map((x) => x.value))).toEqual([[{ v: "x\x1ey\x1f" }], [{ v: "b" }], [{ n: 1, v: "1" }]]);
    // Without a separator in any identity the batch goes as one text: the same answers.
    const plain = await store.transaction((tx) => readCurrent(tx, [group(6, 1, at, "1"), group(6, 2, at, "x\x1e")]));
    expect([...plain.unchanged]).toEqual([0]);
    expect(plain.pieces[1]!.map((x) => x.value)).toEqual([{ n: 2, v: "1" }]);
  });
});
