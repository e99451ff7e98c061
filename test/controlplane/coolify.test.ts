// The program's coolify layer for real on the control-plane test host (issue #15): its installer is fetched
// over HTTP, checked against the sha256 pinned in the stack, run with the admin's credentials in its
// environment, and every Coolify port re-bound to loopback by the layer's compose override.
// What stands in for what:
//  - the installer is test/controlplane/coolify-installer.sh (see its header), served by busybox httpd on
//    the host's own loopback; the stack pins its sha256 as an operator pins the reviewed install.sh;
//  - the host has no tailscaled, so `tailscale` is test/controlplane/tailscale-standin.sh, which records its
//    argv and keeps serve mappings: the tests assert what serve_https asks of it (the tailnet port proxies
//    to 127.0.0.1:8000 and nothing else), not that a tailnet carries it;
//  - the docker layer is not run first: its daemon.json ("ip": "127.0.0.1") would also keep Coolify's
//    unaddressed ports on loopback, and here the override alone must do it.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../components/model/hash";
import { layerParams, runLayer } from "../helpers/configured-host";
import { fetchFromMachine, hostStackFile, must, startControlPlaneHost, type ControlPlaneHost } from "./host";

const NAME = "coolify";
const work = mkdtempSync(path.join(tmpdir(), "demesne-coolify-"));
const INSTALLER = readFileSync(path.join(__dirname, "coolify-installer.sh"), "utf8");
const CDN = "/srv/coolify-cdn";
const INSTALLER_URL = "http://127.0.0.1:8099/install.sh";
const PORTS = [8000, 6001, 6002];
const SERVE_PORT = 8443;
const SOURCE = "/data/coolify/source";
// What program.ts builds from the config and the coolifyRootPassword secret; only the password is secret.
const PASSWORD = `cp-secret-${randomBytes(18).toString("hex")}`;
const ROOT_ENV = `ROOT_USERNAME=admin\nROOT_USER_EMAIL=ops@example.com\nROOT_USER_PASSWORD=${PASSWORD}\n`;

let host: ControlPlaneHost;
let params: Record<string, string>;
const coolify = () => runLayer(host, "coolify", { ...params, ROOT_ENV });

const fromOutside = (ms = 3_000) => Promise.all(PORTS.flatMap((p) => [
    fetchFromMachine(`http://${host.address}:${p}/`, ms), fetchFromMachine(`http://[${host.address6}]:${p}/`, ms),
]));
const inside = async (port: number) => (await host.exec(`curl -sS --max-time 15 http://127.0.0.1:${port}/`)).stdout;
const containers = () => must(host, "docker ps -a --no-trunc --format '{{.Names}} {{.ID}}' | sort; docker inspect -f '{{.Name}} {{.State.StartedAt}}' coolify coolify-realtime");
/** What the coolify layer may change: rules without counters, files under /etc, /data, /usr/local, /var/lib. */
const fingerprint = () => must(host, "{ { iptables-save; ip6tables-save; } | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'; " +
    "find /etc /data /usr/local /var/lib -xdev -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum");

beforeAll(async () => {
    host = await startControlPlaneHost(NAME);
    const file = hostStackFile(host, work);
    const doc = parse(readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    doc.config["demesne:coolify"] = { host: NAME, rootEmail: "ops@example.com", installerUrl: INSTALLER_URL, installerSha256: sha256Hex(INSTALLER), servePort: SERVE_PORT };
    writeFileSync(file, stringify(doc));
    params = layerParams(file, "t", NAME)("coolify");
    await host.writeFile("/usr/local/bin/tailscale", readFileSync(path.join(__dirname, "tailscale-standin.sh"), "utf8"), 0o755);
    await host.writeFile(`${CDN}/install.sh`, INSTALLER, 0o644);
    await must(host, `busybox httpd -p 127.0.0.1:8099 -h ${CDN}`);
}, 1_500_000);

afterAll(async () => {
    await host?.stop();
});

describe("the coolify layer on the control-plane test host", { timeout: 300_000 }, () => {
    it("the stack pins the installer's sha256 and the layer gets it, the URL and the override", () => {
        expect(params).toMatchObject({ INSTALLER_URL, INSTALLER_SHA256: sha256Hex(INSTALLER), SERVE_PORT: String(SERVE_PORT) });
        expect(params.CUSTOM_COMPOSE).toContain('- "127.0.0.1:8000:8080"');
        // ROOT_ENV is a secret param: the program delivers it on stdin, the plan never holds it.
        expect(params).not.toHaveProperty("ROOT_ENV");
    });

    it("an installer that does not match the pinned sha256 is refused before anything of it runs", async () => {
        const tampered = `${INSTALLER}\ntouch /root/tampered-installer-ran\n`;
        await host.writeFile(`${CDN}/install.sh`, tampered, 0o644);
        try {
            const err = await coolify().then(() => undefined, (e: Error) => e.message);
            expect(err, "the layer was expected to fail").toBeDefined();
            expect(err).toContain(`has sha256 ${sha256Hex(tampered)}, not the pinned ${sha256Hex(INSTALLER)}: not run`);
        } finally {
            await host.writeFile(`${CDN}/install.sh`, INSTALLER, 0o644);
        }
        expect((await host.exec("test -e /data/coolify || test -e /root/tampered-installer-ran")).code).toBe(1);
        expect(await must(host, "docker ps -aq")).toBe("");
        expect(await must(host, "docker images -q --filter 'reference=demesne-test/*'")).toBe("");
        // The download is not left behind either.
        expect(await must(host, "grep -l tampered-installer-ran /tmp/* 2>/dev/null || true")).toBe("");
    });

    it("installs: changed=true, every Coolify port on the host's loopback only, nothing of it reachable from outside", async () => {
        // Sample every process's argv inside the host for the whole run: the password must be in none.
        await must(host, "rm -f /root/sampler.stop; setsid -f bash -c 'until [ -e /root/sampler.stop ]; do " +
            "cat /proc/[0-9]*/cmdline 2>/dev/null | tr \"\\0\" \" \"; echo; sleep 0.02; done' > /root/cmdlines 2>&1 < /dev/null");
        try {
            expect(await coolify()).toBe("changed=true");
        } finally {
            await must(host, "touch /root/sampler.stop; sleep 0.2");
        }
        const outside = await fromOutside();
        expect(outside.filter((r) => r.ok), "a Coolify port answered from outside the host").toEqual([]);
        expect(await inside(8000)).toBe("coolify\n");
        expect(await inside(6001)).toBe("soketi\n");
        expect(await inside(6002)).toBe("soketi\n");
        expect(await must(host, "docker port coolify 8080/tcp")).toBe("127.0.0.1:8000\n");
        expect((await must(host, "docker port coolify-realtime")).split("\n").filter(Boolean).sort())
            .toEqual(["6001/tcp -> 127.0.0.1:6001", "6002/tcp -> 127.0.0.1:6002"]);
    });

    it("the installer got the admin's credentials through its environment, never in any process's argv", async () => {
        const samples = await must(host, "cat /root/cmdlines");
        // The sampler saw the installer and both compose runs (the installer's, then the layer's override).
        expect(samples).toMatch(/bash \/tmp\/tmp\.\w+/);
        expect(samples).toContain(`docker compose --env-file ${SOURCE}/.env -f ${SOURCE}/docker-compose.yml`);
        expect(samples).toContain(`docker compose --project-directory ${SOURCE}`);
        expect(samples).not.toContain(PASSWORD);
        expect(await must(host, `grep -c '^ROOT_USER_PASSWORD=${PASSWORD}$' ${SOURCE}/.env`)).toBe("1\n");
        // The layer's temporary env file is gone.
        expect(await must(host, "grep -l -F -- '" + PASSWORD + "' /tmp/* 2>/dev/null || true")).toBe("");
    });

    it("tailscale serve is asked for the tailnet port to 127.0.0.1:8000 only (a stand-in CLI: no tailnet here)", async () => {
        expect((await must(host, "cat /var/log/tailscale-standin.argv")).split("\n").filter(Boolean))
            .toEqual(["serve status --json", `serve --bg --https=${SERVE_PORT} http://127.0.0.1:8000`]);
        const web = (JSON.parse(await must(host, "tailscale serve status --json")) as { Web: Record<string, { Handlers: Record<string, { Proxy: string }> }> }).Web;
        expect(Object.values(web).map((w) => w.Handlers)).toEqual([{ "/": { Proxy: "http://127.0.0.1:8000" } }]);
        expect(Object.keys(web)).toEqual([`standin.example.ts.net:${SERVE_PORT}`]);
    });

    it("a second run reports changed=false, changes no file or rule and recreates no container", async () => {
        const before = await fingerprint();
        const running = await containers();
        expect(await coolify()).toBe("changed=false");
        expect(await fingerprint()).toBe(before);
        expect(await containers()).toBe(running);
        // The mapping was already there: serve_https only read it.
        expect((await must(host, "tail -n 1 /var/log/tailscale-standin.argv"))).toBe("serve status --json\n");
    });

    it("without the override, the installer's own compose files publish on every address, and a re-run puts them back on loopback", async () => {
        // A hand-run compose up without docker-compose.custom.yml (Coolify's own upgrade includes it).
        await must(host, `docker compose --project-directory ${SOURCE} -f ${SOURCE}/docker-compose.yml -f ${SOURCE}/docker-compose.prod.yml up -d 2>&1`);
        expect(await must(host, "docker port coolify 8080/tcp")).toContain("0.0.0.0:8000");
        const outside = await fromOutside(15_000);
        expect(outside.map((r) => r.body), "every port, IPv4 and IPv6").toEqual(["coolify\n", "coolify\n", "soketi\n", "soketi\n", "soketi\n", "soketi\n"]);
        // The override file is unchanged, yet the layer sees the ports beyond loopback and re-applies it.
        expect(await coolify()).toBe("changed=true");
        expect((await fromOutside()).filter((r) => r.ok), "a Coolify port answered from outside the host").toEqual([]);
        expect(await must(host, "docker port coolify 8080/tcp")).toBe("127.0.0.1:8000\n");
        expect(await coolify()).toBe("changed=false");
    });
});
