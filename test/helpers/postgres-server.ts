import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/**
 * A private PostgreSQL cluster for the test run, from Debian's server binaries: its own directory, a
 * random loopback port, stopped at the end. initdb refuses root, so it runs as the `postgres` user.
 */
export interface PgServer {
  adminUrl: string;
  stop(): void;
}

function serverBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, "bin", "pg_ctl"))) : [];
  const v = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!v) {
    throw new Error("PostgreSQL server binaries are missing: install Debian's postgresql package (apt-get install -y postgresql)");
  }
  return path.join(base, v, "bin");
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export async function startPostgres(): Promise<PgServer> {
  const bin = serverBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-pg-"));
  const asUser: string[] = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
  if (asUser.length) execFileSync("chown", ["-R", "postgres:postgres", dir]);
  const run = (args: string[]) => {
    const [cmd, ...rest] = [...asUser, ...args];
    const r = spawnSync(cmd!, rest, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${args[0]} failed: ${r.stderr || r.stdout}`);
  };
  run([path.join(bin, "initdb"), "-D", `${dir}/data`, "-U", "demesne_admin", "-A", "trust", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  run([
    path.join(bin, "pg_ctl"), "-D", `${dir}/data`, "-l", `${dir}/log`, "-w", "-t", "60", "start",
    "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`,
  ]);
  return {
    adminUrl: `postgres://demesne_admin@127.0.0.1:${port}/postgres`,
    stop: () => {
      spawnSync(asUser[0] ?? path.join(bin, "pg_ctl"), [...asUser.slice(1), ...(asUser.length ? [path.join(bin, "pg_ctl")] : []), "-D", `${dir}/data`, "-m", "immediate", "stop"]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
