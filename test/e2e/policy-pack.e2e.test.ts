// The policy pack through the real engine: `pulumi preview --policy-pack policy-pack` of the program's hosts,
// services, tailnet and edge firewall passes, and each rogue program (test/e2e/programs/rogue) fails with that
// policy's mandatory violation, read from the engine's own policy events; every policy refuses at least one.
// Needs the engine, the language host and the command, tailscale and ovh provider plugins.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POLICIES } from "../../policy-pack/policies";
import { OvhApiDouble } from "../doubles/ovh-api";
import { TailscaleApiDouble } from "../doubles/tailscale-api";
import { keyPair } from "../helpers/configured-host";
import { tempDir } from "../helpers/tools";
import { engine, events, initStack, PACK_ARGS, project, violations, type Engine } from "./engine";

const STACK = "rogue";
const work = tempDir("e2e-pack");
let e: Engine;
let proj: string;

/** Previews one case with the pack; the mandatory violations the engine reported, by policy. */
async function preview(rogueCase: string): Promise<{ status: number; found: Map<string, string[]>; output: string }> {
  const log = path.join(work, `${rogueCase}.events.ndjson`);
  // Not spawnSync: the API doubles answer from this process.
  const r = await e.pulumiAsync(["preview", "--stack", STACK, ...PACK_ARGS, "--config", `rogue:case=${rogueCase}`, "--event-log", log], { cwd: proj });
  return { status: r.status, found: violations(events(log)), output: r.stdout + r.stderr };
}

/** Each rogue case, the policy that must refuse it, and what its message says. */
const CASES: [string, string, RegExp][] = [
  ["raw-command", "single-execution-path", /quick-fix: remote command outside an Actuator/],
  ["uncatalogued-script", "single-execution-path", /setup-extra: its script \(sha256 [0-9a-f]{64}\) is not in the catalogue/],
  ["provisioning", "configure-only", /provision: command:local:Command is not a configuration resource/],
  ["t3-without-token", "content-bound-approvals", /rogue-1-ssh: a ssh step is T3 and has no approval token/],
  ["nopasswd-sudoers", "least-privilege-sudo", /rogue-1-baseline: parameter SUDOERS grants NOPASSWD: ALL/],
  ["firewall-accepts-all", "host-firewall-default-deny", /rogue-1-firewall: UFW's default input policy is not DROP/],
  ["talos-ssh", "host-type-gates-actuation", /talos-1-baseline: SSH step on host talos-1, whose type is talos/],
  ["unpinned-image", "images-pinned-by-digest", /image ghcr\.io\/berriai\/litellm:main-latest is not pinned/],
  ["public-port", "no-public-management-ports", /publishes .*beyond loopback \(0\.0\.0\.0:4000:4000\)/],
  ["provider-key-outside-gateway", "provider-keys-only-in-gateway", /rogue-1-service-chat: ANTHROPIC_API_KEY is a provider key; only the gateway may hold one/],
  // Needs the Service's kind as an output: a component's inputs never reach the engine.
  ["provider-key-as-virtual-key", "provider-keys-only-in-gateway", /rogue-1-service-chat: OPENAI_API_KEY holds one of the gateway's provider keys/],
  ["guest-grant-to-gateway", "tailnet-segmentation", /rogue-policy: tag:guest can reach tag:aihost on port\(s\) 4000/],
  ["acl-test-fails", "tailnet-tests-pass", /rogue-policy: test fails: /],
  ["reusable-auth-key", "tailnet-auth-keys", /spare-key: auth key must be single-use \(reusable: false\)/],
  ["edge-ssh-from-anywhere", "edge-firewall", /edge-rogue-1-rule-\d+: permits SSH from anywhere/],
];


const tailscale = new TailscaleApiDouble("example.org");
const ovh = new OvhApiDouble();

afterAll(async () => {
  await tailscale.stop();
  await ovh.stop();
});

beforeAll(async () => {
  e = engine(work, ["tailscale", "ovh"]);
  await tailscale.start();
  await ovh.start();
  proj = project(work, "rogue");
  const deploy = keyPair(work, "deploy");
  const config: Record<string, unknown> = {
    "tailscale:tailnet": "example.org",
    "tailscale:baseUrl": tailscale.baseUrl,
    "ovh:endpoint": `${ovh.baseUrl}/1.0`,
    "ovh:applicationKey": "e2e-application-key",
    "demesne:mode": "operate",
    "demesne:deployUser": "deploy",
    "demesne:adminRanges": ["198.51.100.0/24"],
    "demesne:sshPublicKeys": [deploy.pub],
    "demesne:tailnet": { admins: ["ops@example.com"], aptKeySha256: "0".repeat(64) },
    // Never contacted: a preview runs no command.
    "demesne:hosts": [{ name: "rogue-1", address: "10.251.99.2", hostType: "ubuntu", hostKey: keyPair(work, "hostkey").pub.split(" ").slice(0, 2).join(" "), bootstrapUser: "ubuntu" }],
    "demesne:services": [
      { name: "gateway", kind: "gateway", host: "rogue-1", image: `ghcr.io/berriai/litellm@sha256:${"a".repeat(64)}`, postgresImage: `docker.io/library/postgres@sha256:${"b".repeat(64)}`, models: [{ name: "gpt-4o-mini", model: "openai/gpt-4o-mini", providerKey: "openai" }], trustTier: "team" },
      { name: "chat", kind: "open-webui", host: "rogue-1", image: `ghcr.io/open-webui/open-webui@sha256:${"c".repeat(64)}`, gateway: "gateway", trustTier: "team" },
    ],
  };
  initStack(e, proj, STACK, config, [
    ["demesne:sshPrivateKey", readFileSync(deploy.key, "utf8")],
    ["demesne:providerKeys.openai", "sk-e2e-provider-key"],
    ["demesne:secrets.gatewayMasterKey", "sk-e2e-master"],
    ["demesne:secrets.gatewaySaltKey", "e2e-salt"],
    ["demesne:secrets.gatewayDbPassword", "e2e-db-password"],
    ["demesne:secrets.webuiSecretKey", "e2e-webui-secret"],
    ["demesne:secrets.webuiVirtualKey", "sk-e2e-virtual"],
    ["tailscale:apiKey", "tskey-api-e2e"],
    ["ovh:applicationSecret", "e2e-application-secret"],
    ["ovh:consumerKey", "e2e-consumer-key"],
  ], { approve: true });
}, 120_000);

describe("the policy pack through the real engine", { timeout: 120_000 }, () => {
  it("passes the program's own hosts, services, tailnet and edge firewall", async () => {
    const r = await preview("compliant");
    expect([...r.found.keys()], r.output.slice(-3000)).toEqual([]);
    expect(r.status, r.output.slice(-3000)).toBe(0);
  });

  it.each(CASES)("%s fails with %s", async (rogueCase, policy, message) => {
    const r = await preview(rogueCase);
    expect(r.status).not.toBe(0);
    expect(r.found.get(policy), `${[...r.found.keys()].join(", ")}\n${r.output.slice(-3000)}`).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });

  it("every policy refused at least one rogue program", () => {
    const covered = new Set(CASES.map(([, p]) => p));
    expect(POLICIES.map((p) => p.name).filter((n) => !covered.has(n))).toEqual([]);
  });
});
