// The docker layer's install branch, once, on the control-plane test host (issue #15): the other tests find
// Docker already in the image and take the "already installed" branch. Here Compose is removed, and apt has
// only a local repository served on the host's loopback (the host has no other network), holding the package
// as it was installed (rebuilt from the installed files with dpkg-deb: no download). The layer must install it
// through apt, restart nothing it need not, and report changed=false after.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeParams } from "../../components/actuator/wire";
import { layerParams, runLayer } from "../helpers/configured-host";
import { DEBIAN_DOCKER_PACKAGES, hostStackFile, must, startControlPlaneHost, type ControlPlaneHost } from "./host";

const NAME = "cpinstall";
const PACKAGE = "docker-compose"; // Debian's name for Ubuntu's docker-compose-v2 (DEBIAN_DOCKER_PACKAGES)
const REPO = "/srv/apt-local";
const work = mkdtempSync(path.join(tmpdir(), "demesne-cpinstall-"));
let host: ControlPlaneHost;
let params: Record<string, string>;

const installed = async () => (await host.exec(`dpkg-query -W -f='\${Status}' ${PACKAGE}`)).stdout === "install ok installed";

beforeAll(async () => {
    host = await startControlPlaneHost(NAME);
    params = { ...layerParams(hostStackFile(host, work), "t", NAME)("docker"), PACKAGES: DEBIAN_DOCKER_PACKAGES };
    // The package as installed, back into a .deb; a flat repository (Packages with size and sha256) for apt.
    await must(host, [
        "set -eo pipefail",
        `d=$(mktemp -d); mkdir -p "$d/DEBIAN" ${REPO}`,
        `dpkg-query -L ${PACKAGE} | while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then cp -a --parents "$f" "$d"; fi; done`,
        `dpkg-query -s ${PACKAGE} | grep -v '^Status:' > "$d/DEBIAN/control"`,
        `dpkg-deb --root-owner-group --build "$d" ${REPO}/${PACKAGE}.deb > /dev/null`,
        `cd ${REPO} && { dpkg-deb -f ${PACKAGE}.deb; echo "Filename: ./${PACKAGE}.deb"; echo "Size: $(stat -c %s ${PACKAGE}.deb)";` +
            ` echo "SHA256: $(sha256sum ${PACKAGE}.deb | cut -d' ' -f1)"; echo; } > Packages`,
        `busybox httpd -p 127.0.0.1:8098 -h ${REPO}`,
        // apt sees only the local repository: the host has no route to the Debian archive.
        "mkdir -p /root/apt-sources && mv /etc/apt/sources.list.d/* /root/apt-sources/ 2>/dev/null || true",
        "rm -f /etc/apt/sources.list",
        "echo 'deb [trusted=yes] http://127.0.0.1:8098 ./' > /etc/apt/sources.list.d/local.list",
        `dpkg -r ${PACKAGE} > /dev/null`,
    ].join("\n"));
}, 1_500_000);

afterAll(async () => {
    await host?.stop();
});

describe("the docker layer's install branch, from a local apt repository", { timeout: 300_000 }, () => {
    it("Compose is gone before the layer runs", async () => {
        expect(await installed()).toBe(false);
        expect((await host.exec("docker compose version")).code).not.toBe(0);
    });

    it("the layer installs it through apt (changed=true), and `docker compose` works after", async () => {
        expect(await runLayer(host, "docker", params)).toBe("changed=true");
        expect(await installed()).toBe(true);
        expect(await must(host, "docker compose version --short")).toMatch(/^2\./);
        // It came from the local repository: apt's lists name no other source.
        expect((await must(host, "ls /var/lib/apt/lists")).split("\n").filter((f) => f.endsWith("_Packages"))).toEqual(["127.0.0.1:8098_._Packages"]);
    });

    it("a second run reports changed=false and installs nothing", async () => {
        const before = await must(host, "stat -c %Y /var/lib/dpkg/status");
        expect(await runLayer(host, "docker", params)).toBe("changed=false");
        expect(await must(host, "stat -c %Y /var/lib/dpkg/status")).toBe(before);
    });

    it("a package apt cannot find fails the layer, naming it, and nothing is half-installed", async () => {
        const r = await host.exec(`bash /root/docker.sh`, { input: encodeParams({ ...params, PACKAGES: `${params.PACKAGES} demesne-no-such-package` }), timeoutMs: 120_000 });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain("demesne-no-such-package");
        expect(await must(host, "dpkg --audit; echo audit-done")).toBe("audit-done\n");
    });
});
