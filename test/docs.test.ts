// The policy and governance documents against the code: generated regions up to date, and every cited path,
// test title and policy real. Citations are Markdown conventions:
//   - a path is an inline code span such as `components/model/ports.ts` (relative to the repository root);
//   - a test is its file's code span followed by its title(s) in double quotes: `test/x.test.ts` "title", "title";
//   - a policy is a code span in a table column headed "policy", or written as "the `name` policy".
// Parametrised titles (it.each) are matched against their template, each placeholder's value being a string
// literal of the same file (or a template literal of the file built from such literals): a static check,
// the suite is not run.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { POLICIES } from "../policy-pack/policies";
import { GENERATED_DOCS, generatedDocs } from "../scripts/policy-docs";

const ROOT = path.join(__dirname, "..");
const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");
const mdIn = (dir: string) => readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith(".md")).map((f) => `${dir}/${f}`).sort();

/** The documents whose citations are checked. */
const CITING = ["docs/architecture.md", "docs/invariants.md", "docs/governance.md", "docs/hazards.md", ...mdIn("policy")];

/** The text without fenced code blocks (diagrams, examples), line count kept. */
function prose(text: string): string {
    return text.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ""));
}

/** Segments a citation cannot cross: each table cell, or a whole paragraph with its lines joined. */
function segments(text: string): string[] {
    const out: string[] = [];
    for (const block of prose(text).split(/\n\s*\n/)) {
        const lines = block.split("\n").filter((l) => l.trim() !== "");
        if (lines.length > 0 && lines.every((l) => l.trimStart().startsWith("|"))) {
            for (const l of lines) out.push(...cellsOf(l));
        } else {
            out.push(lines.map((l) => l.trim()).join(" "));
        }
    }
    return out;
}

function cellsOf(row: string): string[] {
    return row.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

const REPO_PATH = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*\/?$/;
const FILE_EXT = /\.(md|ts|js|json|ya?ml|sql|sh|hujson)$/;
const IP_OR_CIDR = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/;

/** Is this code span a repository path? (Host paths start with `/`; config keys and tags have `:`.) */
function isRepoPath(span: string): boolean {
    return REPO_PATH.test(span) && (span.includes("/") || FILE_EXT.test(span)) && !IP_OR_CIDR.test(span);
}

interface TestCitation {
    doc: string;
    file: string;
    title: string;
}

function testCitations(doc: string, text: string): TestCitation[] {
    const out: TestCitation[] = [];
    for (const seg of segments(text)) {
        let file: string | undefined;
        for (const m of seg.matchAll(/`([^`]+)`|"([^"]+)"/g)) {
            if (m[1] !== undefined) {
                if (isRepoPath(m[1])) file = m[1].endsWith(".test.ts") ? m[1] : undefined;
            } else if (file) {
                out.push({ doc, file, title: m[2]! });
            }
        }
    }
    return out;
}

// --- test files, read statically ---------------------------------------------------------------

const STRING = /"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`/g;
const unescape = (s: string) => s.replace(/\\(.)/g, (_m, c: string) => (c === "n" ? "\n" : c));

/** Skips a balanced (...) starting at text[i] === "(", stepping over string literals; returns the index after it. */
function skipParens(text: string, i: number): number {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
        const c = text[j]!;
        if (c === '"' || c === "'" || c === "`") {
            STRING.lastIndex = j;
            const m = STRING.exec(text);
            if (m && m.index === j) {
                j += m[0].length - 1;
                continue;
            }
        }
        if (c === "(") depth += 1;
        if (c === ")" && --depth === 0) return j + 1;
    }
    return text.length;
}

interface TestFile {
    /** Titles given to describe/it/test, as written (templates keep their placeholders). */
    titles: Set<string>;
    /** Every string literal of the file without interpolation. */
    literals: Set<string>;
    /** Template literals with interpolation, as their literal fragments. */
    composites: string[][];
}

const testFiles = new Map<string, TestFile>();
function testFile(file: string): TestFile {
    const hit = testFiles.get(file);
    if (hit) return hit;
    const text = read(file);
    const literals = new Set<string>();
    const composites: string[][] = [];
    for (const m of text.matchAll(STRING)) {
        const raw = m[1] ?? m[2] ?? m[3] ?? "";
        if (m[3] !== undefined && raw.includes("${")) composites.push(raw.split(/\$\{[^}]*\}/).map(unescape));
        else literals.add(unescape(raw));
    }
    const titles = new Set<string>();
    const call = /\b(describe|it|test)((?:\.(?:each|only|skip|todo|concurrent|sequential|fails|skipIf|runIf))*)\s*(?=\()/g;
    for (const m of text.matchAll(call)) {
        let i = m.index! + m[0].length;
        // Modifiers that take arguments (each, skipIf, runIf) are called first: skip their argument list.
        if (/\.(each|skipIf|runIf)/.test(m[2] ?? "")) i = skipParens(text, i);
        const rest = text.slice(i);
        const lit = /^\(\s*("((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\$]|\\.)*)`)/.exec(rest);
        if (lit) titles.add(unescape(lit[2] ?? lit[3] ?? lit[4] ?? ""));
    }
    const parsed = { titles, literals, composites };
    testFiles.set(file, parsed);
    return parsed;
}

/** Every way `text` splits into the literal fragments of a template: the values of its placeholders. */
function* fill(fragments: string[], text: string): Generator<string[]> {
    const [first, ...rest] = fragments;
    if (!text.startsWith(first!)) return;
    const tail = text.slice(first!.length);
    if (rest.length === 0) {
        if (tail === "") yield [];
        return;
    }
    for (let cut = 1; cut <= tail.length; cut++) {
        for (const more of fill(rest, tail.slice(cut))) yield [tail.slice(0, cut), ...more];
    }
}

const PLACEHOLDER = /%[sdifjo#%]|\$[A-Za-z_][A-Za-z0-9_.]*/g;

function valueIsLiteral(f: TestFile, value: string, placeholder: string): boolean {
    if (placeholder === "%j") {
        try {
            value = JSON.parse(value) as string;
        } catch {
            return false;
        }
    }
    if (f.literals.has(value)) return true;
    return f.composites.some((parts) => [...fill(parts, value)].some((vals) => vals.every((v) => f.literals.has(v))));
}

function titleExists(file: string, title: string): boolean {
    const f = testFile(file);
    if (f.titles.has(title)) return true;
    for (const template of f.titles) {
        const placeholders = template.match(PLACEHOLDER);
        if (!placeholders) continue;
        const fragments = template.split(PLACEHOLDER);
        for (const values of fill(fragments, title)) {
            if (values.every((v, i) => valueIsLiteral(f, v, placeholders[i]!))) return true;
        }
    }
    return false;
}

// --- the tests ---------------------------------------------------------------------------------

describe("policy and governance documents", () => {
    it("the generated regions are up to date (npx tsx scripts/policy-docs.ts)", () => {
        for (const d of generatedDocs()) {
            expect(d.current, `${d.file} is stale: run \`npx tsx scripts/policy-docs.ts\``).toBe(d.expected);
        }
        // No region outside the files the generator knows.
        for (const file of [...mdIn("docs"), ...mdIn("policy")]) {
            if (file in GENERATED_DOCS) continue;
            expect(read(file), `${file} has generated markers the generator does not rewrite`).not.toMatch(/<!-- \/?generated:/);
        }
    });

    it("every cited path and relative link exists", () => {
        const missing: string[] = [];
        let cited = 0;
        for (const doc of CITING) {
            const text = prose(read(doc));
            for (const m of text.matchAll(/`([^`\n]+)`/g)) {
                if (!isRepoPath(m[1]!)) continue;
                cited += 1;
                if (!existsSync(path.join(ROOT, m[1]!))) missing.push(`${doc}: \`${m[1]}\``);
            }
            for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
                const target = m[1]!.split("#")[0]!;
                if (target === "" || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
                cited += 1;
                if (!existsSync(path.join(ROOT, path.dirname(doc), target))) missing.push(`${doc}: link ${m[1]}`);
            }
        }
        expect(missing).toEqual([]);
        expect(cited).toBeGreaterThan(100);
    });

    it("every cited test title exists in its test file", () => {
        const citations = CITING.flatMap((doc) => testCitations(doc, read(doc)));
        const wrong = citations.filter((c) => !existsSync(path.join(ROOT, c.file)) || !titleExists(c.file, c.title))
            .map((c) => `${c.doc}: ${c.file} has no test "${c.title}"`);
        expect(wrong).toEqual([]);
        expect(citations.length).toBeGreaterThan(100);
    });

    it("every cited policy is in the pack's metadata", () => {
        const names = new Set(POLICIES.map((p) => p.name));
        const wrong: string[] = [];
        let cited = 0;
        const check = (doc: string, name: string) => {
            cited += 1;
            if (!names.has(name)) wrong.push(`${doc}: \`${name}\` is not a policy of the pack`);
        };
        for (const doc of CITING) {
            const text = prose(read(doc));
            // Table columns headed "policy".
            for (const block of text.split(/\n\s*\n/)) {
                const rows = block.split("\n").filter((l) => l.trimStart().startsWith("|"));
                if (rows.length < 2) continue;
                const columns = cellsOf(rows[0]!).flatMap((h, i) => (/\bpolic(y|ies)\b/i.test(h) ? [i] : []));
                for (const row of rows.slice(2)) {
                    const cells = cellsOf(row);
                    for (const i of columns) for (const m of (cells[i] ?? "").matchAll(/`([^`]+)`/g)) check(doc, m[1]!);
                }
            }
            // Prose: the `name` policy / policies `name`.
            const flat = segments(text).join("\n");
            for (const m of flat.matchAll(/`([a-z0-9-]+)`\s+polic(?:y|ies)\b|\bpolic(?:y|ies)\s+`([a-z0-9-]+)`/g)) check(doc, (m[1] ?? m[2])!);
        }
        expect(wrong).toEqual([]);
        expect(cited).toBeGreaterThan(POLICIES.length);
    });

    it("docs/invariants.md has exactly nine invariants, numbered 1 to 9", () => {
        const lines = read("docs/invariants.md").split("\n");
        const head = lines.findIndex((l) => /^\|\s*#\s*\|/.test(l));
        expect(head, "a table whose first column is #").toBeGreaterThanOrEqual(0);
        const rows = [];
        for (let i = head + 2; i < lines.length && lines[i]!.trimStart().startsWith("|"); i++) rows.push(cellsOf(lines[i]!)[0]);
        expect(rows).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    });

    it("every dataHandlingDoc of the control stack exists", () => {
        const doc = parse(read("Pulumi.control.yaml")) as { config: Record<string, unknown> };
        const services = (doc.config["demesne:services"] ?? []) as { name: string; personalData?: boolean; dataHandlingDoc?: string }[];
        const docs = services.filter((s) => s.personalData).map((s) => [s.name, s.dataHandlingDoc]);
        expect(docs.length).toBeGreaterThan(0);
        for (const [name, file] of docs) expect(existsSync(path.join(ROOT, file ?? "")), `${name}: ${file}`).toBe(true);
    });
});
