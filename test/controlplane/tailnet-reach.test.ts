// "Reachable from the tailnet only where the segmentation allows", with real packets between two tailnet
// nodes (issue #15): a server node the program's docker, firewall and tailscale layers configured, and a
// peer node (tailscaled alone, another key and tag), both joined to test/tailcontrol. The two test hosts sit
// on separate /30 links and the machine forwards nothing between them, so their WireGuard packets travel
// through tailcontrol's DERP relay: the server's link carries it, and the peer reaches the machine's end of
// that link through its own (a /32 route in the peer's namespace; the machine delivers it locally, no
// forwarding).
//
// What it shows (Tailscale v1.102.5, Docker 26): tailscaled puts its ts-input and ts-forward chains first in
// INPUT and FORWARD and they ACCEPT whatever arrives on tailscale0, before UFW's rules and before the firewall
// layer's DOCKER-USER block. So with an allow-all tailnet policy, SSH and any port Docker publishes on 0.0.0.0
// answer every tailnet node; only what listens on loopback alone stays out. The tailnet policy (the packet
// filter the control server sends, enforced by tailscaled) is then the only gate on the tailnet side, and a
// filter compiled from the program's own policy (renderTailnetPolicy: a team-tier service port, SSH for admins)
// lets a team device reach the serve port and nothing else.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { grantAllows, renderTailnetPolicy, TAILNET_TAGS, type TailnetPolicy } from "../../components/model/segmentation";
import { layerParams, runLayer } from "../helpers/configured-host";
import { buildHttpdImage, DEBIAN_DOCKER_PACKAGES, fetchFromMachine, hostStackFile, must, startControlPlaneHost, type ControlPlaneHost } from "./host";
import { randomAuthKey, startTailControl, tailscaleTools, writeKeyFile, type TailControl } from "./tailnet-control";

const work = mkdtempSync(path.join(tmpdir(), "demesne-tailnet-reach-"));
const SERVER_KEY = randomAuthKey();
const PEER_KEY = randomAuthKey();
/** Published on 0.0.0.0 (a port someone forgot to keep on loopback). */
const OPEN_PORT = 8080;
/** Published on 127.0.0.1, as a service's port is. */
const LOOPBACK_PORT = 18080;
/** The tailnet HTTPS port serve_https maps to the loopback port. */
const SERVE_PORT = 8443;
let server: ControlPlaneHost;
let peer: ControlPlaneHost;
let control: TailControl;
let serverIp = "";

const machineEnd = (h: ControlPlaneHost) => h.network.replace(/\.0\/30$/, ".1");

/** Copies the built binaries in, makes /dev/net/tun and starts tailscaled as its package's unit does. */
async function startTailscaled(host: ControlPlaneHost, tools: ReturnType<typeof tailscaleTools>): Promise<void> {
    copyFileSync(tools.tailscale, path.join(host.root, "usr/bin/tailscale"));
    copyFileSync(tools.tailscaled, path.join(host.root, "usr/sbin/tailscaled"));
    await must(host, "chmod 755 /usr/bin/tailscale /usr/sbin/tailscaled && mkdir -p /dev/net && " +
        "{ [ -c /dev/net/tun ] || mknod -m 600 /dev/net/tun c 10 200; }");
    await host.writeFile("/etc/default/tailscaled", "PORT=\"41641\"\nFLAGS=\"\"\nTS_NO_LOGS_NO_SUPPORT=true\n");
    await must(host, "systemctl start tailscaled");
}

/**
 * One TCP connection attempt from the peer to the server's tailnet address: "open" (connected), "refused"
 * (a reset came back: nothing listens, or a REJECT) or "dropped" (no answer within the timeout).
 */
async function connect(port: number, seconds = 4): Promise<string> {
    const r = await peer.exec(`timeout ${seconds} bash -c 'exec 3<>/dev/tcp/${serverIp}/${port}' 2>&1; echo "rc=$?"`, { timeoutMs: 30_000 });
    if (/rc=0$/m.test(r.stdout)) return "open";
    if (/rc=124$/m.test(r.stdout)) return "dropped";
    if (/Connection refused/.test(r.stdout)) return "refused";
    return `other: ${r.stdout.trim()}`;
}

beforeAll(async () => {
    const tools = tailscaleTools();
    [server, peer] = await Promise.all([startControlPlaneHost("tsreach-srv"), startControlPlaneHost("tsreach-peer")]);
    control = await startTailControl(tools.tailcontrol, machineEnd(server), writeKeyFile(path.join(work, "authkey"), SERVER_KEY),
        [TAILNET_TAGS.servers, TAILNET_TAGS.team], { ownMapStream: true });
    // The peer's only way to the control server and its DERP: the machine's end of the server's link, reached
    // through the machine's end of its own (delivered locally on the machine: nothing is forwarded).
    await must(peer, `ip route add ${machineEnd(server)}/32 via ${machineEnd(peer)}`);

    // The server: the program's docker, firewall and tailscale layers, with the program's params.
    const stackFile = hostStackFile(server, work);
    const stack = parse(readFileSync(stackFile, "utf8")) as { config: Record<string, Record<string, unknown>> };
    stack.config["demesne:tailnet"]!.controlUrl = control.url;
    writeFileSync(stackFile, stringify(stack));
    const params = layerParams(stackFile, "t", server.name);
    expect(await runLayer(server, "docker", { ...params("docker"), PACKAGES: DEBIAN_DOCKER_PACKAGES })).toBe("changed=true");
    expect(await runLayer(server, "firewall", params("firewall"))).toBe("changed=true");
    expect(await runLayer(server, "confirm", { TARGET_LAYER: "firewall" })).toBe("changed=true");
    await startTailscaled(server, tools);
    expect(await runLayer(server, "tailscale", { ...params("tailscale"), AUTH_KEY: SERVER_KEY }), control.log()).toBe("changed=true");
    serverIp = (await must(server, "tailscale ip -4")).trim();

    // The peer: tailscaled alone, joined with a second one-off key as a team member's device.
    await control.setKey(PEER_KEY);
    await startTailscaled(peer, tools);
    await peer.writeFile("/run/peer.key", PEER_KEY, 0o600);
    await must(peer, `tailscale up --auth-key=file:/run/peer.key --login-server=${control.url} --advertise-tags=${TAILNET_TAGS.team} ` +
        "--hostname=tsreach-peer --accept-dns=false && rm /run/peer.key", 120_000);
}, 1_800_000);

afterAll(async () => {
    await Promise.all([server?.stop(), peer?.stop()]);
    await control?.stop();
    rmSync(work, { recursive: true, force: true });
});


/** The server's FORWARD chain's jumps, in order. */
const forwardJumps = async () => (await must(server, "iptables -S FORWARD")).split("\n").filter((l) => l.startsWith("-A FORWARD -j ")).map((l) => l.slice(14));
/** An HTTP GET from the peer to the server's tailnet address: the body, or "" with curl's complaint. */
const getFromPeer = async (port: number, seconds = 4) => {
    const r = await peer.exec(`curl -sS --max-time ${seconds} http://${serverIp}:${port}/`, { timeoutMs: 30_000 });
    return r.code === 0 ? r.stdout : `curl exit ${r.code}: ${r.stderr.trim()}`;
};
/** Polls until check() holds or ms pass; returns the last value. */
async function until<T>(get: () => Promise<T>, check: (v: T) => boolean, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
        const v = await get();
        if (check(v) || Date.now() > deadline) return v;
        await new Promise((d) => setTimeout(d, 1_000));
    }
}

describe("two tailnet nodes on separate links", { timeout: 240_000 }, () => {
    it("talk through tailcontrol's DERP relay; the machine forwards nothing between the links", async () => {
        expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe("0");
        // The server's own address on its link is out of the peer's reach: only the tailnet joins them.
        expect((await peer.exec(`timeout 4 bash -c 'exec 3<>/dev/tcp/${server.address}/22'`)).code).not.toBe(0);
        // It exits 1 when no direct path comes up, which is the point here: every pong comes through DERP.
        const ping = await peer.exec(`tailscale ping -c 3 ${serverIp}`, { timeoutMs: 60_000 });
        expect(ping.stderr).toContain("direct connection not established");
        expect(ping.stdout).toMatch(new RegExp(`pong from ${server.name} \\(${serverIp.replace(/\./g, "\\.")}\\) via DERP\\(test\\)`));
        const nodes = await control.nodes();
        expect(nodes.map((n) => [n.hostname, n.tags]).sort()).toEqual([[server.name, [TAILNET_TAGS.servers]], [peer.name, [TAILNET_TAGS.team]]].sort());
    });

    it("the server runs a container on 0.0.0.0, a service on loopback, a serve mapping to it and sshd on its tailnet address", async () => {
        const image = await buildHttpdImage(server);
        await must(server, `docker run -d --name open -p 0.0.0.0:${OPEN_PORT}:80 ${image} > /dev/null && ` +
            `docker run -d --name svc -p 127.0.0.1:${LOOPBACK_PORT}:80 ${image} > /dev/null`);
        // The prelude's serve_https as the service and coolify layers call it.
        await server.writeFile("/root/serve.sh", ["#!/usr/bin/env bash", "LAYER=serve",
            readFileSync(path.join(__dirname, "../../components/host/scripts/_prelude.sh"), "utf8").replace(/^#!.*\n/, ""),
            "read_params", `serve_https ${SERVE_PORT} ${LOOPBACK_PORT}`, "finish", ""].join("\n"), 0o700);
        expect((await must(server, "bash /root/serve.sh", 60_000)).trim().split("\n").pop()).toBe("changed=true");
        // The program leaves sshd listening on every address; the test host pins its own to the link, so a
        // second sshd stands for it on the tailnet address.
        await must(server, `/usr/sbin/sshd -o ListenAddress=${serverIp}:22 -o PidFile=/run/sshd-tailnet.pid`);
        expect(await must(server, `curl -sS --max-time 15 http://127.0.0.1:${LOOPBACK_PORT}/`)).toBe("demesne-ok\n");
    });
});

describe("testcontrol's allow-all packet filter (a tailnet with no policy): what the host's own firewall decides", { timeout: 240_000 }, () => {
    it("the loopback-only port is not reachable from the tailnet (nothing listens on the tailnet address)", async () => {
        expect(await connect(LOOPBACK_PORT)).toBe("refused");
    });

    it("the serve port is: a TCP connection to tailscaled's listener (no TLS certificate here: the handshake fails)", async () => {
        expect(await connect(SERVE_PORT)).toBe("open");
        const tls = await peer.exec(`curl -sSk --max-time 10 https://${serverIp}:${SERVE_PORT}/`, { timeoutMs: 30_000 });
        expect(tls.stderr).toMatch(/TLS|SSL/);
    });

    it("SSH answers from the whole tailnet: tailscaled's ts-input accepts tailscale0 before UFW's admin-range rule", async () => {
        const input = (await must(server, "iptables -S INPUT")).split("\n").filter((l) => l.startsWith("-A INPUT -j "));
        expect(input[0]).toBe("-A INPUT -j ts-input");
        expect(await must(server, "iptables -S ts-input")).toContain("-A ts-input -i tailscale0 -j ACCEPT");
        const banner = await peer.exec(`timeout 5 bash -c 'exec 3<>/dev/tcp/${serverIp}/22; head -c 8 <&3'`);
        expect(banner.stdout).toBe("SSH-2.0-");
    });

    // A finding, asserted as it is: DOCKER-USER is never consulted for a packet from tailscale0 (moved above
    // ts-forward by hand, it does drop it). The tailnet policy alone keeps such a port from tailnet nodes.
    it("the 0.0.0.0 container answers from the tailnet: ts-forward ACCEPTs before DOCKER-USER, which still stops the link", async () => {
        const jumps = await forwardJumps();
        expect(jumps.indexOf("ts-forward")).toBeLessThan(jumps.indexOf("DOCKER-USER"));
        expect(await must(server, "iptables -S ts-forward")).toContain("-A ts-forward -m mark --mark 0x40000/0xff0000 -j ACCEPT");
        expect(await getFromPeer(OPEN_PORT, 10)).toBe("demesne-ok\n");
        // From the machine, on the server's link, the firewall layer's block holds.
        const link = await fetchFromMachine(`http://${server.address}:${OPEN_PORT}/`);
        expect(link.error).toMatch(/no answer within/);
    });

    // Docker re-inserts its isolation chain at the top on start but leaves an existing DOCKER-USER jump in place.
    it("the same after a restart of dockerd: Docker puts its isolation chain first, ts-forward still before DOCKER-USER", async () => {
        await must(server, "systemctl restart docker");
        const jumps = await forwardJumps();
        expect(jumps.indexOf("ts-forward")).toBeLessThan(jumps.indexOf("DOCKER-USER"));
        expect(await until(() => getFromPeer(OPEN_PORT, 5), (b) => b === "demesne-ok\n", 30_000)).toBe("demesne-ok\n");
    });
});

/**
 * The packet filter a server node gets from a policy, as Tailscale's control server compiles grants: each grant
 * whose dst names the servers' tag becomes a rule from its sources' addresses to those TCP ports on the node.
 * Only tag sources are resolved (addressesOf); a group's members are people, and no test node is one.
 */
function serverFilter(policy: TailnetPolicy, addressesOf: Record<string, string[]>): object[] {
    return policy.grants.filter((g) => g.dst.includes(TAILNET_TAGS.servers)).flatMap((g) => {
        const srcs = g.src.flatMap((s) => addressesOf[s] ?? []);
        const ports = g.ip.map((ip) => Number(/^tcp:(\d+)$/.exec(ip)![1]));
        return srcs.length === 0 ? [] : [{ SrcIPs: srcs, DstPorts: ports.map((p) => ({ IP: "*", Ports: { First: p, Last: p } })), IPProto: [6] }];
    });
}

describe("the program's tailnet policy for a team-tier service on the serve port: tailscaled's packet filter is the gate", { timeout: 240_000 }, () => {
    const policy = renderTailnetPolicy({ admins: ["ops@example.com"], exposures: [{ port: SERVE_PORT, tier: "team", what: "a service" }] });

    it("from a team device: the serve port connects; SSH (admins only), the 0.0.0.0 container and the loopback port do not", async () => {
        // The model's own answer first, then the packets'.
        expect(grantAllows(policy, TAILNET_TAGS.team, `${TAILNET_TAGS.servers}:${SERVE_PORT}`)).toBe(true);
        expect(grantAllows(policy, TAILNET_TAGS.team, `${TAILNET_TAGS.servers}:22`)).toBe(false);
        const peerIps = (await must(peer, "tailscale ip")).trim().split("\n");
        await control.setPacketFilter(server.name, serverFilter(policy, { [TAILNET_TAGS.team]: peerIps }));
        // The server applies the filter once its map stream carries it (within a second or two).
        expect(await until(() => getFromPeer(OPEN_PORT, 3), (b) => b !== "demesne-ok\n", 30_000)).not.toBe("demesne-ok\n");
        expect(await connect(SERVE_PORT)).toBe("open");
        expect(await connect(OPEN_PORT)).toBe("dropped");
        expect(await connect(22)).toBe("dropped");
        expect(await connect(LOOPBACK_PORT)).toBe("dropped");
        // The container itself is fine: it still answers on the server.
        expect(await must(server, `curl -sS --max-time 15 http://127.0.0.1:${OPEN_PORT}/`)).toBe("demesne-ok\n");
    });
});
