import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/**
 * A private PostgreSQL cluster for the test run, from Debian's server binaries: its own directory (also its
 * socket directory), a free loopback port, stopped at the end. initdb refuses root, so it runs as the
 * `postgres` user. Runs beside each other never share one: a port another process takes between the pick
 * and the server's bind is picked again, and a cluster whose run died is stopped by the next start.
 */
export interface PgServer {
  adminUrl: string;
  /** The cluster's directory (socket, data, log, owner file). */
  dir: string;
  stop(): void;
}

export interface PgOptions {
  /** Picks a port to try; default: one the kernel says is free now. */
  pickPort?: () => Promise<number>;
  /** How many ports to try before giving up; default 5. */
  attempts?: number;
}

const PREFIX = "demesne-pg-";

function serverBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, "bin", "pg_ctl"))) : [];
  const v = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!v) {
    throw new Error("PostgreSQL server binaries are missing: install Debian's postgresql package (apt-get install -y postgresql)");
  }
  return path.join(base, v, "bin");
}

/** A loopback port the kernel says is free now (someone may take it before it is used). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** "PID STARTTIME" of a live process (field 22 of /proc/PID/stat tells a reused pid apart), or undefined. */
function processId(pid: number): string | undefined {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
    return fields[0] === "Z" ? undefined : `${pid} ${fields[19]}`;
  } catch {
    return undefined;
  }
}

function asPostgres(): string[] {
  return process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
}

function pgCtl(bin: string, args: string[]) {
  const [cmd, ...rest] = [...asPostgres(), path.join(bin, "pg_ctl"), ...args];
  return spawnSync(cmd!, rest, { encoding: "utf8" });
}

function remove(bin: string, dir: string): void {
  if (fs.existsSync(path.join(dir, "data", "postmaster.pid"))) pgCtl(bin, ["-D", path.join(dir, "data"), "-m", "immediate", "stop"]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Clusters left by runs that died before their teardown (their owner file names a process that is gone). */
function sweep(bin: string): void {
  for (const name of fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(PREFIX))) {
    const dir = path.join(os.tmpdir(), name);
    let owner: string;
    try {
      owner = fs.readFileSync(path.join(dir, "owner"), "utf8").trim();
    } catch {
      continue; // being set up right now, or not ours
    }
    if (processId(Number(owner.split(" ")[0])) !== owner) remove(bin, dir);
  }
}

export async function startPostgres(opts: PgOptions = {}): Promise<PgServer> {
  const bin = serverBin();
  sweep(bin);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), PREFIX));
  try {
    fs.writeFileSync(path.join(dir, "owner"), `${processId(process.pid)}\n`);
    if (asPostgres().length) execFileSync("chown", ["-R", "postgres:postgres", dir]);
    const [cmd, ...rest] = [...asPostgres(), path.join(bin, "initdb"), "-D", `${dir}/data`, "-U", "demesne_admin", "-A", "trust", "--no-sync", "-E", "UTF8"];
    const init = spawnSync(cmd!, rest, { encoding: "utf8" });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
    const attempts = opts.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const port = await (opts.pickPort ?? freePort)();
      const logFile = path.join(dir, `log-${attempt}`);
      const r = pgCtl(bin, [
        "-D", `${dir}/data`, "-l", logFile, "-w", "-t", "60", "start",
        "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`,
      ]);
      if (r.status === 0) {
        return {
          adminUrl: `postgres://demesne_admin@127.0.0.1:${port}/postgres`,
          dir,
          stop: () => remove(bin, dir),
        };
      }
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
      // Another process bound the port after it was picked: pick again. Anything else is a real failure.
      if (attempt >= attempts || !/Address already in use/.test(log)) {
        throw new Error(`pg_ctl start on port ${port} failed (attempt ${attempt} of ${attempts}): ${r.stderr || r.stdout}\n${log.trim().split("\n").slice(-5).join("\n")}`);
      }
    }
  } catch (e) {
    remove(bin, dir);
    throw e;
  }
}
