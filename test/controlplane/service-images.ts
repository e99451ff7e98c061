// The images the service test runs, pushed to the host's loopback registry and named by the registry's digest:
// the Go stand-ins by default, or with DEMESNE_REAL_IMAGES=1 the real LiteLLM, PostgreSQL and Open WebUI images
// Pulumi.control.yaml pins, which must already be in this machine's docker (`docker pull <ref>`); they reach
// the host by `docker save | docker load`, since the host has no way to a real registry.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { runCommand, type TestHost } from "../helpers/test-host";
import { must } from "./host";
import { pushByDigest } from "./registry";
import { buildStandinBinary, importStandinImages } from "./standins";

export const REAL_IMAGES = process.env.DEMESNE_REAL_IMAGES === "1";

export interface ServiceImages {
    gateway: string;
    postgres: string;
    chatUi: string;
    /** Seconds spent building (or loading) and pushing, for the report. */
    seconds: { build: number; push: number };
}

/** The three references Pulumi.control.yaml pins (gateway image, its Postgres, chat UI). */
export function controlStackImages(): { gateway: string; postgres: string; chatUi: string } {
    const file = path.join(__dirname, "..", "..", "Pulumi.control.yaml");
    const services = (parse(readFileSync(file, "utf8")) as { config: Record<string, unknown> }).config["demesne:services"] as
        { kind: string; image: string; postgresImage?: string }[];
    const gw = services.find((s) => s.kind === "gateway");
    const ui = services.find((s) => s.kind === "open-webui");
    if (!gw?.postgresImage || !ui) throw new Error("Pulumi.control.yaml has no gateway with postgresImage and no open-webui service");
    return { gateway: gw.image, postgres: gw.postgresImage, chatUi: ui.image };
}

async function loadFromMachine(host: TestHost, ref: string): Promise<void> {
    const have = await runCommand("docker", ["image", "inspect", "--format", "{{.Id}}", ref]);
    if (have.code !== 0) throw new Error(`DEMESNE_REAL_IMAGES=1 needs ${ref} in this machine's docker (docker pull ${ref}): ${have.stderr.trim()}`);
    const testhost = path.join(__dirname, "..", "host", "testhost.sh");
    const r = await runCommand("bash", ["-o", "pipefail", "-c", `docker save "$1" | bash "$2" exec "$3" -- docker load -q`, "_", ref, testhost, String(host.index)], { timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`docker save ${ref} | docker load on ${host.name} failed: ${r.stderr.trim()}`);
    // A saved digest reference loads untagged: give it a local name to push from.
    const id = have.stdout.trim();
    await must(host, `docker tag ${id} demesne-test/loaded:${id.slice(7, 19)}`);
}

export async function serviceImages(host: TestHost): Promise<ServiceImages> {
    const t0 = Date.now();
    let local: { gateway: string; postgres: string; chatUi: string };
    if (REAL_IMAGES) {
        const refs = controlStackImages();
        local = { gateway: "", postgres: "", chatUi: "" };
        for (const k of ["gateway", "postgres", "chatUi"] as const) {
            await loadFromMachine(host, refs[k]);
            const id = (await runCommand("docker", ["image", "inspect", "--format", "{{.Id}}", refs[k]])).stdout.trim();
            local[k] = `demesne-test/loaded:${id.slice(7, 19)}`;
        }
    } else {
        const tags = await importStandinImages(host, await buildStandinBinary());
        local = { gateway: tags.gateway, postgres: tags.postgres, chatUi: tags["chat-ui"] };
    }
    const t1 = Date.now();
    const images = {
        gateway: await pushByDigest(host, local.gateway, "demesne-test/gateway", "1"),
        postgres: await pushByDigest(host, local.postgres, "demesne-test/postgres", "1"),
        chatUi: await pushByDigest(host, local.chatUi, "demesne-test/chat-ui", "1"),
    };
    return { ...images, seconds: { build: (t1 - t0) / 1000, push: (Date.now() - t1) / 1000 } };
}

/** Another version of an image already on the host (same program, one more label): its new registry digest. */
export async function nextVersion(host: TestHost, ref: string, repo: string, tag: string): Promise<string> {
    const id = (await must(host, `docker create ${ref}`)).trim();
    await must(host, `docker commit --change 'LABEL demesne.test.version=${tag}' ${id} demesne-test/next:${tag} > /dev/null && docker rm ${id} > /dev/null`);
    return pushByDigest(host, `demesne-test/next:${tag}`, repo, tag);
}
