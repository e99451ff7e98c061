// The ssh layer run for real (bash, real sshd -t/-T) against a scratch root: check → change →
// verify, changed=false on a re-run, restore on a failed verify, and the dead-man restore.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { encodeParams } from "../components/actuator/wire";
import { layerScript } from "../components/host/scripts";
import { renderSshDropin, sshdExpectations } from "../components/render/sshd";
import { requireTool, sh, tempDir } from "./helpers/tools";

const allowUsers = ["deploy", "alice"];
const DROPIN = "etc/ssh/sshd_config.d/00-hardening.conf";
const PREVIOUS = "# the host's previous drop-in\nMaxAuthTries 4\n";
const REVOKED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRevokedRevokedRevokedRevokedRevoked\n";
const REVOKED_FILE = "etc/ssh/revoked_keys";

function scratchHost(previous?: string): string {
    requireTool("sshd");
    const root = tempDir("host");
    mkdirSync(path.join(root, "etc/ssh/sshd_config.d"), { recursive: true });
    sh(`ssh-keygen -q -t ed25519 -N '' -f ${root}/etc/ssh/ssh_host_ed25519_key`);
    writeFileSync(path.join(root, "etc/ssh/sshd_config"),
        `Include ${root}/etc/ssh/sshd_config.d/*.conf\nHostKey ${root}/etc/ssh/ssh_host_ed25519_key\n`);
    writeFileSync(path.join(root, "etc/ssh/moduli"),
        "# header\n20240101000000 2 6 100 2047 2 FFFF\n20240101000000 2 6 100 3071 2 EEEE\n20240101000000 2 6 100 4095 5 DDDD\n");
    if (previous !== undefined) writeFileSync(path.join(root, DROPIN), previous, { mode: 0o600 });
    return root;
}

function runLayer(root: string, script: string, params: Record<string, string>) {
    const file = path.join(tempDir("script"), "layer.sh");
    writeFileSync(file, script);
    const res = spawnSync("bash", [file], {
        input: encodeParams(params), encoding: "utf8", env: { ...process.env, DEMESNE_ROOT: root },
    });
    const last = res.stdout.trim().split("\n").pop();
    return { status: res.status, stdout: res.stdout, stderr: res.stderr, changed: last };
}

const sshParams = (seconds = 120) => ({
    DROPIN: renderSshDropin({ allowUsers }),
    EXPECT: `${sshdExpectations({ allowUsers }).join("\n")}\n`,
    REVOKED_KEYS: REVOKED,
    DEADMAN_SECONDS: String(seconds),
});

const confirm = (root: string) => runLayer(root, layerScript("confirm").text, { TARGET_LAYER: "ssh" });
const pidFile = (root: string) => path.join(root, "var/lib/demesne/deadman/ssh.pid");

describe("ssh layer on a scratch root", () => {
    it("changes once, then reports changed=false; the confirm step cancels the dead-man", () => {
        const root = scratchHost(PREVIOUS);
        const first = runLayer(root, layerScript("ssh").text, sshParams());
        expect(first.status, first.stderr).toBe(0);
        expect(first.changed).toBe("changed=true");
        expect(readFileSync(path.join(root, DROPIN), "utf8")).toBe(renderSshDropin({ allowUsers }));
        expect(statSync(path.join(root, DROPIN)).mode & 0o777).toBe(0o600);
        expect(readFileSync(path.join(root, "etc/ssh/moduli"), "utf8")).not.toContain(" 2047 ");
        expect(existsSync(pidFile(root))).toBe(true);

        const confirmed = confirm(root);
        expect(confirmed.status, confirmed.stderr).toBe(0);
        expect(confirmed.changed).toBe("changed=true");
        expect(existsSync(pidFile(root))).toBe(false);
        expect(confirm(root).changed).toBe("changed=false");

        const second = runLayer(root, layerScript("ssh").text, sshParams());
        expect(second.status, second.stderr).toBe(0);
        expect(second.changed).toBe("changed=false");
        expect(existsSync(pidFile(root))).toBe(false);
    });

    it("a failing verify exits non-zero and restores the previous file", () => {
        const root = scratchHost(PREVIOUS);
        const sabotaged = layerScript("ssh").text.replace(
            '    sshd -t -f "$CONFIG" || return 1\n    effective=',
            '    return 1 # sabotaged\n    effective=');
        expect(sabotaged).not.toBe(layerScript("ssh").text);
        const res = runLayer(root, sabotaged, sshParams());
        expect(res.status).not.toBe(0);
        expect(res.changed).toBe("changed=false");
        expect(res.stderr).toContain("restoring the previous configuration");
        expect(readFileSync(path.join(root, DROPIN), "utf8")).toBe(PREVIOUS);
        expect(existsSync(pidFile(root))).toBe(false);
    });

    it("a drop-in sshd rejects is never left in place", () => {
        const root = scratchHost(PREVIOUS);
        const res = runLayer(root, layerScript("ssh").text, { ...sshParams(), DROPIN: "NoSuchOption yes\n" });
        expect(res.status).not.toBe(0);
        expect(readFileSync(path.join(root, DROPIN), "utf8")).toBe(PREVIOUS);
    });

    it("without a confirming login, the dead-man restores the previous config by itself", async () => {
        const root = scratchHost(PREVIOUS);
        // A dead-man of a few seconds: the layer itself must finish before it fires, even on a loaded machine.
        const res = runLayer(root, layerScript("ssh").text, sshParams(4));
        expect(res.status, res.stderr).toBe(0);
        expect(readFileSync(path.join(root, DROPIN), "utf8")).not.toBe(PREVIOUS);
        const deadline = Date.now() + 20_000;
        // The restore writes the file back, then removes its pid file: wait for both.
        while (Date.now() < deadline && (readFileSync(path.join(root, DROPIN), "utf8") !== PREVIOUS || existsSync(pidFile(root)))) {
            await new Promise((r) => setTimeout(r, 200));
        }
        expect(readFileSync(path.join(root, DROPIN), "utf8")).toBe(PREVIOUS);
        expect(existsSync(pidFile(root))).toBe(false);
    });

    it("writes the revoked keys file before the drop-in that names it, and puts it back when it goes missing", () => {
        const root = scratchHost(PREVIOUS);
        const first = runLayer(root, layerScript("ssh").text, sshParams());
        expect(first.status, first.stderr).toBe(0);
        expect(readFileSync(path.join(root, REVOKED_FILE), "utf8")).toBe(REVOKED);
        expect(statSync(path.join(root, REVOKED_FILE)).mode & 0o777).toBe(0o644);
        const wrote = first.stderr.split("\n").filter((l) => l.includes("wrote "));
        expect(wrote.findIndex((l) => l.includes("revoked_keys"))).toBeLessThan(wrote.findIndex((l) => l.includes("00-hardening.conf")));
        expect(confirm(root).status).toBe(0);
        // sshd refuses every key while the file is missing: a re-run writes it again and says so.
        rmSync(path.join(root, REVOKED_FILE));
        const again = runLayer(root, layerScript("ssh").text, sshParams());
        expect(again.status, again.stderr).toBe(0);
        expect(again.changed).toBe("changed=true");
        expect(readFileSync(path.join(root, REVOKED_FILE), "utf8")).toBe(REVOKED);
        expect(confirm(root).status).toBe(0);
    });

    it("refuses a parameter it does not know", () => {
        const root = scratchHost();
        const res = runLayer(root, layerScript("ssh").text, { ...sshParams(), EXTRA: "x" });
        expect(res.status).not.toBe(0);
        expect(res.stderr).toContain("[ssh] error: unknown parameter: EXTRA");
    });
});
