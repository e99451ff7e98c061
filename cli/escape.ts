// Strings that came from input (actor names, subjects, facts, host output, file names) are shown escaped: a
// terminal acts on control characters and reorders text around bidi overrides, so raw input could rewrite
// what an operator sees (erase a line with \r, recolour or retitle with ESC, hide a token behind U+202E).

/**
 * What is never printed raw: C0 controls, DEL, C1 controls, and the bidi embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069). Everything else, including backslashes, is left as it is.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\u001b": "\\e" };

function escapeOne(c: string): string {
  const n = c.charCodeAt(0);
  return NAMED[c] ?? (n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`);
}

/**
 * One value from input, for a human: every control character (newlines too, so a value can never start a
 * line of its own) becomes a visible escape such as `\e`, `\r`, `\x07` or `\u202e`. Printable text is
 * unchanged, and escaping twice changes nothing more (the escapes are printable).
 */
export function esc(v: unknown): string {
  const s = typeof v === "string" ? v : v === undefined ? "" : (JSON.stringify(v) ?? String(v));
  return s.replace(CONTROL, escapeOne);
}

/** A whole block of output: like `esc`, but the block's own line breaks stay. The last net under `esc`. */
export function escLines(s: string): string {
  return s.replace(CONTROL_BUT_NEWLINE, escapeOne);
}

/** `shown\`approved by ${actor}\``: the template's own text as written, every interpolated value through `esc`. */
export function shown(parts: TemplateStringsArray, ...values: unknown[]): string {
  return parts.reduce((acc, part, i) => acc + part + (i < values.length ? esc(values[i]) : ""), "");
}

// JSON.stringify escapes C0 but leaves DEL, C1 and the bidi controls raw; \uXXXX is the same JSON value.
const JSON_UNSAFE = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** JSON for stdout: the same value as JSON.stringify, with no character a terminal acts on. */
export function safeJson(v: unknown, indent?: number): string {
  return (JSON.stringify(v, null, indent) ?? "null").replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
