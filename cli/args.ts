import { UsageError } from "./exit";

export interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

/** `--name value`, `--name=value` and boolean flags; anything not declared is a usage error. */
export function parseArgs(argv: string[], valued: string[], booleans: string[]): Parsed {
  const out: Parsed = { positional: [], flags: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--") || a === "-") {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (booleans.includes(name) && eq < 0) out.flags.set(name, true);
    else if (valued.includes(name)) {
      const v = eq < 0 ? argv[++i] : a.slice(eq + 1);
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      out.flags.set(name, v);
    } else throw new UsageError(`unknown option --${name}`);
  }
  return out;
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

/** A time argument: ISO-8601 (or anything Date.parse takes), or `now`. */
export function time(p: Parsed, name: string): Date | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (v === "now") return new Date();
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--${name}: '${v}' is not a time (use ISO-8601, e.g. 2026-11-24T12:00:00Z)`);
  return new Date(t);
}
