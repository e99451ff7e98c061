import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditAppend, auditHead, auditVerify } from "../../state-model/audit";
import { correct } from "../../state-model/correct";
import type { Store } from "../../state-model/db/store";
import { erase } from "../../state-model/erase";
import { ingest } from "../../state-model/ingest/ingest";
import { asOf, changes, history } from "../../state-model/queries";
import { ACL, aclUpdate, stackExport, STACK_URN } from "../helpers/engine-inputs";
import { asSuperuser, BACKENDS, freshStore, type StoreTarget } from "../helpers/stores";

const SENTINEL = `SENTINEL-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
const T0 = Date.parse("2026-11-01T10:00:00Z") / 1000;


function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe.each(BACKENDS)("fleet store on %s", (backend) => {
  let t: StoreTarget;
  let store: Store;
  beforeAll(async () => {
    t = await freshStore(backend);
    store = await t.open();
  }, 60_000);
  afterAll(async () => {
    await store?.close();
  });

  it("refuses UPDATE, DELETE, TRUNCATE and ALTER to the recorder's role", async () => {
    await ingest(store, aclUpdate(T0, { admin: "ops@example.org", sentinel: SENTINEL }));
    for (const [sql, why] of [
      ["UPDATE fact SET value = '1'", /permission denied/],
      ["DELETE FROM fact", /permission denied/],
      ["TRUNCATE fact", /permission denied/],
      ["DELETE FROM audit_log", /permission denied/],
      ["ALTER TABLE fact DISABLE TRIGGER ALL", /DDL \(ALTER TABLE\) is refused|must be owner/],
      ["DROP TABLE fact", /DDL \(DROP TABLE\) is refused|must be owner/],
      // Recorded time is the store's clock, never the caller's: no back-dated knowledge.
      [
        "INSERT INTO fact (subject, attribute, value, valid_from, batch, recorded_from) SELECT id, 'x', '1', now(), 'b', now() - interval '1 year' FROM vertex LIMIT 1",
        /permission denied/,
      ],
      ["SELECT demesne_supersede(ARRAY[1::bigint]) FROM fact WHERE false", null],
    ] as const) {
      const run = store.query(sql);
      if (why) await expect(run, sql).rejects.toThrow(why);
      else await run;
    }
    const n = await store.query<{ n: number }>("SELECT count(*)::int AS n FROM fact");
    expect(n.rows[0]!.n).toBeGreaterThan(10);
  });

  it("keeps facts consistent by itself: no two current versions of a fact overlap, every fact names a vertex", async () => {
    const insert = (subject: string, ranges: [string, string][]) =>
      store.query(
        `INSERT INTO fact (subject, attribute, value, valid_from, valid_to, batch)
         SELECT $1, 'probe', '1', f::timestamptz, t::timestamptz, 'probe' FROM unnest($2::text[], $3::text[]) AS x(f, t)`,
        [subject, ranges.map((r) => r[0]), ranges.map((r) => r[1])],
      );
    const host = (await store.query<{ id: string }>("SELECT id FROM vertex ORDER BY id LIMIT 1")).rows[0]!.id;
    await expect(insert(host, [["2026-01-01", "2026-03-01"], ["2026-02-01", "infinity"]])).rejects.toThrow(/fact_current_no_overlap/);
    await expect(insert("host:nobody", [["2026-01-01", "infinity"]])).rejects.toThrow(/names subject host:nobody, which is not a vertex/);
    // A temporary table named vertex does not stand in for the real one (since 0005 the hand-set migration switch
    // no longer lets the recorder make one at all).
    await expect(
      store.transaction(async (tx) => {
        await tx.query("SET LOCAL demesne.migrating = 'on'");
        await tx.query("CREATE TEMP TABLE vertex (id text) ON COMMIT DROP");
        await tx.query("INSERT INTO vertex VALUES ('host:ghost')");
        await tx.query("INSERT INTO fact (subject, attribute, value, valid_from, batch) VALUES ('host:ghost', 'probe', '1', now(), 'probe')");
      }),
    ).rejects.toThrow(/names subject host:ghost, which is not a vertex|DDL \(CREATE TABLE\) is refused/);
    expect((await store.query("SELECT 1 FROM fact WHERE attribute = 'probe'")).rows).toHaveLength(0);
    // The writer finds current facts through demesne_fact_key: it must be the column's own expression.
    const keys = await store.query<{ n: number; off: number }>(
      "SELECT count(*)::int AS n, count(*) FILTER (WHERE fact_key <> demesne_fact_key(subject, attribute, value_key))::int AS off FROM fact",
    );
    expect(keys.rows[0]).toEqual({ n: expect.any(Number), off: 0 });
    expect(keys.rows[0]!.n).toBeGreaterThan(10);
  });

  it("refuses every UPDATE but closing recorded_to, and DELETE/TRUNCATE, even to a superuser", async () => {
    // Every stored column, whatever is added later, is covered by the update guard.
    const cols = await store.query<{ column_name: string; data_type: string }>(
      `SELECT attname AS column_name, format_type(atttypid, NULL) AS data_type FROM pg_attribute
        WHERE attrelid = 'fact'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' AND attname <> 'recorded_to'`,
    );
    const changed = (c: { column_name: string; data_type: string }) =>
      ({ jsonb: "'\"x\"'::jsonb", bigint: `${c.column_name} + 1000000`, "timestamp with time zone": `CASE WHEN ${c.column_name} = 'infinity' THEN '2099-01-01' ELSE ${c.column_name} - interval '1 second' END` })[
        c.data_type
      ] ?? `coalesce(${c.column_name}, '') || 'x'`;
    expect(cols.rows.length).toBeGreaterThanOrEqual(11);
    await store.close(); // the embedded store is one process: let the superuser in
    try {
      for (const c of cols.rows) {
        await expect(
          asSuperuser(
            t,
            `UPDATE fact SET recorded_to = now(), ${c.column_name} = ${changed(c)} WHERE fact_id = (SELECT min(fact_id) FROM fact WHERE recorded_to = 'infinity')`,
          ),
          c.column_name,
        ).rejects.toThrow(/only closing recorded_to/);
      }
      await expect(asSuperuser(t, "UPDATE fact SET value = '\"x\"'")).rejects.toThrow(/only closing recorded_to/);
      // Recorded time is the store's clock, for a superuser's plain statements too.
      await expect(
        asSuperuser(t, "UPDATE fact SET recorded_to = '2999-01-01' WHERE fact_id = (SELECT min(fact_id) FROM fact WHERE recorded_to = 'infinity')"),
      ).rejects.toThrow(/only closing recorded_to/);
      await expect(
        asSuperuser(
          t,
          "INSERT INTO fact (subject, attribute, value, valid_from, batch, recorded_from) SELECT id, 'x', '1', now(), 'b', now() - interval '1 year' FROM vertex LIMIT 1",
        ),
      ).rejects.toThrow(/recorded from now until further notice/);
      await expect(asSuperuser(t, "UPDATE demesne_clock SET last = '-infinity'")).rejects.toThrow(/only moves forward/);
      await expect(asSuperuser(t, "DELETE FROM fact")).rejects.toThrow(/DELETE on fact is refused/);
      await expect(asSuperuser(t, "TRUNCATE fact CASCADE")).rejects.toThrow(/TRUNCATE on fact is refused/);
      await expect(asSuperuser(t, "ALTER TABLE fact DISABLE TRIGGER ALL")).rejects.toThrow(/DDL \(ALTER TABLE\) is refused/);
    } finally {
      store = await t.open();
    }
  }, 120_000); // a statement per stored column on PGlite: about 20 s on a loaded 2-core machine

  it("re-ingesting the same input adds nothing; an export ends what it no longer lists", async () => {
    const text = aclUpdate(T0 + 100, { admin: "ops@example.org", sentinel: SENTINEL, acl: "{}" });
    const first = await ingest(store, text);
    expect(first.duplicate).toBe(false);
    expect(first.factsAdded).toBeGreaterThan(0);
    const count = async () => (await store.query<{ n: number }>("SELECT count(*)::int AS n FROM fact")).rows[0]!.n;
    const before = await count();
    const again = await ingest(store, text);
    expect(again).toMatchObject({ duplicate: true, factsAdded: 0, factsClosed: 0 });
    expect(await count()).toBe(before);

    const exportText = stackExport(new Date((T0 + 200) * 1000).toISOString(), [{ urn: STACK_URN, custom: false, type: "pulumi:pulumi:Stack" }]);
    await ingest(store, exportText);
    const now = await asOf(store, { subject: ACL });
    expect(now).toEqual([]);
    const then = await asOf(store, { subject: ACL, validAt: new Date((T0 + 150) * 1000) });
    expect(then.find((f) => f.attribute === "inputs")?.value).toEqual({ acl: "{}" });
    const diff = await changes(store, { from: new Date((T0 + 150) * 1000), to: new Date((T0 + 250) * 1000) });
    expect(diff.filter((d) => d.subject === ACL).map((d) => `${d.change}:${d.attribute}`)).toContain("removed:outputs");
  });

  it("a correction keeps the old value visible as known then, with actor and reason on the new one", async () => {
    const beforeCorrection = new Date();
    await new Promise((r) => setTimeout(r, 20));
    await correct(store, { subject: STACK_URN, attribute: "type", value: "pulumi:pulumi:Stack", actor: "alice", reason: "no-op check" }).catch(() => undefined);
    const r = await correct(store, { subject: ACL, attribute: "id", value: "acl-corrected", validFrom: new Date((T0 + 1) * 1000), validTo: new Date((T0 + 100) * 1000), actor: "alice", reason: "provider reported the wrong id" });
    expect(r.factsAdded).toBeGreaterThan(0);
    const at = new Date((T0 + 50) * 1000);
    const nowKnown = await asOf(store, { subject: ACL, validAt: at });
    expect(nowKnown.find((f) => f.attribute === "id")).toMatchObject({ value: "acl-corrected", actor: "alice", reason: "provider reported the wrong id" });
    const knownThen = await asOf(store, { subject: ACL, validAt: at, knownAt: beforeCorrection });
    expect(knownThen.find((f) => f.attribute === "id")?.value).toBe("acl");
    const h = await history(store, { subject: ACL, attribute: "id" });
    expect(h.some((f) => f.value === "acl" && f.recordedTo !== null)).toBe(true);
  });

  it("stores personal data sealed; erasure destroys it while history keeps its shape and the audit chain verifies", async () => {
    const email = `erin.${backend}@example.net`;
    await ingest(store, aclUpdate(T0 + 300, { admin: email, sentinel: SENTINEL }));
    const open = await asOf(store, { subject: ACL });
    expect(JSON.stringify(open)).toContain(email);
    const raw = await store.query<{ v: string }>("SELECT value::text AS v FROM fact");
    expect(raw.rows.map((r) => r.v).join("\n")).not.toContain(email);
    await auditAppend(store, { actor: "test", action: "ingest", params: { note: email }, output: "x" });
    const rowsBefore = (await history(store, { subject: ACL })).length;
    const r = await erase(store, email, "dpo", `erasure request 42 from ${email}`);
    expect(r.erased).toBe(true);
    const reasons = await store.query<{ reason: string }>("SELECT reason FROM erasure");
    expect(reasons.rows.map((x) => x.reason).join("\n")).not.toContain(email);
    const after = await history(store, { subject: ACL });
    expect(after.length).toBe(rowsBefore);
    expect(JSON.stringify(after)).not.toContain(email);
    expect(JSON.stringify(after)).toContain("[erased]");
    // Input that names the erased subject again is recorded as erased: no new key, nothing re-identified.
    await ingest(store, aclUpdate(T0 + 400, { admin: email, sentinel: SENTINEL }));
    const again = await asOf(store, { subject: ACL });
    expect(JSON.stringify(again)).not.toContain(email);
    expect(JSON.stringify(again)).toContain("[erased]");
    await expect(auditVerify(store)).resolves.toMatchObject({ entries: expect.any(Number) });
    if (t.dataDir) {
      await store.close();
      for (const f of allFiles(t.dataDir)) expect(fs.readFileSync(f).includes(email), f).toBe(false);
      store = await t.open();
    }
  });

  it("never stores a secret: blinded stays blinded, credential names and patterns are redacted", async () => {
    const dump = await store.query<{ v: string }>("SELECT value::text AS v FROM fact UNION ALL SELECT params::text FROM audit_log");
    const all = dump.rows.map((r) => r.v).join("\n");
    expect(all).not.toContain(SENTINEL);
    expect(all).toContain('"ciphertext": "[secret]"');
    if (t.dataDir) {
      await store.close();
      for (const f of allFiles(t.dataDir)) expect(fs.readFileSync(f).includes(SENTINEL), f).toBe(false);
      store = await t.open();
    }
  });

  describe("audit chain tampering (as superuser, around the recorder) is detected", () => {
    const variants: [string, string, RegExp][] = [
      ["change a field", "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", /entry 2 was altered/],
      ["delete a row", "DELETE FROM audit_log WHERE seq = 2", /entry 2 is missing/],
      [
        "swap two rows",
        `UPDATE audit_log a SET at = b.at, actor = b.actor, action = b.action, params = b.params, output_sha256 = b.output_sha256,
           output_len = b.output_len, prev_hash = b.prev_hash, hash = b.hash FROM audit_log b WHERE (a.seq, b.seq) IN ((2, 3), (3, 2))`,
        /entry 2 does not follow/,
      ],
      ["truncate the tail", "DELETE FROM audit_log WHERE seq >= 4", /tail was removed/],
    ];
    it.each(variants)("%s", async (_name, sql, want) => {
      const target = await freshStore(backend);
      const s = await target.open();
      for (let i = 0; i < 5; i++) await auditAppend(s, { actor: "ci", action: `step-${i}`, params: { i }, output: `out ${i}` });
      const anchor = await auditHead(s);
      await s.close();
      await asSuperuser(target, `SET session_replication_role = replica; ${sql}`);
      const again = await target.open();
      try {
        await expect(auditVerify(again, anchor)).rejects.toThrow(want);
      } finally {
        await again.close();
      }
    });

    it("rewrite the tail with recomputed hashes: the chain walks, the anchor catches it", async () => {
      const target = await freshStore(backend);
      const s = await target.open();
      for (let i = 0; i < 4; i++) await auditAppend(s, { actor: "ci", action: `step-${i}`, params: { i }, output: `out ${i}` });
      const anchor = await auditHead(s);
      await s.close();
      // Recompute entries 3..4 with a forged actor, exactly as the recorder would hash them.
      const { entryHash } = await import("../../state-model/audit");
      const reader = await target.open();
      const rows = (await reader.query<{ seq: number; at: string; action: string; params: unknown; output_sha256: string; output_len: number; prev_hash: string }>(
        `SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, action, params, output_sha256, output_len, prev_hash FROM audit_log ORDER BY seq`,
      )).rows;
      await reader.close();
      let prev = rows[1]!.prev_hash;
      const sql: string[] = ["SET session_replication_role = replica"];
      for (const r of rows) {
        const seq = Number(r.seq);
        const actor = seq >= 3 ? "mallory" : "ci";
        if (seq < 2) continue;
        const hash = entryHash(prev, { ...r, seq, actor, output_len: Number(r.output_len) });
        if (seq >= 2) sql.push(`UPDATE audit_log SET actor = '${actor}', prev_hash = '${prev}', hash = '${hash}' WHERE seq = ${seq}`);
        prev = hash;
      }
      await asSuperuser(target, sql.join(";\n"));
      const again = await target.open();
      try {
        await expect(auditVerify(again)).resolves.toMatchObject({ entries: 4 });
        await expect(auditVerify(again, anchor)).rejects.toThrow(/differs from the anchor: history was rewritten/);
      } finally {
        await again.close();
      }
    });
  });
});
