import { OPAQUE, type Word } from "./shell";

/**
 * git runs programs named in its config (core.pager, core.sshCommand, diff.external, alias.x=!…, hooks):
 * `git -c KEY=…` and `git config` writes are allowed only for keys that run nothing. Fail closed: a key not
 * on the list is refused, whatever its value, because the program it names runs later, unseen.
 */
const SAFE_KEYS = [
  /^user\.(name|email|signingkey)$/, /^color\./, /^core\.(quotepath|autocrlf|filemode|ignorecase|eol|safecrlf|abbrev|precomposeunicode|longpaths|untrackedcache|preloadindex)$/,
  /^safe\.directory$/, /^init\.defaultbranch$/, /^advice\./, /^(commit|tag)\.gpgsign$/, /^log\./, /^format\.(pretty|subjectprefix|numbered|signoff|coverletter|outputdirectory|thread|suffix)$/,
  /^push\.(default|autosetupremote|followtags)$/, /^pull\.(rebase|ff)$/, /^fetch\.(prune|prunetags|parallel)$/, /^rebase\.(autosquash|autostash|updaterefs|stat)$/,
  /^merge\.(ff|conflictstyle|stat|log)$/, /^diff\.(renames|algorithm|colormoved|noprefix|mnemonicprefix|context|statgraphwidth|indentheuristic|submodule)$/,
  /^status\./, /^branch\.(autosetupmerge|autosetuprebase|sort)$/, /^rerere\.(enabled|autoupdate)$/, /^column\./, /^grep\.(linenumber|extendedregexp|patterntype)$/,
  /^protocol\.version$/, /^gc\.auto$/, /^checkout\.defaultremote$/, /^blame\.(date|coloring)$/, /^help\.format$/, /^i18n\./, /^tag\.sort$/, /^versionsort\./,
];

/** A config key is compared with its section and name lower-cased (git's own rule); a subsection keeps its case but is not listed. */
export function safeGitKey(key: string): boolean {
  if (key.includes(OPAQUE)) return false;
  return SAFE_KEYS.some((re) => re.test(key.toLowerCase()));
}

const GLOBAL_VALUED = /^(-C|--git-dir|--work-tree|--namespace|--super-prefix)$/;
/** `git config` options that take a value (the value is not the key). */
const CONFIG_VALUED = /^(-f|--file|--blob|--type|--default|--comment|--value|--url)$/;
const CONFIG_READS = /^(--get|--get-all|--get-regexp|--get-urlmatch|--get-color|--get-colorbool|-l|--list|--unset|--unset-all|--remove-section|--show-origin|--show-scope|--name-only)$/;

/** The git config key this command line sets or runs through, when that key is not known to be harmless. */
export function unsafeGitConfig(args: Word[]): string | undefined {
  let k = 0;
  for (; k < args.length; k++) {
    const t = args[k]!.text;
    if (t === "-c") { const kv = args[k + 1]?.text ?? OPAQUE; k++; const key = kv.split("=")[0]!; if (!safeGitKey(key)) return key; continue; }
    if (t.startsWith("--config-env")) { const kv = t.includes("=") ? t.slice(t.indexOf("=") + 1) : args[++k]?.text ?? OPAQUE; const key = kv.split("=")[0]!; if (!safeGitKey(key)) return key; continue; }
    // A different exec path swaps every git sub-program (`git-upload-pack`, `git-remote-https`).
    if (t.startsWith("--exec-path=") || (t === "--exec-path" && args[k + 1] && !args[k + 1]!.text.startsWith("-"))) return "--exec-path";
    if (GLOBAL_VALUED.test(t)) { k++; continue; }
    if (!t.startsWith("-")) break;
  }
  const sub = args[k]?.text.toLowerCase();
  const rest = args.slice(k + 1);
  // `git clone -c KEY=…` sets the new repository's config; `--template` copies its hooks from elsewhere.
  if (sub === "clone" || sub === "init") {
    for (let j = 0; j < rest.length; j++) {
      const t = rest[j]!.text;
      if (t.startsWith("--template")) return "--template";
      if (t === "-c" || t === "--config" || t.startsWith("--config=")) { const kv = t.includes("=") ? t.slice(t.indexOf("=") + 1) : rest[++j]?.text ?? OPAQUE; const key = kv.split("=")[0]!; if (!safeGitKey(key)) return key; }
    }
  }
  if (sub !== "config") return undefined;
  const pos: string[] = [];
  let read = false;
  for (let j = 0; j < rest.length; j++) {
    const t = rest[j]!.text;
    if (t === "-e" || t === "--edit") return "--edit (runs the editor on the config)";
    if (t === "--rename-section") return "--rename-section";
    if (CONFIG_READS.test(t) || /^--(get|list)/.test(t)) { read = true; continue; }
    if (CONFIG_VALUED.test(t)) { j++; continue; }
    if (t.startsWith("-")) continue;
    pos.push(rest[j]!.opaque ? OPAQUE : t);
  }
  if (read) return undefined;
  // git 2.46's verbs: `git config get|list|unset|remove-section` read or remove; `set KEY VALUE` writes.
  const verb = pos[0]?.toLowerCase();
  if (verb === "get" || verb === "list" || verb === "unset" || verb === "remove-section") return undefined;
  if (verb === "edit" || verb === "rename-section") return verb;
  const [key, value] = verb === "set" ? pos.slice(1) : pos;
  if (key === undefined || value === undefined) return undefined; // `git config KEY`: a read
  return safeGitKey(key) ? undefined : key;
}
