import type { Queryable } from "../../state-model/db/store";
import { esc } from "../escape";
import { ACTION } from "./hook";

/** The agent's trail: its entries in the audit chain, oldest first, optionally one run (session) only. */
export interface TrailRow {
  seq: number;
  at: string;
  run: string | null;
  tool: string | null;
  decision: string;
  rule: string | null;
  command: string | null;
  path: string | null;
}

export async function readTrail(db: Queryable, opts: { run?: string; last?: number } = {}): Promise<TrailRow[]> {
  const r = await db.query<{ seq: number; at: string; params: Record<string, unknown> }>(
    `SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at, params FROM audit_log
      WHERE action = $1 AND ($2::text IS NULL OR params->>'run' = $2) ORDER BY seq DESC LIMIT $3`,
    [ACTION, opts.run ?? null, opts.last ?? 50],
  );
  const s = (v: unknown) => (typeof v === "string" ? v : null);
  return r.rows.reverse().map((row) => ({
    seq: Number(row.seq), at: row.at, run: s(row.params.run), tool: s(row.params.tool), decision: s(row.params.decision) ?? "?",
    rule: s(row.params.rule), command: s(row.params.command), path: s(row.params.path),
  }));
}

/** One line per entry, every stored value escaped (a command line may hold control characters). */
export function formatTrail(rows: TrailRow[]): string {
  if (!rows.length) return "no agent entries in the audit log\n";
  return rows.map((r) => `${r.seq}\t${r.at}\t${r.decision}\t${esc(r.rule ?? "-")}\t${esc((r.run ?? "-").slice(0, 12))}\t${esc(r.tool ?? "-")}\t${esc(r.command ?? r.path ?? "")}`).join("\n") + "\n";
}
