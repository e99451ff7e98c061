import { TAILNET_TAGS } from "../../components/model/segmentation";
import { PROVIDER_TYPES } from "../../components/model/types";
import type { DemesneResourcePolicy } from "../lib/metadata";

/** A key that joins a server to the tailnet: single use, tagged as a server, pre-authorized, short-lived. */
export const tailnetAuthKeys: DemesneResourcePolicy = {
    name: "tailnet-auth-keys",
    description: "Tailnet auth keys are single-use (not reusable), tagged (tag:aihost only), pre-authorized, not ephemeral, and expire within the configured maximum.",
    enforcementLevel: "mandatory",
    severity: "high",
    control: "invariant-9 least privilege",
    remediationSteps: "Use the Tailnet component's per-host key (reusable false, tags [tag:aihost], expiry ≤ maxExpirySeconds).",
    configSchema: { properties: { maxExpirySeconds: { type: "number", default: 86400 } } },
    validateResource: (args, report) => {
        if (args.type !== PROVIDER_TYPES.tailnetKey) return;
        const max = (args.getConfig<{ maxExpirySeconds?: number }>().maxExpirySeconds ?? 86400) as number;
        const p = args.props;
        if (p.reusable !== false) report(`${args.name}: auth key must be single-use (reusable: false)`);
        if (p.preauthorized !== true) report(`${args.name}: auth key must be pre-authorized`);
        if (p.ephemeral === true) report(`${args.name}: a server's auth key must not be ephemeral`);
        const tags = Array.isArray(p.tags) ? (p.tags as string[]) : [];
        if (tags.length === 0) report(`${args.name}: auth key must carry a tag`);
        for (const t of tags) if (t !== TAILNET_TAGS.servers) report(`${args.name}: auth key tag ${t} is not ${TAILNET_TAGS.servers}`);
        const expiry = Number(p.expiry);
        if (!Number.isFinite(expiry) || expiry <= 0 || expiry > max) report(`${args.name}: auth key expiry must be set and at most ${max} s`);
    },
};
