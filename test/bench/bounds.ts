/**
 * What a phase's ratio to the plain insert could reach at best, from the same run's measurements (adr/0029):
 * the recorder bench prints these beside the ratios themselves, so a target is judged against what the
 * store's statements leave room for, not against a guess.
 */
import { redactSecrets } from "../../state-model/facts/redact";
import { rowsParam } from "../../state-model/facts/rows-param";
import type { BatchInput } from "../../state-model/facts/types";
import type { Timings } from "./timed-store";

/**
 * The ratio a phase would reach if everything but its statements cost nothing: the ratio divided by the
 * statements' share of the phase. A statement counts from when it is sent until the driver has decoded its
 * result, with any JavaScript that overlaps it (adr/0028), so this is what the statements as timed allow.
 */
export function statementsOnly(ratio: number, phaseMs: number, t: Timings): number {
  return ratio * (phaseMs / t.total());
}

/**
 * The JavaScript that no way of recording a snapshot can skip: each value redacted before it is compared or
 * stored (secrets never reach the store), and each fact, identity and value, written into the text that
 * crosses to the server (or read back from it, the same size). Timed on the snapshot's own input, outside
 * the recorder, after the recorder has warmed the same functions.
 */
export function leastSnapshotJavaScriptMs(input: BatchInput): number {
  const start = performance.now();
  const n = input.ops.length;
  const s: string[] = new Array(n), a: string[] = new Array(n), k: string[] = new Array(n), v: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = input.ops[i]!;
    s[i] = o.subject;
    a[i] = o.attribute;
    k[i] = o.key ?? "";
    v[i] = JSON.stringify(redactSecrets(o.op === "retract" ? null : (o.value ?? null), o.attribute));
  }
  rowsParam([
    { name: "s", type: "text", values: s },
    { name: "a", type: "text", values: a },
    { name: "k", type: "text", values: k },
    { name: "v", type: "jsonb", values: v },
  ], "k");
  return performance.now() - start;
}

/** A phase's ratio with its statements and only the least JavaScript: input facts/s over the plain rate. */
export function withLeastJavaScript(facts: number, t: Timings, leastMs: number, rawRate: number): number {
  return facts / ((t.total() + leastMs) / 1000) / rawRate;
}
