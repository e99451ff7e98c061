// scripts/toolchain.sh and its helpers (scripts/toolchain/lib.sh), without the network: a binary is labelled
// with the version of the source it was built from (not the pin), the smoke check compares what it reports
// with that, the cache key follows the source's version, and a refusal of the Go module proxy names the exact
// module@version refused. Go builds tiny stand-in modules here; a loopback proxy double plays the refusing proxy.
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.join(__dirname, "..");
const LIB = path.join(ROOT, "scripts/toolchain/lib.sh");
const run = promisify(execFile);
/** Tests that run `go build` (a cold build cache on a busy machine takes a minute). */
const GO_BUILDS = 240_000;
let tmp: string;
beforeAll(() => void (tmp = mkdtempSync(path.join(os.tmpdir(), "demesne-toolchain-"))));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Result {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs bash with lib.sh sourced (async: the proxy double answers from this process). */
async function bash(script: string, env: Record<string, string> = {}, input?: string): Promise<Result> {
    const p = run("bash", ["-c", `set -euo pipefail; . ${JSON.stringify(LIB)}; ${script}`], { env: { ...process.env, ...env }, timeout: 180_000 });
    if (input !== undefined) p.child.stdin!.end(input);
    try {
        const r = await p;
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
        const r = e as { code: number; stdout: string; stderr: string };
        return { code: typeof r.code === "number" ? r.code : -1, stdout: r.stdout, stderr: r.stderr };
    }
}

const git = (dir: string, ...args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "-C", dir, ...args], { encoding: "utf8" }).trim();

/**
 * A stand-in for Pulumi's monorepo: sdk/ (sdk/v3, with go/common/version) and the language host's module at
 * sdk/nodejs/cmd/pulumi-language-nodejs, which replaces sdk/v3 by its relative path, as upstream does. The host's
 * `-version` prints version.Version, which the toolchain stamps with -X — or, as `liar`, a fixed string.
 * Returns the language host's directory.
 */
function fakeLanguageHost(repo: string, opts: { tag?: string; liar?: string } = {}): string {
    const sdk = path.join(repo, "sdk");
    const host = path.join(sdk, "nodejs/cmd/pulumi-language-nodejs");
    mkdirSync(path.join(sdk, "go/common/version"), { recursive: true });
    mkdirSync(path.join(sdk, "nodejs/dist"), { recursive: true });
    mkdirSync(host, { recursive: true });
    writeFileSync(path.join(sdk, "go.mod"), "module github.com/pulumi/pulumi/sdk/v3\n\ngo 1.21\n");
    writeFileSync(path.join(sdk, "go/common/version/version.go"), "package version\n\nvar Version string\n");
    writeFileSync(path.join(sdk, "nodejs/dist/pulumi-resource-pulumi-nodejs"), "#!/bin/sh\n", { mode: 0o755 });
    writeFileSync(
        path.join(host, "go.mod"),
        "module github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3\n\ngo 1.21\n\n" +
            "require github.com/pulumi/pulumi/sdk/v3 v3.0.0\n\nreplace github.com/pulumi/pulumi/sdk/v3 => ../../..\n",
    );
    const says = opts.liar ? JSON.stringify(opts.liar) : "version.Version";
    writeFileSync(
        path.join(host, "main.go"),
        `package main\n\nimport (\n\t"fmt"\n\t"os"\n\n\t"github.com/pulumi/pulumi/sdk/v3/go/common/version"\n)\n\n` +
            `func main() {\n\t_ = version.Version\n\tif len(os.Args) > 1 && os.Args[1] == "-version" {\n\t\tfmt.Println(${says})\n\t\treturn\n\t}\n\tfmt.Println(4242)\n}\n`,
    );
    git(repo, "init", "-q");
    git(repo, "add", ".");
    git(repo, "commit", "-q", "-m", "fake");
    if (opts.tag) git(repo, "tag", opts.tag);
    return host;
}

/** The pinned versions' cache under CACHE (the key the toolchain gives it). */
const PINNED_KEY = "pulumi-3.274.1_command-1.2.1_tailscale-0.29.1_ovh-2.19.1";

/** The toolchain building the language host from SRC (and `binaries`, from the cache only), offline, into CACHE. */
function toolchain(src: string, cache: string, binaries = "pulumi-language-nodejs") {
    const goBin = path.dirname(execFileSync("bash", ["-c", "command -v go"], { encoding: "utf8" }).trim());
    return bash(`bash ${JSON.stringify(path.join(ROOT, "scripts/toolchain.sh"))} --print-path`, {
        DEMESNE_TOOLCHAIN_BINARIES: binaries,
        DEMESNE_TOOLCHAIN_SRC_PULUMI_LANGUAGE_NODEJS: src,
        DEMESNE_TOOLCHAIN_DIR: cache,
        DEMESNE_PULUMI_VERSION: "3.274.1",
        GOPROXY: "off",
        PATH: `${goBin}:/usr/local/bin:/usr/bin:/bin`, // no pulumi of the pinned version to reuse
    });
}

describe("the version of a local source", () => {
    it("is its git tag, the tag and commits after it, or -dirty with uncommitted changes", async () => {
        const dir = fakeLanguageHost(path.join(tmp, "tagged"), { tag: "v3.270.0" }); // a module in a subdirectory
        expect((await bash(`source_version ${dir}`)).stdout.trim()).toBe("v3.270.0");
        writeFileSync(path.join(dir, "README"), "x\n");
        git(dir, "add", "README");
        git(dir, "commit", "-q", "-m", "after");
        const head = git(dir, "rev-parse", "--short=7", "HEAD");
        expect((await bash(`source_version ${dir}`)).stdout.trim()).toBe(`v3.270.0-1-g${head}`);
        writeFileSync(path.join(dir, "README"), "changed\n");
        expect((await bash(`source_version ${dir}`)).stdout.trim()).toBe(`v3.270.0-1-g${head}-dirty`);
        const k1 = (await bash(`source_key ${dir} v3.270.0-1-g${head}-dirty`)).stdout.trim();
        writeFileSync(path.join(dir, "README"), "changed again\n");
        const k2 = (await bash(`source_key ${dir} v3.270.0-1-g${head}-dirty`)).stdout.trim();
        expect(k1).toMatch(new RegExp(`^v3.270.0-1-g${head}-dirty\\.[0-9a-f]{12}$`));
        expect(k2).not.toBe(k1);
        writeFileSync(path.join(dir, "untracked.go"), "package main\n");
        const k3 = (await bash(`source_key ${dir} v3.270.0-1-g${head}-dirty`)).stdout.trim();
        writeFileSync(path.join(dir, "untracked.go"), "package main // edited\n");
        expect((await bash(`source_key ${dir} v3.270.0-1-g${head}-dirty`)).stdout.trim()).not.toBe(k3);
    });

    it("is a .version file, or a Go module cache directory's @version, and otherwise refused with how to tell it", async () => {
        const plain = path.join(tmp, "plain");
        mkdirSync(plain);
        writeFileSync(path.join(plain, "go.mod"), "module example.com/plain\n");
        const none = await bash(`source_version ${plain}`);
        expect(none.code).toBe(1);
        expect(none.stderr).toContain(`cannot tell which version the source in ${plain} is`);
        expect(none.stderr).toContain(`git tag vX.Y.Z) or write its version to ${plain}/.version`);
        writeFileSync(path.join(plain, ".version"), "3.270.0\n");
        expect((await bash(`source_version ${plain}`)).stdout.trim()).toBe("v3.270.0");
        // An untagged checkout of the monorepo (a shallow clone): sdk/.version, up from the language host's module.
        const untagged = fakeLanguageHost(path.join(tmp, "untagged"));
        writeFileSync(path.join(untagged, "../../../.version"), "3.270.0\n");
        expect((await bash(`source_version ${untagged}`)).stdout.trim()).toBe("v3.270.0");
        const cached = path.join(tmp, "mod/example.com/p@v0.0.0-20250101000000-abcdefabcdef");
        mkdirSync(cached, { recursive: true });
        writeFileSync(path.join(cached, "go.mod"), "module example.com/p\n");
        expect((await bash(`source_version ${cached}`)).stdout.trim()).toBe("v0.0.0-20250101000000-abcdefabcdef");
    });
});

describe("the smoke check", () => {
    it("fails when a binary reports another version than the source it was built from", async () => {
        const dir = path.join(tmp, "smoke");
        mkdirSync(dir);
        writeFileSync(path.join(dir, "go.mod"), "module example.com/smoke\n\ngo 1.21\n");
        writeFileSync(path.join(dir, "main.go"), 'package main\n\nimport "fmt"\n\nvar v = "unset"\n\nfunc main() { fmt.Println(v) }\n');
        const build = (out: string, stamp: string) =>
            execFileSync("go", ["build", "-trimpath", "-o", out, "-ldflags", `-X main.v=${stamp}`, "."], { cwd: dir, env: { ...process.env, GOPROXY: "off", GOFLAGS: "-mod=mod" } });
        build(path.join(dir, "honest"), "v3.270.0");
        build(path.join(dir, "pinned"), "v3.274.1"); // from the v3.270.0 source, stamped with the pin
        const ok = await bash(`smoke_version pulumi ${dir}/honest 3.270.0`);
        expect(ok.stdout.trim()).toBe("smoke: pulumi reports v3.270.0");
        const lie = await bash(`smoke_version pulumi ${dir}/pinned 3.270.0`);
        expect(lie.code).toBe(1);
        expect(lie.stdout.trim()).toBe("smoke: pulumi reports version 'v3.274.1', but it was built from v3.270.0");
    }, GO_BUILDS);
});

describe("scripts/toolchain.sh with a local source", () => {
    it("labels the binary with the source's version, warns that it is not the pin, and keys the cache by it", async () => {
        const src = fakeLanguageHost(path.join(tmp, "host"), { tag: "v3.270.0" });
        const cache = path.join(tmp, "cache");
        // A CLI already built at the pin: not built again for a cache of local sources, but linked from there.
        const pinned = path.join(cache, PINNED_KEY);
        mkdirSync(path.join(pinned, "bin"), { recursive: true });
        mkdirSync(path.join(pinned, "stamps"), { recursive: true });
        writeFileSync(path.join(pinned, "bin/pulumi"), "#!/bin/sh\necho v3.274.1\n", { mode: 0o755 });
        writeFileSync(path.join(pinned, "stamps/pulumi"), "pulumi version=v3.274.1\n");
        const first = await toolchain(src, cache, "pulumi pulumi-language-nodejs");
        expect(first.stderr).toContain(`warning: pulumi-language-nodejs is built from ${src}, which is v3.270.0, not the pinned v3.274.1`);
        expect(first.code, first.stderr).toBe(0);
        const bin1 = first.stdout.trim();
        expect(path.basename(path.dirname(bin1))).toBe(`${PINNED_KEY}_src_pulumi-language-nodejs-v3.270.0`);
        expect(first.stderr).toContain(`reusing ${pinned}/bin/pulumi`);
        expect(realpathSync(path.join(bin1, "pulumi"))).toBe(realpathSync(path.join(pinned, "bin/pulumi")));
        expect(execFileSync(path.join(bin1, "pulumi-language-nodejs"), ["-version"], { encoding: "utf8" }).trim()).toBe("v3.270.0");
        expect(readFileSync(path.join(path.dirname(bin1), "stamps/pulumi-language-nodejs"), "utf8")).toMatch(
            new RegExp(`version=v3\\.270\\.0 pin=v3\\.274\\.1 source=${src.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} `),
        );
        // The same source at another release is another cache entry, built again, reporting its own version.
        writeFileSync(path.join(src, "../../../CHANGELOG"), "3.271.0\n");
        git(src, "add", "-A");
        git(src, "commit", "-q", "-m", "release");
        git(src, "tag", "v3.271.0");
        const second = await toolchain(src, cache);
        expect(second.code, second.stderr).toBe(0);
        const bin2 = second.stdout.trim();
        expect(bin2).not.toBe(bin1);
        expect(execFileSync(path.join(bin2, "pulumi-language-nodejs"), ["-version"], { encoding: "utf8" }).trim()).toBe("v3.271.0");
        expect(execFileSync(path.join(bin1, "pulumi-language-nodejs"), ["-version"], { encoding: "utf8" }).trim()).toBe("v3.270.0");
    }, GO_BUILDS);

    it("refuses a binary that does not report the version it was built from", async () => {
        const src = fakeLanguageHost(path.join(tmp, "liar"), { tag: "v3.270.0", liar: "v3.274.1" });
        const r = await toolchain(src, path.join(tmp, "cache-liar"));
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("smoke: pulumi-language-nodejs reports version 'v3.274.1', but it was built from v3.270.0");
        expect(r.stderr).toContain("failed to build: pulumi-language-nodejs");
    }, GO_BUILDS);

    it("refuses a module copied out of its checkout when its version is no release to take the sdk at", async () => {
        const host = fakeLanguageHost(path.join(tmp, "monorepo-for-copy"), { tag: "v3.270.0" });
        const copy = path.join(tmp, "copied-host");
        execFileSync("cp", ["-r", host, copy]);
        git(copy, "init", "-q");
        git(copy, "add", ".");
        git(copy, "commit", "-q", "-m", "copy");
        git(copy, "tag", "v3.270.0");
        writeFileSync(path.join(copy, "NOTES"), "after the release\n");
        git(copy, "add", ".");
        git(copy, "commit", "-q", "-m", "after");
        const r = await toolchain(copy, path.join(tmp, "cache-copy"));
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(
            /pulumi-language-nodejs: go\.mod replaces github\.com\/pulumi\/pulumi\/sdk\/v3 with \.\.\/\.\.\/\.\., which is not there, and v3\.270\.0-1-g[0-9a-f]+ is no release to take it at/,
        );
    }, GO_BUILDS);
});

/** What `go` printed here when the Go module proxy refused (machine paths replaced). */
const CAPTURED = {
    // `go mod download github.com/pulumi/pulumi-command/provider@v1.2.1`: the proxy has no such version
    // (GOPROXY=https://proxy.golang.org,direct), and the direct fetch cannot reach GitHub.
    commandProvider:
        "go: github.com/pulumi/pulumi-command/provider@v1.2.1: invalid version: git ls-remote -q --end-of-options https://github.com/pulumi/pulumi-command in $GOMODCACHE/cache/vcs/3ec7335ddb97d3c26ec82814a6ffffdbb9ab8a20dff9054d271126dabcf71006: exit status 128:\n" +
        "\tfatal: unable to access 'https://github.com/pulumi/pulumi-command/': Could not resolve host: github.com\n",
    // `go mod download -json github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3@latest`
    languageHost:
        '{\n\t"Path": "github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3",\n\t"Version": "latest",\n' +
        '\t"Error": "module github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3: reading https://proxy.golang.org/github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3/@v/list: 403 Forbidden\\n\\tserver response: This module version is not available."\n}\n',
};

describe("precise refusals", () => {
    const errors = async (text: string) => (await bash("go_module_errors", {}, text)).stdout.trim().split("\n");

    it("name the module and version of the proxy's real refusals", async () => {
        expect(await errors(CAPTURED.commandProvider)).toEqual([
            "github.com/pulumi/pulumi-command/provider@v1.2.1: not on the module proxy, and fetching it from its origin failed: unable to access 'https://github.com/pulumi/pulumi-command/': Could not resolve host: github.com",
        ]);
        expect(await errors(CAPTURED.languageHost)).toEqual([
            "github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3@latest: the module proxy answered 403 Forbidden: This module version is not available.",
        ]);
    });

    describe("against a loopback proxy that refuses the modules a provider links", () => {
        let server: http.Server;
        let proxy: string;
        beforeAll(async () => {
            server = http.createServer((req, res) => {
                if (req.url === "/example.com/a/@v/v1.0.0.info") return void res.end('{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}');
                if (req.url === "/example.com/a/@v/v1.0.0.mod") return void res.end("module example.com/a\n\ngo 1.16\n\nrequire example.com/Big/b/v2 v2.0.0\n");
                res.writeHead(403, { "Content-Type": "text/plain" }).end("This module version is not available.");
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            proxy = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        });
        afterAll(() => new Promise<void>((r) => server.close(() => r())));

        /** A provider module requiring `requires` (import paths `imports`), built by `go` through the double. */
        async function goOutput(name: string, goVersion: string, requires: string[], imports: string[], cmd: string) {
            const dir = path.join(tmp, name);
            mkdirSync(dir);
            writeFileSync(path.join(dir, "go.mod"), `module example.com/provider\n\ngo ${goVersion}\n\nrequire (\n${requires.map((r) => `\t${r}\n`).join("")})\n`);
            writeFileSync(path.join(dir, "main.go"), `package main\n\nimport (\n${imports.map((i) => `\t_ "${i}"\n`).join("")})\n\nfunc main() {}\n`);
            const env = { GOPROXY: proxy, GOSUMDB: "off", GOFLAGS: "-mod=mod -modcacherw", GOMODCACHE: path.join(tmp, `modcache-${name}`) };
            const r = await bash(`cd ${dir} && ${cmd} 2>&1`, env);
            expect(r.code).not.toBe(0);
            return r.stdout;
        }

        it("each refused module a build needs, transitive ones included, not the module that needs them", async () => {
            const out = await goOutput(
                "build",
                "1.21",
                ["example.com/a v1.0.0", "github.com/pulumi/pulumi-java/pkg v1.12.0 // indirect"],
                ["example.com/a", "github.com/pulumi/pulumi-java/pkg/codegen/java"],
                "go build -o /dev/null .",
            );
            const refused = "the module proxy answered 403 Forbidden: This module version is not available.";
            expect(await errors(out)).toEqual([`example.com/a@v1.0.0: ${refused}`, `github.com/pulumi/pulumi-java/pkg@v1.12.0: ${refused}`]);
            const download = await goOutput("download", "1.21", ["example.com/a v1.0.0", "github.com/pulumi/pulumi-java/pkg v1.12.0"], [], "go mod download -json example.com/a github.com/pulumi/pulumi-java/pkg");
            expect(await errors(download)).toEqual([`example.com/a@v1.0.0: ${refused}`, `github.com/pulumi/pulumi-java/pkg@v1.12.0: ${refused}`]);
            // a@v1.0.0 is served; what it requires is not: only that is named (with its path unescaped).
            expect(await errors(await goOutput("requires", "1.16", ["example.com/a v1.0.0"], ["example.com/a"], "go list -m all"))).toEqual([
                `example.com/Big/b/v2@v2.0.0: ${refused}`,
            ]);
        }, GO_BUILDS);
    });
});
