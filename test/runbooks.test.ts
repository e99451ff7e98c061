// The runbooks are executable documentation. Every command line in a ```sh block of runbooks/*.md must run a
// program that exists: a real `demesne` subcommand with flags from its usage (and `<sub> --help` exits 0), an
// npm script of package.json, a known Pulumi subcommand (checked with `--help` when a pulumi is on PATH), or a
// program of the allowlist in test/helpers/runbook-check.ts, found on PATH. Every test a runbook cites must exist with the titles it
// quotes. Each failure names the runbook file and line.
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { isT3Class, STEP_CLASS_NAMES, STEP_CLASSES } from "../components/model/tiers";
import { type Ctx, DIR, ROOT, SECTIONS, type Usage, checkMarkdown, checkTestReferences, parseUsage, shLines, simpleCommands } from "./helpers/runbook-check";

const run = promisify(execFile);
const runbooks = fs.readdirSync(DIR).filter((f) => f.endsWith(".md")).sort();
const read = (f: string) => fs.readFileSync(path.join(DIR, f), "utf8");
const rel = (f: string) => `runbooks/${f}`;
let usage: Usage[] = [];

/** The asynchronous checks: `demesne <sub> --help`, `command -v`, and `pulumi <sub> --help` when pulumi is on PATH. */
async function finish(ctx: Ctx): Promise<string[]> {
  const problems: string[] = [];
  // One process per distinct subcommand, as many at a time as there are CPUs (each is CPU-bound start-up).
  const queue = [...ctx.demesneSubs];
  await Promise.all(Array.from({ length: Math.max(1, os.availableParallelism()) }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [sub, where] = next;
      const r = await run(process.execPath, [path.join(ROOT, "bin", "demesne.js"), sub, "--help"], { cwd: ROOT }).catch((e: { code?: number }) => e);
      if ("code" in r && r.code) problems.push(`${where.join(", ")}: node bin/demesne.js ${sub} --help exits ${r.code}`);
    }
  }));
  const progs = [...ctx.onPath.keys()];
  const missing = spawnSync("sh", ["-c", 'for p in "$@"; do command -v "$p" > /dev/null 2>&1 || echo "$p"; done', "sh", ...progs], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
  for (const p of missing) problems.push(`${ctx.onPath.get(p)!.join(", ")}: '${p}' is not on PATH (command -v finds nothing)`);
  if (spawnSync("sh", ["-c", "command -v pulumi"]).status === 0) {
    await Promise.all([...ctx.pulumiSubs].map(async ([sub, e]) => {
      const r = await run("pulumi", [...sub.split(" "), "--help"], { env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } }).catch((x: { code?: number }) => x);
      if ("code" in r && r.code) return problems.push(`${e.where.join(", ")}: pulumi ${sub} --help exits ${r.code}`);
      const help = (r as { stdout: string }).stdout;
      for (const [f, where] of e.flags) if (!new RegExp(`${f}(?![\\w-])`).test(help)) problems.push(`${where.join(", ")}: pulumi ${sub} has no option ${f}`);
    }));
  }
  return problems;
}

const newCtx = (): Ctx => ({ usage, demesneSubs: new Map(), pulumiSubs: new Map(), onPath: new Map() });

beforeAll(() => {
  // The text `demesne --help` prints, read from its source (one process fewer: each costs a second of start-up).
  const help = /const USAGE = `([^`]*)`;/.exec(fs.readFileSync(path.join(ROOT, "cli", "main.ts"), "utf8"))?.[1] ?? "";
  usage = parseUsage(help);
  expect(usage.map((u) => u.name)).toContain("drift");
});

describe("the runbook checker", () => {
  it("joins continuations, drops comments, assignments and redirections, and checks every segment", () => {
    const md = [
      "```sh",
      "# a comment",
      'DATABASE_URL="$X" npx demesne audit verify \\',
      "  --anchor a.json   # trailing",
      "pulumi config get --path 'demesne:secrets.x' | jq -r . && node bin/demesne.js fleet > out.txt 2>&1",
      'KEY="$(pulumi config get --path \'a\')"',
      "ssh -o StrictHostKeyChecking=yes \"ubuntu@$ADDR\" sudo -n tailscale status",
      "```",
    ].join("\n");
    const { lines } = shLines("x.md", md);
    expect(lines.map((l) => l.where)).toEqual(["x.md:2", "x.md:3", "x.md:5", "x.md:6", "x.md:7"]);
    expect(lines.flatMap((l) => simpleCommands(l.text)).map((c) => c.words.map((w) => w.text).join(" "))).toEqual([
      "npx demesne audit verify --anchor a.json",
      "pulumi config get --path demesne:secrets.x", "jq -r .", "node bin/demesne.js fleet",
      "pulumi config get --path a",
      "ssh -o StrictHostKeyChecking=yes ubuntu@$ADDR sudo -n tailscale status",
    ]);
    expect(checkMarkdown("x.md", md, newCtx())).toEqual([]);
  });

  it("reports each broken command with its runbook file and line", async () => {
    const md = [
      "Intro.", "", "```sh",
      "demesne frobnicate --stack control",
      "demesne drift --stacks control",
      "npm run no-such-script",
      "pulumi upp",
      "frobtool --all",
      "ssh-keyscan <address>",
      "ssh \"ubuntu@$ADDR\" sudo reboot",
      "```", "", "```bash", "ls", "```", "",
      'See `test/model.test.ts` "an unchanged step is T0 whatever its class" and "no such title", and `test/nope.test.ts`.',
    ].join("\n");
    const ctx = newCtx();
    const problems = [...checkMarkdown("runbooks/x.md", md, ctx), ...checkTestReferences("runbooks/x.md", md)];
    ctx.demesneSubs.clear(); // `drift --help` works; spare the process
    ctx.onPath.set("no-such-program-here", ["runbooks/x.md:18"]);
    problems.push(...await finish(ctx));
    expect(problems.map((p) => p.replace(/\n[\s\S]*→ /, " → ").replace(/ \(.*$/, ""))).toEqual([
      "runbooks/x.md:13: a ```bash block: use ```sh so its commands are checked",
      "runbooks/x.md:4: demesne frobnicate --stack control → 'demesne frobnicate' is not a demesne command",
      "runbooks/x.md:5: demesne drift --stacks control → 'demesne drift' has no option --stacks",
      "runbooks/x.md:6: npm run no-such-script → 'npm run no-such-script' is not a script of package.json",
      "runbooks/x.md:7: pulumi upp → 'pulumi upp' is not one of the Pulumi subcommands this test knows",
      "runbooks/x.md:8: frobtool --all → 'frobtool' is not in the allowlist of test/runbooks.test.ts",
      "runbooks/x.md:9: ssh-keyscan <address> → cannot parse: <address> looks like a placeholder: set a shell variable instead",
      "runbooks/x.md:10: ssh \"ubuntu@$ADDR\" sudo reboot → runs 'reboot' on the host: not in the REMOTE allowlist of test/runbooks.test.ts",
      'runbooks/x.md:17: test/model.test.ts has no test titled "no such title"',
      "runbooks/x.md:17: cites test/nope.test.ts, which does not exist",
      "runbooks/x.md:18: 'no-such-program-here' is not on PATH",
    ]);
  });
});

describe("runbooks", () => {
  it("every runbook has the sections an operator looks for", () => {
    const problems = runbooks.filter((f) => f !== "README.md").flatMap((f) => {
      const heads = new Set([...read(f).matchAll(/^## (.+)$/gm)].map((m) => m[1]!.trim()));
      return SECTIONS.filter((s) => !heads.has(s)).map((s) => `${rel(f)}: no "## ${s}" section`);
    });
    expect(problems).toEqual([]);
  });

  it("runbooks/README.md indexes every runbook, and every relative link resolves", () => {
    const index = read("README.md");
    const problems = runbooks.filter((f) => f !== "README.md" && !index.includes(`](${f})`)).map((f) => `runbooks/README.md does not link ${f}`);
    for (const f of runbooks) {
      read(f).split("\n").forEach((l, i) => {
        for (const m of l.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
          if (!/^[a-z]+:/.test(m[1]!) && !fs.existsSync(path.resolve(DIR, m[1]!))) problems.push(`${rel(f)}:${i + 1}: link to ${m[1]} does not resolve`);
        }
      });
    }
    expect(problems).toEqual([]);
  });

  it("the tier table in runbooks/README.md is the one in components/model/tiers.ts", () => {
    const rows = [...read("README.md").matchAll(/^\| `([a-z-]+)` \| (T\d) \| (T\d) \| (T\d) \| (T\d) \| (yes|no) \|/gm)];
    const table = Object.fromEntries(rows.map((m) => [m[1], { create: m[2], update: m[3], replace: m[4], delete: m[5], t3Class: m[6] === "yes" }]));
    const model = Object.fromEntries(STEP_CLASS_NAMES.map((n) => {
      const c = STEP_CLASSES[n];
      return [n, { create: c.create, update: c.update, replace: c.replace, delete: c.delete, t3Class: isT3Class(n) }];
    }));
    expect(table).toEqual(model);
  });

  it("every command in a ```sh block runs a real program, subcommand and option", async () => {
    const ctx = newCtx();
    const problems = runbooks.flatMap((f) => checkMarkdown(rel(f), read(f), ctx));
    problems.push(...await finish(ctx));
    expect(ctx.demesneSubs.size).toBeGreaterThan(5);
    expect(problems).toEqual([]);
    // One process per subcommand: on a loaded two-core machine their start-up alone can take a minute.
  }, 120_000);

  it("every test a runbook cites exists and has the titles it quotes", () => {
    const problems = runbooks.flatMap((f) => checkTestReferences(rel(f), read(f)));
    const cited = runbooks.flatMap((f) => read(f).match(/test\/[\w./-]+\.ts/g) ?? []);
    expect(new Set(cited).size).toBeGreaterThan(5);
    expect(problems).toEqual([]);
  });
});
