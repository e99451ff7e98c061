// Which step parameters carry secrets, by layer script. The program delivers them on stdin but leaves them
// out of the content hash (a rotated secret is not a new change to approve); the policy pack recomputes the
// content hash the same way, so both read this one table.
export const LAYER_SECRET_PARAMS: Readonly<Record<string, readonly string[]>> = {
    tailscale: ["AUTH_KEY"],
    coolify: ["ROOT_ENV"],
    service: ["ENV_FILE"],
    backup: ["REPOSITORY_PASSWORD", "TARGET_CREDENTIAL"],
    "data-disk": ["KEY"],
    restore: ["REPOSITORY_PASSWORD"],
};

export function secretParamsOf(layer: string): readonly string[] {
    return LAYER_SECRET_PARAMS[layer] ?? [];
}
