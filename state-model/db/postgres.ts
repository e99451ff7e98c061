import pg from "pg";
import type { Queryable, Store } from "./store";

// int8 (bigserial ids, counts) as numbers, as PGlite returns them: our ids stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

/** A connection string for people: the password is never shown. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}

/** Opens PostgreSQL at `url`; with `role`, every connection switches to it (SET ROLE) before use. */
export async function openPostgres(url: string, role?: string): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  if (role) pool.on("connect", (c) => void c.query(`SET ROLE ${pg.escapeIdentifier(role)}`).catch(() => undefined));
  const first = await pool.connect(); // fail now, with the server's message, if it cannot be reached
  if (role) await first.query(`SET ROLE ${pg.escapeIdentifier(role)}`);
  first.release();
  return {
    backend: "postgres",
    location: redactUrl(url),
    query: async (sql, params) => ({ rows: (await pool.query(sql, params)).rows }),
    exec: async (sql) => {
      await pool.query(sql);
    },
    transaction: async (fn) => {
      const c = await pool.connect();
      try {
        if (role) await c.query(`SET ROLE ${pg.escapeIdentifier(role)}`);
        await c.query("BEGIN");
        const tx: Queryable = { query: async (sql, params) => ({ rows: (await c.query(sql, params)).rows }) };
        const out = await fn(tx);
        await c.query("COMMIT");
        return out;
      } catch (e) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw e;
      } finally {
        c.release();
      }
    },
    close: () => pool.end(),
  };
}
