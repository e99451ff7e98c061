/**
 * Character scanners for the shell parser (shell.ts): the parts of the syntax that are data, not commands —
 * `$'…'` strings, case patterns, array literals, arithmetic. Each takes the source and a position and
 * returns where the construct ends, or throws ParseError.
 */
export class ParseError extends Error {
  override name = "ParseError";
}

const ANSI: Record<string, string> = { n: "\n", t: "\t", r: "\r", a: "\x07", b: "\b", e: "\x1b", E: "\x1b", f: "\f", v: "\v", "\\": "\\", "'": "'", '"': '"', "?": "?" };

const fail = (what: string, at: number): never => {
  throw new ParseError(`${what} (at character ${at + 1})`);
};

/** A `$'…'` string from just after its opening quote: its decoded text and the index after the closing quote. */
export function scanAnsi(s: string, i: number): { text: string; end: number } {
  let out = "";
  for (;;) {
    const c = s[i];
    if (c === undefined) return fail("a $' is never closed", i);
    if (c === "'") return { text: out, end: i + 1 };
    if (c !== "\\") { out += c; i++; continue; }
    const n = s[i + 1] ?? "";
    const code = /^x([0-9a-fA-F]{1,2})|^u([0-9a-fA-F]{1,4})|^U([0-9a-fA-F]{1,8})|^([0-7]{1,3})/.exec(s.slice(i + 1, i + 10));
    if (code) {
      const v = code[1] ?? code[2] ?? code[3];
      out += String.fromCodePoint(v !== undefined ? Number.parseInt(v, 16) : Number.parseInt(code[4]!, 8));
      i += 1 + code[0].length; continue;
    }
    out += ANSI[n] ?? `\\${n}`;
    i += 2;
  }
}

/** A case branch's pattern (`a|b)`, `(a)`) from its first character: the index after its `)`. */
export function scanCasePattern(s: string, i: number): number {
  if (s[i] === "(") i++;
  for (;;) {
    const c = s[i];
    if (c === undefined || c === "\n") return fail("a case pattern without ')'", i);
    if (c === ")") return i + 1;
    if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1);
      if (end < 0) fail(`a ${c} is never closed`, i);
      i = end + 1; continue;
    }
    i += c === "\\" ? 2 : 1;
  }
}

/** From just after an opening `(` (an array literal, `$((`): the index after the matching `)`, quotes skipped. */
export function scanBalanced(s: string, i: number, depth = 1): number {
  while (depth > 0) {
    const c = s[i];
    if (c === undefined) return fail("a '(' is never closed", i);
    if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1);
      if (end < 0) fail(`a ${c} is never closed`, i);
      i = end + 1; continue;
    }
    if (c === "\\") { i += 2; continue; }
    if (c === "(") depth++;
    else if (c === ")") depth--;
    i++;
  }
  return i;
}
