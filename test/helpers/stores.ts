import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pg from "pg";
import { inject } from "vitest";
import { openFleetStore } from "../../state-model/db/open";
import { openPglite } from "../../state-model/db/pglite";
import type { Store } from "../../state-model/db/store";

/** Where a fresh, empty fleet store lives: an embedded directory or a new PostgreSQL database. */
export interface StoreTarget {
  backend: "pglite" | "postgres";
  /** Environment for a `demesne` child process using this store. */
  env: Record<string, string>;
  open(): Promise<Store>;
  /** A superuser connection (PostgreSQL), for tamper tests that go around the recorder. */
  adminUrl?: string;
  dataDir?: string;
}

export const BACKENDS = ["pglite", "postgres"] as const;

export async function freshStore(backend: (typeof BACKENDS)[number]): Promise<StoreTarget> {
  if (backend === "pglite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-state-"));
    return { backend, dataDir: dir, env: { DEMESNE_STATE_DIR: dir, DATABASE_URL: "" }, open: () => openFleetStore({ stateDir: dir, databaseUrl: "" }) };
  }
  const admin = inject("pgAdminUrl");
  if (!admin) throw new Error(`the PostgreSQL suite needs a server: ${inject("pgError")}`);
  const name = `demesne_t_${Math.random().toString(36).slice(2, 10)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const url = admin.replace(/\/postgres$/, `/${name}`);
  return { backend, adminUrl: url, env: { DATABASE_URL: url }, open: () => openFleetStore({ databaseUrl: url }) };
}

/** Runs SQL around the recorder, as the store's superuser (a tamperer with full access). */
export async function asSuperuser(t: StoreTarget, sql: string): Promise<void> {
  if (t.backend === "postgres") {
    const c = new pg.Client({ connectionString: t.adminUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
    return;
  }
  const s = await openPglite(t.dataDir!, "postgres");
  try {
    await s.exec(sql);
  } finally {
    await s.close();
  }
}
