import { bindAddressOf } from "../../components/model/compose";
import { isLoopback, NEVER_PUBLIC_PORT_NUMBERS } from "../../components/model/ports";
import { serviceSteps } from "../lib/compose";
import type { DemesneStackPolicy } from "../lib/metadata";
import { decodeStdin, isCommand } from "../lib/steps";

const hostPortOf = (port: string) => Number(port.split(":").slice(-2, -1)[0] ?? port.split(":")[0]);

/** Exposure: services and management planes listen on loopback; reach them through `tailscale serve`. */
export const noPublicManagementPorts: DemesneStackPolicy = {
    name: "no-public-management-ports",
    description: "No service or management port (Coolify 8000/6001/6002, LiteLLM 4000, Open WebUI 3000/8080, Postgres 5432, Ollama 11434, …) is published on a non-loopback address; no container uses host networking; Docker's default bind is loopback.",
    enforcementLevel: "mandatory",
    severity: "critical",
    control: "exposure",
    remediationSteps: "Publish as `127.0.0.1:<port>:<port>` and expose through the tailnet (`servePort`), never on 0.0.0.0.",
    configSchema: {
        properties: {
            extraManagementPorts: { type: "array", items: { type: "number" }, description: "more ports that must stay on loopback" },
        },
    },
    validateStack: (args, report) => {
        const extra = (args.getConfig<{ extraManagementPorts?: number[] }>().extraManagementPorts ?? []) as number[];
        const mgmt = new Set([...NEVER_PUBLIC_PORT_NUMBERS, ...extra]);
        for (const s of serviceSteps(args)) {
            if (!s.project) continue; // images-pinned-by-digest reports an unreadable project
            for (const [name, svc] of Object.entries(s.project.services)) {
                const raw = svc as unknown as Record<string, unknown>;
                if (raw.network_mode === "host") report(`${s.command.name}: ${s.project.name}/${name} uses host networking, which publishes every port`, s.command.urn);
                for (const port of svc.ports ?? []) {
                    const p = String(port);
                    if (isLoopback(bindAddressOf(p))) continue;
                    const what = mgmt.has(hostPortOf(p)) ? "a management port" : "a port";
                    report(`${s.command.name}: ${s.project.name}/${name} publishes ${what} beyond loopback (${p})`, s.command.urn);
                }
            }
        }
        for (const r of args.resources) {
            if (!isCommand(r)) continue;
            const step = decodeStdin(r.props.stdin);
            if ("error" in step) continue;
            if (step.layer === "coolify") {
                for (const m of (step.params.CUSTOM_COMPOSE ?? "").matchAll(/^\s*-\s*"?([^"\s]+)"?\s*$/gm)) {
                    if (!isLoopback(bindAddressOf(m[1]!))) report(`${r.name}: Coolify publishes ${m[1]} beyond loopback`, r.urn);
                }
                if (!/ports: !override/.test(step.params.CUSTOM_COMPOSE ?? "")) report(`${r.name}: the Coolify override does not replace Coolify's own port list (ports: !override)`, r.urn);
            }
            if (step.layer === "docker") {
                let ip: unknown;
                try {
                    ip = (JSON.parse(step.params.DAEMON_JSON ?? "{}") as { ip?: unknown }).ip;
                } catch {
                    ip = undefined;
                }
                if (typeof ip !== "string" || !isLoopback(ip)) report(`${r.name}: Docker's default bind address (daemon.json "ip") is not loopback`, r.urn);
            }
            if (step.layer === "firewall") {
                for (const line of `${step.params.USER_RULES ?? ""}\n${step.params.USER6_RULES ?? ""}`.split("\n")) {
                    const m = /^-A ufw-user-input .*--dport (\d+).* -j ACCEPT/.exec(line);
                    if (m && mgmt.has(Number(m[1]))) report(`${r.name}: the host firewall accepts management port ${m[1]}`, r.urn);
                }
            }
        }
    },
};
