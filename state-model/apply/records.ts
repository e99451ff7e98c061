// Approvals as records (ADR 0014): `demesne approve` records each approval as a fact of the plan's vertex, and
// `demesne apply` acts only on an approval it finds recorded there and not yet used. The approval file is the
// transport (and what an SSH signature signs); its sha256 is the approval's identity, so a file written or
// edited by hand matches no record. Using an approval is recorded before the engine starts, and the store
// holds at most one use of each approval (migration 0006), so two applies of one approval cannot both run.
import type { Store } from "../db/store";
import { recordBatch } from "../facts/writer";
import { sha256Hex } from "../../components/model/hash";
import type { Approval } from "./approval";
import type { PlanReview } from "./plan-review";

/** The attributes, on the vertex `plan:<sha256>`, keyed by the approval's id. */
export const APPROVED = "approval";
export const CONSUMED = "approval.consumed";

/** The vertex of a saved plan: a proposed update, so of kind `update`. */
export const planVertex = (plan: string) => `plan:${plan}`;

/** An approval's identity: the sha256 of its file exactly as `demesne approve` wrote it. */
export const approvalId = (fileText: string) => sha256Hex(fileText);

/** What is recorded of an approval: who, what and under which rules — never the tokens themselves. */
export interface ApprovalRecord {
  actor: string;
  at: string;
  stack: string;
  mode: string;
  maxTier: string;
  /** The T3 changes approved, as `op urn`. */
  t3: string[];
  /** sha256 of each token typed: proves which were given without storing a confirmation anyone may replay. */
  tokenDigests: string[];
  targets: string[];
  replaces: string[];
  signed: boolean;
}

export class ApprovalRefused extends Error {
  override name = "ApprovalRefused";
}

/** Records an approval of a reviewed plan; returns its id. */
export async function recordApproval(store: Store, a: Approval, fileText: string, review: PlanReview, signed: boolean): Promise<string> {
  const id = approvalId(fileText);
  const value: ApprovalRecord = {
    actor: a.actor, at: a.at, stack: a.stack, mode: a.mode, maxTier: review.maxTier,
    t3: review.t3.map((c) => `${c.op} ${c.urn}`),
    tokenDigests: a.tokens.map((t) => sha256Hex(t)),
    targets: a.targets, replaces: a.replaces ?? [], signed,
  };
  const subject = planVertex(a.plan);
  await recordBatch(store, {
    kind: "approval", inputSha256: sha256Hex(`approval\n${id}`), stack: a.stack, complete: true,
    vertices: [{ id: subject, kind: "update" }],
    ops: [{ subject, attribute: APPROVED, key: id, op: "assert", at: Date.parse(a.at), value }],
  });
  return id;
}

/**
 * The approval in `fileText` for `plan`, checked against the store: recorded by `demesne approve`, still in
 * force (not corrected away), never used. Throws ApprovalRefused saying which of these fails.
 */
export async function recordedApproval(store: Store, plan: string, fileText: string): Promise<string> {
  const id = approvalId(fileText);
  const rows = await store.query<{ attribute: string; current: boolean; at: string }>(
    `SELECT attribute, recorded_to = 'infinity' AND valid_to = 'infinity' AS current,
            to_char(recorded_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at
       FROM fact WHERE subject = $1 AND value_key = $2 AND attribute IN ($3, $4)`,
    [planVertex(plan), id, APPROVED, CONSUMED],
  );
  // A use is final, whatever was recorded after it: any row ever stored counts (the store's index agrees).
  const used = rows.rows.find((r) => r.attribute === CONSUMED);
  if (used) throw new ApprovalRefused(usedMessage(plan, id, used.at));
  if (!rows.rows.some((r) => r.attribute === APPROVED && r.current)) {
    throw new ApprovalRefused(
      `the approval file of plan ${plan.slice(0, 12)}… matches no approval recorded in the store (approval ${id.slice(0, 12)}…): ` +
        "an approval counts only as recorded by demesne approve; a file written or edited by hand is refused",
    );
  }
  return id;
}

const usedMessage = (plan: string, id: string, at?: string) =>
  `approval ${id.slice(0, 12)}… of plan ${plan.slice(0, 12)}… was already used by an apply${at ? ` (recorded ${at})` : ""}: ` +
  "an approval is used once; approve the plan again (demesne approve) to apply it again";

/**
 * Records the approval as used by this apply, before the engine starts. Two applies racing past the check in
 * recordedApproval meet the store's unique index on a use (SQLSTATE 23505): the second is refused.
 */
export async function consumeApproval(store: Store, plan: string, id: string, actor: string): Promise<void> {
  const subject = planVertex(plan);
  const at = Date.now();
  // A fresh nonce: a use never restates an earlier one, so the index sees every attempt.
  const nonce = sha256Hex(`${id}\n${at}\n${process.pid}\n${Math.random()}`);
  try {
    await recordBatch(store, {
      kind: "approval-use", inputSha256: nonce, complete: true,
      vertices: [{ id: subject, kind: "update" }],
      ops: [{ subject, attribute: CONSUMED, key: id, op: "assert", at, value: { by: actor, at: new Date(at).toISOString(), use: nonce.slice(0, 16) } }],
    });
  } catch (e) {
    if ((e as { code?: string }).code === "23505") throw new ApprovalRefused(usedMessage(plan, id));
    throw e;
  }
}
