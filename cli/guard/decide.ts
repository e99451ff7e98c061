import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { globPrefixes, globRegex, protectedAt, protectedBelow, resolveWord, samplePaths, type PathContext, type ProtectedPath } from "./paths";
import { flags, positionals, PATH_RULES, RULES, type Category, type Decision } from "./rules";
import { OPAQUE, ParseError, parseShell, type Word } from "./shell";
import { INTERPRETERS, invocations, SHELLS, type Invocation } from "./unwrap";

/**
 * The decision, a pure function of the tool call and the work tree's root: no store, no clock, so it is
 * fast (test/bench/guard.ts) and every case of test/guard/table.ts is checked in-process.
 */
export interface Verdict {
  decision: Decision;
  rule?: string;
  category?: Category;
  /** For the agent: what was refused and what to do instead. */
  reason: string;
}

export interface DecideContext extends PathContext {
  cwd: string;
  /** package.json scripts, for `npm run X`. */
  scripts: Record<string, string>;
}

const READERS = new Set([
  "cat", "less", "more", "head", "tail", "grep", "egrep", "fgrep", "rg", "ag", "ls", "tree", "wc", "diff", "cmp", "file", "stat",
  "du", "sha256sum", "sha1sum", "md5sum", "b2sum", "jq", "yq", "sort", "uniq", "cut", "nl", "od", "hexdump", "xxd", "strings",
  "column", "realpath", "readlink", "dirname", "basename", "test", "[", "[[", "echo", "printf", "awk", "bat", "vitest", "tsc",
  "node", "tsx", "bash", "sh", "demesne", "shellcheck", "cd", "pushd",
]);
const GIT_READERS = new Set(["diff", "log", "show", "blame", "status", "ls-files", "grep", "rev-parse", "cat-file", "shortlog", "describe"]);
const REMOVERS = new Set(["rm", "rmdir", "mv", "shred", "unlink", "trash", "srm"]);
/** They read whole directories: one over the work tree takes the store and the keys along. */
const COLLECTORS = new Set(["tar", "zip", "7z", "cpio", "rsync", "scp", "rclone", "restic", "borg"]);
const WRITE_OPS = new Set([">", ">>", ">|", "<>", "&>", "&>>"]);

const MAX_SCRIPT = 256 * 1024;

/** A script a shell would run: read so its commands are judged too (a file too big to read is unseen). */
function readScript(file: string, ctx: DecideContext): { text: string; inTree: boolean } | undefined {
  const abs = resolveWord(file, ctx.cwd, ctx.home);
  const rel = path.relative(ctx.root, abs);
  const inTree = !rel.startsWith("..") && !path.isAbsolute(rel);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    return undefined; // no such file: the shell fails too
  }
  if (!st.isFile()) return undefined;
  if (st.size > MAX_SCRIPT) return { text: `${OPAQUE} # too big to read`, inTree: false };
  return { text: fs.readFileSync(abs, "utf8"), inTree };
}

const ok = (): Verdict => ({ decision: "allow", reason: "allowed" });

function isReader(inv: Invocation): boolean {
  const fl = flags(inv.args);
  if (inv.name === "sed") return !fl.some((f) => f.startsWith("-i") || f === "--in-place");
  if (inv.name === "find") return !fl.some((f) => ["-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint"].includes(f));
  if (inv.name === "git") return GIT_READERS.has(positionals(inv.args, /^(-c|-C|--git-dir|--work-tree)$/)[0] ?? "");
  if (inv.name === "pulumi") return ["preview", "about", "whoami", "version", "stack", "config", "plugin"].includes(positionals(inv.args)[0] ?? "") && !positionals(inv.args).some((p) => ["rm", "set", "import"].includes(p));
  if (inv.name === "prettier") return fl.includes("--check") || fl.includes("-c");
  if (inv.name === "eslint") return !fl.includes("--fix");
  return READERS.has(inv.name);
}

/** Where a word may name a path: itself, after `=` (`--file=x`), after `@` (`-d @x`). */
function candidates(w: Word): string[] {
  if (w.opaque || w.text === "") return [];
  const out = [w.text];
  const eq = w.text.indexOf("=");
  if (eq > 0) out.push(w.text.slice(eq + 1));
  const at = w.text.indexOf("@");
  if (at >= 0 && !w.text.includes("://")) out.push(w.text.slice(at + 1));
  return out.filter((t) => t !== "" && t !== "-");
}

function hits(text: string, glob: boolean, cwd: string, ctx: DecideContext, below: boolean): ProtectedPath[] {
  const abs = resolveWord(text, cwd, ctx.home);
  if (glob) {
    const full = globRegex(abs);
    // A prefix (`.dem*` of `.dem*/plans/x`) counts where it matches a protected directory.
    const prefixes = globPrefixes(abs).slice(0, -1).map(globRegex);
    const isDir = (p: ProtectedPath) => (p.match.under ?? p.match.home ?? "").endsWith("/");
    return samplePaths(ctx).flatMap((p) => {
      const at = full.test(p) || prefixes.some((re) => re.test(p)) ? protectedAt(p, ctx) : undefined;
      if (at && (full.test(p) || isDir(at))) return [at];
      return below && full.test(p) ? protectedBelow(p, ctx) : [];
    });
  }
  const at = protectedAt(abs, ctx);
  if (at) return [at];
  return below ? protectedBelow(abs, ctx) : [];
}

function pathVerdict(p: ProtectedPath, inv: Invocation, how: string): Verdict {
  const r = p.kind === "secret" ? PATH_RULES.secretRead : PATH_RULES.tamperWrite;
  return { decision: r.decision, rule: p.id, category: r.category, reason: `${how} ${p.what} (${inv.name || "a redirection"}). Instead: ${r.instead}.` };
}

function checkPaths(inv: Invocation, cwd: string, ctx: DecideContext): Verdict | undefined {
  // A script's program from its own inputs (`"$tools/actionlint" .github/…`) is taken as a reader: secrets still count.
  const collector = COLLECTORS.has(inv.name);
  const reader = isReader(inv) || collector || (inv.inScript === true && inv.name === OPAQUE);
  const remover = collector || REMOVERS.has(inv.name) || (inv.name === "find" && flags(inv.args).includes("-delete")) || flags(inv.args).some((f) => f === "-r" || f === "-R" || f === "--recursive") && !reader;
  if (!inv.wrapper) {
    for (const w of inv.args) {
      // `$XDG_CONFIG_HOME/demesne/mcp-token`, `$X/.env`: an unknown prefix, but the literal tail still names a secret.
      const tail = w.opaque ? w.text.slice(w.text.lastIndexOf(OPAQUE) + 1) : "";
      const base = w.vars.includes("XDG_CONFIG_HOME") ? path.join(ctx.home ?? os.homedir(), ".config") : "";
      const named = tail.startsWith("/") && tail.length > 1 ? protectedAt(base + tail, ctx) : undefined;
      if (named?.kind === "secret") return pathVerdict(named, inv, "reads or exposes");
      // `/proc/$$/environ`, `$X/.env`: any value in the unknown part still lands on a secret.
      const filled = w.opaque ? protectedAt(resolveWord(w.text.split(OPAQUE).join("_"), cwd, ctx.home), ctx) : undefined;
      if (filled?.kind === "secret") return pathVerdict(filled, inv, "reads or exposes");
      for (const t of candidates(w)) {
        for (const p of hits(t, w.glob, cwd, ctx, remover)) {
          if (collector && p.kind === "secret") return pathVerdict(p, inv, "copies or archives");
          if (collector) continue;
          if (remover) return pathVerdict(p, inv, "deletes or moves");
          if (p.kind === "secret") return pathVerdict(p, inv, "reads or exposes");
          if (!reader) return pathVerdict(p, inv, "changes");
        }
      }
    }
  }
  for (const r of inv.redirects) {
    if (r.data !== undefined && r.op.startsWith("<<")) continue;
    for (const t of candidates(r.target)) {
      for (const p of hits(t, r.target.glob, cwd, ctx, false)) {
        if (p.kind === "secret") return pathVerdict(p, inv, "reads or overwrites");
        if (WRITE_OPS.has(r.op)) return pathVerdict(p, inv, "overwrites");
      }
    }
  }
  return undefined;
}

/** `rm -r` (or `find -delete`) of anything outside the work tree, or of the tree itself. */
function checkRemoval(inv: Invocation, cwd: string | undefined, ctx: DecideContext): Verdict | undefined {
  const fl = flags(inv.args);
  const recursive = inv.name === "rm" && fl.some((f) => /^-[a-z]*r/i.test(f) && !f.startsWith("--") || f === "--recursive");
  const findDelete = inv.name === "find" && fl.includes("-delete");
  if (!recursive && !findDelete) return undefined;
  const targets = findDelete ? positionals(inv.args).slice(0, Math.max(1, inv.args.findIndex((w) => w.text.startsWith("-")))) : inv.args.filter((w) => !w.text.startsWith("-")).map((w) => w.text);
  const list = findDelete && targets.length === 0 ? ["."] : targets;
  for (const t of list) {
    const relative = !t.startsWith("/") && !t.startsWith("~");
    const outside = (() => {
      if (t.includes(OPAQUE) || (relative && cwd === undefined)) return true;
      const rel = path.relative(ctx.root, resolveWord(t, cwd ?? ctx.root, ctx.home));
      return rel === "" || rel.startsWith("..") || path.isAbsolute(rel);
    })();
    if (outside) {
      const r = PATH_RULES.rmOutside;
      return { decision: r.decision, rule: r.id, category: r.category, reason: `deletes '${t.replace(OPAQUE, "$…")}' recursively, outside the work tree (or the tree itself). Instead: ${r.instead}.` };
    }
  }
  return undefined;
}

/** Files this command line writes (`> f`, `curl -o f`, `wget -O f`): running one of them later is running the unseen. */
function writtenBy(inv: Invocation, cwd: string, ctx: DecideContext): string[] {
  const out = inv.redirects.filter((r) => WRITE_OPS.has(r.op) && !r.target.opaque).map((r) => resolveWord(r.target.text, cwd, ctx.home));
  if (inv.name === "curl" || inv.name === "wget") {
    inv.args.forEach((w, k) => {
      const next = inv.args[k + 1];
      if (/^(-o|--output|-O|--output-document)$/.test(w.text) && next && !next.opaque) out.push(resolveWord(next.text, cwd, ctx.home));
      else if (/^--output(-document)?=/.test(w.text)) out.push(resolveWord(w.text.slice(w.text.indexOf("=") + 1), cwd, ctx.home));
    });
  }
  return out;
}

function runsWritten(inv: Invocation, written: string[], cwd: string, ctx: DecideContext): Verdict | undefined {
  const script = SHELLS.has(inv.name) || INTERPRETERS.test(inv.name) || inv.name === "source" || inv.name === "." ? inv.args.find((w) => !w.text.startsWith("-")) : undefined;
  const hit = written.some((f) => path.basename(f).toLowerCase() === inv.name || (script && !script.opaque && resolveWord(script.text, cwd, ctx.home) === f));
  if (!hit) return undefined;
  return { decision: "deny", rule: "unseen:downloaded-script", category: "unseen", reason: "refused: this runs a file written earlier in the same command (curl … -o x && sh x). Instead: fetch it, let a person read it, then run it in a separate step." };
}

/**
 * The net under the wrapper list: a program the guard does not know as a reader (`chroot / pulumi destroy`,
 * `runuser -u x -- pulumi up`, `systemd-run …`) is assumed to run whatever pulumi or demesne command its
 * arguments hold.
 */
function nested(inv: Invocation): Invocation[] {
  if (inv.wrapper || isReader(inv) || inv.name === "pulumi" || inv.name === "demesne" || inv.name === "git") return [];
  const k = inv.args.findIndex((w) => !w.opaque && !w.glob && /^(pulumi|demesne)$/i.test(path.posix.basename(w.text).replace(/\.exe$/i, "")));
  if (k < 0) return [];
  return [{ ...inv, name: path.posix.basename(inv.args[k]!.text).toLowerCase().replace(/\.exe$/, ""), args: inv.args.slice(k + 1), via: [...inv.via, inv.name] }];
}

/**
 * git run in another repository reads that repository's config and hooks (`core.pager`, `.git/hooks/…`),
 * which any plain write can set: refused outside the work tree, except where no repository is read yet.
 */
function gitElsewhere(inv: Invocation, cwd: string | undefined, ctx: DecideContext): Verdict | undefined {
  let dir = cwd;
  let k = 0;
  for (; k < inv.args.length; k++) {
    const w = inv.args[k]!;
    const [flag, ...eq] = w.text.split("=");
    if (flag === "-C" || flag === "--git-dir" || flag === "--work-tree") {
      const v = eq.length ? { ...w, text: eq.join("=") } : inv.args[++k];
      dir = !v || v.opaque || dir === undefined ? undefined : resolveWord(v.text, dir, ctx.home);
    } else if (flag === "-c" || flag === "--namespace" || flag === "--config-env") { if (!eq.length) k++; }
    else if (!w.text.startsWith("-")) break;
  }
  const sub = inv.args[k]?.text.toLowerCase() ?? "";
  if (["", "clone", "init", "ls-remote", "version", "help", "config"].includes(sub)) return undefined;
  const rel = dir === undefined ? ".." : path.relative(ctx.root, dir);
  if (!rel.startsWith("..") && !path.isAbsolute(rel)) return undefined;
  return { decision: "deny", rule: "tamper:git-config", category: "tamper", reason: "refused: this runs git in a repository outside the work tree, whose config and hooks (core.pager, .git/hooks) the guard cannot see. Instead: work in this checkout; ask a person to look at another repository." };
}

function ruleVerdicts(inv: Invocation): Verdict[] {
  if (inv.name !== "" && !inv.wrapper) {
    const inner = nested(inv);
    if (inner.length) return [...RULES.filter((r) => r.test(inv)).map((r) => verdictOf(r, inv)), ...inner.flatMap(ruleVerdicts)];
  }
  return RULES.filter((r) => r.test(inv)).map((r) => verdictOf(r, inv));
}

function verdictOf(r: (typeof RULES)[number], inv: Invocation): Verdict {
  return {
    decision: r.decision, rule: r.id, category: r.category,
    reason: `${r.decision === "deny" ? "refused" : "needs a person"}: this ${r.does}${inv.via.length ? ` (through ${inv.via.join(" → ")})` : ""}. ${r.decision === "deny" ? "Instead" : "Note"}: ${r.instead}.`,
  };
}

/** The strictest verdict wins: deny, then ask, then allow; among equals, the first. */
function strictest(vs: Verdict[]): Verdict {
  return vs.find((v) => v.decision === "deny") ?? vs.find((v) => v.decision === "ask") ?? ok();
}

export function decideCommand(command: string, ctx: DecideContext): Verdict {
  let invs: Invocation[];
  try {
    // The variables the guard can see: HOME, PWD. Anything else the line does not set is unseen.
    const scope = { vars: new Map<string, string>([["HOME", ctx.home ?? os.homedir()], ["PWD", ctx.cwd]]), aliases: new Map<string, string>() };
    invs = invocations(parseShell(command, scope), { scripts: ctx.scripts, scope, readScript: (f) => readScript(f, ctx) });
  } catch (e) {
    const why = e instanceof ParseError ? e.message : `cannot follow it: ${(e as Error).message}`;
    return { decision: "deny", rule: "unseen:unparseable", category: "unseen", reason: `refused: the guard cannot parse this command (${why}). Instead: write it as plain commands joined by && or ;, without case, functions or unclosed quotes.` };
  }
  const found: Verdict[] = [];
  let cwd: string | undefined = ctx.cwd;
  const written: string[] = [];
  for (const inv of invs) {
    // In a script file the script's own variables are unknown by design: only what it names literally counts.
    const script = inv.inScript === true;
    found.push(...ruleVerdicts(inv).filter((v) => !script || (v.category !== "unseen" && v.rule !== "secret:environment")));
    if (inv.unparsedScript) found.push({ decision: "deny", rule: "unseen:script", category: "unseen", reason: `refused: this runs ${inv.unparsedScript}, a script the guard cannot parse that names a blast-radius pulumi command. Instead: ${"run the gated path: `demesne plan`, a person's `demesne approve`, `demesne apply`"}.` });
    const ran = runsWritten(inv, written, cwd ?? ctx.cwd, ctx);
    if (ran) found.push(ran);
    written.push(...writtenBy(inv, cwd ?? ctx.cwd, ctx));
    const rm = script && inv.args.some((w) => w.opaque) ? undefined : checkRemoval(inv, cwd, ctx);
    if (rm) found.push(rm);
    const p = checkPaths(inv, cwd ?? ctx.cwd, ctx);
    if (p) found.push(p);
    const g = inv.name === "git" ? gitElsewhere(inv, cwd, ctx) : undefined;
    if (g) found.push(g);
    if (inv.name === "cd" || inv.name === "pushd") {
      const to = inv.args.find((w) => !w.text.startsWith("-"));
      cwd = !to ? ctx.home ?? os.homedir() : to.opaque || to.text === "-" || cwd === undefined ? undefined : resolveWord(to.text, cwd, ctx.home);
    }
    if (found.some((v) => v.decision === "deny")) break;
  }
  return strictest(found);
}

const READ_TOOLS = new Set(["Read", "NotebookRead", "Grep", "Glob", "LS"]);
const EDIT_TOOLS = new Set(["Edit", "Write", "MultiEdit", "NotebookEdit"]);

/** A Read/Edit/Write-style call: secret paths are never read, guardrails never edited, stack config asked. */
export function decideFile(tool: string, input: Record<string, unknown>, ctx: DecideContext): Verdict {
  const target = [input.file_path, input.notebook_path, input.path].find((v): v is string => typeof v === "string" && v !== "") ?? (tool === "Grep" || tool === "Glob" ? ctx.cwd : undefined);
  if (!target || (!READ_TOOLS.has(tool) && !EDIT_TOOLS.has(tool))) return ok();
  const abs = path.resolve(ctx.cwd, target.startsWith("~") ? resolveWord(target, ctx.cwd, ctx.home) : target);
  const inv: Invocation = { name: tool, args: [], redirects: [], piped: false, vars: [], via: [] };
  const p = protectedAt(abs, ctx);
  if (p?.kind === "secret") return pathVerdict(p, inv, "reads");
  // Grep's `glob` and Glob's `pattern` name paths too (`.demesne/**`).
  for (const g of [input.glob, tool === "Glob" ? input.pattern : undefined]) {
    if (typeof g !== "string" || g === "") continue;
    const hit = hits(g, true, abs, ctx, false).find((h) => h.kind === "secret");
    if (hit) return pathVerdict(hit, inv, "searches");
  }
  if (p && EDIT_TOOLS.has(tool)) return pathVerdict(p, inv, "changes");
  if (EDIT_TOOLS.has(tool) && /^Pulumi\.[^/]+\.ya?ml$/.test(path.basename(abs)) && path.dirname(abs) === ctx.root) {
    return { decision: "ask", rule: "person:stack-config-edit", category: "person", reason: "needs a person: this changes the stack's config (its mode, the kill switch, approval tokens). Note: a person reviews the diff." };
  }
  return ok();
}

export function decide(tool: string, input: Record<string, unknown>, ctx: DecideContext): Verdict {
  if (tool === "Bash") {
    const cmd = input.command;
    if (typeof cmd !== "string") return { decision: "deny", rule: "unseen:unparseable", category: "unseen", reason: "refused: the Bash call carries no command string." };
    return decideCommand(cmd, ctx);
  }
  return decideFile(tool, input, ctx);
}
