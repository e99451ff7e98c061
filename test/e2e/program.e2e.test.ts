// The whole program (index.ts) previewed by the real engine with every provider (command, tailscale, ovh) and
// the policy pack, on the shipped control stack's config: every component and resource the program declares
// appears with the expected operation, secrets stay secrets, and the pack passes. The Tailscale and OVH
// providers are pointed at local doubles through their documented settings (a preview of creates calls little
// of either). Needs the tailscale and ovh provider plugins besides what the other end-to-end tests need.
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadStackFile } from "../../components/config/stack-file";
import { renderEdgeRules } from "../../components/edge/rules";
import { planProgram } from "../../components/program";
import { tempDir } from "../helpers/tools";
import { CONTROL, localControlStack, type LocalControlStack } from "./control-stack";
import { engine, events, PACK_ARGS, violations, type Engine } from "./engine";

const SENTINEL = "sk-e2e-sentinel-7d1f3a9b2c";
const work = tempDir("e2e-program");
let e: Engine;
let stack: LocalControlStack;
let out: { steps: { op: string; urn: string; newState?: { type: string; inputs?: Record<string, unknown> } }[] };
let log: Array<Record<string, unknown>>;
let printed = "";
let status = -1;

beforeAll(async () => {
  e = engine(work, ["tailscale", "ovh"]);
  stack = await localControlStack(e, work, SENTINEL);
  const logFile = path.join(work, "preview.events.ndjson");
  // Not spawnSync: the doubles answer from this process.
  const r = await e.pulumiAsync(["preview", "--stack", CONTROL, ...PACK_ARGS, "--json", "--event-log", logFile], { cwd: stack.proj });
  printed = r.stdout + r.stderr;
  status = r.status;
  out = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as typeof out;
  log = events(logFile);
}, 300_000);

afterAll(async () => {
  await stack?.stop();
});

const count = (type: string) => out.steps.filter((s) => s.newState?.type === type || s.urn.endsWith(`::${type}`)).length;
const ofType = (type: string) => out.steps.filter((s) => s.newState?.type === type);

describe("the whole program through the real engine and every provider", { timeout: 60_000 }, () => {
  it("runs to the end with the policy pack, which finds nothing", () => {
    expect(status, printed.slice(-3000)).toBe(0);
    expect([...violations(log).keys()]).toEqual([]);
  });

  it("declares every component and resource, each to be created", () => {
    const cfg = loadStackFile(path.join(stack.proj, `Pulumi.${CONTROL}.yaml`));
    const plan = planProgram(cfg, { stack: CONTROL, project: "demesne", dryRun: true });
    const layers = [...plan.hostSteps.values()].flat();
    const confirms = layers.filter((s) => s.deadManSeconds !== undefined).length;
    expect(new Set(out.steps.filter((s) => !s.urn.includes("pulumi:providers:")).map((s) => s.op))).toEqual(new Set(["create"]));
    expect(ofType("demesne:tailnet:Tailnet")).toHaveLength(1);
    expect(ofType("tailscale:index/acl:Acl")).toHaveLength(1);
    expect(ofType("tailscale:index/tailnetKey:TailnetKey")).toHaveLength(cfg.hosts.filter((h) => h.hostType === "ubuntu").length);
    expect(ofType("demesne:edge:EdgeFirewall")).toHaveLength(1);
    expect(ofType("ovh:Ip/firewall:Firewall")).toHaveLength(1);
    expect(ofType("ovh:Ip/firewallRule:FirewallRule")).toHaveLength(renderEdgeRules({ adminRanges: cfg.adminRanges, directUdp: cfg.tailnet.directUdp }).length);
    expect(ofType("demesne:host:Host")).toHaveLength(plan.hostSteps.size);
    expect(ofType("demesne:service:Service")).toHaveLength(plan.services.length);
    expect(ofType("demesne:actuator:Actuator")).toHaveLength(layers.length + plan.services.length);
    expect(count("command:remote:Command")).toBe(layers.length + confirms + plan.services.length);
  });

  it("sends the rendered policy and the edge rules as the program computed them", () => {
    const acl = ofType("tailscale:index/acl:Acl")[0]!.newState!.inputs!;
    expect(JSON.parse(acl.acl as string)).toMatchObject({ tests: expect.any(Array), grants: expect.any(Array) });
    const ssh = ofType("ovh:Ip/firewallRule:FirewallRule").find((s) => s.newState!.inputs!.destinationPort === 22);
    expect(ssh?.newState?.inputs).toMatchObject({ action: "permit", protocol: "tcp", source: "198.51.100.0/24" });
  });

  it("keeps secrets secret: the provider key is nowhere in the output or the event stream", () => {
    expect(printed.includes(SENTINEL)).toBe(false);
    expect(JSON.stringify(log).includes(SENTINEL)).toBe(false);
    // The step that carries secret parameters shows its stdin as a secret.
    const tailscaleLayer = ofType("command:remote:Command").find((s) => s.urn.endsWith("::control-1-tailscale"));
    expect(tailscaleLayer?.newState?.inputs?.stdin).toBe("[secret]");
    for (const s of ofType("command:remote:Command")) expect(s.newState?.inputs?.connection, s.urn).toBe("[secret]");
  });
});
