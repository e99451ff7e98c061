// The EdgeFirewall component through the real engine and the real ovh provider, against a local double of the
// OVH API (test/doubles/ovh-api.ts) the provider reaches only through `ovh:endpoint`: `up` creates the firewall
// and exactly the rendered rules; a second `up` writes nothing; a rule deleted behind Pulumi's back shows as
// drift on `preview --refresh`; `destroy` removes what was created. Needs the ovh provider plugin besides what
// the other end-to-end tests need.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderEdgeRules } from "../../components/edge/rules";
import { OvhApiDouble } from "../doubles/ovh-api";
import { keyPair } from "../helpers/configured-host";
import { tempDir } from "../helpers/tools";
import { engine, initStack, project, type Engine } from "./engine";

const STACK = "edge";
const IP = "203.0.113.10";
const ADMIN = ["198.51.100.0/24", "192.0.2.0/28"];
const work = tempDir("e2e-edge");
const api = new OvhApiDouble();
let e: Engine;
let proj: string;

async function pulumi(...args: string[]) {
  const r = await e.pulumiAsync([...args, "--stack", STACK], { cwd: proj });
  expect(r.status, (r.stdout + r.stderr).slice(-3000)).toBe(0);
  return r.stdout;
}

const rulesOnTheDouble = () => [...(api.firewalls.get(`${IP}/32|${IP}`)?.rules.values() ?? [])].sort((a, b) => a.sequence - b.sequence);

beforeAll(async () => {
  e = engine(work, ["ovh"]);
  await api.start();
  proj = project(work, "edge");
  const deploy = keyPair(work, "deploy");
  initStack(e, proj, STACK, {
    "ovh:endpoint": `${api.baseUrl}/1.0`,
    "ovh:applicationKey": "e2e-application-key",
    "demesne:deployUser": "deploy",
    "demesne:adminRanges": ADMIN,
    "demesne:sshPublicKeys": [deploy.pub],
    "demesne:tailnet": { admins: ["ops@example.com"], aptKeySha256: "0".repeat(64) },
    // A Talos host: the edge firewall protects it as well, and no SSH step (or approval) is involved.
    "demesne:hosts": [{ name: "node-1", address: IP, hostType: "talos" }],
  }, [
    ["demesne:sshPrivateKey", readFileSync(deploy.key, "utf8")], ["ovh:applicationSecret", "e2e-app-secret"], ["ovh:consumerKey", "e2e-consumer-key"],
  ], { approve: false });
}, 120_000);

afterAll(async () => {
  await api.stop();
});

describe("the edge firewall through the real engine and provider, against an OVH API double", { timeout: 300_000 }, () => {
  it("up puts the address on the firewall, enables it and creates exactly the rendered rules", async () => {
    await pulumi("up", "--yes");
    const want = renderEdgeRules({ adminRanges: ADMIN, directUdp: false });
    expect(rulesOnTheDouble()).toEqual(want.map((r) => ({
      sequence: r.sequence, action: r.action, protocol: r.protocol, source: r.source ?? null,
      destinationPort: r.destinationPort ?? null, tcpOption: r.tcpOption ?? null,
    })));
    expect(api.firewalls.get(`${IP}/32|${IP}`)?.enabled).toBe(true);
  });

  it("a second up writes nothing", async () => {
    const before = api.writes().length;
    await pulumi("up", "--yes");
    expect(api.writes().slice(before)).toEqual([]);
  });

  it("a rule changed behind Pulumi's back shows as drift on preview --refresh, and up puts it back", async () => {
    // SSH opened to everyone in the OVH console. (A rule deleted there makes this provider's refresh fail with
    // the API's 404 instead: loud, but not a diff.)
    api.firewalls.get(`${IP}/32|${IP}`)!.rules.get(2)!.source = "0.0.0.0/0";
    const out = await pulumi("preview", "--refresh", "--diff");
    expect(out).toMatch(/ovh:Ip\/firewallRule:FirewallRule: \((update|replace)\)[^]*edge-node-1-rule-2[^]*source\s*:\s*"0\.0\.0\.0\/0" => "198\.51\.100\.0\/24"/);
    await pulumi("up", "--yes", "--refresh");
    expect(rulesOnTheDouble().find((r) => r.sequence === 2)?.source).toBe("198.51.100.0/24");
  });

  it("destroy removes the rules and takes the address off the firewall", async () => {
    await pulumi("destroy", "--yes");
    expect(api.firewalls.size).toBe(0);
  });
});
