// The shipped control stack (Pulumi.control.yaml) as a local stack: a file backend in a temporary directory,
// stand-in secrets, every T3 step approved, and the Tailscale and OVH providers pointed at local API doubles
// through their documented settings. Shared by the whole-program end-to-end test and `npm run preview:local`.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { OvhApiDouble } from "../doubles/ovh-api";
import { TailscaleApiDouble } from "../doubles/tailscale-api";
import { keyPair } from "../helpers/configured-host";
import { initStack, project, REPO, type Engine } from "./engine";

export const CONTROL = "control";

export interface LocalControlStack {
  /** The project directory (the program itself, `index.ts`). */
  proj: string;
  tailscale: TailscaleApiDouble;
  ovh: OvhApiDouble;
  stop(): Promise<void>;
}

/** Stand-in secrets: `providerKey` is the one tests look for in every output. */
export function standInSecrets(providerKey: string, deployKey: string): [string, string][] {
  return [
    ["demesne:sshPrivateKey", deployKey],
    ["demesne:providerKeys.openai", providerKey],
    ["demesne:secrets.gatewayMasterKey", "sk-local-master"],
    ["demesne:secrets.gatewaySaltKey", "local-salt"],
    ["demesne:secrets.gatewayDbPassword", "local-db-password"],
    ["demesne:secrets.webuiSecretKey", "local-webui-secret"],
    ["demesne:secrets.webuiVirtualKey", "sk-local-virtual"],
    ["demesne:secrets.coolifyRootPassword", "local-coolify-root"],
    ["tailscale:apiKey", "tskey-api-local"],
    ["ovh:applicationSecret", "local-application-secret"],
    ["ovh:consumerKey", "local-consumer-key"],
  ];
}

export async function localControlStack(e: Engine, work: string, providerKey: string): Promise<LocalControlStack> {
  const tailscale = new TailscaleApiDouble("example.org");
  const ovh = new OvhApiDouble();
  await tailscale.start();
  await ovh.start();
  const proj = project(work, "demesne");
  const shipped = parse(readFileSync(path.join(REPO, `Pulumi.${CONTROL}.yaml`), "utf8")) as { config: Record<string, unknown> };
  const config = { ...shipped.config, "tailscale:baseUrl": tailscale.baseUrl, "ovh:endpoint": `${ovh.baseUrl}/1.0` };
  initStack(e, proj, CONTROL, config, standInSecrets(providerKey, readFileSync(keyPair(work, "deploy").key, "utf8")), { approve: true });
  return {
    proj, tailscale, ovh,
    stop: async () => {
      await tailscale.stop();
      await ovh.stop();
    },
  };
}
