// praxis invariant 6 through the real engine on a real host: `demesne plan` (the real preview with the policy
// pack), `demesne approve` (one T3 target, its typed token) and `demesne apply` (`pulumi up --plan`) configure a
// sandboxed test host with the program's own components and the real command provider; re-running every layer
// changes nothing; and an out-of-band change is converged by the very command `demesne drift` prints.
// Needs the Pulumi CLI, its Node language host and the command provider (test/e2e/engine.ts says how).
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { openFleetStore } from "../../state-model/db/open";
import { keyPair } from "../helpers/configured-host";
import { startTestHost, type TestHost } from "../helpers/test-host";
import { tempDir } from "../helpers/tools";
import { demesne, engine, initStack, project, type Engine } from "./engine";

const NAME = "e2e";
const HOST = "e2e-1";
const STACK = "e2e";
const work = tempDir("e2e-apply");
let host: TestHost;
let e: Engine;
let proj: string;
let deployKey: string;
let observerKey: string;

/** Everything the CLIs printed, for the secret check at the end. */
const printed: string[] = [];
const cli = (...args: string[]) => {
  const r = demesne(e, proj, args);
  printed.push(r.stdout, r.stderr);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

interface PlanJson { plan: string; maxTier: string; approvable: boolean; refusal: string | null; changes: { urn: string; op: string; tier: string; token?: string }[] }

/** demesne plan → approve (typing each T3 token) → apply; returns the plan's JSON. */
function planApproveApply(args: string[]): PlanJson {
  const p = cli("plan", "--stack", STACK, ...args, "--json");
  expect(p.code, p.stderr.slice(-3000)).toBe(0);
  const plan = JSON.parse(p.stdout) as PlanJson;
  expect(plan.approvable, plan.refusal ?? "").toBe(true);
  const tokens = plan.changes.flatMap((c) => (c.token ? [c.token] : []));
  if (tokens.length > 0) {
    // A T3 plan is not approved without its typed token.
    expect(cli("approve", plan.plan, "--stack", STACK, "--actor", "alice").code).toBe(1);
  }
  const a = cli("approve", plan.plan, "--stack", STACK, "--actor", "alice", ...(tokens.length ? ["--token", tokens.join(",")] : []));
  expect(a.code, a.stderr).toBe(0);
  const r = cli("apply", plan.plan, "--stack", STACK, "--actor", "alice", "--json");
  expect(r.code, r.stderr.slice(-3000)).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: 0, complete: true });
  return plan;
}

/** What the host is: firewall, users, packages and every file under /etc, /usr and /var/lib. */
const fingerprint = async () => (await host.exec("{ iptables-save | grep -v '^#'; getent passwd; dpkg-query -W; " +
  "find /etc /usr /var/lib -xdev -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum")).stdout;

/** `changed` as each layer's Actuator reported it in the last update (from the stack's checkpoint). */
function layersChanged(): Record<string, boolean> {
  const r = e.pulumi(["stack", "export", "--stack", STACK], { cwd: proj });
  expect(r.status, r.stderr).toBe(0);
  const resources = (JSON.parse(r.stdout) as { deployment: { resources: { type: string; urn: string; outputs?: { changed?: boolean } }[] } }).deployment.resources;
  return Object.fromEntries(resources.filter((x) => x.type === "demesne:actuator:Actuator").map((x) => [x.urn.split("::").pop()!, x.outputs?.changed as boolean]));
}

function drift() {
  const o = cli("observe", "--stack", STACK, "--identity", observerKey);
  expect(o.code, o.stderr).toBe(0);
  // The stack's checkpoint is what `--against applied` compares with.
  const exp = e.pulumi(["stack", "export", "--stack", STACK], { cwd: proj });
  writeFileSync(path.join(work, "export.json"), exp.stdout);
  expect(cli("ingest", path.join(work, "export.json"), "--stack", STACK).code).toBe(0);
  const d = cli("drift", "--stack", STACK, "--against", "applied", "--json");
  return JSON.parse(d.stdout) as { findings: { attribute: string; key: string; change: string; converge: string }[] };
}

/** The one finding every host keeps: the bootstrap user's cloud-init sudo, which baseline runs as (LIMITATIONS.md). */
const BOOTSTRAP_SUDO = { attribute: "sudoers.file", key: "/etc/sudoers.d/90-cloud-init-users", change: "violation" };

beforeAll(async () => {
  e = engine(work);
  host = await startTestHost(NAME);
  const deploy = keyPair(work, "deploy");
  deployKey = deploy.key;
  observerKey = keyPair(work, "observer").key;
  // An OVH host as delivered: the provider's `ubuntu` user with passwordless sudo and the operator's key.
  const boot = await host.exec([
    "useradd -m -s /bin/bash -U ubuntu && usermod -p '*' ubuntu",
    "echo 'ubuntu ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-cloud-init-users && chmod 440 /etc/sudoers.d/90-cloud-init-users",
    "install -d -m 700 -o ubuntu -g ubuntu /home/ubuntu/.ssh",
    `echo '${deploy.pub}' > /home/ubuntu/.ssh/authorized_keys && chown ubuntu: /home/ubuntu/.ssh/authorized_keys && chmod 600 /home/ubuntu/.ssh/authorized_keys`,
  ].join(" && "));
  expect(boot.code, boot.stderr).toBe(0);
  proj = project(work, "hosts");
  // No approvals yet: the tests give them the way an operator does.
  initStack(e, proj, STACK, {
    // A first install changes sshd and the firewall (T3): above `operate`'s ceiling.
    "demesne:mode": "break-glass",
    "demesne:deployUser": "deploy",
    "demesne:adminRanges": [host.network],
    "demesne:sshPublicKeys": [deploy.pub],
    "demesne:observerPublicKeys": [readFileSync(`${observerKey}.pub`, "utf8").trim()],
    "demesne:tailnet": { admins: ["ops@example.com"], aptKeySha256: "0".repeat(64) },
    "demesne:hosts": [{ name: HOST, address: host.address, hostType: "ubuntu", hostKey: host.hostKey, bootstrapUser: "ubuntu", deadManSeconds: 30, edgeFirewall: false }],
  }, [["demesne:sshPrivateKey", readFileSync(deployKey, "utf8")]], { approve: false });
}, 300_000);

afterAll(async () => {
  await host?.stop();
});

describe("plan, approve, apply through the real engine on a real host", { timeout: 300_000 }, () => {
  it("an invalid config fails the preview with the program's own message", () => {
    const good = readFileSync(path.join(proj, `Pulumi.${STACK}.yaml`), "utf8");
    writeFileSync(path.join(proj, "Pulumi.bad.yaml"), good.replace("deadManSeconds: 30", "deadManSeconds: 5"));
    expect(e.pulumi(["stack", "init", "bad"], { cwd: proj }).status).toBe(0);
    const r = e.pulumi(["preview", "--stack", "bad"], { cwd: proj });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/invalid stack config \(\d+ problems?\):[^]*- demesne:hosts\[0\]\.deadManSeconds: Too small/);
  });

  it("the pack refuses the preview until each T3 step's approval is in config, and says how to give it", () => {
    const p = cli("plan", "--stack", STACK);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/content-bound-approvals/);
    // The operator copies the lines the program prints after reviewing the preview.
    const lines = [...new Set(p.stderr.match(/pulumi config set --path 'demesne:approvals\["[^"]+"\]' T3-[0-9a-f-]+/g) ?? [])];
    expect(lines.map((l) => l.match(/\["([^"]+)"\]/)![1]).sort()).toEqual([`${HOST}/firewall`, `${HOST}/ssh`]);
    for (const l of lines) {
      const [, key, token] = l.match(/'(demesne:approvals\["[^"]+"\])' (\S+)/)!;
      const r = e.pulumi(["config", "set", "--path", key!, token!, "--stack", STACK], { cwd: proj });
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it("a plan with two T3 changes cannot be approved: one T3 target at a time", () => {
    const p = cli("plan", "--stack", STACK, "--json");
    expect(p.code, p.stderr.slice(-2000)).toBe(0);
    const plan = JSON.parse(p.stdout) as PlanJson;
    expect(plan.approvable).toBe(false);
    expect(plan.refusal).toMatch(/2 T3 targets/);
    expect(cli("approve", plan.plan, "--stack", STACK, "--actor", "alice", "--token", plan.changes.flatMap((c) => c.token ?? []).join(",")).code).toBe(1);
  });

  it("layer by layer, the plans configure the host: sshd, sudoers and the firewall as the program says", async () => {
    expect(planApproveApply(["--layer", `${HOST}/baseline`]).maxTier).toBe("T2");
    expect(planApproveApply(["--layer", `${HOST}/ssh`]).maxTier).toBe("T3");
    expect(planApproveApply(["--layer", `${HOST}/firewall`]).maxTier).toBe("T3");

    const sshd = (await host.exec("sshd -T")).stdout;
    for (const line of ["passwordauthentication no", "permitrootlogin no", "maxauthtries 2", "logingracetime 30", "x11forwarding no", "allowusers deploy"]) {
      expect(sshd).toContain(`${line}\n`);
    }
    const sudo = await host.exec("visudo -c && cat /etc/sudoers.d/demesne");
    expect(sudo.code, sudo.stderr).toBe(0);
    expect(sudo.stdout).not.toMatch(/NOPASSWD:\s*ALL/);
    expect(sudo.stdout).toMatch(/^deploy ALL=\(root\) NOPASSWD: \/usr\/local\/sbin\/demesne-run ""$/m);
    expect((await host.exec("ufw status")).stdout).toMatch(/^Status: active/);
    expect((await host.exec("iptables -S DOCKER-USER")).stdout).toMatch(/-A DOCKER-USER/);
    // The deploy user logs in over the hardened sshd; the audit chain holds every approval and apply.
    expect((await host.ssh("deploy", deployKey, "true")).code).toBe(0);
    expect(cli("audit", "verify").code).toBe(0);
    expect(drift().findings.map(({ attribute, key, change }) => ({ attribute, key, change }))).toEqual([BOOTSTRAP_SUDO]);
  });

  it("running every layer again changes nothing: each reports changed=false and the host is the same", async () => {
    const before = await fingerprint();
    for (const layer of ["baseline", "ssh", "firewall"]) planApproveApply(["--layer", `${HOST}/${layer}`, "--replace"]);
    expect(layersChanged()).toEqual({ [`${HOST}-baseline`]: false, [`${HOST}-ssh`]: false, [`${HOST}-firewall`]: false });
    expect(await fingerprint()).toBe(before);
  });

  it("an out-of-band change is found, and the command drift prints converges it", async () => {
    const oob = await host.exec("sed -i 's/^PasswordAuthentication no/PasswordAuthentication yes/' /etc/ssh/sshd_config.d/00-hardening.conf && kill -HUP \"$(cat /run/sshd.pid)\"");
    expect(oob.code, oob.stderr).toBe(0);
    const found = drift().findings.find((f) => f.key === "passwordauthentication");
    expect(found).toMatchObject({ change: "changed" });
    const cmd = found!.converge.match(/^demesne plan (.*?), then demesne approve and demesne apply/);
    expect(cmd, found!.converge).not.toBeNull();
    planApproveApply(cmd![1]!.split(" ").filter((a, i, all) => !(a === "--stack" || all[i - 1] === "--stack")));
    expect((await host.exec("sshd -T")).stdout).toContain("passwordauthentication no\n");
    expect(drift().findings.map(({ attribute, key, change }) => ({ attribute, key, change }))).toEqual([BOOTSTRAP_SUDO]);
  });

  it("with the kill switch on, an approved plan is refused: nothing runs on the host, and the audit log says why", async () => {
    const file = path.join(proj, `Pulumi.${STACK}.yaml`);
    const good = readFileSync(file, "utf8");
    const p = JSON.parse(cli("plan", "--stack", STACK, "--layer", `${HOST}/baseline`, "--replace", "--json").stdout) as PlanJson;
    expect(cli("approve", p.plan, "--stack", STACK, "--actor", "alice").code).toBe(0);
    const doc = parse(good) as { config: Record<string, unknown> };
    writeFileSync(file, stringify({ ...doc, config: { ...doc.config, "demesne:killSwitch": true } }));
    try {
      const before = await fingerprint();
      const r = cli("apply", p.plan, "--stack", STACK, "--actor", "alice");
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/kill switch is on/);
      expect(await fingerprint()).toBe(before);
      const store = await openFleetStore({ stateDir: e.env.DEMESNE_STATE_DIR!, databaseUrl: "" });
      try {
        const last = (await store.query<{ action: string; params: { reason?: string } }>("SELECT action, params FROM audit_log ORDER BY seq DESC LIMIT 1")).rows[0];
        expect(last).toMatchObject({ action: "apply refused", params: { reason: expect.stringMatching(/kill switch/) } });
      } finally {
        await store.close();
      }
    } finally {
      writeFileSync(file, good);
    }
  });

  it("the SSH private key never appears in the state, the recorder, the audit log or any output", () => {
    // A line from the middle of the key: unique, and never a fragment of anything else.
    const lines = readFileSync(deployKey, "utf8").trim().split("\n");
    const sentinel = lines[Math.floor(lines.length / 2)]!;
    expect(sentinel.length).toBeGreaterThan(40);
    for (const out of printed) expect(out.includes(sentinel)).toBe(false);
    // The engine's checkpoints and history, the recorder's data directory (plans, approvals, event logs).
    for (const dir of [path.join(work, "backend"), path.join(work, "state")]) {
      const r = spawnSync("grep", ["-rlF", sentinel, dir], { encoding: "utf8" });
      expect(r.status, `found in: ${r.stdout}`).toBe(1);
    }
  });

  it("a firewall that shuts the operator out is rolled back by its dead-man, and the apply fails saying so", async () => {
    const file = path.join(proj, `Pulumi.${STACK}.yaml`);
    const good = readFileSync(file, "utf8");
    const rules = async () => (await host.exec("sha256sum /etc/ufw/user.rules /etc/ufw/user6.rules")).stdout;
    const before = await rules();
    // A mistyped admin range: the operator's own address is not in it. It passes every check but one: logging in.
    writeFileSync(file, good.replace(host.network, "192.0.2.0/24"));
    try {
      const refused = cli("plan", "--stack", STACK, "--layer", `${HOST}/firewall`);
      const [, key, token] = refused.stderr.match(/pulumi config set --path '(demesne:approvals\["[^"]+"\])' (T3-[0-9a-f-]+)/) ?? [];
      expect(key, refused.stderr.slice(-2000)).toBe(`demesne:approvals["${HOST}/firewall"]`);
      expect(e.pulumi(["config", "set", "--path", key!, token!, "--stack", STACK], { cwd: proj }).status).toBe(0);
      const p = JSON.parse(cli("plan", "--stack", STACK, "--layer", `${HOST}/firewall`, "--json").stdout) as PlanJson;
      // The plan's token approves this update; the config token above approved the content being declared.
      const planToken = p.changes.flatMap((c) => c.token ?? []).join(",");
      expect(cli("approve", p.plan, "--stack", STACK, "--actor", "alice", "--token", planToken).code).toBe(0);
      const start = Date.now();
      const r = cli("apply", p.plan, "--stack", STACK, "--actor", "alice", "--json");
      expect(r.code, r.stderr.slice(-3000)).toBe(1);
      expect(r.stderr).toMatch(/dead-man restored the previous firewall configuration/);
      expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: expect.any(Number), complete: true });
      // Back within the dead-man's window (30 s) plus the time it took to notice, with the old rules.
      expect((await host.ssh("deploy", deployKey, "true", { timeoutMs: 10_000 })).code).toBe(0);
      expect((Date.now() - start) / 1000).toBeLessThan(120);
      expect(await rules()).toBe(before);
    } finally {
      writeFileSync(file, good);
    }
  });
});
