// The README's first two commands, read from README.md itself, run in fresh clones of this repository: as
// root with no sudo on PATH (a fresh machine of ours) and as a new user with sudo. Both must exit 0. The
// second command is .ci/run, which runs `npm test`; this suite is `npm run test:readme`, which .ci/run runs
// after `npm test`, and the nested runs are told not to start it again (adr/0015).
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { freshClone, LineRun, nestedEnv, readmeCommands, ROOT, runLines, tail, withoutProgram } from "./commands";

/** The commands as the clone's own README.md writes them (the clone is what runs them). */
const commandsOf = (tree: string) => readmeCommands(readFileSync(path.join(tree, "README.md"), "utf8"));
const isRoot = process.getuid?.() === 0;
// In CI (root, a fresh machine) every case must run; elsewhere a case that cannot is reported as skipped.
// A case is a whole .ci/run with warm caches (minutes); its lines are stopped after this, the test a little later.
const CASE_MS = 40 * 60_000;
const has = (program: string) => spawnSync("sh", ["-c", `command -v ${program}`]).status === 0;

/** A scratch directory others may enter (a test user, PostgreSQL's user), removed afterwards. */
function scratch(): string {
    const dir = mkdtempSync(path.join(tmpdir(), "demesne-readme-"));
    chmodSync(dir, 0o755);
    return dir;
}

/** Keeps a case's whole log beside the vitest report (.vitest/ is not committed) and says how long each line took. */
function report(name: string, log: string, runs: LineRun[]): string {
    mkdirSync(path.join(ROOT, ".vitest"), { recursive: true });
    copyFileSync(log, path.join(ROOT, ".vitest", `readme-${name}.log`));
    const summary = runs.map((r) => `\`${r.line.replace(/\s+#.*$/, "")}\` ${r.status === null ? "stopped by a signal (time limit?)" : `exit ${r.status}`} in ${r.seconds}s`).join("; ");
    console.log(`README commands, ${name}: ${summary}`);
    return `${summary}\nlast lines of .vitest/readme-${name}.log:\n${tail(log)}`;
}

function expectAllPassed(commands: string[], runs: LineRun[], message: string): void {
    expect(runs.map((r) => [r.line, r.status]), message).toEqual(commands.map((line) => [line, 0]));
}

describe("the README's two commands, as written, in a fresh clone", () => {
    it("are the two lines of README.md's first code block, the second running .ci/run", () => {
        const commands = commandsOf(ROOT);
        expect(commands).toHaveLength(2);
        expect(commands[1]).toMatch(/\.ci\/run/);
    });

    const canHide = isRoot && has("unshare");
    it("exit 0 as root on a machine without sudo", { timeout: CASE_MS + 120_000 }, async () => {
        expect(canHide, "needs root and unshare (CI is root)").toBe(true);
        const dir = scratch();
        try {
            const env = nestedEnv({});
            const hidden = withoutProgram("sudo", dir);
            const probe = (cmd: string) => spawnSync(hidden[0], [...hidden.slice(1), "bash", "-c", cmd], { env }).status;
            expect(probe("command -v sudo || test -e /usr/bin/sudo"), "sudo is not installed there").not.toBe(0);
            expect(probe("command -v node && command -v git && command -v visudo"), "the rest is").toBe(0);
            const clone = freshClone(path.join(dir, "demesne"));
            const commands = commandsOf(clone);
            const log = path.join(dir, "run.log");
            const runs = await runLines(commands, { cwd: clone, env, log, timeoutMs: CASE_MS, argv: hidden });
            const message = report("root-without-sudo", log, runs);
            expectAllPassed(commands, runs, message);
            expect(readFileSync(log, "utf8"), "the nested run did not start this suite again").toContain("this run is one of them");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    const canAddUser = isRoot && ["useradd", "userdel", "sudo", "visudo", "setpriv"].every(has);
    it("exit 0 as a normal user with sudo, and leave the clone the user's", { timeout: CASE_MS + 120_000 }, async () => {
        expect(canAddUser, "needs root and useradd, userdel, sudo, visudo, setpriv").toBe(true);
        const user = `demesne-readme-${process.pid}`;
        const sudoers = `/etc/sudoers.d/${user}`;
        const dir = scratch();
        try {
            execFileSync("useradd", ["--create-home", "--shell", "/bin/bash", user]);
            writeFileSync(sudoers, `${user} ALL=(ALL:ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
            execFileSync("visudo", ["-cf", sudoers]);
            const [uid, gid, home] = (() => {
                const f = execFileSync("getent", ["passwd", user], { encoding: "utf8" }).trim().split(":");
                return [Number(f[2]), Number(f[3]), f[5]];
            })();
            const clone = freshClone(path.join(dir, "demesne"));
            execFileSync("chown", ["-R", `${uid}:${gid}`, clone]);
            const log = path.join(dir, "run.log");
            writeFileSync(log, "");
            chownSync(log, uid, gid);
            const commands = commandsOf(clone);
            const runs = await runLines(commands, {
                cwd: clone,
                env: nestedEnv({ HOME: home, USER: user, LOGNAME: user }),
                log,
                timeoutMs: CASE_MS,
                argv: ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--"],
            });
            const message = report("user-with-sudo", log, runs);
            expectAllPassed(commands, runs, message);
            const text = readFileSync(log, "utf8");
            expect(text, "the script raised its own privileges").toContain("running it again through sudo");
            expect(text, "the nested run did not start this suite again").toContain("this run is one of them");
            const notTheUsers = execFileSync("find", [clone, "-xdev", "!", "-uid", String(uid)], { encoding: "utf8" });
            expect(notTheUsers.split("\n").filter(Boolean).slice(0, 10), "files in the clone root left behind").toEqual([]);
        } finally {
            rmSync(sudoers, { force: true });
            spawnSync("userdel", ["--force", "--remove", user]);
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
