import { z } from "zod";
import type { BatchInput } from "../facts/types";
import { check, type Doc } from "./parse";
import { FactSink, resourceFacts } from "./facts";
import { parseUrn, vertexKindOf } from "./urn";
import { InputError } from "./errors";

// Only the fields we read are checked; the engine adds fields over time (sdk/go/common/apitype/events.go).
const StepMeta = z.looseObject({
  op: z.string(),
  urn: z.string(),
  type: z.string(),
  old: z.looseObject({}).nullish(),
  new: z.looseObject({}).nullish(),
  keys: z.array(z.string()).nullish(),
  diffs: z.array(z.string()).nullish(),
  detailedDiff: z.record(z.string(), z.unknown()).nullish(),
  provider: z.string().nullish(),
});
const State = z.looseObject({
  urn: z.string().optional(),
  type: z.string().optional(),
  id: z.string().optional(),
  custom: z.boolean().optional(),
  parent: z.string().optional(),
  provider: z.string().optional(),
  protect: z.boolean().optional(),
  inputs: z.unknown().optional(),
  outputs: z.unknown().optional(),
  dependencies: z.array(z.string()).nullish(),
});
const Envelope = z.looseObject({ sequence: z.number().int().nonnegative(), timestamp: z.number().int().nonnegative() });
const PayloadSchemas = {
  preludeEvent: z.looseObject({ config: z.record(z.string(), z.unknown()).nullish() }),
  resourcePreEvent: z.looseObject({ metadata: StepMeta, planning: z.boolean().optional() }),
  resOutputsEvent: z.looseObject({ metadata: StepMeta, planning: z.boolean().optional() }),
  resOpFailedEvent: z.looseObject({ metadata: StepMeta, status: z.number().optional(), steps: z.number().optional() }),
  diagnosticEvent: z.looseObject({ message: z.string(), severity: z.string(), urn: z.string().nullish(), ephemeral: z.boolean().optional() }),
  policyEvent: z.looseObject({
    resourceUrn: z.string().nullish(),
    message: z.string(),
    policyName: z.string(),
    policyPackName: z.string(),
    policyPackVersion: z.string().nullish(),
    enforcementLevel: z.string(),
    severity: z.string().nullish(),
  }),
  summaryEvent: z.looseObject({
    resourceChanges: z.record(z.string(), z.number()).nullish(),
    isPreview: z.boolean().optional(),
    durationSeconds: z.number().optional(),
    maybeCorrupt: z.boolean().optional(),
    result: z.string().optional(),
  }),
  cancelEvent: z.looseObject({}),
} as const;

const ANSI = /\u001b\[[0-9;]*m|<\{%[a-z]+%\}>/g;
// Only these end a URN. `delete-replaced` and its kin remove the old copy of a replaced resource, and the
// replacement lives on under the same URN (with create-before-delete they come after it).
const DELETES = new Set(["delete", "discard"]);

const stateOf = (m: z.infer<typeof StepMeta>, which: "old" | "new") => {
  const s = m[which];
  return s ? State.parse(s) : undefined;
};

/** An engine event stream (NDJSON) → facts: the update, its steps, resulting resources, diagnostics, policy findings. */
export function mapEvents(doc: Doc, inputSha256: string, opts: { stack?: string; updateId?: string }): BatchInput {
  const sink = new FactSink();
  const updateId = opts.updateId ?? `events-${inputSha256.slice(0, 16)}`;
  const update = sink.vertex(`update:${updateId}`, "update");
  let stack = opts.stack;
  let isPreview: boolean | undefined;
  let summary: z.infer<(typeof PayloadSchemas)["summaryEvent"]> | undefined;
  let failed = false;
  let cancelled = false;
  let diag = 0;
  let first: number | undefined;
  const effects: (() => void)[] = [];
  let last = 0;
  if (doc.items.length === 0) throw new InputError(undefined, undefined, "the event stream is empty");

  for (const { line, value } of doc.items) {
    const env = check(Envelope, value, line);
    const at = env.timestamp * 1000;
    first ??= at;
    last = Math.max(last, at);
    const present = Object.keys(PayloadSchemas).filter((k) => k in env);
    if (present.length === 0) continue; // stdout, progress, debugging events: not facts
    const name = present[0] as keyof typeof PayloadSchemas;
    const p = check(PayloadSchemas[name] as z.ZodType<Record<string, unknown>>, env[name], line, undefined, [name]);
    switch (name) {
      case "preludeEvent":
        sink.assert(update, "config", (p as { config?: unknown }).config ?? {}, at);
        break;
      case "resourcePreEvent":
      case "resOutputsEvent":
      case "resOpFailedEvent": {
        const m = (p as { metadata: z.infer<typeof StepMeta> }).metadata;
        stack ??= parseUrn(m.urn)?.stack;
        const step = sink.vertex(`step:${updateId}:${m.op}:${m.urn}`, "step");
        sink.edge(step, "update", update, at);
        sink.edge(step, "resource", m.urn, at);
        sink.vertex(m.urn, vertexKindOf(m.type));
        sink.assert(step, "op", m.op, at);
        sink.assert(step, "type", m.type, at);
        if (m.provider) sink.assert(step, "provider", m.provider, at);
        if (m.diffs?.length) sink.assert(step, "diffs", m.diffs, at);
        if (m.detailedDiff) sink.assert(step, "detailedDiff", m.detailedDiff, at);
        const next = stateOf(m, "new");
        if (next?.inputs !== undefined) sink.assert(step, "inputs", next.inputs, at);
        const status = name === "resourcePreEvent" ? "started" : name === "resOutputsEvent" ? "done" : "failed";
        sink.assert(step, "status", status, at);
        if (name === "resOpFailedEvent") failed = true;
        // A finished step of a real update changes what exists (known to be real only at the summary).
        if (name === "resOutputsEvent" && (p as { planning?: boolean }).planning !== true) {
          effects.push(() => {
            if (DELETES.has(m.op)) {
              for (const a of ["type", "custom", "id", "inputs", "outputs", "provider", "protect"]) sink.retract(m.urn, a, at);
            } else if (next && m.op !== "read-discard") {
              resourceFacts(sink, { ...next, urn: m.urn, type: m.type, dependencies: next.dependencies ?? undefined }, at);
            }
          });
        }
        break;
      }
      case "diagnosticEvent": {
        const d = p as { message: string; severity: string; urn?: string | null; ephemeral?: boolean };
        if (d.ephemeral) break;
        const id = sink.vertex(`diagnostic:${updateId}:${++diag}`, "diagnostic");
        sink.edge(id, "update", update, at);
        sink.assert(id, "severity", d.severity, at);
        sink.assert(id, "message", d.message.replace(ANSI, "").trimEnd(), at);
        if (d.urn) sink.assert(id, "urn", d.urn, at);
        break;
      }
      case "policyEvent": {
        const e = p as z.infer<(typeof PayloadSchemas)["policyEvent"]>;
        const id = sink.vertex(`finding:${updateId}:${e.policyPackName}:${e.policyName}:${e.resourceUrn ?? "stack"}`, "finding");
        sink.edge(id, "update", update, at);
        sink.assert(id, "policy", e.policyName, at);
        sink.assert(id, "policyPack", e.policyPackName, at);
        if (e.policyPackVersion) sink.assert(id, "policyPackVersion", e.policyPackVersion, at);
        sink.assert(id, "enforcementLevel", e.enforcementLevel, at);
        if (e.severity) sink.assert(id, "severity", e.severity, at);
        sink.assert(id, "message", e.message.replace(ANSI, "").trimEnd(), at);
        if (e.resourceUrn) sink.assert(id, "urn", e.resourceUrn, at);
        break;
      }
      case "summaryEvent":
        summary = p as typeof summary;
        isPreview = summary!.isPreview;
        break;
      case "cancelEvent":
        cancelled = true;
        break;
    }
  }
  if (isPreview !== true) for (const e of effects) e();
  const at = last;
  // The engine ends every event stream with a cancelEvent (its end-of-stream marker, seen in real streams):
  // only a stream without a summary was cut short.
  const complete = summary !== undefined;
  sink.assert(update, "started", new Date(first!).toISOString(), first!);
  sink.assert(update, "ended", new Date(last).toISOString(), at);
  sink.assert(update, "preview", isPreview ?? null, at);
  sink.assert(update, "complete", complete, at);
  sink.assert(update, "result", summary?.result ?? (failed ? "failed" : cancelled ? "cancelled" : "incomplete"), at);
  if (summary?.resourceChanges) sink.assert(update, "resourceChanges", summary.resourceChanges, at);
  if (stack) sink.assert(update, "stack", stack, at);
  return {
    kind: "events",
    inputSha256,
    stack,
    updateId,
    complete,
    vertices: [...sink.vertices].map(([id, kind]) => ({ id, kind })),
    ops: sink.ops,
  };
}
