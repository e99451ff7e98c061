/**
 * A store that times every query it runs, by kind (the statement's first words), for the recorder bench's
 * breakdown of a batch: what the database spends on each statement, and what is left for JavaScript.
 */
import type { Queryable, Store } from "../../state-model/db/store";

export interface Timings {
  /** ms per statement kind, summed. */
  byKind: Map<string, number>;
  total(): number;
}

/** The statement's kind: its first keyword and, for a call, the function it calls. */
function kindOf(sql: string): string {
  const s = sql.replace(/\s+/g, " ").trim();
  const call = /^SELECT (demesne_\w+|pg_advisory_xact_lock|set_config)/i.exec(s);
  if (call) return call[1]!;
  if (/^WITH j AS MATERIALIZED/i.test(s)) return "read current";
  const m = /^(INSERT INTO \w+|SELECT|WITH|UPDATE \w+)/i.exec(s);
  return m ? m[1]!.toLowerCase() : s.slice(0, 20);
}

export function timed(store: Store): { store: Store; timings: Timings } {
  const byKind = new Map<string, number>();
  const wrap = (q: Queryable): Queryable => ({
    query: async (sql, params) => {
      const t = performance.now();
      try {
        return await q.query(sql, params);
      } finally {
        const k = kindOf(sql);
        byKind.set(k, (byKind.get(k) ?? 0) + performance.now() - t);
      }
    },
  });
  const timings = { byKind, total: () => [...byKind.values()].reduce((a, b) => a + b, 0) };
  return {
    timings,
    store: { ...store, query: wrap(store).query, transaction: (fn) => store.transaction((tx) => fn(wrap(tx))) },
  };
}
