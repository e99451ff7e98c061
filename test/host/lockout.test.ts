// The ssh layer on a real sandboxed host can never lock its operator out: a config that passes `sshd -t` but
// locks everyone out is rolled back by the dead-man within its window; a layer that fails leaves the previous
// working config in place; and Debian's ssh-audit rates nothing in the hardened sshd a failure.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeParams } from "../../components/actuator/wire";
import { layerScript } from "../../components/host/scripts";
import { keyPair, layerParams, runLayer, writeStackFile } from "../helpers/configured-host";
import { startTestHost, type TestHost } from "../helpers/test-host";
import { requireTool } from "../helpers/tools";

const NAME = "lockout";
const DROPIN = "/etc/ssh/sshd_config.d/00-hardening.conf";
const work = mkdtempSync(path.join(tmpdir(), "demesne-lockout-"));
let host: TestHost;
let ssh: (layer: string) => Record<string, string>;

/** Dropped packets make a login hang, so the attempt is cut short well inside the dead-man's window. */
const adminCanLogIn = async (timeoutMs = 10_000) => (await host.ssh("admin", host.adminKey, "true", { timeoutMs })).code === 0;
/** Seconds from `start` until the operator can log in again, trying until `limitMs`; null if never. */
async function secondsUntilLogIn(start: number, limitMs: number, attemptMs: number): Promise<number | null> {
  while (Date.now() - start < limitMs) {
    if (await adminCanLogIn(attemptMs)) return (Date.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 500));
  }
  return null;
}
const dropinSha = async () => (await host.exec(`sha256sum ${DROPIN} | cut -c1-64`)).stdout.trim();

function sshAudit(): { code: number; out: string } {
  requireTool("ssh-audit");
  const r = spawnSync("ssh-audit", ["-n", "-p", "22", host.address], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout };
}

beforeAll(async () => {
  host = await startTestHost(NAME);
  const observer = keyPair(work, "observer");
  const file = writeStackFile(work, "t", [{ name: NAME, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" }],
    { observerPub: observer.pub, adminRange: host.network });
  ssh = layerParams(file, "t", NAME);
}, 120_000);

afterAll(async () => {
  await host?.stop();
});

describe("the ssh layer on a real host", { timeout: 120_000 }, () => {
  it("ssh-audit rates the stock sshd with failures, and nothing in the hardened one a failure", async () => {
    const before = sshAudit();
    expect(before.code, before.out).toBe(3); // ssh-audit's exit code for a failure: the check can fail
    expect(await runLayer(host, "ssh", ssh("ssh"))).toBe("changed=true");
    await runLayer(host, "confirm", { TARGET_LAYER: "ssh" });
    const after = sshAudit();
    expect(after.out).not.toMatch(/\[fail\]/);
    expect([0, 2], after.out).toContain(after.code); // good, or warnings only
    expect(await adminCanLogIn()).toBe(true);
  });

  it("a config that passes sshd -t but locks the operator out is rolled back by the dead-man within its window", async () => {
    const good = await dropinSha();
    const p = ssh("ssh");
    const locked = {
      ...p,
      DROPIN: p.DROPIN!.replace(/^AllowUsers .*$/m, "AllowUsers nobody-else"),
      EXPECT: `${p.EXPECT!.split("\n").filter((l) => l && !l.startsWith("allowusers ")).join("\n")}\nallowusers nobody-else\n`,
      DEADMAN_SECONDS: "5",
    };
    const start = Date.now();
    expect(await runLayer(host, "ssh", locked)).toBe("changed=true"); // sshd -t and the layer's verify pass
    expect(await adminCanLogIn()).toBe(false); // locked out, and no confirm step can log in to cancel the restore
    const took = await secondsUntilLogIn(start, 30_000, 10_000);
    expect(took, "the dead-man restore did not bring SSH back").not.toBeNull();
    expect(took).toBeGreaterThanOrEqual(4);
    expect(took).toBeLessThan(20);
    expect(await dropinSha()).toBe(good);
    // The confirm step can log in again now, but that proves only the rollback: it fails, saying why, until
    // the layer itself runs again.
    await expect(runLayer(host, "confirm", { TARGET_LAYER: "ssh" })).rejects.toThrow(/dead-man restored the previous ssh configuration at \S+Z: the change shut this login out/);
    expect(await runLayer(host, "ssh", p)).toBe("changed=false");
    await runLayer(host, "confirm", { TARGET_LAYER: "ssh" });
  });

  it("a firewall that shuts the admin range out is rolled back by the dead-man within its window", async () => {
    const p = ssh("firewall");
    expect(await runLayer(host, "firewall", p)).toBe("changed=true");
    await runLayer(host, "confirm", { TARGET_LAYER: "firewall" });
    expect(await adminCanLogIn()).toBe(true);
    const rules = async () => (await host.exec("sha256sum /etc/ufw/user.rules | cut -c1-64")).stdout.trim();
    const good = await rules();
    // SSH allowed only from a range the operator is not in: valid rules, UFW stays active, verify passes.
    const shut = { ...p, USER_RULES: p.USER_RULES!.replaceAll(host.network, "192.0.2.0/24"), DEADMAN_SECONDS: "10" };
    const start = Date.now();
    expect(await runLayer(host, "firewall", shut)).toBe("changed=true");
    expect(await adminCanLogIn(3000)).toBe(false);
    const took = await secondsUntilLogIn(start, 40_000, 3000);
    expect(took, "the dead-man restore did not reopen SSH").not.toBeNull();
    expect(took).toBeGreaterThanOrEqual(9);
    expect(took).toBeLessThan(25);
    expect(await rules()).toBe(good);
  });

  it("a layer that fails leaves the previous working config in place and says so", async () => {
    const good = await dropinSha();
    const p = ssh("ssh");
    await host.writeFile("/root/ssh.sh", layerScript("ssh").text, 0o700);
    const broken = { ...p, DROPIN: `${p.DROPIN}MaxAuthTries banana\n` };
    const r = await host.exec("bash /root/ssh.sh", { input: encodeParams(broken) });
    expect(r.code).not.toBe(0);
    expect(r.stdout.trim().split("\n").pop()).toBe("changed=false");
    expect(r.stderr).toMatch(/restoring the previous configuration|does not validate|sshd -t/);
    expect(await dropinSha()).toBe(good);
    expect(await adminCanLogIn()).toBe(true);
  });
});
