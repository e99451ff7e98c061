import { defineConfig } from "vitest/config";

// `npm run test:readme`: the README's two commands in fresh clones. Not in `npm test`, because the second
// command runs .ci/run, which runs `npm test`; .ci/run runs this suite after it instead (adr/0015).
export default defineConfig({
    test: {
        include: ["test/readme/**/*.test.ts"],
        // Each case is a whole .ci/run in a fresh clone and sets its own timeout (commands.test.ts).
        hookTimeout: 5 * 60_000,
        pool: "forks",
    },
});
