// The runbooks are executable documentation. Every command line in a ```sh block of runbooks/*.md must run a
// program that exists: a real `demesne` subcommand with flags from its usage (and `<sub> --help` exits 0), an
// npm script of package.json, a known Pulumi subcommand (checked with `--help` when a pulumi is on PATH), or a
// program of the allowlist below, found on PATH. Every test a runbook cites must exist with the titles it
// quotes. Each failure names the runbook file and line.
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { isT3Class, STEP_CLASS_NAMES, STEP_CLASSES } from "../components/model/tiers";

const ROOT = path.join(__dirname, "..");
const DIR = path.join(ROOT, "runbooks");
const SCRIPTS = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;

/** How a program named in a runbook is checked. `path`: `command -v` must find it (builtins count). */
type Check = "demesne" | "node" | "npm" | "npx" | "pulumi" | "ssh" | "path";
const PROGRAMS: Record<string, Check> = {
  demesne: "demesne", node: "node", npm: "npm", npx: "npx", pulumi: "pulumi", ssh: "ssh",
  "ssh-keyscan": "path", "ssh-keygen": "path", pg_dump: "path", pg_restore: "path", psql: "path", git: "path",
  curl: "path", jq: "path", openssl: "path", tar: "path", date: "path", cut: "path", head: "path", ls: "path",
  grep: "path", cat: "path", mv: "path", rm: "path", test: "path", printf: "path", export: "path",
  unset: "path", read: "path", alias: "path",
};
/** Programs run on a managed host inside `ssh … '<command>'`: they are on the host, not here, so checked by name. */
const REMOTE = new Set(["sudo", "true", "tailscale", "docker", "ss", "visudo", "rm", "userdel", "apt-get", "systemctl", "ufw", "cat", "ls"]);
const PULUMI: Record<string, string[]> = {
  preview: [], up: [], refresh: [], destroy: [], login: [], cancel: [],
  config: ["set", "get", "rm", "refresh", "cp", "env", "set-all", "rm-all"],
  stack: ["export", "import", "init", "ls", "output", "rm", "select", "history", "tag", "rename", "graph", "unselect", "change-secrets-provider"],
  policy: ["enable", "disable", "ls", "new", "publish", "rm", "validate-config", "group"],
  plugin: ["install", "ls", "rm"],
};
const NPM = ["run", "run-script", "test", "ci", "install"];
const SECTIONS = ["Purpose", "When to use it", "Tiers and approvals", "Preconditions", "Steps", "Verify", "Roll back", "What gets recorded"];
const REPO_PATH = /^(\.\/)?(test|components|state-model|cli|scripts|policy|policy-pack|bin|docs|adr|runbooks)\/[^$*<>…]*$/;

interface Line { where: string; text: string }
interface Word { text: string; raw: string; literal: boolean }
interface Simple { words: Word[] }

/** The logical lines of a Markdown file's ```sh blocks: `\` continuations joined, heredoc bodies skipped. */
function shLines(file: string, md: string): { lines: Line[]; problems: string[] } {
  const lines: Line[] = [];
  const problems: string[] = [];
  const src = md.split("\n");
  let fence: string | undefined;
  let heredoc: RegExp | undefined;
  for (let i = 0; i < src.length; i++) {
    const l = src[i]!;
    const open = /^\s*```(\S*)\s*$/.exec(l);
    if (fence === undefined) {
      if (!open) continue;
      fence = open[1]!;
      if (["bash", "shell", "console", "zsh"].includes(fence)) problems.push(`${file}:${i + 1}: a \`\`\`${fence} block: use \`\`\`sh so its commands are checked`);
      continue;
    }
    if (/^\s*```\s*$/.test(l)) { fence = undefined; continue; }
    if (fence !== "sh") continue;
    if (heredoc) { if (heredoc.test(l)) heredoc = undefined; continue; }
    let text = l;
    const start = i;
    while (text.endsWith("\\") && i + 1 < src.length) text = `${text.slice(0, -1)} ${src[++i]!.trim()}`;
    lines.push({ where: `${file}:${start + 1}`, text });
    const h = /(?<!<)<<-?\s*(['"]?)([A-Za-z_]\w*)\1/.exec(text);
    if (h) heredoc = new RegExp(`^\\s*${h[2]}\\s*$`);
  }
  if (fence !== undefined) problems.push(`${file}: a code block is never closed`);
  return { lines, problems };
}

type Tok = { op: string } | Word;

/** Splits one shell line into words and operators, as sh would (quotes, escapes, $(…), comments, redirections). */
function tokenize(s: string): { toks: Tok[]; subs: string[] } {
  const toks: Tok[] = [];
  const subs: string[] = [];
  let w = "", inWord = false, literal = true, from = 0;
  const end = (at: number) => {
    if (inWord) toks.push({ text: w, raw: s.slice(from, at), literal });
    w = ""; inWord = false; literal = true;
  };
  const begin = (at: number) => { if (!inWord) { inWord = true; from = at; } };
  /** From just after `$(`, the index after its matching `)`. */
  const sub = (j: number): number => {
    const start = j;
    let depth = 1, q = "";
    for (; j < s.length; j++) {
      const c = s[j]!;
      if (q) { if (c === "\\" && q === '"') j++; else if (c === q) q = ""; continue; }
      if (c === "'" || c === '"') q = c;
      else if (c === "\\") j++;
      else if (c === "(") depth++;
      else if (c === ")" && --depth === 0) { subs.push(s.slice(start, j)); return j + 1; }
    }
    throw new Error("an unclosed $(");
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    const rest = s.slice(i);
    if (c === " " || c === "\t") { end(i); i++; continue; }
    if (c === "#" && !inWord) break;
    if (c === "\\") { begin(i); w += s[i + 1] ?? ""; i += 2; continue; }
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) throw new Error("an unclosed '");
      begin(i); w += s.slice(i + 1, j); literal = false; i = j + 1; continue;
    }
    if (c === '"') {
      begin(i); literal = false; i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\") { w += s[i + 1] ?? ""; i += 2; } else if (s.startsWith("$(", i)) { const j = sub(i + 2); w += s.slice(i, j); i = j; } else w += s[i++];
      }
      if (i >= s.length) throw new Error('an unclosed "');
      i++; continue;
    }
    if (rest.startsWith("$(")) { begin(i); const j = sub(i + 2); w += s.slice(i, j); literal = false; i = j; continue; }
    if (c === "`") throw new Error("a `…` substitution: use $(…)");
    if (c === "$") { begin(i); w += c; literal = false; i++; continue; }
    if (/^<[A-Za-z][\w.,|…-]*>/.test(rest)) throw new Error(`${/^<[^>]*>/.exec(rest)![0]} looks like a placeholder: set a shell variable instead`);
    const redir = /^(&>>|&>|>>|>&|<&|<<<|<<-|<<|<>|>\||>|<)/.exec(rest);
    if (redir) {
      if (inWord && literal && /^\d+$/.test(w)) { w = ""; inWord = false; } else end(i);
      toks.push({ op: `redirect ${redir[1]}` }); i += redir[1]!.length; continue;
    }
    const op = /^(\|\||&&|;;|\|&|\||&|;|\(|\))/.exec(rest);
    if (op) { end(i); toks.push({ op: op[1]! }); i += op[1]!.length; continue; }
    begin(i); w += c; i++;
  }
  end(s.length);
  return { toks, subs };
}

/** The simple commands of a line (pipes, lists and $(…) each give their own), redirections and assignments dropped. */
function simpleCommands(line: string): Simple[] {
  const { toks, subs } = tokenize(line);
  const out: Simple[] = [];
  let cur: Word[] = [];
  let skip = false;
  const flush = () => {
    while (cur.length && /^[A-Za-z_]\w*=/.test(cur[0]!.raw)) cur.shift();
    if (cur.length) out.push({ words: cur });
    cur = [];
  };
  for (const t of toks) {
    if ("op" in t) {
      if (t.op.startsWith("redirect ")) { if (skip) throw new Error(`${t.op.slice(9)} has no target`); skip = true; } else flush();
      continue;
    }
    if (skip) { skip = false; continue; }
    cur.push(t);
  }
  if (skip) throw new Error("a redirection has no target");
  flush();
  for (const s of subs) out.push(...simpleCommands(s));
  return out;
}

interface Usage { name: string; second?: string; flags: Set<string> }

/** The commands of `demesne --help`: name, literal second word (`audit verify`) and flags of each usage line. */
function parseUsage(help: string): Usage[] {
  const body = help.split("\n\n")[1] ?? "";
  return body.split("\n").filter((l) => l.trim()).map((l) => {
    const [name, second] = l.trim().split(/\s+/);
    return { name: name!, second: /^[a-z]+$/.test(second ?? "") ? second : undefined, flags: new Set(l.match(/--[a-z][a-z-]*/g) ?? []) };
  });
}

interface Ctx {
  usage: Usage[];
  /** demesne subcommands seen, for the `--help` run, with where each was cited. */
  demesneSubs: Map<string, string[]>;
  /** `pulumi <sub>` seen: where, and where each option was used. */
  pulumiSubs: Map<string, { where: string[]; flags: Map<string, string[]> }>;
  onPath: Map<string, string[]>;
}

function checkDemesne(args: string[], where: string, ctx: Ctx): string[] {
  const sub = args[0];
  const lines = ctx.usage.filter((u) => u.name === sub);
  if (!sub || !lines.length) return [`'demesne ${sub ?? ""}' is not a demesne command (demesne --help lists ${[...new Set(ctx.usage.map((u) => u.name))].join(", ")})`];
  const withSecond = lines.filter((u) => u.second);
  const line = withSecond.length ? withSecond.find((u) => u.second === args[1]) : lines[0];
  if (!line) return [`'demesne ${sub} ${args[1] ?? ""}': demesne ${sub} takes ${withSecond.map((u) => u.second).join(" or ")}`];
  ctx.demesneSubs.set(sub, [...(ctx.demesneSubs.get(sub) ?? []), where]);
  return args.filter((a) => a.startsWith("--")).map((a) => a.split("=")[0]!)
    .filter((f) => !line.flags.has(f) && f !== "--json" && f !== "--help")
    .map((f) => `'demesne ${sub}' has no option ${f} (its usage: ${[...line.flags].join(" ") || "none"})`);
}

function checkPulumi(args: string[], where: string, ctx: Ctx): string[] {
  let i = 0;
  while (args[i]?.startsWith("-")) i += ["-C", "--cwd", "-s", "--stack", "--color"].includes(args[i]!) ? 2 : 1;
  const sub = args[i];
  if (!sub || !(sub in PULUMI)) return [`'pulumi ${sub ?? ""}' is not one of the Pulumi subcommands this test knows (${Object.keys(PULUMI).join(", ")})`];
  const next = args[i + 1];
  const seconds = PULUMI[sub]!;
  let key = sub;
  if (seconds.length && next !== undefined && !next.startsWith("-")) {
    if (!seconds.includes(next)) return [`'pulumi ${sub} ${next}' is not a known subcommand of pulumi ${sub} (${seconds.join(", ")})`];
    key = `${sub} ${next}`;
  }
  const e = ctx.pulumiSubs.get(key) ?? { where: [], flags: new Map<string, string[]>() };
  for (const a of args.slice(i + 1)) {
    const f = a.split("=")[0]!;
    if (f.startsWith("--")) e.flags.set(f, [...(e.flags.get(f) ?? []), where]);
  }
  e.where.push(where);
  ctx.pulumiSubs.set(key, e);
  return [];
}

/** `ssh [options] destination [command…]`: the remote command's programs must be in REMOTE. */
function checkSsh(args: string[]): string[] {
  let i = 0;
  while (args[i]?.startsWith("-")) i += /^-[BbcDEeFIiJLlmOoPpQRSWw]$/.test(args[i]!) ? 2 : 1;
  if (args[i] === undefined) return ["ssh without a destination"];
  const remote = args.slice(i + 1);
  if (!remote.length) return [];
  const problems: string[] = [];
  for (const c of simpleCommands(remote.join(" "))) {
    const words = c.words.map((w) => w.text);
    let j = 0;
    if (words[0] === "sudo") for (j = 1; words[j]?.startsWith("-"); ) j += /^-[ugUCDhprtT]$/.test(words[j]!) ? 2 : 1;
    const prog = words[j];
    if (!prog || !REMOTE.has(prog)) problems.push(`runs '${prog ?? ""}' on the host: not in the REMOTE allowlist of test/runbooks.test.ts`);
  }
  return problems;
}

/** Problems with one simple command (without its location; the caller adds it). */
function checkCommand(c: Simple, where: string, ctx: Ctx): string[] {
  const [prog, ...rest] = c.words;
  if (!prog) return [];
  if (!prog.literal) return [`the program '${prog.raw}' must be written out, not come from a variable or quotes`];
  const args = rest.map((w) => w.text);
  const paths = rest.filter((w) => REPO_PATH.test(w.text) && !fs.existsSync(path.join(ROOT, w.text))).map((w) => `names ${w.text}, which does not exist in the repository`);
  const check = PROGRAMS[prog.text];
  switch (check) {
    case undefined: return [`'${prog.text}' is not in the allowlist of test/runbooks.test.ts`];
    case "demesne": return [...paths, ...checkDemesne(args, where, ctx)];
    case "node":
      if (args[0] !== "bin/demesne.js" && args[0] !== "./bin/demesne.js") return [`node runs only bin/demesne.js in a runbook (got '${args[0] ?? ""}')`];
      return [...paths, ...checkDemesne(args.slice(1), where, ctx)];
    case "npx": {
      const k = args.findIndex((a) => !a.startsWith("-"));
      const bin = args[k];
      if (bin === "demesne") return [...paths, ...checkDemesne(args.slice(k + 1), where, ctx)];
      return bin && fs.existsSync(path.join(ROOT, "node_modules", ".bin", bin)) ? paths : [`'npx ${bin ?? ""}' is neither demesne nor a binary in node_modules/.bin`];
    }
    case "npm": {
      const sub = args.find((a) => !a.startsWith("-"));
      if (!sub || !NPM.includes(sub)) return [`'npm ${sub ?? ""}': a runbook may use npm ${NPM.join(", ")}`];
      if (sub === "test") return SCRIPTS.test ? paths : ["package.json has no test script"];
      if (sub !== "run" && sub !== "run-script") return paths;
      const script = args.slice(args.indexOf(sub) + 1).find((a) => !a.startsWith("-"));
      return script && script in SCRIPTS ? paths : [`'npm run ${script ?? ""}' is not a script of package.json (${Object.keys(SCRIPTS).join(", ")})`];
    }
    case "pulumi": return [...paths, ...checkPulumi(args, where, ctx)];
    case "ssh": ctx.onPath.set("ssh", [...(ctx.onPath.get("ssh") ?? []), where]); return [...paths, ...checkSsh(args)];
    case "path": ctx.onPath.set(prog.text, [...(ctx.onPath.get(prog.text) ?? []), where]); return paths;
  }
}

/** Every problem of the sh blocks of one Markdown text (synchronous part: the caller runs the --help checks). */
function checkMarkdown(file: string, md: string, ctx: Ctx): string[] {
  const { lines, problems } = shLines(file, md);
  for (const l of lines) {
    try {
      for (const c of simpleCommands(l.text)) problems.push(...checkCommand(c, l.where, ctx).map((p) => `${l.where}: ${l.text.trim()}\n    → ${p}`));
    } catch (e) {
      problems.push(`${l.where}: ${l.text.trim()}\n    → cannot parse: ${(e as Error).message}`);
    }
  }
  return problems;
}

/** Test files a runbook cites, each with the titles quoted after it in the same paragraph, checked against the file. */
function checkTestReferences(file: string, md: string): string[] {
  const problems: string[] = [];
  const lines = md.split("\n");
  for (let i = 0; i < lines.length; ) {
    if (!lines[i]!.trim()) { i++; continue; }
    const first = i++;
    // A paragraph ends at a blank line or where the next list item starts.
    while (i < lines.length && lines[i]!.trim() && !/^\s*([-*]|\d+\.) /.test(lines[i]!)) i++;
    // Code spans are never titles: keep a cited test path, drop the rest (commands quote things too).
    const para = lines.slice(first, i).join("\n").replace(/`([^`\n]*)`/g, (_m, inner: string) => (/^test\/[\w./-]+\.ts$/.test(inner) ? inner : "``"));
    const parts = para.split(/(test\/[\w./-]+\.ts)/);
    let offset = parts[0]!.length;
    for (let k = 1; k < parts.length; k += 2) {
      const ref = parts[k]!;
      const at = `${file}:${first + 1 + (para.slice(0, offset).match(/\n/g)?.length ?? 0)}`;
      offset += ref.length + parts[k + 1]!.length;
      const target = path.join(ROOT, ref);
      if (!fs.existsSync(target)) { problems.push(`${at}: cites ${ref}, which does not exist`); continue; }
      const src = fs.readFileSync(target, "utf8");
      for (const m of parts[k + 1]!.matchAll(/"([^"]+)"/g)) {
        if (!src.includes(m[1]!)) problems.push(`${at}: ${ref} has no test titled "${m[1]}"`);
      }
    }
  }
  return problems;
}

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
