import { OPAQUE, type Word } from "./shell";

/**
 * Programs that run a command or a program text given in their own arguments, which the wrapper list
 * does not peel: `awk 'BEGIN{system(…)}'`, `vim -c '!…'`, `sed 's/x/y/e'`, `tar --to-command=…`,
 * `rsync -e …`, `less +!…`, `gdb -ex 'shell …'`, `zip -TT …`, `git fetch --upload-pack=…`, `sort
 * --compress-program=…`. Each yields what unwrap.ts should judge: a shell command, inline code, or
 * "unseen". What is not understood is unseen, never guessed.
 */
export type Side =
  /** `stdin`: the command reads data the guard cannot see (an archive member, the editor's buffer): `sh` there runs it. */
  | { script: string; stdin?: boolean }
  | { code: string }
  | { unseen: string }
  /** Files a sed script writes (`w f`) or reads (`r f`): judged like a redirection or an argument. */
  | { writes: string[]; reads: string[] }
  /** An awk program file (`-f f`), judged like inline code. */
  | { codeFile: string };

export const value = (args: Word[], k: number): string => {
  const w = args[k]!;
  const eq = w.text.indexOf("=");
  if (w.text.startsWith("--") && eq > 0) return w.text.slice(eq + 1);
  const next = args[k + 1];
  return !next || next.opaque ? OPAQUE : next.text;
};
/** `--opt=VALUE` or `--opt VALUE` (or `-o VALUE`) for options matching `re`. */
function optionValues(args: Word[], re: RegExp): string[] {
  const out: string[] = [];
  args.forEach((w, k) => { if (re.test(w.text.split("=")[0]!)) out.push(w.opaque ? OPAQUE : value(args, k)); });
  return out;
}
const asScript = (v: string, stdin = false): Side => (v.includes(OPAQUE) ? { unseen: "an option's command" } : { script: v, stdin });
const fed = (v: string) => asScript(v, true);

const AWKS = new Set(["awk", "gawk", "mawk", "nawk"]);
const VIMS = new Set(["vim", "vi", "nvim", "ex", "view", "vimdiff", "gvim", "rvim", "evim", "gview"]);
/** awk's own ways to run a program: `print | "cmd"`, `"cmd" | getline`, `|&` coprocesses. */
const AWK_PIPE = /@load|\|\s*&|\|\s*"|"\s*\|\s*getline|\|\s*[A-Za-z_]|\bsystem\s*\(/;

export function sideCommands(name: string, args: Word[]): Side[] {
  if (AWKS.has(name)) return awk(args);
  if (VIMS.has(name)) return vim(args);
  if (name === "sed" || name === "gsed") return sed(args);
  if (name === "tar" || name === "gtar" || name === "bsdtar") {
    return [
      ...optionValues(args, /^(--to-command|--use-compress-program|-I)$/).map((v) => fed(v)),
      ...optionValues(args, /^(--rsh-command|--info-script|-F|--new-volume-script)$/).map((v) => asScript(v)),
      ...args.filter((w) => /^--checkpoint-action=exec=/.test(w.text)).map((w) => asScript(w.text.replace(/^--checkpoint-action=exec=/, ""))),
    ];
  }
  if (name === "rsync") return optionValues(args, /^(-e|--rsh)$/).map((v) => asScript(v));
  if ((name === "less" || name === "more") && args.some((w) => /^(-k|--lesskey-file|--lesskey-src)/.test(w.text))) return [{ unseen: "a lesskey file (it binds commands)" }];
  if (name === "less" || name === "more" || name === "most") return args.filter((w) => /^\+/.test(w.text)).map((w) => pagerCommand(w.text.slice(1)));
  if (name === "gdb" || name === "cgdb") return optionValues(args, /^(-ex|--ex|-iex|--iex|-eval-command|--eval-command|-init-eval-command|-x|--command|-ix)$/).map(gdbCommand);
  if (name === "zip") return optionValues(args, /^(-TT|--unzip-command)$/).map((v) => asScript(v));
  if (name === "sort") return optionValues(args, /^--compress-program$/).map((v) => fed(v));
  if (name === "man") return optionValues(args, /^(-P|--pager|-H|--html)$/).map((v) => asScript(v));
  if (name === "ssh" || name === "scp" || name === "sftp") {
    return [
      ...optionValues(args, /^-o$/).flatMap((o) => { const m = /^(ProxyCommand|LocalCommand|KnownHostsCommand|Match)\s*[= ]\s*(.*)$/is.exec(o); return m ? [asScript(m[2]!.replace(/^exec\s+/i, ""))] : []; }),
      ...args.filter((w) => /^-o(ProxyCommand|LocalCommand|KnownHostsCommand)=/i.test(w.text)).map((w) => asScript(w.text.slice(w.text.indexOf("=") + 1))),
      ...(name !== "ssh" ? optionValues(args, /^-S$/).map((v) => asScript(v)) : []),
    ];
  }
  if (name === "git") return git(args);
  if (name === "script") return args.filter((w) => w.text.startsWith("--command=")).map((w) => asScript(w.text.slice("--command=".length)));
  return [];
}

function awk(args: Word[]): Side[] {
  const files = optionValues(args, /^(-f|--file|-i|--include)$/);
  const sources = optionValues(args, /^(-e|--source)$/);
  const out: Side[] = files.map((f) => (f.includes(OPAQUE) ? { unseen: "an awk program file" } : { codeFile: f }));
  let program: string | undefined;
  if (!files.length && !sources.length) {
    for (let k = 0; k < args.length; k++) {
      const t = args[k]!.text;
      if (t === "--") { program = args[k + 1]?.opaque ? OPAQUE : args[k + 1]?.text; break; }
      if (/^(-F|-v|--assign|--field-separator)$/.test(t)) { k++; continue; }
      if (t.startsWith("-") && t !== "-") continue;
      program = args[k]!.opaque ? OPAQUE : t;
      break;
    }
  }
  for (const code of [...sources, ...(program === undefined ? [] : [program])]) out.push(AWK_PIPE.test(code) ? { code: `${code} system(` } : { code });
  return out;
}

/** One ex command: `!cmd` (and `r !cmd`, `w !cmd`) runs a shell; anything that may reach one is unseen; edits and quitting are fine. */
function exCommand(c: string): Side | undefined {
  const u = c.replace(/^[:\s]+/, "");
  const t = u.replace(/^(%|\d+(,\d+)?|'<,'>|\.(,\$)?)\s*/, "");
  if (t.includes(OPAQUE)) return { unseen: "an editor command" };
  const bang = /^(r(ead)?|w(rite)?)?\s*!(.*)$/s.exec(t);
  // `%!cmd` and `w !cmd` feed the buffer to the command; `r !cmd` and a bare `!cmd` do not.
  if (bang) return asScript(bang[4]!, t !== u || /^w/.test(t));
  if (/^(wq?a?!?|x(it)?|q(uit)?a?!?|set?\s[\w=,.+-]+|syn(tax)?\s+\w+|\d+)$/.test(t)) return undefined;
  if (/^s(ubstitute)?([/#|,]).*$/.test(t) && !t.includes("\\=")) return undefined;
  return { unseen: "an editor command that may run a program" };
}

function vim(args: Word[]): Side[] {
  const cmds = [...optionValues(args, /^(-c|--cmd)$/), ...args.filter((w) => /^\+./.test(w.text)).map((w) => w.text.slice(1))];
  // `-S`/`-u` source a vim script and `-s` replays keystrokes: their content is unseen.
  if (args.some((w) => /^(-S|-s|-u|-W|-w)$/.test(w.text) && !/^(NONE|NORC)$/.test(value(args, args.indexOf(w))))) return [{ unseen: "a vim script file" }];
  return cmds.map(exCommand).filter((s): s is Side => s !== undefined);
}

function pagerCommand(c: string): Side {
  if (/^(\d+|G|g|F|\/[^!|]*|\?[^!|]*)$/.test(c)) return { code: "" };
  if (c.startsWith("!")) return asScript(c.slice(1));
  return { unseen: "a pager command" };
}

function gdbCommand(c: string): Side {
  const t = c.trim();
  const m = /^(!|shell\s|pipe\s|\|)(.*)$/s.exec(t);
  if (m) return m[1] === "!" || m[1]!.startsWith("shell") ? asScript(m[2]!) : { unseen: "a gdb pipe" };
  if (/^(bt|backtrace|info\b.*|run|r|start|quit|q|continue|c|next|n|step|s|set (pagination|confirm|print) \w+|thread apply all bt|where)$/.test(t)) return { code: "" };
  return { unseen: "a gdb command or script" };
}

/** The commands of a sed script; `e` and `s///e` run a shell, `w`/`r` name files (GNU sed). */
function sed(args: Word[]): Side[] {
  const scripts = optionValues(args, /^(-e|--expression)$/);
  const files = optionValues(args, /^(-f|--file)$/);
  if (files.length) return [{ unseen: "a sed script file" }];
  if (!scripts.length) {
    const first = args.find((w, k) => !w.text.startsWith("-") && !/^(-l|--line-length)$/.test(args[k - 1]?.text ?? ""));
    if (first) scripts.push(first.opaque ? OPAQUE : first.text);
  }
  const writes: string[] = [];
  const reads: string[] = [];
  const out: Side[] = [];
  for (const s of scripts) {
    if (s.includes(OPAQUE)) return [{ unseen: "a sed script" }];
    const r = scanSed(s);
    if (r === undefined) return [{ unseen: "a sed script the guard cannot read" }];
    writes.push(...r.writes);
    reads.push(...r.reads);
    out.push(...r.exec.map((e) => (e === "" ? { unseen: "sed's e command (runs the pattern space)" } : asScript(e))));
  }
  return [...out, { writes, reads }];
}

function scanSed(s: string): { exec: string[]; writes: string[]; reads: string[] } | undefined {
  const r = { exec: [] as string[], writes: [] as string[], reads: [] as string[] };
  let i = 0;
  const toEol = () => { const e = s.indexOf("\n", i); const t = s.slice(i, e < 0 ? s.length : e).trim(); i = e < 0 ? s.length : e + 1; return t; };
  const delimited = (d: string) => { for (; i < s.length && s[i] !== d; i++) if (s[i] === "\\") i++; if (i >= s.length) throw new Error("open"); i++; };
  try {
    while (i < s.length) {
      const c = s[i]!;
      if (/[\s;{}!,0-9$~+]/.test(c)) { i++; continue; }
      if (c === "/") { i++; delimited("/"); continue; }
      if (c === "\\") { const d = s[i + 1]!; i += 2; delimited(d); continue; }
      if (c === "#") { toEol(); continue; }
      i++;
      if (c === "s" || c === "y") {
        const d = s[i]!; i++;
        delimited(d); delimited(d);
        if (c === "y") continue;
        const flags = /^[0-9gpiImMe]*/.exec(s.slice(i))![0];
        i += flags.length;
        if (flags.includes("e")) r.exec.push("");
        if (s[i] === "w") { i++; r.writes.push(toEol()); }
        continue;
      }
      if (c === "e") { const t = toEol(); r.exec.push(t); continue; }
      if (c === "w" || c === "W") { r.writes.push(toEol()); continue; }
      if (c === "r" || c === "R") { r.reads.push(toEol()); continue; }
      if ("aic".includes(c)) { toEol(); continue; }
      if ("btTv:".includes(c)) { while (i < s.length && !/[;\n}]/.test(s[i]!)) i++; continue; }
      if ("pPdDnNgGhHxlq=QzF".includes(c)) continue;
      return undefined;
    }
  } catch {
    return undefined;
  }
  return r;
}

const GIT_SUB_VALUED = /^(-C|-c|--git-dir|--work-tree|--namespace|--exec-path|--config-env)$/;

/** git's own ways to run a command: transport programs, `rebase -x`, `submodule foreach`, `bisect run`, `difftool -x`, `filter-branch`. */
function git(args: Word[]): Side[] {
  let k = 0;
  while (k < args.length && args[k]!.text.startsWith("-")) k += GIT_SUB_VALUED.test(args[k]!.text) ? 2 : 1;
  const sub = args[k]?.text.toLowerCase() ?? "";
  const rest = args.slice(k + 1);
  // `-u` is --upload-pack only for clone (for fetch, push, add, branch it means something else).
  const out = optionValues(rest, sub === "clone" ? /^(--upload-pack|--receive-pack|--exec|-u)$/ : /^(--upload-pack|--receive-pack|--exec)$/).map((v) => asScript(v));
  if (sub === "grep") out.push(...rest.filter((w) => /^(-O|--open-files-in-pager)/.test(w.text)).map((w) => { const v = w.text.replace(/^(-O|--open-files-in-pager=?)/, ""); return v === "" ? { unseen: "git grep's pager" } : asScript(v); }));
  if (sub === "send-email") out.push(...optionValues(rest, /^(--sendmail-cmd|--smtp-server)$/).map((v) => asScript(v)));
  if (sub === "rebase") out.push(...optionValues(rest, /^(-x|--exec)$/).map((v) => asScript(v)));
  if (sub === "difftool" || sub === "mergetool") out.push(...optionValues(rest, /^(-x|--extcmd|-t|--tool)$/).map((v) => ({ unseen: `a ${sub} program (${v.replace(OPAQUE, "$…")})` })));
  if (sub === "submodule" && rest.some((w) => w.text === "foreach")) { const f = rest.findIndex((w) => w.text === "foreach"); const c = rest.slice(f + 1).filter((w) => !w.text.startsWith("--")); out.push(c.some((w) => w.opaque) ? { unseen: "a submodule command" } : { script: c.map((w) => w.text).join(" ") }); }
  if (sub === "bisect" && rest[0]?.text === "run") out.push(rest.slice(1).some((w) => w.opaque) ? { unseen: "a bisect command" } : { script: rest.slice(1).map((w) => `'${w.text.replace(/'/g, `'\\''`)}'`).join(" ") });
  if (sub === "filter-branch" || sub === "filter-repo") out.push({ unseen: "a history-rewriting filter" });
  return out;
}

/** A Makefile's recipe lines as one shell script (`$$` is the shell's `$`; make's own `$(…)` stay unseen). */
export function makeRecipes(text: string): string {
  const lines: string[] = [];
  for (const l of text.replace(/\\\n/g, " ").split("\n")) {
    if (l.startsWith("\t")) lines.push(l.slice(1).replace(/^[@+-]+/, "").replace(/\$\$/g, "$"));
    // `$(shell …)` runs when make reads the line, recipe or not.
    else for (const m of l.matchAll(/\$\(shell\s+([^)]*)\)/g)) lines.push(m[1]!);
  }
  return lines.join("\n");
}
