import * as fs from "node:fs";
import * as path from "node:path";
import type { Store } from "../../state-model/db/store";
import { safeJson } from "../escape";
import { decideCommand } from "./decide";
import { runHook } from "./hook";
import { generateSettings } from "./settings";
import { formatTrail, readTrail } from "./trail";

/**
 * `node bin/demesne-guard.js hook|check|trail|settings`. Handlers return exit codes; only the bin exits.
 *   hook      the PreToolUse hook (JSON on stdin; 0 allow or ask, 2 block)
 *   check     the decision for a command line, nothing recorded (for people writing rules)
 *   trail     the agent's entries in the audit log [--run SESSION] [--last N] [--json]
 *   settings  the .claude/settings.json the rule tables yield
 */
export const ROOT = path.resolve(__dirname, "..", "..");
/** The hook waits this long for another process's hold on the embedded store, then blocks the call. */
export const HOOK_LOCK_WAIT_MS = 60_000;
const MAX_INPUT = 1 << 20;

export function packageScripts(root = ROOT): Record<string, string> {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts?: Record<string, string> };
    return pkg.scripts ?? {};
  } catch {
    return {};
  }
}

/**
 * The recorder the demesne CLI uses: DATABASE_URL, else the embedded store of this work tree. Loaded only
 * when needed: the store's modules cost more start-up than the decision itself (test/bench/guard.ts).
 */
async function withStore<T>(fn: (s: Store) => Promise<T>): Promise<T> {
  // require, not import(): bin/demesne-guard.js registers tsx for CommonJS only.
  const { openFleetStore } = require("../../state-model/db/open") as typeof import("../../state-model/db/open");
  const store = await openFleetStore({ stateDir: process.env.DEMESNE_STATE_DIR ?? path.join(ROOT, ".demesne"), lockTimeoutMs: HOOK_LOCK_WAIT_MS });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of process.stdin) {
    n += (c as Buffer).length;
    if (n > MAX_INPUT) throw new Error(`the hook's input is larger than ${MAX_INPUT} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

const write = (fd: NodeJS.WriteStream, s: string) => new Promise<void>((r) => (s ? fd.write(s, () => r()) : r()));

export async function main(argv: string[]): Promise<number> {
  const [sub = "hook", ...rest] = argv;
  if (sub === "hook") {
    const raw = await readStdin();
    const r = await runHook(raw, {
      root: ROOT,
      scripts: packageScripts(),
      fallbackCwd: process.cwd(),
      append: async (e) => {
        try {
          const { auditAppend } = require("../../state-model/audit") as typeof import("../../state-model/audit");
          return await withStore((s) => auditAppend(s, e));
        } catch (err) {
          process.stderr.write(`demesne-guard: the audit log could not be opened: ${(err as Error).message}\n`);
          return undefined;
        }
      },
    });
    await write(process.stdout, r.stdout);
    await write(process.stderr, r.stderr);
    return r.code;
  }
  if (sub === "check") {
    const json = rest.includes("--json");
    const cmd = rest.filter((a) => a !== "--json" && a !== "--").join(" ");
    const v = decideCommand(cmd, { root: ROOT, cwd: process.cwd(), scripts: packageScripts() });
    await write(process.stdout, json ? `${safeJson(v)}\n` : `${v.decision}${v.rule ? ` (${v.rule})` : ""}: ${v.reason}\n`);
    return v.decision === "allow" ? 0 : 1;
  }
  if (sub === "trail") {
    const at = (f: string) => (rest.includes(f) ? rest[rest.indexOf(f) + 1] : undefined);
    const last = at("--last") === undefined ? undefined : Number(at("--last"));
    if (last !== undefined && !(Number.isInteger(last) && last > 0)) {
      await write(process.stderr, "demesne-guard: --last takes a positive whole number\n");
      return 2;
    }
    const rows = await withStore((s) => readTrail(s, { run: at("--run"), last }));
    await write(process.stdout, rest.includes("--json") ? `${safeJson(rows)}\n` : formatTrail(rows));
    return 0;
  }
  if (sub === "settings") {
    await write(process.stdout, `${JSON.stringify(generateSettings(), null, 2)}\n`);
    return 0;
  }
  await write(process.stderr, "usage: demesne-guard hook | check [--json] COMMAND | trail [--run ID] [--last N] [--json] | settings\n");
  return 2;
}
