// A real PostgreSQL image for the gateway's `db` container on the control-plane test host, where no container
// registry is reachable: built inside the host from its Debian postgresql package (postgres-image.sh, with
// postgres-entrypoint.sh keeping the official image's contract), pushed to the host's loopback registry and
// named by the registry's digest, so it can be a gateway's `postgresImage`. Also the psql helpers the tests
// and the restore drill use on a running container of it (or of the official image: both have sh and psql).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { shellQuote, type TestHost } from "../helpers/test-host";
import { must, type ControlPlaneHost } from "./host";
import { pushByDigest, REGISTRY, registryDigest, startRegistry } from "./registry";

const REPO = "demesne-test/postgres-debian";
const BUILDER = path.join(__dirname, "postgres-image.sh");
const ENTRYPOINT = path.join(__dirname, "postgres-entrypoint.sh");
const IN_HOST = "/root/demesne-postgres-image";

/** What buildPostgresImage made: the reference, and where its time went (for the report). */
export interface PostgresImage {
    ref: string;
    /** Seconds listing (ldd, unless cached) and importing, pushing; 0 and 0 when the host's registry had it. */
    seconds: { build: number; push: number };
    /** The assembled tree's size in KiB (0 when reused). */
    kib: number;
}

/**
 * Builds the image inside the host and pushes it to the host's loopback registry (started if need be); returns
 * `127.0.0.1:5000/demesne-test/postgres-debian@sha256:…`. The tag is a hash of the two scripts and the host's
 * rootfs, so a second call on the same host (same test run) finds it in the host's registry and builds nothing;
 * the file list is cached on this machine (fileList), so another host builds in seconds.
 */
export async function buildPostgresImage(host: ControlPlaneHost): Promise<string> {
    return (await buildPostgresImageTimed(host)).ref;
}

export async function buildPostgresImageTimed(host: ControlPlaneHost): Promise<PostgresImage> {
    const builder = readFileSync(BUILDER, "utf8");
    const entrypoint = readFileSync(ENTRYPOINT, "utf8");
    // A rebuilt rootfs (same directory, newer packages) has a newer .complete: another key.
    const rootfsBuilt = statSync(path.join(host.rootfs, ".complete")).mtimeMs;
    const key = createHash("sha256").update([builder, entrypoint, host.rootfs, String(rootfsBuilt)].join("\0")).digest("hex").slice(0, 16);
    await startRegistry(host);
    const cached = await host.exec(`curl -fsS -o /dev/null http://${REGISTRY}/v2/${REPO}/manifests/${key}`);
    if (cached.code === 0) return { ref: `${REGISTRY}/${REPO}@${await registryDigest(host, REPO, key)}`, seconds: { build: 0, push: 0 }, kib: 0 };
    const t0 = Date.now();
    await host.writeFile(`${IN_HOST}/build.sh`, builder, 0o700);
    await host.writeFile(`${IN_HOST}/entrypoint.sh`, entrypoint, 0o755);
    await host.writeFile(`${IN_HOST}/files`, await fileList(host, key), 0o600);
    const local = `demesne-test/postgres-build:${key}`;
    const kib = Number((await must(host, `bash ${IN_HOST}/build.sh import ${local} ${IN_HOST}/entrypoint.sh ${IN_HOST}/files`, 600_000)).trim());
    const t1 = Date.now();
    const ref = await pushByDigest(host, local, REPO, key);
    return { ref, seconds: { build: (t1 - t0) / 1000, push: (Date.now() - t1) / 1000 }, kib };
}

/**
 * The files the image takes from the host (`postgres-image.sh files`): ldd over a hundred binaries and modules
 * takes a minute on a loaded machine, so the list is kept on this machine per key (scripts and rootfs), where
 * the next host from the same rootfs, in this run or the next, finds it.
 */
async function fileList(host: ControlPlaneHost, key: string): Promise<string> {
    const dir = path.join(process.env.DEMESNE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "demesne"), "postgres-image");
    const file = path.join(dir, `files-${key}`);
    if (existsSync(file)) return readFileSync(file, "utf8");
    const list = await must(host, `bash ${IN_HOST}/build.sh files`, 600_000);
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${file}.${process.pid}.tmp`, list);
    renameSync(`${file}.${process.pid}.tmp`, file);
    return list;
}

/**
 * Runs sql with psql inside a running container of the image, as its POSTGRES_USER on its POSTGRES_DB over
 * the local socket (trust, as in the official image): unaligned, tuples only, stopping at the first error.
 * Returns stdout; throws with psql's error.
 */
export async function psql(host: TestHost, container: string, sql: string): Promise<string> {
    const cmd = `docker exec -i ${shellQuote(container)} sh -c ${shellQuote('exec psql -X -q -A -t -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"')}`;
    const r = await host.exec(cmd, { input: sql, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`psql in ${container} on ${host.name} failed (exit ${r.code}): ${r.stderr.trim()}\n--- sql:\n${sql}`);
    return r.stdout;
}

/**
 * The md5 of a table's rows as text in orderBy's order: equal checksums mean equal contents. An empty table
 * gives "" (string_agg of no rows is null), a missing one throws.
 */
export async function tableChecksum(host: TestHost, container: string, table: string, orderBy = "id"): Promise<string> {
    const t = `"${table.replace(/"/g, '""')}"`;
    return (await psql(host, container, `select coalesce(md5(string_agg(r::text, ',' order by r.${orderBy})), '') from ${t} r;`)).trim();
}

/**
 * Waits until the container's postgres answers on TCP (127.0.0.1 inside it), or throws after ms. Over TCP, not
 * the socket: on a first start initdb's temporary server answers on the socket before the real one runs.
 */
export async function waitForPostgres(host: TestHost, container: string, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
        const r = await host.exec(`docker exec ${shellQuote(container)} pg_isready -q -h 127.0.0.1 -p 5432`, { timeoutMs: 30_000 });
        if (r.code === 0) return;
        if (Date.now() > deadline) {
            const logs = await host.exec(`docker logs --tail 30 ${shellQuote(container)} 2>&1`);
            throw new Error(`postgres in ${container} on ${host.name} did not answer within ${ms / 1000} s:\n${logs.stdout}`);
        }
        await new Promise((done) => setTimeout(done, 500));
    }
}
