// The stand-in images (test/controlplane/standins/, Go stdlib only): one static binary built on this machine,
// cached by a hash of its sources, copied into the control-plane host and packaged there with `docker import`,
// one image per role. No registry or download is involved.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { runCommand, type TestHost } from "../helpers/test-host";
import { must } from "./host";

const SOURCES = path.join(__dirname, "standins");
export const STANDIN_ROLES = ["gateway", "chat-ui", "postgres"] as const;
export type StandinRole = (typeof STANDIN_ROLES)[number];

function sourceHash(): string {
    const h = createHash("sha256");
    for (const f of readdirSync(SOURCES).filter((f) => f.endsWith(".go") || f === "go.mod").sort()) {
        h.update(f).update("\0").update(readFileSync(path.join(SOURCES, f))).update("\0");
    }
    return h.digest("hex").slice(0, 16);
}

/** The stand-in binary's path on this machine: built once per source hash (CGO_ENABLED=0, static). */
export async function buildStandinBinary(): Promise<string> {
    const cache = path.join(process.env.DEMESNE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "demesne"), "standins");
    const out = path.join(cache, `standin-${sourceHash()}`);
    if (existsSync(out)) return out;
    mkdirSync(cache, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    const env = { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local" };
    const r = await runCommand("go", ["build", "-C", SOURCES, "-trimpath", "-ldflags=-s -w", "-o", tmp, "."], { env, timeoutMs: 300_000 });
    if (r.code === -1 && /ENOENT/.test(r.stderr)) throw new Error("the stand-in images need Go (https://go.dev/dl, or apt-get install golang-go) to build test/controlplane/standins");
    if (r.code !== 0) throw new Error(`go build in test/controlplane/standins failed (exit ${r.code}):\n${r.stderr.trim()}`);
    renameSync(tmp, out);
    return out;
}

/**
 * Copies the binary into the host and imports one image per role, tagged `demesne-test/<role>:<version>`; the
 * version goes into a label, so another version is another image (another digest) with the same program.
 */
export async function importStandinImages(host: TestHost, binary: string, version = "1"): Promise<Record<StandinRole, string>> {
    const inHost = "/usr/local/bin/demesne-standin";
    const copied = await host.exec(`base64 -d > ${inHost} && chmod 755 ${inHost}`, { input: readFileSync(binary).toString("base64"), timeoutMs: 120_000 });
    if (copied.code !== 0) throw new Error(`copying the stand-in binary into ${host.name} failed: ${copied.stderr.trim()}`);
    const tags = {} as Record<StandinRole, string>;
    for (const role of STANDIN_ROLES) {
        const tag = `demesne-test/${role}:${version}`;
        await must(host, [
            "set -e",
            "d=$(mktemp -d)",
            `install -D -m 755 ${inHost} "$d/standin"`,
            "mkdir -m 1777 \"$d/tmp\"",
            `tar -C "$d" -c . | docker import --change 'ENTRYPOINT ["/standin","${role}"]' --change 'LABEL demesne.standin.version=${version}' - ${tag} > /dev/null`,
            "rm -rf \"$d\"",
        ].join("\n"), 180_000);
        tags[role] = tag;
    }
    return tags;
}
