// `npm run preview:local`: a real `pulumi preview --diff` of the whole program with the policy pack, on the
// shipped control stack's config, against local doubles of the Tailscale and OVH APIs — no account, no
// credentials, no server. The engine's events are recorded in the embedded store ($DEMESNE_STATE_DIR, default
// .demesne). Needs the Pulumi CLI, its Node language host and the command, tailscale and ovh provider plugins
// (`pulumi plugin install` in this directory, after `npm ci`); docs/engine.md says how to get them offline.
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { ingest } from "../state-model/ingest/ingest";
import { openFleetStore } from "../state-model/db/open";
import { CONTROL, localControlStack } from "../test/e2e/control-stack";
import { engine, PACK_ARGS } from "../test/e2e/engine";
import { tempDir } from "../test/helpers/tools";

async function main(): Promise<number> {
  const work = tempDir("preview-local");
  const e = engine(work, ["tailscale", "ovh"]);
  process.stderr.write("demesne: the control stack on a local backend, its providers pointed at local API doubles…\n");
  const stack = await localControlStack(e, work, "sk-local-provider-key");
  const log = path.join(work, "preview.events.ndjson");
  try {
    const r = await e.pulumiAsync(["preview", "--stack", CONTROL, "--diff", ...PACK_ARGS, "--event-log", log], { cwd: stack.proj });
    process.stdout.write(r.stdout.replace(/^warning: using pulumi-\S+ from \$PATH.*\n/gm, ""));
    if (r.status !== 0) process.stderr.write(r.stderr);
    if (existsSync(log)) {
      const stateDir = process.env.DEMESNE_STATE_DIR ?? path.resolve(".demesne");
      const store = await openFleetStore({ stateDir, databaseUrl: process.env.DATABASE_URL ?? "" });
      try {
        const rec = await ingest(store, readFileSync(log, "utf8"), { stack: CONTROL });
        process.stderr.write(`demesne: recorded the preview as ${rec.batchId} (${rec.factsAdded} facts) in ${process.env.DATABASE_URL ? "PostgreSQL" : stateDir}\n`);
      } finally {
        await store.close();
      }
    }
    return r.status;
  } finally {
    await stack.stop();
  }
}

main().then((code) => process.exit(code), (e: Error) => {
  process.stderr.write(`preview:local: ${e.message}\n`);
  process.exit(2);
});
