/** The kinds of vertex the fleet model knows (the same list as the `vertex.kind` CHECK constraint). */
export const VERTEX_KINDS = [
  "host", "service", "package", "storage", "network", "identity", "alert",
  "resource", "step", "finding", "update", "diagnostic", "stack", "baseline",
] as const;
export type VertexKind = (typeof VERTEX_KINDS)[number];

/** Fact identity: (subject, attribute, key). key is "" for single-valued attributes. */
export interface FactRef {
  subject: string;
  attribute: string;
  key?: string;
}

export type FactOp = FactRef &
  (
    | { op: "assert"; at: number; value: unknown }
    | { op: "retract"; at: number }
    | { op: "correct"; from: number; to: number; value: unknown | null }
  );

/** What one ingestion or correction asks the store to record, in input order (later wins on ties). */
export interface BatchInput {
  kind: string;
  inputSha256: string;
  stack?: string;
  updateId?: string;
  complete: boolean;
  vertices: { id: string; kind: VertexKind }[];
  ops: FactOp[];
  actor?: string;
  reason?: string;
  /** A full snapshot (stack export): current subjects under this prefix that the batch lacks stop at `at`. */
  retractMissing?: {
    subjectPrefix: string;
    at: number;
    /** only these subjects, each one exactly (one host's observation; a fleet's findings in one batch) */
    subjects?: string[];
    /** only these attributes */
    attributes?: string[];
  };
}

export interface BatchResult {
  batchId: string;
  duplicate: boolean;
  factsAdded: number;
  factsClosed: number;
  factsUnchanged: number;
}
