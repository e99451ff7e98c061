import * as path from "node:path";
import type { Assign } from "./env-vars";
import { makeRecipes, sideCommands } from "./inline";
import { OPAQUE, parseShell, type Redirect, type Scope, type Simple, type Word } from "./shell";

/**
 * From parsed simple commands to the programs that would actually run: wrappers are peeled (`sudo`, `env`,
 * `nohup`, `timeout`, `xargs`, `npx`, `find -exec`…), scripts handed to a shell or `eval` are parsed in turn,
 * `npm run X` becomes X's script from package.json, and `node bin/demesne.js` is `demesne`. Each invocation
 * keeps the chain it came through, for the message.
 */
export interface Invocation {
  /** Base name, lower-cased (macOS file systems ignore case: `PULUMI` runs pulumi); OPAQUE when unseen. */
  name: string;
  args: Word[];
  redirects: Redirect[];
  piped: boolean;
  /** Standard input given literally (heredoc, here-string). */
  stdin?: string;
  /** Variable names expanded anywhere in the command. */
  vars: string[];
  /** The command's assignment prefix (`GIT_SSH_COMMAND=… git fetch`): kept through wrappers. */
  assigns?: Assign[];
  via: string[];
  /** Inline code given to an interpreter (`python3 -c`, `node -e`, a heredoc): OPAQUE when unseen. */
  code?: string;
  /** Comes from a script file of the work tree: its own variables and inputs are unseen by design. */
  inScript?: boolean;
  /** A script file the parser could not read that names a blast-radius command in its text. */
  unparsedScript?: string;
  /** Its work was handed to an inner invocation (listed after it): its arguments are that one's. */
  wrapper?: boolean;
}

export interface UnwrapContext {
  /** package.json scripts, for `npm run X`. */
  scripts: Record<string, string>;
  scope: Scope;
  /**
   * A shell script's text, for `bash FILE` and `source FILE` (undefined when there is no such file), and
   * whether it lies in the work tree (its code is the repository's, reviewed in commits).
   */
  readScript?: (file: string) => { text: string; inTree: boolean } | undefined;
}

export const INTERPRETERS = /^(python[0-9.]*|pypy[0-9]*|node|nodejs|perl|ruby|php|deno|bun|tsx|ts-node|lua|pwsh|osascript|rscript)$/;
export const SHELLS = new Set(["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "busybox", "rbash"]);
const PLAIN = new Set(["nohup", "time", "builtin", "setsid", "unbuffer", "chronic", "nocorrect", "noglob"]);
/** Options that take a value, per wrapper (so the value is not mistaken for the command). */
const VALUED: Record<string, RegExp> = {
  sudo: /^-[ugCDhprtU]$/,
  doas: /^-[uC]$/,
  env: /^(-[uCS]|--unset|--chdir|--split-string)$/,
  nice: /^-n$/,
  timeout: /^(-[sk]|--signal|--kill-after)$/,
  stdbuf: /^-[ioe]$/,
  ionice: /^-[cnp]$/,
  xargs: /^(-[IinLPdEsa]|--replace|--max-args|--max-procs|--delimiter|--arg-file)$/,
  npx: /^(-p|--package|--call|-c)$/,
  exec: /^-a$/,
  command: /^$/,
  watch: /^(-n|--interval|-d)$/,
  git: /^(-C|-c|--git-dir|--work-tree|--namespace|--exec-path|--config-env)$/,
};
const MAX_UNWRAP = 16;
/** A file name that is the command's own standard input (or another descriptor): its program is what arrives there. */
export const STDIN_FILE = /^(-|\/dev\/stdin|\/dev\/fd\/\d+|\/proc\/[^/]+\/fd\/\d+)$/;
const BLAST_TEXT = /\bpulumi\b[^\n]*\b(destroy|down|up|update|refresh|import|state|rm|cancel)\b|--show-secrets|--target-replace/i;
const lit = (text: string): Word => ({ text, opaque: text.includes(OPAQUE), glob: false, vars: [] });
const lc = (w: Word | undefined) => (w ? w.text.toLowerCase() : "");

export function programName(w: Word): string {
  if (w.opaque || w.glob) return OPAQUE;
  return path.posix.basename(w.text).toLowerCase().replace(/\.exe$/, "");
}

/** All invocations of a command line, wrappers peeled. Throws ParseError for a script it cannot parse. */
export function invocations(simples: Simple[], ctx: UnwrapContext, depth = 0): Invocation[] {
  const out: Invocation[] = [];
  for (const s of simples) {
    const stdin = s.redirects.find((r) => r.data !== undefined)?.data;
    const vars = [...s.words, ...s.assigns.map((a) => a.value), ...s.redirects.map((r) => r.target)].flatMap((w) => w.vars);
    if (!s.words.length) {
      if (s.redirects.length || vars.length || s.assigns.length) out.push({ name: "", args: [], redirects: s.redirects, piped: s.piped, stdin, vars, via: [], assigns: s.assigns });
      continue;
    }
    peel(s.words, { name: "", args: [], redirects: s.redirects, piped: s.piped, stdin, vars, via: [], assigns: s.assigns }, ctx, out, depth);
  }
  return out;
}

function peel(words: Word[], base: Invocation, ctx: UnwrapContext, out: Invocation[], depth: number): void {
  if (depth > MAX_UNWRAP) throw new Error("wrappers nested too deeply");
  const [first, ...rest] = words;
  if (!first) return;
  const name = programName(first);
  const inv: Invocation = { ...base, name, args: rest };
  out.push(inv);
  const via = [...base.via, name];
  const again = (ws: Word[]) => {
    inv.wrapper = true;
    peel(ws, { ...base, via }, ctx, out, depth + 1);
  };
  const script = (text: string, stdin?: string) => {
    inv.wrapper = true;
    const inner = invocations(parseShell(text, ctx.scope, depth + 1), ctx, depth + 1);
    for (const i of inner) out.push({ ...i, via: [...via, ...i.via], stdin: i.stdin ?? stdin });
  };
  const afterOptions = (w: string) => skipOptions(rest, VALUED[w] ?? /^$/);

  if (name === OPAQUE) return;
  // Commands a program runs from its own options (`tar --to-command=…`, `awk 'BEGIN{system(…)}'`): judged beside it, which still runs.
  for (const sc of sideCommands(name, rest)) {
    if ("script" in sc) {
      const simples = parseShell(sc.script, ctx.scope, depth + 1).map((x) => (sc.stdin ? { ...x, piped: true } : x));
      for (const i of invocations(simples, ctx, depth + 1)) out.push({ ...i, via: [...via, ...i.via] });
    }
    else if ("unseen" in sc) out.push({ ...base, name: OPAQUE, args: [], via, assigns: [] });
    else if ("code" in sc) { if (sc.code !== "") inv.code = sc.code; }
    else if ("codeFile" in sc) inv.code = STDIN_FILE.test(sc.codeFile) ? inv.stdin ?? OPAQUE : ctx.readScript?.(sc.codeFile)?.text ?? inv.code;
    else {
      inv.redirects = [...inv.redirects, ...sc.writes.map((f) => ({ op: ">", target: lit(f) }))];
      inv.args = [...inv.args, ...sc.reads.map(lit)];
    }
  }
  if (name === "sudo" || name === "doas") {
    // `sudo LD_PRELOAD=x.so ls`: sudo takes assignments before the command; they are the command's environment.
    const ws = afterOptions(name);
    const j = ws.findIndex((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w.text));
    const set = ws.slice(0, j < 0 ? ws.length : j).map((w) => ({ name: w.text.slice(0, w.text.indexOf("=")), value: { ...w, text: w.text.slice(w.text.indexOf("=") + 1) } }));
    inv.wrapper = true;
    return peel(ws.slice(set.length), { ...base, via, assigns: [...(base.assigns ?? []), ...set] }, ctx, out, depth + 1);
  }
  if (PLAIN.has(name) || name === "sudo" || name === "doas" || name === "nice" || name === "stdbuf" || name === "ionice" || name === "exec") {
    return again(afterOptions(name));
  }
  if (name === "command") {
    if (rest.some((w) => /^-[vV]$/.test(w.text))) return; // a lookup, runs nothing
    return again(afterOptions(name));
  }
  if (name === "env") {
    const split = rest.findIndex((w) => w.text === "-S" || w.text.startsWith("--split-string"));
    if (split >= 0) {
      const arg = rest[split]!.text.includes("=") ? rest[split]!.text.split("=").slice(1).join("=") : rest[split + 1]?.text ?? "";
      return script(arg + " " + rest.slice(split + (rest[split]!.text.includes("=") ? 1 : 2)).map((w) => quote(w.text)).join(" "));
    }
    const cmd = afterOptions(name).filter((w, k, a) => !(/^[^=/]+=/.test(w.text) && a.slice(0, k).every((x) => x.text.includes("="))));
    return again(cmd);
  }
  if (name === "timeout") {
    const r = afterOptions(name);
    return again(r.slice(1));
  }
  if (name === "xargs") {
    // `-I{}`: each word holding the replacement string is the input, which the guard cannot see.
    const i = rest.findIndex((w) => /^(-I|-i|--replace)/.test(w.text));
    const rep = i < 0 ? undefined : /^(-I|--replace)$/.test(rest[i]!.text) ? rest[i + 1]?.text : rest[i]!.text.replace(/^(-I|-i|--replace=?)/, "") || "{}";
    const r = afterOptions(name).map((w) => (rep && w.text.includes(rep) ? lit(OPAQUE) : w));
    return again(r.length ? [...r, lit(OPAQUE)] : [lit("echo"), lit(OPAQUE)]);
  }
  if (name === "watch") return script(afterOptions(name).map((w) => w.text).join(" "));
  if (name === "npx" || name === "bunx" || name === "pnpx") {
    const c = rest.findIndex((w) => w.text === "-c" || w.text.startsWith("--call"));
    if (c >= 0) return script(rest[c]!.text.includes("=") ? rest[c]!.text.split("=").slice(1).join("=") : rest[c + 1]?.text ?? "");
    const [cmd, ...args] = afterOptions("npx");
    // A command word with spaces (`npx 'pulumi destroy'`) may reach a shell: judged as one.
    if (cmd && /\s/.test(cmd.text)) return script([cmd.text, ...args.map((w) => quote(w.text))].join(" "));
    // `npx pulumi@3 destroy` runs pulumi: the version spec is not part of the program's name.
    return cmd ? again([{ ...cmd, text: cmd.text.replace(/^(@?[^@]+)@.*$/, "$1") }, ...args]) : undefined;
  }
  if (name === "trap") return rest[0] && !rest[0].text.startsWith("-") ? script(rest[0].opaque ? OPAQUE : rest[0].text) : undefined;
  if (name === "parallel") {
    const end = rest.findIndex((w) => /^:::+$/.test(w.text));
    return again([...skipOptions(end < 0 ? rest : rest.slice(0, end), /^(-j|-S|--jobs|--sshlogin)$/), lit(OPAQUE)]);
  }
  if (name === "flock") {
    const c = rest.findIndex((w) => w.text === "-c" || w.text === "--command");
    if (c >= 0) return script(rest[c + 1]?.opaque ? OPAQUE : rest[c + 1]?.text ?? "");
    return again(skipOptions(rest, /^(-w|--timeout|-E|--conflict-exit-code)$/).slice(1));
  }
  if (["npm", "pnpm", "yarn", "bun"].includes(name)) return npm(name, rest, ctx, again, script);
  if (name === "node" || name === "tsx" || name === "ts-node") {
    const file = rest.find((w) => !w.text.startsWith("-"));
    if (file && (/(^|\/)demesne(\.js)?$/.test(file.text) || /(^|\/)cli\/main\.ts$/.test(file.text))) {
      return again([lit("demesne"), ...rest.slice(rest.indexOf(file) + 1)]);
    }
  }
  if (INTERPRETERS.test(name)) return interpreter(rest, inv);
  if (name === "find") {
    const k = rest.findIndex((w) => /^-(exec|execdir|ok|okdir)$/.test(w.text));
    if (k >= 0) {
      const end = rest.findIndex((w, j) => j > k && (w.text === ";" || w.text === "+"));
      return again(rest.slice(k + 1, end < 0 ? undefined : end).map((w) => (w.text === "{}" ? lit(OPAQUE) : w)));
    }
    return;
  }
  if (name === "eval") {
    if (rest.some((w) => w.opaque)) return again([lit(OPAQUE)]);
    return script(rest.map((w) => w.text).join(" "));
  }
  if (name === "git") {
    for (let k = 0; k < rest.length - 1; k++) {
      const m = rest[k]!.text === "-c" ? /^alias\.[^=]+=!(.*)$/s.exec(rest[k + 1]!.text) : null;
      if (m) script(m[1]!);
    }
    return;
  }
  // A script file is read and judged like the line that runs it, its own variables unseen (fresh scope).
  const scriptFile = (file: string, transform = (t: string) => t) => {
    if (base.via.includes(file)) return; // a script that runs itself (`exec sudo … bash .ci/run`)
    const read = ctx.readScript?.(file);
    if (read === undefined) return;
    const text = transform(read.text);
    inv.wrapper = true;
    const fresh = { vars: new Map([...ctx.scope.vars].filter(([k]) => k === "HOME" || k === "PWD")), aliases: new Map<string, string>() };
    let inner: Invocation[];
    try {
      inner = invocations(parseShell(text, fresh), { ...ctx, scope: fresh }, depth + 1);
    } catch {
      // Not parseable: judged by what it names literally (a blast-radius pulumi command is refused).
      if (BLAST_TEXT.test(text)) out.push({ ...base, name: "", args: [], via: [...via], unparsedScript: file });
      return;
    }
    for (const i of inner) out.push({ ...i, via: [...via, file, ...i.via.filter((v) => v !== file)], inScript: read.inTree });
  };
  if (name === "make" || name === "gmake") {
    // A Makefile's recipes run like a script file's commands (no Makefile: make runs nothing of the agent's).
    if (rest.some((w) => /^(-E|--eval)/.test(w.text))) return void out.push({ ...base, name: OPAQUE, args: [], via });
    const dir = optionValue(rest, /^(-C|--directory)$/);
    const given = optionValue(rest, /^(-f|--file|--makefile)$/);
    const names = given !== undefined ? [given] : ["GNUmakefile", "makefile", "Makefile"];
    for (const n of names) {
      const f = dir !== undefined && !n.startsWith("/") ? `${dir}/${n}` : n;
      if (f.includes(OPAQUE) || STDIN_FILE.test(f)) return void out.push({ ...base, name: OPAQUE, args: [], via });
      if (ctx.readScript?.(f) !== undefined) return scriptFile(f, makeRecipes);
    }
    return;
  }
  if ((name === "source" || name === ".") && rest[0] && STDIN_FILE.test(rest[0].text)) return inv.stdin !== undefined ? script(inv.stdin) : again([lit(OPAQUE)]);
  if (name === "source" || name === ".") return rest[0]?.opaque ? again([lit(OPAQUE)]) : rest[0] ? scriptFile(rest[0].text) : undefined;
  if (SHELLS.has(name) || name === "su" || name === "script") return shell(name, rest, inv, again, script, scriptFile);
}

/** `sh -c SCRIPT`, `bash <<EOF`, `sh < file`, `sh file`: parse what it runs, or mark it unseen. */
function shell(name: string, rest: Word[], inv: Invocation, again: (ws: Word[]) => void, script: (t: string, stdin?: string) => void, scriptFile: (f: string) => void): void {
  if (name === "busybox" && rest[0] && !rest[0].text.startsWith("-")) return again(rest);
  let k = 0;
  let inline = false;
  for (; k < rest.length; k++) {
    const t = rest[k]!.text;
    if (t === "--") { k++; break; }
    if (/^-[A-Za-z]*c[A-Za-z]*$/.test(t) || t === "--command") { inline = true; continue; }
    if (t === "-o" || t === "+o" || t === "--rcfile" || t === "--init-file") { k++; continue; }
    if (!t.startsWith("-") && !t.startsWith("+")) break;
  }
  const arg = rest[k] && STDIN_FILE.test(rest[k]!.text) ? undefined : rest[k];
  if (inline) {
    if (!arg || arg.opaque) return again([lit(OPAQUE)]);
    return script(arg.text);
  }
  if (name === "su" || name === "script") return;
  if (arg) {
    if (arg.opaque) return again([lit(OPAQUE)]); // `bash <(curl …)`: a program nobody can see
    return scriptFile(arg.text);
  }
  if (inv.stdin !== undefined) return script(inv.stdin);
  // Reading its program from a pipe or a file redirect: what runs is whatever arrives there.
  if (inv.piped || inv.redirects.some((r) => r.op === "<" || r.op === "<&")) inv.stdin = OPAQUE;
}

/** `python3 -c CODE`, `node -e CODE`, `perl -e`, a heredoc, or code from a pipe (unseen). */
function interpreter(rest: Word[], inv: Invocation): void {
  const k = rest.findIndex((w) => /^(-c|-e|-E|-p|-pe|-ne|-le|-lne|--eval|--print|-r|--command)$/.test(w.text) || /^--(eval|print)=/.test(w.text));
  if (k >= 0) {
    const w = rest[k]!;
    const code = w.text.startsWith("--") && w.text.includes("=") ? lit(w.text.slice(w.text.indexOf("=") + 1)) : rest[k + 1];
    inv.code = !code || code.opaque ? OPAQUE : code.text;
    return;
  }
  const file = rest.find((w) => !w.text.startsWith("-"));
  if (file && !STDIN_FILE.test(file.text)) return;
  if (inv.stdin !== undefined) inv.code = inv.stdin;
  else if (inv.piped || inv.redirects.some((r) => r.op === "<" || r.op === "<&")) inv.stdin = OPAQUE;
}

const YARN_VERBS = new Set(["run", "run-script", "exec", "x", "dlx", "test", "t", "start", "install", "i", "add", "remove", "rm", "why", "info", "list", "ls", "outdated", "upgrade", "update", "up", "init", "create", "link", "unlink", "pack", "publish", "config", "cache", "audit", "version", "help", "store", "prune", "dedupe", "rebuild", "import", "patch", "bin", "ci", "node"]);

function npm(name: string, rest: Word[], ctx: UnwrapContext, again: (ws: Word[]) => void, script: (t: string) => void): void {
  const sub = rest.findIndex((w) => !w.text.startsWith("-"));
  const verb = lc(rest[sub]);
  const args = rest.slice(sub + 1);
  const call = args.findIndex((w) => w.text === "-c" || w.text.startsWith("--call"));
  if (["exec", "x", "dlx"].includes(verb) && call >= 0) return script(args[call]!.text.includes("=") ? args[call]!.text.split("=").slice(1).join("=") : args[call + 1]?.opaque ? OPAQUE : args[call + 1]?.text ?? "");
  if (["exec", "x", "dlx"].includes(verb)) {
    const [cmd, ...more] = skipOptions(args.filter((w) => w.text !== "--"), /^(-p|--package)$/);
    if (cmd && /\s/.test(cmd.text)) return script([cmd.text, ...more.map((w) => quote(w.text))].join(" "));
    return again(cmd ? [cmd, ...more] : []);
  }
  let named: Word | undefined;
  if (["run", "run-script", "rum", "urn"].includes(verb)) named = args.find((w) => !w.text.startsWith("-"));
  else if (["test", "t", "tst", "start"].includes(verb)) named = lit(verb === "start" ? "start" : "test");
  else if (name !== "npm" && rest[sub] && !YARN_VERBS.has(verb)) {
    // `yarn pulumi destroy`, `pnpm demesne apply`: not a verb of theirs, so a script or a package's binary.
    if (ctx.scripts[rest[sub]!.text] === undefined) return again(rest.slice(sub));
    named = rest[sub];
  }
  if (!named) return;
  if (named.opaque) return again([lit(OPAQUE)]);
  const body = ctx.scripts[named.text];
  if (body === undefined) return;
  // npm 7+ passes the words after the script's name to it, with or without `--`.
  const extra = (named === rest[sub] ? args : args.slice(args.indexOf(named) + 1)).filter((w) => w.text !== "--");
  if (extra.some((w) => w.opaque)) return script(`${body} ${OPAQUE}`);
  script(`${body} ${extra.map((w) => quote(w.text)).join(" ")}`);
}

/** `-f X`, `-fX`, `--file=X`, `--file X`: the last value given. */
function optionValue(words: Word[], re: RegExp): string | undefined {
  let v: string | undefined;
  words.forEach((w, k) => {
    const [flag, ...eq] = w.text.split("=");
    if (re.test(flag!)) v = eq.length ? eq.join("=") : words[k + 1]?.opaque ? OPAQUE : words[k + 1]?.text;
    else if (/^-[fC]./.test(w.text) && re.test(w.text.slice(0, 2))) v = w.text.slice(2);
  });
  return v;
}

function skipOptions(words: Word[], valued: RegExp): Word[] {
  let k = 0;
  while (k < words.length) {
    const t = words[k]!.text;
    if (t === "--") return words.slice(k + 1);
    if (!t.startsWith("-") || t === "-") break;
    k += valued.test(t) ? 2 : 1;
  }
  return words.slice(k);
}

export function quote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
