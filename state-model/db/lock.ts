import * as fs from "node:fs";
import * as path from "node:path";

/**
 * PGlite is one process over one data directory: a second process opening it would corrupt it. So every
 * process takes an exclusive lock file first and waits for it; a lock whose process is gone (kill -9) is
 * taken over.
 */
export interface DirLock {
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function lockDir(
  dir: string,
  opts: { timeoutMs?: number; onWait?: (holder: number) => void } = {},
): Promise<DirLock> {
  const file = path.join(dir, "demesne.lock");
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  let told = false;
  for (;;) {
    try {
      const fd = fs.openSync(file, "wx", 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          if (fs.readFileSync(file, "utf8").trim() === String(process.pid)) fs.unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
      process.once("exit", release);
      return { release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder = NaN;
    try {
      holder = Number.parseInt(fs.readFileSync(file, "utf8"), 10);
    } catch {
      continue; // released between our open and read
    }
    if (!Number.isFinite(holder) || (!alive(holder) && holder !== process.pid)) {
      // Stale: take it over atomically so two waiters cannot both succeed.
      const stale = `${file}.stale-${process.pid}`;
      try {
        fs.renameSync(file, stale);
        // If a live process re-took the lock between our read and rename, give it back.
        if (fs.readFileSync(stale, "utf8").trim() !== String(holder)) fs.renameSync(stale, file);
        else fs.unlinkSync(stale);
      } catch {
        /* someone else took it over first */
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`the state directory ${dir} is still locked by process ${holder}; giving up waiting`);
    }
    if (!told) {
      opts.onWait?.(holder);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
  }
}
