// `npm run build:pack`: the policy pack compiled to JavaScript in policy-pack/dist (not committed), so that
// `pulumi preview --policy-pack policy-pack` loads JavaScript instead of type-checking the pack and the model
// through ts-node at every cold start (adr/0021). The build type-checks with the repo's own compiler options
// and records the sha256 of every source it compiled; policy-pack/main.js uses the build only while each of
// those sources is unchanged, and runs the TypeScript otherwise.
import { createHash } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import ts from "typescript";

const REPO = path.resolve(__dirname, "..");
export const PACK_DIST = path.join(REPO, "policy-pack", "dist");
/** Read by policy-pack/main.js: source path (relative to the repo) → sha256 of its content at build time. */
export const SOURCES_FILE = "sources.json";

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** The compiler options of the repo's tsconfig.json (what `npm run typecheck` holds the pack to), emitting. */
function compilerOptions(outDir: string): ts.CompilerOptions {
    const file = path.join(REPO, "tsconfig.json");
    const read = ts.readConfigFile(file, ts.sys.readFile);
    if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, "\n"));
    const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, REPO, undefined, file);
    // Source maps inline, so a stack trace from a policy names the .ts line.
    return { ...parsed.options, noEmit: false, rootDir: REPO, outDir, declaration: false, inlineSourceMap: true, sourceMap: false, incremental: false };
}

/** Compiles policy-pack/index.ts and what it imports into outDir; throws with the diagnostics on a type error. */
export function buildPack(outDir = PACK_DIST): string[] {
    const staging = `${outDir}.building-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    try {
        const program = ts.createProgram([path.join(REPO, "policy-pack", "index.ts")], compilerOptions(staging));
        const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit().diagnostics];
        if (diagnostics.length > 0) {
            throw new Error(ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => REPO, getNewLine: () => "\n" }));
        }
        const sources = program.getSourceFiles().map((f) => f.fileName).filter((f) => !f.split(path.sep).includes("node_modules")).map((f) => path.relative(REPO, f)).sort();
        const manifest = Object.fromEntries(sources.map((f) => [f, sha256(path.join(REPO, f))]));
        writeFileSync(path.join(staging, SOURCES_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
        // Swapped in whole, so a preview starting meanwhile sees the old build or the new one, never half.
        rmSync(outDir, { recursive: true, force: true });
        renameSync(staging, outDir);
        return sources;
    } finally {
        rmSync(staging, { recursive: true, force: true });
    }
}

if (require.main === module) {
    const t0 = Date.now();
    const sources = buildPack();
    console.log(`policy pack compiled: ${sources.length} sources → ${path.relative(REPO, PACK_DIST)} in ${Date.now() - t0} ms`);
}
