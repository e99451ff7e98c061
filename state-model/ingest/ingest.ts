import type { Store } from "../db/store";
import { recordBatch, sha256Hex } from "../facts/writer";
import type { BatchInput, BatchResult } from "../facts/types";
import { mapEvents } from "./events";
import { mapExport } from "./export";
import { parseInput, type Kind } from "./parse";
import { mapPlan } from "./plan";
import { mapPreview } from "./preview";

export interface IngestOptions {
  kind?: Kind;
  stack?: string;
  updateId?: string;
  /** Valid time for inputs that carry none (a preview document); default now. */
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
  const batch = planIngest(text, opts);
  opts.onRecording?.(batch.kind as Kind, batch.ops.length);
  const r = await recordBatch(store, batch);
  return { ...r, kind: batch.kind as Kind, updateId: batch.updateId, stack: batch.stack, complete: batch.complete };
}
