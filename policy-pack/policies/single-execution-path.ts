import { SCRIPT_CATALOGUE } from "../../components/model/catalogue";
import type { DemesneStackPolicy } from "../lib/metadata";
import { actuatorOf, decodeStdin, isCataloguedCommandLine, isCommand, outsideTargets, REMOTE_COPY_TYPES } from "../lib/steps";

/** praxis invariant 1: every remote action is an Actuator's step running a catalogued script. */
export const singleExecutionPath: DemesneStackPolicy = {
    name: "single-execution-path",
    description: "Every remote command and file copy is a step of an Actuator, runs a script whose sha256 is in the catalogue of layer scripts, and names that same hash in its command line.",
    enforcementLevel: "mandatory",
    severity: "critical",
    control: "invariant-1 single execution path",
    remediationSteps: "Declare remote work through the Actuator (components/actuator) with a layer script; after editing a layer script run `npm run catalogue`.",
    validateStack: (args, report) => {
        for (const r of args.resources) {
            if (REMOTE_COPY_TYPES.includes(r.type)) {
                report(`${r.name}: file copies are not allowed; deliver files as parameters of a layer step`, r.urn);
                continue;
            }
            if (!isCommand(r) || outsideTargets(r)) continue;
            if (!actuatorOf(r)) {
                report(`${r.name}: remote command outside an Actuator (its parent is ${r.parent?.type ?? "the stack"})`, r.urn);
                continue;
            }
            if (r.props.delete !== undefined || r.props.update !== undefined) {
                report(`${r.name}: an Actuator step has only a create script (no update/delete scripts run outside the catalogue)`, r.urn);
            }
            if (r.props.stdin === "" && isCataloguedCommandLine(r.props.create)) continue; // known at update time
            const step = decodeStdin(r.props.stdin);
            if ("error" in step) {
                report(`${r.name}: ${step.error}`, r.urn);
                continue;
            }
            if (!step.layer) {
                report(`${r.name}: its script (sha256 ${step.scriptSha256}) is not in the catalogue of layer scripts`, r.urn);
                continue;
            }
            const create = typeof r.props.create === "string" ? r.props.create : "";
            if (!create.includes(step.scriptSha256) || !Object.values(SCRIPT_CATALOGUE).includes(step.scriptSha256)) {
                report(`${r.name}: its command line does not name the sha256 of the script it sends (${step.layer})`, r.urn);
            }
        }
    },
};
