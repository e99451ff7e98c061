// The observer after the hardening layer under real systemd (trixie's systemd 257 as PID 1, the control-plane
// test host): /proc is hidepid=invisible, and every probe answers as it did before — listeners through sudo
// (ss -p still sees sshd's process), the hardening probes, the rest. Not shown: the units probe reading
// systemd as the observer. The rootfs has no D-Bus system bus, which systemctl needs when it is not root
// ("Failed to connect to system scope bus"), so units is "unavailable" here before and after hidepid alike.
// test/host/observe-drift.test.ts shows the drift rules on the plain test host.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OBSERVER_USER, PROBE_IDS } from "../../components/model/observer";
import { parseObserveOutput } from "../../state-model/observe/parse";
import { layerParams, runLayer } from "../helpers/configured-host";
import { hostStackFile, must, startControlPlaneHost, type ControlPlaneHost } from "./host";

const NAME = "cplane-obs";
const work = mkdtempSync(path.join(tmpdir(), "demesne-observe-hardening-"));
let host: ControlPlaneHost;
let params: (layer: string) => Record<string, string>;
const observerKey = path.join(work, "observer-t");

const observe = async () => {
    const r = await host.ssh(OBSERVER_USER, observerKey, "all", { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    return parseObserveOutput(r.stdout);
};

beforeAll(async () => {
    host = await startControlPlaneHost(NAME, { systemd: true });
    params = layerParams(hostStackFile(host, work), "t", NAME);
    expect(await runLayer(host, "baseline", params("baseline"))).toBe("changed=true");
    for (const layer of ["ssh", "firewall"] as const) {
        expect(await runLayer(host, layer, params(layer))).toBe("changed=true");
        await runLayer(host, "confirm", { TARGET_LAYER: layer });
    }
}, 1_500_000);

afterAll(async () => {
    await host?.stop();
});

describe("the observer after the hardening layer, under real systemd", { timeout: 300_000 }, () => {
    it("every probe answers as before hidepid, listeners with their processes", async () => {
        const before = await observe();
        expect(await runLayer(host, "hardening", params("hardening"))).toBe("changed=true");
        await runLayer(host, "confirm", { TARGET_LAYER: "hardening" });
        expect(await must(host, "findmnt -n -o OPTIONS --mountpoint /proc | tail -n 1")).toMatch(/hidepid=invisible/);
        // The observer itself now sees only its own processes.
        expect(Number(await must(host, `runuser -u ${OBSERVER_USER} -- sh -c 'ls /proc | grep -c "^[0-9]"'`))).toBeLessThanOrEqual(3);

        const after = await observe();
        expect(after.map((r) => r.probe)).toEqual([...PROBE_IDS]);
        const status = (rs: typeof after) => Object.fromEntries(rs.map((r) => [r.probe, r.status]));
        expect(status(after)).toEqual(status(before));
        for (const p of ["listeners", "sshd", "sudoers", "sysctl", "suid", "mounts", "packages", "ufw", "iptables"]) expect(status(after)[p], p).toBe("ok");
        const sshd = after.find((r) => r.probe === "listeners")!.facts.find((f) => f.key.endsWith(":22"));
        expect(sshd?.value).toEqual({ processes: ["sshd"] });
    });
});
