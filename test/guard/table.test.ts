// The command table through the hook's decision function: every row's expected decision, a false-block
// rate of 0 on the allowed rows and a miss rate of 0 on the blocked ones (a row that fails names itself).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { decideCommand, decideFile } from "../../cli/guard/decide";
import { CTX } from "./context";
import { ALLOWED, ASKED, BLOCKED, type Row } from "./table";


const wrong = (rows: Row[]) =>
  rows.flatMap((r) => {
    const v = decideCommand(r.cmd, CTX);
    const bad = v.decision !== r.expect || (r.rule !== undefined && v.rule !== r.rule);
    return bad ? [`${JSON.stringify(r.cmd)}: expected ${r.expect}${r.rule ? ` (${r.rule})` : ""}, got ${v.decision}${v.rule ? ` (${v.rule})` : ""}`] : [];
  });

describe("the guard's command table", () => {
  it("holds at least 150 commands", () => {
    expect(BLOCKED.length + ASKED.length + ALLOWED.length).toBeGreaterThanOrEqual(150);
    expect(new Set([...BLOCKED, ...ASKED, ...ALLOWED].map((r) => r.cmd)).size).toBe(BLOCKED.length + ASKED.length + ALLOWED.length);
  });

  it("misses none of the blocked commands (miss rate 0)", () => {
    expect(wrong(BLOCKED)).toEqual([]);
  });

  it("blocks none of the allowed commands (false-block rate 0)", () => {
    expect(wrong(ALLOWED)).toEqual([]);
  });

  it("asks a person for apply, push and remote shells", () => {
    expect(wrong(ASKED)).toEqual([]);
  });

  it("reads a script a shell runs: outside the work tree its inputs are unseen, inside it only literal commands count", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-guard-script-"));
    try {
      fs.writeFileSync(path.join(dir, "wipe.sh"), 'rm -rf "$1"\n');
      fs.writeFileSync(path.join(dir, "fine.sh"), "echo ok\nnpm test\n");
      expect(decideCommand(`bash ${dir}/wipe.sh /`, CTX)).toMatchObject({ decision: "deny", rule: "unseen:guarded-arguments" });
      expect(decideCommand(`sh ${dir}/fine.sh`, CTX).decision).toBe("allow");
      expect(decideCommand("bash .ci/run", CTX).decision).toBe("allow");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never lets the Read tool open a process's environment or the MCP token", () => {
    for (const f of ["/proc/self/environ", "/proc/1/environ", "/proc/self/task/7/environ", "~/.config/demesne/mcp-token", "/home/agent/.config/demesne/config.json", "/xdg/demesne/mcp-token"]) {
      expect(decideFile("Read", { file_path: f }, CTX).decision, f).toBe("deny");
    }
    expect(decideFile("Read", { file_path: "/proc/self/cmdline" }, CTX).decision).toBe("allow");
    expect(decideFile("Edit", { file_path: "/home/agent/.gitconfig" }, CTX).decision).toBe("deny");
  });

  it("says what to do instead", () => {
    expect(decideCommand("pulumi up", CTX).reason).toContain("demesne plan");
    expect(decideCommand("pulumi up", CTX).reason).toContain("demesne apply");
    expect(decideCommand("bash -c 'pulumi destroy'", CTX).reason).toContain("through bash");
  });
});
