// Input and output schemas shared by the MCP tools. Each input is strict (an unknown key is refused, naming
// it) and each refusal names the field, so an agent can correct its call without guessing.
import { z } from "zod";
import { parseIsoTime } from "../../state-model/time";

/** A time as the CLI takes it (state-model/time.ts): strict ISO-8601 within 1970–9999, or `now`. */
export const time = z.string().max(64).refine((v) => v === "now" || typeof parseIsoTime(v) === "number", {
  message: "not a time: use an ISO-8601 date (2026-11-24) or date-time with a zone (2026-11-24T12:00:00Z), 1970–9999, or now",
});
export const toDate = (v: string | undefined): Date | undefined => (v === undefined ? undefined : v === "now" ? new Date() : new Date(parseIsoTime(v) as number));

/** A stack name: it names Pulumi.<stack>.yaml in the working directory, so no path separator can get in. */
export const stack = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "a stack name: letters, digits, '.', '_' and '-' (default $PULUMI_STACK, else control)");
export const planSha = z.string().regex(/^[0-9a-f]{64}$/, "a plan's sha256: 64 lowercase hex digits, as demesne plan prints it");
export const host = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/, "a host name as in the stack file");

export const factRow = z.object({
  subject: z.string(), kind: z.string(), attribute: z.string(), key: z.string(), value: z.unknown(),
  validFrom: z.string(), validTo: z.string().nullable(), recordedFrom: z.string(), recordedTo: z.string().nullable(),
  batch: z.string(), actor: z.string().nullable(), reason: z.string().nullable(),
});

export const finding = z.object({
  host: z.string(), source: z.string(), attribute: z.string(), key: z.string(),
  change: z.string().nullable(), severity: z.string().nullable(), tier: z.string().nullable(),
  desired: z.unknown(), observed: z.unknown(), firstSeen: z.string().nullable(),
  validFrom: z.string(), validTo: z.string().nullable(), recordedFrom: z.string(), recordedTo: z.string().nullable(),
});

/** A plan's change as an agent sees it: never a T3 token (the human gate types it, from `demesne plan` in a terminal). */
export const plannedChange = z.object({
  urn: z.string(), type: z.string(), op: z.string(), stepClass: z.string().nullable(), host: z.string().nullable(), tier: z.string(), contentHash: z.string(),
});

const T3_TOKEN = /T3-[0-9a-f]{4}(?:-[0-9a-f]{4}){3}/g;
/** A refusal may quote the T3 token to type; through the MCP surface it says where a person finds it instead. */
export const withoutTokens = (s: string | null | undefined) => (s == null ? null : s.replace(T3_TOKEN, "<the token demesne plan prints to a person>"));
export const changeView = (c: z.infer<typeof plannedChange> & { token?: string }) => ({
  urn: c.urn, type: c.type, op: c.op, stepClass: c.stepClass, host: c.host, tier: c.tier, contentHash: c.contentHash,
});

export const planReviewOutput = z.object({
  plan: z.string(), stack: z.string(), mode: z.string(), maxTier: z.string(), approvable: z.boolean(), refusal: z.string().nullable(),
  targets: z.array(z.string()), replaces: z.array(z.string()), changes: z.array(plannedChange),
  t3: z.array(z.object({ op: z.string(), urn: z.string(), contentHash: z.string() })),
  approval: z.string(),
});

/** How a person approves: the agent may say it, never do it (no approve tool; the T3 token is not in any result). */
export const approvalHint = (sha: string) =>
  `a person reviews the plan and runs: demesne approve ${sha} --actor <their name> (with --token for a T3 change, as demesne plan prints it to them)`;
