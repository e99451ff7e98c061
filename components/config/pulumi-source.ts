// The stack config as the running Pulumi program sees it: the one config source that needs the Pulumi SDK.
import * as pulumi from "@pulumi/pulumi";
import { type ConfigSource, NAMESPACE } from "./load";
import { strayNamespaceKeys } from "./strict";

/** The config of the running Pulumi program. */
export function pulumiConfigSource(): ConfigSource {
    const config = new pulumi.Config(NAMESPACE);
    // The Node SDK knows which keys are secret but does not type the helper; it reads the
    // secret-key list the language host passes in (PULUMI_CONFIG_SECRET_KEYS).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(k: string): boolean };
    return {
        get: (key) => config.get(key),
        isSecret: (key) => runtimeConfig.isConfigSecret(`${NAMESPACE}:${key}`),
        keys: () => Object.keys(pulumi.runtime.allConfig())
            .filter((k) => k.startsWith(`${NAMESPACE}:`)).map((k) => k.slice(NAMESPACE.length + 1)),
        strayKeys: () => strayNamespaceKeys(Object.keys(pulumi.runtime.allConfig())),
    };
}
