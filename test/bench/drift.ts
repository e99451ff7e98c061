/**
 * `npm run bench:drift` (also part of `npm run bench`): `demesne observe` + `demesne drift` for 1, 100 and
 * 1,000 simulated hosts — one sandboxed test host configured by the baseline layer, with one sshd per
 * simulated host on its own port. Prints the whole run's wall time and the time per host, each as a ratio to
 * the one-host run measured side by side in this run (no absolute gate), each process's peak RSS and CPU, and
 * the CPU the whole machine and the simulated hosts' sshd spent during observe (a real fleet pays the latter).
 * Needs root (network namespace, overlay). What the time goes to: adr/0022.
 * Options: --sizes 1,100,1000  --concurrency N[,N…] (observe's; default its own; a list also times the largest
 * size's observe at each)  --cpu-prof DIR (profiles the largest size's observe and drift into DIR)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { OBSERVE_SCRIPT_PATH, OBSERVER_USER } from "../../components/model/observer";
import { observerSshArgs } from "../../state-model/observe/observe";
import { keyPair, layerParams, runLayer, writeStackFile } from "../helpers/configured-host";
import { startTestHost } from "../helpers/test-host";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const SIZES = arg("sizes", "1,100,1000").split(",").map(Number);
const NAME = "bench-drift";
const log = (s: string) => process.stderr.write(`${s}\n`);
const BIN = path.join(__dirname, "..", "..", "bin", "demesne.js");
// A list sweeps: the rows use the first, and the largest size's observe is timed again at each.
const CONCURRENCY = arg("concurrency", "").split(",").filter(Boolean);
const CPU_PROF = arg("cpu-prof", "");
// Loaded into each timed CLI process: its own peak RSS and CPU time, written as it exits.
const RUSAGE_HOOK = `process.on("exit", () => require("node:fs").writeFileSync(process.env.BENCH_RUSAGE_FILE, JSON.stringify(process.resourceUsage())));`;

interface Run {
  ms: number;
  /** Peak resident set of the CLI process (its ssh clients are processes of their own). */
  maxRssMiB: number;
  cpuMs: number;
  /** CPU the whole machine spent during the run (every process: the CLI, its ssh clients, the simulated hosts). */
  machineCpuMs: number;
}

/** CPU time the whole machine has spent (all cores, user + system + softirq…), ms, from /proc/stat. */
function machineCpuMs(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: all but idle and iowait are work
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
  return (busy * 1000) / CLK_TCK;
}
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

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
    // The simulated hosts answer with one real observation of this host, recorded here once: each session is a
    // real SSH connection, login and transfer of a real catalogue's output, but the probes' own work (which a real
    // fleet does on each host, in parallel) is timed once below rather than paid 1,000 times on this machine's cores.
    // Each instance listens on its own port besides the test host's own address (port 22, taken: logged, skipped). One connection
    // at a time per instance, so MaxStartups never refuses one; 1,000 daemons take about a minute to start.
    // Each run's observe must exit 0 (every host reached, every probe read): the bench fails otherwise.
    const started = await host.exec(
      [
        `mkdir -p /var/lib/demesne-sim && runuser -u ${OBSERVER_USER} -- env SSH_ORIGINAL_COMMAND=all ${OBSERVE_SCRIPT_PATH} > /var/lib/demesne-sim/observation`,
        "chmod 0644 /var/lib/demesne-sim/observation",
        `for p in $(seq 2201 ${2200 + max}); do /usr/sbin/sshd -o "ListenAddress=0.0.0.0:$p" -o PidFile=/run/sshd-$p.pid -o "ForceCommand=/bin/cat /var/lib/demesne-sim/observation" || exit 1; done`,
      ].join(" && "),
      { timeoutMs: 900_000 },
    );
    if (started.code !== 0) throw new Error(`extra sshd instances: ${started.stderr || started.stdout || `exit ${started.code}`}`);

    const env = { ...process.env, DEMESNE_STATE_DIR: path.join(work, "state"), DATABASE_URL: "", DEMESNE_ACTOR: "bench" };
    const hook = path.join(work, "rusage.cjs");
    writeFileSync(hook, RUSAGE_HOOK);
    const usageFile = path.join(work, "rusage.json");
    const run = (args: string[], profile = false, driftExit = false): Run => {
      const node = ["--require", hook, ...(profile ? ["--cpu-prof", "--cpu-prof-dir", CPU_PROF] : [])];
      const cpu0 = machineCpuMs();
      const t = process.hrtime.bigint();
      try {
        execFileSync(process.execPath, [...node, BIN, ...args], { cwd: work, env: { ...env, BENCH_RUSAGE_FILE: usageFile }, stdio: ["ignore", "ignore", "pipe"], maxBuffer: 64 * 1024 * 1024 });
      } catch (e) {
        // drift exits 1 when it finds drift; anything else (an unreachable host, for observe) is a failed run
        if (!driftExit || (e as { status?: number }).status !== 1) throw e;
      }
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      const machine = machineCpuMs() - cpu0;
      const u = JSON.parse(readFileSync(usageFile, "utf8")) as NodeJS.ResourceUsage;
      return { ms, maxRssMiB: u.maxRSS / 1024, cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000, machineCpuMs: machine };
    };
    // CPU one host spends running the probes themselves (bash's `time` counts the children it waited for), which
    // a real fleet pays on each host in parallel: the simulated hosts replay its output instead (see above).
    const probeCpu = await host.exec(
      `TIMEFORMAT='%U %S'; { time (for i in 1 2 3 4 5; do runuser -u ${OBSERVER_USER} -- env SSH_ORIGINAL_COMMAND=all ${OBSERVE_SCRIPT_PATH} >/dev/null; done) ; } 2>&1`,
    );
    const [u, sy] = probeCpu.stdout.trim().split(/\s+/).map(Number);
    const probeCpuMs = ((u! + sy!) * 1000) / 5;
    // CPU the simulated hosts' sshd spent on the sessions: each listener's reaped children (the session process,
    // its login and the forced command), from /proc inside the test host. A real fleet pays it on each host.
    const serversCpuMs = async (n: number): Promise<number> => {
      const r = await host.exec(
        `for p in $(seq 2201 ${2200 + n}); do cut -d' ' -f16,17 /proc/$(cat /run/sshd-$p.pid)/stat; done | awk '{s += $1 + $2} END {print s + 0}'`,
        { timeoutMs: 120_000 },
      );
      if (r.code !== 0) throw new Error(`reading the simulated hosts' CPU: ${r.stderr}`);
      return (Number(r.stdout.trim()) * 1000) / CLK_TCK;
    };
    // The observer's own CPU per SSH session, by key exchange: 20 sessions to one simulated host with what ssh
    // negotiates with the fleet's sshd (its post-quantum hybrid first: components/render/sshd.ts), and with
    // classical curve25519 alone, which the program does not use; their ratio is what the hybrid costs here.
    const knownHosts = path.join(work, "known_hosts");
    writeFileSync(knownHosts, `[${host.address}]:2201 ${host.hostKey.trim()}\n`);
    const sessionCpuMs = (kex: string[]) => {
      const ssh = ["ssh", ...observerSshArgs({ address: host.address, port: 2201 }, { identity: observer.key, knownHosts, connectTimeoutSeconds: 5, options: kex })];
      const out = execFileSync("bash", ["-c", `TIMEFORMAT='%U %S'; { time (for i in $(seq 20); do "$@" > /dev/null < /dev/null || exit 1; done); } 2>&1`, "bash", ...ssh], { encoding: "utf8" });
      const [cu, cs] = out.trim().split(/\s+/).map(Number);
      return ((cu! + cs!) * 1000) / 20;
    };
    const kexDefault = sessionCpuMs([]);
    const kexClassic = sessionCpuMs(["-o", "KexAlgorithms=curve25519-sha256"]);
    const rows: { hosts: number; first: Run; observe: Run; drift: Run; serversMs: number; wallMs: number; perHostMs: number; load: number }[] = [];
    for (const n of SIZES) {
      const stack = `sim${n}`;
      writeStackFile(work, stack, Array.from({ length: n }, (_, i) => ({ name: `sim-${i}`, sshPort: 2201 + i, ...base })), opts);
      const observeArgs = ["observe", "--stack", stack, "--identity", observer.key, ...(CONCURRENCY[0] ? ["--concurrency", CONCURRENCY[0]] : [])];
      const profile = CPU_PROF !== "" && n === max;
      const first = run(observeArgs); // the first observation records everything
      const servers0 = await serversCpuMs(n);
      const observe = run(observeArgs, profile);
      const serversMs = (await serversCpuMs(n)) - servers0;
      const drift = run(["drift", "--stack", stack], profile, true);
      const wallMs = observe.ms + drift.ms;
      rows.push({ hosts: n, first, observe, drift, serversMs, wallMs, perHostMs: wallMs / n, load: loadavg()[0]! });
      log(`${n} hosts: first observe ${first.ms.toFixed(0)} ms, observe ${observe.ms.toFixed(0)} ms, drift ${drift.ms.toFixed(0)} ms`);
    }
    const one = rows.find((r) => r.hosts === Math.min(...SIZES))!;
    const conc = CONCURRENCY[0] ?? "the CLI's default";
    console.log(`\nobserve + drift (second observation; one sshd per simulated host; concurrency ${conc})`);
    // Wall = observe + drift, the second observation (the steady state). Ratios are to the smallest run, measured
    // in this run. Peak RSS and CPU are each CLI process's own (not its ssh launcher's and clients'); probes' CPU is
    // what running the real probes costs on that many hosts (each its own; not paid here); machine CPU is every
    // process's during observe (the CLI, its ssh clients, the simulated hosts and anything else running) and the
    // hosts' sshd CPU is the simulated servers' part of it, which a real fleet spends on its hosts; load is the
    // machine's 1-minute load average after drift
    // (other work on the machine slows every column alike).
    const cols = ["hosts", "first obs s", "observe s", "drift s", "wall s", "wall vs 1", "per host ms", "per host vs 1", "obs RSS MiB", "drift RSS MiB", "obs CPU s", "drift CPU s", "machine CPU in obs s", "hosts' sshd CPU s", "probes' CPU s", "load"];
    console.log(cols.join("  "));
    const cell = (v: string, i: number) => v.padStart(cols[i]!.length);
    for (const r of rows) {
      const s = (ms: number) => (ms / 1000).toFixed(1);
      console.log([
        String(r.hosts), s(r.first.ms), s(r.observe.ms), s(r.drift.ms), s(r.wallMs), (r.wallMs / one.wallMs).toFixed(2),
        r.perHostMs.toFixed(1), (r.perHostMs / one.perHostMs).toFixed(3), r.observe.maxRssMiB.toFixed(0), r.drift.maxRssMiB.toFixed(0),
        s(r.observe.cpuMs), s(r.drift.cpuMs), s(r.observe.machineCpuMs), s(r.serversMs), s(probeCpuMs * r.hosts), r.load.toFixed(1),
      ].map(cell).join("  "));
    }
    console.log(`the observer's ssh client, CPU per session: ${kexDefault.toFixed(1)} ms with the fleet's key exchange, ${kexClassic.toFixed(1)} ms with classical curve25519 alone (${(kexDefault / kexClassic).toFixed(1)}×; not used)`);
    if (CONCURRENCY.length > 1) {
      console.log(`\nobserve of ${max} hosts at each concurrency (second and later observations)`);
      console.log("concurrency  observe s  obs CPU s  obs RSS MiB");
      for (const c of CONCURRENCY) {
        const r = run(["observe", "--stack", `sim${max}`, "--identity", observer.key, "--concurrency", c]);
        console.log(`${c.padStart(11)}  ${(r.ms / 1000).toFixed(1).padStart(9)}  ${(r.cpuMs / 1000).toFixed(1).padStart(9)}  ${r.maxRssMiB.toFixed(0).padStart(11)}`);
      }
    }
    if (CPU_PROF) log(`profiles of the ${max}-host observe and drift: ${CPU_PROF}`);
  } finally {
    await host.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  log(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
