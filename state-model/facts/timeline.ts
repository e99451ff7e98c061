import { canonicalJson } from "../../components/model/hash";

/**
 * One fact's valid-time history as currently known: non-overlapping pieces [from, to) in ms since the epoch
 * (to = Infinity for "still true"), adjacent pieces never equal (they are merged).
 */
export interface Piece {
  from: number;
  to: number;
  value: unknown;
}

export type Op =
  /** The fact has `value` from `at` until its next known change (or for good). */
  | { op: "assert"; at: number; value: unknown }
  /** The fact stops being true at `at` (the piece holding `at` ends there). */
  | { op: "retract"; at: number }
  /** A correction: over [from, to) the fact was `value` (null: it did not hold). */
  | { op: "correct"; from: number; to: number; value: unknown | null };

/** A value's canonical JSON, computed once per object: a batch compares the same values several times. */
const canonicalOf = new WeakMap<object, string>();
function canonical(v: unknown): string {
  if (v === null || typeof v !== "object") return canonicalJson(v);
  let c = canonicalOf.get(v);
  if (c === undefined) canonicalOf.set(v, (c = canonicalJson(v)));
  return c;
}

const same = (a: unknown, b: unknown) => a === b || canonical(a) === canonical(b);

function normalise(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of [...pieces].sort((a, b) => a.from - b.from)) {
    if (!(p.from < p.to)) continue;
    const last = out[out.length - 1];
    if (last && last.to === p.from && same(last.value, p.value)) last.to = p.to;
    else out.push({ ...p });
  }
  return out;
}

/** Applies ops in order (ties already broken by the caller: later input wins). Pure. */
export function applyOps(current: Piece[], ops: Op[]): Piece[] {
  let ps = normalise(current);
  for (const o of ops) {
    if (o.op === "correct") {
      const cut: Piece[] = [];
      for (const p of ps) {
        if (p.to <= o.from || p.from >= o.to) cut.push(p);
        else {
          if (p.from < o.from) cut.push({ from: p.from, to: o.from, value: p.value });
          if (p.to > o.to) cut.push({ from: o.to, to: p.to, value: p.value });
        }
      }
      if (o.value !== null) cut.push({ from: o.from, to: o.to, value: o.value });
      ps = normalise(cut);
      continue;
    }
    const holder = ps.find((p) => p.from <= o.at && o.at < p.to);
    if (o.op === "retract") {
      if (!holder) continue;
      ps = normalise(ps.flatMap((p) => (p === holder ? [{ from: p.from, to: o.at, value: p.value }] : [p])));
      continue;
    }
    if (holder) {
      if (same(holder.value, o.value)) continue;
      ps = normalise(
        ps.flatMap((p) =>
          p === holder
            ? [
                { from: p.from, to: o.at, value: p.value },
                { from: o.at, to: p.to, value: o.value },
              ]
            : [p],
        ),
      );
    } else {
      const next = ps.filter((p) => p.from > o.at).reduce((m, p) => Math.min(m, p.from), Infinity);
      ps = normalise([...ps, { from: o.at, to: next, value: o.value }]);
    }
  }
  return ps;
}

/** Which stored pieces to close and which to add so the store holds `next` instead of `prev`. */
export function diffPieces<P extends Piece>(prev: P[], next: Piece[]): { close: P[]; add: Piece[] } {
  if (prev.length === 0 || next.length === 0) return { close: prev, add: next };
  const sig = (p: Piece) => `${p.from}|${p.to}|${canonical(p.value)}`;
  const nextSigs = new Set(next.map(sig));
  const prevSigs = new Set(prev.map(sig));
  return { close: prev.filter((p) => !nextSigs.has(sig(p))), add: next.filter((p) => !prevSigs.has(sig(p))) };
}
