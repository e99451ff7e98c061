// Rendered files checked by the programs that will read them, not by grep.
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseJsonc } from "jsonc-parser";
import { renderSshDropin, sshdExpectations } from "../components/render/sshd";
import { renderSudoers, UNRESTRICTED_SUDO_PATTERNS } from "../components/render/sudoers";
import { renderDockerUserBlock, renderUfwDefaults, renderUser6Rules, renderUserRules } from "../components/render/ufw";
import { LAYER_SCRIPT_NAMES, layerScript, runnerScript } from "../components/host/scripts";
import { failingTailnetTests, renderTailnetPolicy } from "../components/model/segmentation";
import { run, sh, tempDir } from "./helpers/tools";

const allowUsers = ["deploy", "ubuntu", "alice"];

function sshdRoot(dropin: string): string {
    const root = tempDir("sshd");
    mkdirSync(path.join(root, "etc/ssh/sshd_config.d"), { recursive: true });
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(root, "etc/ssh/ssh_host_ed25519_key")]);
    writeFileSync(path.join(root, "etc/ssh/sshd_config"),
        `Include ${root}/etc/ssh/sshd_config.d/*.conf\nHostKey ${root}/etc/ssh/ssh_host_ed25519_key\n` +
        // What cloud-init writes on OVH: the 00- drop-in must win over it.
        "PasswordAuthentication yes\n");
    writeFileSync(path.join(root, "etc/ssh/sshd_config.d/00-hardening.conf"), dropin);
    writeFileSync(path.join(root, "etc/ssh/sshd_config.d/50-cloud-init.conf"), "PasswordAuthentication yes\nMaxAuthTries 6\n");
    sh("install -d -m 0755 /run/sshd");
    return root;
}

describe("sshd hardening drop-in", () => {
    const dropin = renderSshDropin({ allowUsers });

    it("passes sshd -t", () => {
        const root = sshdRoot(dropin);
        const res = run("sshd", ["-t", "-f", path.join(root, "etc/ssh/sshd_config")]);
        expect(res.stderr).toBe("");
        expect(res.status).toBe(0);
    });

    it("is in effect per sshd -T, winning over cloud-init's 50- file", () => {
        const root = sshdRoot(dropin);
        const res = run("sshd", ["-T", "-f", path.join(root, "etc/ssh/sshd_config")]);
        expect(res.status).toBe(0);
        const eff = new Set(res.stdout.split("\n"));
        for (const line of [
            "permitrootlogin no", "passwordauthentication no", "kbdinteractiveauthentication no",
            "pubkeyauthentication yes", "authenticationmethods publickey", "maxauthtries 2", "logingracetime 30",
            "maxsessions 10", "maxstartups 10:30:60", "clientaliveinterval 300", "clientalivecountmax 2", "tcpkeepalive no",
            "disableforwarding yes", "x11forwarding no", "allowtcpforwarding no", "permituserenvironment no",
            "loglevel VERBOSE", "usedns no", "compression no",
            "allowusers deploy", "allowusers ubuntu", "allowusers alice",
            "kexalgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256",
        ]) expect(eff, line).toContain(line);
        expect([...eff].find((l) => l.startsWith("hostkeyalgorithms "))).not.toMatch(/ecdsa/);
        // What the layer's verify step checks is exactly what sshd reports.
        for (const line of sshdExpectations({ allowUsers })) expect(eff, line).toContain(line);
    });
});

describe("sudoers", () => {
    it("passes visudo -cf and grants no unrestricted root", () => {
        const dir = tempDir("sudoers");
        const file = path.join(dir, "demesne");
        const content = renderSudoers("deploy");
        writeFileSync(file, content, { mode: 0o440 });
        const res = run("visudo", ["-cf", file]);
        expect(res.status, res.stdout + res.stderr).toBe(0);
        for (const p of UNRESTRICTED_SUDO_PATTERNS) expect(content).not.toMatch(p);
    });

    it("would be refused by visudo if broken (the check can fail)", () => {
        const dir = tempDir("sudoers");
        const file = path.join(dir, "broken");
        writeFileSync(file, "deploy ALL=(root) NOPASSWD /usr/local/sbin/demesne-run\n");
        expect(run("visudo", ["-cf", file]).status).not.toBe(0);
    });
});

describe("UFW rules", () => {
    const args = { adminRanges: ["198.51.100.0/24", "2001:db8::/32"] };
    // In a fresh network namespace, so nothing can touch this machine's tables.
    const restoreTest = (tool: string, rules: string) => run("unshare", ["-n", tool, "--test"], rules);

    it.each([
        ["user.rules", renderUserRules(args)],
        ["after.rules block", renderDockerUserBlock(4)],
    ])("%s pass iptables-restore --test (nft and legacy)", (_name, rules) => {
        for (const tool of ["iptables-restore", "iptables-legacy-restore"]) {
            const res = restoreTest(tool, rules);
            expect(res.status, `${tool}: ${res.stderr}`).toBe(0);
        }
    });

    it.each([
        ["user6.rules", renderUser6Rules(args)],
        ["after6.rules block", renderDockerUserBlock(6)],
    ])("%s pass ip6tables-restore --test", (_name, rules) => {
        const res = run("unshare", ["-n", "ip6tables-legacy-restore", "--test"], rules);
        expect(res.status, res.stderr).toBe(0);
    });

    it("a broken rule is refused (the check can fail)", () => {
        expect(restoreTest("iptables-legacy-restore", "*filter\n-A ufw-missing-chain -j ACCEPT\nCOMMIT\n").status).not.toBe(0);
    });

    it("SSH is allowed from the admin ranges only, and defaults deny", () => {
        expect(renderUserRules(args)).toContain("-A ufw-user-input -p tcp --dport 22 -s 198.51.100.0/24 -j ACCEPT");
        expect(renderUserRules(args)).not.toContain("2001:db8::/32");
        expect(renderUser6Rules(args)).toContain("-A ufw6-user-input -p tcp --dport 22 -s 2001:db8::/32 -j ACCEPT");
        expect(renderUser6Rules(args)).not.toMatch(/^:ufw-/m);
        expect(renderUfwDefaults()).toContain('DEFAULT_INPUT_POLICY="DROP"');
        expect(renderUfwDefaults()).toContain('DEFAULT_FORWARD_POLICY="DROP"');
    });
});

describe("layer scripts", () => {
    it.each([...LAYER_SCRIPT_NAMES])("%s passes shellcheck", (name) => {
        const dir = tempDir("sc");
        const file = path.join(dir, `${name}.sh`);
        writeFileSync(file, layerScript(name).text);
        const res = run("shellcheck", ["-s", "bash", "-S", "info", file]);
        expect(res.stdout, res.stdout).toBe("");
        expect(res.status).toBe(0);
    });

    it("the runner passes shellcheck", () => {
        const file = path.join(tempDir("sc"), "runner.sh");
        writeFileSync(file, runnerScript().text);
        expect(run("shellcheck", ["-S", "info", file]).stdout).toBe("");
    });
});

describe("tailnet policy", () => {
    const policy = renderTailnetPolicy({
        admins: ["alice@example.org"],
        exposures: [{ port: 443, tier: "team", what: "chat" }, { port: 4000, tier: "team", what: "gateway" }, { port: 8443, tier: "admin", what: "coolify" }],
    });

    it("parses as JSON and as HuJSON", () => {
        const text = JSON.stringify(policy, null, 2);
        expect(JSON.parse(text)).toEqual(policy);
        const errors: unknown[] = [];
        expect(parseJsonc(text, errors as never)).toEqual(policy);
        expect(errors).toEqual([]);
    });

    it("asserts guest and agent reach nothing on the servers, and its tests pass", () => {
        expect(policy.tests).toContainEqual({ src: "tag:guest", deny: ["tag:aihost:22", "tag:aihost:443", "tag:aihost:4000", "tag:aihost:8443"] });
        expect(policy.tests).toContainEqual({ src: "tag:agent", deny: ["tag:aihost:22", "tag:aihost:443", "tag:aihost:4000", "tag:aihost:8443"] });
        expect(failingTailnetTests(policy)).toEqual([]);
        for (const g of policy.grants) expect(g.dst).not.toContain("*");
    });

    it("a grant that lets a guest in fails the policy's own tests", () => {
        const bad = { ...policy, grants: [...policy.grants, { src: ["tag:guest"], dst: ["tag:aihost"], ip: ["tcp:4000"] }] };
        expect(failingTailnetTests(bad)).toEqual(["tag:guest must not reach tag:aihost:4000 but a grant allows it"]);
    });
});
