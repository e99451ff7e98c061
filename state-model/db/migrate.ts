import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { IntegrityError, type Store } from "./store";
import { auditAppendIn } from "../audit";
import { LEGACY_ACTION, legacyBinding, storedLines } from "../facts/binding";
import { WRITE_LOCK } from "../facts/writer";

/** The role the recorder works as: SELECT and INSERT, two SECURITY DEFINER functions, nothing else. */
export const RECORDER_ROLE = "demesne_recorder";

const DIR = path.join(__dirname, "..", "migrations");

export interface Migration {
  version: number;
  name: string;
  sql: string;
  sha256: string;
}

/** The versioned migrations, in order: the same files run on PGlite and on PostgreSQL. */
export function migrations(): Migration[] {
  return fs
    .readdirSync(DIR)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = fs.readFileSync(path.join(DIR, f), "utf8");
      return {
        version: Number.parseInt(f.slice(0, 4), 10),
        name: f,
        sql,
        sha256: createHash("sha256").update(sql).digest("hex"),
      };
    });
}

const BOOTSTRAP = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()
);
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${RECORDER_ROLE}') THEN CREATE ROLE ${RECORDER_ROLE} LOGIN; END IF;
END $$;`;

/** Applied versions, checked against the files: a migration edited after it ran is an integrity failure. */
export async function pendingMigrations(store: Store): Promise<Migration[]> {
  const exists = await store.query<{ t: string | null }>("SELECT to_regclass('public.schema_migrations')::text AS t");
  const applied = new Map<number, string>();
  if (exists.rows[0]?.t) {
    const r = await store.query<{ version: number; sha256: string }>("SELECT version, sha256 FROM schema_migrations");
    for (const row of r.rows) applied.set(Number(row.version), row.sha256);
  }
  const all = migrations();
  for (const [v, sha] of applied) {
    const m = all.find((x) => x.version === v);
    if (!m) throw new IntegrityError(`the store has migration ${v}, which this version of demesne does not know`);
    if (m.sha256 !== sha) throw new IntegrityError(`migration ${m.name} was changed after it was applied`);
  }
  return all.filter((m) => !applied.has(m.version));
}

/** The migration from which facts are bound into the audit chain (ADR 0013). */
const BINDING_VERSION = 5;

/**
 * Applies pending migrations, each in its own transaction, as an owner/superuser connection; `upTo` stops
 * after that version (tests make a store as an older demesne left it). The migration's own row is written
 * first: from 0005 on, the DDL guard opens only in a transaction that recorded a migration.
 */
export async function migrate(store: Store, upTo = Infinity): Promise<number> {
  const pending = (await pendingMigrations(store)).filter((m) => m.version <= upTo);
  const fresh = !(await store.query<{ t: string | null }>("SELECT to_regclass('public.schema_migrations')::text AS t")).rows[0]?.t;
  if (fresh && pending.length) await store.exec(`BEGIN; ${BOOTSTRAP}\nCOMMIT;`); // no guard exists yet
  for (const m of pending) {
    const sha = m.sha256;
    try {
      await store.exec(
        `BEGIN; SET LOCAL demesne.migrating = 'on';\n` +
          `INSERT INTO schema_migrations (version, name, sha256) VALUES (${m.version}, '${m.name}', '${sha}');\n` +
          `${BOOTSTRAP}\n${m.sql}\nGRANT SELECT ON schema_migrations TO ${RECORDER_ROLE};\nCOMMIT;`,
      );
    } catch (e) {
      await store.exec("ROLLBACK").catch(() => undefined);
      throw new Error(`migration ${m.name} failed: ${(e as Error).message}`);
    }
    if (m.version === BINDING_VERSION) await bindLegacyFacts(store);
  }
  return pending.length;
}

/**
 * Binds what a store recorded before 0005 in one audit entry, right after that migration (under the
 * writer's lock, so no batch lands in between). A store with nothing recorded yet has nothing to bind.
 */
async function bindLegacyFacts(store: Store): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [WRITE_LOCK]);
    await tx.query("SELECT demesne_tick()"); // a writer that began before this entry runs again, after it
    const bound = await tx.query("SELECT 1 FROM audit_log WHERE action = $1 LIMIT 1", [LEGACY_ACTION]);
    if (bound.rows.length) return;
    const lines = await storedLines(tx);
    if (!lines.added.length && !lines.vertices.length && !lines.batches.length) return;
    const t = await tx.query<{ t: number }>("SELECT (extract(epoch FROM now()) * 1000)::float8 AS t");
    const params = legacyBinding(lines, Number(t.rows[0]!.t));
    await auditAppendIn(tx, { actor: "migration", action: LEGACY_ACTION, params: { ...params }, output: "" }, { verbatim: true });
  });
}
