// Two MCP clients (two `demesne mcp` processes) read the fleet while `demesne ingest` records an update into
// the same embedded store. Every answer names the instant it is as of, and asked again later for that
// instant it is the same, fact for fact: no answer mixes the fleet before the ingest with the fleet after.
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aclUpdate } from "../helpers/engine-inputs";
import { demesneAsync } from "../helpers/demesne-cli";
import { planWorkspace } from "../helpers/plans";
import { call, connect, type Connected } from "./client";

const T0 = Date.parse("2026-11-03T08:00:00Z") / 1000;
const ws = planWorkspace();
let a: Connected;
let b: Connected;

interface Answer {
  validAt: string;
  knownAt: string;
  facts: unknown[];
}

/**
 * An answer's facts without `recordedTo`: the one field the store ever closes on a stored version (when a later
 * recording supersedes it), so the same version read later says when it stopped being current.
 */
const fleet = async (c: Connected, args: Record<string, unknown> = {}) => {
  const r = await call(c.client, "fleet", args);
  expect(r.isError, r.text).toBe(false);
  const a = r.structured as unknown as Answer;
  return { ...a, facts: a.facts.map((f) => ({ ...(f as object), recordedTo: undefined })) };
};

beforeAll(async () => {
  const first = path.join(ws.work, "first.ndjson");
  writeFileSync(first, aclUpdate(T0, { admin: "a@example.org", sentinel: "s1" }));
  expect(ws.cli("ingest", first).code).toBe(0);
  [a, b] = await Promise.all([connect([], ws.env, ws.work, "agent-a"), connect([], ws.env, ws.work, "agent-b")]);
}, 600_000);

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

describe("concurrent MCP reads", { timeout: 600_000 }, () => {
  it("two clients reading while an ingest runs get consistent as-of answers", async () => {
    const before = await fleet(a);
    const second = path.join(ws.work, "second.ndjson");
    // Another admin and more policy: many facts change in one transaction.
    writeFileSync(second, aclUpdate(T0 + 100, { admin: "b@example.org", sentinel: "s2", acl: JSON.stringify({ groups: { "group:admins": ["b@example.org"] }, tagOwners: { "tag:servers": ["group:admins"] } }) }));
    const ingest = demesneAsync(["ingest", second], ws.env);
    const reads = (c: Connected) => (async () => {
      const out: { now: Answer; then: Answer }[] = [];
      for (let i = 0; i < 2; i++) out.push({ now: await fleet(c), then: await fleet(c, { validAt: before.validAt, knownAt: before.knownAt }) });
      return out;
    })();
    const [ra, rb, done] = await Promise.all([reads(a), reads(b), ingest.done]);
    expect(done.code, done.stderr).toBe(0);
    const after = await fleet(b);
    expect(after.facts).not.toEqual(before.facts);
    for (const r of [...ra, ...rb]) {
      // As of the first instant: the fleet before the ingest, whenever asked.
      expect(r.then.facts).toEqual(before.facts);
      // As of its own instant: the whole fleet before, or the whole fleet after, and the same when asked again.
      expect([JSON.stringify(before.facts), JSON.stringify(after.facts)].map((f) => f === JSON.stringify(r.now.facts)).filter(Boolean)).toHaveLength(1);
      expect((await fleet(a, { validAt: r.now.validAt, knownAt: r.now.knownAt })).facts).toEqual(r.now.facts);
    }
  });
});
