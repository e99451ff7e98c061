/**
 * `npm run bench:pack`: `pulumi preview` of the program's hosts (test/e2e/programs/hosts) for 1, 10 and 50
 * hosts, with and without the policy pack, side by side in one run; prints each time and the pack's cost as a
 * ratio (no absolute gate). Hosts are never contacted: a preview runs no command. Needs what the end-to-end
 * suite needs (the CLI, the Node language host and the command provider; test/e2e/engine.ts says how).
 * Options: --sizes 1,10,50 --runs 2
 */
import { readFileSync } from "node:fs";
import { keyPair } from "../helpers/configured-host";
import { tempDir } from "../helpers/tools";
import { engine, initStack, PACK_ARGS, project } from "../e2e/engine";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const SIZES = arg("sizes", "1,10,50").split(",").map(Number);
const RUNS = Number(arg("runs", "2"));
const log = (s: string) => process.stderr.write(`${s}\n`);

function main() {
  const work = tempDir("bench-pack");
  const e = engine(work);
  const proj = project(work, "hosts");
  const deploy = keyPair(work, "deploy");
  const hostKey = keyPair(work, "hostkey").pub.split(" ").slice(0, 2).join(" ");
  const rows: string[] = [];
  for (const n of SIZES) {
    const stack = `bench-${n}`;
    initStack(e, proj, stack, {
      "demesne:deployUser": "deploy",
      "demesne:adminRanges": ["198.51.100.0/24"],
      "demesne:sshPublicKeys": [deploy.pub],
      "demesne:tailnet": { admins: ["ops@example.com"], aptKeySha256: "0".repeat(64) },
      "demesne:hosts": Array.from({ length: n }, (_, i) => ({
        name: `h${i}`, address: `10.252.${Math.floor(i / 250)}.${(i % 250) + 1}`, hostType: "ubuntu", hostKey, bootstrapUser: "ubuntu",
      })),
    }, [["demesne:sshPrivateKey", readFileSync(deploy.key, "utf8")]], { approve: true });
    const once = (withPack: boolean) => {
      const t0 = process.hrtime.bigint();
      const r = e.pulumi(["preview", "--stack", stack, ...(withPack ? PACK_ARGS : [])], { cwd: proj });
      if (r.status !== 0) throw new Error(`preview of ${n} hosts failed:\n${(r.stdout + r.stderr).slice(-3000)}`);
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    log(`previewing ${n} host${n === 1 ? "" : "s"} (${RUNS} runs each, best kept)…`);
    let without = Infinity;
    let withPack = Infinity;
    // Interleaved, so that a slow moment of the machine does not land on one side only.
    for (let i = 0; i < RUNS; i++) {
      without = Math.min(without, once(false));
      withPack = Math.min(withPack, once(true));
    }
    rows.push(`${String(n).padStart(5)}  ${without.toFixed(2).padStart(10)}  ${withPack.toFixed(2).padStart(10)}  ${(withPack / without).toFixed(2).padStart(5)}`);
  }
  process.stdout.write(["hosts  no pack (s)  with pack (s)  ratio", ...rows, ""].join("\n"));
}

main();
