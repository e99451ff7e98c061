// Ports that must never be reachable from outside a host. Services publish them on loopback
// only and reach people through `tailscale serve`; neither UFW nor the OVH edge firewall opens them.
// Dependency-free: the program, the policy pack and the docs read this one list.

export interface ManagementPort {
    port: number;
    what: string;
}

export const NEVER_PUBLIC_PORTS: readonly ManagementPort[] = [
    { port: 3000, what: "Open WebUI / dashboards" },
    { port: 4000, what: "LiteLLM gateway" },
    { port: 5432, what: "PostgreSQL" },
    { port: 6001, what: "Coolify realtime" },
    { port: 6002, what: "Coolify terminal" },
    { port: 8000, what: "Coolify dashboard" },
    { port: 8080, what: "Open WebUI container port" },
    { port: 11434, what: "Ollama / local inference" },
];

export const NEVER_PUBLIC_PORT_NUMBERS: readonly number[] = NEVER_PUBLIC_PORTS.map((p) => p.port);

export const SSH_PORT = 22;

/** Default tailnet HTTPS port `tailscale serve` gives each service kind (none: not exposed). */
export const DEFAULT_SERVE_PORT: Readonly<Record<"gateway" | "open-webui" | "inference" | "custom", number | undefined>> = {
    gateway: 4000, "open-webui": 443, inference: undefined, custom: undefined,
};

/** Tailscale's direct-connection UDP port; optional at the edge, it only speeds up peer links. */
export const TAILSCALE_DIRECT_UDP_PORT = 41641;

/** Addresses a published port may bind to. Anything else (0.0.0.0, ::, a public IP) is exposure. */
export const LOOPBACK_BIND_ADDRESSES: readonly string[] = ["127.0.0.1", "::1"];

export function isLoopback(address: string): boolean {
    return LOOPBACK_BIND_ADDRESSES.includes(address);
}

/** OVH's IP firewall has 20 rules (0-19), first match wins: the last one denies everything. */
export const EDGE_FINAL_DENY_SEQUENCE = 19;
