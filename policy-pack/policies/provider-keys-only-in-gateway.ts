import {
    CLIENT_KEY_SLOT, credentialShapeOf, isCredentialName, isProviderKeyName, isSecretReference, providerKeyShapeOf,
} from "../../components/model/secrets";
import { envNames, serviceSteps } from "../lib/compose";
import type { DemesneStackPolicy } from "../lib/metadata";

const PUBLIC_PROVIDER = /api\.openai\.com|api\.anthropic\.com|generativelanguage\.googleapis\.com|api\.mistral\.ai|api\.groq\.com/;

/** Provider API keys live only in the gateway; every other service holds a gateway virtual key. */
export const providerKeysOnlyInGateway: DemesneStackPolicy = {
    name: "provider-keys-only-in-gateway",
    description: "Only the gateway (LiteLLM) holds provider API keys. Other services hold no provider key, point their OpenAI-compatible client at the gateway, and never reuse a value the gateway holds as a provider key.",
    enforcementLevel: "mandatory",
    severity: "critical",
    control: "invariant-9 least privilege",
    remediationSteps: "Give the service a gateway virtual key (`secrets.<id>` created in LiteLLM) and the gateway's URL; keep provider keys in `providerKeys` for the gateway only.",
    validateStack: (args, report) => {
        const steps = serviceSteps(args);
        const gatewayKeys = new Set<string>();
        for (const s of steps) {
            if (s.service?.props.kind !== "gateway") continue;
            for (const [name, value] of envNames(s.step.params.ENV_FILE)) {
                if (isProviderKeyName(name) && value) gatewayKeys.add(value);
            }
        }
        for (const s of steps) {
            if (s.service?.props.kind === "gateway") continue;
            for (const [name, value] of envNames(s.step.params.ENV_FILE)) {
                const shape = providerKeyShapeOf(value);
                if (isProviderKeyName(name) && name !== CLIENT_KEY_SLOT) {
                    report(`${s.command.name}: ${name} is a provider key; only the gateway may hold one`, s.command.urn);
                } else if (gatewayKeys.has(value)) {
                    report(`${s.command.name}: ${name} holds one of the gateway's provider keys instead of a gateway virtual key`, s.command.urn);
                } else if (shape) {
                    report(`${s.command.name}: ${name} holds ${shape}; only the gateway may hold a provider key`, s.command.urn);
                }
            }
            for (const [svcName, svc] of Object.entries(s.project?.services ?? {})) {
                for (const [name, value] of Object.entries(svc.environment ?? {})) {
                    const shape = credentialShapeOf(String(value));
                    if (isProviderKeyName(name) || (isCredentialName(name) && !isSecretReference(String(value)))) {
                        report(`${s.command.name}: ${svcName} sets ${name} in plain compose environment`, s.command.urn);
                    } else if (shape) {
                        report(`${s.command.name}: ${svcName} ${name} holds ${shape} in plain compose environment`, s.command.urn);
                    }
                    if (/BASE_URL/.test(name) && PUBLIC_PROVIDER.test(String(value))) {
                        report(`${s.command.name}: ${svcName} ${name} points at a model provider directly, not at the gateway`, s.command.urn);
                    }
                }
            }
        }
    },
};
