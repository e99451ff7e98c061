import { defineConfig } from "vitest/config";

// The end-to-end suite (`npm run test:e2e`): the real Pulumi engine, its Node language host and the command
// provider against sandboxed test hosts. Apart from `npm test`, which runs on every CI run: see docs/engine.md.
export default defineConfig({
    test: {
        include: ["test/e2e/**/*.e2e.test.ts"],
        testTimeout: 300_000,
        hookTimeout: 300_000,
        pool: "forks",
        // Files share the engine's plugin cache: one at a time.
        fileParallelism: false,
    },
});
