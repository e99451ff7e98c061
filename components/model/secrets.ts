// What a secret is, in one place: the names that hold credentials and the shapes of credential values.
// The config validator, the service renderer, the policy pack, the recorder's redaction and `demesne correct`
// all ask this module, so a name or a shape added here is refused, blinded or redacted everywhere at once.
// No imports: every layer may depend on it.

export const REDACTED = "[redacted]";

/** A name whose last word is one of these holds a credential: `apiKey`, `API_KEYS`, `consumer_secret`, `DB_PASSWORD`. */
const CREDENTIAL_WORDS = new Set([
    "key", "token", "password", "passwd", "passphrase", "secret", "salt", "credential", "creds", "cred", "pass", "pwd", "pat",
]);
/** A last word fused from several (`apikey`, `masterkey`, `dbpassword`) holds one when it ends like this. */
const CREDENTIAL_SUFFIX = /(apikey|accesskey|authkey|masterkey|privatekey|secretkey|saltkey|consumerkey|signingkey|encryptionkey|authtoken|accesstoken|apitoken|refreshtoken|bearertoken|password|passwd|passphrase|secret|credential)$/;
/** Keys and tokens that are public, identifiers or counts: `hostKey`, `authorized_keys`, `sortKey`, `approvalToken`, `max_tokens`. */
const NOT_SECRET_BEFORE = new Set([
    "public", "host", "authorized", "known", "approval", "sort", "primary", "foreign", "partition", "cache", "idempotency",
    "lookup", "routing", "value", "page", "next", "continuation", "max", "min", "num", "input", "output", "prompt", "completion",
    "total", "reasoning", "cached",
]);

/** Words about passwords, not holding one: sudoers' `NOPASSWD:` tag. */
const NOT_CREDENTIAL_WORD = /^(?:nopasswd|nopassword|passwordless)$/;

/** `OPENAI_API_KEY`, `apiKey`, `ovh:consumerKey` → lower-case words (`openai api key`, `api key`, `ovh consumer key`). */
export function nameWords(name: string): string[] {
    return name
        .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
        .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .filter((w) => w !== "");
}

const singular = (w: string) => (w.length > 3 && w.endsWith("s") && !w.endsWith("ss") ? w.slice(0, -1) : w);

/**
 * Does a value under this name hold a credential? Any case and separator: `apiKey`, `api_key`, `API-KEYS`,
 * `consumerSecret`, `LITELLM_SALT_KEY`, `privateKey`, `demesne:providerKeys`. Public keys and identifier keys
 * (`hostKey`, `sortKey`) do not.
 */
export function isCredentialName(name: string): boolean {
    let known = NAME_MEMO.get(name);
    if (known === undefined) {
        known = credentialName(name);
        // Names repeat (every resource has `inputs`, every host `package`): remember them, within bounds.
        if (NAME_MEMO.size >= 10_000) NAME_MEMO.clear();
        NAME_MEMO.set(name, known);
    }
    return known;
}
const NAME_MEMO = new Map<string, boolean>();

function credentialName(name: string): boolean {
    const words = nameWords(name);
    const last = singular(words[words.length - 1] ?? "");
    if (last === "" || NOT_CREDENTIAL_WORD.test(last)) return false;
    if (CREDENTIAL_WORDS.has(last)) {
        // `PWD` alone is the working directory; `pass` alone is too vague to be a password.
        if ((last === "pwd" || last === "pass" || last === "pat") && words.length === 1) return false;
        return (last !== "key" && last !== "token") || !NOT_SECRET_BEFORE.has(words[words.length - 2] ?? "");
    }
    return CREDENTIAL_SUFFIX.test(last);
}

/** The env name suffix a provider SDK reads its key from (`OPENAI_API_KEY`); the gateway's own are made with it. */
export const PROVIDER_KEY_ENV_SUFFIX = "_API_KEY";
/** Env names provider SDKs read credentials from: `<PROVIDER>_API_KEY(S)` and the few that are named otherwise. */
const PROVIDER_KEY_NAME = /^[A-Z0-9_]*_API_KEYS?$|^(AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|GOOGLE_APPLICATION_CREDENTIALS|HF_TOKEN|HUGGING_FACE_HUB_TOKEN|AZURE_OPENAI_AD_TOKEN)$/;
/** The one key slot an OpenAI-compatible client uses; outside the gateway it holds a gateway virtual key. */
export const CLIENT_KEY_SLOT = "OPENAI_API_KEY";

/** Is this env name where a provider SDK looks for its key? Such names belong to the gateway only (bar CLIENT_KEY_SLOT). */
export function isProviderKeyName(name: string): boolean {
    return PROVIDER_KEY_NAME.test(name);
}

interface Shape {
    /** What the value looks like, for messages (never the value itself). */
    what: string;
    re: RegExp;
    /** A key of one model provider (not a gateway virtual key, which is `sk-…` as well). */
    provider?: boolean;
    /** The match with the credential replaced; default: all of it. */
    cut?: (match: string) => string;
}

/** `scheme://user:password@` keeps its user; a password that is a reference (`${DB_PASSWORD}`) is kept. */
function cutUrlPassword(m: string): string {
    const userEnd = m.indexOf(":", m.indexOf("://") + 3);
    return isSecretReference(m.slice(userEnd + 1, -1)) ? m : `${m.slice(0, userEnd + 1)}${REDACTED}@`;
}

/** Values shaped like credentials, wherever they appear in a string. Each regex is linear (no nested quantifiers). */
const SHAPES: readonly Shape[] = [
    { what: "a PEM private key", re: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g },
    { what: "a Tailscale key", re: /\btskey-[A-Za-z0-9_-]{6,}/g },
    { what: "an Anthropic key", re: /\bsk-ant-[A-Za-z0-9_-]{16,}/g, provider: true },
    { what: "an OpenAI project or admin key", re: /\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{16,}/g, provider: true },
    { what: "an OpenAI-style key", re: /\bsk-[A-Za-z0-9_-]{16,}/g },
    { what: "an AWS access key", re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, provider: true },
    { what: "a Google API key", re: /\bAIza[0-9A-Za-z_-]{35}/g, provider: true },
    { what: "a model provider key", re: /\b(?:gsk_|hf_|xai-|r8_|pplx-|nvapi-)[A-Za-z0-9_-]{20,}/g, provider: true },
    { what: "a GitHub or GitLab token", re: /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,})/g },
    { what: "a Slack token", re: /\bxox[abprs]-[A-Za-z0-9-]{10,}/g },
    { what: "a JWT", re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g },
    {
        what: "a bearer or basic credential", re: /\b(?:Bearer|bearer|Basic)[ \t]+[A-Za-z0-9._~+/=-]{16,}/g,
        cut: (m) => `${m.split(/[ \t]/)[0]} ${REDACTED}`,
    },
    // The scheme starts where a run of scheme characters starts (not at every word boundary inside one: in
    // `a-a-a-…` that retried the rest of the run from each letter, quadratic in its length).
    { what: "a password in a URL", re: /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*:\/\/[^:\s/@]+:[^@\s/]+@/g, cut: cutUrlPassword },
];
/** Any shape at all: most strings match none and are done after one scan instead of one per shape. */
const ANY_SHAPE = new RegExp(SHAPES.map(({ re }) => `(?:${re.source})`).join("|"));

/** A token long enough to be a generated secret (the entropy test decides): this many base64 characters. */
const LONG_TOKEN_MIN = 32;
/** Digests (image, go.sum `h1:`, SSH `SHA256:`) and public-key material look random but are meant to be recorded. */
const DIGEST_BEFORE = /(?:sha\d+|md5|blake2b?|SHA\d+|h1)[:-]$|(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)\s+$/;
const PUBLIC_PEM = /-----BEGIN ((?:[A-Z0-9]+ )*(?:CERTIFICATE|PUBLIC KEY))-----[\s\S]*?-----END \1-----/g;
/** An OpenSSH public-key blob: base64 of a length-prefixed key type (`AAAAC3NzaC1lZDI1NTE5…`). */
const SSH_BLOB = /^AAAA[A-Za-z0-9+/]{4}(?:c3No|ZWNkc2|c2st)/;

/** `GOMODCACHE/cache/vcs/3ec7…`: every segment one plain word or hex, where random base64 mixes cases within one. */
const isPath = (token: string) => token.includes("/") && token.split("/").every((seg) => /^(?:[a-z0-9._-]*|[A-Z0-9_]*|[A-Z][a-z0-9]*)$/.test(seg));

function entropyBits(s: string): number {
    const counts = new Map<string, number>();
    for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
    let h = 0;
    for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
    return h;
}

/**
 * A generated secret: LONG_TOKEN_MIN+ characters of the base64 alphabet with upper case, lower case and digits, and
 * close to random (≥ 4 bits a character). Hex is never one: sha256 digests, image ids and commit ids are
 * hex, so a hex secret is caught by its name only.
 */
export function isHighEntropyToken(token: string): boolean {
    if (token.length < LONG_TOKEN_MIN || !/[a-z]/.test(token) || !/[A-Z]/.test(token) || !/[0-9]/.test(token)) return false;
    if (SSH_BLOB.test(token) || isPath(token)) return false;
    return entropyBits(token) >= 4;
}

function publicRanges(s: string): [number, number][] {
    if (!s.includes("-----BEGIN ")) return [];
    return [...s.matchAll(PUBLIC_PEM)].map((m) => [m.index, m.index + m[0].length]);
}

const isBase64Char = (c: number) =>
    (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47 || c === 95 || c === 45;

/** Runs of LONG_TOKEN_MIN+ base64 characters (with `=` padding) that look random: one pass over the string, no regex. */
function randomTokens(s: string): [number, number][] {
    const found: [number, number][] = [];
    if (s.length < LONG_TOKEN_MIN) return found;
    let pub: [number, number][] | undefined;
    let start = -1;
    for (let i = 0; i <= s.length; i++) {
        if (i < s.length && isBase64Char(s.charCodeAt(i))) {
            if (start < 0) start = i;
            continue;
        }
        if (start >= 0 && i - start >= LONG_TOKEN_MIN) {
            let end = i;
            while (end < s.length && end - i < 2 && s[end] === "=") end++;
            pub ??= publicRanges(s);
            const at = start;
            if (isHighEntropyToken(s.slice(at, end)) && !DIGEST_BEFORE.test(s.slice(Math.max(0, at - 40), at))
                && !pub.some(([a, b]) => at >= a && at < b)) found.push([at, end]);
        }
        start = -1;
    }
    return found;
}

/** What kind of credential the string contains, if any (for messages: never echo the value). */
export function credentialShapeOf(s: string): string | undefined {
    for (const { what, re, cut } of ANY_SHAPE.test(s) ? SHAPES : []) {
        for (const m of s.matchAll(re)) if (!cut || cut(m[0]) !== m[0]) return what;
    }
    return randomTokens(s).length > 0 ? "a long random token" : undefined;
}

/** A key of a model provider (Anthropic, AWS, Google, …): held by the gateway only. Generic `sk-…` may be a gateway virtual key. */
export function providerKeyShapeOf(s: string): string | undefined {
    for (const { what, re, provider } of SHAPES) {
        if (provider && s.match(re)) return what;
    }
    return undefined;
}

/** Values that name a secret instead of holding one: `${VAR}`, `os.environ/VAR`, `secret:<id>`, the engine's `[secret]`. */
export function isSecretReference(v: string): boolean {
    return /^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|os\.environ\/[A-Za-z_][A-Za-z0-9_]*|(?:secret|providerKey):[A-Za-z][A-Za-z0-9_-]*|\[secret\]|\[redacted\])$/.test(v);
}

/**
 * `NAME=value`, `NAME: value`, `"NAME": "value"` in free text (env files, YAML, JSON, log lines), with the other
 * operators that assign or compare (`:=`, `?=`, `+=`, `=>`, `==`); or a command line's `--name=value` and
 * `--name value`, the value perhaps after line continuations. The name is group 2 or 3. No lookbehind scans
 * back over a name: each start position is decided by the characters just before it, so the search stays
 * linear in the text.
 */
const OPERATOR = String.raw`(?:[:?+]=|==|=>|[:=])`;
const NAME = String.raw`[A-Za-z_][A-Za-z0-9_.-]*`;
/** Spaces, or line continuations (a backslash, PowerShell's backtick or cmd's caret ending the line) and spaces. */
const SPACED = String.raw`(?:(?:[ \t]*[\\\x60^]\r?\n)+[ \t]*|[ \t]+)`;
const ASSIGNED_NAME = new RegExp(
    String.raw`(["']?)(?<![A-Za-z0-9_.-])(${NAME})\1[ \t]*${OPERATOR}[ \t]*` +
        String.raw`|(?<=(?:^|[\s"'=])--?)(${NAME})(?:[ \t]*${OPERATOR}(?:${SPACED})?|${SPACED})`,
    "g",
);
/** A YAML block scalar's indicator (`|`, `>-`, `|2+`): the value is on the lines below, indented. */
const BLOCK_SCALAR = /^[|>](?:[1-9]?[+-]?|[+-]?[1-9]?)$/;
/**
 * The value after an assigned name: quoted, or up to a space or delimiter. A quote that never closes runs to the
 * end of the line, so `API_KEY="abc` (a truncated log line) loses its value too. `''` inside single quotes is a
 * quote (YAML's escape; the shell's adjacent strings).
 */
const ASSIGNED_VALUE = /(")((?:[^"\\\n]|\\.)*)("?)|(')((?:[^'\n]|'')*)('?)|((?:\[redacted\]|[^\s"',;&}\]])+)/y;
/** Every credential name contains one of these: text without any cannot name a credential. */
const MAY_NAME_CREDENTIAL = /key|token|pass|pwd|secret|salt|cred|pat/i;
export const mayNameCredential = (text: string): boolean => MAY_NAME_CREDENTIAL.test(text);
const HARMLESS_VALUE = /^(?:true|false|null|none|yes|no)$/i;

function redactAssignments(s: string): string {
    if (!MAY_NAME_CREDENTIAL.test(s)) return s;
    // Names are found one by one and only a credential name's value is taken: `error: API_KEY=…` is a harmless
    // name whose value holds the assignment that matters, and each character is still looked at about once.
    const names = new RegExp(ASSIGNED_NAME);
    let out = "";
    let from = 0;
    for (let m = names.exec(s); m; m = names.exec(s)) {
        if (!isCredentialName(m[2] ?? m[3]!)) continue;
        ASSIGNED_VALUE.lastIndex = names.lastIndex;
        const v = ASSIGNED_VALUE.exec(s);
        if (!v) continue;
        names.lastIndex = ASSIGNED_VALUE.lastIndex;
        const open = v[1] ?? v[4] ?? "";
        const inner = v[2] ?? v[5] ?? v[7]!;
        const close = v[3] ?? v[6] ?? "";
        if (open && !close && s[names.lastIndex] === "\n" && isYamlKey(s, m)) {
            // A YAML quoted scalar may go on below its line: it is cut through its closing quote.
            const quoted = quotedLines(s, m.index, names.lastIndex, open);
            if (quoted) {
                out += `${s.slice(from, v.index)}${open}${REDACTED}${quoted.closed ? open : ""}`;
                from = names.lastIndex = quoted.end;
                continue;
            }
        }
        if (inner === "" || inner === REDACTED || isSecretReference(inner) || HARMLESS_VALUE.test(inner)) continue;
        if (!open && BLOCK_SCALAR.test(inner)) {
            const block = blockLines(s, m.index, v.index + v[0].length);
            if (block) {
                out += `${s.slice(from, block.from)}\n${block.indent}${REDACTED}`;
                from = names.lastIndex = block.to;
            }
            continue;
        }
        out += `${s.slice(from, v.index)}${open}${REDACTED}${close}`;
        from = v.index + v[0].length;
    }
    return out + s.slice(from);
}

/**
 * The lines below `at` (the end of a line) that belong to the name at `nameAt`: each one blank or indented
 * deeper than the name's line, up to the first that is neither.
 */
function* linesBelow(s: string, nameAt: number, at: number): Generator<{ start: number; end: number; lead: string; blank: boolean }> {
    const lineStart = s.lastIndexOf("\n", nameAt) + 1;
    const keyIndent = /^[ \t]*/.exec(s.slice(lineStart, nameAt))![0].length;
    for (let pos = at; s[pos] === "\n";) {
        const next = s.indexOf("\n", pos + 1);
        const end = next === -1 ? s.length : next;
        const line = s.slice(pos + 1, end);
        const lead = /^[ \t]*/.exec(line)![0];
        const blank = line.trim() === "";
        if (!blank && lead.length <= keyIndent) return;
        yield { start: pos + 1, end, lead, blank };
        pos = end;
    }
}

/** `name: ` at the start of a line's content (after its indentation and a list's `- `): a YAML key. */
function isYamlKey(s: string, m: RegExpExecArray): boolean {
    return m[2] !== undefined && /:[ \t]*$/.test(m[0]) && /^[ \t]*(?:-[ \t]+)?$/.test(s.slice(s.lastIndexOf("\n", m.index) + 1, m.index));
}

/**
 * The lines of a block scalar whose indicator ends at `at`, up to the last one that holds something (blank lines
 * after it stay). Undefined when the indicator does not end its line or no line below holds anything.
 */
function blockLines(s: string, nameAt: number, at: number): { from: number; to: number; indent: string } | undefined {
    const rest = /^[ \t]*(?:#[^\n]*|\r)?(?=\n)/.exec(s.slice(at, at + 200));
    if (!rest) return undefined;
    const from = at + rest[0].length;
    let to = from;
    let indent: string | undefined;
    for (const line of linesBelow(s, nameAt, from)) {
        if (line.blank) continue;
        indent ??= line.lead;
        to = line.end;
    }
    return indent === undefined ? undefined : { from, to, indent };
}

/**
 * A quoted value left open at the end of its line (`at`), going on in the lines below: it ends just after the
 * line's closing quote, or with the last line below when none closes it. Undefined when no line below holds
 * anything (a truncated line, cut to its end as before).
 */
function quotedLines(s: string, nameAt: number, at: number, quote: string): { end: number; closed: boolean } | undefined {
    const closing = quote === '"' ? /(?:[^"\\\n]|\\.)*"/y : /(?:[^'\n]|'')*'(?!')/y;
    let end: number | undefined;
    for (const line of linesBelow(s, nameAt, at)) {
        if (line.blank) continue;
        closing.lastIndex = line.start;
        const c = closing.exec(s);
        if (c) return { end: line.start + c[0].length, closed: true };
        end = line.end;
    }
    return end === undefined ? undefined : { end, closed: false };
}

/**
 * The string with every credential cut out: shaped values, long random tokens, and values assigned to a
 * credential name (`PASSWORD=…`, `"apiKey": "…"`). A URL keeps its user and host, loses its password.
 */
export function redactText(s: string): string {
    let out = s;
    for (const { re, cut } of ANY_SHAPE.test(out) ? SHAPES : []) out = out.replace(re, cut ?? (() => REDACTED));
    const tokens = randomTokens(out);
    if (tokens.length > 0) {
        let cut = "";
        let from = 0;
        for (const [a, b] of tokens) {
            cut += out.slice(from, a) + REDACTED;
            from = b;
        }
        out = cut + out.slice(from);
    }
    return redactAssignments(out);
}
