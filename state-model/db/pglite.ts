import * as fs from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { btree_gist } from "@electric-sql/pglite/contrib/btree_gist";
import { lockDir } from "./lock";
import { carryCounters, vacuumIfDue } from "./pglite-vacuum";
import type { Queryable, Store } from "./store";

/** Opens the embedded store in `dir` as `username`, holding the directory lock until close(). */
export async function openPglite(
  dir: string,
  username: string,
  opts: { onWait?: (holder: number) => void; lockTimeoutMs?: number } = {},
): Promise<Store> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = await lockDir(dir, { onWait: opts.onWait, timeoutMs: opts.lockTimeoutMs });
  let db: PGlite;
  try {
    db = await PGlite.create({ dataDir: `${dir}/pgdata`, username, extensions: { btree_gist } });
  } catch (e) {
    lock.release();
    throw e;
  }
  // The store's housekeeping never fails a write that has committed: it says so and the next write tries again.
  const maintain = async (step: () => Promise<unknown>) => {
    try {
      await step();
    } catch (e) {
      process.stderr.write(`demesne: the embedded store's vacuum was skipped: ${(e as Error).message}\n`);
    }
  };
  // One connection: queries from concurrent callers in this process are serialised by PGlite itself.
  const q: Queryable = {
    query: async (sql, params) => ({ rows: (await db.query(sql, params as unknown[])).rows as never[] }),
  };
  return {
    backend: "pglite",
    location: dir,
    query: q.query,
    exec: async (sql) => {
      await db.exec(sql);
    },
    transaction: async (fn) => {
      const out = await db.transaction(async (tx) =>
        fn({ query: async (sql, params) => ({ rows: (await tx.query(sql, params as unknown[])).rows as never[] }) }),
      );
      await maintain(() => vacuumIfDue(q, dir));
      return out;
    },
    close: async () => {
      try {
        await maintain(() => carryCounters(q, dir));
        await db.close();
      } finally {
        lock.release();
      }
    },
  };
}
