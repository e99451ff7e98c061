import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { IntegrityError, type Store } from "./store";

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

/**
 * Applies pending migrations, each in its own transaction, as an owner/superuser connection; `upTo` stops
 * after that version (tests make a store as an older demesne left it).
 */
export async function migrate(store: Store, upTo = Infinity): Promise<number> {
  const pending = (await pendingMigrations(store)).filter((m) => m.version <= upTo);
  for (const m of pending) {
    const sha = m.sha256;
    try {
      await store.exec(
        `BEGIN; SET LOCAL demesne.migrating = 'on'; ${BOOTSTRAP}\n${m.sql}\n` +
          `INSERT INTO schema_migrations (version, name, sha256) VALUES (${m.version}, '${m.name}', '${sha}');\n` +
          `GRANT SELECT ON schema_migrations TO ${RECORDER_ROLE};\nCOMMIT;`,
      );
    } catch (e) {
      await store.exec("ROLLBACK").catch(() => undefined);
      throw new Error(`migration ${m.name} failed: ${(e as Error).message}`);
    }
  }
  return pending.length;
}
