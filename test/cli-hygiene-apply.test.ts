// An approver's name is input: `demesne approve` and `demesne apply` show it escaped, so a name carrying a
// carriage return, terminal escapes or a bidi override cannot rewrite what the operator reads on either side.
// A saved plan given to drift is engine output, read as the recorder reads it.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { planWorkspace } from "./helpers/plans";

/** What a terminal acts on, but the line breaks of the output itself. */
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const HOSTILE = "mallory\r\u001b[2K\u001b]0;owned\u0007alice\u202e\u009b31m";
const SHOWN = "mallory\\r\\e[2K\\e]0;owned\\x07alice\\u202e\\x9b31m";

describe("approve and apply show the approver escaped", { timeout: 600_000 }, () => {
  it("the approval line and the apply's progress carry no control character from the actor's name", () => {
    const ws = planWorkspace();
    const p = ws.planned("ops", ws.planFor("ops", { baseline: "update" }));
    const a = ws.cli("approve", p.plan, "--stack", "ops", "--actor", HOSTILE);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).not.toMatch(CONTROL_BUT_NEWLINE);
    expect(a.stdout).toContain(`approved by ${SHOWN}: highest tier T2`);
    const r = ws.cliEngine("apply", p.plan, "--stack", "ops");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(CONTROL_BUT_NEWLINE);
    expect(r.stderr).toContain(`approved by ${SHOWN}`);
    expect(r.stdout).not.toMatch(CONTROL_BUT_NEWLINE);
  });

  it("drift --against plan:FILE refuses a FIFO by its path instead of waiting on it", () => {
    const ws = planWorkspace();
    const fifo = path.join(ws.work, "plan.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const r = ws.cli("drift", "--stack", "ops", "--against", `plan:${fifo}`);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--against plan:.*plan\.fifo: .*plan\.fifo is a FIFO/);
  });
});
