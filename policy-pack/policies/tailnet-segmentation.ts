import { grantAllows, SSH_EXPOSURE, TAILNET_TAGS, UNTRUSTED_TAGS, type TailnetPolicy } from "../../components/model/segmentation";
import { PROVIDER_TYPES } from "../../components/model/types";
import type { DemesneResourcePolicy } from "../lib/metadata";

/** The ports on the servers that matter: SSH, every management port, and every tailnet-exposed port. */
function sensitivePorts(policy: TailnetPolicy, extra: number[]): number[] {
    const granted = policy.grants.flatMap((g) => g.ip.flatMap((ip) => [...ip.matchAll(/(\d+)/g)].map((m) => Number(m[1]))));
    return [...new Set([SSH_EXPOSURE.port, 3000, 4000, 5432, 6001, 6002, 8000, 8080, 11434, ...granted, ...extra])];
}

export function parsePolicy(acl: unknown): TailnetPolicy | undefined {
    try {
        const p = JSON.parse(String(acl)) as TailnetPolicy;
        return p && Array.isArray(p.grants) ? { groups: p.groups ?? {}, tagOwners: p.tagOwners ?? {}, grants: p.grants, tests: p.tests ?? [] } : undefined;
    } catch {
        return undefined;
    }
}

/** Demesne segmentation: guest and agent reach nothing on the servers; the policy says so in its own tests. */
export const tailnetSegmentation: DemesneResourcePolicy = {
    name: "tailnet-segmentation",
    description: "The tailnet policy grants guest and agent nothing on the servers (service, management or SSH ports), has no `*` source or destination, uses grants (no legacy acls), and carries `tests` that deny guest and agent the servers' SSH port.",
    enforcementLevel: "mandatory",
    severity: "critical",
    control: "segmentation",
    remediationSteps: "Render the policy from components/model/segmentation.ts (the Tailnet component); add exposures there, with a trust tier, instead of editing grants.",
    configSchema: { properties: { extraSensitivePorts: { type: "array", items: { type: "number" } } } },
    validateResource: (args, report) => {
        if (args.type !== PROVIDER_TYPES.tailnetAcl) return;
        const policy = parsePolicy(args.props.acl);
        if (!policy) {
            report(`${args.name}: the tailnet policy is not JSON with a grants list (legacy "acls" are not allowed)`);
            return;
        }
        const raw = JSON.parse(String(args.props.acl)) as Record<string, unknown>;
        if (Array.isArray(raw.acls) && raw.acls.length > 0) report(`${args.name}: legacy "acls" entries are not allowed; use grants`);
        const servers = TAILNET_TAGS.servers;
        policy.grants.forEach((g, i) => {
            if (g.src.includes("*")) report(`${args.name}: grant ${i} has source "*"`);
            if (g.dst.includes("*")) report(`${args.name}: grant ${i} has destination "*"`);
        });
        const extra = (args.getConfig<{ extraSensitivePorts?: number[] }>().extraSensitivePorts ?? []) as number[];
        for (const tag of UNTRUSTED_TAGS) {
            const reached = sensitivePorts(policy, extra).filter((p) => grantAllows(policy, tag, `${servers}:${p}`));
            if (reached.length > 0) report(`${args.name}: ${tag} can reach ${servers} on port(s) ${reached.join(", ")}`);
            const denySsh = policy.tests.some((t) => t.src === tag && (t.deny ?? []).includes(`${servers}:${SSH_EXPOSURE.port}`));
            if (!denySsh) report(`${args.name}: the policy's tests do not assert that ${tag} is denied ${servers}:${SSH_EXPOSURE.port}`);
        }
    },
};
