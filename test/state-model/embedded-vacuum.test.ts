// The embedded store vacuums fact itself (adr/0025): PGlite has no autovacuum, and forgets the counters autovacuum
// decides by at every close. A fleet recorded by many short CLI runs must still be vacuumed once the closed versions
// add up past autovacuum's threshold, and not before; vacuuming changes nothing a reader or verify can see.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { auditVerify } from "../../state-model/audit";
import { openFleetStore } from "../../state-model/db/open";
import { vacuumDue } from "../../state-model/db/pglite-vacuum";
import type { Store } from "../../state-model/db/store";
import type { BatchInput } from "../../state-model/facts/types";
import { recordBatch, sha256Hex } from "../../state-model/facts/writer";
import { asOf } from "../../state-model/queries";
import { freshStore } from "../helpers/stores";

const FACTS = 300;
const T0 = Date.parse("2026-11-01T00:00:00Z");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Revision r of one host's FACTS facts: revision 0 writes all, a later one changes facts [0, changed). */
function revision(r: number, changed: number): BatchInput {
  const ops = [];
  for (let f = 0; f < (r === 0 ? FACTS : changed); f++) {
    ops.push({ subject: "host:web-1", attribute: `attr-${f}`, key: "", op: "assert" as const, at: T0 + r * 3_600_000, value: { v: `${f}.${r}` } });
  }
  return { kind: "test", inputSha256: sha256Hex(`vacuum-${r}-${Math.random()}`), complete: true, vertices: [{ id: "host:web-1", kind: "host" }], ops };
}

const open = (dir: string) => openFleetStore({ stateDir: dir, databaseUrl: "" });
/** VACUUM marks every page all-visible in pg_class; ANALYZE alone (which the recorder runs) leaves it at 0. */
const allVisible = async (s: Store) => {
  const r = await s.query<{ pages: number; visible: number }>("SELECT relpages AS pages, relallvisible AS visible FROM pg_class WHERE relname = 'fact'");
  return r.rows[0]!.pages > 0 && r.rows[0]!.visible === r.rows[0]!.pages;
};
const counters = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, "vacuum-counters.json"), "utf8")) as { dead: number };

describe("the embedded store's vacuum", () => {
  it("follows autovacuum's default threshold for dead tuples", () => {
    expect(vacuumDue(110, 300)).toBe(false);
    expect(vacuumDue(111, 300)).toBe(true);
    expect(vacuumDue(51, -1)).toBe(true); // never analyzed: no rows assumed
    expect(vacuumDue(50, -1)).toBe(false);
  });

  it("adds up closed versions across processes, vacuums once they pass the threshold, and readers and verify see no change", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-vacuum-"));
    dirs.push(dir);
    // One process: 300 facts, then 80 of them changed. 80 dead tuples stay under 50 + 20 % of the live rows.
    let store = await open(dir);
    await recordBatch(store, revision(0, 0));
    await recordBatch(store, revision(1, 80));
    expect(await allVisible(store)).toBe(false);
    await store.close();
    expect(counters(dir).dead).toBe(80);

    // The next process changes 80 more: alone under the threshold again, together over it.
    store = await open(dir);
    const before = await asOf(store, { validAt: new Date(T0 + 30 * 60_000) });
    await recordBatch(store, revision(2, 80));
    expect(await allVisible(store)).toBe(true);
    expect(counters(dir)).toEqual({ dead: 0 });
    expect(await asOf(store, { validAt: new Date(T0 + 30 * 60_000) })).toEqual(before);
    expect((await asOf(store, {})).find((f) => f.attribute === "attr-0")?.value).toEqual({ v: "0.2" });
    await expect(auditVerify(store)).resolves.toBeTruthy();
    await store.close();
  });

  it("a counters file that cannot be read counts nothing and is written afresh", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-vacuum-"));
    dirs.push(dir);
    let store = await open(dir);
    await store.close();
    fs.writeFileSync(path.join(dir, "vacuum-counters.json"), '{"dead": "lots"');
    store = await open(dir);
    await recordBatch(store, revision(0, 0));
    await recordBatch(store, revision(1, 40));
    expect(await allVisible(store)).toBe(false);
    await store.close();
    expect(counters(dir)).toEqual({ dead: 40 });
  });

  it("only the embedded store's recorder may maintain fact; a PostgreSQL server's recorder gets no such grant", async () => {
    for (const [backend, granted] of [["pglite", true], ["postgres", false]] as const) {
      const store = await (await freshStore(backend)).open();
      try {
        // The recorder's table-wide privileges on fact, as the ACL holds them (servers before 17 have no MAINTAIN).
        const r = await store.query<{ p: string }>(
          "SELECT a.privilege_type AS p FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = 'fact'::regclass AND a.grantee = 'demesne_recorder'::regrole",
        );
        const privileges = r.rows.map((x) => x.p).sort();
        expect(privileges.includes("MAINTAIN"), `${backend}: ${privileges}`).toBe(granted);
        expect(privileges.filter((x) => ["UPDATE", "DELETE", "TRUNCATE"].includes(x)), backend).toEqual([]);
      } finally {
        await store.close();
      }
    }
  });
});
