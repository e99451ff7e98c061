import { failingTailnetTests } from "../../components/model/segmentation";
import { PROVIDER_TYPES } from "../../components/model/types";
import type { DemesneResourcePolicy } from "../lib/metadata";
import { parsePolicy } from "./tailnet-segmentation";

/** Tailscale evaluates a policy's tests only when it is saved: the pack evaluates them at preview. */
export const tailnetTestsPass: DemesneResourcePolicy = {
    name: "tailnet-tests-pass",
    description: "The tailnet policy's own `tests` hold against its grants at preview time, before Tailscale would reject the policy on save.",
    enforcementLevel: "mandatory",
    severity: "high",
    control: "segmentation",
    remediationSteps: "Fix the grant or the test the message names; `npm test` evaluates the same tests.",
    validateResource: (args, report) => {
        if (args.type !== PROVIDER_TYPES.tailnetAcl) return;
        const policy = parsePolicy(args.props.acl);
        if (!policy) return; // tailnet-segmentation reports it
        if (policy.tests.length === 0) report(`${args.name}: the tailnet policy has no tests`);
        for (const f of failingTailnetTests(policy)) report(`${args.name}: test fails: ${f}`);
    },
};
