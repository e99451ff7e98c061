/**
 * Many rows as one query parameter. node-pg quotes every element of an array parameter in JavaScript and the
 * server parses it again; for 200,000 facts five arrays cost more than the join or insert that used them
 * (ADR 0023). The same rows as one text of lines (fields split by \x1f, lines by \x1e) are split by the
 * server in C. A JSON text never holds a raw control character; a text column whose values hold a separator
 * goes as arrays, as before.
 */
export type Column =
  | { name: string; type: "text"; values: string[] }
  | { name: string; type: "float8"; values: (number | null)[] }
  /** JSON texts (or null). */
  | { name: string; type: "jsonb"; values: (string | null)[] };

const FIELD = "\x1f";
const LINE = "\x1e";
const SEPARATOR = /[\x1e\x1f]/;

/**
 * A FROM item `AS alias(col…, ord)` yielding the rows in order (ord counts from 1), with its parameters
 * numbered from `first`. Every column has the same length, at least one row.
 */
export function rowsParam(columns: Column[], alias: string, first = 1): { from: string; params: unknown[] } {
  const n = columns[0]!.values.length;
  const names = columns.map((c) => c.name).join(", ");
  const plain = columns.every((c) => c.type !== "text" || c.values.every((v) => !SEPARATOR.test(v)));
  if (plain) {
    const lines: string[] = new Array(n);
    for (let i = 0; i < n; i++) lines[i] = columns.map((c) => c.values[i] ?? "").join(FIELD);
    const field = (c: Column, i: number) => {
      const part = `split_part(l, E'\\x1f', ${i + 1})`;
      return c.type === "text" ? part : `nullif(${part}, '')::${c.type}`;
    };
    return {
      from: `(SELECT ${columns.map((c, i) => `${field(c, i)} AS ${c.name}`).join(", ")}, ord
                FROM string_to_table($${first}::text, E'\\x1e') WITH ORDINALITY AS x(l, ord)) AS ${alias}`,
      params: [lines.join(LINE)],
    };
  }
  return {
    from: `(SELECT ${columns.map((c) => (c.type === "jsonb" ? `${c.name}::jsonb AS ${c.name}` : c.name)).join(", ")}, ord
              FROM ROWS FROM (${columns.map((c, i) => `unnest($${first + i}::${c.type === "jsonb" ? "text" : c.type}[])`).join(", ")})
                   WITH ORDINALITY AS x(${names}, ord)) AS ${alias}`,
    params: columns.map((c) => c.values),
  };
}
