// Drift without a host: the observe script's framing (run for real with bash), the parsers, the
// comparison rules, ignore files, and the sudoers entry checked by visudo.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROBE_IDS, PROBES, renderObserveScript, renderObserverSudoers } from "../../components/model/observer";
import type { DesiredState } from "../../state-model/drift/desired";
import { computeDrift, splitListen, type HostState } from "../../state-model/drift/drift";
import { isIgnored, parseIgnoreRules } from "../../state-model/drift/ignore";
import { parseObserveOutput, parseProbe, PROBE_ATTRIBUTES } from "../../state-model/observe/parse";
import { requireTool } from "../helpers/tools";

const dir = mkdtempSync(path.join(tmpdir(), "demesne-observe-unit-"));
const script = path.join(dir, "observe");
writeFileSync(script, renderObserveScript(), { mode: 0o755 });
const runScript = (cmd: string) => spawnSync("bash", [script], { env: { PATH: process.env.PATH, SSH_ORIGINAL_COMMAND: cmd }, encoding: "utf8" });

describe("the observe script (the observer key's forced command)", () => {
  it("passes shellcheck", () => {
    requireTool("shellcheck");
    expect(() => execFileSync("shellcheck", ["-S", "warning", script], { encoding: "utf8" })).not.toThrow();
  });

  it("runs named probes and frames each as one base64 line that the client decodes", () => {
    const r = runScript("probe users groups");
    expect(r.status).toBe(0);
    const results = parseObserveOutput(r.stdout);
    expect(results.map((x) => x.probe)).toEqual(["users", "groups"]);
    expect(results[0]!.status).toBe("ok");
    expect(results[0]!.facts.find((f) => f.key === "root")?.value).toMatchObject({ uid: 0, gid: 0, home: "/root" });
  });

  it.each([
    "rm -rf /srv/x", "bash", "probe", "probe users; id", "probe ../../bin/sh", "all; touch /srv/pwned", "",
  ])("refuses anything but `all` or known probe ids: %j", (cmd) => {
    const r = runScript(cmd);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/demesne-observe/);
  });

  it("reports a missing program as unavailable, not as a failure", () => {
    const r = runScript("probe tailscale");
    const [t] = parseObserveOutput(r.stdout);
    expect(t).toMatchObject({ probe: "tailscale", status: "unavailable" });
  });

  it("every probe has a parser and owns attributes", () => {
    for (const id of PROBE_IDS) {
      expect(PROBE_ATTRIBUTES[id], id).toBeDefined();
      expect(parseProbe(id, 1, "").error ?? "").not.toMatch(/unknown probe/);
    }
  });
});

describe("the observer's sudoers entry", () => {
  it("validates with visudo and lists exactly the root probes with their arguments", () => {
    requireTool("visudo");
    const f = path.join(dir, "sudoers");
    writeFileSync(f, renderObserverSudoers(), { mode: 0o440 });
    expect(spawnSync("visudo", ["-cf", f], { encoding: "utf8" }).status).toBe(0);
    const text = renderObserverSudoers();
    expect(text).not.toMatch(/NOPASSWD:\s*ALL/);
    for (const p of PROBES.filter((x) => x.sudo)) expect(text).toContain(p.argv[0]!);
    for (const p of PROBES.filter((x) => !x.sudo)) expect(text).not.toContain(p.argv[0]!);
  });
});

describe("parsers", () => {
  it("sshd -T: repeated keys become one fact in their order", () => {
    const r = parseProbe("sshd", 0, "port 22\nallowusers deploy\nallowusers ubuntu\npasswordauthentication no\n");
    expect(r.facts).toEqual([
      { attribute: "sshd", key: "port", value: "22" },
      { attribute: "sshd", key: "allowusers", value: "deploy ubuntu" },
      { attribute: "sshd", key: "passwordauthentication", value: "no" },
    ]);
  });

  it("ufw status verbose: v4 and v6 forms of a rule are one fact", () => {
    const out = [
      "Status: active", "Logging: on (low)", "Default: deny (incoming), allow (outgoing), deny (routed)", "New profiles: skip", "",
      "To                         Action      From", "--                         ------      ----",
      "22/tcp                     ALLOW IN    10.251.1.0/24", "8000                       ALLOW IN    Anywhere",
      "8000 (v6)                  ALLOW IN    Anywhere (v6)", "",
    ].join("\n");
    const r = parseProbe("ufw", 0, out);
    expect(r.facts).toEqual([
      { attribute: "ufw.status", key: "", value: "active" },
      { attribute: "ufw.default", key: "", value: { incoming: "deny", outgoing: "allow", routed: "deny" } },
      { attribute: "ufw.rule", key: "22/tcp ALLOW IN 10.251.1.0/24", value: ["v4"] },
      { attribute: "ufw.rule", key: "8000 ALLOW IN Anywhere", value: ["v4", "v6"] },
    ]);
  });

  it("ss: listeners keyed by protocol and address, processes without pids", () => {
    const r = parseProbe("listeners", 0, 'tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=12,fd=3))\n');
    expect(r.facts).toEqual([{ attribute: "listener", key: "tcp 0.0.0.0:22", value: { processes: ["sshd"] } }]);
  });

  it("sudoers: content hash, rules and unrestricted grants per file", () => {
    const r = parseProbe("sudoers", 0, "/etc/sudoers.d/x\u0000# c\n/etc/sudoers.d/x\u0000bob ALL=(ALL) NOPASSWD: ALL\n");
    expect(r.facts[0]).toMatchObject({ key: "/etc/sudoers.d/x", value: { rules: ["bob ALL=(ALL) NOPASSWD: ALL"], unrestricted: ["NOPASSWD: ALL", "ALL=(ALL) ALL"] } });
  });

  it("a probe whose output cannot be read fails alone, with the reason", () => {
    expect(parseProbe("ufw", 0, "garbage")).toMatchObject({ status: "failed", error: expect.stringMatching(/Status/) });
    expect(parseProbe("sshd", 1, "")).toMatchObject({ status: "failed", error: "exit code 1" });
  });

  it("the framing refuses anything that is not a probe line", () => {
    expect(() => parseObserveOutput("hello world\n")).toThrow(/unexpected line/);
  });
});

const desired = (expected: DesiredState["hosts"] extends Map<string, infer H> ? H : never): DesiredState =>
  ({ source: "baseline:t", hosts: new Map([["h1", expected]]) });
const host = (facts: HostState["facts"], extra: Partial<HostState> = {}): HostState => ({ host: "h1", reachable: true, failedProbes: [], facts, ...extra });

describe("computeDrift", () => {
  const base = desired({
    expected: [
      { attribute: "sshd", key: "passwordauthentication", value: "no" },
      { attribute: "package", key: "jq", value: "1.6" },
      { attribute: "sudoers.file", key: "/etc/sudoers.d/demesne", value: { sha256: "aa" } },
    ],
    complete: ["package", "sudoers.file"],
  });

  it("no difference, no finding", () => {
    const r = computeDrift(base, [host([
      { attribute: "sshd", key: "passwordauthentication", value: "no" },
      { attribute: "sshd", key: "port", value: "22" },
      { attribute: "package", key: "jq", value: "1.6" },
      { attribute: "sudoers.file", key: "/etc/sudoers.d/demesne", value: { sha256: "aa", rules: [], unrestricted: [] } },
    ])], [], {});
    expect(r.findings).toEqual([]);
  });

  it("changed, missing, unexpected and violation, each once, with the layer and tier that converge it", () => {
    const r = computeDrift(base, [host([
      { attribute: "sshd", key: "passwordauthentication", value: "yes" },
      { attribute: "package", key: "nmap", value: "7.9" },
      { attribute: "sudoers.file", key: "/etc/sudoers.d/demesne", value: { sha256: "aa", rules: [], unrestricted: [] } },
      { attribute: "sudoers.file", key: "/etc/sudoers.d/evil", value: { sha256: "bb", rules: [], unrestricted: ["NOPASSWD: ALL"] } },
      { attribute: "listener", key: "tcp 0.0.0.0:8000", value: { processes: ["python3"] } },
    ])], [], { stack: "control" });
    const got = r.findings.map((f) => [f.attribute, f.key, f.change, f.severity]);
    expect(got).toEqual([
      ["listener", "tcp 0.0.0.0:8000", "violation", "critical"],
      ["sudoers.file", "/etc/sudoers.d/evil", "unexpected", "critical"],
      ["package", "jq", "missing", "medium"],
      ["package", "nmap", "unexpected", "medium"],
      ["sshd", "passwordauthentication", "changed", "high"],
    ].sort((a, b) => ["low", "medium", "high", "critical"].indexOf(b[3]!) - ["low", "medium", "high", "critical"].indexOf(a[3]!) || a[0]!.localeCompare(b[0]!) || a[1]!.localeCompare(b[1]!)));
    const ssh = r.findings.find((f) => f.attribute === "sshd")!;
    expect(ssh).toMatchObject({ layer: "ssh", tier: "T3", desired: "no", observed: "yes" });
    expect(ssh.converge).toBe("demesne plan --stack control --layer h1/ssh --replace, then demesne approve and demesne apply (T3: approve with its token)");
    expect(r.findings.find((f) => f.attribute === "listener")!.converge).toMatch(/^by hand \(no demesne layer removes it\): find the process/);
    // The baseline layer writes its own sudoers file, never removes a stray one: a replace would not converge it.
    expect(r.findings.find((f) => f.key === "/etc/sudoers.d/evil")).toMatchObject({ layer: null, tier: null, converge: expect.stringMatching(/^by hand.*visudo/) });
    expect(r.findings.find((f) => f.key === "jq")).toMatchObject({ layer: "baseline", tier: "T2" });
    expect(r.summary).toMatchObject({ findings: 5, changed: 1, missing: 1, unexpected: 2, violations: 1 });
  });

  it("an unreachable host is one finding, and its last facts are not compared", () => {
    const r = computeDrift(base, [host([], { reachable: false, error: "Connection timed out" })], [], {});
    expect(r.findings.map((f) => [f.attribute, f.change, f.why])).toEqual([["reachable", "unreachable", "Connection timed out"]]);
  });

  it("ignore rules hide exactly what they name and are counted", () => {
    const rules = parseIgnoreRules("ignore:\n  - attribute: package\n    key: nm*\n    reason: scanner installed by the security team\n", "f.yaml");
    const r = computeDrift(base, [host([
      { attribute: "sshd", key: "passwordauthentication", value: "no" },
      { attribute: "package", key: "jq", value: "1.6" },
      { attribute: "package", key: "nmap", value: "7.9" },
      { attribute: "package", key: "ncat", value: "7.9" },
      { attribute: "sudoers.file", key: "/etc/sudoers.d/demesne", value: { sha256: "aa" } },
    ])], rules, {});
    expect(r.findings.map((f) => f.key)).toEqual(["ncat"]);
    expect(r.summary.ignored).toBe(1);
    expect(isIgnored(rules, "h1", "package", "nmap")).toBe(true);
  });

  it("an ignore rule never hides an invariant violation", () => {
    const rules = parseIgnoreRules("ignore:\n  - attribute: sudoers.file\n    reason: our own sudoers files change often\n", "f.yaml");
    const r = computeDrift(base, [host([
      { attribute: "sshd", key: "passwordauthentication", value: "no" },
      { attribute: "package", key: "jq", value: "1.6" },
      { attribute: "sudoers.file", key: "/etc/sudoers.d/demesne", value: { sha256: "aa" } },
      { attribute: "sudoers.file", key: "/etc/sudoers.d/evil", value: { sha256: "bb", unrestricted: ["NOPASSWD: ALL"] } },
    ])], rules, {});
    expect(r.findings.map((f) => [f.key, f.severity])).toEqual([["/etc/sudoers.d/evil", "critical"]]);
  });

  it("an ignore rule without a reason names the field", () => {
    expect(() => parseIgnoreRules("ignore:\n  - attribute: package\n", "policy/drift-ignore.yaml")).toThrow(/policy\/drift-ignore.yaml: ignore\[0\]\.reason/);
    expect(() => parseIgnoreRules("ignore:\n  - attribute: package\n    reason: because we said so\n    colour: red\n", "f")).toThrow(/ignore\[0\]/);
  });

  it("listen addresses", () => {
    expect(splitListen("[::]:22")).toEqual({ address: "::", port: 22 });
    expect(splitListen("127.0.0.53%lo:53")).toEqual({ address: "127.0.0.53", port: 53 });
    expect(splitListen("*:8000")).toEqual({ address: "*", port: 8000 });
  });
});
