// Observing many hosts: a bounded pool of SSH sessions, each host with its own time limit, and each
// observation handed to the caller as it comes (the caller records it and lets it go, so memory does not grow
// with the fleet). A host that does not answer in time is an unreachable observation; it never holds the run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { probeHost, type HostObservation, type ObserveTarget, type ProbeOptions } from "./observe";
import { SshLauncher } from "./ssh-launcher";

/** Sessions at a time when not told (adr/0022: measured on the bench, reasoned for real fleets). */
export const DEFAULT_CONCURRENCY = 32;
export const MAX_CONCURRENCY = 256;
/** Whole-run limit per host when not told: connect, run the catalogue, read its output. */
export const DEFAULT_HOST_TIMEOUT_SECONDS = 60;

export interface FleetOptions extends ProbeOptions {
  /** SSH sessions at a time (at least 1). */
  concurrency: number;
}

/**
 * Probes every target, at most `concurrency` at a time, and awaits `onObserved` for each in the order they
 * finish. One host's slot is held until its observation is handed over, so a slow consumer slows the probing
 * rather than queueing observations in memory.
 */
export async function observeFleet(
  targets: readonly ObserveTarget[],
  opts: FleetOptions,
  onObserved: (o: HostObservation, done: number) => Promise<void>,
): Promise<void> {
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new Error(`concurrency must be a whole number ≥ 1 (got ${opts.concurrency})`);
  if (targets.length === 0) return;
  let next = 0;
  let done = 0;
  const launcher = SshLauncher.start();
  const knownHostsDir = mkdtempSync(path.join(tmpdir(), "demesne-observe-"));
  const probe = { ...opts, knownHostsDir, run: (args: string[], limitMs: number) => launcher.run(args, limitMs) };
  const worker = async () => {
    while (next < targets.length) {
      const t = targets[next++]!;
      const o = await probeHost(t, probe);
      done += 1;
      await onObserved(o, done);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, targets.length) }, worker));
  } finally {
    launcher.close();
    rmSync(knownHostsDir, { recursive: true, force: true });
  }
}

/**
 * Progress for people on long runs: every host when there are few, else about every 5 % (and always the last),
 * so a thousand hosts give twenty lines, not a thousand. Unreachable hosts are named whatever the size.
 */
export function progressStep(total: number): number {
  return total <= 20 ? 1 : Math.ceil(total / 20);
}
