// DOCKER-USER on every Docker network, with real packets (issue #15, adr/0019). Compose gives each project a
// network of its own (172.18.0.0/16 and up), and Docker 27, Ubuntu 24.04's, writes ip6tables rules by default,
// so a network with IPv6 on DNATs its published ports over IPv6 too. A block that only drops new connections to
// docker0's subnet, over IPv4, let both through; the firewall layer's block drops what Docker DNATs, whatever the
// network, in both families. The old block is kept here, as a fixture, to show the hole it left.
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOCKER_DAEMON } from "../../components/host/layers";
import { layerParams, runLayer } from "../helpers/configured-host";
import { buildHttpdImage, DEBIAN_DOCKER_PACKAGES, fetchFromMachine, fetchUntilAnswered, hostStackFile, must, startControlPlaneHost, type ControlPlaneHost } from "./host";

const NAME = "cpnets";
const work = mkdtempSync(path.join(tmpdir(), "demesne-cpnets-"));
let host: ControlPlaneHost;
let params: (layer: string) => Record<string, string>;
let machineSide: Server;

/** The block the firewall layer wrote before adr/0019: trust and drop by docker0's subnet, IPv4 only. */
const SUBNET_BLOCK = [
    "# BEGIN UFW AND DOCKER", "*filter", ":ufw-user-forward - [0:0]", ":ufw-docker-logging-deny - [0:0]", ":DOCKER-USER - [0:0]",
    "-A DOCKER-USER -j ufw-user-forward",
    "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
    "-A DOCKER-USER -m conntrack --ctstate INVALID -j DROP",
    "-A DOCKER-USER -i docker0 -o docker0 -j ACCEPT",
    "-A DOCKER-USER -j RETURN -s 172.17.0.0/16",
    "-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d 172.17.0.0/16",
    "-A DOCKER-USER -j RETURN",
    "-A ufw-docker-logging-deny -j DROP", "COMMIT", "# END UFW AND DOCKER", "",
].join("\n");

// Published ports: the default bridge, a compose-style network, and one with IPv6 on.
const PORTS = { bridge: 8180, project: 8181, dual: 8182 };
/** This machine's end of the host's link: the first address of its /30. */
const machineEnd = () => host.network.split("/")[0]!.replace(/\d+$/, (n) => String(Number(n) + 1));
const DROPPED_MS = 3_000;
const ANSWERED_MS = 15_000;
const from4 = (port: number, ms = DROPPED_MS) => fetchFromMachine(`http://${host.address}:${port}/`, ms);
const from6 = (port: number, ms = DROPPED_MS) => fetchFromMachine(`http://[${host.address6}]:${port}/`, ms);
const reached = async (port: number, family: 4 | 6) =>
    (await fetchUntilAnswered(family === 4 ? `http://${host.address}:${port}/` : `http://[${host.address6}]:${port}/`, ANSWERED_MS)).ok;
const dropped = async (port: number, family: 4 | 6) => {
    const r = await (family === 4 ? from4 : from6)(port);
    return !r.ok && /no answer within/.test(r.error ?? "");
};

beforeAll(async () => {
    host = await startControlPlaneHost(NAME);
    params = layerParams(hostStackFile(host, work), "t", NAME);
    expect(await runLayer(host, "docker", { ...params("docker"), PACKAGES: DEBIAN_DOCKER_PACKAGES })).toBe("changed=true");
    // Docker 27's defaults over the program's daemon.json: ip6tables on (Docker 26 has it behind experimental).
    await must(host, `echo '${JSON.stringify({ ...DOCKER_DAEMON, experimental: true, ip6tables: true })}' > /etc/docker/daemon.json && systemctl restart docker`);
    await must(host, `ufw default deny incoming && ufw default deny routed && ufw allow from ${host.network} to any port 22 proto tcp && ufw --force enable`);
    const image = await buildHttpdImage(host);
    await must(host, [
        "set -e",
        "docker network create project >/dev/null",
        "docker network create --ipv6 --subnet fd00:d0c:1::/64 dual >/dev/null",
        `docker run -d --name on-bridge -p 0.0.0.0:${PORTS.bridge}:80 ${image}`,
        `docker run -d --name on-project --network project -p 0.0.0.0:${PORTS.project}:80 ${image}`,
        `docker run -d --name on-dual --network dual -p 0.0.0.0:${PORTS.dual}:80 -p '[::]:${PORTS.dual}:80' ${image}`,
    ].join("\n"));
    // What a container reaches beyond the host (the internet, in production): a server on this machine's end.
    machineSide = createServer((_req, res) => res.end("machine-ok\n"));
    await new Promise<void>((done) => machineSide.listen(8199, machineEnd(), done));
}, 1_500_000);

afterAll(async () => {
    machineSide?.close();
    await host?.stop();
});

describe("DOCKER-USER on every Docker network, with real packets", { timeout: 180_000 }, () => {
    it("Docker DNATs the IPv6 network's port over IPv6 (so it crosses FORWARD, not INPUT)", async () => {
        expect(await must(host, "ip6tables -t nat -S DOCKER")).toContain(`--dport ${PORTS.dual} -j DNAT`);
    });

    it("without a block, each published port answers from outside: the bypass, on every network and over IPv6", async () => {
        for (const port of Object.values(PORTS)) expect(await reached(port, 4), `IPv4 port ${port}`).toBe(true);
        expect(await reached(PORTS.dual, 6)).toBe(true);
    });

    it("the subnet block of before adr/0019 stops docker0's container only: a compose network and IPv6 get through", async () => {
        await host.writeFile("/root/subnet-block.rules", SUBNET_BLOCK, 0o600);
        await must(host, "cp /etc/ufw/after.rules /root/after.rules.orig && cat /root/subnet-block.rules >> /etc/ufw/after.rules && ufw reload >/dev/null");
        expect(await dropped(PORTS.bridge, 4)).toBe(true);
        expect(await reached(PORTS.project, 4)).toBe(true);
        expect(await reached(PORTS.dual, 6)).toBe(true);
        await must(host, "cp /root/after.rules.orig /etc/ufw/after.rules && ufw reload >/dev/null");
    });

    it("the firewall layer's blocks drop them all, over IPv4 and IPv6", async () => {
        expect(await runLayer(host, "firewall", params("firewall"))).toBe("changed=true");
        expect(await runLayer(host, "confirm", { TARGET_LAYER: "firewall" })).toBe("changed=true");
        expect(await must(host, "ip6tables -S DOCKER-USER")).toContain("-A DOCKER-USER -j ufw6-user-forward");
        const results = await Promise.all([
            ...Object.values(PORTS).map((p) => dropped(p, 4)),
            dropped(PORTS.dual, 6),
        ]);
        expect(results).toEqual([true, true, true, true]);
    });

    it("each container still answers on the host's loopback, and still reaches beyond the host", async () => {
        for (const port of Object.values(PORTS)) {
            expect(await must(host, `curl -sS --max-time 15 http://127.0.0.1:${port}/`)).toBe("demesne-ok\n");
        }
        // A process `docker exec` starts is in the container's file system, not the host's or this machine's
        // (the test host pivots its root: a chroot left the namespace's root the machine's /).
        expect((await must(host, "docker exec on-bridge /bin/busybox ls /")).split("\n")).toContain("www");
        const machine = machineEnd();
        for (const c of ["on-bridge", "on-project", "on-dual"]) {
            expect(await must(host, `docker exec ${c} /bin/busybox wget -q -O - -T 10 http://${machine}:8199/`), c).toBe("machine-ok\n");
        }
    });

    it("a second run of the firewall layer changes nothing", async () => {
        expect(await runLayer(host, "firewall", params("firewall"))).toBe("changed=false");
    });
});
