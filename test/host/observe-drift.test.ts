// Observe and drift against a real sandboxed host: configured by the program's own baseline, ssh, firewall
// and hardening layers, then observed over SSH as the observer; every out-of-band change gives exactly its
// finding and reverting it clears it; probes never write; the observer cannot change the host. The audit layer
// cannot run here (the kernel refuses audit control in a container): drift says so in a note.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BASELINE_PACKAGES } from "../../components/host/layers";
import { OBSERVER_USER } from "../../components/model/observer";
import { keyPair as helperKeyPair, layerParams, runLayer as runHostLayer, writeStackFile } from "../helpers/configured-host";
import { demesne } from "../helpers/demesne-cli";
import { stackExport } from "../helpers/engine-inputs";
import { stepIdentity } from "../../components/actuator/steps";
import { loadStackFile } from "../../components/config/stack-file";
import { planProgram } from "../../components/program";
import { startTestHost, type TestHost } from "../helpers/test-host";

const NAME = "drift";
const work = mkdtempSync(path.join(tmpdir(), "demesne-drift-"));
const env = { DEMESNE_STATE_DIR: path.join(work, "state"), DATABASE_URL: "", DEMESNE_ACTOR: "drift-test" };
let host: TestHost;
let observerKey: string;

const keyPair = (name: string) => helperKeyPair(work, name);
const writeStack = (stack: string, hosts: object[]) =>
  writeStackFile(work, stack, hosts, { observerPub: readFileSync(`${observerKey}.pub`, "utf8").trim(), adminRange: host.network });

const cli = (...args: string[]) => demesne(args, env, undefined, work);
const json = (r: { stdout: string }) => JSON.parse(r.stdout) as {
  summary: Record<string, number>; notes: string[]; findings: { attribute: string; key: string; change: string; severity: string; layer: string | null; converge: string }[];
};

async function runLayer(layer: "baseline" | "ssh" | "firewall" | "hardening" | "confirm", params: Record<string, string>) {
  return runHostLayer(host, layer, params);
}

function observeAndDrift(against: string) {
  const o = cli("observe", "--stack", "t", "--identity", observerKey, "--json");
  expect(o.code, o.stderr + o.stdout).toBe(0);
  return cli("drift", "--stack", "t", "--against", against, "--json");
}

/** Everything on the host's disk outside the observer's home and the kernel's file systems. */
const fingerprint = () => host.exec(
  `find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /home/${OBSERVER_USER} \\) -prune -o -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum`,
);

beforeAll(async () => {
  host = await startTestHost(NAME);
  observerKey = keyPair("observer").key;
  writeStack("t", [{ name: NAME, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" }]);
  const params = layerParams(path.join(work, "Pulumi.t.yaml"), "t", NAME);
  // The program's own layers put the host in its desired state (no network: its packages are in the rootfs).
  expect(await runLayer("baseline", params("baseline"))).toBe("changed=true");
  expect(await runLayer("ssh", params("ssh"))).toBe("changed=true");
  await runLayer("confirm", { TARGET_LAYER: "ssh" });
  expect(await runLayer("firewall", params("firewall"))).toBe("changed=true");
  await runLayer("confirm", { TARGET_LAYER: "firewall" });
  expect(await runLayer("hardening", params("hardening"))).toBe("changed=true");
  await runLayer("confirm", { TARGET_LAYER: "hardening" });
}, 300_000);

afterAll(async () => {
  await host?.stop();
});

describe("observe and drift on a real host", { timeout: 120_000 }, () => {
  it("the test host's rootfs holds the baseline layer's packages (it has no network)", () => {
    const line = readFileSync(path.join(__dirname, "rootfs.sh"), "utf8").match(/^PACKAGES=(.*)$/m)![1]!.split(",");
    for (const p of BASELINE_PACKAGES) expect(line, p).toContain(p);
  });

  it("a host configured by the program's layers has zero findings against the desired state", () => {
    const d = observeAndDrift("desired");
    expect(d.code, d.stdout).toBe(0);
    expect(json(d).findings).toEqual([]);
    // What no layer can change here is said, not reported: the machine's kernel settings, and audit.
    expect(json(d).notes).toContainEqual(expect.stringMatching(/^drift: kernel\.kptr_restrict = \d.* \/proc\/sys is read-only here/));
    expect(json(d).notes).toContainEqual(expect.stringMatching(/^drift: the kernel refuses audit control here .*; left out$/));
    const fleet = cli("fleet", "--subject", `host:${NAME}`, "--json");
    const facts = JSON.parse(fleet.stdout) as { attribute: string; key: string; value: unknown }[];
    expect(facts.find((f) => f.attribute === "sshd" && f.key === "passwordauthentication")?.value).toBe("no");
    expect(facts.find((f) => f.attribute === "probe" && f.key === "units")?.value).toMatch(/^unavailable/);
    // /proc is hidepid=invisible now: every probe still reads what it needs as the observer (ss -p through sudo sees sshd).
    for (const p of ["sshd", "packages", "ufw", "iptables", "listeners", "sudoers", "users", "groups", "mounts", "blockdevices", "sysctl", "suid"]) {
      expect(facts.find((f) => f.attribute === "probe" && f.key === p)?.value, p).toBe("ok");
    }
    expect(facts.find((f) => f.attribute === "listener" && f.key === `tcp ${host.address}:22`)?.value).toEqual({ processes: ["sshd"] });
    expect(facts.find((f) => f.attribute === "mount" && f.key === "/proc")?.value).toMatchObject({ options: expect.arrayContaining(["hidepid=invisible"]) });
    expect(facts.find((f) => f.attribute === "sysctl" && f.key === "net.ipv4.conf.all.rp_filter")?.value).toBe("1");
    expect(facts.find((f) => f.attribute === "probe" && f.key === "audit")?.value).toBe("unavailable: the kernel refuses audit control here (exit code 255)");
    const b = cli("baseline", "bless", "golden", "--stack", "t", "--reason", "configured by the layers, drift-free");
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/baseline golden blessed by drift-test/);
  });

  it("the layers are idempotent on the real host: a second run reports changed=false and changes no file or rule", async () => {
    const params = layerParams(path.join(work, "Pulumi.t.yaml"), "t", NAME);
    // The layer scripts themselves are written to /root before each run: leave them out of the fingerprint.
    const state = () => host.exec("{ iptables-save | grep -v '^#'; getent passwd; dpkg-query -W; " +
      "find /etc /usr /var/lib -xdev -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum");
    for (const layer of ["baseline", "ssh", "firewall"] as const) await runLayer(layer, params(layer));
    const before = await state();
    for (const layer of ["baseline", "ssh", "firewall"] as const) expect(await runLayer(layer, params(layer)), layer).toBe("changed=false");
    expect((await state()).stdout).toBe(before.stdout);
  });

  it("against the applied checkpoint: applied layers hold; a config change not applied yet is pending, not drift", () => {
    const file = path.join(work, "Pulumi.t.yaml");
    const original = readFileSync(file, "utf8");
    // The checkpoint `pulumi stack export` would hold after applying baseline, ssh and firewall (the engine cannot
    // run this program here): each step's URN with the content hash in its triggers.
    const plan = planProgram(loadStackFile(file), { stack: "t", project: "demesne", dryRun: true });
    const applied = plan.hostSteps.get(NAME)!.filter((s) => ["baseline", "ssh", "firewall"].includes(s.stepClass)).map((s) => {
      const id = stepIdentity(s, plan.context);
      return { urn: id.urn, custom: true, type: "command:remote:Command", inputs: { triggers: [`content:${id.contentHash}`] }, outputs: {} };
    });
    writeFileSync(path.join(work, "export.json"), stackExport(new Date().toISOString(), applied));
    expect(cli("ingest", path.join(work, "export.json"), "--stack", "t").code).toBe(0);
    const a = cli("drift", "--stack", "t", "--against", "applied", "--json");
    expect(a.code, a.stdout).toBe(0);
    expect((JSON.parse(a.stdout) as { notes: string[] }).notes).toContain(`${NAME} tailscale: not in the last applied checkpoint (never applied); left out`);
    // A saved plan: the same content for every step but the firewall, which it deletes.
    const resourcePlans = Object.fromEntries(plan.hostSteps.get(NAME)!.map((s) => {
      const id = stepIdentity(s, plan.context);
      return [id.urn, s.stepClass === "firewall" ? { steps: ["delete"] } : { goal: { type: "command:remote:Command" }, steps: ["same"], state: { triggers: [`content:${id.contentHash}`] } }];
    }));
    writeFileSync(path.join(work, "plan.json"), JSON.stringify({ manifest: { time: new Date().toISOString() }, resourcePlans }));
    const pl = cli("drift", "--stack", "t", "--against", `plan:${path.join(work, "plan.json")}`, "--json");
    expect(pl.code, pl.stdout).toBe(0);
    // Beside the hardening table's notes about this host's kernel (the first test shows them).
    expect((JSON.parse(pl.stdout) as { notes: string[] }).notes.filter((n) => !n.startsWith(`${NAME}: `))).toEqual([`${NAME} firewall: not in the plan, or deleted by it; left out`]);
    try {
      writeFileSync(file, original.replace(`- ${host.network}`, `- ${host.network}\n    - 203.0.113.0/24`));
      const d = cli("drift", "--stack", "t", "--json");
      expect(d.code).toBe(1);
      expect(json(d).findings.map((f) => [f.attribute, f.key, f.change])).toEqual([["ufw.rule", "22/tcp ALLOW IN 203.0.113.0/24", "missing"]]);
      const p = cli("drift", "--stack", "t", "--against", "applied", "--json");
      expect(p.code, p.stdout).toBe(0);
      expect((JSON.parse(p.stdout) as { notes: string[] }).notes).toContain(`${NAME} firewall: the config changed since it was applied (pending, not drift); left out`);
    } finally {
      writeFileSync(file, original);
    }
  });

  const cases: { what: string; change: string; revert: string; expect: [string, string, string][]; desired?: boolean; severity?: string }[] = [
    {
      what: "sshd PasswordAuthentication yes",
      change: "sed -i 's/^PasswordAuthentication no$/PasswordAuthentication yes/' /etc/ssh/sshd_config.d/00-hardening.conf && kill -HUP $(cat /run/sshd.pid)",
      revert: "sed -i 's/^PasswordAuthentication yes$/PasswordAuthentication no/' /etc/ssh/sshd_config.d/00-hardening.conf && kill -HUP $(cat /run/sshd.pid)",
      expect: [["sshd", "passwordauthentication", "changed"]],
      desired: true,
    },
    {
      what: "a UFW allow on 8000",
      change: "ufw allow 8000 >/dev/null",
      revert: "ufw delete allow 8000 >/dev/null",
      expect: [["ufw.rule", "8000 ALLOW IN Anywhere", "unexpected"]],
      desired: true,
    },
    {
      what: "a new package",
      change: "dpkg -i /root/demesne-stray.deb >/dev/null",
      revert: "dpkg -r demesne-stray >/dev/null",
      expect: [["package", "demesne-stray", "unexpected"]],
    },
    {
      what: "a sudoers file with NOPASSWD: ALL",
      change: "printf 'admin ALL=(ALL) NOPASSWD: ALL\\n' > /etc/sudoers.d/zz-stray && chmod 0440 /etc/sudoers.d/zz-stray",
      revert: "rm /etc/sudoers.d/zz-stray",
      expect: [["sudoers.file", "/etc/sudoers.d/zz-stray", "unexpected"]],
      desired: true,
    },
    {
      what: "a listener on 0.0.0.0",
      change: "setsid python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"0.0.0.0\", 8000)); s.listen(); time.sleep(600)' </dev/null >/dev/null 2>&1 & sleep 0.5",
      revert: "pkill -x python3; sleep 0.3",
      expect: [["listener", "tcp 0.0.0.0:8000", "unexpected"]],
      desired: true,
    },
    {
      what: "a new user",
      change: "useradd --no-create-home mallory",
      revert: "userdel mallory",
      expect: [["user", "mallory", "unexpected"]],
    },
    {
      // Per network namespace: the host's own, writable here (testhost.sh), as on a host that owns its kernel.
      what: "a network sysctl changed out of band",
      change: "echo 1 > /proc/sys/net/ipv4/conf/all/accept_redirects",
      revert: "echo 0 > /proc/sys/net/ipv4/conf/all/accept_redirects",
      expect: [["sysctl", "net.ipv4.conf.all.accept_redirects", "changed"]],
      desired: true, severity: "high",
    },
    {
      what: "a setuid bit back on a program the hardening layer stripped",
      change: "chmod u+s /usr/bin/chfn",
      revert: "chmod u-s /usr/bin/chfn",
      expect: [["suid", "/usr/bin/chfn", "unexpected"]],
      desired: true, severity: "high",
    },
    {
      what: "/dev/shm remounted with exec",
      change: "mount -o remount,exec /dev/shm",
      revert: "mount -o remount,noexec /dev/shm",
      expect: [["mount", "/dev/shm", "changed"]],
      desired: true, severity: "medium",
    },
  ];

  it.each(cases)("$what gives exactly its finding; reverting clears it", async (c) => {
    if (c.what === "a new package") {
      const pkg = path.join(work, "pkg");
      execFileSync("mkdir", ["-p", `${pkg}/DEBIAN`]);
      writeFileSync(`${pkg}/DEBIAN/control`, "Package: demesne-stray\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.com>\nDescription: a package nobody declared\n");
      execFileSync("dpkg-deb", ["--build", "--root-owner-group", pkg, path.join(work, "stray.deb")], { stdio: "ignore" });
      const put = await host.exec("base64 -d > /root/demesne-stray.deb", { input: readFileSync(path.join(work, "stray.deb")).toString("base64") });
      expect(put.code, put.stderr).toBe(0);
    }
    const ch = await host.exec(c.change);
    expect(ch.code, ch.stderr).toBe(0);
    const d = observeAndDrift("baseline:golden");
    expect(d.code, d.stdout + d.stderr).toBe(1);
    const got = json(d).findings.map((f) => [f.attribute, f.key, f.change]);
    expect(got).toEqual(c.expect);
    if (c.desired) {
      const dd = cli("drift", "--stack", "t", "--json");
      expect(dd.code).toBe(1);
      expect(json(dd).findings.map((f) => [f.attribute, f.key])).toEqual(c.expect.map(([a, k]) => [a, k]));
      // The hardening table's findings: its severity, and a replace of the hardening layer converges them.
      if (c.severity) expect(json(dd).findings.map((f) => [f.severity, f.layer])).toEqual([[c.severity, "hardening"]]);
    }
    const rv = await host.exec(c.revert);
    expect(rv.code, rv.stderr).toBe(0);
    const after = observeAndDrift("baseline:golden");
    expect(after.code, after.stdout).toBe(0);
    expect(json(after).findings).toEqual([]);
  });

  it("findings are facts: when a finding started and ended is in the store", () => {
    const h = cli("history", `finding:baseline:golden:${NAME}`, "--attr", "sshd", "--json");
    const rows = JSON.parse(h.stdout) as { key: string; validFrom: string; validTo: string | null; recordedTo: string | null; value: { change: string } }[];
    // As known now: the finding held from the change until the revert was observed, and holds no longer.
    const pa = rows.filter((r) => r.key === "passwordauthentication" && r.recordedTo === null);
    expect(pa.length).toBeGreaterThan(0);
    expect(pa.every((r) => r.validTo !== null)).toBe(true);
    expect(pa[0]!.value.change).toBe("changed");
  });

  it("people's output names the finding, both sides, and how to converge it", async () => {
    await host.exec("useradd --no-create-home eve");
    cli("observe", "--stack", "t", "--identity", observerKey);
    const d = cli("drift", "--stack", "t", "--against", "baseline:golden");
    await host.exec("userdel eve");
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/1 finding on 1 host/);
    expect(d.stdout).toMatch(/\[high\] drift user eve: unexpected/);
    expect(d.stdout).toMatch(/tier to converge: -/);
    expect(d.stdout).toMatch(/converge: {3}by hand \(no demesne layer removes it\): find who created the account, then remove it \(userdel\); or, if the change is intended: demesne baseline bless golden/);
  });

  it("probes never write: the host's files are the same before and after observe", async () => {
    const before = await fingerprint();
    expect(before.code, before.stderr).toBe(0);
    const o = cli("observe", "--stack", "t", "--identity", observerKey);
    expect(o.code, o.stderr).toBe(0);
    const after = await fingerprint();
    expect(after.stdout).toBe(before.stdout);
  });

  it("the observer identity cannot change the host", async () => {
    for (const cmd of ["touch /var/lib/demesne-x", "sudo -n iptables -F", "bash -i", "all; touch /var/lib/demesne-x", "probe sshd-T"]) {
      const r = await host.ssh(OBSERVER_USER, observerKey, cmd);
      expect(r.code, cmd).not.toBe(0);
    }
    // Even with a shell on the host (forced command bypassed), sudo allows only the probes' exact commands.
    const as = (c: string) => host.exec(`runuser -u ${OBSERVER_USER} -- ${c}`);
    for (const c of [
      "sudo -n /usr/sbin/iptables -F", "sudo -n /usr/sbin/ufw disable", "sudo -n /usr/sbin/ufw allow 8000",
      "sudo -n /usr/bin/apt-get install -y nmap", "sudo -n /usr/bin/dpkg -i /root/demesne-stray.deb",
      "sudo -n /usr/sbin/sshd -T -f /etc/shadow", "sudo -n /usr/bin/grep -rHZ -e ^ /etc/shadow",
      "sudo -n /bin/bash", "touch /etc/demesne-x", "sh -c 'echo x >> /etc/ssh/sshd_config'",
      // The hardening probes' programs, with arguments other than the probes' own.
      "sudo -n /usr/sbin/sysctl -w net.ipv4.ip_forward=0", "sudo -n /usr/sbin/auditctl -D", "sudo -n /usr/sbin/auditctl -e 0",
      "sudo -n /usr/bin/find /usr -exec /bin/sh -c 'touch /etc/demesne-x' \\;", "sudo -n /usr/bin/find /bin /sbin /usr -xdev -type f -perm /6000 -printf x -delete",
    ]) {
      const r = await as(c);
      expect(r.code, c).not.toBe(0);
    }
    expect((await host.exec("test -e /etc/demesne-x")).code).not.toBe(0);
    const rules = await host.exec("iptables -S | wc -l");
    expect(Number(rules.stdout)).toBeGreaterThan(10);
    expect((await as("sudo -n /usr/sbin/sshd -T")).code).toBe(0);
  });

  it("a Talos host is never reached over SSH, so never observed (praxis invariant 5)", () => {
    writeStack("mixed", [
      { name: NAME, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" },
      // Its own address (two hosts may not share one): the host side of the test host's link, where a wrongful
      // SSH attempt would be refused rather than leave the machine.
      { name: "talos-1", address: host.network.replace(/\.0\/30$/, ".1"), hostType: "talos" },
    ]);
    const o = cli("observe", "--stack", "mixed", "--identity", observerKey, "--json");
    expect(o.code, o.stderr).toBe(0);
    expect((JSON.parse(o.stdout) as { hosts: { host: string }[] }).hosts.map((h) => h.host)).toEqual([NAME]);
    const named = cli("observe", "--stack", "mixed", "--host", "talos-1", "--identity", observerKey);
    expect(named.code).toBe(2);
    expect(named.stderr).toMatch(/talos host is never reached over SSH/);
  });

  it("an unreachable host is a reachability finding and exit 1", () => {
    writeStack("ghost", [{ name: "ghost", address: host.address, sshPort: 2222, hostKey: host.hostKey, bootstrapUser: "admin" }]);
    const o = cli("observe", "--stack", "ghost", "--identity", observerKey, "--json");
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/ghost.*unreachable/);
    const d = cli("drift", "--stack", "ghost", "--json");
    expect(d.code).toBe(1);
    expect(json(d).findings.map((f) => [f.attribute, f.change])).toEqual([["reachable", "unreachable"]]);
  });

  it("a host key that is not the pinned one is unreachable, never trusted", () => {
    writeStack("wrongkey", [{ name: "wrongkey", address: host.address, hostKey: keyPair("other-host").pub.split(" ").slice(0, 2).join(" "), bootstrapUser: "admin" }]);
    const o = cli("observe", "--stack", "wrongkey", "--identity", observerKey, "--json");
    expect(o.code).toBe(1);
    expect(JSON.parse(o.stdout).hosts[0].error).toMatch(/Host key verification failed/);
  });
});
