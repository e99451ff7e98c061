import type { FactOp, VertexKind } from "../facts/types";
import { parseUrn, vertexKindOf } from "./urn";

/** Collects the vertices and fact ops of one input, in input order. */
export class FactSink {
  readonly vertices = new Map<string, VertexKind>();
  readonly ops: FactOp[] = [];

  vertex(id: string, kind: VertexKind): string {
    if (!this.vertices.has(id)) this.vertices.set(id, kind);
    return id;
  }
  assert(subject: string, attribute: string, value: unknown, at: number, key = ""): void {
    if (value === undefined) return;
    this.ops.push({ subject, attribute, key, op: "assert", at, value });
  }
  retract(subject: string, attribute: string, at: number, key = ""): void {
    this.ops.push({ subject, attribute, key, op: "retract", at });
  }
  edge(subject: string, rel: string, target: string, at: number): void {
    this.assert(subject, `rel:${rel}`, target, at, target);
  }
}

/** The attributes a resource's state gives it (stack export, or an update's outputs). */
export const RESOURCE_ATTRS = ["type", "custom", "id", "inputs", "outputs", "provider", "protect", "rel:parent", "rel:dependsOn"] as const;

export interface ResourceState {
  urn: string;
  type?: string;
  custom?: boolean;
  id?: string;
  inputs?: unknown;
  outputs?: unknown;
  parent?: string;
  provider?: string;
  protect?: boolean;
  dependencies?: string[];
}

export function resourceFacts(sink: FactSink, r: ResourceState, at: number): void {
  const type = r.type ?? parseUrn(r.urn)?.type ?? "unknown";
  sink.vertex(r.urn, vertexKindOf(type));
  sink.assert(r.urn, "type", type, at);
  sink.assert(r.urn, "custom", r.custom, at);
  if (r.id) sink.assert(r.urn, "id", r.id, at);
  sink.assert(r.urn, "inputs", r.inputs ?? {}, at);
  sink.assert(r.urn, "outputs", r.outputs ?? {}, at);
  if (r.provider) sink.assert(r.urn, "provider", r.provider, at);
  if (r.protect) sink.assert(r.urn, "protect", true, at);
  if (r.parent) sink.edge(r.urn, "parent", r.parent, at);
  for (const d of r.dependencies ?? []) sink.edge(r.urn, "dependsOn", d, at);
}
