/**
 * `npm run bench:converge` (also part of `npm run bench`): a bare control-plane test host (test/controlplane/
 * host.ts) brought to the control plane by the program's own layers — docker, firewall (and its confirm),
 * tailscale against the local coordination server, the gateway and chat UI services from the loopback
 * registry, coolify from its stand-in installer — then every layer run again, which must report
 * changed=false. Each phase is printed as a ratio to the bare host's bring-up measured in the same run
 * (medians over --reps), never against an absolute time. Each rep also brings up a second host that runs the
 * hardening layer (and its confirm) after the firewall, as the program orders it; the last rows are that host's
 * converge and re-run of all layers as a ratio to the first host's, in the same rep (the two alternate which goes
 * first). The audit layer is left out: no test host's kernel lets it audit (test/host/hardening.test.ts).
 * Needs root, Go and `npm run tailscale-tools`.
 * Options: --reps N (default 2), --json
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { parse, stringify } from "yaml";
import { sha256Hex } from "../../components/model/hash";
import { TAILNET_TAGS } from "../../components/model/segmentation";
import { layerParams, runLayer, serviceParams, type SecretValues } from "../helpers/configured-host";
import { DEBIAN_DOCKER_PACKAGES, hostStackFile, must, startControlPlaneHost } from "../controlplane/host";
import { ProviderDouble } from "../controlplane/provider-double";
import { startRegistry } from "../controlplane/registry";
import { serviceImages } from "../controlplane/service-images";
import { randomAuthKey, startTailControl, tailscaleTools, writeKeyFile } from "../controlplane/tailnet-control";

const { values: opts } = parseArgs({ options: { reps: { type: "string", default: "2" }, json: { type: "boolean", default: false } } });
const REPS = Number(opts.reps);
if (!Number.isInteger(REPS) || REPS < 1) throw new Error(`--reps: expected a whole number of at least 1, got ${opts.reps}`);
const log = (s: string) => process.stderr.write(`${s}\n`);
const CONTROLPLANE = path.join(__dirname, "..", "controlplane");
const hex = (n: number) => randomBytes(n).toString("hex");
const INSTALLER = readFileSync(path.join(CONTROLPLANE, "coolify-installer.sh"), "utf8");
const LAYERS = ["docker", "firewall", "tailscale", "service gateway", "service chat", "coolify"] as const;
const HARDENED_LAYERS = ["docker", "firewall", "hardening", "tailscale", "service gateway", "service chat", "coolify"] as const;
type Layer = (typeof HARDENED_LAYERS)[number];
type Phase = "bring-up" | Layer;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
    const t = process.hrtime.bigint();
    const r = await f();
    return [r, Number(process.hrtime.bigint() - t) / 1e6];
}

/** One bare host up, then every layer twice: the converge, then the no-op re-run. */
async function oneRun(rep: number, layers: readonly Layer[]): Promise<{ converge: Record<Phase, number>; rerun: Record<string, number> }> {
    const work = mkdtempSync(path.join(tmpdir(), "demesne-bench-converge-"));
    const tools = tailscaleTools();
    const [host, up] = await timed(() => startControlPlaneHost(`bench-cp${rep}${layers.includes("hardening") ? "h" : ""}`));
    const provider = new ProviderDouble(host.network.replace(/\.0\/30$/, ".1"));
    const authKey = randomAuthKey();
    const control = await startTailControl(tools.tailcontrol, host.network.replace(/\.0\/30$/, ".1"),
        writeKeyFile(path.join(work, "authkey"), authKey), [TAILNET_TAGS.servers]);
    try {
        await provider.start();
        // What is not the program's to do on a real host: Tailscale's package (here: the built binaries and
        // tailscaled started as its unit would), the registry, the images, the installer's CDN.
        copyFileSync(tools.tailscale, path.join(host.root, "usr/bin/tailscale"));
        copyFileSync(tools.tailscaled, path.join(host.root, "usr/sbin/tailscaled"));
        await host.writeFile("/etc/default/tailscaled", 'PORT="41641"\nFLAGS="--tun=userspace-networking"\nTS_NO_LOGS_NO_SUPPORT=true\n');
        await must(host, "chmod 755 /usr/bin/tailscale /usr/sbin/tailscaled && systemctl start tailscaled");
        await startRegistry(host);
        const images = await serviceImages(host);
        await host.writeFile("/srv/coolify-cdn/install.sh", INSTALLER, 0o644);
        await must(host, "busybox httpd -p 127.0.0.1:8099 -h /srv/coolify-cdn");

        const values: SecretValues = {
            providerKeys: { openai: `sk-provider-${hex(16)}` },
            secrets: { gatewayMasterKey: `sk-master-${hex(16)}`, gatewaySaltKey: hex(32), gatewayDbPassword: hex(24), webuiSecretKey: hex(32), webuiVirtualKey: `sk-virtual-${hex(16)}` },
        };
        const file = hostStackFile(host, work, {
            stack: "b",
            services: [
                { name: "gateway", kind: "gateway", host: host.name, image: images.gateway, postgresImage: images.postgres,
                    models: [{ name: "gpt-4o-mini", model: "openai/gpt-4o-mini", providerKey: "openai" }], env: { OPENAI_API_BASE: provider.baseUrl } },
                { name: "chat", kind: "open-webui", host: host.name, image: images.chatUi, gateway: "gateway" },
            ],
        });
        const doc = parse(readFileSync(file, "utf8")) as { config: Record<string, Record<string, unknown>> };
        doc.config["demesne:tailnet"]!.controlUrl = control.url;
        doc.config["demesne:coolify"] = { host: host.name, rootEmail: "ops@example.com", installerUrl: "http://127.0.0.1:8099/install.sh", installerSha256: sha256Hex(INSTALLER), servePort: 8443 };
        writeFileSync(file, stringify(doc));
        const params = layerParams(file, "b", host.name);
        const rootEnv = `ROOT_USERNAME=admin\nROOT_USER_EMAIL=ops@example.com\nROOT_USER_PASSWORD=${hex(18)}\n`;
        /** A lock-out-capable layer, confirmed as the program confirms it once it has changed something. */
        const confirmed = async (layer: "firewall" | "hardening") => {
            const r = await runLayer(host, layer, params(layer));
            if (r === "changed=true") await runLayer(host, "confirm", { TARGET_LAYER: layer });
            return r;
        };
        const run: Record<Layer, () => Promise<string | undefined>> = {
            docker: () => runLayer(host, "docker", { ...params("docker"), PACKAGES: DEBIAN_DOCKER_PACKAGES }),
            firewall: () => confirmed("firewall"),
            hardening: () => confirmed("hardening"),
            tailscale: () => runLayer(host, "tailscale", { ...params("tailscale"), AUTH_KEY: authKey }),
            "service gateway": async () => runLayer(host, "service", await serviceParams(file, "b", "gateway", values)),
            "service chat": async () => runLayer(host, "service", await serviceParams(file, "b", "chat", values)),
            coolify: () => runLayer(host, "coolify", { ...params("coolify"), ROOT_ENV: rootEnv }),
        };
        const converge = { "bring-up": up } as Record<Phase, number>;
        const rerun: Record<string, number> = {};
        for (const [pass, expected, into] of [["converge", "changed=true", converge], ["re-run", "changed=false", rerun]] as const) {
            for (const layer of layers) {
                const [result, ms] = await timed(run[layer]);
                if (result !== expected) throw new Error(`rep ${rep}, ${pass}: the ${layer} layer reported ${result}, not ${expected}`);
                (into as Record<string, number>)[layer] = ms;
                log(`rep ${rep}${layers.includes("hardening") ? " (hardened)" : ""} ${pass} ${layer}: ${(ms / 1000).toFixed(1)} s`);
            }
        }
        return { converge, rerun };
    } finally {
        await provider.stop();
        await control.stop();
        await host.stop();
    }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

const sum = (m: Record<string, number>, layers: readonly string[]) => layers.reduce((n, l) => n + m[l]!, 0);

async function main(): Promise<void> {
    const runs: Awaited<ReturnType<typeof oneRun>>[] = [];
    /**
     * Per rep, the hardened host's all-layer converge and re-run over the plain host's, and the hardening layer's
     * own time over the plain host's: the first includes what it costs the other layers, the second is immune to
     * the machine's load changing between the two hosts (a shared machine: it does).
     */
    const ratios: { converge: number; rerun: number; layerConverge: number; layerRerun: number }[] = [];
    for (let rep = 1; rep <= REPS; rep++) {
        // Alternating which host goes first, so that neither always runs on the warmer machine.
        const hardenedFirst = rep % 2 === 0;
        const hardened = hardenedFirst ? await oneRun(rep, HARDENED_LAYERS) : undefined;
        const plain = await oneRun(rep, LAYERS);
        const h = hardened ?? await oneRun(rep, HARDENED_LAYERS);
        runs.push(plain);
        const [plainConverge, plainRerun] = [sum(plain.converge, LAYERS), sum(plain.rerun, LAYERS)];
        ratios.push({
            converge: sum(h.converge, HARDENED_LAYERS) / plainConverge, rerun: sum(h.rerun, HARDENED_LAYERS) / plainRerun,
            layerConverge: h.converge.hardening / sum(h.converge, LAYERS), layerRerun: h.rerun.hardening! / sum(h.rerun, LAYERS),
        });
    }
    const up = median(runs.map((r) => r.converge["bring-up"]));
    const rows: { phase: string; pass: string; ms: number }[] = [
        ...(["bring-up", ...LAYERS] as Phase[]).map((p) => ({ phase: p, pass: "converge", ms: median(runs.map((r) => r.converge[p])) })),
        ...LAYERS.map((p) => ({ phase: p, pass: "re-run", ms: median(runs.map((r) => r.rerun[p]!)) })),
    ];
    const total = (pass: string) => rows.filter((r) => r.pass === pass && r.phase !== "bring-up").reduce((n, r) => n + r.ms, 0);
    rows.push({ phase: "all layers", pass: "converge", ms: total("converge") }, { phase: "all layers", pass: "re-run", ms: total("re-run") });
    const out = rows.map((r) => ({ ...r, ms: Math.round(r.ms), ratioToBringUp: Number((r.ms / up).toFixed(2)) }));
    const ratio = (k: keyof (typeof ratios)[number]) => Number(median(ratios.map((r) => r[k])).toFixed(2));
    const hardening = { converge: ratio("converge"), rerun: ratio("rerun"), layerConverge: ratio("layerConverge"), layerRerun: ratio("layerRerun") };
    if (opts.json) {
        process.stdout.write(`${JSON.stringify({ reps: REPS, rows: out, withHardeningRatio: hardening })}\n`);
        return;
    }
    console.log(`control-plane converge, median of ${REPS} run(s); ratio to the bare host's bring-up in this run`);
    console.log("pass      phase            median ms  × bring-up");
    for (const r of out) console.log(`${r.pass.padEnd(9)} ${r.phase.padEnd(16)} ${String(r.ms).padStart(9)}  ${r.ratioToBringUp.toFixed(2).padStart(9)}`);
    console.log("with the hardening layer (median over reps)  hardened host ÷ plain host   hardening layer ÷ the other layers, same host");
    console.log(`converge                                     ${hardening.converge.toFixed(2).padStart(27)}   ${hardening.layerConverge.toFixed(2).padStart(36)}`);
    console.log(`re-run                                       ${hardening.rerun.toFixed(2).padStart(27)}   ${hardening.layerRerun.toFixed(2).padStart(36)}`);
}

main().catch((e: unknown) => {
    process.stderr.write(`bench:converge: ${(e as Error).message}\n`);
    process.exitCode = 1;
});
