// The whole program (index.ts) previewed by the real engine with every provider (command, tailscale, ovh) and
// the policy pack, on the shipped control stack's config: every component and resource the program declares
// appears with the expected operation, secrets stay secrets, and the pack passes. The Tailscale and OVH
// providers are pointed at local doubles through their documented settings (a preview of creates calls little
// of either). Needs the tailscale and ovh provider plugins besides what the other end-to-end tests need.
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadStackFile } from "../../components/config/stack-file";
import { renderEdgeRules } from "../../components/edge/rules";
import { planProgram } from "../../components/program";
import { TailscaleApiDouble } from "../doubles/tailscale-api";
import { OvhApiDouble } from "../doubles/ovh-api";
import { keyPair } from "../helpers/configured-host";
import { tempDir } from "../helpers/tools";
import { engine, events, PACK_ARGS, project, REPO, violations, type Engine } from "./engine";

const STACK = "control";
const SENTINEL = "sk-e2e-sentinel-7d1f3a9b2c";
const work = tempDir("e2e-program");
const tailscale = new TailscaleApiDouble("example.org");
const ovh = new OvhApiDouble();
let e: Engine;
let proj: string;
let out: { steps: { op: string; urn: string; newState?: { type: string; inputs?: Record<string, unknown> } }[] };
let log: Array<Record<string, unknown>>;
let printed = "";
let status = -1;

beforeAll(async () => {
  e = engine(work, ["tailscale", "ovh"]);
  await tailscale.start();
  await ovh.start();
  proj = project(work, "demesne");
  // The shipped control stack, with the providers pointed at the doubles and each T3 step approved.
  const shipped = parse(readFileSync(path.join(REPO, "Pulumi.control.yaml"), "utf8")) as { config: Record<string, unknown> };
  const config = { ...shipped.config, "tailscale:baseUrl": tailscale.baseUrl, "ovh:endpoint": `${ovh.baseUrl}/1.0` };
  const file = path.join(proj, `Pulumi.${STACK}.yaml`);
  writeFileSync(file, stringify({ config }));
  const missing = planProgram(loadStackFile(file), { stack: STACK, project: "demesne", dryRun: true }).missing;
  writeFileSync(file, stringify({ config: { ...config, "demesne:approvals": Object.fromEntries(missing.map((m) => [m.key, m.token])) } }));
  expect(e.pulumi(["stack", "init", STACK], { cwd: proj }).status).toBe(0);
  const key = readFileSync(keyPair(work, "deploy").key, "utf8");
  const secrets: [string, string][] = [
    ["demesne:sshPrivateKey", key],
    ["demesne:providerKeys.openai", SENTINEL],
    ["demesne:secrets.gatewayMasterKey", "sk-e2e-master"],
    ["demesne:secrets.gatewaySaltKey", "e2e-salt"],
    ["demesne:secrets.gatewayDbPassword", "e2e-db-password"],
    ["demesne:secrets.webuiSecretKey", "e2e-webui-secret"],
    ["demesne:secrets.webuiVirtualKey", "sk-e2e-virtual"],
    ["demesne:secrets.coolifyRootPassword", "e2e-coolify-root"],
    ["tailscale:apiKey", "tskey-api-e2e"],
    ["ovh:applicationSecret", "e2e-application-secret"],
    ["ovh:consumerKey", "e2e-consumer-key"],
  ];
  for (const [k, v] of secrets) {
    const r = e.pulumi(["config", "set", "--secret", "--path", k, "--stack", STACK], { cwd: proj, input: v });
    expect(r.status, r.stderr).toBe(0);
  }
  const logFile = path.join(work, "preview.events.ndjson");
  // Not spawnSync: the doubles answer from this process.
  const r = await e.pulumiAsync(["preview", "--stack", STACK, ...PACK_ARGS, "--json", "--event-log", logFile], { cwd: proj });
  printed = r.stdout + r.stderr;
  status = r.status ?? -1;
  out = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as typeof out;
  log = events(logFile);
}, 300_000);

afterAll(async () => {
  await tailscale.stop();
  await ovh.stop();
});

const count = (type: string) => out.steps.filter((s) => s.newState?.type === type || s.urn.endsWith(`::${type}`)).length;
const ofType = (type: string) => out.steps.filter((s) => s.newState?.type === type);

describe("the whole program through the real engine and every provider", { timeout: 60_000 }, () => {
  it("runs to the end with the policy pack, which finds nothing", () => {
    expect(status, printed.slice(-3000)).toBe(0);
    expect([...violations(log).keys()]).toEqual([]);
  });

  it("declares every component and resource, each to be created", () => {
    const cfg = loadStackFile(path.join(proj, `Pulumi.${STACK}.yaml`));
    const plan = planProgram(cfg, { stack: STACK, project: "demesne", dryRun: true });
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
