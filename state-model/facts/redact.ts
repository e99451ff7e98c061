/**
 * Secrets never reach the store. Three layers: the engine's blinded secret objects keep their marker and
 * lose any value; values under credential-like names are dropped; strings that look like credentials are
 * cut out wherever they appear.
 */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";
export const REDACTED = "[redacted]";

const CREDENTIAL_NAME = /(password|passwd|passphrase|secret|token|apikey|privatekey|authkey|credentials?|masterkey)$/;
const NOT_SECRET_NAME = /^(approvaltoken|approvaltokens|secretkeys|secretsprovider|secrets_providers)$/;
const PATTERNS: RegExp[] = [
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
  /\btskey-[A-Za-z0-9_-]{6,}/g,
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  /\b(ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g,
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{16,}/g,
  /(\b[a-z][a-z0-9+.-]*:\/\/[^:\s/@]+:)[^@\s/]+@/g, // password in a URL
];

/** Any pattern at all: most strings match none and are returned after one scan instead of nine. */
const ANY = new RegExp(PATTERNS.map((re) => re.source).join("|"));

function redactString(s: string): string {
  if (!ANY.test(s)) return s;
  let out = s;
  for (const re of PATTERNS) {
    out = out.replace(re, (_m, g1: unknown) =>
      re.source.startsWith("(\\b[a-z]") && typeof g1 === "string" ? `${g1}${REDACTED}@` : REDACTED,
    );
  }
  return out;
}

const normName = (k: string) => k.toLowerCase().replace(/[^a-z0-9]/g, "");

export function isBlindedSecret(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_SIG_VALUE;
}

export function redactSecrets(v: unknown, name = ""): unknown {
  if (typeof v === "string") {
    const n = normName(name);
    if (v !== "" && CREDENTIAL_NAME.test(n) && !NOT_SECRET_NAME.test(n) && v !== "[secret]") return REDACTED;
    return redactString(v);
  }
  if (Array.isArray(v)) return v.map((x) => redactSecrets(x, name));
  if (v && typeof v === "object") {
    if (isBlindedSecret(v)) return { [SECRET_SIG]: SECRET_SIG_VALUE, ciphertext: "[secret]" };
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = redactSecrets(x, k);
    return o;
  }
  return v;
}
