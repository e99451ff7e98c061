import * as path from "node:path";
import { migrate, pendingMigrations, RECORDER_ROLE } from "./migrate";
import { openPglite } from "./pglite";
import { openPostgres } from "./postgres";
import type { Store } from "./store";

export interface OpenOptions {
  /** PostgreSQL connection string; default $DATABASE_URL. When absent, the embedded store is used. */
  databaseUrl?: string;
  /** Embedded store directory; default $DEMESNE_STATE_DIR, else `.demesne` in the working directory. */
  stateDir?: string;
  /** Told once when another process holds the embedded store. */
  onWait?: (holder: number) => void;
  /** How long to wait for another process's lock on the embedded store; default 300 s (the guard hook waits less). */
  lockTimeoutMs?: number;
}

export function stateDirOf(opts: OpenOptions = {}): string {
  return path.resolve(opts.stateDir ?? process.env.DEMESNE_STATE_DIR ?? ".demesne");
}

/**
 * Opens the fleet store as the recorder role, migrating it first when needed (as the embedded superuser,
 * or as the DATABASE_URL's user, which must then own the schema).
 */
export async function openFleetStore(opts: OpenOptions = {}): Promise<Store> {
  const url = opts.databaseUrl ?? process.env.DATABASE_URL;
  if (url) {
    const admin = await openPostgres(url);
    try {
      const me = await admin.query<{ u: string }>("SELECT current_user AS u");
      if ((await pendingMigrations(admin)).length > 0) {
        if (me.rows[0]?.u === RECORDER_ROLE) {
          throw new Error("the PostgreSQL store needs migrating: run `demesne db migrate` with an owner's DATABASE_URL");
        }
        await migrate(admin);
      }
      if (me.rows[0]?.u === RECORDER_ROLE) return openPostgres(url);
    } finally {
      await admin.close();
    }
    return openPostgres(url, RECORDER_ROLE);
  }
  const dir = stateDirOf(opts);
  let store: Store | undefined;
  try {
    store = await openPglite(dir, RECORDER_ROLE, opts);
    if ((await pendingMigrations(store)).length === 0) return store;
  } catch (e) {
    if (!/role .* does not exist|schema_migrations/i.test(String((e as Error).message))) {
      await store?.close();
      throw e;
    }
  }
  await store?.close();
  const admin = await openPglite(dir, "postgres", opts);
  try {
    await migrate(admin);
  } finally {
    await admin.close();
  }
  return openPglite(dir, RECORDER_ROLE, opts);
}
