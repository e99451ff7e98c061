import { z } from "zod";
import type { BatchInput } from "../facts/types";
import { check, type Doc } from "./parse";
import { FactSink, resourceFacts } from "./facts";
import { parseUrn } from "./urn";

const Resource = z.looseObject({
  urn: z.string(),
  custom: z.boolean().optional(),
  id: z.string().optional(),
  type: z.string(),
  inputs: z.unknown().optional(),
  outputs: z.unknown().optional(),
  parent: z.string().optional(),
  provider: z.string().optional(),
  protect: z.boolean().optional(),
  dependencies: z.array(z.string()).nullish(),
  modified: z.string().optional(),
});
const Export = z.looseObject({
  version: z.literal(3),
  deployment: z.looseObject({
    manifest: z.looseObject({ time: z.string() }),
    resources: z.array(Resource).nullish(),
    pending_operations: z.array(z.unknown()).nullish(),
  }),
});

/**
 * `pulumi stack export` → what exists, valid from the checkpoint's time. Resources of the stack that the
 * store holds but the export lacks stop being valid at that time.
 */
export function mapExport(doc: Doc, inputSha256: string, opts: { stack?: string; at?: number }): BatchInput {
  const e = check(Export, doc.items[0]!.value, doc.items[0]!.line, doc.lineOf);
  const at = opts.at ?? Date.parse(e.deployment.manifest.time);
  const sink = new FactSink();
  let stack = opts.stack;
  for (const r of e.deployment.resources ?? []) {
    stack ??= parseUrn(r.urn)?.stack;
    resourceFacts(sink, { ...r, dependencies: r.dependencies ?? undefined }, at);
  }
  const complete = (e.deployment.pending_operations ?? []).length === 0;
  return {
    kind: "export",
    inputSha256,
    stack,
    complete,
    vertices: [...sink.vertices].map(([id, kind]) => ({ id, kind })),
    ops: sink.ops,
    ...(stack ? { retractMissing: { subjectPrefix: `urn:pulumi:${stack}::`, at } } : {}),
  };
}
