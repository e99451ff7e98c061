// The recorder on real engine output: the Pulumi CLI built from Go modules (scripts/toolchain.sh) runs an
// inline program through the Automation API (test/engine/drive.ts) — previews, updates with create, update,
// replace and delete, a saved plan, a failed update, stack exports — and `demesne ingest` records them all.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openFleetStore } from "../../state-model/db/open";
import type { Store } from "../../state-model/db/store";
import { asOf } from "../../state-model/queries";
import { demesne } from "../helpers/demesne-cli";
import { REPO, SENTINEL } from "../helpers/stack";

const work = mkdtempSync(path.join(tmpdir(), "demesne-engine-"));
const out = path.join(work, "out");
const env = { DEMESNE_STATE_DIR: path.join(work, "state"), DATABASE_URL: "" };
const outputs: string[] = [];
const ingest = (file: string) => {
  const r = demesne(["ingest", path.join(out, file), "--stack", "control", "--json"], env);
  outputs.push(r.stdout, r.stderr);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { kind: string; complete: boolean; updateId: string; factsAdded: number; duplicate: boolean };
};
const FILES = ["preview.ndjson", "up-1.ndjson", "export-1.json", "preview-2.ndjson", "plan.json", "up-2.ndjson", "failed.ndjson", "export-2.json"];
const reports = new Map<string, ReturnType<typeof ingest>>();

/** The store's facts as of valid time `validAt`; the store is closed again, so the CLI can open it. */
async function facts(validAt?: Date) {
  const store: Store = await openFleetStore({ stateDir: env.DEMESNE_STATE_DIR, databaseUrl: "" });
  try {
    return await asOf(store, { validAt });
  } finally {
    await store.close();
  }
}

/** The toolchain's pulumi (built from Go modules once, then cached; a CI run builds it in the background). */
function pulumiBin(): string {
  const r = spawnSync("bash", [path.join(REPO, "scripts/toolchain.sh"), "--print-path"], {
    env: { ...process.env, DEMESNE_TOOLCHAIN_BINARIES: "pulumi" }, encoding: "utf8", timeout: 1_500_000,
  });
  if (r.status !== 0) {
    throw new Error(`the real engine is needed and could not be built (scripts/toolchain.sh; Go and the Go module proxy):\n${r.stderr.slice(-2000)}`);
  }
  return path.join(r.stdout.trim(), "pulumi");
}

beforeAll(() => {
  const bin = pulumiBin();
  // The dynamic provider's plugin is the shim @pulumi/pulumi ships; it resolves the SDK through NODE_PATH.
  const sdk = path.join(REPO, "node_modules", "@pulumi", "pulumi");
  execFileSync(process.execPath, [path.join(REPO, "node_modules", "tsx", "dist", "cli.mjs"), path.join(__dirname, "drive.ts"), out], {
    env: { ...process.env, PULUMI_BIN: bin, DEMESNE_SENTINEL: SENTINEL, PATH: `${path.dirname(bin)}:${sdk}:${process.env.PATH}`, NODE_PATH: path.join(REPO, "node_modules") },
    stdio: ["ignore", "ignore", "pipe"], timeout: 600_000,
  });
  for (const f of FILES) reports.set(f, ingest(f));
}, 1_800_000);

const URN = (name: string, type = "demesne:host:Host$pulumi-nodejs:dynamic:Resource") => `urn:pulumi:control::demesne::${type}::${name}`;

describe("the recorder on the real engine's output", { timeout: 120_000 }, () => {
  it("recognises every kind and knows which updates finished, and how", () => {
    expect(FILES.map((f) => reports.get(f)!.kind)).toEqual(["events", "events", "export", "events", "plan", "events", "events", "export"]);
    // Real streams end with a cancelEvent after the summary: that is the end of the stream, not a cancellation.
    for (const f of ["preview.ndjson", "up-1.ndjson", "up-2.ndjson", "failed.ndjson"]) expect(reports.get(f)!.complete, f).toBe(true);
  });

  it("steps keep the engine's operations: create, update, replace, delete — and the failure", async () => {
    const all = await facts();
    const steps = all.filter((f) => f.subject.startsWith("step:") && f.attribute === "op");
    const opsOf = (update: string) => new Map(steps.filter((s) => s.subject.startsWith(`step:${update}:`)).map((s) => [s.subject.split(":").slice(3).join(":"), s.value]));
    const up1 = opsOf(reports.get("up-1.ndjson")!.updateId);
    expect(up1.get(URN("control-1-ssh"))).toBe("create");
    const up2 = opsOf(reports.get("up-2.ndjson")!.updateId);
    expect(up2.get(URN("control-1-ssh"))).toBe("update");
    expect(up2.get(URN("control-1-firewall"))).toBe("delete");
    expect(up2.get(URN("control-2-baseline"))).toBe("create");
    expect([...up2.entries()].filter(([u]) => u === URN("control-1-baseline")).map(([, op]) => op)).toContainEqual(expect.stringMatching(/replace|create-replacement/));
    const result = (u: string) => all.find((f) => f.subject === `update:${reports.get(u)!.updateId}` && f.attribute === "result")?.value;
    expect(result("up-2.ndjson")).toBe("succeeded");
    expect(result("failed.ndjson")).toBe("failed");
    const diag = all.filter((f) => f.subject.startsWith(`diagnostic:${reports.get("failed.ndjson")!.updateId}:`) && f.attribute === "message");
    expect(diag.map((d) => d.value)).toContainEqual(expect.stringContaining("layer docker failed its verify step"));
  });

  it("the events alone leave a replaced resource with its new inputs and a deleted one ended", async () => {
    const alone = { ...env, DEMESNE_STATE_DIR: path.join(work, "events-only") };
    for (const f of ["up-1.ndjson", "up-2.ndjson"]) expect(demesne(["ingest", path.join(out, f), "--stack", "control"], alone).code).toBe(0);
    const store: Store = await openFleetStore({ stateDir: alone.DEMESNE_STATE_DIR, databaseUrl: "" });
    try {
      const now = await asOf(store, {});
      const inputsOf = (name: string) => now.find((f) => f.subject === URN(name) && f.attribute === "inputs")?.value as Record<string, unknown> | undefined;
      // Replaced create-before-delete: its delete-replaced comes last and must not end the URN.
      expect(inputsOf("control-1-baseline")).toMatchObject({ generation: 2 });
      expect(inputsOf("control-1-firewall")).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it("a stack export replaces the resource set: what the second one lacks has ended", async () => {
    const now = await facts();
    const current = new Set(now.map((f) => f.subject));
    expect(current.has(URN("control-2-baseline"))).toBe(true);
    expect(current.has(URN("control-1-firewall"))).toBe(false);
    // …and had been true before: history is kept, not rewritten.
    const firewall = (await facts(new Date(Date.parse(JSON.parse(readFileSync(path.join(out, "export-1.json"), "utf8")).deployment.manifest.time) + 1)))
      .filter((f) => f.subject === URN("control-1-firewall"));
    expect(firewall.length).toBeGreaterThan(0);
  });

  it("the plan lists the steps the engine planned", async () => {
    const plan = (await facts()).filter((f) => f.subject.startsWith(`step:${reports.get("plan.json")!.updateId}:plan:`) && f.attribute === "op");
    expect(plan.map((f) => f.value)).toEqual(expect.arrayContaining(["update", "delete"]));
    // The engine writes what a step changes in goal.inputDiff and the proposed state beside it, never a full
    // input map: the planned inputs of the in-place update carry its new value.
    const ssh = (await facts()).find((f) => f.subject === `step:${reports.get("plan.json")!.updateId}:plan:${URN("control-1-ssh")}` && f.attribute === "inputs");
    expect(ssh?.value).toMatchObject({ maxAuthTries: 3 });
  });

  it("the sentinel secret — in plaintext in the Automation API's export — is never stored or printed", () => {
    expect(readFileSync(path.join(out, "export-1.json"), "utf8")).toContain(SENTINEL); // the input really carries it
    const files: string[] = [];
    const walk = (d: string) => {
      for (const n of readdirSync(d)) {
        const p = path.join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(env.DEMESNE_STATE_DIR);
    for (const f of files) expect(readFileSync(f).includes(SENTINEL), f).toBe(false);
    for (const o of outputs) expect(o).not.toContain(SENTINEL);
    const fleet = demesne(["fleet", "--json"], env);
    expect(fleet.stdout).not.toContain(SENTINEL);
  });

  it("ingesting the same engine output again adds nothing", () => {
    for (const f of FILES) {
      const r = ingest(f);
      expect(r.duplicate, f).toBe(true);
      expect(r.factsAdded, f).toBe(0);
    }
  });
});
