// LiteLLM's config (JSON is valid YAML): the model allowlist, redacted logging, no prompts in
// spend logs; keys come from the environment (os.environ/...), never from this file.
import { PROVIDER_KEY_ENV_SUFFIX } from "../model/secrets";

export interface GatewayModel {
    name: string;
    model: string;
    providerKey: string;
}

/** The env name a provider key is delivered under: `openai` → `OPENAI_API_KEY`. */
export function providerKeyEnvName(providerKey: string): string {
    return `${providerKey.replace(/[^A-Za-z0-9]/g, "_").toUpperCase()}${PROVIDER_KEY_ENV_SUFFIX}`;
}

export function renderLitellmConfig(models: GatewayModel[]): string {
    const config = {
        model_list: models.map((m) => ({
            model_name: m.name,
            litellm_params: { model: m.model, api_key: `os.environ/${providerKeyEnvName(m.providerKey)}` },
        })),
        litellm_settings: {
            turn_off_message_logging: true,
            redact_user_api_key_info: true,
            json_logs: true,
            drop_params: true,
        },
        general_settings: {
            master_key: "os.environ/LITELLM_MASTER_KEY",
            database_url: "os.environ/DATABASE_URL",
            store_prompts_in_spend_logs: false,
            disable_spend_logs: false,
        },
    };
    return `${JSON.stringify(config, null, 2)}\n`;
}
