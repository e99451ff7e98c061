// Real programs the tests use; a missing one fails the test with what to install.
import { execFileSync, spawnSync, SpawnSyncReturns } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const PACKAGES: Record<string, string> = {
    sshd: "openssh-server", "ssh-keygen": "openssh-client", visudo: "sudo", "iptables-restore": "iptables",
    "iptables-legacy-restore": "iptables", shellcheck: "shellcheck", unshare: "util-linux",
    "ssh-audit": "ssh-audit",
};

/** The absolute path of a tool, or an error saying which Debian package provides it. */
export function requireTool(name: string): string {
    const found = spawnSync("sh", ["-c", `command -v ${name} || ls /usr/sbin/${name} /sbin/${name} 2>/dev/null | head -1`], { encoding: "utf8" });
    const p = found.stdout.trim().split("\n")[0];
    if (!p) throw new Error(`${name} is not installed: apt-get install ${PACKAGES[name] ?? name} (the .ci/run script does this)`);
    return p;
}

export function run(tool: string, args: string[], input?: string, env?: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
    return spawnSync(requireTool(tool), args, { input, encoding: "utf8", env: env ?? process.env });
}

export function tempDir(prefix: string): string {
    return mkdtempSync(path.join(tmpdir(), `demesne-${prefix}-`));
}

export function sh(cmd: string): string {
    return execFileSync("sh", ["-c", cmd], { encoding: "utf8" });
}
