// The hardening layer on a real sandboxed host, after the program's baseline, ssh and firewall layers: every
// setting it can make inside a container is made and read back from the running system (network sysctls of
// the host's own namespace, mounts, setuid bits, PAM, su, login.defs, modprobe's view); a re-run changes nothing
// and leaves the disk as it was; SSH stays open to the admin, the deploy user and the observer.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOGIN_BANNER, MODULES_DISABLED, MOUNTS, SUID_REMOVED, SYSCTLS, isNamespacedSysctl } from "../../components/model/hardening";
import { OBSERVER_USER } from "../../components/model/observer";
import { layerScript } from "../../components/host/scripts";
import { AUDIT_RULES, renderAuditRules } from "../../components/render/audit";
import { keyPair, layerParams, runLayer, writeStackFile } from "../helpers/configured-host";
import { shellQuote, startTestHost, type TestHost } from "../helpers/test-host";

const NAME = "harden";
const work = mkdtempSync(path.join(tmpdir(), "demesne-harden-"));
let host: TestHost;
let params: (layer: string) => Record<string, string>;
let observerKey: string;
let deployKey: string;

const sh = async (cmd: string) => {
  const r = await host.exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout.trim();
};
/** Everything on the host's disk outside the kernel's file systems. */
const fingerprint = () => sh(
  "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /var/lib/demesne \\) -prune -o -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum",
);

beforeAll(async () => {
  host = await startTestHost(NAME);
  const observer = keyPair(work, "observer");
  observerKey = observer.key;
  const file = writeStackFile(work, "t", [{ name: NAME, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" }],
    { observerPub: observer.pub, adminRange: host.network });
  deployKey = path.join(work, "deploy-t");
  params = layerParams(file, "t", NAME);
  expect(await runLayer(host, "baseline", params("baseline"))).toBe("changed=true");
  for (const layer of ["ssh", "firewall"] as const) {
    expect(await runLayer(host, layer, params(layer))).toBe("changed=true");
    await runLayer(host, "confirm", { TARGET_LAYER: layer });
  }
}, 300_000);

afterAll(async () => {
  await host?.stop();
});

describe("the hardening layer on a real host", { timeout: 180_000 }, () => {
  it("applies every setting the container can hold and reads it back from the running system", async () => {
    const suidBefore = await sh(`for f in ${SUID_REMOVED.join(" ")}; do [ -e "$f" ] && stat -c '%a %n' "$f"; done; true`);
    expect(suidBefore, "the stock host has setuid programs on the list").toMatch(/^[4-7]\d{3} /m);
    expect(await runLayer(host, "hardening", params("hardening"))).toBe("changed=true");
    await runLayer(host, "confirm", { TARGET_LAYER: "hardening" });

    for (const s of SYSCTLS.filter((x) => isNamespacedSysctl(x.key))) {
      expect(await sh(`cat /proc/sys/${s.key.replaceAll(".", "/")}`), s.key).toBe(s.value);
    }
    expect(await sh("cat /etc/sysctl.d/60-demesne-hardening.conf")).toContain("kernel.kptr_restrict = 2");
    for (const m of MOUNTS) {
      const opts = `,${await sh(`findmnt -n -o OPTIONS --mountpoint ${m.target} | tail -n 1`)},`;
      for (const o of m.options.filter((x) => !x.startsWith("gid="))) expect(opts, m.target).toContain(`,${o},`);
    }
    expect(await sh(`for f in ${SUID_REMOVED.join(" ")}; do [ -e "$f" ] && stat -c '%a %n' "$f"; done; true`)).not.toMatch(/^[4-7]\d{3} /m);
    expect(await sh("dpkg-statoverride --list")).toContain("/usr/bin/chfn");
    expect(await sh("stat -c %a /usr/bin/sudo")).toMatch(/^4/); // sudo keeps its bit: the runner needs it

    const pam = await sh("cat /etc/pam.d/common-auth");
    expect(pam.indexOf("pam_faillock.so preauth")).toBeGreaterThan(-1);
    expect(pam.indexOf("pam_faillock.so preauth")).toBeLessThan(pam.indexOf("pam_unix.so"));
    expect(pam.indexOf("pam_faillock.so authfail")).toBeGreaterThan(pam.indexOf("pam_unix.so"));
    const defs = await sh("cat /etc/login.defs");
    for (const line of ["UMASK 027", "PASS_MAX_DAYS 365", "PASS_MIN_DAYS 1", "SHA_CRYPT_MIN_ROUNDS 65536"]) {
      expect(defs.split("\n").filter((l) => l.startsWith(`${line.split(" ")[0]} `) || l.startsWith(`${line.split(" ")[0]}\t`)), line).toEqual([line]);
    }
    expect(await sh("cat /etc/issue /etc/issue.net")).toBe(`${LOGIN_BANNER}\n${LOGIN_BANNER}`);
    expect(await sh("stat -c %a /run/faillock")).toBe("755");
    expect(await sh("cat /etc/profile.d/60-demesne-shell.sh")).toContain("ulimit -c 0");
    const modprobe = await sh("modprobe --showconfig");
    for (const m of MODULES_DISABLED) expect(modprobe.split("\n"), m.name).toContain(`install ${m.name.replaceAll("-", "_")} /bin/false`);
  });

  it("a ufw reload, which applies ufw's own sysctl.conf, leaves every network setting as the table has it", async () => {
    expect(await sh("grep -x 'net/ipv4/conf/all/log_martians=1' /etc/ufw/sysctl.conf")).toBe("net/ipv4/conf/all/log_martians=1");
    await sh("ufw reload");
    for (const s of SYSCTLS.filter((x) => isNamespacedSysctl(x.key))) {
      expect(await sh(`cat /proc/sys/${s.key.replaceAll(".", "/")}`), s.key).toBe(s.value);
    }
  });

  it("hides other users' processes, and su refuses a user outside its group", async () => {
    // A user who is not root sees only their own processes: sshd's and the init's are gone from /proc.
    const seen = await sh("runuser -u nobody -- sh -c 'ls /proc | grep -c \"^[0-9]\"'");
    expect(Number(seen)).toBeLessThanOrEqual(3);
    expect(Number(await sh("ls /proc | grep -c '^[0-9]'"))).toBeGreaterThan(Number(seen));
    // su asks pam_wheel before any password: a non-member is refused even with no password typed.
    const su = await host.exec("runuser -u nobody -- su -c true root < /dev/null");
    expect(su.code).not.toBe(0);
    expect(`${su.stdout}${su.stderr}`).toMatch(/Permission denied|Authentication failure/);
  });

  it("keeps SSH open to the admin, the deploy user and the observer", async () => {
    expect((await host.ssh("admin", host.adminKey, "true")).code).toBe(0);
    expect((await host.ssh("deploy", deployKey, "true")).code).toBe(0);
    const o = await host.ssh(OBSERVER_USER, observerKey, "probe sshd listeners");
    expect(o.code, o.stderr).toBe(0);
    expect(o.stdout).toMatch(/^sshd 0 /m);
    expect(o.stdout).toMatch(/^listeners 0 /m);
  });

  it("a re-run of every layer reports changed=false and leaves the disk as it was", async () => {
    const before = await fingerprint();
    for (const layer of ["baseline", "ssh", "firewall", "hardening"] as const) {
      expect(await runLayer(host, layer, params(layer)), layer).toBe("changed=false");
    }
    expect(await fingerprint()).toBe(before);
  });

  it("the audit layer refuses a kernel that will not let it audit, naming why, and changes nothing", async () => {
    await host.writeFile("/root/audit.sh", layerScript("audit").text, 0o700); // what runLayer writes, before the fingerprint
    const before = await fingerprint();
    await expect(runLayer(host, "audit", params("audit"))).rejects.toThrow(/the kernel refuses audit control here/);
    expect(await fingerprint()).toBe(before);
  });

  it("every audit rule parses in the real auditctl, which then fails only where the kernel refuses it", async () => {
    // The kernel refuses audit control outside its initial pid namespace, so each rule gets exactly as far as
    // being sent: auditctl's own parser (fields, permissions, syscall names for each arch) has accepted it.
    const sent = async (rule: string) => (await host.exec(`auditctl ${rule.split(" ").map(shellQuote).join(" ")}`)).stderr.trim();
    const rules = renderAuditRules({ immutable: true }).split("\n").filter((l) => l.startsWith("-"));
    expect(rules.length).toBe(AUDIT_RULES.length + 1);
    for (const rule of rules) {
      const lines = (await sent(rule)).split("\n");
      for (const l of lines) expect(l, rule).toMatch(/^Error sending (status|add rule data|enable) request \(Operation not permitted\)$/);
      expect(lines.at(-1), rule).toMatch(/^Error sending (add rule data|enable) request/);
    }
    // and the check can fail: a bad permission and an unknown syscall never reach the kernel
    for (const bad of ["-w /etc/passwd -p zz -k identity", "-a always,exit -F arch=b64 -S no_such_call -k time-change"]) {
      const out = await sent(bad);
      expect(out, bad).not.toMatch(/add rule data request/);
      expect(out, bad).toMatch(/^(?!Error sending).+/m); // auditctl's own complaint about the rule
    }
  });

  it("a sysctl that cuts the operator off is rolled back, file and kernel value, by the dead-man", async () => {
    const good = params("hardening");
    const confSha = () => sh("sha256sum /etc/sysctl.d/60-demesne-hardening.conf | cut -c1-64");
    const before = await confSha();
    // arp_ignore 8: the host answers no ARP, so once the machine forgets its address nothing reaches SSH.
    const cut = {
      ...good,
      SYSCTL_CONF: `${good.SYSCTL_CONF}net.ipv4.conf.all.arp_ignore = 8\n`,
      SYSCTL_EXPECT: `${good.SYSCTL_EXPECT}net.ipv4.conf.all.arp_ignore 8 netns\n`,
      DEADMAN_SECONDS: "10",
    };
    const start = Date.now();
    expect(await runLayer(host, "hardening", cut)).toBe("changed=true");
    execFileSync("ip", ["neigh", "flush", "dev", `dmh${host.index}`]);
    expect((await host.ssh("admin", host.adminKey, "true", { timeoutMs: 3000 })).code).not.toBe(0);
    let back: number | null = null;
    while (Date.now() - start < 40_000 && back === null) {
      if ((await host.ssh("admin", host.adminKey, "true", { timeoutMs: 3000 })).code === 0) back = (Date.now() - start) / 1000;
    }
    expect(back, "the dead-man did not bring SSH back").not.toBeNull();
    expect(back).toBeGreaterThanOrEqual(9);
    expect(await sh("cat /proc/sys/net/ipv4/conf/all/arp_ignore")).toBe("0");
    expect(await confSha()).toBe(before);
    await expect(runLayer(host, "confirm", { TARGET_LAYER: "hardening" })).rejects.toThrow(/dead-man restored the previous hardening configuration/);
    expect(await runLayer(host, "hardening", good)).toBe("changed=false");
  });
});

