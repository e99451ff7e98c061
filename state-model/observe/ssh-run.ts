// One ssh client run with a whole-run limit, in whichever process calls it: the CLI for one host, the ssh
// launcher (ssh-launcher.ts) for a fleet.
import { spawn } from "node:child_process";

export interface SshRun {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const MAX_OUTPUT = 64 * 1024 * 1024;

/**
 * ssh with a whole-run limit. At the limit the client is killed and the host answered for at once: nothing it
 * left behind (a child still holding the pipes) can hold the run. Output beyond MAX_OUTPUT is a failure.
 */
export function runSsh(args: string[], limitMs: number): Promise<SshRun> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let settled = false;
    const child = spawn("ssh", args, { stdio: ["ignore", "pipe", "pipe"] });
    const finish = (code: number, timedOut: boolean, why?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      child.stdout.destroy();
      child.stderr.destroy();
      const stderr = Buffer.concat(err).toString("utf8");
      resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: why ?? stderr, timedOut });
    };
    const timer = setTimeout(() => finish(255, true), limitMs);
    child.stdout.on("data", (b: Buffer) => {
      size += b.length;
      if (size > MAX_OUTPUT) finish(255, false, `the host sent more than ${MAX_OUTPUT} bytes`);
      else out.push(b);
    });
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => finish(255, false, `ssh: ${e.message}`));
    child.on("close", (code) => finish(code ?? 255, false));
  });
}
