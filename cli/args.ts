import { parseArgs as parseFlags } from "node:util";
import { UsageError } from "./exit";
import { parseIsoTime } from "../state-model/time";
import { esc } from "./escape";

export interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

/**
 * `--name value`, `--name=value` and boolean flags, through Node's `util.parseArgs`; anything not declared is a
 * usage error. Non-strict mode, checked token by token here, so that a value may start with a dash
 * (`--reason -x`) and each refusal names its flag in our words.
 */
export function parseArgs(argv: string[], valued: string[], booleans: string[]): Parsed {
  const options = Object.fromEntries([
    ...booleans.map((n) => [n, { type: "boolean" as const }]),
    ...valued.map((n) => [n, { type: "string" as const }]),
  ]);
  const { tokens } = parseFlags({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const out: Parsed = { positional: [], flags: new Map() };
  for (const t of tokens) {
    if (t.kind === "positional") out.positional.push(t.value);
    // `--` would end the options here but not for main's `--json`/`--help` checks: refused, as before.
    else if (t.kind === "option-terminator") throw new UsageError("unknown option --");
    else if (!t.rawName.startsWith("--")) throw new UsageError(`unknown option ${argv[t.index]!.split("=")[0]}`);
    else if (valued.includes(t.name)) {
      if (t.value === undefined) throw new UsageError(`--${t.name} needs a value`);
      out.flags.set(t.name, t.value);
    } else if (!booleans.includes(t.name)) throw new UsageError(`unknown option --${t.name}`);
    else if (t.inlineValue) throw new UsageError(`--${t.name} takes no value`);
    else out.flags.set(t.name, true);
  }
  return out;
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

/** A time flag: strict ISO-8601 within 1970–9999 (state-model/time.ts), or `now`; the error names the flag. */
export function time(p: Parsed, name: string): Date | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (v === "now") return new Date();
  const t = parseIsoTime(v);
  if (typeof t !== "number") throw new UsageError(`--${name}: '${esc(v.slice(0, 64))}' is ${t.error}; use e.g. 2026-11-24T12:00:00Z, 2026-11-24 or now`);
  return new Date(t);
}

/** A whole-number flag within [min, max]; the error names the flag. */
export function int(p: Parsed, name: string, min: number, max: number): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name}: '${esc(v.slice(0, 32))}' is not a whole number from ${min} to ${max}`);
  return n;
}
