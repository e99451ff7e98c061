// `npm run pack:policy [-- --out DIR]`: the policy pack as a self-contained npm tarball. The pack shares
// components/model with the program (one copy of each fact in the repo); the tarball carries the compiled
// model beside the compiled pack, so it works wherever it is installed.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "..");

export function packPolicy(outDir: string): string {
    const build = mkdtempSync(path.join(os.tmpdir(), "demesne-policy-build-"));
    try {
        const tsconfig = {
            compilerOptions: {
                target: "ES2022", module: "commonjs", moduleResolution: "node", strict: true, esModuleInterop: true,
                resolveJsonModule: true, skipLibCheck: true, declaration: false, types: ["node"],
                typeRoots: [path.join(REPO, "node_modules", "@types")],
                rootDir: REPO, outDir: build,
                baseUrl: REPO, paths: { "*": [path.join(REPO, "node_modules", "*")] },
            },
            files: [path.join(REPO, "policy-pack", "index.ts")],
        };
        const cfg = path.join(build, "tsconfig.json");
        writeFileSync(cfg, JSON.stringify(tsconfig));
        execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", cfg], { stdio: "inherit" });
        rmSync(cfg);
        const pack = JSON.parse(readFileSync(path.join(REPO, "policy-pack", "package.json"), "utf8")) as Record<string, unknown>;
        writeFileSync(path.join(build, "package.json"), `${JSON.stringify({ ...pack, main: "policy-pack/index.js", files: ["policy-pack", "components", "PulumiPolicy.yaml"] }, null, 2)}\n`);
        copyFileSync(path.join(REPO, "policy-pack", "PulumiPolicy.yaml"), path.join(build, "PulumiPolicy.yaml"));
        copyFileSync(path.join(REPO, "policy-pack", "README.md"), path.join(build, "README.md"));
        const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", path.resolve(outDir)], { cwd: build, encoding: "utf8" });
        return path.join(path.resolve(outDir), out.trim().split("\n").pop()!);
    } finally {
        rmSync(build, { recursive: true, force: true });
    }
}

if (require.main === module) {
    const i = process.argv.indexOf("--out");
    console.log(packPolicy(i > 0 ? process.argv[i + 1]! : REPO));
}
