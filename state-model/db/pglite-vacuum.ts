import * as fs from "node:fs";
import * as path from "node:path";
import type { Queryable } from "./store";

/**
 * The embedded store's autovacuum (adr/0025). PGlite runs no autovacuum, so fact's dead tuples (one per
 * closed version) and pages never marked all-visible pile up, and every whole-fleet scan pays for both.
 * After each write, fact is vacuumed when PostgreSQL's autovacuum would be for its dead tuples, by the default
 * threshold. (autovacuum's second rule, on rows inserted, only sets pages all-visible sooner: on the recorder
 * bench it vacuums every two or three revisions, and no read measured faster for it, so it is left out.)
 * PostgreSQL decides from cumulative statistics that PGlite forgets at every close, and a CLI run is one
 * short process: the counters are carried from one process to the next in a file beside the data.
 */
/** autovacuum_vacuum_threshold and autovacuum_vacuum_scale_factor: dead tuples past base + scale × live rows. */
export const VACUUM_THRESHOLD = { base: 50, scale: 0.2 } as const;

const FILE = "vacuum-counters.json";

interface Counters {
    dead: number;
}

interface Session extends Counters {
    /** The planner's estimate of fact's live rows (-1 before the first ANALYZE). */
    reltuples: number;
}

const zero = (): Counters => ({ dead: 0 });

/** What earlier processes counted; a missing or unreadable file counts nothing (a vacuum comes later, not never). */
function carried(dir: string): Counters {
    try {
        const { dead } = JSON.parse(fs.readFileSync(path.join(dir, FILE), "utf8")) as Partial<Counters>;
        return { dead: typeof dead === "number" && Number.isFinite(dead) && dead >= 0 ? dead : 0 };
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
    const r = await db.query<{ dead: string | null; reltuples: number }>(
        `SELECT s.n_dead_tup AS dead, c.reltuples
           FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass('public.fact')`,
    );
    const row = r.rows[0];
    return { dead: Number(row?.dead ?? 0), reltuples: Number(row?.reltuples ?? -1) };
}

/** Whether autovacuum would vacuum a table of `live` rows (-1: never analyzed, none assumed) holding `dead` dead tuples. */
export function vacuumDue(dead: number, live: number): boolean {
    return dead > VACUUM_THRESHOLD.base + VACUUM_THRESHOLD.scale * Math.max(live, 0);
}

/** After a write: vacuums fact when due; returns whether it did. */
export async function vacuumIfDue(db: Queryable, dir: string): Promise<boolean> {
    const now = await session(db);
    const before = carried(dir);
    if (!vacuumDue(before.dead + now.dead, now.reltuples)) return false;
    await db.query("VACUUM fact");
    // VACUUM restarts this process's counters too; what earlier processes counted is now behind us.
    carry(dir, zero());
    return true;
}

/** At close: hands this process's counts to the next one. */
export async function carryCounters(db: Queryable, dir: string): Promise<void> {
    const now = await session(db);
    const before = carried(dir);
    carry(dir, { dead: before.dead + now.dead });
}
