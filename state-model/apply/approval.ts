// Approvals bound to one plan's sha256 (praxis invariant 6): the rules a plan must meet to be approved — and
// again to be applied — and the files that hold a plan, its approval and the approval's SSH signature. The
// file carries an approval; the store's record of it (records.ts) is what makes it count.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { MODES, modeAllows, type Mode } from "../../components/model/tiers";
import type { PlanReview } from "./plan-review";

export interface Approval {
  plan: string;
  stack: string;
  actor: string;
  at: string;
  mode: string;
  /** The T3 tokens the approver typed. */
  tokens: string[];
  /** The --target list the plan was made with: the apply runs with the same one. */
  targets: string[];
  /** Steps the plan replaces (`demesne plan --layer … --replace`); the update must name them the same way. */
  replaces?: string[];
  /** Random: two approvals of one plan are two files with two ids, each used once. */
  nonce?: string;
}

/** Why a plan cannot be approved (or applied) under this mode with these tokens; undefined when it can. */
export function refusalOf(review: PlanReview, mode: Mode, tokens: string[]): string | undefined {
  if (!modeAllows(mode, review.maxTier)) {
    return `the plan holds a ${review.maxTier} change and mode '${mode}' allows up to ${MODES[mode]} (demesne:mode)`;
  }
  const targets = [...new Set(review.t3.map((c) => c.urn))];
  if (targets.length > 1) return `the plan holds ${targets.length} T3 targets; approve one T3 target at a time (pulumi preview --target)`;
  for (const c of review.t3) {
    if (!tokens.includes(c.token!)) return `T3 change ${c.op} of ${c.urn} needs its token typed after review: --token ${c.token}`;
  }
  return undefined;
}

/** Where plans and approvals live: beside the embedded store (or in $DEMESNE_STATE_DIR with PostgreSQL). */
export function approvalsDir(): string {
  const dir = path.resolve(process.env.DEMESNE_STATE_DIR || ".demesne", "plans");
  mkdirSync(dir, { recursive: true });
  return dir;
}

export const planFile = (sha: string) => path.join(approvalsDir(), `${sha}.plan.json`);
export const approvalFile = (sha: string) => path.join(approvalsDir(), `${sha}.approval.json`);
/** How the plan was made (its --target list), kept beside it and carried into the approval. */
export const planMetaFile = (sha: string) => path.join(approvalsDir(), `${sha}.meta.json`);

export const SIGNATURE_NAMESPACE = "demesne-approval";

/** Signs the approval file with the approver's SSH key (`ssh-keygen -Y sign`); the signature sits beside it. */
export function signApproval(file: string, key: string): string {
  execFileSync("ssh-keygen", ["-q", "-Y", "sign", "-f", key, "-n", SIGNATURE_NAMESPACE, file], { stdio: ["ignore", "ignore", "pipe"] });
  return `${file}.sig`;
}

/** Verifies the approval's signature against an allowed_signers file, for the approver named in it. */
export function verifyApproval(file: string, actor: string, allowedSigners: string): string | undefined {
  const sig = `${file}.sig`;
  if (!existsSync(sig)) return "the approval is not signed, and signed approvals are required (--allowed-signers)";
  const r = spawnSync("ssh-keygen", ["-Y", "verify", "-f", allowedSigners, "-I", actor, "-n", SIGNATURE_NAMESPACE, "-s", sig],
    { input: readFileSync(file), encoding: "utf8" });
  return r.status === 0 ? undefined : `the approval's signature does not verify for ${actor}: ${(r.stderr || r.stdout).trim().split("\n").pop()}`;
}

/** Writes the approval file (replacing an earlier approval of the plan); returns its path and exact text. */
export function writeApproval(a: Approval): { file: string; text: string } {
  const file = approvalFile(a.plan);
  const text = `${JSON.stringify(a, null, 2)}\n`;
  writeFileSync(file, text, { mode: 0o640 });
  return { file, text };
}
