// The runbook checker: reads the ```sh blocks of a runbook and checks each command names a real program,
// subcommand and option (demesne's usage, pulumi's, npm scripts, paths in the repository), and that every
// test a runbook cites has the titles it quotes. Used by test/runbooks.test.ts.
import * as fs from "node:fs";
import * as path from "node:path";

export const ROOT = path.join(__dirname, "..", "..");
export const DIR = path.join(ROOT, "runbooks");
export const SCRIPTS = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;

/** How a program named in a runbook is checked. `path`: `command -v` must find it (builtins count). */
export type Check = "demesne" | "node" | "npm" | "npx" | "pulumi" | "ssh" | "path";
export const PROGRAMS: Record<string, Check> = {
  demesne: "demesne", node: "node", npm: "npm", npx: "npx", pulumi: "pulumi", ssh: "ssh",
  "ssh-keyscan": "path", "ssh-keygen": "path", pg_dump: "path", pg_restore: "path", psql: "path", git: "path",
  curl: "path", jq: "path", openssl: "path", tar: "path", date: "path", cut: "path", head: "path", ls: "path",
  grep: "path", cat: "path", mv: "path", rm: "path", test: "path", printf: "path", export: "path",
  unset: "path", read: "path", alias: "path", sha256sum: "path",
};
/** Programs run on a managed host inside `ssh … '<command>'`: they are on the host, not here, so checked by name. */
export const REMOTE = new Set(["sudo", "true", "tailscale", "docker", "ss", "visudo", "rm", "userdel", "apt-get", "systemctl", "ufw", "cat", "ls", "ausearch", "aureport", "auditctl",
  "/usr/local/lib/demesne/backup-run"]);
export const PULUMI: Record<string, string[]> = {
  preview: [], up: [], refresh: [], destroy: [], login: [], cancel: [],
  config: ["set", "get", "rm", "refresh", "cp", "env", "set-all", "rm-all"],
  stack: ["export", "import", "init", "ls", "output", "rm", "select", "history", "tag", "rename", "graph", "unselect", "change-secrets-provider"],
  policy: ["enable", "disable", "ls", "new", "publish", "rm", "validate-config", "group"],
  plugin: ["install", "ls", "rm"],
};
export const NPM = ["run", "run-script", "test", "ci", "install"];
export const SECTIONS = ["Purpose", "When to use it", "Tiers and approvals", "Preconditions", "Steps", "Verify", "Roll back", "What gets recorded"];
export const REPO_PATH = /^(\.\/)?(test|components|state-model|cli|scripts|policy|policy-pack|bin|docs|adr|runbooks)\/[^$*<>…]*$/;

export interface Line { where: string; text: string }
export interface Word { text: string; raw: string; literal: boolean }
export interface Simple { words: Word[] }

/** The logical lines of a Markdown file's ```sh blocks: `\` continuations joined, heredoc bodies skipped. */
export function shLines(file: string, md: string): { lines: Line[]; problems: string[] } {
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

export type Tok = { op: string } | Word;

/** Splits one shell line into words and operators, as sh would (quotes, escapes, $(…), comments, redirections). */
export function tokenize(s: string): { toks: Tok[]; subs: string[] } {
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
export function simpleCommands(line: string): Simple[] {
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

export interface Usage { name: string; second?: string; flags: Set<string> }

/** The commands of `demesne --help`: name, literal second word (`audit verify`) and flags of each usage line. */
export function parseUsage(help: string): Usage[] {
  const body = help.split("\n\n")[1] ?? "";
  return body.split("\n").filter((l) => l.trim()).map((l) => {
    const [name, second] = l.trim().split(/\s+/);
    return { name: name!, second: /^[a-z]+$/.test(second ?? "") ? second : undefined, flags: new Set(l.match(/--[a-z][a-z-]*/g) ?? []) };
  });
}

export interface Ctx {
  usage: Usage[];
  /** demesne subcommands seen, for the `--help` run, with where each was cited. */
  demesneSubs: Map<string, string[]>;
  /** `pulumi <sub>` seen: where, and where each option was used. */
  pulumiSubs: Map<string, { where: string[]; flags: Map<string, string[]> }>;
  onPath: Map<string, string[]>;
}

export function checkDemesne(args: string[], where: string, ctx: Ctx): string[] {
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

export function checkPulumi(args: string[], where: string, ctx: Ctx): string[] {
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
export function checkSsh(args: string[]): string[] {
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
export function checkCommand(c: Simple, where: string, ctx: Ctx): string[] {
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
export function checkMarkdown(file: string, md: string, ctx: Ctx): string[] {
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
export function checkTestReferences(file: string, md: string): string[] {
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
