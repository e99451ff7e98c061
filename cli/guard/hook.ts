import type { Anchor, AuditEntry } from "../../state-model/audit";
import { decide, type DecideContext, type Verdict } from "./decide";
import { redactCommand } from "./redact";

/**
 * The PreToolUse hook: a tool call as JSON on stdin → the decision → an audit entry in demesne's own hash
 * chain → the answer. Exit codes (Claude Code's): 0 lets the call through (with a JSON "ask" on stdout when
 * a person must confirm), 2 blocks it and stderr is the reason shown to the agent. It fails closed: input it
 * cannot read, a decision that throws, or an audit entry that could not be written all block (exit 2).
 */
export const ACTION = "agent command";
export const ACTOR = "agent";

export interface HookInput {
  tool_name?: unknown;
  tool_input?: unknown;
  session_id?: unknown;
  cwd?: unknown;
  hook_event_name?: unknown;
}

export interface HookResult {
  code: 0 | 2;
  stdout: string;
  stderr: string;
  verdict: Verdict;
  entry?: Anchor;
}

export interface HookDeps {
  root: string;
  home?: string;
  scripts: Record<string, string>;
  /** Appends to the audit chain; undefined when it could not (the call is then blocked). */
  append: (e: AuditEntry) => Promise<Anchor | undefined>;
  fallbackCwd: string;
}

const EDITS = new Set(["Edit", "Write", "MultiEdit", "NotebookEdit"]);
const str = (v: unknown, max = 512): string | undefined => (typeof v === "string" ? v.slice(0, max) : undefined);

/** Bash commands and edits are always recorded; reads only when refused (one store open per read would cost too much: adr/0017). */
export function shouldRecord(tool: string, v: Verdict): boolean {
  return tool === "Bash" || EDITS.has(tool) || v.decision !== "allow" || tool === "";
}

function readInput(raw: string): { input?: HookInput; error?: string } {
  try {
    const v = JSON.parse(raw) as unknown;
    if (!v || typeof v !== "object" || Array.isArray(v)) return { error: "the hook's input is not a JSON object" };
    return { input: v as HookInput };
  } catch {
    return { error: "the hook's input is not JSON" };
  }
}

export async function runHook(raw: string, deps: HookDeps): Promise<HookResult> {
  const { input, error } = readInput(raw);
  const tool = str(input?.tool_name, 64) ?? "";
  const toolInput = (input?.tool_input && typeof input.tool_input === "object" ? input.tool_input : {}) as Record<string, unknown>;
  const cwd = str(input?.cwd, 4096) ?? deps.fallbackCwd;
  let verdict: Verdict;
  if (error) verdict = { decision: "deny", rule: "unseen:bad-input", category: "unseen", reason: `refused: ${error}.` };
  else {
    try {
      const ctx: DecideContext = { root: deps.root, home: deps.home, cwd, scripts: deps.scripts };
      verdict = decide(tool, toolInput, ctx);
    } catch (e) {
      verdict = { decision: "deny", rule: "guard:crash", category: "unseen", reason: `refused: the guard failed while deciding (${(e as Error).message}).` };
    }
  }
  let entry: Anchor | undefined;
  if (shouldRecord(tool, verdict)) {
    const command = typeof toolInput.command === "string" ? redactCommand(toolInput.command) : undefined;
    const target = str(toolInput.file_path, 1024) ?? str(toolInput.notebook_path, 1024) ?? str(toolInput.path, 1024);
    entry = await deps.append({
      actor: ACTOR,
      action: ACTION,
      params: {
        run: str(input?.session_id, 128) ?? null,
        tool: tool || null,
        cwd,
        ...(command !== undefined ? { command } : {}),
        ...(target !== undefined ? { path: target } : {}),
        decision: verdict.decision,
        rule: verdict.rule ?? null,
        category: verdict.category ?? null,
      },
      output: verdict.reason,
    }).catch(() => undefined);
    if (!entry) {
      verdict = { decision: "deny", rule: verdict.rule ?? "guard:not-recorded", category: verdict.category ?? "unseen", reason: `refused: the command could not be recorded in the audit log, and nothing runs unrecorded. Was: ${verdict.reason}` };
    }
  }
  return answer(verdict, entry);
}

function answer(v: Verdict, entry?: Anchor): HookResult {
  const at = entry ? ` [audit entry ${entry.seq}]` : "";
  if (v.decision === "deny") return { code: 2, stdout: "", stderr: `demesne-guard: ${v.reason}${at}\n`, verdict: v, entry };
  if (v.decision === "ask") {
    const out = { hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: "ask", permissionDecisionReason: `demesne-guard: ${v.reason}${at}` } };
    return { code: 0, stdout: `${JSON.stringify(out)}\n`, stderr: "", verdict: v, entry };
  }
  return { code: 0, stdout: "", stderr: "", verdict: v, entry };
}
