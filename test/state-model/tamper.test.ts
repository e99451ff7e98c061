import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { auditHead, auditVerify } from "../../state-model/audit";
import { correct } from "../../state-model/correct";
import { migrate, RECORDER_ROLE } from "../../state-model/db/migrate";
import { openFleetStore } from "../../state-model/db/open";
import { openPglite } from "../../state-model/db/pglite";
import { openPostgres } from "../../state-model/db/postgres";
import type { Store } from "../../state-model/db/store";
import { blessBaseline } from "../../state-model/drift/baseline";
import { erase } from "../../state-model/erase";
import { canonicalValue } from "../../state-model/facts/binding";
import type { BatchInput, FactOp } from "../../state-model/facts/types";
import { recordBatch, sha256Hex, WRITE_LOCK } from "../../state-model/facts/writer";
import { asSuperuser, BACKENDS, freshStore, type StoreTarget } from "../helpers/stores";

/** Facts are bound into the audit chain (ADR 0013): whatever the store's owner changes behind the recorder's back, verify names it. */
const HOST = "host:web-1";
const T1 = Date.parse("2026-10-01T00:00:00Z");
const T2 = Date.parse("2026-10-02T00:00:00Z");

type Op = FactOp extends infer O ? (O extends FactOp ? Omit<O, "subject"> : never) : never;
function batch(tag: string, ops: Op[], extra: Partial<BatchInput> = {}): BatchInput {
  return {
    kind: "test",
    inputSha256: sha256Hex(`tamper-${tag}-${Math.random()}`),
    complete: true,
    vertices: [{ id: HOST, kind: "host" }],
    ops: ops.map((o) => ({ ...o, subject: HOST }) as FactOp),
    ...extra,
  };
}

/** What every kind of writer leaves behind: ingest-style batches, a superseding one, a correction, a baseline, an erasure. */
async function seed(store: Store): Promise<void> {
  await recordBatch(store, batch("one", [
    { attribute: "os", op: "assert", at: T1, value: "22.04" },
    { attribute: "package", key: "curl", op: "assert", at: T1, value: { version: "8.5" } },
    { attribute: "package", key: "jq", op: "assert", at: T1, value: { version: "1.7" } },
    { attribute: "owner", op: "assert", at: T1, value: "erin@example.net" },
    { attribute: "contact", op: "assert", at: T1, value: "sam@example.net" },
  ]));
  await recordBatch(store, batch("two", [{ attribute: "os", op: "assert", at: T2, value: "24.04" }]));
  await correct(store, { subject: HOST, attribute: "package", key: "jq", value: null, actor: "alice", reason: "jq was never installed" });
  await blessBaseline(store, "golden", ["web-1"], { actor: "alice", at: T2 + 1000 });
  await erase(store, "erin@example.net", "dpo", "erasure request 7");
}


/** The recorder's own view, without migrating or checking migrations first. */
const asRecorder = (t: StoreTarget): Promise<Store> =>
  t.backend === "postgres" ? openPostgres(t.adminUrl!, RECORDER_ROLE) : openPglite(t.dataDir!, RECORDER_ROLE);

/** One seeded store per backend; each tamper gets a copy (a data directory, or a database from it as template). */
const seededOnce = new Map<string, Promise<{ t: StoreTarget; anchor: { seq: number; hash: string } }>>();
async function seedStore(backend: (typeof BACKENDS)[number]) {
  const t = await freshStore(backend);
  const s = await t.open();
  try {
    await seed(s);
    await expect(auditVerify(s)).resolves.toMatchObject({ batches: 4 });
    return { t, anchor: await auditHead(s) };
  } finally {
    await s.close();
  }
}
async function seeded(backend: (typeof BACKENDS)[number]): Promise<{ t: StoreTarget; anchor: { seq: number; hash: string } }> {
  if (!seededOnce.has(backend)) seededOnce.set(backend, seedStore(backend));
  const { t, anchor } = await seededOnce.get(backend)!;
  if (t.backend === "pglite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-tamper-"));
    fs.cpSync(t.dataDir!, dir, { recursive: true, filter: (f) => path.basename(f) !== "demesne.lock" });
    return { t: { ...t, dataDir: dir, env: { DEMESNE_STATE_DIR: dir, DATABASE_URL: "" }, open: () => openFleetStore({ stateDir: dir, databaseUrl: "" }) }, anchor };
  }
  const name = `demesne_t_${Math.random().toString(36).slice(2, 10)}`;
  const c = new pg.Client({ connectionString: t.adminUrl!.replace(/\/[^/]+$/, "/postgres") });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name} TEMPLATE ${t.adminUrl!.split("/").pop()}`);
  } finally {
    await c.end();
  }
  const url = t.adminUrl!.replace(/\/[^/]+$/, `/${name}`);
  return { t: { ...t, adminUrl: url, env: { DATABASE_URL: url } as Record<string, string>, open: () => openFleetStore({ databaseUrl: url }) }, anchor };
}

async function verifyAfter(t: StoreTarget, anchor?: { seq: number; hash: string }) {
  const s = await asRecorder(t);
  try {
    return await auditVerify(s, anchor);
  } finally {
    await s.close();
  }
}

const REPLICA = "SET session_replication_role = replica;";

describe.each(BACKENDS)("tamper-evident facts on %s", (backend) => {
  it("a clean store verifies: batches, a correction, a baseline and an erasure are each bound", async () => {
    const { t, anchor } = await seeded(backend);
    const r = await verifyAfter(t, anchor);
    expect(r).toMatchObject({ batches: 4, head: anchor });
    expect(r.facts).toBeGreaterThan(8);
  }, 60_000);

  const variants: [string, string, RegExp][] = [
    [
      "UPDATE of a value with the replica role",
      `${REPLICA} UPDATE fact SET value = '"20.04"' WHERE attribute = 'os' AND value = '"24.04"' AND subject = '${HOST}'`,
      /facts: batch test-\w+ \(audit entry \d+\) does not match its stored rows: a stored row was changed/,
    ],
    [
      "UPDATE of a valid time with the replica role",
      `${REPLICA} UPDATE fact SET valid_from = valid_from + interval '1 microsecond' WHERE attribute = 'os' AND value = '"24.04"' AND subject = '${HOST}'`,
      /batch test-\w+ \(audit entry \d+\) does not match its stored rows: a stored row was changed/,
    ],
    [
      "DELETE with the table's triggers disabled",
      `${REPLICA} ALTER TABLE fact DISABLE TRIGGER USER; SET session_replication_role = DEFAULT;
       DELETE FROM fact WHERE attribute = 'package' AND value_key = 'curl' AND subject = '${HOST}'`,
      /batch test-\w+ \(audit entry \d+\) does not match its stored rows: facts added: 5 bound, 4 stored/,
    ],
    [
      "INSERT of a made-up fact in a made-up batch",
      `${REPLICA} INSERT INTO fact (subject, attribute, value, valid_from, batch) VALUES ('${HOST}', 'sudoers', '"ALL"', '2026-10-01', 'test-0000')`,
      /fact host:web-1 sudoers of batch test-0000, recorded [0-9T:.Z-]+, is in no audit entry: it was inserted behind the recorder's back/,
    ],
    [
      "INSERT of a made-up fact into a recorded batch",
      `${REPLICA} INSERT INTO fact (subject, attribute, value, valid_from, batch, recorded_from)
         SELECT '${HOST}', 'sudoers', '"ALL"', '2026-10-01', batch, recorded_from FROM fact WHERE attribute = 'os' AND value = '"24.04"' AND subject = '${HOST}'`,
      /does not match its stored rows: facts added: 2 bound, 3 stored/,
    ],
    [
      "UPDATE of recorded_to to resurrect what a correction removed",
      `${REPLICA} UPDATE fact SET recorded_to = 'infinity' WHERE value_key = 'jq' AND subject = '${HOST}'`,
      /fact host:web-1 package \[jq\] was closed|correction-\w+ \(audit entry \d+\) does not match its stored rows: closed: 1 bound, 0 stored/,
    ],
    [
      "a vertex's kind changed and a vertex made up",
      `${REPLICA} UPDATE vertex SET kind = 'service' WHERE id = '${HOST}'; INSERT INTO vertex (id, kind) VALUES ('host:ghost', 'host')`,
      /vertex host:ghost, recorded [0-9T:.Z-]+, is in no audit entry[\s\S]*batch test-\w+ \(audit entry \d+\) does not match its stored rows: a stored row was changed/,
    ],
    [
      "a data subject's key deleted with the replica role",
      `${REPLICA} DELETE FROM subject_key`,
      /personal data under subject ref [0-9a-f]{32} can no longer be read: its key is gone and no erasure is recorded/,
    ],
    [
      "a batch row deleted with the replica role",
      `${REPLICA} DELETE FROM batch WHERE kind = 'correction'`,
      /correction-\w+ \(audit entry \d+\) does not match its stored rows: batch rows: 1 bound, 0 stored/,
    ],
  ];
  it.each(variants)("%s: audit verify names it", async (_name, sql, want) => {
    const { t } = await seeded(backend);
    await asSuperuser(t, sql);
    await expect(verifyAfter(t)).rejects.toThrow(want);
  }, 60_000);

  it("the migration switch set by hand opens no DDL; a made-up migration that opens it stays behind, and what it changed is reported", async () => {
    const { t } = await seeded(backend);
    const tamper = `SET LOCAL demesne.migrating = 'on'; ALTER TABLE fact DISABLE TRIGGER fact_update_guard;
      UPDATE fact SET value = '"20.04"' WHERE attribute = 'os' AND value = '"24.04"' AND subject = '${HOST}'`;
    await expect(asSuperuser(t, `BEGIN; ${tamper}; COMMIT;`)).rejects.toThrow(/DDL \(ALTER TABLE\) is refused on the fleet store outside a migration/);
    await expect(verifyAfter(t)).resolves.toMatchObject({ batches: 4 });
    // Forging a migration's row opens the switch, but the row cannot be removed again in a way the store forgets.
    await asSuperuser(t, `BEGIN; INSERT INTO schema_migrations (version, name, sha256) VALUES (99, '0099_x.sql', 'x'); ${tamper}; COMMIT;`);
    await expect(asSuperuser(t, "DELETE FROM schema_migrations WHERE version = 99")).rejects.toThrow(/DELETE on schema_migrations is refused/);
    await expect(t.open()).rejects.toThrow(/the store has migration 99, which this version of demesne does not know/);
    await expect(verifyAfter(t)).rejects.toThrow(/does not match its stored rows: a stored row was changed/);
  }, 60_000);

  it("a rewritten chain that re-binds a changed fact walks, and the anchor catches it", async () => {
    const { t, anchor } = await seeded(backend);
    await asSuperuser(t, `${REPLICA} UPDATE fact SET value = '"20.04"' WHERE attribute = 'os' AND value = '"24.04"' AND subject = '${HOST}'`);
    // Recompute every binding from the tampered rows and rehash the chain, as a tamperer with the code would.
    const { entryHash, GENESIS } = await import("../../state-model/audit");
    const { BIND_ACTION, digestOf, storedLines } = await import("../../state-model/facts/binding");
    const s = await asRecorder(t);
    const lines = await storedLines(s);
    const rows = (await s.query<{ seq: number; at: string; actor: string; action: string; params: Record<string, unknown>; output_sha256: string; output_len: number }>(
      `SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor, action, params, output_sha256, output_len FROM audit_log ORDER BY seq`,
    )).rows;
    await s.close();
    const sql = [REPLICA];
    let prev = GENESIS;
    for (const r of rows) {
      let params = r.params;
      if (r.action === BIND_ACTION) {
        const T = params.recordedAt as number;
        const mine = [
          ...lines.added.filter((a) => a.batch === params.batch), ...lines.closed.filter((c) => c.rt === T),
          ...lines.vertices.filter((v) => v.at === T), ...lines.batches.filter((b) => b.id === params.batch),
        ];
        params = { ...params, digest: digestOf(mine.map((x) => x.line)) };
      }
      const hash = entryHash(prev, { ...r, seq: Number(r.seq), params, output_len: Number(r.output_len) });
      sql.push(`UPDATE audit_log SET params = '${JSON.stringify(params)}', prev_hash = '${prev}', hash = '${hash}' WHERE seq = ${r.seq};`);
      prev = hash;
    }
    await asSuperuser(t, sql.join("\n"));
    await expect(verifyAfter(t)).resolves.toMatchObject({ batches: 4 });
    await expect(verifyAfter(t, anchor)).rejects.toThrow(/differs from the anchor: history was rewritten/);
  }, 60_000);
});

describe("bindings follow recorded time on postgres", () => {
  it("a batch that writes no fact but began before another writer committed runs again after it", async () => {
    const t = await freshStore("postgres");
    const store = await t.open();
    const other = new pg.Client({ connectionString: t.adminUrl });
    const watch = new pg.Client({ connectionString: t.adminUrl });
    await other.connect();
    await watch.connect();
    try {
      await recordBatch(store, batch("first", [{ attribute: "os", op: "assert", at: T1, value: "22.04" }]));
      await other.query("SELECT pg_advisory_lock($1)", [WRITE_LOCK]);
      const pending = recordBatch(store, batch("restated", [{ attribute: "os", op: "assert", at: T1, value: "22.04" }]));
      for (let i = 0; ; i++) {
        const w = await watch.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        if (w.rows[0].n > 0) break;
        if (i > 500) throw new Error("the writer never waited for the lock");
        await new Promise((r) => setTimeout(r, 10));
      }
      await other.query("BEGIN; SELECT demesne_tick(); COMMIT"); // another writer began later and committed first
      const ticked = (await other.query("SELECT (extract(epoch FROM last) * 1000)::float8 AS t FROM demesne_clock")).rows[0].t as number;
      await other.query("SELECT pg_advisory_unlock($1)", [WRITE_LOCK]);
      expect(await pending).toMatchObject({ factsAdded: 0, factsUnchanged: 1 });
      const last = await watch.query("SELECT params FROM audit_log ORDER BY seq DESC LIMIT 1");
      expect(last.rows[0].params.recordedAt).toBeGreaterThanOrEqual(ticked);
      await expect(auditVerify(store)).resolves.toMatchObject({ batches: 2 });
    } finally {
      await other.end();
      await watch.end();
      await store.close();
    }
  }, 60_000);
});

describe("a value's canonical form", () => {
  it("is the same for what the writer sends and what the store gives back (keys in another order)", () => {
    // JSON.stringify's own rules on the writer's side; what comes back has jsonb's key order.
    const reorder = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reorder) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reorder(x)])) : v;
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: "small" }, fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined), fc.date({ noInvalidDate: true }),
        fc.array(tie("v"), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 4 }), tie("v"), { maxKeys: 4 })),
    })).v;
    fc.assert(fc.property(value, (v) => {
      const sent = JSON.stringify(v) ?? "null";
      expect(canonicalValue(v)).toBe(canonicalValue(reorder(JSON.parse(sent))));
    }), { seed: 13, numRuns: 500 });
  });
});

describe("a store written before 0005", () => {
  it("upgrades with its facts bound in one entry, verifies, and a later change to an old fact is reported", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-tamper-"));
    const old = await openPglite(dir, "postgres");
    try {
      await migrate(old, 4);
      await old.exec(`INSERT INTO vertex (id, kind) VALUES ('host:old', 'host');
        INSERT INTO fact (subject, attribute, value, valid_from, batch) VALUES ('host:old', 'os', '"22.04"', '2026-01-01', 'b1');
        INSERT INTO batch (id, input_sha256, kind, complete, facts_added, facts_closed) VALUES ('b1', 'sha-b1', 'events', true, 1, 0);`);
      await old.exec(`SELECT demesne_supersede(ARRAY[(SELECT fact_id FROM fact)]);
        INSERT INTO fact (subject, attribute, value, valid_from, valid_to, batch) VALUES ('host:old', 'os', '"22.04"', '2026-01-01', '2026-02-01', 'b2');
        INSERT INTO fact (subject, attribute, value, valid_from, batch) VALUES ('host:old', 'os', '"24.04"', '2026-02-01', 'b2');
        INSERT INTO batch (id, input_sha256, kind, complete, facts_added, facts_closed) VALUES ('b2', 'sha-b2', 'events', true, 2, 1);`);
    } finally {
      await old.close();
    }
    const store = await openFleetStore({ stateDir: dir, databaseUrl: "" });
    try {
      const legacy = await store.query<{ params: { facts: number; closed: number; batches: number } }>("SELECT params FROM audit_log WHERE action = 'bind facts recorded before 0005'");
      expect(legacy.rows.map((r) => r.params)).toEqual([expect.objectContaining({ facts: 3, closed: 1, batches: 2, vertices: 1 })]);
      await recordBatch(store, { kind: "test", inputSha256: sha256Hex(`up-${Math.random()}`), complete: true, vertices: [{ id: "host:old", kind: "host" }], ops: [{ subject: "host:old", attribute: "os", op: "assert", at: Date.parse("2026-03-01"), value: "26.04" }] });
      await expect(auditVerify(store)).resolves.toMatchObject({ batches: 1, facts: 5 });
    } finally {
      await store.close();
    }
    const owner = await openPglite(dir, "postgres");
    try {
      await owner.exec(`${REPLICA} UPDATE fact SET value = '"23.04"' WHERE batch = 'b2' AND valid_to < 'infinity'`);
      await expect(auditVerify(owner)).rejects.toThrow(/the facts recorded before 0005 \(audit entry 1\) does not match its stored rows: a stored row was changed/);
    } finally {
      await owner.close();
    }
  }, 60_000);
});
