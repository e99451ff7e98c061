// Containers as drift sees them, from `docker ps --all --no-trunc --format '{{json .}}'` as Docker 26.1.5
// (Debian trixie, the control-plane test host) really printed it: one container published on every address,
// one on loopback, one created and never started. The end-to-end version runs in
// test/controlplane/observe-docker.test.ts.
import { describe, expect, it } from "vitest";
import { pinnedByDigest, publishedBindings } from "../../state-model/drift/containers";
import { computeDrift, type HostState } from "../../state-model/drift/drift";
import type { IgnoreRule } from "../../state-model/drift/ignore";
import { parseProbe } from "../../state-model/observe/parse";

const DOCKER_26_PS = [
    String.raw`{"Command":"\"/bin/busybox httpd -f -p 80 -h /www\"","CreatedAt":"2026-12-06 14:20:43 +0000 UTC","ID":"a73e46627920201b83e09e7be28de15d561c55b3c2f60b1fc9732b8901fbaf82","Image":"demesne-test/httpd:1","Labels":"","LocalVolumes":"0","Mounts":"","Names":"stopped","Networks":"bridge","Ports":"","RunningFor":"Less than a second ago","Size":"0B (virtual 2.02MB)","State":"created","Status":"Created"}`,
    String.raw`{"Command":"\"/bin/busybox httpd -f -p 80 -h /www\"","CreatedAt":"2026-12-06 14:20:41 +0000 UTC","ID":"1a48fc505ac0de75b8002de6529daf0f2e980120f0e97de8bfb7c3d90d2c255b","Image":"demesne-test/httpd:1","Labels":"","LocalVolumes":"0","Mounts":"","Names":"local","Networks":"bridge","Ports":"127.0.0.1:8091-\u003e80/tcp","RunningFor":"2 seconds ago","Size":"0B (virtual 2.02MB)","State":"running","Status":"Up Less than a second"}`,
    String.raw`{"Command":"\"/bin/busybox httpd -f -p 80 -h /www\"","CreatedAt":"2026-12-06 14:20:40 +0000 UTC","ID":"ba1a8215c79eca42b2562d764f501244100faf591ac1982ae19e082e5cdf8f2b","Image":"demesne-test/httpd:1","Labels":"","LocalVolumes":"0","Mounts":"","Names":"wide","Networks":"bridge","Ports":"0.0.0.0:8090-\u003e80/tcp, :::8090-\u003e80/tcp","RunningFor":"3 seconds ago","Size":"0B (virtual 2.02MB)","State":"running","Status":"Up 1 second"}`,
].join("\n") + "\n";
const DIGEST = `sha256:${"ab".repeat(32)}`;

const driftOf = (stdout: string, ignore: IgnoreRule[] = []) => {
    const facts = parseProbe("containers", 0, stdout).facts;
    const host: HostState = { host: "h1", reachable: true, failedProbes: [], facts };
    return computeDrift({ source: "desired:t", hosts: new Map([["h1", { expected: [], complete: [] }]]) }, [host], ignore, {}).findings;
};

describe("containers in drift (real Docker 26 output)", () => {
    it("the parser keeps what Docker 26 prints: name, image, state and both published bindings", () => {
        const facts = parseProbe("containers", 0, DOCKER_26_PS).facts;
        expect(facts.find((f) => f.key === "wide")?.value).toEqual({
            image: "demesne-test/httpd:1", state: "running", ports: ["0.0.0.0:8090->80/tcp", ":::8090->80/tcp"],
        });
        expect(publishedBindings([":::8090->80/tcp", "[::]:8090->80/tcp", "0.0.0.0:8000-8001->8000-8001/tcp", "80/tcp"])).toEqual([
            { address: "::", port: "8090" }, { address: "::", port: "8090" }, { address: "0.0.0.0", port: "8000-8001" },
        ]);
    });

    it("a running container published on 0.0.0.0 and :: is critical; one on loopback by tag is medium; a stopped one is nothing", () => {
        const findings = driftOf(DOCKER_26_PS);
        expect(findings.map((f) => [f.key, f.severity, f.change])).toEqual([["wide", "critical", "violation"], ["local", "medium", "violation"]]);
        const wide = findings.find((f) => f.key === "wide")!;
        expect(wide.why).toContain("Docker publishes 0.0.0.0:8090, :::8090, past UFW");
        expect(wide.why).toContain("runs demesne-test/httpd:1 by a name that can change");
        expect(findings.find((f) => f.key === "local")!.why).not.toContain("publishes");
        // Nothing in the program removes a container started by hand.
        expect(wide.converge).toMatch(/^by hand/);
    });

    it("a container on loopback whose image is pinned by digest gives no finding", () => {
        const pinned = DOCKER_26_PS.split("\n")[1]!.replace('"Image":"demesne-test/httpd:1"', `"Image":"demesne-test/httpd@${DIGEST}"`);
        expect(driftOf(`${pinned}\n`)).toEqual([]);
        expect(pinnedByDigest(`demesne-test/httpd@${DIGEST}`)).toBe(true);
        expect(pinnedByDigest(DIGEST)).toBe(true);
        expect(pinnedByDigest("demesne-test/httpd:1")).toBe(false);
        expect(pinnedByDigest("demesne-test/httpd:sha256")).toBe(false);
    });

    it("an ignore rule can accept a tag (Coolify runs its images by tag), never a port published beyond loopback", () => {
        const all: IgnoreRule = { host: "*", attribute: "container", key: "*", reason: "Coolify's own images are run by tag" };
        expect(driftOf(DOCKER_26_PS, [all]).map((f) => [f.key, f.severity])).toEqual([["wide", "critical"]]);
    });
});
