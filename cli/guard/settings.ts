import { PROTECTED } from "./paths";
import { PATH_RULES, RULES } from "./rules";

/**
 * .claude/settings.json, generated from the rule and path tables (`npm run -s guard -- settings`), so
 * the permission layer and the hook never drift apart (test/guard/settings.test.ts). The allowlist is
 * generous: deny and ask always win over allow, and the hook runs on every call whatever the allowlist says.
 */
export const HOOK_COMMAND = 'node "$CLAUDE_PROJECT_DIR/bin/demesne-guard.js" hook';
/** Seconds; longer than the hook's own wait for the store's lock (HOOK_LOCK_WAIT_MS), so the hook answers first. */
export const HOOK_TIMEOUT_S = 120;
export const HOOK_MATCHER = "Bash|Read|Edit|Write|MultiEdit|NotebookEdit|Grep|Glob";

const ALLOW = [
  "Read", "Grep", "Glob",
  "Bash(npm test *)", "Bash(npm run test *)", "Bash(npm run guard-test *)", "Bash(npm run typecheck *)", "Bash(npm run steps *)",
  "Bash(npm run catalogue *)", "Bash(npx vitest *)", "Bash(npx tsc *)",
  "Bash(demesne plan *)", "Bash(npx demesne plan *)", "Bash(demesne drift *)", "Bash(demesne audit verify *)", "Bash(demesne audit anchor *)",
  "Bash(demesne --help *)", "Bash(pulumi preview *)", "Bash(pulumi stack ls *)", "Bash(pulumi about *)",
  "Bash(git status *)", "Bash(git diff *)", "Bash(git log *)", "Bash(git show *)", "Bash(git blame *)", "Bash(git ls-files *)",
  "Bash(ls *)", "Bash(cat *)", "Bash(head *)", "Bash(tail *)", "Bash(wc *)", "Bash(grep *)", "Bash(rg *)", "Bash(find *)",
  "Bash(node bin/demesne-guard.js check *)", "Bash(node bin/demesne-guard.js trail *)", "Bash(npm run -s guard -- check *)",
  "Bash(npm run -s guard -- trail *)",
];

export interface Settings {
  $schema: string;
  permissions: { allow: string[]; ask: string[]; deny: string[] };
  hooks: { PreToolUse: { matcher: string; hooks: { type: "command"; command: string; timeout: number }[] }[] };
}

export function generateSettings(): Settings {
  const deny = new Set<string>();
  const ask = new Set<string>();
  for (const r of RULES) for (const s of r.settings) (r.decision === "deny" ? deny : ask).add(s);
  for (const s of PATH_RULES.settings) deny.add(s);
  for (const p of PROTECTED) {
    for (const s of p.settings) {
      if (p.kind === "secret") deny.add(`Read(${s})`);
      deny.add(`Edit(${s})`);
    }
  }
  ask.add("Edit(./Pulumi.*.yaml)");
  return {
    $schema: "https://json.schemastore.org/claude-code-settings.json",
    permissions: { allow: ALLOW, ask: [...ask], deny: [...deny] },
    hooks: { PreToolUse: [{ matcher: HOOK_MATCHER, hooks: [{ type: "command", command: HOOK_COMMAND, timeout: HOOK_TIMEOUT_S }] }] },
  };
}
