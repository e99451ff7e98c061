import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { aclUpdate } from "../helpers/engine-inputs";
import { demesne, demesneAsync } from "../helpers/demesne-cli";
import { BACKENDS, freshStore, type StoreTarget } from "../helpers/stores";

const T0 = Date.parse("2026-11-02T08:00:00Z") / 1000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-cli-"));
const file = (name: string, text: string) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
};

async function factCount(t: StoreTarget): Promise<number> {
  const s = await t.open();
  try {
    return (await s.query<{ n: number }>("SELECT (SELECT count(*) FROM fact) + (SELECT count(*) FROM batch) AS n")).rows[0]!.n as number;
  } finally {
    await s.close();
  }
}

describe.each(BACKENDS)("demesne CLI on %s", (backend) => {
  it("rejects broken, truncated and wrong-kind input with exit 2, naming line and field, writing nothing", async () => {
    const t = await freshStore(backend);
    const good = aclUpdate(T0, { admin: "a@example.org", sentinel: "s" });
    const lines = good.trim().split("\n");
    const cases: [string, string, string[], RegExp][] = [
      ["truncated.ndjson", `${lines.slice(0, 3).join("\n")}\n${lines[3]!.slice(0, 40)}`, [], /line 4: broken JSON/],
      ["bad-field.ndjson", lines.map((l, i) => (i === 2 ? l.replace('"urn":', '"urn":42,"x":') : l)).join("\n"), [], /line 3: resourcePreEvent\.metadata\.urn: .*expected string/i],
      ["wrong-kind.json", '{"hello": "world"}', [], /line 1: unknown kind/],
      ["asked-kind.ndjson", good, ["--kind", "export"], /expected export, found an engine event stream/],
      ["export-missing.json", '{\n  "version": 3,\n  "deployment": {\n    "manifest": {}\n  }\n}', [], /line 4: deployment\.manifest\.time: /],
    ];
    for (const [name, text, extra, want] of cases) {
      const r = demesne(["ingest", file(name, text), ...extra, "--json"], t.env);
      expect(r.code, `${name}: ${r.stderr}${r.stdout}`).toBe(2);
      const out = JSON.parse(r.stdout) as { error: string; message: string };
      expect(out.message, name).toMatch(want);
      expect(out.message).toMatch(/nothing was written/);
    }
    expect(await factCount(t)).toBe(0);
  });

  it("ingest reports kind, update, completeness and counts; a second run is a no-op; an update without a summary is incomplete", async () => {
    const t = await freshStore(backend);
    const p = file(`good-${backend}.ndjson`, aclUpdate(T0 + 10, { admin: "a@example.org", sentinel: "s" }));
    const first = demesne(["ingest", p, "--json"], t.env);
    expect(first.code, first.stderr).toBe(0);
    const r1 = JSON.parse(first.stdout);
    expect(r1).toMatchObject({ kind: "events", stack: "control", complete: true, duplicate: false });
    expect(r1.factsAdded).toBeGreaterThan(20);
    const second = JSON.parse(demesne(["ingest", p, "--json"], t.env).stdout);
    expect(second).toMatchObject({ duplicate: true, factsAdded: 0, factsClosed: 0 });
    const cut = file(`cut-${backend}.ndjson`, aclUpdate(T0 + 20, { admin: "a@example.org", sentinel: "s", withSummary: false }));
    const r3 = demesne(["ingest", cut], t.env);
    expect(r3.code).toBe(0);
    expect(r3.stdout).toMatch(/INCOMPLETE/);
    const v = demesne(["audit", "verify", "--json"], t.env);
    // Three ingest entries, and the two batches that recorded something each bound by their own entry.
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, entries: 5, batches: 2 });
  }, 120_000);

  it("two concurrent ingests of different inputs both land; of the same input, once", async () => {
    const t = await freshStore(backend);
    demesne(["db", "migrate"], t.env);
    const a = file(`a-${backend}.ndjson`, aclUpdate(T0 + 30, { admin: "a@example.org", sentinel: "s", acl: '{"a":1}' }));
    const b = file(`b-${backend}.ndjson`, aclUpdate(T0 + 40, { admin: "a@example.org", sentinel: "s", acl: '{"b":1}' }));
    const runs = [a, b, a].map((f) => demesneAsync(["ingest", f, "--json"], t.env));
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const reports = results.map((r) => JSON.parse(r.stdout) as { duplicate: boolean; batch: string });
    expect(reports.filter((r) => r.duplicate)).toHaveLength(1);
    const s = await t.open();
    try {
      const batches = await s.query<{ n: number }>("SELECT count(*)::int AS n FROM batch");
      expect(batches.rows[0]!.n).toBe(2);
      const dup = await s.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM (SELECT subject, attribute, value_key, valid_from FROM fact WHERE recorded_to = 'infinity' GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) x",
      );
      expect(dup.rows[0]!.n).toBe(0);
    } finally {
      await s.close();
    }
  }, 120_000);

  it("kill -9 during an ingest leaves no partial batch, and the retry succeeds", async () => {
    const t = await freshStore(backend);
    demesne(["db", "migrate"], t.env);
    // A big input, so that the kill lands while the transaction is open.
    const lines: string[] = [];
    for (let i = 0; i < 4000; i++) {
      const urn = `urn:pulumi:control::demesne::demesne:host:Host$command:remote:Command::step-${i}`;
      const meta = { op: "create", urn, type: "command:remote:Command", new: { type: "command:remote:Command", id: `id-${i}`, inputs: { create: `echo ${i}` }, outputs: { stdout: `${i}` } } };
      lines.push(JSON.stringify({ sequence: 0, timestamp: T0 + 50, resOutputsEvent: { metadata: meta } }));
    }
    lines.push(JSON.stringify({ sequence: 0, timestamp: T0 + 51, summaryEvent: { resourceChanges: { create: 4000 }, isPreview: false, result: "succeeded" } }));
    const big = file(`big-${backend}.ndjson`, `${lines.join("\n")}\n`);
    const run = demesneAsync(["ingest", big], t.env);
    // Kill it hard once its transaction has started writing.
    await run.stderrMatch(/recording \d+ fact changes/);
    await new Promise((r) => setTimeout(r, 300));
    run.kill("SIGKILL");
    const killed = await run.done;
    expect(killed.code).not.toBe(0);
    expect(await factCount(t)).toBe(0);
    const started = Date.now();
    const retry = demesne(["ingest", big, "--json"], t.env);
    // The kill landed inside the work: the whole ingest takes longer than the 300 ms we waited.
    expect(Date.now() - started).toBeGreaterThan(1000);
    expect(retry.code, retry.stderr).toBe(0);
    expect(JSON.parse(retry.stdout).factsAdded).toBeGreaterThan(4000 * 5);
  }, 180_000);
});
