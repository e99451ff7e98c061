// Recording drift's findings: a whole run is one batch (all of it or none), a finding still present keeps the
// time it was first seen, one that is gone ends at the run's time, and hosts the run did not look at keep
// their findings. Checked against a model over generated runs (host subsets, findings appearing and going).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../state-model/db/store";
import { findingSubject, recordFindings, type DriftReport, type Finding } from "../../state-model/drift/drift";
import { asOf } from "../../state-model/queries";
import { freshStore } from "../helpers/stores";

const HOSTS = ["a", "b", "c"];
const KEYS = ["k1", "k2", "k3"];
const T0 = Date.parse("2026-06-01T00:00:00Z");

const finding = (source: string, host: string, key: string): Finding => ({
  host, subject: `host:${host}`, attribute: "sshd", key, path: ["sshd", key], change: "changed", desired: "no", observed: "yes",
  severity: "high", source, layer: null, tier: null, converge: "",
});

const run = fc.record({
  hosts: fc.subarray(HOSTS, { minLength: 1 }),
  found: fc.record(Object.fromEntries(HOSTS.map((h) => [h, fc.subarray(KEYS)]))) as fc.Arbitrary<Record<string, string[]>>,
});

describe("drift's findings in the store", () => {
  let store: Store;
  let n = 0;
  beforeAll(async () => {
    store = await (await freshStore("pglite")).open();
  }, 120_000);
  afterAll(async () => {
    await store?.close();
  });

  it("a run is one batch; a finding keeps its first-seen time, a gone one ends, hosts not looked at keep theirs", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(run, { minLength: 1, maxLength: 5 }), async (runs) => {
        const source = `baseline:p${n++}`;
        // host → key → first seen (ISO), as the store should hold it
        const model = new Map<string, Map<string, string>>(HOSTS.map((h) => [h, new Map()]));
        for (const [i, r] of runs.entries()) {
          const at = T0 + i * 60_000;
          const report = { source, findings: r.hosts.flatMap((h) => r.found[h]!.map((k) => finding(source, h, k))) } as DriftReport;
          const before = Number((await store.query<{ n: string }>("SELECT count(*) AS n FROM batch WHERE kind = 'drift'")).rows[0]!.n);
          const out = await recordFindings(store, report, r.hosts, { at });
          const after = Number((await store.query<{ n: string }>("SELECT count(*) AS n FROM batch WHERE kind = 'drift'")).rows[0]!.n);
          expect(after - before).toBe(1);
          for (const h of r.hosts) {
            const was = model.get(h)!;
            model.set(h, new Map(r.found[h]!.map((k) => [k, was.get(k) ?? new Date(at).toISOString()])));
          }
          // What the run returns carries the same first-seen times.
          for (const f of out) expect(f.firstSeen).toBe(model.get(f.host)!.get(f.key));
          const stored = (await asOf(store, { kind: "finding", validAt: new Date(at) }))
            .filter((f) => f.subject.startsWith(findingSubject(source, "")))
            .map((f) => `${f.subject} ${f.key} ${(f.value as { firstSeen: string }).firstSeen}`)
            .sort();
          const expected = HOSTS.flatMap((h) => [...model.get(h)!].map(([k, s]) => `${findingSubject(source, h)} ${k} ${s}`)).sort();
          expect(stored).toEqual(expected);
        }
      }),
      { numRuns: 25 },
    );
  });
});
