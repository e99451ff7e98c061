import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";

const BIN = path.join(__dirname, "..", "..", "bin", "demesne.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `demesne` command in a child process. */
export function demesne(args: string[], env: Record<string, string>, input?: string, cwd?: string): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, input, cwd, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function demesneAsync(
  args: string[],
  env: Record<string, string>,
): { done: Promise<CliResult>; pid: number; kill(sig: NodeJS.Signals): void; stderrMatch(re: RegExp): Promise<void> } {
  const c = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  c.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => c.on("close", (code, sig) => resolve({ code: code ?? (sig ? 128 : -1), stdout, stderr })));
  const stderrMatch = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (re.test(stderr)) resolve();
        else if (c.exitCode !== null) reject(new Error(`exited before printing ${re}: ${stderr}`));
        else setTimeout(check, 10);
      };
      check();
    });
  return { done, pid: c.pid!, kill: (s) => c.kill(s), stderrMatch };
}
