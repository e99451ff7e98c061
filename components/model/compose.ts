// Checks on a rendered compose project, shared by the Service component and the policy pack:
// images pinned by digest, ports published on loopback only, provider keys only in the gateway.
import { isLoopback } from "./ports";

export const DIGEST_PINNED_IMAGE = /@sha256:[0-9a-f]{64}$/;

export interface ComposeService {
    image: string;
    ports?: string[];
    environment?: Record<string, string>;
    env_file?: string[];
}

export interface ComposeProject {
    name: string;
    services: Record<string, ComposeService>;
}

/** Splits a compose short port syntax ("127.0.0.1:4000:4000") into its bind address. */
export function bindAddressOf(port: string): string {
    const parts = port.split(":");
    if (parts.length >= 3) return parts.slice(0, parts.length - 2).join(":").replace(/^\[|\]$/g, "");
    return "0.0.0.0";
}

export function composeProblems(project: ComposeProject, opts: { isGateway: boolean; providerKeyEnv: string[] }): string[] {
    const problems: string[] = [];
    for (const [name, svc] of Object.entries(project.services)) {
        if (!DIGEST_PINNED_IMAGE.test(svc.image)) problems.push(`${project.name}/${name}: image ${svc.image} is not pinned by @sha256 digest`);
        for (const port of svc.ports ?? []) {
            if (!isLoopback(bindAddressOf(port))) problems.push(`${project.name}/${name}: port ${port} is published beyond loopback`);
        }
    }
    if (!opts.isGateway) {
        for (const env of opts.providerKeyEnv) problems.push(`${project.name}: ${env} is a provider key; only the gateway may hold one`);
    }
    return problems;
}
