/**
 * Secrets never reach the store. The engine's marks come first: its blinded secret objects and `{secure: …}`
 * config values keep their marker and lose any value, and a config key named like a credential loses its whole
 * value. The rules of components/model/secrets.ts are the second net: values under credential names are
 * dropped, and credential-shaped strings are cut out wherever they appear (JSON held in a string included).
 */
import { isCredentialName, isSecretReference, mayNameCredential, REDACTED, redactText } from "../../components/model/secrets";

export { REDACTED };
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** The attribute under which an update's, preview's or plan's config is recorded: `{"ns:key": value}`. */
const CONFIG_ATTRIBUTE = "config";
/** A step's detailed diff: keyed by property path (`authKey`), its values say what kind of change, never a value. */
const DIFF_ATTRIBUTE = "detailedDiff";
/** JSON held in a string is redacted as the value it encodes; bigger strings are only scanned as text. */
const MAX_JSON_IN_STRING = 1 << 20;

export function isBlindedSecret(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_SIG_VALUE;
}

/** Pulumi's encrypted config value (`{"secure": "v1:…"}` in a plan or stack file). */
function isSecureConfig(v: object): boolean {
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === "secure";
}

function redactString(s: string, name: string): string {
  if (s === "" || isSecretReference(s)) return s;
  if (isCredentialName(name)) return REDACTED;
  const t = s.trim();
  // Only JSON that may name a credential needs parsing; shapes are cut from its text like any other.
  const json = (t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"));
  if (json && s.length <= MAX_JSON_IN_STRING && mayNameCredential(s)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined && typeof parsed === "object") {
      const r = redactSecrets(parsed, name);
      return r === parsed ? s : JSON.stringify(r);
    }
  }
  return redactText(s);
}

/** Config as the engine reports it: a key named like a credential (`demesne:secrets`, `ovh:consumerKey`) keeps no value. */
function redactConfigValue(x: unknown, k: string): unknown {
  const keep = (typeof x === "string" && (x === "" || isSecretReference(x))) || isBlindedSecret(x);
  return isCredentialName(k) && !keep ? REDACTED : redactSecrets(x, k);
}

/** The object itself when nothing in it changed (most values): no copy, and callers compare by identity. */
function mapEntries(o: object, f: (x: unknown, k: string) => unknown): object {
  let out: Record<string, unknown> | undefined;
  for (const [k, x] of Object.entries(o)) {
    const r = f(x, k);
    if (r !== x && !out) out = { ...o };
    if (out) out[k] = r;
  }
  return out ?? o;
}

export function redactSecrets(v: unknown, name = ""): unknown {
  if (typeof v === "string") return redactString(v, name);
  if (Array.isArray(v)) {
    const r = v.map((x) => redactSecrets(x, name));
    return r.every((x, i) => x === v[i]) ? v : r;
  }
  if (v && typeof v === "object") {
    if (isBlindedSecret(v)) return { [SECRET_SIG]: SECRET_SIG_VALUE, ciphertext: "[secret]" };
    if (isSecureConfig(v)) return { secure: "[secret]" };
    return mapEntries(v, name === CONFIG_ATTRIBUTE ? redactConfigValue : (x, k) => redactSecrets(x, childName(name, k)));
  }
  return v;
}

/** Under a credential name everything is the credential (`providerKeys: {openai: …}`); a diff's keys are property paths. */
function childName(parent: string, key: string): string {
  if (parent === DIFF_ATTRIBUTE) return "";
  return isCredentialName(parent) ? parent : key;
}

/** Where redaction would change a value (`.env.API_KEY`, `[2]`): what `demesne correct` refuses to store. */
export function secretPaths(v: unknown, name = "", path = ""): string[] {
  if (typeof v === "string") return redactString(v, name) === v ? [] : [path || "(the value)"];
  if (Array.isArray(v)) return v.flatMap((x, i) => secretPaths(x, name, `${path}[${i}]`));
  if (v && typeof v === "object") {
    if (isBlindedSecret(v) || isSecureConfig(v) || name === CONFIG_ATTRIBUTE) {
      return JSON.stringify(redactSecrets(v, name)) === JSON.stringify(v) ? [] : [path || "(the value)"];
    }
    return Object.entries(v).flatMap(([k, x]) => secretPaths(x, childName(name, k), `${path}.${k}`));
  }
  return [];
}
