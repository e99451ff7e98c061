// The CI supply chain: every action a workflow runs is pinned by its full commit sha (a tag can be moved to
// other code), with the release tag it was taken from in a comment so a reader and an updater see the version;
// and the Go tools the checks build are pinned by version and module checksum (scripts/go-tools.sh).
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

const ROOT = path.join(__dirname, "..");
const WORKFLOWS = path.join(ROOT, ".github/workflows");
const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).sort();

/** `owner/repo[/path]@<40 hex> # vX[.Y[.Z]]`, or a local action (`./…`, code of this very commit). */
const PINNED = /^(?:\.\/\S+|[\w.-]+\/[\w.-]+(?:\/[^\s@]+)?@[0-9a-f]{40} # v\d+(?:\.\d+){0,2}(?:-[\w.]+)?)$/;

/** Each `uses:` of a workflow's text that is not pinned so, as "line N: <value>". */
function unpinnedUses(text: string): string[] {
    const bad: string[] = [];
    const lines = text.split("\n");
    lines.forEach((line, i) => {
        const m = /^\s*(?:-\s+)?uses:\s*(.*?)\s*$/.exec(line);
        if (m && !PINNED.test(m[1]!.replace(/^(["'])(.*?)\1/, "$2"))) bad.push(`line ${i + 1}: ${m[1]}`);
    });
    // A `uses` the line scan cannot see (flow style, `{uses: …}`) is refused too: every key must be on its own line.
    const keys = countUses(parseAllDocuments(text).map((d) => d.toJS() as unknown));
    const seen = lines.filter((l) => /^\s*(?:-\s+)?uses:/.test(l)).length;
    if (keys !== seen) bad.push(`${keys} uses keys but ${seen} on lines of their own (write each as "uses: <action>@<sha> # <tag>")`);
    return bad;
}

function countUses(v: unknown): number {
    if (Array.isArray(v)) return v.reduce((n: number, x) => n + countUses(x), 0);
    if (v && typeof v === "object") {
        return Object.entries(v).reduce((n, [k, x]) => n + (k === "uses" ? 1 : 0) + countUses(x), 0);
    }
    return 0;
}

describe("workflows", () => {
    it("has workflows to check", () => {
        expect(files.length).toBeGreaterThan(0);
    });

    it.each(files)("every action of %s is pinned by commit sha with its release tag in a comment", (file) => {
        expect(unpinnedUses(readFileSync(path.join(WORKFLOWS, file), "utf8"))).toEqual([]);
    });

    it("refuses an action referenced by a tag, a branch, a short sha, or a sha without its tag", () => {
        const sha = "11d5960a326750d5838078e36cf38b85af677262";
        const wf = (uses: string) => `jobs:\n  a:\n    steps:\n      - uses: ${uses}\n`;
        expect(unpinnedUses(wf(`actions/checkout@${sha} # v4.4.0`))).toEqual([]);
        expect(unpinnedUses(wf("./.github/actions/local"))).toEqual([]);
        expect(unpinnedUses(wf("actions/checkout@v4"))).toEqual(["line 4: actions/checkout@v4"]);
        expect(unpinnedUses(wf("actions/checkout@main # v4.4.0"))).toHaveLength(1);
        expect(unpinnedUses(wf("actions/checkout@11d5960 # v4.4.0"))).toHaveLength(1);
        expect(unpinnedUses(wf(`actions/checkout@${sha}`))).toHaveLength(1);
        expect(unpinnedUses(wf(`actions/checkout@${sha} # latest`))).toHaveLength(1);
        expect(unpinnedUses(`jobs:\n  a:\n    uses: org/repo/.github/workflows/x.yml@v1\n`)).toHaveLength(1);
        expect(unpinnedUses(`jobs:\n  a:\n    steps: [{uses: actions/checkout@v4}]\n`)).toEqual([
            '1 uses keys but 0 on lines of their own (write each as "uses: <action>@<sha> # <tag>")',
        ]);
    });

    it("the Go tools the checks build are pinned by version and module checksum", () => {
        const script = readFileSync(path.join(ROOT, "scripts/go-tools.sh"), "utf8");
        const tools = [...script.matchAll(/^([A-Z]+)=(\S+@\S+)$/gm)];
        expect(tools.map(([, name]) => name)).toEqual(["ACTIONLINT", "GITLEAKS"]);
        for (const [, name, mod] of tools) {
            expect(mod, name).toMatch(/@v\d+\.\d+\.\d+$/);
            const sum = new RegExp(`^${name}_SUM=(\\S+)@(v[\\d.]+)=h1:[A-Za-z0-9+/]{43}=$`, "m").exec(script);
            expect(sum, `${name}_SUM`).not.toBeNull();
            expect(mod!.startsWith(sum![1]!) && mod!.endsWith(`@${sum![2]}`), `${name}_SUM names the module and version of ${mod}`).toBe(true);
        }
    });
});
