// Observing a fleet: at most --concurrency SSH sessions at a time, and a host that does not answer within
// --host-timeout is reported unreachable while every other host is observed. The hosts are a double: an `ssh`
// first on PATH that answers as the observe script does, counts the sessions open at once, and for one port
// hangs (with a child holding its output open, as a stuck ProxyCommand or a wedged session would).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { int, parseArgs } from "../../cli/args";
import { MAX_CONCURRENCY, observeFleet } from "../../state-model/observe/fleet";
import type { HostObservation, ObserveTarget } from "../../state-model/observe/observe";
import { keyPair, writeStackFile } from "../helpers/configured-host";

const HANG_PORT = 2299;
const BIN = path.join(__dirname, "..", "..", "bin", "demesne.js");

// Each session: mark itself active, log how many are active, answer after a moment, unmark. The hanging
// port's session leaves a child on its stdout, so only a client that stops waiting for the pipes moves on.
const FAKE_SSH = `#!/bin/bash
port=22
while [[ $# -gt 0 ]]; do case $1 in -p) port=$2; shift 2 ;; *) shift ;; esac; done
dir=$FAKE_SSH_DIR
if [[ $port == ${HANG_PORT} ]]; then sleep 600 & echo $! >> "$dir/hung.pids"; wait; exit 0; fi
touch "$dir/active/$$"
ls "$dir/active" | wc -l >> "$dir/counts"
sleep 0.3
rm -f "$dir/active/$$"
printf 'users 0 %s\\n' "$(printf 'root:x:0:0:root:/root:/bin/bash\\n' | base64 -w0)"
`;

let dir: string;
let savedPath: string | undefined;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "demesne-observe-fleet-"));
  mkdirSync(path.join(dir, "bin"));
  mkdirSync(path.join(dir, "active"));
  writeFileSync(path.join(dir, "bin", "ssh"), FAKE_SSH, { mode: 0o755 });
  savedPath = process.env.PATH;
  process.env.PATH = `${path.join(dir, "bin")}:${process.env.PATH}`;
  process.env.FAKE_SSH_DIR = dir;
});

afterAll(() => {
  process.env.PATH = savedPath;
  // The double's hung sessions, by their pids.
  const pids = readLines("hung.pids");
  for (const pid of pids) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function readLines(name: string): string[] {
  try {
    return readFileSync(path.join(dir, name), "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

const maxActive = () => Math.max(...readLines("counts").map(Number));
const target = (i: number, port = 2201 + i): ObserveTarget => ({ name: `sim-${i}`, address: "10.0.0.1", port, hostKey: "ssh-ed25519 AAAA" });

describe("observing a fleet", () => {
  it("keeps at most `concurrency` sessions open, and uses that many", async () => {
    writeFileSync(path.join(dir, "counts"), "");
    const seen: HostObservation[] = [];
    await observeFleet(Array.from({ length: 12 }, (_, i) => target(i)), { identity: "/dev/null", concurrency: 3, timeoutMs: 10_000 }, async (o) => {
      seen.push(o);
    });
    expect(seen.map((o) => o.host).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `sim-${i}`).sort());
    expect(seen.every((o) => o.reachable && o.results[0]?.probe === "users")).toBe(true);
    expect(maxActive()).toBe(3);
  });

  it("a hanging host is reported unreachable at its time limit, and the others are observed meanwhile", async () => {
    const t0 = Date.now();
    const seen: HostObservation[] = [];
    await observeFleet([target(0, HANG_PORT), ...Array.from({ length: 6 }, (_, i) => target(i + 1))], { identity: "/dev/null", concurrency: 2, timeoutMs: 2_000 }, async (o) => {
      seen.push(o);
    });
    const took = Date.now() - t0;
    // Six hosts through the one free slot take about 1.8 s; the hung one ends at 2 s, not 600.
    expect(took).toBeLessThan(8_000);
    const hung = seen.find((o) => o.host === "sim-0")!;
    expect(hung).toMatchObject({ reachable: false, error: "no answer within 2 s", results: [] });
    expect(seen.filter((o) => o.reachable).map((o) => o.host).sort()).toEqual(["sim-1", "sim-2", "sim-3", "sim-4", "sim-5", "sim-6"]);
  });

  it("demesne observe --concurrency --host-timeout: the hung host is unreachable in --json, progress only on stderr", { timeout: 60_000 }, () => {
    writeFileSync(path.join(dir, "counts"), "");
    const work = mkdtempSync(path.join(dir, "cli-"));
    const observer = keyPair(work, "observer");
    const hostKey = keyPair(work, "hostkey").pub.split(" ").slice(0, 2).join(" "); // the config takes the key without its comment
    const hosts = Array.from({ length: 5 }, (_, i) => ({ name: `sim-${i}`, address: "10.0.0.1", sshPort: i === 0 ? HANG_PORT : 2201 + i, hostKey, bootstrapUser: "admin" }));
    writeStackFile(work, "t", hosts, { observerPub: observer.pub, adminRange: "10.0.0.0/30" });
    const r = spawnSync(process.execPath, [BIN, "observe", "--stack", "t", "--identity", observer.key, "--concurrency", "2", "--host-timeout", "2", "--json"], {
      cwd: work, encoding: "utf8", timeout: 50_000,
      env: { ...process.env, DEMESNE_STATE_DIR: path.join(work, "state"), DATABASE_URL: "", DEMESNE_ACTOR: "test" },
    });
    expect(r.status, r.stderr).toBe(1); // an unreachable host: exit 1, after every other host was observed
    const out = JSON.parse(r.stdout) as { hosts: { host: string; reachable: boolean; error: string | null }[] };
    expect(out.hosts.map((h) => [h.host, h.reachable])).toEqual([["sim-0", false], ["sim-1", true], ["sim-2", true], ["sim-3", true], ["sim-4", true]]);
    expect(out.hosts[0]!.error).toBe("no answer within 2 s");
    expect(r.stderr).toContain("observed sim-0 (");
    expect(r.stderr).toContain("unreachable: no answer within 2 s");
    // The hung host holds one of the two slots throughout: the other four went one at a time.
    expect(maxActive()).toBe(1);
  });

  it("refuses a concurrency or host timeout that is not a whole number in range, naming the flag", () => {
    const parsed = (flag: string, v: string) => parseArgs([`--${flag}`, v], ["concurrency", "host-timeout"], []);
    expect(int(parsed("concurrency", "32"), "concurrency", 1, MAX_CONCURRENCY)).toBe(32);
    for (const [flag, v] of [["concurrency", "0"], ["concurrency", "many"], ["host-timeout", "-1"], ["concurrency", String(MAX_CONCURRENCY + 1)], ["host-timeout", "1.5"]] as const) {
      expect(() => int(parsed(flag, v), flag, 1, MAX_CONCURRENCY)).toThrow(new RegExp(`^--${flag}: '${v.replace(".", "\\.")}' is not a whole number from 1 to ${MAX_CONCURRENCY}$`));
    }
  });
});
