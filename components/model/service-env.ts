// The environment a service's containers get: what the renderer sets itself (hardened, never overridden),
// what a user may add, and the one check the config validator and the renderer both run on the user's part.
import { CLIENT_KEY_SLOT, credentialShapeOf, isCredentialName, isProviderKeyName } from "./secrets";

export type ServiceKind = "gateway" | "open-webui" | "inference" | "custom";

/** The chat UI's hardened settings: authentication on, no sign-up, new users wait for approval, nothing phones home. */
export const OPEN_WEBUI_ENV: Readonly<Record<string, string>> = {
    ENABLE_OLLAMA_API: "false",
    WEBUI_AUTH: "true",
    ENABLE_SIGNUP: "false",
    DEFAULT_USER_ROLE: "pending",
    ENABLE_COMMUNITY_SHARING: "false",
    OFFLINE_MODE: "true",
    SCARF_NO_ANALYTICS: "true",
    DO_NOT_TRACK: "true",
    ANONYMIZED_TELEMETRY: "false",
    ENABLE_PERSISTENT_CONFIG: "false",
};

/** The gateway's fixed settings; the database password is interpolated from the env file, never written here. */
export const GATEWAY_ENV: Readonly<Record<string, string>> = {
    DISABLE_ADMIN_UI: "True",
    DATABASE_URL: "postgresql://litellm:${GATEWAY_DB_PASSWORD}@db:5432/litellm",
};

/** Env-file entries each built-in kind gets from demesne:secrets (name → `secret:<id>`). */
export const BUILTIN_SECRET_ENV: Readonly<Record<ServiceKind, Readonly<Record<string, string>>>> = {
    gateway: {
        LITELLM_MASTER_KEY: "secret:gatewayMasterKey",
        LITELLM_SALT_KEY: "secret:gatewaySaltKey",
        GATEWAY_DB_PASSWORD: "secret:gatewayDbPassword",
    },
    "open-webui": { WEBUI_SECRET_KEY: "secret:webuiSecretKey", [CLIENT_KEY_SLOT]: "secret:webuiVirtualKey" },
    inference: {},
    custom: {},
};

/** Names the renderer sets per kind (plain or from a secret); user env or secretEnv may not set them. */
export const RENDERED_ENV: Readonly<Record<ServiceKind, readonly string[]>> = {
    gateway: [...Object.keys(GATEWAY_ENV), ...Object.keys(BUILTIN_SECRET_ENV.gateway)],
    "open-webui": [...Object.keys(OPEN_WEBUI_ENV), "OPENAI_API_BASE_URL", ...Object.keys(BUILTIN_SECRET_ENV["open-webui"])],
    inference: [],
    custom: [],
};

/**
 * Everything a user may set on the chat UI (env or secretEnv): its name, look and model defaults, and feature
 * flags that neither weaken authentication nor send data anywhere but the gateway. Anything else is refused.
 */
export const OPEN_WEBUI_USER_ENV: readonly string[] = [
    "WEBUI_NAME", "WEBUI_URL", "WEBUI_BANNERS", "DEFAULT_MODELS", "DEFAULT_PINNED_MODELS", "DEFAULT_LOCALE",
    "DEFAULT_PROMPT_SUGGESTIONS", "TASK_MODEL_EXTERNAL", "TITLE_GENERATION_PROMPT_TEMPLATE",
    "PENDING_USER_OVERLAY_TITLE", "PENDING_USER_OVERLAY_CONTENT", "RESPONSE_WATERMARK",
    "ENABLE_TITLE_GENERATION", "ENABLE_TAGS_GENERATION", "ENABLE_FOLLOW_UP_GENERATION", "ENABLE_AUTOCOMPLETE_GENERATION",
    "ENABLE_MESSAGE_RATING", "ENABLE_EVALUATION_ARENA_MODELS", "ENABLE_CHANNELS", "ENABLE_NOTES",
    "CHUNK_SIZE", "CHUNK_OVERLAP", "RAG_TOP_K", "TZ",
];

export interface EnvProblem {
    /** Under the service: `["env", "WEBUI_AUTH"]` or `["secretEnv", "ANTHROPIC_API_KEY"]`. */
    path: ["env" | "secretEnv", string];
    message: string;
    /** It would replace a setting the renderer makes (the renderer refuses these itself). */
    override?: true;
}

/**
 * The user's part of a service's environment, checked the same way by the config validator (which prefixes
 * the key path) and by the renderer (which refuses to render). Values are never echoed.
 */
export function userEnvProblems(s: { kind: ServiceKind; env: Record<string, string>; secretEnv: Record<string, string> }): EnvProblem[] {
    const problems: EnvProblem[] = [];
    const rendered = new Set(RENDERED_ENV[s.kind]);
    const check = (where: "env" | "secretEnv", name: string, value?: string) => {
        const say = (message: string, override?: true) => problems.push({ path: [where, name], message, ...(override ? { override } : {}) });
        if (where === "env" && isCredentialName(name)) {
            return say("looks like a credential: move it to secretEnv as a `secret:<name>` reference");
        }
        if (rendered.has(name)) return say(`is set by demesne for every ${s.kind} service and cannot be overridden`, true);
        if (s.kind !== "gateway" && isProviderKeyName(name) && name !== CLIENT_KEY_SLOT) {
            return say("is where a model provider's key goes, and provider keys are for the gateway only: give this service a gateway virtual key (`secret:<name>`) under OPENAI_API_KEY");
        }
        const shape = value === undefined ? undefined : credentialShapeOf(value);
        if (shape) return say(`holds ${shape}: move it to secretEnv as a \`secret:<name>\` reference`);
        if (s.kind === "open-webui" && !OPEN_WEBUI_USER_ENV.includes(name)) {
            return say("is not a setting the chat UI may carry (see OPEN_WEBUI_USER_ENV in components/model/service-env.ts)");
        }
    };
    for (const [name, value] of Object.entries(s.env)) check("env", name, value);
    for (const name of Object.keys(s.secretEnv)) check("secretEnv", name);
    return problems;
}
