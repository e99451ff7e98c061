// The pack's entry point (policy-pack/main.js, adr/0021): a compiled build runs only while every source it was
// built from is unchanged, and deferring the SDK's codePaths module keeps npm's Arborist out of the start-up
// without changing what the SDK exports.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { expect, it } from "vitest";

const PACK = path.resolve(__dirname, "..", "..", "policy-pack");
const { staleness } = createRequire(__filename)(path.join(PACK, "build-state.js")) as { staleness(dist: string, repo: string): string | undefined };
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

it("a build runs only while each of its sources has the hash recorded at build time", () => {
    const repo = mkdtempSync(path.join(os.tmpdir(), "demesne-pack-entry-"));
    const dist = path.join(repo, "dist");
    mkdirSync(path.join(repo, "model"));
    writeFileSync(path.join(repo, "policy.ts"), "export const rule = 1;\n");
    writeFileSync(path.join(repo, "model", "catalogue.json"), "{}\n");
    expect(staleness(dist, repo)).toBe("it is not built");
    mkdirSync(dist);
    writeFileSync(path.join(dist, "sources.json"), JSON.stringify({ "policy.ts": sha("export const rule = 1;\n"), "model/catalogue.json": sha("{}\n") }));
    expect(staleness(dist, repo)).toBeUndefined();
    writeFileSync(path.join(repo, "model", "catalogue.json"), `{"ssh":"x"}\n`);
    expect(staleness(dist, repo)).toBe("model/catalogue.json changed since the build");
    writeFileSync(path.join(repo, "model", "catalogue.json"), "{}\n");
    rmSync(path.join(repo, "policy.ts"));
    expect(staleness(dist, repo)).toBe("policy.ts is gone");
    writeFileSync(path.join(dist, "sources.json"), "{}");
    expect(staleness(dist, repo)).toBe("its list of sources is empty");
    rmSync(repo, { recursive: true, force: true });
});

it("the SDK loads without Arborist, and its code-path function still works when called", () => {
    const probe = (defer: boolean) => `
      ${defer ? `require(${JSON.stringify(path.join(PACK, "defer-code-paths.js"))}).deferCodePaths(${JSON.stringify(PACK)});` : ""}
      const pulumi = require("@pulumi/pulumi");
      const loaded = () => Object.keys(require.cache).some((f) => f.includes("@npmcli/arborist"));
      const before = loaded();
      pulumi.runtime.computeCodePaths({ extraIncludePaths: [], extraIncludePackages: ["yaml"], extraExcludePackages: [] })
        .then((paths) => console.log(JSON.stringify({ before, after: loaded(), paths: [...paths.keys()].sort() })));`;
    const run = (defer: boolean) => JSON.parse(execFileSync(process.execPath, ["-e", probe(defer)], { cwd: path.dirname(PACK), encoding: "utf8" })) as { before: boolean; after: boolean; paths: string[] };
    const deferred = run(true);
    expect([deferred.before, deferred.after]).toEqual([false, true]);
    expect(deferred.paths.some((p) => p.includes(`node_modules${path.sep}yaml`))).toBe(true);
}, 60_000);
