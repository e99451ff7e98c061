import type { Store } from "../db/store";
import { recordBatch, sha256Hex } from "../facts/writer";
import type { BatchInput, BatchResult } from "../facts/types";
import { parseIsoTime, TIME_MAX } from "../time";
import { InputError } from "./errors";
import { mapEvents } from "./events";
import { mapExport } from "./export";
import { parseInput, type Doc, type Kind } from "./parse";
import { mapPlan } from "./plan";
import { mapPreview } from "./preview";

export interface IngestOptions {
  kind?: Kind;
  stack?: string;
  updateId?: string;
  /** Valid time for inputs that carry none (a preview document, a plan without a time), or for a stack
   *  export instead of its checkpoint's time; default now. Refused for inputs with times of their own. */
  at?: number;
  /** Told when the input is parsed and its transaction starts (progress for people). */
  onRecording?: (kind: Kind, ops: number) => void;
}

export interface IngestReport extends BatchResult {
  kind: Kind;
  updateId?: string;
  stack?: string;
  complete: boolean;
}

/** Parses and maps an input completely before anything is written: bad input writes nothing. */
export function planIngest(text: string, opts: IngestOptions = {}): BatchInput {
  const doc = parseInput(text, opts.kind);
  checkTimes(doc, opts);
  const sha = sha256Hex(text);
  const at = opts.at ?? Date.now();
  switch (doc.kind) {
    case "events":
      return mapEvents(doc, sha, opts);
    case "preview":
      return mapPreview(doc, sha, { ...opts, at });
    case "export":
      return mapExport(doc, sha, opts);
    case "plan":
      return mapPlan(doc, sha, { ...opts, at });
  }
}

/** One input, one transaction; the same input twice adds nothing. */
export async function ingest(store: Store, text: string, opts: IngestOptions = {}): Promise<IngestReport> {
  return recordIngest(store, planIngest(text, opts), opts);
}

/** Records an input planned by `planIngest` (so that bad input is refused before the store is even opened). */
export async function recordIngest(store: Store, batch: BatchInput, opts: Pick<IngestOptions, "onRecording"> = {}): Promise<IngestReport> {
  opts.onRecording?.(batch.kind as Kind, batch.ops.length);
  const r = await recordBatch(store, batch);
  return { ...r, kind: batch.kind as Kind, updateId: batch.updateId, stack: batch.stack, complete: batch.complete };
}

const obj = (v: unknown) => (typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {});

/**
 * The input's own times are real times, and an option the input's kind would ignore is refused instead:
 * a valid time given for an event stream (its events carry theirs) or for a plan with a time, an update id
 * for a stack export (it names no update).
 */
function checkTimes(doc: Doc, opts: IngestOptions): void {
  const first = doc.items[0];
  const manifestTime = (path: string[], v: unknown, line: number | undefined) => {
    if (typeof v !== "string") return false;
    const t = parseIsoTime(v);
    if (typeof t !== "number") throw new InputError(doc.lineOf(path) ?? line, path.join("."), `'${v.slice(0, 40)}' is ${t.error}`);
    return true;
  };
  switch (doc.kind) {
    case "events":
      if (opts.at !== undefined) throw new InputError(first?.line, undefined, "--valid-at does not apply to an engine event stream: its events carry their own times");
      for (const { line, value } of doc.items) {
        const ts = obj(value).timestamp;
        if (typeof ts === "number" && ts * 1000 > TIME_MAX) throw new InputError(line, "timestamp", `${ts} is out of range (after 9999-12-31)`);
      }
      break;
    case "export":
      if (opts.updateId !== undefined) throw new InputError(first?.line, undefined, "--update-id does not apply to a stack export: it names no update");
      manifestTime(["deployment", "manifest", "time"], obj(obj(obj(first?.value).deployment).manifest).time, first?.line);
      break;
    case "plan":
      if (manifestTime(["manifest", "time"], obj(obj(first?.value).manifest).time, first?.line) && opts.at !== undefined) {
        throw new InputError(first?.line, undefined, "--valid-at does not apply to this plan: its manifest.time is its valid time");
      }
      break;
    case "preview":
      break;
  }
}
