import { REDACTED, redactText } from "../../components/model/secrets";

/**
 * A command line as the audit log may keep it (invariant 3): the recorder's redaction (credential shapes,
 * long random tokens, `NAME=value` and `--name value` under a credential name, so `--sign-key`'s path is cut
 * too, a URL's password), then what only a command line has: a credential flag's value written across lines
 * or up to a `;` (`--token X`, `--password=X`), an `Authorization:` header, curl's `-u user:password`. Long
 * lines keep their head and say how long they were.
 */
const FLAG = /(--?(?:[a-z0-9-]*-)?(?:token|password|passwd|passphrase|secret|api-?key|auth-key|access-key|client-secret|private-key))((?:=|\s+)(?:'[^']*'|"[^"]*"|[^\s'"]+))/gi;
const HEADER = /((?:authorization|x-api-key|api-key|cookie)\s*:\s*)(?:bearer\s+|basic\s+|token\s+)?[^'"\s]+/gi;
const USERPASS = /(\s-u\s*|\s--user[=\s]+)(['"]?)([^:'"\s]+):[^'"\s]+\2/g;
export const MAX_STORED = 2_000;

export function redactCommand(cmd: string): string {
  let out = cmd.replace(FLAG, (_all, flag: string, rest: string) => {
    const sep = rest.startsWith("=") ? "=" : rest.slice(0, rest.length - rest.trimStart().length);
    return `${flag}${sep}${REDACTED}`;
  });
  out = out.replace(HEADER, (_all, head: string) => `${head}${REDACTED}`);
  out = out.replace(USERPASS, (_all, flag: string, q: string, user: string) => `${flag}${q}${user}:${REDACTED}${q}`);
  out = redactText(out);
  return out.length > MAX_STORED ? `${out.slice(0, MAX_STORED)}… [${out.length} characters]` : out;
}
