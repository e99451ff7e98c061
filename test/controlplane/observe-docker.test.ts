// Observe and drift on real Docker data (issue #15): the control-plane test host runs Docker 26, the program's
// baseline layer installs the observer, and `demesne observe` reads `docker ps` and `docker images` over SSH
// as the observer (sudo, the fixed probe catalogue). Containers started by hand give the findings a person
// must act on: published beyond loopback (critical: Docker's NAT rules come before UFW) and run by a tag
// rather than a digest; stopping and removing them clears the findings, which the store then shows ended.
// The rules: state-model/drift/containers.ts; their unit test with this Docker's output:
// test/state-model/drift-containers.test.ts.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyPair, layerParams, runLayer, writeStackFile } from "../helpers/configured-host";
import { demesne } from "../helpers/demesne-cli";
import { buildHttpdImage, must, startControlPlaneHost, type ControlPlaneHost } from "./host";

const NAME = "obsdock";
const work = mkdtempSync(path.join(tmpdir(), "demesne-observe-docker-"));
const env = { DEMESNE_STATE_DIR: path.join(work, "state"), DATABASE_URL: "", DEMESNE_ACTOR: "observe-docker-test" };
let host: ControlPlaneHost;
let observerKey: string;
let image: string;

interface Finding { attribute: string; key: string; change: string; severity: string; why?: string; converge: string }
const cli = (...args: string[]) => demesne(args, env, undefined, work);

/** Observes the host as the observer, then drifts against the stack's desired state: the findings. */
function observeAndDrift(): Finding[] {
    const o = cli("observe", "--stack", "t", "--identity", observerKey, "--json");
    expect(o.code, o.stderr + o.stdout).toBe(0);
    const d = cli("drift", "--stack", "t", "--json");
    return (JSON.parse(d.stdout) as { findings: Finding[] }).findings;
}
const about = (findings: Finding[], attribute: string) => findings.filter((f) => f.attribute === attribute);

beforeAll(async () => {
    host = await startControlPlaneHost(NAME);
    const observer = keyPair(work, "observer");
    observerKey = observer.key;
    writeStackFile(work, "t", [{ name: NAME, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" }],
        { observerPub: observer.pub, adminRange: host.network });
    // The baseline layer installs the observer: its user, key, forced command and sudoers entry.
    expect(await runLayer(host, "baseline", layerParams(path.join(work, "Pulumi.t.yaml"), "t", NAME)("baseline"))).toBe("changed=true");
    image = await buildHttpdImage(host);
}, 1_500_000);

afterAll(async () => {
    await host?.stop();
});

describe("observe and drift on real Docker data", { timeout: 240_000 }, () => {
    it("with no container, the containers probe answers and drift has nothing to say about containers", async () => {
        const findings = observeAndDrift();
        expect(about(findings, "container")).toEqual([]);
        const facts = JSON.parse(cli("fleet", "--subject", `host:${NAME}`, "--json").stdout) as { attribute: string; key: string; value: unknown }[];
        expect(facts.find((f) => f.attribute === "probe" && f.key === "containers")?.value).toBe("ok");
        // The image the test built is there, with no registry digest (docker import gives none).
        expect(facts.find((f) => f.attribute === "image" && f.key === image)?.value).toMatchObject({ digest: "<none>" });
    });

    it("a container published on 0.0.0.0 by hand is critical; one on loopback run by tag is a finding too", async () => {
        await must(host, `docker run -d --name wide -p 8090:80 ${image} && docker run -d --name local -p 127.0.0.1:8091:80 ${image}`);
        const findings = observeAndDrift();
        const containers = about(findings, "container");
        expect(containers.map((f) => [f.key, f.severity, f.change])).toEqual([["wide", "critical", "violation"], ["local", "medium", "violation"]]);
        const wide = containers[0]!;
        expect(wide.why).toContain("Docker publishes 0.0.0.0:8090, :::8090, past UFW");
        expect(wide.why).toContain(`runs ${image} by a name that can change`);
        expect(wide.converge).toMatch(/^by hand/);
        expect(containers[1]!.why).not.toContain("publishes");
        // Docker's userland proxy also listens on every address: the listener rule sees it as well.
        expect(about(findings, "listener").map((f) => f.key).sort()).toEqual(["tcp 0.0.0.0:8090", "tcp [::]:8090"]);
    });

    it("stopping the published container clears its findings; removing the other clears the rest", async () => {
        await must(host, "docker stop wide > /dev/null");
        const stopped = observeAndDrift();
        expect(about(stopped, "container").map((f) => f.key)).toEqual(["local"]);
        expect(about(stopped, "listener")).toEqual([]);
        await must(host, "docker rm -f wide local > /dev/null");
        const removed = observeAndDrift();
        expect(about(removed, "container")).toEqual([]);
    });

    it("the store shows each container finding began and ended: resolved, not forgotten", () => {
        const h = cli("history", `finding:desired:t:${NAME}`, "--attr", "container", "--json");
        expect(h.code, h.stderr).toBe(0);
        const rows = (JSON.parse(h.stdout) as { key: string; validTo: string | null; recordedTo: string | null; value: { severity: string } }[])
            .filter((r) => r.recordedTo === null);
        for (const key of ["wide", "local"]) {
            const mine = rows.filter((r) => r.key === key);
            expect(mine.length, key).toBeGreaterThan(0);
            expect(mine.every((r) => r.validTo !== null), `${key} still open`).toBe(true);
        }
        expect(rows.find((r) => r.key === "wide")!.value.severity).toBe("critical");
    });
});
