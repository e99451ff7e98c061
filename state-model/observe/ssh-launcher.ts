// A small process that starts the ssh clients of a fleet observation. Starting a program forks the process that
// asks: the CLI has the embedded store mapped (hundreds of MiB), and each fork of it took ~26 ms of its one
// thread — at 1,000 hosts, 26 s of a 69 s observe (adr/0022). This process holds only Node and ssh-run.ts, so a
// fork costs ~1 ms and none of it on the CLI's thread. It runs nothing but `ssh` with the arguments it is sent.
import { fork, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { runSsh, type SshRun } from "./ssh-run";

interface Request {
  id: number;
  args: string[];
  limitMs: number;
}

/** Grace beyond a host's own limit before the CLI stops waiting for the launcher's answer. */
const ANSWER_GRACE_MS = 5_000;

export class SshLauncher {
  private readonly pending = new Map<number, (r: SshRun) => void>();
  private next = 0;
  private gone = false;

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: { id: number; r: SshRun }) => this.settle(m.id, m.r));
    // A launcher that died answers for its sessions; later ones run from this process.
    child.on("exit", (code, signal) => {
      this.gone = true;
      for (const id of [...this.pending.keys()]) this.settle(id, { code: 255, stdout: "", stderr: `the ssh launcher exited (${signal ?? code})`, timedOut: false });
    });
  }

  static start(): SshLauncher {
    const tsx = createRequire(__filename).resolve("tsx/cjs");
    return new SshLauncher(fork(__filename, [], { execArgv: ["--require", tsx], stdio: ["ignore", "ignore", "inherit", "ipc"] }));
  }

  run(args: string[], limitMs: number): Promise<SshRun> {
    if (this.gone) return runSsh(args, limitMs);
    const id = this.next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, { code: 255, stdout: "", stderr: "", timedOut: true }), limitMs + ANSWER_GRACE_MS);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.child.send({ id, args, limitMs } satisfies Request);
    });
  }

  close(): void {
    if (!this.gone && this.child.connected) this.child.disconnect();
  }

  private settle(id: number, r: SshRun): void {
    const done = this.pending.get(id);
    this.pending.delete(id);
    done?.(r);
  }
}

// The launcher itself: one ssh per request, answered by id; it ends when the CLI lets go of it.
if (require.main === module) {
  process.on("message", (m: Request) => {
    void runSsh(m.args, m.limitMs).then((r) => process.send?.({ id: m.id, r }));
  });
  process.on("disconnect", () => process.exit(0));
}
