// `npm run steps` refuses exactly what `pulumi preview --policy-pack` would: the program's own validation
// (index.ts under the mock engine) with the same message, and every mandatory policy of the pack.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../components/config/load";
import { loadStackFile } from "../components/config/stack-file";
import { planProgram } from "../components/program";
import { REPO } from "./helpers/stack";

const run = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), "demesne-steps-"));
type Doc = { config: Record<string, unknown> };

/** The control stack with the T3 approvals its reviewer typed, edited by `edit`, written to a stack file. */
function stackFile(name: string, edit: (c: Record<string, unknown>) => void = () => undefined): string {
    const doc = parse(readFileSync(path.join(REPO, "Pulumi.control.yaml"), "utf8")) as Doc;
    const file = path.join(dir, `Pulumi.${name}.yaml`);
    // Approve its T3 steps as they are after `edit` (the shipped tokens are for the shipped content).
    delete doc.config["demesne:approvals"];
    edit(doc.config);
    writeFileSync(file, stringify(doc));
    let missing: { key: string; token: string }[] = [];
    try {
        missing = planProgram(loadStackFile(file), { stack: "control", project: "demesne", dryRun: true }).missing;
    } catch {
        // A config the program refuses has nothing to approve: steps must refuse it as it is.
    }
    doc.config["demesne:approvals"] = Object.fromEntries(missing.map((m) => [m.key, m.token]));
    writeFileSync(file, stringify(doc));
    return file;
}

async function steps(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
        const r = await run(process.execPath, ["--import", "tsx", path.join(REPO, "scripts", "steps.ts"), "--file", file], { cwd: REPO });
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
        const err = e as { code: number; stdout: string; stderr: string };
        return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
}

/** The message the program itself refuses the file with, as `pulumi preview` prints it. */
function programRefusal(file: string): string {
    try {
        planProgram(loadStackFile(file), { stack: "control", project: "demesne", dryRun: true });
    } catch (err) {
        if (err instanceof ConfigError) return err.message;
    }
    return "(accepted)";
}

const services = (c: Record<string, unknown>) => c["demesne:services"] as Record<string, unknown>[];
const image = `docker.io/library/nginx@sha256:${"d".repeat(64)}`;
const results = new Map<string, { file: string; code: number; stdout: string; stderr: string }>();

const CASES: Record<string, (c: Record<string, unknown>) => void> = {
    approved: () => undefined,
    "team on SSH": (c) => void services(c).push({ name: "wiki", kind: "custom", host: "control-1", image, trustTier: "team", servePort: 22, ports: [{ hostPort: 9000, containerPort: 80 }] }),
    "a typo of the kill switch": (c) => void (c["demesne:killSwich"] = true),
    "a provider key in plain text": (c) => void (c["demesne:providerKeys"] = { openai: "sk-plaintext-key-for-the-test" }),
    "a key that lives longer than the pack allows": (c) => void ((c["demesne:tailnet"] as Record<string, unknown>).authKeyExpirySeconds = 172800),
};

beforeAll(async () => {
    // One process per case, side by side: each runs the program under the mock engine, then the pack.
    await Promise.all(Object.entries(CASES).map(async ([name, edit], i) => {
        const file = stackFile(`case${i}`, edit);
        results.set(name, { file, ...(await steps(file)) });
    }));
}, 180_000);

describe("npm run steps runs the program's validation and the policy pack", () => {
    it("passes a reviewed, approved stack: every step listed, no violation, exit 0", () => {
        const r = results.get("approved")!;
        expect(r.stderr).toBe("");
        expect(r.stdout).toContain("control-1-service-chat");
        expect(r.stdout).toContain("policy pack: no violation");
        expect(r.code).toBe(0);
    });

    it.each(["team on SSH", "a typo of the kill switch", "a provider key in plain text"])("refuses %s with the program's own message", (name) => {
        const r = results.get(name)!;
        expect(r.code).toBe(2);
        const message = programRefusal(r.file);
        expect(message).not.toBe("(accepted)");
        expect(r.stderr.trim()).toBe(message.trim());
        expect(r.stderr).not.toContain("sk-plaintext-key-for-the-test");
    });

    it("refuses what only the pack refuses, naming the policy", () => {
        const r = results.get("a key that lives longer than the pack allows")!;
        expect(programRefusal(r.file)).toBe("(accepted)");
        expect(r.code).toBe(3);
        expect(r.stderr).toMatch(/^mandatory policy tailnet-auth-keys: .*auth key expiry must be set and at most 86400 s$/m);
    });
});
