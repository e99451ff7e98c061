import { findNodeAtLocation, parseTree, type Node, type ParseError } from "jsonc-parser";
import type { z } from "zod";
import { InputError } from "./errors";

export type Kind = "events" | "preview" | "export" | "plan";
export const KINDS: readonly Kind[] = ["events", "preview", "export", "plan"];

export interface Doc {
  kind: Kind;
  /** The events (kind events) or the one document, with the 1-based line each starts on. */
  items: { line: number; value: unknown }[];
  /** For documents: maps a JSON path to its line. */
  lineOf(path: (string | number)[]): number | undefined;
}

const lineAt = (text: string, offset: number) => text.slice(0, offset).split("\n").length;

/** Deepest nesting of arrays and objects accepted; far beyond any engine output, and far below a stack overflow. */
export const MAX_DEPTH = 64;

/**
 * Refuses JSON nested deeper than MAX_DEPTH, naming the line, before any recursive parser or mapper sees it.
 * One pass without recursion from `start` (the offset of line `firstLine`); brackets inside strings do not
 * count, and no string spans a line break (JSON has none), so a stray quote cannot hide what follows.
 */
export function checkNesting(text: string, start = 0, firstLine = 1): void {
  let depth = 0;
  let line = firstLine;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      inString = false;
    } else if (inString) {
      if (c === 92 && text.charCodeAt(i + 1) !== 10) i++; // a backslash escapes the next character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > MAX_DEPTH) throw new InputError(line, undefined, `nested deeper than ${MAX_DEPTH} levels`);
    } else if ((c === 125 || c === 93) && depth > 0) depth--;
  }
}

function strictJson(text: string, firstLine: number): { value: unknown; tree: Node } {
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  if (errors.length || !tree) {
    const off = errors[0]?.offset ?? text.length;
    throw new InputError(firstLine + lineAt(text, off) - 1, undefined, "broken JSON (truncated or malformed)");
  }
  return { value: JSON.parse(text) as unknown, tree };
}

function kindOfObject(o: Record<string, unknown>): Kind | undefined {
  if ("sequence" in o && "timestamp" in o) return "events";
  if ("deployment" in o && "version" in o) return "export";
  if ("resourcePlans" in o) return "plan";
  if ("steps" in o || "changeSummary" in o) return "preview";
  return undefined;
}

/** Recognises the kind (or checks the one asked for) and parses; text before a document is skipped. */
export function parseInput(text: string, want?: Kind): Doc {
  const lines = text.split("\n");
  const first = lines.findIndex((l) => l.trim().startsWith("{"));
  if (first < 0) throw new InputError(undefined, undefined, "no JSON found: expected engine events, a preview, a stack export or a plan");
  checkNesting(text, lines.slice(0, first).reduce((n, l) => n + l.length + 1, 0), first + 1);
  const firstLine = lines[first]!.trim();
  let looksNdjson = false;
  try {
    const o = JSON.parse(firstLine) as Record<string, unknown>;
    looksNdjson = kindOfObject(o) === "events";
  } catch {
    /* a multi-line document */
  }
  // `pulumi up --json` without --skip-preview prints the preview's document, then the update's event stream:
  // the update is the events (the preview said what they would be).
  const events = looksNdjson ? first : eventsAfterPreview(lines, first);
  if (events !== undefined) return eventStream(lines, events, want);
  return documentOf(lines, first, want);
}

/** The line where an event stream starts right after a leading preview document, if the text is that shape. */
function eventsAfterPreview(lines: string[], first: number): number | undefined {
  for (let i = first + 1; i < lines.length; i++) {
    if (!lines[i]!.startsWith('{"sequence":') || lines[i - 1]!.trim() !== "}") continue;
    try {
      const doc = JSON.parse(lines.slice(first, i).join("\n")) as Record<string, unknown>;
      return kindOfObject(doc) === "preview" ? i : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function eventStream(lines: string[], first: number, want: Kind | undefined): Doc {
  const items: Doc["items"] = [];
  lines.forEach((l, i) => {
    if (i < first || l.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      throw new InputError(i + 1, undefined, "broken JSON in the event stream (truncated or malformed line)");
    }
    items.push({ line: i + 1, value: v });
  });
  if (want && want !== "events") throw new InputError(first + 1, undefined, `expected ${want}, found an engine event stream`);
  return { kind: "events", items, lineOf: () => undefined };
}

function documentOf(lines: string[], first: number, want: Kind | undefined): Doc {
  const body = lines.slice(first).join("\n");
  const { value, tree } = strictJson(body, first + 1);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InputError(first + 1, undefined, "expected a JSON object");
  }
  const kind = kindOfObject(value as Record<string, unknown>);
  if (!kind) {
    throw new InputError(first + 1, undefined, "unknown kind: not engine events, a preview (steps), a stack export (deployment) or a plan (resourcePlans)");
  }
  if (want && want !== kind) throw new InputError(first + 1, undefined, `expected ${want}, found ${kind}`);
  return {
    kind,
    items: [{ line: first + 1, value }],
    lineOf: (p) => {
      for (let n = p.length; n >= 0; n--) {
        const node = findNodeAtLocation(tree, p.slice(0, n));
        if (node) return first + lineAt(body, node.offset);
      }
      return undefined;
    },
  };
}

/** Validates with zod; the first problem becomes an InputError naming its line and field path. */
export function check<T>(schema: z.ZodType<T>, v: unknown, line: number | undefined, lineOf?: (p: (string | number)[]) => number | undefined, prefix: (string | number)[] = []): T {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = [...prefix, ...(issue.path as (string | number)[])];
  const field = path.map((p, i) => (typeof p === "number" ? `[${p}]` : i ? `.${p}` : p)).join("");
  throw new InputError(lineOf?.(path) ?? line, field || undefined, issue.message);
}
