import * as fs from "node:fs";
import * as path from "node:path";
import type { Queryable } from "./store";

/**
 * The embedded store's autovacuum (adr/0025). PGlite runs no autovacuum, so fact's dead tuples (one per
 * closed version) and pages never marked all-visible pile up, and every whole-fleet scan pays for both.
 * After each write, fact is vacuumed when PostgreSQL's autovacuum would be, by its default thresholds.
 * PostgreSQL decides from cumulative statistics that PGlite forgets at every close, and a CLI run is one
 * short process: the counters are carried from one process to the next in a file beside the data.
 */
export const VACUUM_THRESHOLDS = {
    /** autovacuum_vacuum_threshold and autovacuum_vacuum_scale_factor: dead tuples. */
    dead: { base: 50, scale: 0.2 },
    /** autovacuum_vacuum_insert_threshold and autovacuum_vacuum_insert_scale_factor: rows inserted. */
    inserted: { base: 1000, scale: 0.2 },
} as const;

const FILE = "vacuum-counters.json";

interface Counters {
    dead: number;
    inserted: number;
}

interface Session extends Counters {
    /** The planner's estimate of fact's live rows (-1 before the first ANALYZE). */
    reltuples: number;
}

const zero = (): Counters => ({ dead: 0, inserted: 0 });

/** What earlier processes counted; a missing or unreadable file counts nothing (a vacuum comes later, not never). */
function carried(dir: string): Counters {
    try {
        const c = JSON.parse(fs.readFileSync(path.join(dir, FILE), "utf8")) as Partial<Counters>;
        const n = (x: unknown) => (typeof x === "number" && Number.isFinite(x) && x >= 0 ? x : 0);
        return { dead: n(c.dead), inserted: n(c.inserted) };
    } catch {
        return zero();
    }
}

function carry(dir: string, c: Counters): void {
    const tmp = path.join(dir, `.${FILE}.${process.pid}`);
    fs.writeFileSync(tmp, JSON.stringify(c), { mode: 0o600 });
    fs.renameSync(tmp, path.join(dir, FILE));
}

async function session(db: Queryable): Promise<Session> {
    // Counts reach the statistics when the backend goes idle, at most once a second unless forced.
    await db.query("SELECT pg_stat_force_next_flush()");
    // A store not yet migrated has no fact table: nothing to count.
    const r = await db.query<{ dead: string | null; inserted: string | null; reltuples: number }>(
        `SELECT s.n_dead_tup AS dead, s.n_ins_since_vacuum AS inserted, c.reltuples
           FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass('public.fact')`,
    );
    const row = r.rows[0];
    return { dead: Number(row?.dead ?? 0), inserted: Number(row?.inserted ?? 0), reltuples: Number(row?.reltuples ?? -1) };
}

/** Whether autovacuum would vacuum a table of `live` rows holding these counts. */
export function vacuumDue(c: Counters, live: number): boolean {
    const rows = Math.max(live, 0);
    const { dead, inserted } = VACUUM_THRESHOLDS;
    return c.dead > dead.base + dead.scale * rows || c.inserted > inserted.base + inserted.scale * rows;
}

/** After a write: vacuums fact when due; returns whether it did. */
export async function vacuumIfDue(db: Queryable, dir: string): Promise<boolean> {
    const now = await session(db);
    const before = carried(dir);
    const total = { dead: before.dead + now.dead, inserted: before.inserted + now.inserted };
    if (!vacuumDue(total, now.reltuples)) return false;
    await db.query("VACUUM fact");
    // VACUUM restarts this process's counters too; what earlier processes counted is now behind us.
    carry(dir, zero());
    return true;
}

/** At close: hands this process's counts to the next one. */
export async function carryCounters(db: Queryable, dir: string): Promise<void> {
    const now = await session(db);
    const before = carried(dir);
    carry(dir, { dead: before.dead + now.dead, inserted: before.inserted + now.inserted });
}
