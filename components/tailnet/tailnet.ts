// Tailnet: the policy file rendered from the one segmentation model, refused at construction
// if its own tests fail, plus a single-use, pre-authorized, tagged, expiring key per host.
import * as pulumi from "@pulumi/pulumi";
import * as tailscale from "@pulumi/tailscale";
import { canonicalJson, sha256Hex } from "../model/hash";
import { failingTailnetTests, renderTailnetPolicy, TAILNET_TAGS, TailnetExposure, TailnetPolicy } from "../model/segmentation";
import { TYPES } from "../model/types";

export interface TailnetArgs {
    /** Tailnet logins of the admins (group:admins). */
    admins: string[];
    /** Ports the servers expose on the tailnet, each with its trust tier. */
    exposures: TailnetExposure[];
    /** Hosts that join the tailnet; each gets its own one-off key. */
    hosts: string[];
    /** Lifetime of an unused auth key, in seconds. Default 3600. */
    authKeyExpirySeconds?: number;
}

export class TailnetPolicyError extends Error {
    constructor(readonly failures: string[]) {
        super(`the tailnet policy fails its own tests:\n${failures.map((f) => `  - ${f}`).join("\n")}`);
        this.name = "TailnetPolicyError";
    }
}

export class Tailnet extends pulumi.ComponentResource {
    public readonly policy: TailnetPolicy;
    /** sha256 of the canonical policy JSON; equal hashes mean equal policies. */
    public readonly policySha256: string;
    public readonly acl: tailscale.Acl;
    /** Auth keys by host name (secret). */
    public readonly authKeys: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: TailnetArgs, opts?: pulumi.ComponentResourceOptions) {
        const policy = renderTailnetPolicy({ admins: args.admins, exposures: args.exposures });
        const failures = failingTailnetTests(policy);
        if (failures.length > 0) throw new TailnetPolicyError(failures);
        super(TYPES.Tailnet, name, { policySha256: sha256Hex(canonicalJson(policy)) }, opts);
        this.policy = policy;
        this.policySha256 = sha256Hex(canonicalJson(policy));
        this.acl = new tailscale.Acl(`${name}-policy`, {
            acl: JSON.stringify(policy, null, 2),
            // We own the whole policy file: adopting it replaces what the admin console holds.
            overwriteExistingContent: true,
            resetAclOnDestroy: false,
        }, { parent: this });
        this.authKeys = {};
        for (const host of args.hosts) {
            const key = new tailscale.TailnetKey(`${name}-key-${host}`, {
                reusable: false,
                ephemeral: false,
                preauthorized: true,
                expiry: args.authKeyExpirySeconds ?? 3600,
                tags: [TAILNET_TAGS.servers],
                description: `demesne ${host}`,
                // A used single-use key is spent: do not mint a new one on every refresh.
                recreateIfInvalid: "never",
            }, { parent: this, dependsOn: [this.acl] });
            this.authKeys[host] = pulumi.secret(key.key);
        }
        this.registerOutputs({ policySha256: this.policySha256 });
    }
}
