import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import type { ComposeProject } from "../../components/model/compose";
import { TYPES } from "../../components/model/types";
import { ancestors, decodeStdin, isCommand, type DecodedStep } from "./steps";

export interface ServiceStep {
    command: PolicyResource;
    step: DecodedStep;
    /** The Service component it belongs to, if any. */
    service?: PolicyResource;
    project?: ComposeProject;
    /** Set when COMPOSE is not a JSON compose project. */
    problem?: string;
}

/** Every step that runs the service layer, with its compose project parsed. */
export function serviceSteps(args: StackValidationArgs): ServiceStep[] {
    const out: ServiceStep[] = [];
    for (const r of args.resources) {
        if (!isCommand(r)) continue;
        const step = decodeStdin(r.props.stdin);
        if ("error" in step || step.layer !== "service") continue;
        const service = ancestors(r).find((a) => a.type === TYPES.Service);
        try {
            const project = JSON.parse(step.params.COMPOSE ?? "") as ComposeProject;
            if (!project || typeof project.services !== "object") throw new Error("no services");
            out.push({ command: r, step, service, project });
        } catch {
            out.push({ command: r, step, service, problem: "its COMPOSE parameter is not a compose project in JSON" });
        }
    }
    return out;
}

/** `NAME=value` lines of an env file (values never leave this module in a message). */
export function envNames(envFile: string | undefined): Map<string, string> {
    const m = new Map<string, string>();
    for (const line of (envFile ?? "").split("\n")) {
        const i = line.indexOf("=");
        if (i > 0) m.set(line.slice(0, i).trim(), line.slice(i + 1));
    }
    return m;
}
