// The act profile: `plan` (the dry run, saved, named by its sha256 and classified by tier) and `apply` of a
// plan a person approved with `demesne approve`. Both run the CLI's own commands, so every check is the
// CLI's: the mode's ceiling, the kill switch, an approval recorded and used once. There is no approve tool,
// and no argument carries a T3 token: the human gate between observing and acting stays in the terminal.
import { z } from "zod";
import type { Parsed } from "../args";
import { apply, plan } from "../apply-commands";
import { Output } from "../output";
import { approvalHint, changeView, plannedChange, planReviewOutput, planSha, stack, withoutTokens } from "./schemas";
import { defineTool, type Tool } from "./tool";

/** The CLI's flags for a call, so the CLI's command runs exactly as `demesne <command>` would. */
function parsed(positional: string[], flags: Record<string, string | true | undefined>): Parsed {
  return { positional, flags: new Map(Object.entries(flags).filter((e): e is [string, string | true] => e[1] !== undefined)) };
}

/** The command's --json output: the same object a script gets from the CLI. */
const jsonOf = (out: Output) => JSON.parse(out.text()) as Record<string, unknown>;

const LAYER = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[a-z][a-z-]*$/;
const URN = /^urn:pulumi:[^,\s]+$/;

const planTool = defineTool({
  name: "plan", title: "Plan (dry run)", kind: "act", hostText: false, untrusted: [],
  description: "Runs `demesne plan`: pulumi preview with the policy pack, the plan saved and named by its sha256, each change classified T0–T3 and the plan recorded. " +
    "Nothing is applied. To apply it, a person must approve it with `demesne approve` in a terminal.",
  input: z.object({
    stack: stack.optional(),
    layers: z.array(z.string().regex(LAYER, "HOST/LAYER, e.g. web-1/ssh")).max(64).optional(),
    targets: z.array(z.string().regex(URN, "a resource URN (urn:pulumi:…), without commas or spaces")).max(64).optional(),
    replace: z.boolean().optional(),
  }).strict(),
  output: planReviewOutput.omit({ targets: true, replaces: true }).extend({ recorded: z.string() }),
  run: async (a, ctx) => {
    const out = new Output(true);
    await plan(parsed([], { stack: a.stack, layer: a.layers?.join(","), target: a.targets?.join(","), replace: a.replace ? true : undefined }), out, ctx.store, ctx.actor);
    const r = jsonOf(out) as { plan: string; stack: string; mode: string; maxTier: string; approvable: boolean; refusal: string | null; recorded: string; changes: z.infer<typeof plannedChange>[] };
    const blocking = r.refusal && !r.refusal.startsWith("T3 change") ? r.refusal : null;
    const changes = r.changes.map(changeView);
    return {
      plan: r.plan, stack: r.stack, mode: r.mode, maxTier: r.maxTier, approvable: !blocking, refusal: withoutTokens(blocking), recorded: r.recorded,
      changes, t3: changes.filter((c) => c.tier === "T3").map((c) => ({ op: c.op, urn: c.urn, contentHash: c.contentHash })), approval: approvalHint(r.plan),
    };
  },
});

const applyTool = defineTool({
  name: "apply", title: "Apply an approved plan", kind: "act", hostText: false, untrusted: [],
  description: "Runs `demesne apply`: applies exactly the saved plan named by its sha256, only if a person approved it with `demesne approve`, the stack's mode allows its highest tier, " +
    "the kill switch is off and the approval was never used. Each refusal is recorded in the audit log with its reason.",
  input: z.object({ plan: planSha, stack: stack.optional() }).strict(),
  output: z.object({ plan: z.string(), approval: z.string(), exitCode: z.number(), succeeded: z.boolean(), recorded: z.string().nullable(), complete: z.boolean() }),
  run: async (a, ctx) => {
    const out = new Output(true);
    await apply(parsed([a.plan], { stack: a.stack }), out, ctx.store, ctx.actor);
    const r = jsonOf(out) as { plan: string; approval: string; exitCode: number; recorded: string | null; complete: boolean };
    return { plan: r.plan, approval: r.approval, exitCode: r.exitCode, succeeded: r.exitCode === 0, recorded: r.recorded, complete: r.complete };
  },
});

export const ACT_TOOLS: Tool[] = [planTool, applyTool];
