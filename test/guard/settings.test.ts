// .claude/settings.json is what the rule tables yield (one home for the rules), in Claude Code's format, and
// its hook is the guard this repository ships.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROTECTED } from "../../cli/guard/paths";
import { RULES } from "../../cli/guard/rules";
import { generateSettings, HOOK_COMMAND } from "../../cli/guard/settings";
import { ROOT } from "./context";

const FILE = path.join(ROOT, ".claude", "settings.json");
const settings = JSON.parse(fs.readFileSync(FILE, "utf8")) as ReturnType<typeof generateSettings>;
const RULE = /^(Bash|Read|Edit|Grep|Glob)(\([^()]+\))?$/;

describe(".claude/settings.json", () => {
  it("is the one the rule tables generate (npm run -s guard -- settings > .claude/settings.json)", () => {
    expect(settings).toEqual(generateSettings());
  });

  it("writes every permission as Tool or Tool(specifier), with no rule both allowed and denied", () => {
    const { allow, ask, deny } = settings.permissions;
    for (const r of [...allow, ...ask, ...deny]) expect(r, r).toMatch(RULE);
    expect(allow.filter((r) => deny.includes(r) || ask.includes(r))).toEqual([]);
  });

  it("denies reading every secret path and editing every protected one", () => {
    for (const p of PROTECTED) {
      for (const s of p.settings) {
        if (p.kind === "secret") expect(settings.permissions.deny, p.id).toContain(`Read(${s})`);
        expect(settings.permissions.deny, p.id).toContain(`Edit(${s})`);
      }
    }
    expect(settings.permissions.deny).toEqual(expect.arrayContaining(["Bash(pulumi destroy *)", "Bash(pulumi up *)", "Bash(pulumi stack rm *)", "Bash(pulumi * --show-secrets*)"]));
    expect(settings.permissions.ask).toEqual(expect.arrayContaining(["Bash(demesne apply *)", "Bash(git push *)"]));
  });

  it("runs the guard on Bash, Read, Edit and Write calls, through an entry that exists", () => {
    const pre = settings.hooks.PreToolUse;
    expect(pre).toHaveLength(1);
    expect(pre[0]!.matcher.split("|")).toEqual(expect.arrayContaining(["Bash", "Read", "Edit", "Write"]));
    expect(pre[0]!.hooks).toEqual([{ type: "command", command: HOOK_COMMAND, timeout: expect.any(Number) }]);
    expect(fs.existsSync(path.join(ROOT, "bin", "demesne-guard.js"))).toBe(true);
  });

  it("every rule has a unique id, says what to do instead, and deny rules have a settings pattern unless only the hook can see them", () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of RULES) {
      expect(r.instead.length, r.id).toBeGreaterThan(10);
      if (!r.id.startsWith("unseen:") && !r.id.startsWith("secret:environment")) expect(r.settings.length, r.id).toBeGreaterThan(0);
    }
  });
});
