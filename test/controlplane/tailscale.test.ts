// The tailscale layer for real (issue #15, Tailscale slice): the program's own layer script joins the
// control-plane test host to a local coordination server (test/tailcontrol: Tailscale's testcontrol over
// plain HTTP, on the machine's end of the host's link) with a tagged auth key, using Tailscale v1.102.5
// built from its Go module (scripts/tailscale-tools.sh) and tailscaled started as its package's unit does.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { encodeParams } from "../../components/actuator/wire";
import { layerScript } from "../../components/host/scripts";
import { TAILNET_TAGS } from "../../components/model/segmentation";
import { layerParams, runLayer } from "../helpers/configured-host";
import { hostStackFile, must, startControlPlaneHost, type ControlPlaneHost } from "./host";
import { randomAuthKey, startTailControl, tailscaleTools, watchProcesses, writeKeyFile, type TailControl } from "./tailnet-control";

const NAME = "tsnode";
const work = mkdtempSync(path.join(tmpdir(), "demesne-tailscale-"));
const KEY = randomAuthKey();
let host: ControlPlaneHost;
let control: TailControl;
let params: Record<string, string>;
/** What the host's tailscaled runs with: kernel TUN if the host can make /dev/net/tun, else userspace. */
let tunMode = "";

const status = async () => JSON.parse(await must(host, "tailscale status --json")) as {
    BackendState: string;
    Self: { PublicKey: string; Tags?: string[]; TailscaleIPs: string[]; HostName: string };
};
const tailscaledPid = async () => (await must(host, "systemctl status tailscaled")).match(/pid (\d+)/)![1]!;
/** What the tailscale layer may change: files outside the kernel's and Docker's scratch file systems and
 * tailscaled's own state (it rewrites that as the netmap comes), and the node's identity on the tailnet. */
const fingerprint = () => must(host, "{ find /etc /usr /var/lib -xdev -path /var/lib/tailscale -prune -o -type f -print0 | " +
    "sort -z | xargs -0 sha256sum; tailscale status --json | jq -c '.Self | {PublicKey, TailscaleIPs, Tags, HostName}'; } | sha256sum");

/** Runs the layer with the given key, returning exit code, stdout and stderr (never throws). */
const runWithKey = async (key: string) => {
    await host.writeFile("/root/tailscale.sh", layerScript("tailscale").text, 0o700);
    return host.exec("bash /root/tailscale.sh", { input: encodeParams({ ...params, AUTH_KEY: key }), timeoutMs: 120_000 });
};

beforeAll(async () => {
    const tools = tailscaleTools();
    host = await startControlPlaneHost(NAME);
    // The machine's end of the host's link: only test hosts reach the server there.
    const machineEnd = host.network.replace(/\.0\/30$/, ".1");
    control = await startTailControl(tools.tailcontrol, machineEnd, writeKeyFile(path.join(work, "authkey"), KEY), [TAILNET_TAGS.servers]);

    // Installed where Tailscale's package puts them, so the layer takes its "already installed" branch.
    copyFileSync(tools.tailscale, path.join(host.root, "usr/bin/tailscale"));
    copyFileSync(tools.tailscaled, path.join(host.root, "usr/sbin/tailscaled"));
    await must(host, "chmod 755 /usr/bin/tailscale /usr/sbin/tailscaled");
    // The test host's /dev has no net/tun; kernel mode needs one, made here if the host may.
    const tun = await host.exec("mkdir -p /dev/net && { [ -c /dev/net/tun ] || mknod -m 600 /dev/net/tun c 10 200; } && " +
        "ip tuntap add dev demesnetun0 mode tun && ip link del demesnetun0");
    tunMode = tun.code === 0 ? "" : "--tun=userspace-networking";
    // The package's /etc/default/tailscaled, with logs kept local (the host has no internet to upload to).
    await host.writeFile("/etc/default/tailscaled", `PORT="41641"\nFLAGS="${tunMode}"\nTS_NO_LOGS_NO_SUPPORT=true\n`);
    await must(host, "systemctl start tailscaled");

    const stackFile = hostStackFile(host, work);
    const stack = parse(readFileSync(stackFile, "utf8")) as { config: Record<string, Record<string, unknown>> };
    stack.config["demesne:tailnet"]!.controlUrl = control.url;
    writeFileSync(stackFile, stringify(stack));
    params = layerParams(stackFile, "t", NAME)("tailscale");
}, 1_500_000);

afterAll(async () => {
    await host?.stop();
    await control?.stop();
    rmSync(work, { recursive: true, force: true });
});

describe("the tailscale layer against a local coordination server", { timeout: 240_000 }, () => {
    it("the program passes the control URL to the layer, and tailscaled waits logged out", async () => {
        expect(params.CONTROL_URL).toBe(control.url);
        expect(params.TAGS).toBe(TAILNET_TAGS.servers);
        expect(params.AUTH_KEY).toBeUndefined(); // a secret param: the program supplies it apart from the plan
        expect(await must(host, "systemctl is-active tailscaled")).toBe("active\n");
        const cmdline = await must(host, `tr '\\0' ' ' < /proc/${await tailscaledPid()}/cmdline`);
        expect(cmdline.trim()).toBe(`/usr/sbin/tailscaled --state=/var/lib/tailscale/tailscaled.state --socket=/run/tailscale/tailscaled.sock --port=41641${tunMode ? ` ${tunMode}` : ""}`);
        // Its unit has no ExecReload: systemctl refuses, and so does the stand-in.
        const reload = await host.exec("systemctl reload tailscaled");
        expect(reload).toMatchObject({ code: 1, stderr: expect.stringContaining("the unit has no ExecReload") });
        // The mode it runs in is the real one: a tailscale0 device with a kernel TUN, none in userspace mode.
        expect((await host.exec("ip link show tailscale0")).code).toBe(tunMode ? 1 : 0);
        expect((await status()).BackendState).toBe("NeedsLogin");
        expect(await control.nodes()).toEqual([]);
    });

    it("joins: changed=true, Running, carrying the servers' tag on both ends; the key never in any argv or environment", async () => {
        const watch = watchProcesses(KEY);
        // Inside the host as well, from its own /proc, until the layer is done.
        const inside = host.exec("{ n=0; while [ ! -e /run/stop-watch ]; do for p in /proc/[0-9]*; do " +
            "tr '\\0' '\\n' < $p/cmdline; tr '\\0' '\\n' < $p/environ; done 2>/dev/null; n=$((n+1)); done; echo sweeps=$n >&2; } | sort -u",
        { timeoutMs: 180_000 });
        let result: string | undefined;
        try {
            result = await runLayer(host, "tailscale", { ...params, AUTH_KEY: KEY });
        } finally {
            await host.exec("touch /run/stop-watch");
        }
        const seen = watch.stop();
        const insideSeen = await inside;
        expect(result, control.log()).toBe("changed=true");
        // Both watches at once, so a leak shows which saw it (the machine's sees the host's processes too).
        expect({ machine: seen.hits, insideHost: insideSeen.stdout.includes(KEY) }, "the key in a process's argv/environ")
            .toEqual({ machine: [], insideHost: false });
        expect(seen.sweeps).toBeGreaterThan(5);
        // It did look at the processes that ran: the layer itself and tailscale up among them.
        expect(insideSeen.stdout).toContain("/root/tailscale.sh");
        expect(insideSeen.stdout).toMatch(/--auth-key=file:\/run\/demesne\/tskey\./);
        expect(Number(insideSeen.stderr.match(/sweeps=(\d+)/)![1])).toBeGreaterThan(2);

        const s = await status();
        expect(s.BackendState).toBe("Running");
        expect(s.Self.Tags).toEqual([TAILNET_TAGS.servers]);
        expect(s.Self.HostName).toBe(NAME);
        expect(s.Self.TailscaleIPs[0]).toMatch(/^100\.64\./);
        const nodes = await control.nodes();
        expect(nodes.map((n) => ({ hostname: n.hostname, tags: n.tags, authorized: n.authorized })))
            .toEqual([{ hostname: NAME, tags: [TAILNET_TAGS.servers], authorized: true }]);
        expect(await must(host, "ls -A /run/demesne")).toBe("");
        // Nor in a file: logs, tailscaled's state, scratch (the pattern comes on stdin, not in grep's argv).
        const files = await host.exec("grep -rlsF -D skip -f /dev/stdin /var/log /var/lib/tailscale /root /run /tmp", { input: `${KEY}\n` });
        expect(files.stdout).toBe("");
    });

    it("a re-run reports changed=false, changes no file, keeps the node and does not restart tailscaled", async () => {
        const pid = await tailscaledPid();
        const before = await fingerprint();
        expect(await runLayer(host, "tailscale", { ...params, AUTH_KEY: KEY })).toBe("changed=false");
        expect(await fingerprint()).toBe(before);
        expect(await tailscaledPid()).toBe(pid);
        expect((await control.nodes()).length).toBe(1);
    });
});

describe("tailscale serve through the layers' serve_https (prelude)", { timeout: 240_000 }, () => {
    // The prelude's serve_https as a layer runs it (service and coolify call it), on its own.
    const probe = async (port: number, local: number) => {
        await host.writeFile("/root/serve-probe.sh", [
            "#!/usr/bin/env bash", "LAYER=serve-probe",
            readFileSync(path.join(__dirname, "../../components/host/scripts/_prelude.sh"), "utf8").replace(/^#!.*\n/, ""),
            "read_params", `serve_https ${port} ${local}`, "finish", "",
        ].join("\n"), 0o700);
        const r = await host.exec("bash /root/serve-probe.sh", { timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`serve_https failed:\n${r.stderr}`);
        return r.stdout.trim().split("\n").pop();
    };
    const proxies = async () => {
        const s = JSON.parse(await must(host, "tailscale serve status --json")) as { Web?: Record<string, { Handlers: Record<string, { Proxy: string }> }> };
        return Object.fromEntries(Object.entries(s.Web ?? {}).map(([k, v]) => [k, v.Handlers["/"]?.Proxy]));
    };

    it("sets the mapping to loopback once (changed=true, then false), replaces a stale target, and listens on the tailnet addresses only", async () => {
        const name = `${NAME}.demesne-test.ts.net`;
        expect(await probe(8443, 18080)).toBe("changed=true");
        expect(await proxies()).toEqual({ [`${name}:8443`]: "http://127.0.0.1:18080" });
        expect(await probe(8443, 18080)).toBe("changed=false");
        expect(await probe(8443, 18081)).toBe("changed=true");
        expect(await proxies()).toEqual({ [`${name}:8443`]: "http://127.0.0.1:18081" });
        // With a kernel TUN the port listens on the node's tailnet addresses only: not on the host's link, any
        // address or loopback. In userspace mode it lives inside tailscaled: no kernel socket at all.
        const tailnetIps = (await status()).Self.TailscaleIPs.map((ip) => (ip.includes(":") ? `[${ip}]:8443` : `${ip}:8443`));
        const listeners = (await must(host, "ss -Hltn 'sport = :8443'")).trim().split("\n").filter(Boolean).map((l) => l.split(/\s+/)[3]);
        expect(listeners.sort()).toEqual(tunMode ? [] : tailnetIps.sort());
    });
});

describe("a refused key", { timeout: 240_000 }, () => {
    const refused = async (key: string) => {
        const r = await runWithKey(key);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("invalid authkey");
        expect(r.stderr).toContain("[tailscale] error: tailscale up failed (its message is above): the auth key may be wrong, spent or expired");
        expect(r.stdout.trim().split("\n").pop()).toBe("changed=false");
        expect(await must(host, "ls -A /run/demesne")).toBe("");
        expect((await status()).BackendState).not.toBe("Running");
    };

    it("a wrong key, then the spent one, fail with tailscale's reason and the layer's, changed=false, no key file left", async () => {
        // A machine that has not joined yet: tailscaled's state gone. (`tailscale logout` cannot stand in:
        // testcontrol asks for the auth key on every registration, a logout's included, and refuses it.)
        await must(host, "systemctl stop tailscaled && rm -rf /var/lib/tailscale && systemctl start tailscaled");
        expect((await status()).BackendState).toBe("NeedsLogin");
        await refused(randomAuthKey());
        // One-off: the key the node joined with is spent (the test server spends it on the node's first poll).
        await refused(KEY);
    });

    it("after a failed join, a fresh key joins: the layer is re-runnable", async () => {
        const fresh = randomAuthKey();
        await control.setKey(fresh);
        expect((await runWithKey(fresh)).stdout.trim().split("\n").pop()).toBe("changed=true");
        const s = await status();
        expect(s).toMatchObject({ BackendState: "Running", Self: { Tags: [TAILNET_TAGS.servers] } });
    });
});

describe("a missing piece fails, naming what to do", () => {
    it("without the built binaries the test stops and names `npm run tailscale-tools`", () => {
        const before = process.env.DEMESNE_CACHE_DIR;
        const empty = mkdtempSync(path.join(tmpdir(), "demesne-no-tailscale-"));
        process.env.DEMESNE_CACHE_DIR = empty;
        try {
            expect(() => tailscaleTools()).toThrow(/missing .*tailscale-v1\.102\.5\/tailscale, .*: build Tailscale v1\.102\.5 and the test control server with `npm run tailscale-tools`/);
        } finally {
            rmSync(empty, { recursive: true });
            if (before === undefined) delete process.env.DEMESNE_CACHE_DIR;
            else process.env.DEMESNE_CACHE_DIR = before;
        }
    });
});
