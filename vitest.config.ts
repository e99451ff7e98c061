import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        // The end-to-end suite needs binaries CI cannot build here: `npm run test:e2e` (vitest.e2e.config.ts).
        // The README's commands run .ci/run, which runs this suite: `npm run test:readme`, after it (adr/0015).
        exclude: ["test/e2e/**", "test/readme/**", "node_modules/**"],
        testTimeout: 30_000,
        // A private PostgreSQL server for the recorder suite (the same suite also runs on PGlite).
        globalSetup: ["test/global-setup.ts"],
        // Pulumi's mock runtime is process-global: one file per worker, no shared state.
        pool: "forks",
        // The JSON report lets CI print a plain "N passed, N failed" line.
        reporters: ["default", ["json", { outputFile: ".vitest/results.json" }]],
    },
});
