// The service layer for real (issue #15, images by digest): the program's gateway and chat UI services run on
// the control-plane test host with `docker compose up --wait`, their images pulled by digest only from a
// registry on the host's loopback (test/controlplane/registry.ts). Stand-in images by default (standins/);
// with DEMESNE_REAL_IMAGES=1 the images Pulumi.control.yaml pins (service-images.ts). Every assertion is the
// same for both; the one step that differs is how a chat is started in the chat UI (chatThroughUi below).
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadStackFile } from "../../components/config/stack-file";
import { composeProblems } from "../../components/model/compose";
import { planService, providerKeyEnvOf } from "../../components/service/spec";
import { shellQuote } from "../helpers/test-host";
import { keyPair, layerParams, runLayer, serviceParams, writeStackFile, type SecretValues } from "../helpers/configured-host";
import { buildHttpdImage, DEBIAN_DOCKER_PACKAGES, fetchFromMachine, must, startControlPlaneHost, type ControlPlaneHost } from "./host";
import { ProviderDouble } from "./provider-double";
import { startRegistry } from "./registry";
import { nextVersion, REAL_IMAGES, serviceImages, type ServiceImages } from "./service-images";

const NAME = "cpsvc";
const work = mkdtempSync(path.join(tmpdir(), "demesne-controlplane-svc-"));
const hex = (n: number) => randomBytes(n).toString("hex");
const VALUES: SecretValues = {
    providerKeys: { openai: `sk-provider-${hex(16)}` },
    secrets: {
        gatewayMasterKey: `sk-master-${hex(16)}`, gatewaySaltKey: hex(32), gatewayDbPassword: hex(24),
        webuiSecretKey: hex(32), webuiVirtualKey: `sk-virtual-${hex(16)}`,
    },
};
const PROVIDER_KEY = VALUES.providerKeys.openai!;
const MASTER_KEY = VALUES.secrets.gatewayMasterKey!;
const VIRTUAL_KEY = VALUES.secrets.webuiVirtualKey!;
const DIR = "/etc/demesne/services";
let host: ControlPlaneHost;
let provider: ProviderDouble;
let images: ServiceImages;
let observerPub: string;

// Debian calls Compose v2 docker-compose (see docker.test.ts); the rootfs has it, so nothing is installed.

/** A stack with the gateway and the chat UI on the host, with these images; its file's path. */
function stack(name: string, img: { gateway: string; postgres: string; chatUi: string }): string {
    writeStackFile(work, name, [{ name: NAME, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" }], {
        observerPub, adminRange: host.network,
        services: [
            {
                name: "gateway", kind: "gateway", host: NAME, image: img.gateway, postgresImage: img.postgres,
                models: [{ name: "gpt-4o-mini", model: "openai/gpt-4o-mini", providerKey: "openai" }],
                // LiteLLM's own setting for where openai/ models go; here the provider double.
                env: { OPENAI_API_BASE: provider.baseUrl },
            },
            { name: "chat", kind: "open-webui", host: NAME, image: img.chatUi, gateway: "gateway" },
        ],
    });
    return path.join(work, `Pulumi.${name}.yaml`);
}
// Real images start slower (LiteLLM migrates its database, Open WebUI's healthcheck waits for its start).
const LAYER_MS = REAL_IMAGES ? 900_000 : 120_000;
const deploy = async (file: string, service: string) =>
    runLayer(host, "service", await serviceParams(file, path.basename(file).split(".")[1]!, service, VALUES), LAYER_MS);

interface Container { name: string; id: string; started: string; image: string; running: boolean }
async function containers(): Promise<Map<string, Container>> {
    const out = await must(host, "docker ps -aq | xargs -r docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}} {{.Config.Image}} {{.State.Running}}'");
    const rows = out.trim().split("\n").filter(Boolean).map((l) => l.split(" "));
    return new Map(rows.map(([n, id, started, image, running]) => [n!.slice(1), { name: n!.slice(1), id: id!, started: started!, image: image!, running: running === "true" }]));
}
const serviceContainers = async () => [...(await containers()).values()].filter((c) => /^(gateway|chat)[-_]/.test(c.name));
const byProject = async (project: string) => (await must(host, `docker ps -q --filter label=com.docker.compose.project=${project}`)).trim();
const inside = (cmd: string) => host.exec(cmd, { timeoutMs: 30_000 });
const curlJson = async (url: string, key: string, body: object) => {
    const r = await inside(`curl -sS --max-time 20 -w '\\n%{http_code}' -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' -d '${JSON.stringify(body)}' ${url}`);
    const lines = r.stdout.trimEnd().split("\n");
    return { status: Number(lines.pop()), body: lines.join("\n") };
};
const CHAT = { model: "gpt-4o-mini", messages: [{ role: "user", content: "ping" }] };
/**
 * A chat the chat UI sends to its gateway with its own settings (OPENAI_API_BASE_URL, OPENAI_API_KEY). The
 * stand-in takes it on its chat endpoint; real Open WebUI wants a signed-in user there, which a test cannot
 * have with sign-up off, so with DEMESNE_REAL_IMAGES=1 the request is made from inside its container with its
 * environment, by its own Python.
 */
async function chatThroughUi(): Promise<{ status: number; body: string }> {
    if (!REAL_IMAGES) return curlJson("http://127.0.0.1:3000/api/chat/completions", "unused-by-the-stand-in", CHAT);
    const py = "import json,os,urllib.request as u;r=u.Request(os.environ['OPENAI_API_BASE_URL']+'/chat/completions'," +
        `data=json.dumps(${JSON.stringify(CHAT)}).encode(),headers={'Authorization':'Bearer '+os.environ['OPENAI_API_KEY'],'Content-Type':'application/json'});` +
        "print(u.urlopen(r,timeout=20).read().decode());print(200)";
    const r = await inside(`docker exec chat-open-webui-1 python3 -c ${JSON.stringify(py)}`);
    const lines = r.stdout.trimEnd().split("\n");
    return { status: r.code === 0 ? Number(lines.pop()) : 0, body: lines.join("\n") || r.stderr };
}

beforeAll(async () => {
    host = await startControlPlaneHost(NAME);
    // The machine's end of the host's link: 10.251.N.1 for the link 10.251.N.0/30.
    provider = new ProviderDouble(host.network.replace(/\.0\/30$/, ".1"));
    await provider.start();
    observerPub = keyPair(work, "observer").pub;
    // The docker layer's params do not depend on the services: any pinned reference will do here.
    const unused = `unused@sha256:${"0".repeat(64)}`;
    const params = layerParams(stack("base", { gateway: unused, postgres: unused, chatUi: unused }), "base", NAME);
    expect(await runLayer(host, "docker", { ...params("docker"), PACKAGES: DEBIAN_DOCKER_PACKAGES })).toBe("changed=true");
    // The host has no tailnet: a stand-in CLI records the `tailscale serve` mappings the layer makes.
    await host.writeFile("/usr/local/bin/tailscale", readFileSync(path.join(__dirname, "tailscale-standin.sh"), "utf8"), 0o755);
    await startRegistry(host);
    images = await serviceImages(host);
    console.log(`service images (${REAL_IMAGES ? "real" : "stand-ins"}): built/loaded in ${images.seconds.build} s, pushed in ${images.seconds.push} s`);
}, 1_500_000);

afterAll(async () => {
    await provider?.stop();
    await host?.stop();
});

describe("a tag-only image never reaches a host", () => {
    it("the config refuses it, and the Service component's check refuses a hand-built plan that has one", async () => {
        const tagged = stack("tagged", { gateway: "127.0.0.1:5000/demesne-test/gateway:1", postgres: images.postgres, chatUi: images.chatUi });
        expect(() => loadStackFile(tagged)).toThrow(/services\[0\]\.image.*must be pinned by digest/s);
        const cfg = loadStackFile(stack("pinned", images));
        const gw = { ...cfg.services[0]!, image: "127.0.0.1:5000/demesne-test/gateway:1" } as typeof cfg.services[0];
        const plan = planService(cfg, gw);
        expect(composeProblems(plan.compose, { isGateway: true, providerKeyEnv: providerKeyEnvOf(plan) }))
            .toEqual(["gateway/litellm: image 127.0.0.1:5000/demesne-test/gateway:1 is not pinned by @sha256 digest"]);
    });
});

describe("the gateway and the chat UI run from digests", { timeout: 2 * LAYER_MS + 60_000 }, () => {
    it("the service layer brings both up (changed=true), every container created from a registry digest", async () => {
        const file = stack("svc", images);
        expect(await deploy(file, "gateway")).toBe("changed=true");
        expect(await deploy(file, "chat")).toBe("changed=true");
        const running = await serviceContainers();
        expect(running.map((c) => c.name).sort()).toEqual(["chat-open-webui-1", "gateway-db-1", "gateway-litellm"]);
        for (const c of running) {
            expect(c.running, c.name).toBe(true);
            expect([images.gateway, images.postgres, images.chatUi], c.name).toContain(c.image);
            // Pulled by digest: the image has the registry digest and no tag at all.
            const [tags, digests] = (await must(host, `docker image inspect -f '{{json .RepoTags}} {{json .RepoDigests}}' ${c.image}`)).trim().split(" ");
            expect(JSON.parse(tags!), c.name).toEqual([]);
            expect(JSON.parse(digests!), c.name).toEqual([c.image]);
        }
    });

    it("the gateway is ready: it reached its database with the password both got from the env file", async () => {
        const r = await inside("curl -sS --max-time 20 http://127.0.0.1:4000/health/readiness");
        expect(JSON.parse(r.stdout), r.stdout).toMatchObject({ db: "connected" });
    });

    it("every published port answers on the host's loopback and refuses from outside; a 0.0.0.0 port shows outside reaches the host", async () => {
        expect(await must(host, "docker port gateway-litellm")).toBe("4000/tcp -> 127.0.0.1:4000\n");
        expect(await must(host, "docker port chat-open-webui-1")).toBe("8080/tcp -> 127.0.0.1:3000\n");
        expect(await must(host, "docker ps --format '{{.Names}} {{.Ports}}' --filter label=com.docker.compose.project=gateway | grep db")).not.toMatch(/->/);
        for (const [port, url] of [[4000, "/health/liveliness"], [3000, "/health"]] as const) {
            expect((await inside(`curl -fsS --max-time 20 http://127.0.0.1:${port}${url}`)).code, `port ${port} inside`).toBe(0);
            const outside = await fetchFromMachine(`http://${host.address}:${port}${url}`);
            expect(outside.ok, `port ${port} from outside`).toBe(false);
            expect(outside.error, `port ${port} from outside`).toMatch(/ECONNREFUSED/);
            expect((await fetchFromMachine(`http://[${host.address6}]:${port}${url}`)).error, `port ${port} from outside, IPv6`).toMatch(/ECONNREFUSED/);
        }
        await must(host, `docker run -d --name control -p 0.0.0.0:8099:80 ${await buildHttpdImage(host)}`);
        // Docker's rules for a new port take a moment on a loaded machine: poll.
        let control = await fetchFromMachine(`http://${host.address}:8099/`, 15_000);
        for (let i = 0; i < 20 && !control.ok; i++) {
            await new Promise((done) => setTimeout(done, 500));
            control = await fetchFromMachine(`http://${host.address}:8099/`, 15_000);
        }
        expect(control, control.error).toMatchObject({ ok: true, body: "demesne-ok\n" });
        await must(host, "docker rm -f control > /dev/null");
        // What the tailnet is given: the loopback ports, through `tailscale serve` (the stand-in's record).
        const serve = JSON.parse(await must(host, "tailscale serve status --json")) as { Web: Record<string, { Handlers: { "/": { Proxy: string } } }> };
        expect(Object.fromEntries(Object.entries(serve.Web).map(([k, v]) => [k.split(":")[1], v.Handlers["/"].Proxy])))
            .toEqual({ "4000": "http://127.0.0.1:4000", "443": "http://127.0.0.1:3000" });
    });

    it("each service's env file, config and compose file are root's, mode 0600", async () => {
        const files = ["gateway/service.env", "chat/service.env", "gateway/config.json", "gateway/compose.json", "chat/compose.json"];
        const out = await must(host, files.map((f) => `stat -c '%n %U:%G %a' ${DIR}/${f}`).join(" && "));
        expect(out.trim().split("\n")).toEqual(files.map((f) => `${DIR}/${f} root:root 600`));
    });

    it("the provider key is in the gateway container only: not in the chat UI's env, mounts, files or process", async () => {
        const gwEnv = await must(host, "docker inspect -f '{{json .Config.Env}}' gateway-litellm");
        expect(gwEnv).toContain(`OPENAI_API_KEY=${PROVIDER_KEY}`);
        const ui = "chat-open-webui-1";
        const inspect = await must(host, `docker inspect ${ui}`);
        expect(inspect).not.toContain(PROVIDER_KEY);
        expect(inspect).toContain(`OPENAI_API_KEY=${VIRTUAL_KEY}`);
        const pid = (await must(host, `docker inspect -f '{{.State.Pid}}' ${ui}`)).trim();
        const search = `{ docker export ${ui}; cat /proc/${pid}/environ; ` +
            `docker inspect -f '{{range .Mounts}}{{.Source}} {{end}}' ${ui} | xargs -r -n1 sh -c 'tar -C "$0" -c .'; } | grep -a -c -F -e "$1" || true`;
        expect((await must(host, `bash -c ${shellQuote(search)} _ ${PROVIDER_KEY}`)).trim()).toBe("0");
        // The same search finds what is there: the virtual key, in the process's environment.
        expect(Number((await must(host, `bash -c ${shellQuote(search)} _ ${VIRTUAL_KEY}`)).trim())).toBeGreaterThan(0);
    });

    it("the gateway lets a virtual key made with the master key chat, and the provider gets the provider key only", async () => {
        expect((await curlJson("http://127.0.0.1:4000/v1/chat/completions", VIRTUAL_KEY, CHAT)).status).toBe(401);
        const made = await curlJson("http://127.0.0.1:4000/key/generate", MASTER_KEY, { key: VIRTUAL_KEY });
        expect(made.status, made.body).toBe(200);
        provider.requests.length = 0;
        const r = await curlJson("http://127.0.0.1:4000/v1/chat/completions", VIRTUAL_KEY, CHAT);
        expect(r.status, r.body).toBe(200);
        expect(provider.requests).toHaveLength(1);
        expect(provider.requests[0]).toMatchObject({ path: "/v1/chat/completions", authorization: `Bearer ${PROVIDER_KEY}` });
        expect(JSON.stringify(provider.requests[0])).not.toContain(VIRTUAL_KEY);
        expect(JSON.stringify(provider.requests[0])).not.toContain(MASTER_KEY);
    });

    it("the chat UI reaches the gateway by name with its virtual key, and its chat flows on to the provider", async () => {
        provider.requests.length = 0;
        const r = await chatThroughUi();
        expect(r.status, r.body).toBe(200);
        expect(r.body).toContain("hello from the provider double");
        expect(provider.requests).toHaveLength(1);
        expect(provider.requests[0]!.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
        expect(JSON.stringify(provider.requests[0])).not.toContain(VIRTUAL_KEY);
    });

    it("a re-run of both reports changed=false and recreates nothing", async () => {
        const before = await serviceContainers();
        const file = path.join(work, "Pulumi.svc.yaml");
        expect(await deploy(file, "gateway")).toBe("changed=false");
        expect(await deploy(file, "chat")).toBe("changed=false");
        expect(await serviceContainers()).toEqual(before);
    });

    it("a digest the registry does not have fails the layer closed: nothing new runs, the files are put back", async () => {
        const before = await serviceContainers();
        const compose = await must(host, `cat ${DIR}/chat/compose.json`);
        const missing = images.chatUi.replace(/@sha256:.*/, `@sha256:${hex(32)}`);
        await expect(deploy(stack("missing", { ...images, chatUi: missing }), "chat")).rejects.toThrow(/the service layer failed/);
        expect(await serviceContainers()).toEqual(before);
        expect(await must(host, `cat ${DIR}/chat/compose.json`)).toBe(compose);
        expect(await deploy(path.join(work, "Pulumi.svc.yaml"), "chat")).toBe("changed=false");
    });

    it("the layer's own check refuses a port beyond loopback in a hand-built plan, and leaves it closed", async () => {
        const params = await serviceParams(path.join(work, "Pulumi.svc.yaml"), "svc", "chat", VALUES);
        const compose = JSON.parse(params.COMPOSE!) as { services: Record<string, { ports: string[] }> };
        compose.services["open-webui"]!.ports = ["0.0.0.0:3000:8080"];
        await expect(runLayer(host, "service", { ...params, COMPOSE: `${JSON.stringify(compose, null, 2)}\n` }, LAYER_MS))
            .rejects.toThrow(/a port of chat is published beyond loopback/);
        expect(await must(host, "docker port chat-open-webui-1")).toBe("8080/tcp -> 127.0.0.1:3000\n");
        expect((await fetchFromMachine(`http://${host.address}:3000/health`)).error).toMatch(/ECONNREFUSED/);
        expect(await deploy(path.join(work, "Pulumi.svc.yaml"), "chat")).toBe("changed=false");
    });

    it("a new project refused by that check is taken down again: nothing of it runs, its files are gone", async () => {
        const params = await serviceParams(path.join(work, "Pulumi.svc.yaml"), "svc", "chat", VALUES);
        const compose = JSON.parse(params.COMPOSE!) as { name: string; services: Record<string, { ports: string[] }> };
        compose.name = "exposed";
        compose.services["open-webui"]!.ports = ["0.0.0.0:3001:8080"];
        await expect(runLayer(host, "service", { ...params, NAME: "exposed", COMPOSE: `${JSON.stringify(compose, null, 2)}\n`, SERVE: "" }, LAYER_MS))
            .rejects.toThrow(/a port of exposed is published beyond loopback/);
        expect(await must(host, "docker ps -aq --filter label=com.docker.compose.project=exposed")).toBe("");
        expect((await fetchFromMachine(`http://${host.address}:3001/health`)).error).toMatch(/ECONNREFUSED/);
        expect(await must(host, `ls -A ${DIR}/exposed 2>/dev/null || true`)).toBe("");
    });

    it("a new chat UI digest recreates the chat UI only", async () => {
        const before = await containers();
        const chatUi = await nextVersion(host, images.chatUi, "demesne-test/chat-ui", "2");
        expect(chatUi).not.toBe(images.chatUi);
        expect(await deploy(stack("svc2", { ...images, chatUi }), "chat")).toBe("changed=true");
        const after = await containers();
        expect(after.get("chat-open-webui-1")).toMatchObject({ image: chatUi, running: true });
        expect(after.get("chat-open-webui-1")!.id).not.toBe(before.get("chat-open-webui-1")!.id);
        expect(after.get("gateway-litellm")).toEqual(before.get("gateway-litellm"));
        expect(after.get("gateway-db-1")).toEqual(before.get("gateway-db-1"));
        expect(await byProject("chat")).toBe(after.get("chat-open-webui-1")!.id.slice(0, 12));
        expect((await chatThroughUi()).status).toBe(200);
    });
});
