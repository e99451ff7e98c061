import { safeGitKey } from "./git-config";
import { OPAQUE, type Word } from "./shell";

/**
 * Environment variables that make a later program run something else (a hook the guard never sees:
 * `GIT_SSH_COMMAND='pulumi destroy' git fetch`, `export BASH_ENV=x.sh; bash -c true`), and the commands
 * that print the whole environment. Kept apart from rules.ts, which only asks these questions.
 */
const EXEC_VARS = new RegExp("^(" + [
  "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXTERNAL_DIFF", "GIT_EDITOR", "GIT_PAGER", "GIT_ASKPASS", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE",
  "GIT_PROXY_COMMAND", "GIT_SEQUENCE_EDITOR", "GIT_CONFIG_PARAMETERS", "GIT_ALLOW_PROTOCOL", "GIT_PROTOCOL_FROM_USER",
  "GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_EXEC_PATH", "GIT_TEMPLATE_DIR", "GIT_DIR", "GIT_COMMON_DIR",
  "BASH_ENV", "ENV", "SHELL", "SHELLOPTS", "BASHOPTS", "PROMPT_COMMAND", "PS[0-4]", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
  "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH", "GCONV_PATH", "PAGER", "MANPAGER", "EDITOR", "VISUAL", "LESSOPEN", "LESSCLOSE",
  "BROWSER", "PYTHONSTARTUP", "PERL5OPT", "PERL5DB", "RUBYOPT", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "XDG_CONFIG_HOME", "HOME", "BASH_FUNC_.*",
].join("|") + ")$");
/** npm settings that are plainly not programs; every other `npm_config_*` is refused (script-shell, git, editor, userconfig…). */
const NPM_SAFE = /^(loglevel|fund|audit|update_notifier|progress|color|yes|ignore_scripts|cache|registry|prefer_offline|prefer_online|save_exact|omit|include|production|foreground_scripts)$/i;
/** NODE_OPTIONS flags that load no code (`--require`, `--import`, `--loader` do). */
const NODE_SAFE = /^--(max-old-space-size|max-semi-space-size|stack-size|enable-source-maps|no-warnings|trace-warnings|unhandled-rejections|experimental-vm-modules|no-deprecation|trace-deprecation|expose-gc|dns-result-order|openssl-legacy-provider|max-http-header-size|use-openssl-ca|trace-uncaught|no-experimental-fetch)(=[^\s]*)?$/;
const NAME_EQ = /^([A-Za-z_\0][A-Za-z0-9_\0]*)\+?=/;
/** Commands that set (or export) a variable from their arguments. */
const SETTERS = new Set(["env", "export", "declare", "typeset", "readonly", "local", "make", "gmake"]);

export interface Assign { name: string; value: Word }

/** Whether setting `name` to `value` hands a later program something to run. */
export function execVar(name: string, value: Word | undefined): boolean {
  // GIT_CONFIG_KEY_<n>/VALUE_<n>/COUNT are `git -c` by environment (.ci/run sets safe.directory so): the key decides.
  if (/^GIT_CONFIG_KEY_/.test(name)) return !value || !safeGitKey(value.text);
  if (/^GIT_CONFIG_(VALUE_.*|COUNT)$/.test(name)) return false;
  if (name.includes(OPAQUE)) return true; // a name the guard cannot see may be any of these
  if (EXEC_VARS.test(name)) return true;
  if (/^npm_config_/i.test(name)) return !NPM_SAFE.test(name.slice("npm_config_".length));
  if (name === "NODE_OPTIONS") return !value || value.opaque || !value.text.trim().split(/\s+/).every((t) => t === "" || NODE_SAFE.test(t));
  if (name === "PATH") {
    // Appending keeps every program where it was; a new value that does not start with the old PATH puts another first.
    if (!value) return true;
    return !(value.text.startsWith(OPAQUE) && value.vars[0] === "PATH");
  }
  return false;
}

/** The variables a command sets: its assignment prefix, `env X=…`, `export/declare/readonly X=…`, `make X=…`, `export X`, `printf -v X`, `read X`. */
export function assignedVars(name: string, args: Word[], assigns: Assign[] = []): { name: string; value?: Word }[] {
  const out: { name: string; value?: Word }[] = [...assigns];
  if (SETTERS.has(name)) {
    const nameref = name !== "env" && args.some((w) => /^-[a-zA-Z]*n/.test(w.text));
    for (const a of args) {
      // env takes any NAME=… (`BASH_FUNC_ls%%=() {…}` exports a function); the shell only proper names.
      const m = name === "env" ? /^([^=/]+)=/.exec(a.text) : NAME_EQ.exec(a.text);
      const v = { ...a, text: a.text.slice(a.text.indexOf("=") + 1) };
      // `declare -n r=BASH_ENV; r=x` sets the variable the reference names.
      if (m && nameref) out.push({ name: m[1]!, value: v }, { name: v.opaque ? OPAQUE : v.text });
      else if (m) out.push({ name: m[1]!, value: v });
      else if (a.opaque && !a.text.startsWith("-")) { out.push({ name: OPAQUE }); if (name === "env") break; }
      else if (name !== "env" && !name.endsWith("make") && /^[A-Za-z_][A-Za-z0-9_]*$/.test(a.text)) out.push({ name: a.text });
      else if (name === "env" && !a.text.startsWith("-")) break; // the command env runs
    }
  }
  if (name === "printf") {
    const k = args.findIndex((w) => w.text === "-v");
    if (k >= 0 && args[k + 1]) out.push({ name: args[k + 1]!.text });
  }
  if (name === "read" || name === "mapfile" || name === "readarray") for (const a of args) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(a.text)) out.push({ name: a.text });
  return out;
}

/** The first variable the command sets that runs a program later, if any. */
export function execVarSet(name: string, args: Word[], assigns: Assign[] = []): string | undefined {
  return assignedVars(name, args, assigns).find((a) => execVar(a.name, a.value))?.name;
}

/** Whether the command prints the whole environment (`env`, `env -0`, `env X=1`, `printenv -0`, `export -p`, `declare -x`, `ps e`). */
export function printsEnvironment(name: string, args: Word[]): boolean {
  if (name === "printenv") return args.every((w) => w.text.startsWith("-"));
  if (name === "env") {
    if (args.some((w) => /^(-i|--ignore-environment|-)$/.test(w.text))) return false;
    // Only options (`-0`, `-u X`) and assignments, no command: env prints the (changed) environment.
    if (args.some((w) => /^(-S|--split-string)/.test(w.text))) return false;
    for (let k = 0; k < args.length; k++) {
      const t = args[k]!.text;
      if (/^(-u|--unset|-C|--chdir)$/.test(t)) { k++; continue; }
      if (!t.startsWith("-") && !NAME_EQ.test(t)) return false;
    }
    return true;
  }
  // `declare -x`/`export -p` with no names list the exported variables with their values; `set` alone lists all.
  if (name === "set") return args.length === 0;
  if (["export", "declare", "typeset"].includes(name)) return args.every((w) => w.text.startsWith("-")) && (args.length === 0 || args.some((w) => /^-[a-zA-Z]*[px]/.test(w.text)));
  // BSD-style `ps e`/`ps auxe` (and `-E` of some builds) print each process's environment.
  if (name === "ps") return (args[0] !== undefined && /^[a-zA-Z]*e[a-zA-Z]*$/.test(args[0].text)) || args.some((w) => /^-[a-zA-Z]*E/.test(w.text));
  return false;
}

/** npm settings that name a program, given as a flag or written with `npm config set`: `--script-shell=x`, `npm set shell x`. */
const NPM_PROGRAM = /^(script-shell|shell|userconfig|globalconfig|git|editor|node-options|browser|viewer|init-module|onload-script|prefix|node-gyp|script_shell|node_options)$/i;
export function npmProgramSetting(name: string, args: Word[]): boolean {
  if (!["npm", "pnpm", "yarn", "npx"].includes(name)) return false;
  // npx's own options come before the package; what follows is the package's.
  const end = name === "npx" ? args.findIndex((w) => !w.text.startsWith("-")) : args.findIndex((w) => w.text === "--");
  const own = end < 0 ? args : args.slice(0, end);
  if (own.some((w) => w.text.startsWith("--") && NPM_PROGRAM.test(w.text.slice(2).split("=")[0]!))) return true;
  const pos = own.filter((w) => !w.text.startsWith("-")).map((w) => w.text.toLowerCase());
  const set = (pos[0] === "config" || pos[0] === "c") && pos[1] === "set" ? pos.slice(2) : pos[0] === "set" ? pos.slice(1) : undefined;
  // `npm config set key=value` or `npm config set key value`; any key not plainly harmless is refused.
  return set !== undefined && set.length > 0 && set.some((kv, k) => (k === 0 || kv.includes("=")) && !NPM_SAFE.test(kv.split("=")[0]!.replace(/-/g, "_")));
}
