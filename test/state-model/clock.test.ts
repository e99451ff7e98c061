import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../state-model/db/store";
import { RECORDER_ROLE } from "../../state-model/db/migrate";
import type { BatchInput } from "../../state-model/facts/types";
import { recordBatch, sha256Hex, WRITE_LOCK } from "../../state-model/facts/writer";
import { freshStore, type StoreTarget } from "../helpers/stores";

/**
 * now() is when a transaction began. Two writers on PostgreSQL (the embedded store is one connection): one
 * that began before the other committed must not record after it, or two versions of a fact could both be
 * known at once (migration 0004's clock).
 */
const batch = (attribute: string, value: string): BatchInput => ({
  kind: "test",
  inputSha256: sha256Hex(`${attribute}-${value}-${Math.random()}`),
  complete: true,
  vertices: [{ id: "host:clock", kind: "host" }],
  ops: [{ subject: "host:clock", attribute, op: "assert", at: Date.parse("2026-06-01T00:00:00Z"), value }],
});

async function client(url: string, role?: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  if (role) await c.query(`SET ROLE ${role}`);
  return c;
}

describe("recorded time across concurrent writers on postgres", () => {
  let t: StoreTarget;
  let store: Store;
  beforeAll(async () => {
    t = await freshStore("postgres");
    store = await t.open();
    await recordBatch(store, batch("os", "22.04"));
  }, 60_000);
  afterAll(async () => store?.close());

  it("a writer that began before another committed is refused when it records", async () => {
    const early = await client(t.adminUrl!, RECORDER_ROLE);
    try {
      await early.query("BEGIN");
      await early.query("SELECT now()");
      await recordBatch(store, batch("os", "24.04"));
      await expect(
        early.query("INSERT INTO fact (subject, attribute, value, valid_from, batch) VALUES ('host:clock', 'late', '1', now(), 'early')"),
      ).rejects.toThrow(/a later recording committed after this transaction began/);
      await early.query("ROLLBACK");
    } finally {
      await early.end();
    }
  });

  it("recordBatch meeting that refusal runs the batch again and records it", async () => {
    const other = await client(t.adminUrl!);
    const watch = await client(t.adminUrl!);
    try {
      await other.query("SELECT pg_advisory_lock($1)", [WRITE_LOCK]);
      const pending = recordBatch(store, batch("kernel", "6.8")); // begins, then waits for the lock
      for (let i = 0; ; i++) {
        const w = await watch.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        if (w.rows[0].n > 0) break;
        if (i > 200) throw new Error("the writer never waited for the lock");
        await new Promise((r) => setTimeout(r, 10));
      }
      // Another writer begins after it and commits first.
      await other.query("BEGIN; SELECT demesne_tick(); COMMIT");
      const ticked = (await other.query("SELECT last FROM demesne_clock")).rows[0].last as Date;
      await other.query("SELECT pg_advisory_unlock($1)", [WRITE_LOCK]);
      expect(await pending).toMatchObject({ duplicate: false, factsAdded: 1 });
      const row = await watch.query("SELECT recorded_from FROM fact WHERE attribute = 'kernel'");
      expect((row.rows[0].recorded_from as Date).getTime()).toBeGreaterThanOrEqual(ticked.getTime());
    } finally {
      await other.end();
      await watch.end();
    }
  });
});
