import { z } from "zod";
import type { BatchInput } from "../facts/types";
import { check, type Doc } from "./parse";
import { FactSink } from "./facts";
import { parseUrn, vertexKindOf } from "./urn";

const Step = z.looseObject({
  op: z.string(),
  urn: z.string(),
  provider: z.string().nullish(),
  oldState: z.looseObject({ type: z.string().optional(), inputs: z.unknown().optional() }).nullish(),
  newState: z.looseObject({ type: z.string().optional(), inputs: z.unknown().optional() }).nullish(),
  diffReasons: z.array(z.string()).nullish(),
  replaceReasons: z.array(z.string()).nullish(),
  detailedDiff: z.record(z.string(), z.unknown()).nullish(),
});
const Preview = z.looseObject({
  config: z.record(z.string(), z.unknown()).nullish(),
  steps: z.array(Step).nullish(),
  diagnostics: z.array(z.looseObject({ message: z.string(), severity: z.string(), urn: z.string().nullish() })).nullish(),
  duration: z.number().nullish(),
  changeSummary: z.record(z.string(), z.number()).nullish(),
});

/** A `pulumi preview --json` document → the planned steps of one preview (it has no time of its own). */
export function mapPreview(doc: Doc, inputSha256: string, opts: { stack?: string; updateId?: string; at: number }): BatchInput {
  const p = check(Preview, doc.items[0]!.value, doc.items[0]!.line, doc.lineOf);
  const sink = new FactSink();
  const updateId = opts.updateId ?? `preview-${inputSha256.slice(0, 16)}`;
  const update = sink.vertex(`update:${updateId}`, "update");
  const at = opts.at;
  let stack = opts.stack;
  for (const s of p.steps ?? []) {
    stack ??= parseUrn(s.urn)?.stack;
    const step = sink.vertex(`step:${updateId}:${s.op}:${s.urn}`, "step");
    sink.vertex(s.urn, vertexKindOf(s.newState?.type ?? s.oldState?.type ?? parseUrn(s.urn)?.type ?? ""));
    sink.edge(step, "update", update, at);
    sink.edge(step, "resource", s.urn, at);
    sink.assert(step, "op", s.op, at);
    sink.assert(step, "type", s.newState?.type ?? s.oldState?.type ?? parseUrn(s.urn)?.type, at);
    if (s.provider) sink.assert(step, "provider", s.provider, at);
    if (s.diffReasons?.length) sink.assert(step, "diffs", s.diffReasons, at);
    if (s.replaceReasons?.length) sink.assert(step, "replaceReasons", s.replaceReasons, at);
    if (s.detailedDiff) sink.assert(step, "detailedDiff", s.detailedDiff, at);
    if (s.newState?.inputs !== undefined) sink.assert(step, "inputs", s.newState.inputs, at);
    sink.assert(step, "status", "planned", at);
  }
  (p.diagnostics ?? []).forEach((d, i) => {
    const id = sink.vertex(`diagnostic:${updateId}:${i + 1}`, "diagnostic");
    sink.edge(id, "update", update, at);
    sink.assert(id, "severity", d.severity, at);
    sink.assert(id, "message", d.message.trimEnd(), at);
    if (d.urn) sink.assert(id, "urn", d.urn, at);
  });
  const complete = p.changeSummary != null;
  sink.assert(update, "preview", true, at);
  sink.assert(update, "config", p.config ?? {}, at);
  sink.assert(update, "complete", complete, at);
  sink.assert(update, "result", complete ? "succeeded" : "incomplete", at);
  if (p.changeSummary) sink.assert(update, "resourceChanges", p.changeSummary, at);
  if (stack) sink.assert(update, "stack", stack, at);
  return { kind: "preview", inputSha256, stack, updateId, complete, vertices: [...sink.vertices].map(([id, kind]) => ({ id, kind })), ops: sink.ops };
}
