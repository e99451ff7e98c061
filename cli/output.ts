/** Everything a command prints goes through here, so that the audit log can hash exactly what was shown. */
export class Output {
  private readonly chunks: string[] = [];
  constructor(readonly json: boolean) {}
  line(s = ""): void {
    this.chunks.push(`${s}\n`);
  }
  data(v: unknown): void {
    this.chunks.push(`${JSON.stringify(v, null, 2)}\n`);
  }
  text(): string {
    return this.chunks.join("");
  }
}

/** A plain table for people. */
export function table(rows: Record<string, unknown>[], cols: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));
  const width = cols.map((c) => Math.min(60, Math.max(c.length, ...rows.map((r) => cell(r[c]).length))));
  const fmt = (vals: string[]) =>
    vals.map((v, i) => (v.length > width[i]! ? `${v.slice(0, width[i]! - 1)}…` : v.padEnd(width[i]!))).join("  ").trimEnd();
  return [fmt(cols), fmt(width.map((w) => "-".repeat(w))), ...rows.map((r) => fmt(cols.map((c) => cell(r[c]))))].join("\n");
}
