/**
 * Drives the real Pulumi engine (the CLI from scripts/toolchain.sh) over an inline Node program through the
 * Automation API — which serves the program itself, so no Node language host binary is needed — on a file
 * backend with passphrase secrets. Writes what the engine produced into OUT_DIR, for the recorder tests:
 *   preview.ndjson   engine events of a preview             up-1.ndjson  first update (creates)
 *   export-1.json    `stack export` after it                plan.json    a saved update plan
 *   up-2.ndjson      second update: update, replace, delete  failed.ndjson an update whose resource fails
 *   export-2.json    `stack export` at the end
 * Usage: tsx test/engine/drive.ts OUT_DIR   (env: PULUMI_BIN, DEMESNE_SENTINEL)
 */
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack, type EngineEvent } from "@pulumi/pulumi/automation";
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";

const out = path.resolve(process.argv[2] ?? "");
const bin = process.env.PULUMI_BIN;
const sentinel = process.env.DEMESNE_SENTINEL ?? "";
if (!process.argv[2] || !bin) {
  process.stderr.write("usage: PULUMI_BIN=… tsx test/engine/drive.ts OUT_DIR\n");
  process.exit(2);
}

/** A step-like resource: updates in place; a new `host` or `generation` replaces it; `fail` makes create fail. */
const stepProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs) {
    if (inputs.fail) throw new Error(`layer ${inputs.layer} failed its verify step`);
    return { id: `${inputs.host}-${inputs.layer}`, outs: { ...inputs, changed: true } };
  },
  async diff(_id, olds, news) {
    const replaces = ["host", "generation"].filter((k) => olds[k] !== news[k]);
    const changes = JSON.stringify({ ...olds, changed: undefined }) !== JSON.stringify({ ...news, changed: undefined });
    return { changes, replaces, deleteBeforeReplace: false };
  },
  async update(_id, _olds, news) {
    return { outs: { ...news, changed: true } };
  },
  async delete() {},
};

class Step extends pulumi.dynamic.Resource {
  constructor(name: string, args: Record<string, pulumi.Input<unknown>>, opts?: pulumi.CustomResourceOptions) {
    super(stepProvider, name, { changed: undefined, ...args }, opts);
  }
}

class Host extends pulumi.ComponentResource {
  constructor(name: string, layers: Record<string, Record<string, unknown>>, token: pulumi.Output<string>) {
    super("demesne:host:Host", name, {}, {});
    for (const [layer, args] of Object.entries(layers)) {
      new Step(`${name}-${layer}`, { layer, host: name, ...args, token }, { parent: this });
    }
    this.registerOutputs({});
  }
}

function program(version: 1 | 2 | 3) {
  return async () => {
    const token = new pulumi.Config().requireSecret("sshPrivateKey");
    if (version === 1) {
      new Host("control-1", { baseline: { packages: "jq" }, ssh: { maxAuthTries: 2 }, firewall: { ranges: "198.51.100.0/24" } }, token);
    } else if (version === 2) {
      // baseline replaced (new generation), ssh updated in place, firewall dropped (a delete), a new host
      new Host("control-1", { baseline: { packages: "jq", generation: 2 }, ssh: { maxAuthTries: 3 } }, token);
      new Host("control-2", { baseline: { packages: "jq" } }, token);
    } else {
      new Host("control-1", { baseline: { packages: "jq", generation: 2 }, ssh: { maxAuthTries: 3 } }, token);
      new Host("control-2", { baseline: { packages: "jq" }, docker: { fail: true } }, token);
    }
    return { hosts: version === 1 ? 1 : 2, key: token };
  };
}

const ndjson = (events: EngineEvent[]) => events.map((e) => JSON.stringify(e)).join("\n") + "\n";

async function main() {
  mkdirSync(out, { recursive: true });
  const work = path.join(out, "work");
  mkdirSync(path.join(work, "state"), { recursive: true });
  const pulumiCommand = await PulumiCommand.get({ root: path.dirname(path.dirname(bin!)), skipVersionCheck: true });
  const ws = await LocalWorkspace.create({
    program: program(1),
    projectSettings: { name: "demesne", runtime: "nodejs", backend: { url: `file://${path.join(work, "state")}` } },
    workDir: work,
    pulumiHome: path.join(work, "home"),
    pulumiCommand,
    envVars: { PULUMI_CONFIG_PASSPHRASE: "demesne-test-passphrase", PULUMI_SKIP_UPDATE_CHECK: "true" },
  });
  const stack = await Stack.create("control", ws);
  await stack.setConfig("sshPrivateKey", { value: `-----BEGIN OPENSSH PRIVATE KEY-----\n${sentinel}\n-----END OPENSSH PRIVATE KEY-----`, secret: true });
  const run = async (name: string, fn: (onEvent: (e: EngineEvent) => void) => Promise<unknown>) => {
    const events: EngineEvent[] = [];
    const t = Date.now();
    let failed = false;
    try {
      await fn((e) => events.push(e));
    } catch {
      failed = true;
    }
    writeFileSync(path.join(out, `${name}.ndjson`), ndjson(events));
    process.stderr.write(`[engine] ${name}: ${events.length} events in ${Date.now() - t} ms${failed ? " (the update failed, as intended)" : ""}\n`);
  };
  const exportTo = async (file: string) => writeFileSync(path.join(out, file), JSON.stringify(await stack.exportStack(), null, 2));

  await run("preview", (onEvent) => stack.preview({ onEvent }));
  await run("up-1", (onEvent) => stack.up({ onEvent }));
  await exportTo("export-1.json");
  ws.program = program(2);
  await run("preview-2", (onEvent) => stack.preview({ onEvent, plan: path.join(out, "plan.json") }));
  await run("up-2", (onEvent) => stack.up({ onEvent }));
  ws.program = program(3);
  await run("failed", (onEvent) => stack.up({ onEvent }));
  await exportTo("export-2.json");
}

main().catch((e: unknown) => {
  process.stderr.write(`[engine] error: ${(e as Error).message}\n`);
  process.exit(1);
});
