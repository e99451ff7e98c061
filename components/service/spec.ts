// Turns a service from config into a compose project, its env file's secret references and a
// step spec. Built-in kinds add their fixed settings; `custom` is the template for a new one.
import { StepSpec } from "../actuator/steps";
import { secretParamsOf } from "../model/layer-params";
import { StackConfig } from "../config/load";
import { ServiceConfig } from "../config/schema";
import { ComposeProject, ComposeService } from "../model/compose";
import { TailnetExposure } from "../model/segmentation";
import { TYPES } from "../model/types";
import { DEFAULT_SERVE_PORT } from "../model/ports";
import { BUILTIN_SECRET_ENV, GATEWAY_ENV, OPEN_WEBUI_ENV, userEnvProblems } from "../model/service-env";
import { providerKeyEnvName, renderLitellmConfig } from "../render/litellm";

/** The docker network services on one host share, so the chat UI reaches the gateway directly. */
export const SERVICE_NETWORK = "demesne";

/** Default tailnet HTTPS port per kind (none: not exposed); the table lives with the other ports. */
export { DEFAULT_SERVE_PORT };

/** The chat UI's hardened settings, with the other fixed env of each kind in model/service-env.ts. */
export { OPEN_WEBUI_ENV };

export interface ServicePlan {
    service: ServiceConfig;
    compose: ComposeProject;
    /** Env-file entries: name → `secret:<id>` or `providerKey:<id>`. */
    secretEnv: Record<string, string>;
    configFile: string;
    exposure?: TailnetExposure & { localPort: number };
    step: StepSpec;
}

function portsOf(s: ServiceConfig): string[] {
    return s.ports.map((p) => `${p.bind}:${p.hostPort}:${p.containerPort}`);
}

function base(s: ServiceConfig, env: Record<string, string>, extra: Record<string, unknown> = {}): ComposeService & Record<string, unknown> {
    return {
        image: s.image,
        ports: portsOf(s),
        // planService refused user env that would replace a fixed setting, so nothing here is overridden.
        environment: { ...env, ...s.env },
        env_file: ["service.env"],
        restart: "unless-stopped",
        networks: [SERVICE_NETWORK],
        security_opt: ["no-new-privileges:true"],
        ...extra,
    };
}

export function planService(cfg: StackConfig<unknown>, s: ServiceConfig): ServicePlan {
    // The config validator refused these with their key paths; a caller that skipped it still never gets a
    // hardened setting replaced. (Credentials it lets through are the pack's to refuse, as rogue programs test.)
    const refused = userEnvProblems(s).filter((e) => e.override);
    if (refused.length > 0) {
        throw new Error(`service "${s.name}": ${refused.map((e) => `${e.path.join(".")} ${e.message}`).join("; ")}`);
    }
    const secretEnv: Record<string, string> = { ...s.secretEnv, ...BUILTIN_SECRET_ENV[s.kind] };
    const services: Record<string, ComposeService & Record<string, unknown>> = {};
    const volumes: Record<string, object> = {};
    let configFile = "";
    switch (s.kind) {
        case "gateway": {
            for (const m of s.models) secretEnv[providerKeyEnvName(m.providerKey)] = `providerKey:${m.providerKey}`;
            configFile = renderLitellmConfig(s.models);
            services.litellm = base(s, { ...GATEWAY_ENV }, {
                container_name: `${s.name}-litellm`,
                command: ["--config", "/app/config.yaml", "--port", "4000"],
                volumes: ["./config.json:/app/config.yaml:ro"],
                depends_on: ["db"],
            });
            services.db = {
                image: s.postgresImage,
                environment: { POSTGRES_USER: "litellm", POSTGRES_DB: "litellm", POSTGRES_PASSWORD: "${GATEWAY_DB_PASSWORD}" },
                restart: "unless-stopped",
                volumes: ["gateway-db:/var/lib/postgresql/data"],
                networks: ["internal"],
            };
            (services.litellm.networks as string[]).push("internal");
            volumes["gateway-db"] = {};
            break;
        }
        case "open-webui": {
            const gw = cfg.services.find((g) => g.kind === "gateway" && g.name === s.gateway);
            const url = gw && gw.host === s.host
                ? `http://${gw.name}-litellm:4000/v1`
                : `https://${gw?.host ?? s.gateway}:${gw?.servePort ?? DEFAULT_SERVE_PORT.gateway}/v1`;
            services["open-webui"] = base(s, { ...OPEN_WEBUI_ENV, OPENAI_API_BASE_URL: url }, { volumes: ["open-webui:/app/backend/data"] });
            volumes["open-webui"] = {};
            break;
        }
        case "inference":
            services.inference = base(s, {}, { volumes: ["models:/root/.ollama"] });
            volumes.models = {};
            break;
        case "custom":
            services[s.name] = base(s, {}, { volumes: s.volumes });
            for (const v of s.volumes) volumes[v.split(":")[0] as string] = {};
            break;
    }
    const compose = {
        name: s.name,
        services,
        volumes,
        networks: { [SERVICE_NETWORK]: { name: SERVICE_NETWORK }, internal: { internal: true } },
    } as ComposeProject & Record<string, unknown>;
    const servePort = s.servePort ?? DEFAULT_SERVE_PORT[s.kind];
    const firstPort = s.ports[0];
    const exposure = servePort !== undefined && firstPort
        ? { port: servePort, tier: s.trustTier, what: `${s.kind} ${s.name}`, localPort: firstPort.hostPort }
        : undefined;
    const step: StepSpec = {
        host: s.host,
        hostType: cfg.hosts.find((h) => h.name === s.host)?.hostType ?? "ubuntu",
        name: `${s.host}-service-${s.name}`,
        stepClass: "service",
        script: "service",
        params: {
            NAME: s.name,
            COMPOSE: `${JSON.stringify(compose, null, 2)}\n`,
            CONFIG_FILE: configFile,
            SERVE: exposure ? `${exposure.port} ${exposure.localPort}\n` : "",
        },
        secretParams: [...secretParamsOf("service")],
        runAs: "deploy",
        parentTypes: [TYPES.Service],
    };
    return { service: s, compose, secretEnv, configFile, exposure, step };
}

/** Provider-key env names a plan would hand its service. */
export function providerKeyEnvOf(plan: ServicePlan): string[] {
    return Object.entries(plan.secretEnv).filter(([, ref]) => ref.startsWith("providerKey:")).map(([name]) => name);
}
