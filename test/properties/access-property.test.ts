// The effective-access property under random configs: whatever services, tiers, ports, ranges, identities
// and hosts an operator writes, a config the program accepts never renders an outcome that breaks the
// segmentation. The checks below read the rendered artefacts with their own code (segmentation.ts's
// grantAllows, the UFW and DOCKER-USER lines), not the model under test. `npm test` runs a fixed seed;
// `npm run test:fuzz` runs many more.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type StackConfig } from "../../components/config/load";
import { planProgram, type ProgramPlan } from "../../components/program";
import { outcomeOfPlan } from "../../components/access-check";
import { grantAllows, TAILNET_TAGS } from "../../components/model/segmentation";
import { controlStack, sourceOf } from "../helpers/stack";
import { FUZZ, arbitraryStack } from "./stack-arbitrary";

type Planned = { cfg: StackConfig; plan: ProgramPlan };

function accept(values: Record<string, unknown>): Planned | ConfigError {
    const s = controlStack();
    Object.assign(s.values, values);
    try {
        const cfg = loadConfig(sourceOf(s), { dryRun: true });
        return { cfg, plan: planProgram(cfg, { stack: "control", project: "demesne", dryRun: true }) };
    } catch (err) {
        if (err instanceof ConfigError) return err;
        throw err;
    }
}

const anywhereOrWide = (src: string) => {
    const [addr, bits] = src.split("/");
    return addr!.includes(":") ? Number(bits) < 48 : Number(bits) < 16;
};

/** Every way the rendered outcome of an accepted config could break the segmentation, by direct reading. */
function breaches({ cfg, plan }: Planned): string[] {
    const out: string[] = [];
    const policy = outcomeOfPlan(cfg, plan).tailnet!;
    const dst = (port: number) => `${TAILNET_TAGS.servers}:${port}`;
    for (const h of cfg.hosts) {
        const steps = [...(plan.hostSteps.get(h.name) ?? []), ...plan.services.filter((s) => s.service.host === h.name).map((s) => s.step)];
        const ports = new Set<number>([22, h.sshPort]);
        for (const s of plan.services.filter((x) => x.service.host === h.name)) for (const p of s.service.ports) ports.add(p.hostPort);
        for (const sp of steps) for (const line of (sp.params.SERVE ?? "").split("\n")) if (line) ports.add(Number(line.split(" ")[0]));
        for (const port of ports) {
            for (const tag of [TAILNET_TAGS.guest, TAILNET_TAGS.agent]) if (grantAllows(policy, tag, dst(port))) out.push(`${tag} reaches ${h.name}:${port}`);
        }
        for (const port of new Set([22, h.sshPort])) if (grantAllows(policy, TAILNET_TAGS.team, dst(port))) out.push(`team reaches SSH ${h.name}:${port}`);
        // A team-granted serve port must lead to a loopback port that only team-tier services publish.
        for (const sp of steps) {
            for (const line of (sp.params.SERVE ?? "").split("\n").filter(Boolean)) {
                const [port, local] = line.split(" ").map(Number);
                if (!grantAllows(policy, TAILNET_TAGS.team, dst(port!))) continue;
                const publishers = plan.services.filter((s) => s.service.host === h.name && s.service.ports.some((p) => p.hostPort === local));
                if (publishers.length === 0 || publishers.some((s) => s.service.trustTier !== "team")) out.push(`team reaches loopback ${h.name}:${local} through ${port}`);
            }
            if (sp.script === "coolify" && grantAllows(policy, TAILNET_TAGS.team, dst(Number(sp.params.SERVE_PORT)))) out.push(`team reaches Coolify on ${h.name}`);
            for (const line of `${sp.params.USER_RULES ?? ""}\n${sp.params.USER6_RULES ?? ""}`.split("\n")) {
                if (!/^-A ufw6?-user-input .*-j ACCEPT/.test(line)) continue;
                const src = / -s (\S+)/.exec(line)?.[1];
                if (!src || anywhereOrWide(src)) out.push(`the host firewall of ${h.name} accepts ${line}`);
            }
            for (const m of (sp.params.AFTER_BLOCK ?? "").matchAll(/-j RETURN -s (\S+)/g)) {
                if (!/^(10\.|172\.(1[6-9]|2\d|3[01])\.|192\.168\.|f[cd])/.test(m[1]!)) out.push(`DOCKER-USER on ${h.name} trusts ${m[1]}`);
            }
            if (sp.script === "service") {
                for (const svc of Object.values(JSON.parse(sp.params.COMPOSE!).services) as { ports?: string[] }[]) {
                    for (const p of svc.ports ?? []) if (!/^(127\.0\.0\.1|\[?::1\]?):/.test(p)) out.push(`${h.name} publishes ${p}`);
                }
            }
        }
        const edge = h.edgeFirewall && h.publicIp;
        if (!edge && h.edgeFirewall !== false) out.push(`${h.name} has no edge firewall and the config does not say so`);
    }
    for (const [role, name] of [["deploy", cfg.deployUser], ...cfg.adminUsers.map((a) => ["admin", a]), ...cfg.hosts.map((h) => ["bootstrap", h.bootstrapUser])]) {
        if (name === "root") out.push(`root is a ${role} user`);
    }
    if (cfg.adminUsers.includes(cfg.deployUser) || cfg.hosts.some((h) => h.bootstrapUser === cfg.deployUser || cfg.adminUsers.includes(h.bootstrapUser))) out.push("one identity holds two roles");
    return out;
}

describe("the effective-access property over random configs", () => {
    it(`no accepted config renders an outcome that breaks the segmentation (${FUZZ.runs} configs, seed ${FUZZ.seed})`, () => {
        let accepted = 0;
        let refused = 0;
        let byOutcome = 0;
        fc.assert(fc.property(arbitraryStack(), (values) => {
            const r = accept(values);
            if (r instanceof ConfigError) {
                refused++;
                if (r.problems.some((p) => p.startsWith("effective access: "))) byOutcome++;
                // Every refusal names a key.
                for (const p of r.problems) expect(p).toMatch(/demesne:[a-zA-Z]/);
                return;
            }
            accepted++;
            expect(breaches(r)).toEqual([]);
        }), { numRuns: FUZZ.runs, seed: FUZZ.seed });
        console.log(`effective access: ${FUZZ.runs} configs tried, ${accepted} accepted, ${refused} refused (${byOutcome} by the outcome model)`);
        // The generators reach both sides: dangerous shapes and configs that pass.
        expect(accepted).toBeGreaterThan(FUZZ.runs / 50);
        expect(refused).toBeGreaterThan(FUZZ.runs / 20);
        // Some dangerous shapes pass every field check and only the outcome model refuses them.
        expect(byOutcome).toBeGreaterThan(0);
    }, 30_000 + FUZZ.runs * 100);
});
