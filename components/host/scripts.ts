// Layer scripts are static files in ./scripts; each is assembled (LAYER line + prelude + body)
// deterministically, so its sha256 is known at preview and can be recomputed by the policy pack.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { sha256Hex } from "../model/hash";

export const LAYER_SCRIPT_NAMES = [
    "baseline", "ssh", "tailscale", "firewall", "hardening", "audit", "data-disk", "docker", "coolify",
    "backup", "restore", "nvidia", "worker", "service", "confirm",
] as const;

export type LayerScriptName = (typeof LAYER_SCRIPT_NAMES)[number];

export interface LayerScript {
    name: LayerScriptName;
    text: string;
    sha256: string;
}

const SCRIPT_DIR = path.join(__dirname, "scripts");

function readScript(file: string): string {
    return readFileSync(path.join(SCRIPT_DIR, file), "utf8");
}

function stripShebang(text: string): string {
    return text.startsWith("#!") ? text.slice(text.indexOf("\n") + 1) : text;
}

const cache = new Map<string, LayerScript>();

/** The assembled script a layer runs on a host. */
export function layerScript(name: LayerScriptName): LayerScript {
    const hit = cache.get(name);
    if (hit) return hit;
    const text = `#!/usr/bin/env bash\nLAYER=${name}\n${stripShebang(readScript("_prelude.sh"))}\n${readScript(`${name}.sh`)}`;
    const script = { name, text, sha256: sha256Hex(text) };
    cache.set(name, script);
    return script;
}

/** The root-owned runner the deploy user may run with sudo (installed by the baseline layer). */
export function runnerScript(): { text: string; sha256: string } {
    const text = readScript("runner.sh");
    return { text, sha256: sha256Hex(text) };
}

/** The backup runner the backup layer installs (its timers run it; the restore layer reads its config). */
export function backupRunScript(): { text: string; sha256: string } {
    const text = readScript("backup-run.sh");
    return { text, sha256: sha256Hex(text) };
}

/** Every layer's sha256, the catalogue the runner's allowlist and the policy pack are built from. */
export function computeScriptCatalogue(): Record<LayerScriptName, string> {
    return Object.fromEntries(LAYER_SCRIPT_NAMES.map((n) => [n, layerScript(n).sha256])) as Record<LayerScriptName, string>;
}
