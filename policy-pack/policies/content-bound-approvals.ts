import { isValidApproval } from "../../components/model/approvals";
import { isT3Class, type StepClassName, STEP_CLASSES } from "../../components/model/tiers";
import type { DemesneStackPolicy } from "../lib/metadata";
import { actuatorOf, decodeStdin, isCommand, triggersOf } from "../lib/steps";

/** praxis invariants 2 and 6: a T3-class step runs only with the operator's token for exactly this content. */
export const contentBoundApprovals: DemesneStackPolicy = {
    name: "content-bound-approvals",
    description: "Every step of a T3 class (sshd, firewall) carries the operator's approval token, and the token matches the step's URN and the content hash the pack recomputes from its script and parameters.",
    enforcementLevel: "mandatory",
    severity: "critical",
    control: "invariant-6 human approval of T3",
    remediationSteps: "Review the change in `pulumi preview --diff`, then set the token the preview prints: `pulumi config set --path 'demesne:approvals[\"<host>/<layer>\"]' T3-…`.",
    validateStack: (args, report) => {
        for (const r of args.resources) {
            if (!isCommand(r) || !actuatorOf(r)) continue;
            const step = decodeStdin(r.props.stdin);
            if ("error" in step || !step.layer) continue; // single-execution-path reports these
            // The class comes from the script the step really runs, never from a label on the component.
            if (!(step.layer in STEP_CLASSES) || !isT3Class(step.layer as StepClassName)) continue;
            const content = triggersOf(r).find((t) => t.startsWith("content:"))?.slice("content:".length);
            const token = triggersOf(r).find((t) => t.startsWith("approval:"))?.slice("approval:".length);
            if (content !== step.contentHash) {
                report(`${r.name}: its content trigger does not match the content it runs (${step.layer}): a changed step must be re-approved`, r.urn);
                continue;
            }
            if (!token || token === "none") {
                report(`${r.name}: a ${step.layer} step is T3 and has no approval token for its content ${step.contentHash.slice(0, 12)}`, r.urn);
            } else if (!isValidApproval(token, r.urn, step.contentHash)) {
                report(`${r.name}: its approval token was given for other content or another step; review the change and approve it again`, r.urn);
            }
        }
    },
};
