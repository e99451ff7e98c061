import { z } from "zod";
import type { BatchInput } from "../facts/types";
import { check, type Doc } from "./parse";
import { FactSink } from "./facts";
import { parseUrn, vertexKindOf } from "./urn";
import { plannedInputs } from "../plan-format";

const ResourcePlan = z.looseObject({
  goal: z.looseObject({
    type: z.string().optional(),
    inputDiff: z.looseObject({
      adds: z.record(z.string(), z.unknown()).nullish(),
      updates: z.record(z.string(), z.unknown()).nullish(),
      deletes: z.array(z.string()).nullish(),
    }).nullish(),
  }).nullish(),
  steps: z.array(z.string()).nullish(),
  state: z.record(z.string(), z.unknown()).nullish(),
  seed: z.string().nullish(),
});
const Plan = z.looseObject({
  manifest: z.looseObject({ time: z.string().optional() }).nullish(),
  config: z.record(z.string(), z.unknown()).nullish(),
  resourcePlans: z.record(z.string(), ResourcePlan),
});

/** An update plan (`pulumi preview --save-plan`) → the approved steps it allows. */
export function mapPlan(doc: Doc, inputSha256: string, opts: { stack?: string; updateId?: string; at: number }): BatchInput {
  const p = check(Plan, doc.items[0]!.value, doc.items[0]!.line, doc.lineOf);
  const at = p.manifest?.time ? Date.parse(p.manifest.time) : opts.at;
  const sink = new FactSink();
  const updateId = opts.updateId ?? `plan-${inputSha256.slice(0, 16)}`;
  const update = sink.vertex(`update:${updateId}`, "update");
  let stack = opts.stack;
  for (const [urn, rp] of Object.entries(p.resourcePlans)) {
    stack ??= parseUrn(urn)?.stack;
    const step = sink.vertex(`step:${updateId}:plan:${urn}`, "step");
    sink.vertex(urn, vertexKindOf(rp.goal?.type ?? parseUrn(urn)?.type ?? ""));
    sink.edge(step, "update", update, at);
    sink.edge(step, "resource", urn, at);
    sink.assert(step, "op", (rp.steps ?? []).join(",") || "same", at);
    sink.assert(step, "type", rp.goal?.type ?? parseUrn(urn)?.type, at);
    if (rp.goal) sink.assert(step, "inputs", plannedInputs(rp), at);
    sink.assert(step, "status", "planned", at);
  }
  sink.assert(update, "plan", true, at);
  sink.assert(update, "config", p.config ?? {}, at);
  sink.assert(update, "complete", true, at);
  if (stack) sink.assert(update, "stack", stack, at);
  return { kind: "plan", inputSha256, stack, updateId, complete: true, vertices: [...sink.vertices].map(([id, kind]) => ({ id, kind })), ops: sink.ops };
}
