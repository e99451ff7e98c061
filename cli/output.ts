import { esc, escLines, safeJson } from "./escape";

/**
 * Everything a command prints goes through here, so that the audit log can hash exactly what was shown.
 * Lines for people carry no control characters but their own line breaks (values from input go through
 * `esc` or `shown` first, so that they cannot start a line either); `--json` output is JSON only.
 */
export class Output {
  private readonly chunks: string[] = [];
  constructor(readonly json: boolean) {}
  line(s = ""): void {
    if (this.json) throw new Error("a human-readable line in --json output (a bug: use data())");
    this.chunks.push(`${escLines(s)}\n`);
  }
  data(v: unknown): void {
    this.chunks.push(`${safeJson(v, 2)}\n`);
  }
  text(): string {
    return this.chunks.join("");
  }
}

/** A progress or warning line for people on stderr, escaped like `Output.line`. */
export function note(s: string): void {
  process.stderr.write(`demesne: ${escLines(s)}\n`);
}

/** A plain table for people; every cell escaped (a cell is one line). */
export function table(rows: Record<string, unknown>[], cols: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? "" : esc(v));
  const width = cols.map((c) => Math.min(60, Math.max(c.length, ...rows.map((r) => cell(r[c]).length))));
  const fmt = (vals: string[]) =>
    vals.map((v, i) => (v.length > width[i]! ? `${v.slice(0, width[i]! - 1)}…` : v.padEnd(width[i]!))).join("  ").trimEnd();
  return [fmt(cols), fmt(width.map((w) => "-".repeat(w))), ...rows.map((r) => fmt(cols.map((c) => cell(r[c]))))].join("\n");
}
