import { isCredentialName } from "../../components/model/secrets";
import { execVarSet, npmProgramSetting, printsEnvironment } from "./env-vars";
import { unsafeGitConfig } from "./git-config";
import { OPAQUE, type Word } from "./shell";
import type { Invocation } from "./unwrap";

/**
 * The command rules, one table: what the hook blocks or asks about, why, what to do instead, and the
 * Claude Code permission rules each one contributes to .claude/settings.json (the first layer; the hook is
 * the second, and sees through quoting and wrappers where the settings' prefix match cannot). Deny wins
 * over ask, ask over allow.
 */
export type Decision = "allow" | "ask" | "deny";
export type Category = "blast-radius" | "secret" | "tamper" | "unseen" | "person";

export interface Rule {
  id: string;
  decision: Exclude<Decision, "allow">;
  category: Category;
  /** What the command would do, in the message. */
  does: string;
  /** What to do instead. */
  instead: string;
  settings: string[];
  test: (inv: Invocation) => boolean;
}

/** Flags lower-cased, `--flag=value` split, so `--SHOW-SECRETS=true` reads as `--show-secrets`. */
export function flags(args: Word[]): string[] {
  return args.filter((w) => w.text.startsWith("-")).map((w) => w.text.toLowerCase().split("=")[0]!);
}

const PULUMI_VALUED = /^(-c|--cwd|-s|--stack|--color|--logflow|-v|--verbose|--tracing|--profiling|--memprofilerate|--config-file|--logtostderr)$/;

/** The positional words of a pulumi command line (its sub-command path first), lower-cased. */
export function positionals(args: Word[], valued = PULUMI_VALUED): string[] {
  const out: string[] = [];
  for (let k = 0; k < args.length; k++) {
    const t = args[k]!.text;
    if (t === "--") continue;
    if (t.startsWith("-")) { if (!t.includes("=") && valued.test(t.toLowerCase())) k++; continue; }
    out.push(args[k]!.opaque || args[k]!.glob ? OPAQUE : t.toLowerCase());
  }
  return out;
}

const pulumi = (inv: Invocation, f: (pos: string[], fl: string[]) => boolean) => inv.name === "pulumi" && f(positionals(inv.args), flags(inv.args));
const demesne = (inv: Invocation, subs: string[]) => inv.name === "demesne" && subs.includes(positionals(inv.args, /^--(stack|actor|plan-file|target|layer|token|sign-key|allowed-signers|anchor|kind)$/)[0] ?? "");
const follows = (pos: string[], a: string, b: string[]) => pos.some((p, k) => p === a && b.includes(pos[k + 1] ?? ""));
/** What inline code may not mention: it cannot be parsed, so these words stand for what it might do. */
const INLINE = /child_process|subprocess|os\.(system|popen|exec|remove|unlink|rename)|shutil|exec(Sync|File)?\s*\(|spawn|system\s*\(|popen|`|\bpulumi\b|show.?secrets|\.demesne|\.env\b|\.claude|policy-pack|\.ci\b|\.github|cli\/guard|demesne-guard|\.ssh|id_(rsa|ed25519|ecdsa)|passphrase|credentials|atob|b64decode|base64|fromCharCode|Buffer\.from|\beval\b|writeFile|appendFile|unlink|rmSync|rmdir|rename|open\([^)]*["'][wa]|\\x[0-9a-f]{2}|\bchr\(|\bsystem\b|\bexec\b|\bqx\b|popen|%x\{|process\.env|environ|getenv|\bENV\b|Deno\.env/i;
const INSTEAD_APPLY = "run `demesne plan --stack control` (a dry run saved as a plan), have a person approve it (`demesne approve`), then `demesne apply PLAN`, which asks first";

export const RULES: readonly Rule[] = [
  {
    id: "unseen:program", decision: "deny", category: "unseen",
    does: "runs a program the guard cannot see (from a variable, a substitution, a glob, a pipe or an opaque script)",
    instead: "write the command out literally, one program per command, so it can be checked",
    settings: [],
    test: (inv) => inv.name === OPAQUE || inv.stdin === OPAQUE,
  },
  {
    id: "unseen:inline-code", decision: "deny", category: "unseen",
    does: "runs inline code that starts processes, decodes data, writes or deletes files, or names a guarded program or path",
    instead: "run the program directly, as a plain command the guard can read",
    settings: [],
    test: (inv) => inv.code !== undefined && (inv.code.includes(OPAQUE) || INLINE.test(inv.code)),
  },
  {
    id: "unseen:guarded-arguments", decision: "deny", category: "unseen",
    does: "gives pulumi, demesne, rm or git an argument the guard cannot see",
    instead: "write the arguments out literally",
    settings: [],
    test: (inv) => (["pulumi", "demesne", "rm"].includes(inv.name) && inv.args.some((w) => w.opaque))
      || (inv.name === "pulumi" && positionals(inv.args).includes(OPAQUE))
      || (inv.name === "git" && positionals(inv.args, /^(-c|--git-dir|--work-tree)$/)[0] === OPAQUE),
  },
  {
    id: "blast-radius:pulumi-destroy", decision: "deny", category: "blast-radius",
    does: "destroys the stack's resources",
    instead: "an agent never destroys: describe what should go and ask a person; a layer or service is removed by changing config and going through `demesne plan`",
    settings: ["Bash(pulumi destroy *)", "Bash(pulumi down *)"],
    test: (inv) => pulumi(inv, (pos) => pos.includes("destroy") || pos[0] === "down"),
  },
  {
    id: "blast-radius:pulumi-stack-rm", decision: "deny", category: "blast-radius",
    does: "removes a stack, or rewrites or imports its state",
    instead: "ask a person: the stack's state is the record of the fleet",
    settings: ["Bash(pulumi stack rm *)", "Bash(pulumi stack remove *)", "Bash(pulumi stack import *)", "Bash(pulumi state *)", "Bash(pulumi cancel *)"],
    test: (inv) => pulumi(inv, (pos) => follows(pos, "stack", ["rm", "remove", "import", "change-secrets-provider"]) || pos[0] === "state" || pos[0] === "cancel"),
  },
  {
    id: "blast-radius:pulumi-up", decision: "deny", category: "blast-radius",
    does: "changes hosts outside the reviewed path (`pulumi up`, `refresh`, `import`, `watch`)",
    instead: INSTEAD_APPLY,
    settings: ["Bash(pulumi up *)", "Bash(pulumi update *)", "Bash(pulumi refresh *)", "Bash(pulumi import *)", "Bash(pulumi watch *)"],
    test: (inv) => pulumi(inv, (pos) => ["up", "update", "refresh", "import", "watch"].includes(pos[0] ?? "")),
  },
  {
    id: "blast-radius:target-replace", decision: "deny", category: "blast-radius",
    does: "forces a replace outside `demesne plan`",
    instead: "run `demesne plan --stack control --layer HOST/LAYER --replace`, which classifies and records it",
    settings: ["Bash(pulumi * --target-replace*)", "Bash(pulumi * --replace*)"],
    test: (inv) => pulumi(inv, (_, fl) => fl.includes("--target-replace") || fl.includes("--replace")),
  },
  {
    id: "secret:show-secrets", decision: "deny", category: "secret",
    does: "prints the stack's secrets in clear",
    instead: "secrets are never shown to an agent: `pulumi config` and `pulumi stack export` without --show-secrets print them encrypted",
    settings: ["Bash(pulumi * --show-secrets*)"],
    test: (inv) => inv.name === "pulumi" && inv.args.some((w) => /^-+show-?secrets/i.test(w.text)),
  },
  {
    id: "secret:config-get", decision: "deny", category: "secret",
    does: "prints a config value decrypted (`pulumi config get` of a secret)",
    instead: "read Pulumi.control.yaml: secret values stay encrypted there; ask a person if a value is needed",
    settings: ["Bash(pulumi config get *)"],
    test: (inv) => pulumi(inv, (pos) => pos[0] === "config" && pos[1] === "get"),
  },
  {
    id: "secret:environment", decision: "deny", category: "secret",
    does: "prints the environment or a credential from it (the stack passphrase, tokens)",
    instead: "name a variable that is not a credential (`echo \"$NODE_ENV\"`)",
    settings: ["Bash(printenv)", "Bash(env)"],
    test: (inv) => printsEnvironment(inv.name, inv.args)
      || (inv.name === "printenv" && inv.args.some((w) => isCredentialName(w.text)))
      || inv.vars.some((v) => isCredentialName(v) || /PASSPHRASE|TOKEN|SECRET|PASSWORD|_KEY$/i.test(v)),
  },
  {
    id: "tamper:exec-env", decision: "deny", category: "tamper",
    does: "sets a variable that makes a later program run another one (GIT_SSH_COMMAND, BASH_ENV, LD_PRELOAD, EDITOR, NODE_OPTIONS=--require, npm's script-shell, a PATH that puts a directory before the old one)",
    instead: "run the program you mean directly; to add tools to PATH append them (`PATH=$PATH:./node_modules/.bin`)",
    settings: ["Bash(BASH_ENV=*)", "Bash(export BASH_ENV=*)", "Bash(GIT_SSH_COMMAND=*)", "Bash(export GIT_SSH_COMMAND=*)", "Bash(LD_PRELOAD=*)", "Bash(export LD_PRELOAD=*)", "Bash(GIT_EXTERNAL_DIFF=*)", "Bash(npm config set script-shell *)"],
    test: (inv) => execVarSet(inv.name, inv.args, inv.assigns) !== undefined || npmProgramSetting(inv.name, inv.args),
  },
  {
    id: "tamper:git-config", decision: "deny", category: "tamper",
    does: "sets a git config key that runs a program (core.sshCommand, core.pager, core.editor, core.hooksPath, diff.external, alias.*, filters, credential helpers, includes), now or on a later git command",
    instead: "run the program directly; only harmless keys (user.*, color.*, init.defaultBranch, pull.rebase…) may be set",
    settings: ["Bash(git config core.sshCommand *)", "Bash(git config core.hooksPath *)", "Bash(git config core.pager *)", "Bash(git config core.editor *)", "Bash(git config diff.external *)", "Bash(git config alias.*)", "Bash(git config --global alias.*)", "Bash(git config --global core.hooksPath *)", "Bash(git -c core.sshCommand*)", "Bash(git -c alias.*)"],
    test: (inv) => inv.name === "git" && unsafeGitConfig(inv.args) !== undefined,
  },
  {
    id: "person:pulumi-config-change", decision: "deny", category: "tamper",
    does: "changes the stack's config (its mode, the kill switch, approval tokens, policy settings)",
    instead: "propose the change in Pulumi.control.yaml for a person to review; the mode and the kill switch are a person's to set",
    settings: ["Bash(pulumi config set *)", "Bash(pulumi config rm *)", "Bash(pulumi config set-all *)", "Bash(pulumi config rm-all *)", "Bash(pulumi config cp *)", "Bash(pulumi config refresh *)", "Bash(pulumi policy *)", "Bash(pulumi org *)"],
    test: (inv) => pulumi(inv, (pos) => (pos[0] === "config" && ["set", "rm", "set-all", "rm-all", "cp", "refresh", "env"].includes(pos[1] ?? "")) || (pos[0] === "policy" && !["ls", "validate-config"].includes(pos[1] ?? "")) || pos[0] === "org"),
  },
  {
    id: "person:demesne-approve", decision: "deny", category: "person",
    does: "approves a plan: the approval is a person's act (invariant 6), never the agent that made the plan",
    instead: "show the person `demesne plan`'s output and the plan's sha256; they run `demesne approve`",
    settings: ["Bash(demesne approve *)", "Bash(npx demesne approve *)"],
    test: (inv) => demesne(inv, ["approve", "bless"]) || (inv.name === "demesne" && positionals(inv.args)[0] === "baseline"),
  },
  {
    id: "ask:demesne-apply", decision: "ask", category: "person",
    does: "applies an approved plan to the fleet",
    instead: "a person confirms it; the plan must already be approved",
    settings: ["Bash(demesne apply *)", "Bash(npx demesne apply *)", "Bash(demesne correct *)", "Bash(demesne erase *)", "Bash(demesne observe *)"],
    test: (inv) => demesne(inv, ["apply", "correct", "erase", "observe"]),
  },
  {
    id: "ask:git-push", decision: "ask", category: "person",
    does: "publishes commits",
    instead: "a person confirms the push",
    settings: ["Bash(git push *)"],
    test: (inv) => inv.name === "git" && positionals(inv.args, /^(-c|--git-dir|--work-tree)$/)[0] === "push",
  },
  {
    id: "ask:remote-shell", decision: "ask", category: "person",
    does: "acts on a host outside the audited execution path (invariant 1)",
    instead: "read a host with `demesne observe`; change it through `demesne plan`/`demesne apply`",
    settings: ["Bash(ssh *)", "Bash(scp *)", "Bash(rsync *)", "Bash(sftp *)"],
    test: (inv) => ["ssh", "scp", "sftp", "rsync", "mosh"].includes(inv.name),
  },
];

/** Rules the hook applies outside this table: protected paths (paths.ts) and deletion outside the tree. */
export const PATH_RULES = {
  secretRead: { decision: "deny" as const, category: "secret" as const, instead: "secrets and the store are not an agent's to read; ask a person, or use `demesne` commands, which redact" },
  tamperWrite: { decision: "deny" as const, category: "tamper" as const, instead: "the guardrails are changed by a person, in a reviewed commit; propose the change in your reply" },
  rmOutside: { id: "blast-radius:rm-outside-tree", decision: "deny" as const, category: "blast-radius" as const, instead: "delete only inside the work tree, naming the paths" },
  settings: ["Bash(rm -rf / *)", "Bash(rm -rf ~ *)", "Bash(rm -rf .. *)", "Bash(curl * | sh)", "Bash(curl * | bash)", "Bash(wget * | sh)", "Bash(wget * | bash)", "Bash(eval *)"],
};
