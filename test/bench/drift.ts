/**
 * `npm run bench:drift` (also part of `npm run bench`): `demesne observe` + `demesne drift` for 1, 10 and
 * 50 simulated hosts — one sandboxed test host configured by the baseline layer, with one sshd per
 * simulated host on its own port. Prints time per host and its ratio to the one-host run, measured side
 * by side in this run (no absolute gate). Needs root (network namespace, overlay).
 * Options: --sizes 1,10,50
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { keyPair, layerParams, runLayer, writeStackFile } from "../helpers/configured-host";
import { startTestHost } from "../helpers/test-host";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const SIZES = arg("sizes", "1,10,50").split(",").map(Number);
const NAME = "bench-drift";
const log = (s: string) => process.stderr.write(`${s}\n`);
const BIN = path.join(__dirname, "..", "..", "bin", "demesne.js");

async function main() {
  const work = mkdtempSync(path.join(tmpdir(), "demesne-bench-drift-"));
  const host = await startTestHost(NAME);
  try {
    const observer = keyPair(work, "observer");
    const opts = { observerPub: observer.pub, adminRange: host.network };
    const base = { address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" };
    const file = writeStackFile(work, "one", [{ name: "sim-0", ...base }], opts);
    await runLayer(host, "baseline", layerParams(file, "one", "sim-0")("baseline"));
    const max = Math.max(...SIZES);
    log(`starting ${max} sshd instances on ports 2201-${2200 + max}…`);
    const started = await host.exec(`for p in $(seq 2201 ${2200 + max}); do /usr/sbin/sshd -p "$p" -o PidFile=/run/sshd-$p.pid || exit 1; done`);
    if (started.code !== 0) throw new Error(`extra sshd instances: ${started.stderr}`);

    const env = { ...process.env, DEMESNE_STATE_DIR: path.join(work, "state"), DATABASE_URL: "", DEMESNE_ACTOR: "bench" };
    const run = (args: string[]) => {
      const t = process.hrtime.bigint();
      try {
        execFileSync(process.execPath, [BIN, ...args], { cwd: work, env, stdio: ["ignore", "ignore", "pipe"] });
      } catch (e) {
        // drift exits 1 when it finds drift; anything else is a failed run
        if ((e as { status?: number }).status !== 1) throw e;
      }
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    const rows: { hosts: number; observeMs: number; driftMs: number; perHostMs: number }[] = [];
    for (const n of SIZES) {
      const stack = `sim${n}`;
      writeStackFile(work, stack, Array.from({ length: n }, (_, i) => ({ name: `sim-${i}`, sshPort: 2201 + i, ...base })), opts);
      run(["observe", "--stack", stack, "--identity", observer.key]); // warm: first observation records everything
      const observeMs = run(["observe", "--stack", stack, "--identity", observer.key]);
      const driftMs = run(["drift", "--stack", stack]);
      rows.push({ hosts: n, observeMs, driftMs, perHostMs: (observeMs + driftMs) / n });
      log(`${n} hosts: observe ${observeMs.toFixed(0)} ms, drift ${driftMs.toFixed(0)} ms`);
    }
    const one = rows.find((r) => r.hosts === Math.min(...SIZES))!;
    console.log("\nobserve + drift (second observation; one sshd per simulated host, 8 hosts observed at a time)");
    // Marginal: what each host beyond the smallest run adds (start-up of the CLI and its store is paid once).
    console.log("hosts  observe ms  drift ms  per host ms  per host vs smallest  marginal ms/host");
    for (const r of rows) {
      const marginal = r.hosts > one.hosts ? ((r.observeMs + r.driftMs - one.observeMs - one.driftMs) / (r.hosts - one.hosts)).toFixed(1) : "-";
      console.log(`${String(r.hosts).padStart(5)}  ${r.observeMs.toFixed(0).padStart(10)}  ${r.driftMs.toFixed(0).padStart(8)}  ${r.perHostMs.toFixed(0).padStart(11)}  ${(r.perHostMs / one.perHostMs).toFixed(2).padStart(20)}  ${marginal.padStart(16)}`);
    }
  } finally {
    await host.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  log(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
