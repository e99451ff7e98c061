// A test host put in the program's desired state by the program's own layer scripts, and the stack
// file that describes it (used by the drift tests and the drift benchmark).
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { encodeParams } from "../../components/actuator/wire";
import { loadStackFile } from "../../components/config/stack-file";
import { layerScript, type LayerScriptName } from "../../components/host/scripts";
import { planProgram } from "../../components/program";
import { renderEnvFile } from "../../components/service/service";
import type { TestHost } from "./test-host";

/** An ed25519 key pair in dir; returns the private key's path and the public key line. */
export function keyPair(dir: string, name: string): { key: string; pub: string } {
  const key = path.join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key]);
  return { key, pub: readFileSync(`${key}.pub`, "utf8").trim() };
}

/** Pulumi.<stack>.yaml in dir: the hosts given, SSH from the test network only, the observer's key. */
export function writeStackFile(
  dir: string, stack: string, hosts: object[],
  opts: { observerPub: string; adminRange: string; services?: object[]; revokedSshKeys?: string[]; extra?: Record<string, unknown> },
): string {
  const deploy = keyPair(dir, `deploy-${stack}`);
  const config = {
    // Test hosts live on a private link: no OVH edge firewall guards them, and the config says so.
    "demesne:hosts": hosts.map((h) => ({ edgeFirewall: false, ...h })),
    "demesne:deployUser": "deploy",
    "demesne:adminRanges": [opts.adminRange],
    "demesne:sshPublicKeys": [deploy.pub],
    "demesne:observerPublicKeys": [opts.observerPub],
    "demesne:tailnet": { admins: ["ops@example.com"], aptKeySha256: "0".repeat(64) },
    ...(opts.services ? { "demesne:services": opts.services } : {}),
    ...(opts.revokedSshKeys ? { "demesne:revokedSshKeys": opts.revokedSshKeys } : {}),
    ...opts.extra,
  };
  const file = path.join(dir, `Pulumi.${stack}.yaml`);
  writeFileSync(file, stringify({ config }));
  return file;
}

/** Runs one of the program's layers on the test host as the runner would: script file, params on stdin. */
export async function runLayer(
  host: TestHost, layer: LayerScriptName, params: Record<string, string>, timeoutMs = 120_000,
): Promise<string | undefined> {
  await host.writeFile(`/root/${layer}.sh`, layerScript(layer).text, 0o700);
  const r = await host.exec(`bash /root/${layer}.sh`, { input: encodeParams(params), timeoutMs });
  if (r.code !== 0) throw new Error(`the ${layer} layer failed on ${host.name}:\n${r.stderr}`);
  return r.stdout.trim().split("\n").pop();
}

/** The params the program gives each layer of one host of a stack file. */
export function layerParams(stackFile: string, stack: string, hostName: string): (layer: string) => Record<string, string> {
  const cfg = loadStackFile(stackFile);
  const plan = planProgram(cfg, { stack, project: "demesne", dryRun: true });
  const steps = plan.hostSteps.get(hostName);
  if (!steps) throw new Error(`stack ${stack} has no host ${hostName}`);
  return (layer) => {
    const s = steps.find((x) => x.stepClass === layer);
    if (!s) throw new Error(`host ${hostName} has no ${layer} layer`);
    return s.params;
  };
}

/** The values behind a stack's `secret:<id>` and `providerKey:<id>` references (what `--secret` config holds). */
export interface SecretValues {
  secrets: Record<string, string>;
  providerKeys: Record<string, string>;
}

/** The params the program gives one service's layer, the env file rendered by the program from the values given. */
export async function serviceParams(stackFile: string, stack: string, service: string, values: SecretValues): Promise<Record<string, string>> {
  const plan = planProgram(loadStackFile(stackFile), { stack, project: "demesne", dryRun: true });
  const sp = plan.services.find((s) => s.service.name === service);
  if (!sp) throw new Error(`stack ${stack} has no service ${service}`);
  const outputs = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, pulumi.output(v)]));
  const envFile = renderEnvFile(sp.secretEnv, outputs(values.secrets), outputs(values.providerKeys));
  const ENV_FILE = await new Promise<string>((resolve) => envFile.apply(resolve));
  return { ...sp.step.params, ENV_FILE };
}
