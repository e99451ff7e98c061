/**
 * Secrets never reach the store. The engine's marks come first: its blinded secret objects and `{secure: …}`
 * config values keep their marker and lose any value, and a config key named like a credential loses its whole
 * value. The rules of components/model/secrets.ts are the second net: values under credential names are
 * dropped, and credential-shaped strings are cut out wherever they appear (JSON held in a string included).
 */
import { isCredentialName, isSecretReference, REDACTED, redactText } from "../../components/model/secrets";

export { REDACTED };
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** The attribute under which an update's, preview's or plan's config is recorded: `{"ns:key": value}`. */
const CONFIG_ATTRIBUTE = "config";
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
  const t = s.trimStart();
  if ((t.startsWith("{") || t.startsWith("[")) && s.length <= MAX_JSON_IN_STRING) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined && typeof parsed === "object") {
      const r = redactSecrets(parsed, name);
      return JSON.stringify(r) === JSON.stringify(parsed) ? s : JSON.stringify(r);
    }
  }
  return redactText(s);
}

/** Config as the engine reports it: a key named like a credential (`demesne:secrets`, `ovh:consumerKey`) keeps no value. */
function redactConfig(config: Record<string, unknown>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(config)) {
    o[k] = isCredentialName(k) && !(typeof x === "string" && (x === "" || isSecretReference(x))) && !isBlindedSecret(x)
      ? REDACTED
      : redactSecrets(x, k);
  }
  return o;
}

export function redactSecrets(v: unknown, name = ""): unknown {
  if (typeof v === "string") return redactString(v, name);
  if (Array.isArray(v)) return v.map((x) => redactSecrets(x, name));
  if (v && typeof v === "object") {
    if (isBlindedSecret(v)) return { [SECRET_SIG]: SECRET_SIG_VALUE, ciphertext: "[secret]" };
    if (isSecureConfig(v)) return { secure: "[secret]" };
    if (name === CONFIG_ATTRIBUTE) return redactConfig(v as Record<string, unknown>);
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = redactSecrets(x, k);
    return o;
  }
  return v;
}

/** Where redaction would change a value (`.env.API_KEY`, `[2]`): what `demesne correct` refuses to store. */
export function secretPaths(v: unknown, name = "", path = ""): string[] {
  if (typeof v === "string") return redactString(v, name) === v ? [] : [path || "(the value)"];
  if (Array.isArray(v)) return v.flatMap((x, i) => secretPaths(x, name, `${path}[${i}]`));
  if (v && typeof v === "object") {
    const r = redactSecrets(v, name);
    if (isBlindedSecret(v) || isSecureConfig(v) || name === CONFIG_ATTRIBUTE) {
      return JSON.stringify(r) === JSON.stringify(v) ? [] : [path || "(the value)"];
    }
    return Object.entries(v).flatMap(([k, x]) => secretPaths(x, k, `${path}.${k}`));
  }
  return [];
}
