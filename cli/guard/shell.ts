/**
 * A parser for the POSIX shell subset a coding agent writes, so the guard judges what would run, not raw
 * substrings. It follows quoting, `\` escapes, `$'…'`, `&&`/`||`/`;`/`|`/`&`/newlines, subshells, `$(…)`,
 * backticks, process substitution and heredocs (commands inside substitutions are commands too), and it
 * expands the variables and aliases the line itself defines. What it cannot see becomes an opaque marker
 * (an unknown `$VAR`, a glob or brace expansion, a substitution's output), and what it does not understand
 * (`case`, function definitions, an unclosed quote) throws: the caller refuses.
 */

import { ParseError, scanAnsi, scanBalanced, scanCasePattern } from "./scan";

/** Stands where a value is unknown to the parser; rules treat a word holding it as "cannot see". */
export const OPAQUE = "\u0000";

export interface Word {
  text: string;
  /** Holds an expansion the parser cannot see (unknown variable, substitution, brace expansion). */
  opaque: boolean;
  /** Holds an unquoted glob character: the shell may match it to several paths. */
  glob: boolean;
  /** Names of the variables expanded into it (a credential's name says the word prints a secret). */
  vars: string[];
}

export interface Redirect {
  op: string;
  target: Word;
  /** A heredoc's or here-string's text: the command's standard input. */
  data?: string;
}

export interface Simple {
  words: Word[];
  assigns: { name: string; value: Word }[];
  redirects: Redirect[];
  /** Standard input comes from the previous command of a pipeline. */
  piped: boolean;
}

export { ParseError };

export interface Scope {
  vars: Map<string, string>;
  aliases: Map<string, string>;
}

const MAX_DEPTH = 12;
const MAX_LENGTH = 256 * 1024;
const META = new Set([" ", "\t", "\n", ";", "&", "|", "<", ">", "(", ")"]);
const REFUSED_WORDS = new Set(["esac", "select", "coproc"]);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses a whole command line into the simple commands it would run, in order. Throws ParseError. */
export function parseShell(src: string, scope: Scope = { vars: new Map(), aliases: new Map() }, depth = 0): Simple[] {
  if (src.length > MAX_LENGTH) throw new ParseError(`the command is longer than ${MAX_LENGTH} characters`);
  if (depth > MAX_DEPTH) throw new ParseError("commands nested too deeply");
  const p = new Parser(src, scope, depth);
  p.list(null);
  return p.out;
}

class Parser {
  i = 0;
  out: Simple[] = [];
  private heredocs: Redirect[] = [];
  private heredocDelims: { quoted: boolean; delim: string; strip: boolean }[] = [];
  /** Open `case` statements: expecting a pattern, or in a branch's commands. */
  private cases: ("pattern" | "body")[] = [];
  constructor(private readonly src: string, private readonly scope: Scope, private readonly depth: number) {}

  private fail(what: string): never {
    throw new ParseError(`${what} (at character ${this.i + 1})`);
  }

  /** Reads commands until the end, or until an unmatched `)` when `term` is ")". */
  list(term: ")" | null): void {
    let cur = fresh(false);
    const s = this.src;
    for (;;) {
      const c = s[this.i];
      if (c === undefined) {
        if (term) this.fail("a '(' is never closed");
        if (this.cases.length) this.fail("a case statement is never closed");
        this.finish(cur);
        if (this.heredocDelims.length) this.fail("a heredoc is never ended");
        return;
      }
      if (c === " " || c === "\t") { this.i++; continue; }
      if (this.cases.at(-1) === "pattern" && c !== "\n" && c !== "#" && !cur.words.length) { this.casePattern(); continue; }
      if (c === "\\" && s[this.i + 1] === "\n") { this.i += 2; continue; }
      if (c === "#") { while (this.i < s.length && s[this.i] !== "\n") this.i++; continue; }
      if (c === "\n") { this.i++; this.finish(cur); cur = fresh(false); this.readHeredocs(); continue; }
      if (c === ")") {
        if (term !== ")") this.fail("an unmatched ')'");
        this.i++;
        this.finish(cur);
        return;
      }
      if (c === ";") {
        const end = /^(;;&|;;|;&)/.exec(s.slice(this.i, this.i + 3))?.[0];
        if (end) {
          if (this.cases.at(-1) !== "body") this.fail(`'${end}' outside a case statement`);
          this.cases[this.cases.length - 1] = "pattern";
        }
        this.i += end?.length ?? 1; this.finish(cur); cur = fresh(false); continue;
      }
      if (c === "&" && s[this.i + 1] !== ">") {
        this.i += s[this.i + 1] === "&" ? 2 : 1; this.finish(cur); cur = fresh(false); continue;
      }
      if (c === "|") {
        const or = s[this.i + 1] === "|";
        this.i += or || s[this.i + 1] === "&" ? 2 : 1;
        this.finish(cur); cur = fresh(!or); continue;
      }
      if ((c === "<" || c === ">") && s[this.i + 1] === "(") { cur.words.push(this.procSub()); continue; }
      if (c === "<" || c === ">" || (c === "&" && s[this.i + 1] === ">")) { cur.redirects.push(this.redirect()); continue; }
      if (c === "(") {
        if (cur.words.length === 1 && /^\(\s*\)/.test(s.slice(this.i))) {
          // `name() { …; }`: the body's commands are judged as if they ran; the name is not a command.
          this.i = s.indexOf(")", this.i) + 1;
          cur = fresh(false);
          continue;
        }
        if (s[this.i - 1] === "=") {
          // `declare -A X=(…)`, `X=(a b)`: an array literal, data the guard does not expand.
          this.i = scanBalanced(s, this.i + 1);
          const last = cur.words.at(-1) ?? cur.assigns.at(-1)?.value;
          if (last) { last.opaque = true; last.text += OPAQUE; }
          continue;
        }
        if (cur.words.length) this.fail("a '(' inside a command is not understood");
        this.i++;
        this.finish(cur);
        cur = fresh(false);
        this.list(")");
        continue;
      }
      const fd = /^\d+(?=[<>])/.exec(s.slice(this.i, this.i + 12));
      if (fd) { this.i += fd[0].length; cur.redirects.push(this.redirect()); continue; }
      const start = this.i;
      const w = this.word();
      const raw = s.slice(start, this.i);
      const eq = /^([A-Za-z_][A-Za-z0-9_]*)\+?=/.exec(raw);
      if (eq && cur.words.length === 0) {
        cur.assigns.push({ name: eq[1]!, value: { ...w, text: w.text.slice(w.text.indexOf("=") + 1) } });
      } else if (cur.words.length === 0 && raw === "case") {
        this.caseHead();
      } else if (cur.words.length === 0 && raw === "esac" && this.cases.length) {
        this.finish(cur); cur = fresh(false); this.cases.pop();
      } else if (cur.words.length === 0 && raw === "function") {
        while (s[this.i] === " " || s[this.i] === "\t") this.i++;
        this.word(); // the function's name
        const paren = /^\s*\(\s*\)/.exec(s.slice(this.i));
        if (paren) this.i += paren[0].length;
      } else if (cur.words.length === 0 && !w.opaque && raw === w.text && REFUSED_WORDS.has(w.text)) {
        this.fail(`'${w.text}' is not understood`);
      } else if (cur.words.length === 0 && raw === w.text && KEYWORDS.has(w.text)) {
        continue; // `if`, `then`, `do`, `!`, `{`…: the next word is a command
      } else cur.words.push(w);
    }
  }

  private finish(cur: Simple): void {
    if (!cur.words.length && !cur.assigns.length && !cur.redirects.length) return;
    const expanded = this.expandAlias(cur, 0);
    for (const c of expanded) {
      this.remember(c);
      this.out.push(c);
    }
  }

  /** Aliases the line defined are expanded (bash may not, but the guard assumes the worst). */
  private expandAlias(cur: Simple, n: number): Simple[] {
    const first = cur.words[0];
    const value = first && !first.opaque ? this.scope.aliases.get(first.text) : undefined;
    if (value === undefined) return [cur];
    if (n > 8) this.fail("aliases nested too deeply");
    const inner = parseShell(value, this.scope, this.depth + 1);
    const last = inner.pop() ?? fresh(cur.piped);
    const merged: Simple = { ...last, words: [...last.words, ...cur.words.slice(1)], redirects: [...last.redirects, ...cur.redirects], piped: cur.piped || last.piped };
    return [...inner, ...this.expandAlias(merged, n + 1)];
  }

  /** Assignments, `export`, `alias` and `unset` change what later words expand to. */
  private remember(c: Simple): void {
    const set = (name: string, v: Word) => (v.opaque ? this.scope.vars.delete(name) : this.scope.vars.set(name, v.text));
    if (!c.words.length) return c.assigns.forEach((a) => set(a.name, a.value));
    const cmd = c.words[0]!.text;
    const args = c.words.slice(1);
    if (["export", "declare", "typeset", "local", "readonly"].includes(cmd)) {
      for (const a of args) {
        const k = a.text.indexOf("=");
        if (k > 0 && NAME.test(a.text.slice(0, k))) set(a.text.slice(0, k), { ...a, text: a.text.slice(k + 1) });
      }
    } else if (cmd === "alias") {
      for (const a of args) {
        const k = a.text.indexOf("=");
        if (k > 0) this.scope.aliases.set(a.text.slice(0, k), a.opaque ? OPAQUE : a.text.slice(k + 1));
      }
    } else if (cmd === "unset" || cmd === "unalias") {
      for (const a of args) (cmd === "unset" ? this.scope.vars : this.scope.aliases).delete(a.text);
    }
  }

  private redirect(): Redirect {
    const s = this.src;
    const op = /^(<<<|<<-|<<|&>>|&>|>>|>\||>&|<&|<>|<|>)/.exec(s.slice(this.i, this.i + 3))![0];
    this.i += op.length;
    while (s[this.i] === " " || s[this.i] === "\t") this.i++;
    if ((s[this.i] === "<" || s[this.i] === ">") && s[this.i + 1] === "(") return { op, target: this.procSub() };
    if (s[this.i] === undefined || META.has(s[this.i]!)) this.fail(`'${op}' has no target`);
    const start = this.i;
    const target = this.word();
    const r: Redirect = { op, target };
    if (op === "<<<") r.data = target.text;
    if (op === "<<" || op === "<<-") {
      const raw = s.slice(start, this.i);
      this.heredocs.push(r);
      this.heredocDelims.push({ quoted: /['"\\]/.test(raw), delim: target.text, strip: op === "<<-" });
    }
    return r;
  }

  /** `case WORD in`: the subject is a word like any other; patterns follow. */
  private caseHead(): void {
    const s = this.src;
    for (;;) {
      while (s[this.i] === " " || s[this.i] === "\t" || s[this.i] === "\n") this.i++;
      if (s[this.i] === undefined) this.fail("a case statement without 'in'");
      const start = this.i;
      this.word();
      if (s.slice(start, this.i) === "in") break;
      if (this.i === start) this.fail("a case statement is not understood");
    }
    this.cases.push("pattern");
  }

  /** One branch's pattern, or the closing `esac`; patterns are data. */
  private casePattern(): void {
    if (/^esac(?=[\s;&|)]|$)/.test(this.src.slice(this.i))) { this.i += 4; this.cases.pop(); return; }
    this.i = scanCasePattern(this.src, this.i);
    this.cases[this.cases.length - 1] = "body";
  }

  /** After a newline: the pending heredocs' bodies, up to their delimiter lines. */
  private readHeredocs(): void {
    const s = this.src;
    for (let k = 0; k < this.heredocDelims.length; k++) {
      const d = this.heredocDelims[k]!;
      const lines: string[] = [];
      for (;;) {
        if (this.i >= s.length) this.fail(`the heredoc '${d.delim}' is never ended`);
        const nl = s.indexOf("\n", this.i);
        const end = nl < 0 ? s.length : nl;
        const line = s.slice(this.i, end);
        this.i = nl < 0 ? s.length : nl + 1;
        if ((d.strip ? line.replace(/^\t+/, "") : line) === d.delim) break;
        lines.push(line);
      }
      const body = lines.join("\n");
      // An unquoted heredoc expands $(…) and backticks: the guard does not follow those.
      if (!d.quoted && /\$\(|`/.test(body)) this.fail("a heredoc with command substitution is not understood");
      this.heredocs[k]!.data = body;
    }
    this.heredocs = [];
    this.heredocDelims = [];
  }

  /** `<(…)` / `>(…)`: the commands run; the word is a path nobody can see. */
  private procSub(): Word {
    this.i += 2;
    this.sub();
    return { text: OPAQUE, opaque: true, glob: false, vars: [] };
  }

  /** Parses a `$(…)` or `(…)` body up to its `)`, adding its commands to the output. */
  private sub(): void {
    const p = new Parser(this.src, this.scope, this.depth + 1);
    if (this.depth + 1 > MAX_DEPTH) this.fail("commands nested too deeply");
    p.i = this.i;
    p.list(")");
    this.i = p.i;
    this.out.push(...p.out);
  }

  private word(): Word {
    const s = this.src;
    const w: Word = { text: "", opaque: false, glob: false, vars: [] };
    let quotedAny = false;
    for (;;) {
      const c = s[this.i];
      if (c === undefined || META.has(c)) break;
      if (c === "\\") {
        if (s[this.i + 1] === "\n") { this.i += 2; continue; }
        if (s[this.i + 1] === undefined) this.fail("a trailing '\\'");
        w.text += s[this.i + 1]; this.i += 2; continue;
      }
      if (c === "'") {
        const end = s.indexOf("'", this.i + 1);
        if (end < 0) this.fail("a ' is never closed");
        w.text += s.slice(this.i + 1, end); this.i = end + 1; quotedAny = true; continue;
      }
      if (c === "$" && s[this.i + 1] === "'") { const a = scanAnsi(s, this.i + 2); w.text += a.text; this.i = a.end; quotedAny = true; continue; }
      if (c === '"' || (c === "$" && s[this.i + 1] === '"')) { this.i += c === "$" ? 2 : 1; this.dquote(w); quotedAny = true; continue; }
      if (c === "$") { this.dollar(w, false); continue; }
      if (c === "`") { this.backtick(w); continue; }
      if (c === "*" || c === "?" || (c === "[" && /^\[[^\s;&|<>()]*\]/.test(s.slice(this.i)))) w.glob = true;
      if (c === OPAQUE) w.opaque = true;
      if (c === "{" && /^\{[^{}\s]*(,|\.\.)[^{}\s]*\}/.test(s.slice(this.i))) w.opaque = true; // brace expansion
      if (c === "~" && w.text === "" && !quotedAny) { w.text += "~"; this.i++; continue; }
      w.text += c; this.i++;
    }
    if (w.opaque && !w.text.includes(OPAQUE)) w.text += OPAQUE;
    return w;
  }

  private dquote(w: Word): void {
    const s = this.src;
    for (;;) {
      const c = s[this.i];
      if (c === undefined) this.fail('a " is never closed');
      if (c === '"') { this.i++; return; }
      if (c === "\\" && /["\\$`\n]/.test(s[this.i + 1] ?? "")) {
        if (s[this.i + 1] !== "\n") w.text += s[this.i + 1];
        this.i += 2; continue;
      }
      if (c === "$") { this.dollar(w, true); continue; }
      if (c === "`") { this.backtick(w); continue; }
      w.text += c; this.i++;
    }
  }

  private dollar(w: Word, quoted: boolean): void {
    const s = this.src;
    const n = s[this.i + 1];
    const opaque = () => { w.opaque = true; w.text += OPAQUE; };
    if (n === "(" && s[this.i + 2] === "(") { this.i = scanBalanced(s, this.i + 3, 2); return opaque(); }
    if (n === "(") { this.i += 2; this.sub(); return opaque(); }
    if (n === "{") {
      const end = s.indexOf("}", this.i);
      if (end < 0) this.fail("a ${ is never closed");
      const inner = s.slice(this.i + 2, end);
      this.i = end + 1;
      if (NAME.test(inner)) return this.variable(w, inner, quoted);
      const name = /^#?!?([A-Za-z_][A-Za-z0-9_]*)/.exec(inner)?.[1];
      if (name) w.vars.push(name);
      return opaque();
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(this.i + 1, this.i + 257))?.[0];
    if (name) { this.i += 1 + name.length; return this.variable(w, name, quoted); }
    if (n !== undefined && /[0-9@*#?$!\-]/.test(n)) { this.i += 2; return opaque(); }
    w.text += "$"; this.i++;
  }

  /** Unquoted, a value with blanks or glob characters is split and matched by the shell: the guard calls it unseen. */
  private variable(w: Word, name: string, quoted: boolean): void {
    w.vars.push(name);
    const v = this.scope.vars.get(name);
    // Once IFS is set, any unquoted expansion may split anywhere.
    const split = !quoted && (/[\s*?[]/.test(v ?? "") || this.scope.vars.has("IFS"));
    if (v === undefined || split) { w.opaque = true; w.text += OPAQUE; } else w.text += v;
  }

  private backtick(w: Word): void {
    const s = this.src;
    let body = "";
    this.i++;
    for (;;) {
      const c = s[this.i];
      if (c === undefined) this.fail("a ` is never closed");
      if (c === "`") { this.i++; break; }
      if (c === "\\" && /[`\\$]/.test(s[this.i + 1] ?? "")) { body += s[this.i + 1]; this.i += 2; continue; }
      body += c; this.i++;
    }
    this.out.push(...parseShell(body, this.scope, this.depth + 1));
    w.opaque = true;
    w.text += OPAQUE;
  }
}

/** Reserved words and prefixes after which the next word is the command: their structure does not matter here. */
const KEYWORDS = new Set(["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time", "for", "in"]);

function fresh(piped: boolean): Simple {
  return { words: [], assigns: [], redirects: [], piped };
}
