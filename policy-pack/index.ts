// The demesne policy pack: `pulumi preview --policy-pack policy-pack [--policy-pack-config policy-pack/config.json]`.
import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./policies";

new PolicyPack("demesne", {
    // Policies carry demesne's own metadata (control); the engine gets the standard fields.
    policies: POLICIES.map(({ control, ...policy }) => ({ ...policy, tags: [control] })),
});
