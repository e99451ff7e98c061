import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { openFleetStore } from "../../state-model/db/open";
import { auditVerify } from "../../state-model/audit";
import { migrate } from "../../state-model/db/migrate";
import { openPglite } from "../../state-model/db/pglite";
import { recordBatch, sha256Hex } from "../../state-model/facts/writer";
import { asOf, history } from "../../state-model/queries";

/** A store written before migration 0004 (ADR 0012) keeps its facts and their history through the upgrade. */
describe("upgrading a store made before 0004", () => {
  it("keeps every fact, swaps the constraints, and records on top of the old history", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-upgrade-"));
    const old = await openPglite(dir, "postgres");
    try {
      expect(await migrate(old, 3)).toBe(3);
      // What 0001–0003 allowed and a recorder of that time wrote: a fact, superseded by a later version.
      await old.exec(`
        INSERT INTO vertex (id, kind) VALUES ('host:old', 'host');
        INSERT INTO fact (subject, attribute, value, valid_from, batch) VALUES ('host:old', 'os', '"22.04"', '2026-01-01', 'b1');`);
      await old.exec(`BEGIN; SELECT demesne_supersede(ARRAY[(SELECT fact_id FROM fact)]);
        INSERT INTO fact (subject, attribute, value, valid_from, valid_to, batch) VALUES ('host:old', 'os', '"22.04"', '2026-01-01', '2026-02-01', 'b2');
        INSERT INTO fact (subject, attribute, value, valid_from, batch) VALUES ('host:old', 'os', '"24.04"', '2026-02-01', 'b2'); COMMIT;`);
      const constraints = await old.query<{ conname: string }>("SELECT conname FROM pg_constraint WHERE conrelid = 'fact'::regclass ORDER BY 1");
      expect(constraints.rows.map((r) => r.conname)).toContain("fact_subject_fkey");
    } finally {
      await old.close();
    }

    const store = await openFleetStore({ stateDir: dir, databaseUrl: "" });
    try {
      const names = await store.query<{ conname: string }>("SELECT conname FROM pg_constraint WHERE conrelid = 'fact'::regclass");
      expect(names.rows.map((r) => r.conname)).toContain("fact_current_no_overlap");
      expect(names.rows.map((r) => r.conname)).not.toContain("fact_subject_fkey");
      expect(names.rows.map((r) => r.conname)).not.toContain("fact_fact_key_valid_recorded_excl");
      expect(await history(store, { subject: "host:old" })).toHaveLength(3);

      const at = Date.parse("2026-03-01T00:00:00Z");
      const batch = (value: string) => ({
        kind: "test",
        inputSha256: sha256Hex(`upgrade-${value}-${Math.random()}`),
        complete: true,
        vertices: [{ id: "host:old", kind: "host" as const }],
        ops: [{ subject: "host:old", attribute: "os", op: "assert" as const, at, value }],
      });
      expect(await recordBatch(store, batch("24.04"))).toMatchObject({ factsAdded: 0, factsUnchanged: 1 });
      expect(await recordBatch(store, batch("26.04"))).toMatchObject({ factsAdded: 2, factsClosed: 1 });
      const when = (t: string) => asOf(store, { subject: "host:old", validAt: t }).then((r) => r.map((f) => f.value));
      expect(await when("2026-01-15T00:00:00Z")).toEqual(["22.04"]);
      expect(await when("2026-02-15T00:00:00Z")).toEqual(["24.04"]);
      expect(await when("2026-03-15T00:00:00Z")).toEqual(["26.04"]);
    } finally {
      await store.close();
    }
  });
});

/** 0008 (adr/0027) drops a stored column and changes statistics: a store recorded before it still proves its history. */
describe("upgrading a store recorded at 0007", () => {
  it("drops the recorded range, keeps every version readable and bound, and records on top", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-upgrade-"));
    const at = (d: string) => Date.parse(`${d}T00:00:00Z`);
    const batch = (value: string, day: string) => ({
      kind: "test",
      inputSha256: sha256Hex(`upgrade-0008-${value}-${Math.random()}`),
      complete: true,
      vertices: [{ id: "host:old", kind: "host" as const }],
      ops: [{ subject: "host:old", attribute: "os", op: "assert" as const, at: at(day), value }],
    });
    const old = await openPglite(dir, "postgres");
    try {
      expect(await migrate(old, 7)).toBe(7);
      await recordBatch(old, batch("22.04", "2026-01-01"));
      await recordBatch(old, batch("24.04", "2026-02-01"));
      const cols = await old.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'fact'::regclass AND attname = 'recorded'");
      expect(cols.rows[0]!.n).toBe(1);
    } finally {
      await old.close();
    }

    const store = await openFleetStore({ stateDir: dir, databaseUrl: "" });
    try {
      const live = await store.query<{ attname: string }>("SELECT attname FROM pg_attribute WHERE attrelid = 'fact'::regclass AND attnum > 0 AND NOT attisdropped");
      expect(live.rows.map((r) => r.attname)).not.toContain("recorded");
      expect(live.rows.map((r) => r.attname)).toEqual(expect.arrayContaining(["recorded_from", "recorded_to", "valid", "fact_key"]));
      await expect(auditVerify(store)).resolves.toMatchObject({ batches: 2, facts: 3 });
      expect(await recordBatch(store, batch("26.04", "2026-03-01"))).toMatchObject({ factsAdded: 2, factsClosed: 1 });
      await expect(auditVerify(store)).resolves.toMatchObject({ batches: 3, facts: 5 });
      const when = (d: string) => asOf(store, { subject: "host:old", validAt: `${d}T12:00:00Z` }).then((r) => r.map((f) => f.value));
      expect([await when("2026-01-15"), await when("2026-02-15"), await when("2026-03-15")]).toEqual([["22.04"], ["24.04"], ["26.04"]]);
      expect(await history(store, { subject: "host:old" })).toHaveLength(5);
    } finally {
      await store.close();
    }
  });
});
