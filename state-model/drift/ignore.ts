// Drift ignore rules, checked in (policy/drift-ignore.yaml): one host/attribute/key (globs with `*`) and
// the reason someone accepted it. A rule without a reason is refused: ignoring is a decision to record.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";

export const DEFAULT_IGNORE_FILE = "policy/drift-ignore.yaml";

const rule = z.object({
  host: z.string().min(1).default("*"),
  attribute: z.string().min(1),
  key: z.string().default("*"),
  reason: z.string().min(8, { message: "say why this drift is accepted (at least a short sentence)" }),
}).strict();
const file = z.object({ ignore: z.array(rule).default([]) }).strict();

export type IgnoreRule = z.infer<typeof rule>;

export class IgnoreFileError extends Error {
  override name = "IgnoreFileError";
}

export function parseIgnoreRules(text: string, where: string): IgnoreRule[] {
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (e) {
    throw new IgnoreFileError(`${where}: not YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  const r = file.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new IgnoreFileError(`${where}: ${i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "")}: ${i.message}`);
  }
  return r.data.ignore;
}

/** The rules in a file; a missing file is no rules, an unreadable one an error. */
export function loadIgnoreRules(path: string, required = false): IgnoreRule[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" && !required) return [];
    throw new IgnoreFileError(`${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseIgnoreRules(text, path);
}

const glob = (g: string) => new RegExp(`^${g.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);

export function isIgnored(rules: IgnoreRule[], host: string, attribute: string, key: string): boolean {
  return rules.some((r) => glob(r.host).test(host) && glob(r.attribute).test(attribute) && glob(r.key).test(key));
}
