import * as os from "node:os";
import * as path from "node:path";

/**
 * The protected paths, one table: `secret` paths are never read by an agent (the store holds personal data
 * and the audit chain; keys and passphrases unlock the stack), `tamper` paths are the guardrails themselves
 * and are read freely but never changed by an agent. `settings` are the permission rules the table yields
 * for .claude/settings.json (test/guard/settings.test.ts keeps the file in step).
 */
export type PathKind = "secret" | "tamper";

export interface ProtectedPath {
  id: string;
  kind: PathKind;
  what: string;
  /** Relative to the work tree (`dir/` for a directory), `~/…` for the home directory, or a base name pattern. */
  match: { under?: string; home?: string; base?: RegExp; abs?: RegExp };
  /** Claude Code permission patterns (Read/Edit rules are built from them). */
  settings: string[];
}

export const PROTECTED: readonly ProtectedPath[] = [
  { id: "secret:state", kind: "secret", what: "the embedded store (facts, personal data, the audit chain) and saved plans", match: { under: ".demesne/" }, settings: ["./.demesne/**"] },
  { id: "secret:env-file", kind: "secret", what: "an env file", match: { base: /^\.env(\.(?!example$|sample$|template$)[^/]*)?$/i }, settings: ["**/.env", "**/.env.*"] },
  { id: "secret:ssh-key", kind: "secret", what: "an SSH private key (also the approval signing key)", match: { base: /^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$/i }, settings: ["**/id_rsa", "**/id_ecdsa", "**/id_ed25519", "**/id_ed25519_sk"] },
  { id: "secret:ssh-dir", kind: "secret", what: "the SSH directory", match: { home: ".ssh/" }, settings: ["~/.ssh/**"] },
  { id: "secret:key-file", kind: "secret", what: "a private key or certificate bundle", match: { base: /\.(pem|key|p12|pfx)$/i }, settings: ["**/*.pem", "**/*.key", "**/*.p12", "**/*.pfx"] },
  { id: "secret:passphrase", kind: "secret", what: "the stack's passphrase file", match: { base: /passphrase/i }, settings: ["**/*passphrase*"] },
  { id: "secret:signing-key", kind: "secret", what: "an approval signing key", match: { base: /sign(ing)?[-_.]?key/i }, settings: ["**/*signing-key*", "**/*sign-key*"] },
  { id: "secret:pulumi-credentials", kind: "secret", what: "the Pulumi access token", match: { home: ".pulumi/credentials.json" }, settings: ["~/.pulumi/credentials.json"] },
  { id: "secret:cloud-credentials", kind: "secret", what: "cloud and registry credentials", match: { base: /^(\.netrc|credentials|\.pgpass|hosts\.yml)$/i }, settings: ["~/.netrc", "~/.pgpass", "~/.aws/**", "~/.config/gh/**"] },
  { id: "secret:process-environment", kind: "secret", what: "a process's environment (the credentials it inherited)", match: { abs: /\/proc\/[^/]+(\/task\/[^/]+)?\/environ$/ }, settings: ["//proc/*/environ", "//proc/*/task/*/environ"] },
  // The MCP bearer token lives where the README tells operators to keep it; any file so named counts ($XDG_CONFIG_HOME elsewhere).
  { id: "secret:demesne-config", kind: "secret", what: "demesne's operator config (the MCP bearer token)", match: { home: ".config/demesne/" }, settings: ["~/.config/demesne/**"] },
  { id: "secret:mcp-token", kind: "secret", what: "the MCP bearer token", match: { base: /^mcp-token/i }, settings: ["**/mcp-token*"] },
  { id: "secret:npm-credentials", kind: "secret", what: "npm's user config (registry tokens, script-shell)", match: { home: ".npmrc" }, settings: ["~/.npmrc"] },
  { id: "secret:database-dump", kind: "secret", what: "a dump of the recorder (personal data)", match: { base: /\.(dump|pgdump)$/i }, settings: ["**/*.dump"] },
  { id: "tamper:agent-settings", kind: "tamper", what: "the agent settings and hooks", match: { under: ".claude/" }, settings: ["./.claude/**"] },
  { id: "tamper:guard", kind: "tamper", what: "the guard hook", match: { under: "cli/guard/" }, settings: ["./cli/guard/**"] },
  { id: "tamper:guard-bin", kind: "tamper", what: "the guard hook's entry", match: { under: "bin/demesne-guard.js" }, settings: ["./bin/demesne-guard.js"] },
  { id: "tamper:guard-tests", kind: "tamper", what: "the guard's tests", match: { under: "test/guard/" }, settings: ["./test/guard/**"] },
  { id: "tamper:policy-pack", kind: "tamper", what: "the policy pack", match: { under: "policy-pack/" }, settings: ["./policy-pack/**"] },
  { id: "tamper:ci", kind: "tamper", what: "CI", match: { under: ".ci/" }, settings: ["./.ci/**", "./.github/**"] },
  { id: "tamper:ci-workflows", kind: "tamper", what: "CI workflows", match: { under: ".github/" }, settings: [] },
  { id: "tamper:git", kind: "tamper", what: "the repository's history", match: { under: ".git/" }, settings: ["./.git/**"] },
  // Config files that name programs later commands run (core.pager, script-shell) and the profiles a shell reads at start.
  { id: "tamper:git-config-file", kind: "tamper", what: "git's user config (it names programs git runs)", match: { home: ".gitconfig" }, settings: ["~/.gitconfig", "~/.config/git/**"] },
  { id: "tamper:git-config-dir", kind: "tamper", what: "git's user config (it names programs git runs)", match: { home: ".config/git/" }, settings: [] },
  { id: "tamper:npmrc", kind: "tamper", what: "an npm config (its script-shell runs every script)", match: { base: /^\.(npmrc|yarnrc(\.yml)?)$/ }, settings: ["**/.npmrc", "**/.yarnrc", "**/.yarnrc.yml"] },
  { id: "tamper:shell-profile", kind: "tamper", what: "a shell profile (the agent's next shell runs it)", match: { home: "", base: /^\.(bashrc|bash_profile|bash_login|profile|zshrc|zshenv|zprofile|bash_logout)$/ }, settings: ["~/.bashrc", "~/.bash_profile", "~/.profile", "~/.zshrc", "~/.zshenv"] },
];

export interface PathContext {
  /** The work tree's root (absolute). */
  root: string;
  home?: string;
}

/** Resolves a word as the shell would open it: `~` is home, relative is under `cwd`. */
export function resolveWord(text: string, cwd: string, home = os.homedir()): string {
  const t = text === "~" || text.startsWith("~/") ? home + text.slice(1) : text;
  return path.resolve(cwd, t);
}

/** The protected entry an absolute path falls in, if any. */
export function protectedAt(abs: string, ctx: PathContext): ProtectedPath | undefined {
  const home = ctx.home ?? os.homedir();
  const rel = path.relative(ctx.root, abs);
  const inTree = rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
  const relHome = path.relative(home, abs);
  const inHome = !relHome.startsWith("..") && !path.isAbsolute(relHome);
  const base = path.basename(abs);
  for (const p of PROTECTED) {
    const m = p.match;
    if (m.under && inTree && under(rel, m.under)) return p;
    if (m.home && inHome && under(relHome, m.home)) return p;
    if (m.abs && m.abs.test(abs)) return p;
    if (m.home === "" && m.base) { if (inHome && m.base.test(base) && path.dirname(abs) === home) return p; continue; }
    if (m.base && m.base.test(base) && !base.endsWith(".pub")) return p;
  }
  // By name anywhere (`/proc/self/cwd/.demesne/…`, another checkout's store): lexical resolution cannot see links.
  const parts = abs.split(path.sep);
  if (parts.includes(".ssh") && !base.endsWith(".pub")) return PROTECTED.find((p) => p.id === "secret:ssh-dir");
  if (parts.includes(".demesne")) return PROTECTED.find((p) => p.id === "secret:state");
  return undefined;
}

/** The protected entries at or below an absolute directory (deleting or moving it takes them along). */
export function protectedBelow(abs: string, ctx: PathContext): ProtectedPath[] {
  const home = ctx.home ?? os.homedir();
  const found: ProtectedPath[] = [];
  for (const p of PROTECTED) {
    const at = p.match.under ? path.join(ctx.root, p.match.under) : p.match.home ? path.join(home, p.match.home) : undefined;
    if (!at) continue;
    const rel = path.relative(abs, at);
    if (rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))) found.push(p);
  }
  return found;
}

function under(rel: string, prefix: string): boolean {
  const norm = rel.split(path.sep).join("/");
  if (!prefix.endsWith("/")) return norm === prefix;
  return norm === prefix.slice(0, -1) || norm.startsWith(prefix);
}

/** A glob as a regular expression over absolute paths (`*` stays within one directory, `**` does not; neither matches a leading dot). */
export function globRegex(absGlob: string): RegExp {
  let re = "";
  for (let k = 0; k < absGlob.length; k++) {
    const c = absGlob[k]!;
    // `**` crosses directories, but like `*` never into a dot-directory (the shell's globstar without dotglob).
    if (c === "*" && absGlob[k + 1] === "*" && absGlob[k + 2] === "/") { re += "(?:(?!\\.)[^/]*/)*"; k += 2; }
    else if (c === "*" && absGlob[k + 1] === "*") { re += "(?:(?!\\.)[^/]*/?)*"; k++; }
    else if (c === "*") re += `${k === 0 || absGlob[k - 1] === "/" ? "(?!\\.)" : ""}[^/]*`; // a leading dot is never matched
    else if (c === "?") re += `${k === 0 || absGlob[k - 1] === "/" ? "(?!\\.)" : ""}[^/]`;
    else if (c === "[") { const end = absGlob.indexOf("]", k); re += end > k ? "[^/]" : "\\["; if (end > k) k = end; }
    else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** The glob's prefixes from its first glob component on: `.dem*` matches the store even when the rest of the glob does not. */
export function globPrefixes(absGlob: string): string[] {
  const parts = absGlob.split("/");
  const first = parts.findIndex((p) => /[*?[]/.test(p));
  if (first < 0) return [absGlob];
  return parts.slice(first).map((_, k) => parts.slice(0, first + k + 1).join("/"));
}

/** Concrete paths a glob is tested against: one per protected entry, and every ancestor of each. */
export function samplePaths(ctx: PathContext): string[] {
  const home = ctx.home ?? os.homedir();
  const leaves = [
    ".demesne/pgdata/base", ".env", ".env.local", "id_ed25519", ".claude/settings.json", "cli/guard/hook.ts",
    "bin/demesne-guard.js", "test/guard/table.ts", "policy-pack/index.ts", ".ci/run", ".github/workflows/ci.yml", ".git/HEAD",
    "Pulumi.control.yaml",
  ].map((r) => path.join(ctx.root, r));
  leaves.push(path.join(home, ".ssh/id_ed25519"), path.join(home, ".pulumi/credentials.json"), path.join(home, ".config/demesne/mcp-token"), "/proc/self/environ", "/proc/1/environ");
  const all = new Set<string>();
  for (const l of leaves) for (let d = l; d !== path.dirname(d); d = path.dirname(d)) all.add(d);
  return [...all];
}
