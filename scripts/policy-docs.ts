// Rewrites the generated regions of the policy and docs Markdown from the code's own definitions
// (`npx tsx scripts/policy-docs.ts`; `--check` only reports). A region is everything between
// `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; text outside the markers is never touched.
// test/docs.test.ts renders the same regions in memory and fails when a file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { loadStackFile } from "../components/config/stack-file";
import { renderEdgeRules, type EdgeRule } from "../components/edge/rules";
import { EDGE_FINAL_DENY_SEQUENCE, LOOPBACK_BIND_ADDRESSES, NEVER_PUBLIC_PORTS, SSH_PORT, TAILSCALE_DIRECT_UDP_PORT } from "../components/model/ports";
import {
    ADMINS_GROUP, failingTailnetTests, grantAllows, renderTailnetPolicy, TAILNET_TAGS, type TailnetExposure, UNTRUSTED_TAGS,
} from "../components/model/segmentation";
import { isT3Class, MODE_NAMES, MODES, STEP_CLASS_NAMES, STEP_CLASSES } from "../components/model/tiers";
import { planProgram } from "../components/program-plan";
import { providerKeyEnvName, renderLitellmConfig } from "../components/render/litellm";
import { OPEN_WEBUI_ENV } from "../components/service/spec";
import { POLICIES } from "../policy-pack/policies";
import { HARDENING_REGIONS } from "./hardening-docs";
import { BACKUP_REGIONS } from "./backup-docs";

export const ROOT = path.join(__dirname, "..");

/** The stack the examples are rendered for, and the admin range the edge example uses (RFC 5737). */
export const EXAMPLE_STACK = "control";
export const EXAMPLE_ADMIN_RANGE = "198.51.100.0/24";

/** Which regions each file carries; a file with a missing, extra or unknown region is an error. */
export const GENERATED_DOCS: Record<string, readonly string[]> = {
    "policy/segmentation.md": ["tailnet-tags", "tailnet-policy"],
    "policy/ovh-firewall-rationale.md": ["edge-rules", "never-public-ports"],
    "policy/data-handling.md": ["gateway-models", "gateway-settings", "chat-ui-settings"],
    "policy/article-32-measures.md": ["policy-pack"],
    "docs/architecture.md": ["step-tiers"],
    "docs/hardening.md": Object.keys(HARDENING_REGIONS),
    "docs/backups.md": Object.keys(BACKUP_REGIONS),
    "policy/retention-and-erasure.md": ["backup-retention"],
};

const table = (head: string[], rows: string[][]): string =>
    [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
const code = (s: string | number) => `\`${s}\``;

/** What each tag is for. A tag added to the model without a line here stops the generator. */
const TAG_ROLES: Record<keyof typeof TAILNET_TAGS, string> = {
    team: "people's devices that use the chat UI and the gateway",
    guest: "visitors' devices (semi-trusted)",
    agent: "reserved for automated agents; automation runs off-box",
    servers: "the hosts demesne configures (their auth keys carry only this tag)",
};

function neverPublicPorts(): string {
    const rows = NEVER_PUBLIC_PORTS.map((p) => [code(p.port), p.what]);
    return [
        `Published only on ${LOOPBACK_BIND_ADDRESSES.map(code).join(" or ")}; never permitted by UFW or the OVH edge firewall`,
        "(`components/model/ports.ts`, `NEVER_PUBLIC_PORTS`):",
        "",
        table(["port", "what"], rows),
        "",
        `The only inbound ports a host's public address may accept are TCP ${SSH_PORT} (from the admin ranges) and,`,
        `when \`demesne:tailnet.directUdp\` is on, UDP ${TAILSCALE_DIRECT_UDP_PORT} (Tailscale's direct connections).`,
    ].join("\n");
}

function edgeRules(): string {
    const withUdp = renderEdgeRules({ adminRanges: [EXAMPLE_ADMIN_RANGE], directUdp: true });
    const without = renderEdgeRules({ adminRanges: [EXAMPLE_ADMIN_RANGE], directUdp: false });
    const same = (a: EdgeRule, b: EdgeRule) => JSON.stringify(a) === JSON.stringify(b);
    const rows = withUdp.map((r) => [
        code(r.sequence), r.action, r.protocol, r.source ? code(r.source) : "any", r.destinationPort !== undefined ? code(r.destinationPort) : "any",
        r.tcpOption ?? "—", without.some((w) => same(w, r)) ? "always" : "only with `directUdp: true`",
    ]);
    // The most admin ranges that fit, found by asking the renderer itself.
    const maxRanges = (directUdp: boolean) => {
        let n = 0;
        for (;;) {
            const ranges = Array.from({ length: n + 1 }, (_, i) => `198.51.100.${i}/32`);
            try {
                renderEdgeRules({ adminRanges: ranges, directUdp });
            } catch {
                return n;
            }
            n += 1;
        }
    };
    return [
        `\`renderEdgeRules\` (\`components/edge/rules.ts\`) for the admin range ${code(EXAMPLE_ADMIN_RANGE)}, with and without direct UDP:`,
        "",
        table(["sequence", "action", "protocol", "source", "destination port", "TCP option", "present"], rows),
        "",
        `One SSH permit per IPv4 admin range from sequence 2 on; IPv6 ranges are skipped (the edge firewall is IPv4 only).`,
        `At most ${maxRanges(false)} IPv4 admin ranges fit (${maxRanges(true)} with direct UDP): the renderer refuses more, and refuses any`,
        `permit of a never-public port. The final deny is at sequence ${EDGE_FINAL_DENY_SEQUENCE}.`,
    ].join("\n");
}

function stepTiers(): string {
    const rows = STEP_CLASS_NAMES.map((name) => {
        const c = STEP_CLASSES[name];
        return [code(name), c.create, c.update, c.replace, c.delete, c.lockOutCapable ? "yes" : "no", isT3Class(name) ? "yes" : "no", c.description];
    });
    return [
        "`STEP_CLASSES` (`components/model/tiers.ts`); an unchanged step, a read and a refresh are T0; an unknown class or operation is T3.",
        "",
        table(["step class", "create", "update", "replace", "delete", "lock-out-capable", "T3-class", "what"], rows),
        "",
        "Modes (`MODES`; the ceiling is enforced by `demesne approve` and `demesne apply`):",
        "",
        table(["mode", "highest tier allowed"], MODE_NAMES.map((m) => [code(m), MODES[m]])),
    ].join("\n");
}

function tailnetTags(): string {
    const rows = (Object.keys(TAILNET_TAGS) as (keyof typeof TAILNET_TAGS)[]).map((k) => {
        const tag = TAILNET_TAGS[k];
        if (!TAG_ROLES[k]) throw new Error(`scripts/policy-docs.ts: no role written for tailnet tag ${tag}`);
        const reach = UNTRUSTED_TAGS.includes(tag) ? "nothing on the servers (asserted by the policy's tests)"
            : tag === TAILNET_TAGS.servers ? "— (destination)" : "the servers' team-tier ports";
        return [code(tag), TAG_ROLES[k], reach];
    });
    rows.push([code(ADMINS_GROUP), "the admins' tailnet logins (`demesne:tailnet.admins`)", "every exposed port on the servers, and SSH"]);
    const owners = [...new Set(Object.values(renderTailnetPolicy({ admins: [], exposures: [] }).tagOwners).flat())];
    return [
        "From `TAILNET_TAGS`, `ADMINS_GROUP` and `UNTRUSTED_TAGS` (`components/model/segmentation.ts`). Every tag is owned by",
        `${owners.map(code).join(", ")}: only ${owners.length === 1 && owners[0] === ADMINS_GROUP ? "an admin" : "those owners"} may apply it to a device.`,
        "",
        table(["tag / group", "who", "may reach"], rows),
    ].join("\n");
}

/** The tailnet exposures of a stack, as components/program.ts gathers them (services' servePorts, then Coolify). */
export function exposuresOfStack(stack: string): { admins: string[]; exposures: TailnetExposure[] } {
    const cfg = loadStackFile(path.join(ROOT, `Pulumi.${stack}.yaml`));
    const plan = planProgram(cfg, { stack, project: "demesne", dryRun: true });
    const exposures: TailnetExposure[] = plan.services.flatMap((s) => (s.exposure
        ? [{ port: s.exposure.port, tier: s.exposure.tier, what: `${s.service.kind} service \`${s.service.name}\`` }] : []));
    if (cfg.coolify?.enabled) exposures.push({ port: cfg.coolify.servePort, tier: "admin", what: "Coolify dashboard" });
    return { admins: cfg.tailnet.admins, exposures };
}

function tailnetPolicy(): string {
    const { admins, exposures } = exposuresOfStack(EXAMPLE_STACK);
    const policy = renderTailnetPolicy({ admins, exposures });
    const failures = failingTailnetTests(policy);
    if (failures.length > 0) throw new Error(`the ${EXAMPLE_STACK} stack's tailnet policy fails its own tests: ${failures.join("; ")}`);
    const ports = [...new Set([SSH_PORT, ...exposures.map((e) => e.port)])].sort((a, b) => a - b);
    const what = (p: number) => (p === SSH_PORT ? "OpenSSH (admin tier)" : exposures.filter((e) => e.port === p).map((e) => `${e.what} (${e.tier} tier)`).join(", "));
    const sources = [TAILNET_TAGS.team, ...UNTRUSTED_TAGS, ADMINS_GROUP];
    const matrix = sources.map((src) => [code(src), ...ports.map((p) => (grantAllows(policy, src, `${TAILNET_TAGS.servers}:${p}`) ? "yes" : "no"))]);
    const list = (xs: string[] | undefined) => (xs && xs.length > 0 ? xs.map(code).join(", ") : "—");
    return [
        `The policy \`renderTailnetPolicy\` renders for the \`${EXAMPLE_STACK}\` stack (\`Pulumi.${EXAMPLE_STACK}.yaml\`). Ports exposed with \`tailscale serve\`:`,
        "",
        table(["port", "what"], ports.map((p) => [code(p), what(p)])),
        "",
        "Grants (default deny: nothing else is reachable):",
        "",
        table(["src", "dst", "ip"], policy.grants.map((g) => [list(g.src), list(g.dst), list(g.ip)])),
        "",
        `Who reaches which port on ${code(TAILNET_TAGS.servers)} (\`grantAllows\`, the question Tailscale asks of a test):`,
        "",
        table(["source", ...ports.map(code)], matrix),
        "",
        "The policy's `tests` (Tailscale refuses to save a policy whose tests fail; the program and the policy pack evaluate them first):",
        "",
        table(["src", "accept", "deny"], policy.tests.map((t) => [t.src.includes("@") ? "each admin login" : code(t.src), list(t.accept), list(t.deny)])),
    ].join("\n");
}

function policyPack(): string {
    return [
        "`POLICIES` (`policy-pack/policies.ts`), every one mandatory:",
        "",
        table(["policy", "control", "severity"], POLICIES.map((p) => [code(p.name), p.control, p.severity])),
    ].join("\n");
}

function gatewayModels(): string {
    const cfg = loadStackFile(path.join(ROOT, `Pulumi.${EXAMPLE_STACK}.yaml`));
    const rows = cfg.services.flatMap((s) => (s.kind === "gateway"
        ? s.models.map((m) => [code(s.name), code(m.name), m.model, code(providerKeyEnvName(m.providerKey))]) : []));
    return [
        `The gateway's allowlist in \`Pulumi.${EXAMPLE_STACK}.yaml\` (an example: replace it with the models your DPA covers):`,
        "",
        table(["gateway", "model name (what clients ask for)", "provider model", "key's env name (gateway only)"], rows),
    ].join("\n");
}

function gatewaySettings(): string {
    const cfg = JSON.parse(renderLitellmConfig([])) as Record<string, Record<string, unknown>>;
    const rows = (["litellm_settings", "general_settings"] as const).flatMap((section) =>
        Object.entries(cfg[section] ?? {}).map(([k, v]) => [code(section), code(k), code(JSON.stringify(v))]));
    return [
        "What `renderLitellmConfig` (`components/render/litellm.ts`) writes besides the model list:",
        "",
        table(["section", "setting", "value"], rows),
    ].join("\n");
}

function chatUiSettings(): string {
    return [
        "`OPEN_WEBUI_ENV` (`components/service/spec.ts`), set on every `open-webui` service:",
        "",
        table(["variable", "value"], Object.entries(OPEN_WEBUI_ENV).map(([k, v]) => [code(k), code(v)])),
    ].join("\n");
}

const RENDERERS: Record<string, () => string> = {
    "never-public-ports": neverPublicPorts,
    "edge-rules": edgeRules,
    "step-tiers": stepTiers,
    "tailnet-tags": tailnetTags,
    "tailnet-policy": tailnetPolicy,
    "policy-pack": policyPack,
    "gateway-models": gatewayModels,
    "gateway-settings": gatewaySettings,
    "chat-ui-settings": chatUiSettings,
    ...HARDENING_REGIONS,
    ...BACKUP_REGIONS,
};

/** Every region's text, rendered from the code. */
export function renderRegions(): Record<string, string> {
    return Object.fromEntries(Object.entries(RENDERERS).map(([name, render]) => [name, render()]));
}

const MARKER = /<!-- (\/?)generated:([a-z0-9-]+) -->/g;

/** The file with each region replaced; throws naming the file when markers are unbalanced or regions differ from GENERATED_DOCS. */
export function updateDoc(file: string, text: string, regions: Record<string, string>): string {
    const want = GENERATED_DOCS[file] ?? [];
    const seen: string[] = [];
    let out = "";
    let last = 0;
    let open: { name: string; end: number } | undefined;
    for (const m of text.matchAll(MARKER)) {
        const [marker, close, name] = m as unknown as [string, string, string];
        const at = m.index ?? 0;
        if (!close) {
            if (open) throw new Error(`${file}: generated:${name} opens inside generated:${open.name}`);
            if (!(name in regions)) throw new Error(`${file}: unknown region generated:${name} (known: ${Object.keys(regions).join(", ")})`);
            if (seen.includes(name)) throw new Error(`${file}: region generated:${name} appears twice`);
            open = { name, end: at + marker.length };
            continue;
        }
        if (!open || open.name !== name) throw new Error(`${file}: /generated:${name} closes nothing`);
        // Blank lines around the region keep Markdown from running a table into a marker.
        out += `${text.slice(last, open.end)}\n\n${regions[name]}\n\n`;
        last = at;
        seen.push(name);
        open = undefined;
    }
    if (open) throw new Error(`${file}: generated:${open.name} is never closed`);
    const missing = want.filter((n) => !seen.includes(n));
    const extra = seen.filter((n) => !want.includes(n));
    if (missing.length > 0 || extra.length > 0) {
        throw new Error(`${file}: regions ${JSON.stringify(seen)} differ from scripts/policy-docs.ts's GENERATED_DOCS ${JSON.stringify(want)}`);
    }
    return out + text.slice(last);
}

/** Each generated file as it is and as it should be. */
export function generatedDocs(root = ROOT): { file: string; current: string; expected: string }[] {
    const regions = renderRegions();
    return Object.keys(GENERATED_DOCS).map((file) => {
        const current = readFileSync(path.join(root, file), "utf8");
        return { file, current, expected: updateDoc(file, current, regions) };
    });
}

if (require.main === module) {
    const check = process.argv.includes("--check");
    const stale = generatedDocs().filter((d) => d.current !== d.expected);
    for (const d of stale) {
        if (!check) writeFileSync(path.join(ROOT, d.file), d.expected);
        console.log(`${check ? "stale" : "rewrote"} ${d.file}`);
    }
    if (stale.length === 0) console.log("generated regions are up to date");
    if (check && stale.length > 0) process.exit(1);
}
