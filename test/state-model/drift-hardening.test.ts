// The hardening and audit layers' tables in drift. The sysctl, find, findmnt and getent outputs in
// test/fixtures/observe are what the probes really printed as the observer on a bookworm test host after the
// program's baseline, ssh, firewall and hardening layers (stock-*: before hardening; the overlay's directories
// in the mounts output renamed, being this machine's paths). The auditctl outputs are not from a live kernel
// (the kernel refuses audit control in a test host): they are auditctl 3.0.9's formats as its source prints them
// (src/auditctl-listing.c: `-w PATH -p PERMS -k KEY` for a watch, `-a LIST,ACTION -F arch=… -S … -F key=KEY`
// for a syscall rule, the syscalls in the kernel's numbering order, auid -1 unresolved; `name value` status
// lines), and the refusal is the real one (exit 255 and no output, "Error sending status request (Operation not
// permitted)" on stderr). The end-to-end version runs in test/host/observe-hardening.test.ts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { SUID_KEPT, SUID_REMOVED, SYSCTLS } from "../../components/model/hardening";
import { PROBES, renderObserverSudoers } from "../../components/model/observer";
import { openFleetStore } from "../../state-model/db/open";
import { computeDrift, hostState, type HostState } from "../../state-model/drift/drift";
import type { HardeningRules } from "../../state-model/drift/hardening";
import { parseIgnoreRules } from "../../state-model/drift/ignore";
import { recordObservation } from "../../state-model/observe/observe";
import { parseProbe, PROBE_ATTRIBUTES, type ProbeResult } from "../../state-model/observe/parse";
import { requireTool } from "../helpers/tools";

const fixture = (name: string) => readFileSync(path.join(__dirname, "..", "fixtures", "observe", name), "utf8");
const HARDENED = { sysctl: fixture("hardened-bookworm.sysctl.txt"), suid: fixture("hardened-bookworm.suid.txt"), mounts: fixture("hardened-bookworm.mounts.txt"), groups: fixture("hardened-bookworm.groups.txt") };
const STOCK_SUID = fixture("stock-bookworm.suid.txt");

const AUDIT_STATUS = "enabled 1\nfailure 1\npid 612\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\nbacklog_wait_time 60000\nbacklog_wait_time_actual 0\nloginuid_immutable 0 unlocked\n";
const AUDIT_LIST = [
    "-w /etc/passwd -p wa -k identity", "-w /etc/group -p wa -k identity", "-w /etc/shadow -p wa -k identity",
    "-w /etc/gshadow -p wa -k identity", "-w /etc/security/opasswd -p wa -k identity",
    "-w /etc/sudoers -p wa -k sudoers", "-w /etc/sudoers.d -p wa -k sudoers",
    "-w /etc/ssh/sshd_config -p wa -k sshd", "-w /etc/ssh/sshd_config.d -p wa -k sshd",
    "-w /usr/local/sbin/demesne-run -p wa -k demesne-runner", "-w /etc/demesne/scripts.allow -p wa -k demesne-runner",
    "-w /etc/docker -p wa -k docker", "-w /run/docker.sock -p rwa -k docker", "-w /var/lib/tailscale -p wa -k tailscale",
    "-w /etc/localtime -p wa -k time-change",
    "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -F key=time-change",
    "-a always,exit -F arch=b32 -S settimeofday,adjtimex,clock_settime -F key=time-change",
    "-a always,exit -F arch=b64 -S init_module,delete_module,finit_module -F key=modules",
    "-a always,exit -F arch=b32 -S init_module,delete_module,finit_module -F key=modules",
    "-a always,exit -F arch=b64 -S execve -F euid=0 -F auid>=1000 -F auid!=-1 -F key=privileged",
    "-a always,exit -F arch=b32 -S execve -F euid=0 -F auid>=1000 -F auid!=-1 -F key=privileged",
].join("\n") + "\n";

type Outputs = Record<string, [number, string]>;
const HEALTHY: Outputs = {
    sysctl: [0, HARDENED.sysctl], suid: [0, HARDENED.suid], mounts: [0, HARDENED.mounts], groups: [0, HARDENED.groups],
    audit: [0, AUDIT_STATUS], "audit-rules": [0, AUDIT_LIST],
};
const ALL: HardeningRules = { hardening: true, audit: { immutable: false } };

/** A host as drift reads it from the store: each probe's facts and its status line (observe.ts records `status: error`). */
function hostOf(outputs: Outputs): HostState {
    const results: ProbeResult[] = Object.entries(outputs).map(([p, [code, out]]) => parseProbe(p, code, out));
    return {
        host: "h1", reachable: true, failedProbes: results.filter((r) => r.status === "failed").map((r) => r.probe),
        probes: Object.fromEntries(results.map((r) => [r.probe, r.error ? `${r.status}: ${r.error}` : r.status])),
        facts: results.flatMap((r) => r.facts),
    };
}
const drift = (outputs: Outputs, rules: HardeningRules = ALL, ignore = "") => computeDrift(
    { source: "desired:t", hosts: new Map([["h1", { expected: [], complete: [], rules }]]) }, [hostOf(outputs)],
    ignore ? parseIgnoreRules(ignore, "ignore.yaml") : [], { stack: "t" });
const brief = (r: ReturnType<typeof drift>) => r.findings.map((f) => [f.attribute, f.key, f.change, f.severity, f.layer]);
const edit = (text: string, from: string, to: string) => {
    expect(text).toContain(from);
    return text.replace(from, to);
};

describe("the hardening probes' parsers (real output)", () => {
    it("sysctl: one fact per key the kernel has; a key it lacks is simply not there", () => {
        const facts = parseProbe("sysctl", 0, HARDENED.sysctl).facts;
        expect(facts).toHaveLength(34);
        expect(facts).toContainEqual({ attribute: "sysctl", key: "net.ipv4.conf.all.rp_filter", value: "1" });
        expect(facts.map((f) => f.key)).not.toContain("kernel.yama.ptrace_scope");
        expect(new Set(SYSCTLS.map((s) => s.key))).toEqual(new Set([...facts.map((f) => f.key), "kernel.yama.ptrace_scope", "net.core.bpf_jit_harden", "kernel.sysrq"]));
    });

    it("suid: path, mode and owner; mounts: every option, one fact per target", () => {
        expect(parseProbe("suid", 0, STOCK_SUID).facts).toContainEqual({ attribute: "suid", key: "/usr/bin/ssh-agent", value: { mode: "2755", owner: "root:_ssh" } });
        const mounts = parseProbe("mounts", 0, HARDENED.mounts).facts;
        expect(mounts.find((f) => f.key === "/proc")?.value).toMatchObject({ readOnly: false, options: ["rw", "relatime", "gid=998", "hidepid=invisible"] });
        expect(mounts.find((f) => f.key === "/proc/sys")?.value).toMatchObject({ readOnly: true });
        expect(mounts.find((f) => f.key === "/proc/sys/net")?.value).toMatchObject({ readOnly: false });
        expect(new Set(mounts.map((f) => f.key)).size).toBe(mounts.length);
    });

    it("audit: status and rules as auditctl prints them; a refusing kernel is unavailable, and says why", () => {
        expect(parseProbe("audit", 0, AUDIT_STATUS).facts).toEqual([{ attribute: "audit", key: "", value: { enabled: 1, failure: 1, daemon: true } }]);
        const rules = parseProbe("audit-rules", 0, AUDIT_LIST).facts;
        expect(rules).toHaveLength(21);
        expect(rules).toContainEqual({ attribute: "audit.rule", key: "-a always,exit -F arch=b64 -S execve -F euid=0 -F auid>=1000 -F auid!=-1 -F key=privileged", value: "privileged" });
        expect(parseProbe("audit-rules", 0, "No rules\n")).toMatchObject({ status: "ok", facts: [] });
        expect(parseProbe("audit", 255, "")).toMatchObject({ status: "unavailable", error: "the kernel refuses audit control here (exit code 255)" });
        expect(parseProbe("audit", 127, "")).toMatchObject({ status: "unavailable" });
        expect(parseProbe("audit", 0, "garbage\n")).toMatchObject({ status: "failed" });
        for (const p of ["sysctl", "audit", "audit-rules", "suid"]) expect(PROBE_ATTRIBUTES[p], p).toBeDefined();
    });
});

describe("hardening drift", () => {
    it("a hardened host whose kernel is a container's: no finding; what the kernel's owner sets or lacks is a note", () => {
        const r = drift({ ...HEALTHY, audit: [255, ""], "audit-rules": [255, ""] });
        expect(brief(r)).toEqual([]);
        expect(r.notes).toEqual([
            "h1: this kernel has no kernel.yama.ptrace_scope, net.core.bpf_jit_harden, kernel.sysrq (the hardening layer cannot set them either); left out",
            "h1: kernel.kptr_restrict = 0, kernel.unprivileged_bpf_disabled = 2, kernel.ctrl-alt-del = 1, kernel.core_uses_pid = 0, fs.protected_symlinks = 0, fs.protected_fifos = 0, fs.protected_regular = 0, dev.tty.ldisc_autoload = 1 differ from the hardening table, but /proc/sys is read-only here: the kernel belongs to the machine this host runs in (a container); left out",
            "h1: the kernel refuses audit control here (a container: the kernel belongs to the machine it runs in); the audit layer cannot run on this host; left out",
        ]);
    });

    it("a network sysctl changed in the host's own namespace is a finding, by what it protects, converged by the hardening layer", () => {
        const r = drift({ ...HEALTHY, sysctl: [0, edit(HARDENED.sysctl, "net.ipv4.conf.all.accept_redirects = 0", "net.ipv4.conf.all.accept_redirects = 1")] });
        expect(brief(r)).toEqual([["sysctl", "net.ipv4.conf.all.accept_redirects", "changed", "high", "hardening"]]);
        expect(r.findings[0]).toMatchObject({ desired: "0", observed: "1", tier: "T3", converge: expect.stringMatching(/--layer h1\/hardening --replace/) });
        const m = drift({ ...HEALTHY, sysctl: [0, edit(HARDENED.sysctl, "net.ipv4.conf.all.log_martians = 1", "net.ipv4.conf.all.log_martians = 0")] });
        expect(brief(m)).toEqual([["sysctl", "net.ipv4.conf.all.log_martians", "changed", "medium", "hardening"]]);
    });

    it("on a host that owns its kernel (/proc/sys writable), a kernel-wide key that differs is a finding too", () => {
        const own = HARDENED.mounts.replace(/"ro,relatime,gid=998,hidepid=invisible"/g, '"rw,relatime,gid=998,hidepid=invisible"');
        const r = drift({ ...HEALTHY, mounts: [0, own] });
        expect(brief(r).filter((f) => f[1] === "kernel.kptr_restrict")).toEqual([["sysctl", "kernel.kptr_restrict", "changed", "medium", "hardening"]]);
        expect(r.notes.some((n) => n.includes("read-only"))).toBe(false);
    });

    it("a setuid bit back on a removed program is high and the layer's; an unknown one is high and by hand; the kept ones are nothing", () => {
        const back = drift({ ...HEALTHY, suid: [0, `${HARDENED.suid}4755:root:root:/usr/bin/chfn\n`] });
        expect(brief(back)).toEqual([["suid", "/usr/bin/chfn", "unexpected", "high", "hardening"]]);
        const stock = drift({ ...HEALTHY, suid: [0, STOCK_SUID] });
        const removedOnStock = ["/usr/bin/chage", "/usr/bin/chfn", "/usr/bin/chsh", "/usr/bin/expiry", "/usr/bin/gpasswd", "/usr/bin/newgrp", "/usr/lib/openssh/ssh-keysign"];
        expect(brief(stock)).toEqual(removedOnStock.map((k) => ["suid", k, "unexpected", "high", "hardening"]));
        for (const k of removedOnStock) expect(SUID_REMOVED).toContain(k);
        const planted = drift({ ...HEALTHY, suid: [0, `${HARDENED.suid}6755:root:root:/usr/local/bin/helper\n`] });
        expect(brief(planted)).toEqual([["suid", "/usr/local/bin/helper", "unexpected", "high", null]]);
        expect(planted.findings[0]!.converge).toMatch(/^by hand.*dpkg -S/);
        // Every setuid/setgid program a hardened bookworm host has is on the kept list.
        for (const f of parseProbe("suid", 0, HARDENED.suid).facts) expect(SUID_KEPT.map((k) => k.path)).toContain(f.key);
    });

    it("a managed mount without one of its options is a finding; /proc's gid=proc is the proc group's number", () => {
        const shm = drift({ ...HEALTHY, mounts: [0, edit(HARDENED.mounts, '"rw,nosuid,nodev,noexec,relatime,size=65536k"', '"rw,nosuid,nodev,relatime,size=65536k"')] });
        expect(brief(shm)).toEqual([["mount", "/dev/shm", "changed", "medium", "hardening"]]);
        expect(shm.findings[0]!.why).toMatch(/^mounted without noexec: /);
        const regrouped = drift({ ...HEALTHY, groups: [0, edit(HARDENED.groups, "proc:x:998:", "proc:x:997:")] });
        expect(brief(regrouped)).toEqual([["mount", "/proc", "changed", "medium", "hardening"]]);
        // A mount fact an older demesne recorded has no options: not a finding until observed again.
        const old = hostOf(HEALTHY);
        old.facts = old.facts.map((f) => (f.attribute === "mount" ? { ...f, value: { ...(f.value as object), options: undefined } } : f));
        const r = computeDrift({ source: "desired:t", hosts: new Map([["h1", { expected: [], complete: [], rules: ALL }]]) }, [old], [], {});
        expect(brief(r)).toEqual([]);
        expect(r.notes).toContain("h1: /dev/shm's options were recorded by an older demesne, which did not keep them; observe again");
    });

    it("auditd: running with every rule is nothing; off, stopped, not immutable when asked, or a rule key short is a finding", () => {
        expect(brief(drift(HEALTHY))).toEqual([]);
        expect(brief(drift({ ...HEALTHY, audit: [0, edit(AUDIT_STATUS, "enabled 1", "enabled 0")] }))).toEqual([["audit", "", "changed", "critical", "audit"]]);
        expect(brief(drift({ ...HEALTHY, audit: [0, edit(AUDIT_STATUS, "pid 612", "pid 0")] }))).toEqual([["audit", "", "changed", "critical", "audit"]]);
        expect(brief(drift(HEALTHY, { audit: { immutable: true } }))).toEqual([["audit", "", "changed", "high", "audit"]]);
        expect(brief(drift({ ...HEALTHY, audit: [0, edit(AUDIT_STATUS, "enabled 1", "enabled 2")] }, { audit: { immutable: true } }))).toEqual([]);
        const short = drift({ ...HEALTHY, "audit-rules": [0, edit(AUDIT_LIST, "-w /etc/shadow -p wa -k identity\n", "")] });
        expect(brief(short)).toEqual([["audit.rules", "identity", "missing", "high", "audit"]]);
        expect(short.findings[0]).toMatchObject({ desired: 5, observed: 4, why: expect.stringMatching(/^4 of 5 audit rules with key identity are loaded: who added/) });
        expect(brief(drift({ ...HEALTHY, "audit-rules": [0, "No rules\n"] })).map((f) => f[1])).toEqual(["demesne-runner", "docker", "identity", "modules", "privileged", "sshd", "sudoers", "tailscale", "time-change"]);
        expect(brief(drift({ ...HEALTHY, audit: [127, ""], "audit-rules": [127, ""] }))).toEqual([["audit", "", "missing", "critical", "audit"]]);
    });

    it("a probe the host's observe script does not have yet is one finding, not one per setting", () => {
        const { sysctl: _s, ...rest } = HEALTHY;
        expect(brief(drift(rest))).toEqual([["probe", "sysctl", "unobservable", "medium", null]]);
        expect(drift(rest).findings[0]!.why).toMatch(/older baseline layer/);
    });

    it("only the layers a source holds: none, nothing checked; an ignore rule may accept a setting's drift", () => {
        const changed: Outputs = { ...HEALTHY, sysctl: [0, edit(HARDENED.sysctl, "net.ipv4.conf.all.rp_filter = 1", "net.ipv4.conf.all.rp_filter = 2")] };
        expect(brief(drift(changed, {}))).toEqual([]);
        const ignored = drift(changed, ALL, "ignore:\n  - attribute: sysctl\n    key: net.ipv4.conf.all.rp_filter\n    reason: asymmetric routing on this host needs loose mode\n");
        expect(brief(ignored)).toEqual([]);
        expect(ignored.summary.ignored).toBe(1);
    });
});

describe("through the fleet store", () => {
    it("the probes' facts and statuses are recorded per probe and read back as drift reads them", { timeout: 120_000 }, async () => {
        const store = await openFleetStore({ stateDir: mkdtempSync(path.join(tmpdir(), "demesne-drift-hardening-")), databaseUrl: "" });
        try {
            const record = (outputs: Outputs, at: number) => recordObservation(store, {
                host: "h1", at, reachable: true, outputSha256: String(at),
                results: Object.entries(outputs).map(([p, [code, out]]) => parseProbe(p, code, out)),
            });
            const driftNow = async () => computeDrift({ source: "desired:t", hosts: new Map([["h1", { expected: [], complete: [], rules: ALL }]]) }, [await hostState(store, "h1")], [], {});
            const t0 = Date.now() - 60_000;
            await record(HEALTHY, t0);
            expect(brief(await driftNow())).toEqual([]);
            // A later observation without one rule: its fact has ended, the rule key is short.
            await record({ ...HEALTHY, "audit-rules": [0, edit(AUDIT_LIST, "-w /etc/sudoers.d -p wa -k sudoers\n", "")] }, t0 + 1_000);
            expect(brief(await driftNow())).toEqual([["audit.rules", "sudoers", "missing", "high", "audit"]]);
            // The kernel refuses audit control now: its facts end with the probe that says so, and drift notes it.
            await record({ ...HEALTHY, audit: [255, ""], "audit-rules": [255, ""] }, t0 + 2_000);
            const refused = await driftNow();
            expect(brief(refused)).toEqual([]);
            expect(refused.notes).toContainEqual(expect.stringMatching(/^h1: the kernel refuses audit control here/));
            expect((await hostState(store, "h1")).facts.filter((f) => f.attribute.startsWith("audit"))).toEqual([]);
        } finally {
            await store.close();
        }
    });
});

describe("the observer's sudoers entry for the new probes", () => {
    it("escapes find's format for sudoers and for sudo's fnmatch, and visudo accepts it", () => {
        requireTool("visudo");
        const text = renderObserverSudoers();
        // sudo matches arguments with fnmatch: the literal backslash of find's \n is escaped for it, then for sudoers.
        expect(text).toContain("/usr/bin/find /bin /sbin /usr -xdev -type f -perm /6000 -printf %m\\:%u\\:%g\\:%p\\\\\\\\n");
        expect(text).toContain(`/usr/sbin/sysctl -e ${SYSCTLS.map((s) => s.key).join(" ")}`);
        const f = path.join(mkdtempSync(path.join(tmpdir(), "demesne-sudoers-")), "observer");
        writeFileSync(f, text, { mode: 0o440 });
        expect(spawnSync("visudo", ["-cf", f], { encoding: "utf8" }).status).toBe(0);
        for (const id of ["sysctl", "audit", "audit-rules", "suid"]) expect(PROBES.find((p) => p.id === id)?.sudo, id).toBe(true);
    });
});
