import type { DemesnePolicy } from "./lib/metadata";
import { configureOnly } from "./policies/configure-only";
import { contentBoundApprovals } from "./policies/content-bound-approvals";
import { edgeFirewall } from "./policies/edge-firewall";
import { effectiveAccess } from "./policies/effective-access";
import { hostFirewallDefaultDeny } from "./policies/host-firewall-default-deny";
import { hostTypeGatesActuation } from "./policies/host-type-gates-actuation";
import { imagesPinnedByDigest } from "./policies/images-pinned-by-digest";
import { leastPrivilegeSudo } from "./policies/least-privilege-sudo";
import { noPublicManagementPorts } from "./policies/no-public-management-ports";
import { providerKeysOnlyInGateway } from "./policies/provider-keys-only-in-gateway";
import { singleExecutionPath } from "./policies/single-execution-path";
import { tailnetAuthKeys } from "./policies/tailnet-auth-keys";
import { tailnetSegmentation } from "./policies/tailnet-segmentation";
import { tailnetTestsPass } from "./policies/tailnet-tests-pass";

/** Every policy of the pack, in the order the README lists them. */
export const POLICIES: DemesnePolicy[] = [
    singleExecutionPath,
    configureOnly,
    contentBoundApprovals,
    hostTypeGatesActuation,
    imagesPinnedByDigest,
    noPublicManagementPorts,
    providerKeysOnlyInGateway,
    tailnetSegmentation,
    effectiveAccess,
    tailnetTestsPass,
    tailnetAuthKeys,
    edgeFirewall,
    leastPrivilegeSudo,
    hostFirewallDefaultDeny,
];
