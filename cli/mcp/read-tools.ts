// The read profile: the fleet as of a time, a subject's history, changes between times, drift findings as
// recorded, a saved plan's review, the audit chain's verification, a stack's steps and its effective access.
// Each wraps the function the CLI runs; none writes anything but its own audit entry.
import { z } from "zod";
import { accessSummary, stepReport } from "../../components/step-report";
import { auditVerify } from "../../state-model/audit";
import { findingHistory, findingHost, findingSource, latestFindings } from "../../state-model/drift/findings";
import { asOf, changes, historyAt, type FactRow } from "../../state-model/queries";
import { savedPlanReview } from "../apply-commands";
import { loadStack } from "../drift-commands";
import { defineTool, type Tool } from "./tool";
import { approvalHint, changeView, factRow, finding, host, planReviewOutput, planSha, stack, time, toDate, withoutTokens } from "./schemas";

const FACT_TEXT = ["facts[].subject", "facts[].key", "facts[].value", "facts[].actor", "facts[].reason"];

const fleet = defineTool({
  name: "fleet", title: "Fleet as of a time", kind: "read", hostText: true, untrusted: FACT_TEXT,
  description: "The fleet's facts (or one subject's) as they were at valid time validAt, as the recorder knew them at knownAt (both default now). Same as `demesne fleet`.",
  input: z.object({ validAt: time.optional(), knownAt: time.optional(), subject: z.string().min(1).max(512).optional() }).strict(),
  output: z.object({ validAt: z.string(), knownAt: z.string(), facts: z.array(factRow) }),
  run: async (a, { store }) => {
    // One instant for both times when omitted, so the answer names exactly what it was asked.
    const now = new Date();
    const [validAt, knownAt] = [toDate(a.validAt) ?? now, toDate(a.knownAt) ?? now];
    return { validAt: validAt.toISOString(), knownAt: knownAt.toISOString(), facts: await asOf(store, { subject: a.subject, validAt, knownAt }) };
  },
});

const history = defineTool({
  name: "history", title: "A subject's history", kind: "read", hostText: true, untrusted: FACT_TEXT,
  description: "Every stored version of a subject's facts (optionally one attribute), optionally only those valid at validAt and known at knownAt. Same as `demesne history`.",
  input: z.object({ subject: z.string().min(1).max(512), attribute: z.string().min(1).max(256).optional(), validAt: time.optional(), knownAt: time.optional() }).strict(),
  output: z.object({ subject: z.string(), facts: z.array(factRow) }),
  run: async (a, { store }) => ({
    subject: a.subject,
    facts: await historyAt(store, { subject: a.subject, attribute: a.attribute, validAt: toDate(a.validAt), knownAt: toDate(a.knownAt) }),
  }),
});

const changesTool = defineTool({
  name: "changes", title: "Changes between two times", kind: "read", hostText: true,
  untrusted: ["changes[].subject", "changes[].key", "changes[].from", "changes[].to"],
  description: "What differs between the fleet at valid time `from` and at `to`, as known at knownAt (default now). Same as `demesne changes`.",
  input: z.object({ from: time, to: time, knownAt: time.optional() }).strict(),
  output: z.object({
    changes: z.array(z.object({ subject: z.string(), attribute: z.string(), key: z.string(), change: z.enum(["added", "removed", "changed"]), from: z.unknown().optional(), to: z.unknown().optional() })),
  }),
  run: async (a, { store }) => ({ changes: await changes(store, { from: toDate(a.from), to: toDate(a.to), knownAt: toDate(a.knownAt) }) }),
});

const findingOf = (r: FactRow) => {
  const v = (r.value ?? {}) as { change?: string; severity?: string; tier?: string | null; desired?: unknown; observed?: unknown; firstSeen?: string };
  return {
    host: findingHost(r.subject), source: findingSource(r.subject), attribute: r.attribute, key: r.key,
    change: v.change ?? null, severity: v.severity ?? null, tier: v.tier ?? null, desired: v.desired ?? null, observed: v.observed ?? null,
    firstSeen: v.firstSeen ?? null, validFrom: r.validFrom, validTo: r.validTo, recordedFrom: r.recordedFrom, recordedTo: r.recordedTo,
  };
};
const FINDING_TEXT = ["findings[].key", "findings[].observed", "findings[].desired"];

const driftFindings = defineTool({
  name: "drift_findings", title: "Drift findings (latest)", kind: "read", hostText: true, untrusted: FINDING_TEXT,
  description: "The drift findings in force at validAt as known at knownAt (default now), as `demesne drift` recorded them; optionally of one host. Reading never runs a new comparison.",
  input: z.object({ host: host.optional(), validAt: time.optional(), knownAt: time.optional() }).strict(),
  output: z.object({ findings: z.array(finding) }),
  run: async (a, { store }) => ({ findings: (await latestFindings(store, { host: a.host, validAt: toDate(a.validAt), knownAt: toDate(a.knownAt) })).map(findingOf) }),
});

const driftHistory = defineTool({
  name: "drift_history", title: "Drift findings (history)", kind: "read", hostText: true, untrusted: FINDING_TEXT,
  description: "Every recorded version of a host's drift findings (optionally against one source, e.g. desired:control or baseline:NAME): when each started and ended, as known when.",
  input: z.object({ host, source: z.string().min(1).max(256).optional() }).strict(),
  output: z.object({ findings: z.array(finding) }),
  run: async (a, { store }) => ({ findings: (await findingHistory(store, { host: a.host, source: a.source })).map(findingOf) }),
});

const planReview = defineTool({
  name: "plan_review", title: "Review a saved plan", kind: "read", hostText: false, untrusted: [],
  description: "A plan saved by `demesne plan`, named by its sha256: each change with its tier, the targets it was made with, its T3 changes, and whether the stack's mode lets it be approved. Changes nothing.",
  input: z.object({ plan: planSha, stack: stack.optional() }).strict(),
  output: planReviewOutput,
  run: async (a) => {
    const s = loadStack(a.stack);
    const r = savedPlanReview(a.plan, s);
    const blocking = r.refusal && !r.refusal.startsWith("T3 change") ? r.refusal : null;
    return {
      plan: r.review.sha256, stack: s.name, mode: r.mode, maxTier: r.review.maxTier, approvable: !blocking, refusal: withoutTokens(blocking),
      targets: r.scope.targets, replaces: r.scope.replaces, changes: r.review.changes.map(changeView),
      t3: r.review.t3.map((c) => ({ op: c.op, urn: c.urn, contentHash: c.contentHash })), approval: approvalHint(r.review.sha256),
    };
  },
});

const auditVerifyTool = defineTool({
  name: "audit_verify", title: "Verify the audit chain", kind: "read", hostText: false, untrusted: [],
  description: "Walks the audit log's hash chain (and, with an anchor kept outside the store, checks the chain still holds it), then recomputes every batch's binding from the stored facts. Same as `demesne audit verify`.",
  input: z.object({ anchor: z.object({ seq: z.number().int().min(0), hash: z.string().regex(/^[0-9a-f]{64}$/, "a sha256: 64 lowercase hex digits") }).strict().optional() }).strict(),
  output: z.object({ ok: z.boolean(), entries: z.number(), head: z.object({ seq: z.number(), hash: z.string() }), facts: z.number(), batches: z.number(), anchor: z.object({ seq: z.number(), hash: z.string() }).nullable() }),
  run: async (a, { store }) => {
    const r = await auditVerify(store, a.anchor);
    return { ok: true, entries: r.entries, head: r.head, facts: r.facts, batches: r.batches, anchor: a.anchor ?? null };
  },
});

const stackSteps = defineTool({
  name: "stack_steps", title: "A stack's steps", kind: "read", hostText: false, untrusted: [],
  description: "Every step the program would run on each host of a stack, with its tier per kind of change, content hash and config-approval status, from Pulumi.<stack>.yaml alone. As `npm run steps` (without the policy pack run).",
  input: z.object({ stack: stack.optional() }).strict(),
  output: z.object({
    stack: z.string(),
    steps: z.array(z.object({
      host: z.string(), step: z.string(), class: z.string(),
      tiers: z.object({ create: z.string(), update: z.string(), replace: z.string(), delete: z.string() }),
      contentSha256: z.string(), deadManSeconds: z.number().nullable(), approval: z.enum(["not needed", "missing", "valid"]),
    })),
  }),
  run: async (a) => {
    const s = loadStack(a.stack);
    // The approval token is left out: a person sets it in config after reviewing the step.
    return { stack: s.name, steps: stepReport(s.cfg, s.name).steps.map((r) => ({ ...r, approval: r.approval.status })) };
  },
});

const effectiveAccess = defineTool({
  name: "effective_access", title: "Effective access", kind: "read", hostText: false, untrusted: [],
  description: "Who (admins, team, guest, agent, the internet) reaches which host and port under a stack's rendered outcome, and any violation of the segmentation property (policy/segmentation.md).",
  input: z.object({ stack: stack.optional() }).strict(),
  output: z.object({
    stack: z.string(),
    reaches: z.array(z.object({ principal: z.string(), host: z.string(), port: z.number().nullable(), what: z.string(), via: z.string(), family: z.number().nullable(), sources: z.array(z.string()), limitedBy: z.string().nullable() })),
    violations: z.array(z.string()),
  }),
  run: async (a) => {
    const s = loadStack(a.stack);
    return { stack: s.name, ...accessSummary(s.cfg, s.name) };
  },
});

export const READ_TOOLS: Tool[] = [fleet, history, changesTool, driftFindings, driftHistory, planReview, auditVerifyTool, stackSteps, effectiveAccess];
