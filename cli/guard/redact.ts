import { REDACTED, redactText } from "../../components/model/secrets";

/**
 * A command line as the audit log may keep it (invariant 3): the recorder's redaction (credential shapes, long
 * random tokens, `NAME=value`, `set NAME value`, and a credential flag's whole shell word: `--token X`,
 * `--password=X`, `--sign-key`'s path), then what only a command line has: an `Authorization:` header and
 * curl's `-u user:password`. Long lines keep their head and say how long they were.
 */
const HEADER = /((?:authorization|x-api-key|api-key|cookie)\s*:\s*)(?:bearer\s+|basic\s+|token\s+)?[^'"\s]+/gi;
const USERPASS = /(\s-u\s*|\s--user[=\s]+)(['"]?)([^:'"\s]+):[^'"\s]+\2/g;
export const MAX_STORED = 2_000;

export function redactCommand(cmd: string): string {
  let out = cmd.replace(HEADER, (_all, head: string) => `${head}${REDACTED}`);
  out = out.replace(USERPASS, (_all, flag: string, q: string, user: string) => `${flag}${q}${user}:${REDACTED}${q}`);
  out = redactText(out);
  return out.length > MAX_STORED ? `${out.slice(0, MAX_STORED)}… [${out.length} characters]` : out;
}
