// Coolify publishes its dashboard (8000), realtime (6001) and terminal (6002) on every address;
// this override re-binds them to loopback (compose `!override` replaces, not merges, the list).
export const COOLIFY_LOOPBACK_PORTS = [
    { service: "coolify", hostPort: 8000, containerPort: 8080 },
    { service: "soketi", hostPort: 6001, containerPort: 6001 },
    { service: "soketi", hostPort: 6002, containerPort: 6002 },
];

export function renderCoolifyOverride(): string {
    const services = [...new Set(COOLIFY_LOOPBACK_PORTS.map((p) => p.service))];
    const lines = ["# Managed by demesne (coolify layer): every Coolify port on loopback only.", "services:"];
    for (const svc of services) {
        lines.push(`  ${svc}:`, "    ports: !override");
        for (const p of COOLIFY_LOOPBACK_PORTS.filter((x) => x.service === svc)) {
            lines.push(`      - "127.0.0.1:${p.hostPort}:${p.containerPort}"`);
        }
    }
    return `${lines.join("\n")}\n`;
}
