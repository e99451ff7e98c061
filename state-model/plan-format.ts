// How a saved update plan (`pulumi preview --save-plan`) states a resource's inputs. The engine writes no full
// input map: `goal.inputDiff` holds what the step adds or updates, and `state` the proposed outputs (which, for
// a command step, carry its inputs too — a step the plan leaves alone appears only there).

export interface PlannedResource {
  goal?: {
    type?: string;
    inputDiff?: { adds?: Record<string, unknown> | null; updates?: Record<string, unknown> | null; deletes?: string[] | null } | null;
  } | null;
  steps?: string[] | null;
  state?: Record<string, unknown> | null;
}

/** The inputs the plan leaves the resource with: the proposed state, overlaid by what the step changes. */
export function plannedInputs(rp: PlannedResource): Record<string, unknown> {
  const diff = rp.goal?.inputDiff ?? {};
  const out: Record<string, unknown> = { ...(rp.state ?? {}), ...(diff.adds ?? {}), ...(diff.updates ?? {}) };
  for (const k of diff.deletes ?? []) delete out[k];
  return out;
}

/** A command step's triggers (`content:<sha256>`, `approval:<token>`) as the plan leaves them. */
export function plannedTriggers(rp: PlannedResource): unknown[] | undefined {
  const t = plannedInputs(rp).triggers;
  return Array.isArray(t) ? t : undefined;
}
