// One source for what a secret is: the config validator refuses in plain env exactly what the recorder
// redacts, by name (any case and separator) and by shape (provider keys, tokens, private keys, URL passwords),
// while digests and public keys the store legitimately records pass untouched. Property tests, fixed seed.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../components/config/load";
import {
    credentialShapeOf, isCredentialName, isProviderKeyName, providerKeyShapeOf, REDACTED, redactText,
} from "../components/model/secrets";
import { planService } from "../components/service/spec";
import { SECRET_KEYS } from "../components/config/schema";
import { providerKeyEnvName } from "../components/render/litellm";
import { redactSecrets } from "../state-model/facts/redact";
import { recordRegistrations } from "./helpers/mocks";
import { controlStack, sourceOf, TestStack } from "./helpers/stack";

const SEED = 1405;
const RUNS = Number(process.env.DEMESNE_FUZZ_RUNS) || 200;

beforeAll(async () => {
    await recordRegistrations({ dryRun: true });
});

function problemsOf(stack: TestStack): string[] {
    try {
        loadConfig(sourceOf(stack), { dryRun: true });
    } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
    }
    return [];
}

/** Uniform random characters from a seed (fast-check's own strings lean towards repeats, which look nothing like keys). */
function randomChars(seed: number, n: number, alphabet: string): string {
    let x = seed >>> 0 || 1;
    let out = "";
    for (let i = 0; i < n; i++) {
        x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
        out += alphabet[x % alphabet.length];
    }
    return out;
}
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX = "0123456789abcdef";
const rnd = (n: number, alphabet: string) => fc.integer({ min: 1, max: 0x7fffffff }).map((s) => randomChars(s, n, alphabet));

const word = fc.stringMatching(/^[A-Z][A-Z0-9]{1,6}$/);
/** Last words that make a credential name, in the many ways people write them. */
const CREDENTIAL_TAILS = [
    "KEY", "KEYS", "API_KEY", "API_KEYS", "APIKEY", "TOKEN", "TOKENS", "ACCESS_TOKEN", "SECRET", "SECRETS", "CONSUMER_KEY",
    "CONSUMER_SECRET", "PRIVATE_KEY", "SALT", "SALT_KEY", "PASSWORD", "PASSWORDS", "PASSWD", "PASSPHRASE", "CREDENTIALS", "MASTER_KEY",
];
const credentialEnvName = fc.tuple(fc.array(word, { maxLength: 2 }), fc.constantFrom(...CREDENTIAL_TAILS))
    .map(([prefix, tail]) => [...prefix, tail].join("_"));
/** The same names as JSON keys or config keys are written: `apiKey`, `api-keys`, `Consumer_Secret`, `ovh:consumerKey`. */
const restyled = credentialEnvName.chain((n) => fc.constantFrom(
    n,
    n.toLowerCase(),
    n.toLowerCase().replace(/_/g, "-"),
    n.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()),
    n.split("_").map((w) => w[0] + w.slice(1).toLowerCase()).join("_"),
    `ovh:${n.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())}`,
));
const harmlessEnvName = fc.tuple(fc.array(word, { maxLength: 2 }), fc.constantFrom("NAME", "URL", "LOCALE", "MODE", "LEVEL", "HOST", "PORT", "ENABLED", "TIMEOUT", "KEYBOARD", "MONKEY"))
    .map(([prefix, tail]) => [...prefix, tail].join("_"));

/** Credential values by shape, each as it appears in the wild. */
const shapedSecret = fc.oneof(
    rnd(40, B64URL).map((r) => `sk-ant-api03-${r}`),
    rnd(48, B64URL).map((r) => `sk-proj-${r}`),
    rnd(32, B64URL).map((r) => `sk-${r}`),
    rnd(16, UPPER_DIGITS).map((r) => `AKIA${r}`),
    rnd(35, B64URL).map((r) => `AIza${r}`),
    rnd(36, ALNUM).map((r) => `ghp_${r}`),
    rnd(40, ALNUM).map((r) => `gsk_${r}`),
    rnd(24, ALNUM).map((r) => `xoxb-1234-${r}`),
    rnd(30, ALNUM).map((r) => `tskey-auth-${r}`),
    fc.tuple(rnd(24, B64URL), rnd(43, B64URL)).map(([p, s]) => `eyJhbGciOiJIUzI1NiJ9.eyJ${p}.${s}`),
    rnd(64, B64).map((r) => `-----BEGIN OPENSSH PRIVATE KEY-----\n${r}\n-----END OPENSSH PRIVATE KEY-----`),
    rnd(12, ALNUM).map((r) => `postgres://app:${r}@db.internal:5432/app`),
    rnd(32, ALNUM).map((r) => `Bearer ${r}`),
    // A generated secret with no known prefix: 40 characters of base64 with upper, lower and digits.
    rnd(37, B64URL).map((r) => `${r}aZ7`),
);
/** The part of a shaped value that must not survive (a URL keeps its user and host; a header keeps "Bearer"). */
const secretPart = (v: string) => v.match(/^postgres:\/\/app:([^@]+)@/)?.[1] ?? v.replace(/^Bearer /, "");

/** Random-looking values the store records on purpose. */
const recordedOnPurpose = fc.oneof(
    rnd(64, HEX),
    rnd(64, HEX).map((h) => `sha256:${h}`),
    rnd(64, HEX).map((h) => `ghcr.io/open-webui/open-webui@sha256:${h}`),
    rnd(40, HEX).map((h) => `commit ${h}`),
    rnd(64, HEX).map((h) => `in $GOMODCACHE/cache/vcs/${h}: exit status 128`),
    rnd(64, HEX).map((h) => `/var/lib/docker/overlay2/${h}/merged`),
    rnd(43, B64).map((r) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${r} observer@control`),
    rnd(43, B64).map((r) => `256 SHA256:${r} root@web-1 (ED25519)`),
    rnd(43, B64).map((r) => `github.com/rhysd/actionlint@v1.7.12=h1:${r}=`),
    fc.uuid(),
    rnd(16, HEX).map((h) => `events-${h} urn:pulumi:control::demesne::demesne:host:Host$command:remote:Command::web-1-ssh`),
    rnd(4, HEX).map((h) => `T3-${h}-20e9-9e5b-9be4`),
);

describe("one rule for credential names", () => {
    it("the validator refuses in plain env exactly the names the recorder redacts", () => {
        fc.assert(fc.property(fc.oneof(credentialEnvName, harmlessEnvName), fc.constantFrom("plain-value", "x1"), (name, value) => {
            const s = controlStack();
            const custom = { kind: "custom", name: "tool", host: "control-1", trustTier: "admin", image: `ghcr.io/example/tool@sha256:${"a".repeat(64)}`, env: { [name]: value } };
            (s.values.services as unknown[]).push(custom);
            const problems = problemsOf(s);
            const refused = problems.includes(`demesne:services[2].env.${name}: looks like a credential: move it to secretEnv as a \`secret:<name>\` reference`);
            expect(problems).toHaveLength(refused ? 1 : 0);
            const redacted = (redactSecrets({ [name]: value }) as Record<string, string>)[name] === REDACTED;
            expect({ name, refused, redacted }).toEqual({ name, refused: isCredentialName(name), redacted: isCredentialName(name) });
            expect(refused).toBe(CREDENTIAL_TAILS.some((t) => name === t || name.endsWith(`_${t}`)));
        }), { seed: SEED, numRuns: 60 });
    });

    it("a credential assigned inside a harmless name's value is still cut: `error: API_KEY=…` (a value without a digit has no entropy to be caught by)", () => {
        // Seen once in CI: a diagnostic's sentinel made only of letters survived, because `error:` took the rest
        // of the line as its own value. Harmless names in front, a plain lowercase value, any separators.
        const plain = fc.stringMatching(/^[a-z]{6,24}$/);
        fc.assert(fc.property(fc.array(harmlessEnvName.map((n) => n.toLowerCase()), { minLength: 1, maxLength: 3 }), credentialEnvName, plain,
            fc.constantFrom(": ", "=", ":"), fc.constantFrom("=", ": ", "="), (before, name, value, outer, inner) => {
                const line = `${before.join(outer)}${outer}${name}${inner}${value} refused`;
                const out = redactText(line);
                expect(out, line).not.toContain(value);
                expect(out).toBe(line.replace(value, REDACTED));
            }), { seed: SEED, numRuns: 200 });
    });

    it("a quoted value whose quote never closes is cut to the end of its line, and the next line is kept", () => {
        // A truncated log line or a hand-edited env file: `API_KEY="abc…` with no closing quote. Letters only, so
        // only the assignment can catch it; the next line is left as it was.
        const plain = fc.stringMatching(/^[a-z]{6,24}( [a-z]{2,8})?$/);
        fc.assert(fc.property(restyled, plain, fc.constantFrom('"', "'"), fc.constantFrom("=", ": ", " = "), (name, value, quote, sep) => {
            const line = `${name}${sep}${quote}${value}`;
            const out = redactText(`${line}\nnext line stays`);
            expect(out, line).not.toContain(value);
            expect(out).toBe(`${name}${sep}${quote}${REDACTED}\nnext line stays`);
        }), { seed: SEED, numRuns: 200 });
    });

    it("a value is cut whichever operator assigns or compares it: make's := ?= +=, => and ==", () => {
        const plain = fc.stringMatching(/^[a-z]{6,24}$/);
        fc.assert(fc.property(restyled, plain, fc.constantFrom(":=", " ?= ", "+=", " => ", "==", "=", ": "), fc.constantFrom("", '"', "'"),
            (name, value, op, quote) => {
                const line = `${name}${op}${quote}${value}${quote} end`;
                expect(redactText(line), line).toBe(`${name}${op}${quote}${REDACTED}${quote} end`);
            }), { seed: SEED, numRuns: 200 });
    });

    it("a command line's --credential-name=value and --credential-name value are cut; other flags are kept", () => {
        const plain = fc.stringMatching(/^[a-z]{6,24}$/);
        const kebab = (n: string) => n.toLowerCase().replace(/_/g, "-");
        fc.assert(fc.property(credentialEnvName.map(kebab), harmlessEnvName.map(kebab), plain, fc.constantFrom("=", " "), (name, harmless, value, sep) => {
            const line = `tool --${harmless} ${value} --${name}${sep}${value} --verbose`;
            expect(redactText(line), line).toBe(`tool --${harmless} ${value} --${name}${sep}${REDACTED} --verbose`);
        }), { seed: SEED, numRuns: 200 });
    });

    it("a variable set by a keyword and a space is cut where a command starts: fish's set (with its flags), csh's setenv, setx, a Dockerfile's ENV; R's <-", () => {
        const plain = fc.stringMatching(/^[a-z]{6,24}$/);
        const names = fc.oneof(credentialEnvName, credentialEnvName.map((n) => n.toLowerCase()));
        fc.assert(fc.property(fc.constantFrom("set", "set -x", "set -gx", "set --export --global", "setenv", "setx", "ENV"), names, harmlessEnvName, plain,
            fc.constantFrom("", '"', "'"), (keyword, name, harmless, value, quote) => {
                const text = `${keyword} ${harmless} ${value}\n${keyword} ${name} ${quote}${value}${quote}\nnext line`;
                expect(redactText(text), text).toBe(`${keyword} ${harmless} ${value}\n${keyword} ${name} ${quote}${REDACTED}${quote}\nnext line`);
            }), { seed: SEED, numRuns: 200 });
        // R's assignment of a credential is quoted; `key <- keys` unquoted is code (a loop, a channel) and is kept.
        fc.assert(fc.property(restyled, plain, fc.constantFrom(" <- ", "<-"), fc.constantFrom('"', "'"), (name, value, op, quote) => {
            const line = `${name}${op}${quote}${value}${quote}`;
            expect(redactText(line), line).toBe(`${name}${op}${quote}${REDACTED}${quote}`);
        }), { seed: SEED, numRuns: 100 });
    });

    it("a credential flag's value is its whole shell word (commas, braces, brackets and all); a shell operator ends it", () => {
        // `--password=abc,def` gave back `,def` when the value stopped where a JSON value would.
        const plain = fc.stringMatching(/^[a-z]{3,12}$/);
        const kebab = (n: string) => n.toLowerCase().replace(/_/g, "-");
        fc.assert(fc.property(credentialEnvName.map(kebab), plain, fc.constantFrom(",", "}", "]", "{", "[", "+", "/", ":"), plain, fc.constantFrom("=", " "),
            fc.constantFrom(" --verbose", ";echo ok", " && echo ok", " | tee log", "&", ""), (name, a, mid, b, sep, end) => {
                const line = `tool --${name}${sep}${a}${mid}${b}${end}`;
                expect(redactText(line), line).toBe(`tool --${name}${sep}${REDACTED}${end}`);
            }), { seed: SEED, numRuns: 200 });
    });

    it("a Dockerfile's ENV NAME value loses the rest of its line; set NAME value loses the shell word", () => {
        const plain = fc.stringMatching(/^[a-z]{3,12}$/);
        fc.assert(fc.property(credentialEnvName, fc.array(plain, { minLength: 1, maxLength: 3 }), fc.constantFrom("", "  "), (name, words, indent) => {
            const text = `FROM base\n${indent}ENV ${name} ${words.join(" ")}\nRUN make`;
            expect(redactText(text), text).toBe(`FROM base\n${indent}ENV ${name} ${REDACTED}\nRUN make`);
        }), { seed: SEED, numRuns: 100 });
        fc.assert(fc.property(fc.constantFrom("set -x", "setenv", "setx /M", "true && set -gx"), credentialEnvName, plain, fc.constantFrom("", "; echo ok", " | cat", " # note"),
            (keyword, name, value, end) => {
                const text = `${keyword} ${name} ${value}${end}\nnext`;
                expect(redactText(text), text).toBe(`${keyword} ${name} ${REDACTED}${end}\nnext`);
            }), { seed: SEED, numRuns: 200 });
    });

    it("what a review found: escaped quotes, continuations and YAML are cut; prose and code that only look alike are kept", () => {
        const cut: [string, string][] = [
            ['API_KEY="hunter\\"hunter" next', 'API_KEY="[redacted]" next'],
            ['{"password": "abc\\"hunterhunter"}', '{"password": "[redacted]"}'],
            ["password: 'hunter''s hunter'", "password: '[redacted]'"],
            ['set api_key = "hunterhunter"', 'set api_key = "[redacted]"'],
            ["curl --api-key \\\n \\\n  hunterhunter -v", "curl --api-key \\\n \\\n  [redacted] -v"],
            ["curl --api-key=\\\n  hunterhunter -v", "curl --api-key=\\\n  [redacted] -v"],
            ["curl.exe --api-key ^\n  hunterhunter", "curl.exe --api-key ^\n  [redacted]"],
            ["Invoke-Thing --api-key `\n  hunterhunter", "Invoke-Thing --api-key `\n  [redacted]"],
            ["set -x API_KEY \\\n    hunterhunter", "set -x API_KEY \\\n    [redacted]"],
            ["password: |\r\n  hunterhunter\r\nuser: x", "password: |\r\n  [redacted]\nuser: x"],
            ['db:\n  - password: "hunter\n      hunter"\n    user: x', 'db:\n  - password: "[redacted]"\n    user: x'],
            ['api_key <- "hunterhunter"', 'api_key <- "[redacted]"'],
        ];
        for (const [text, want] of cut) expect(redactText(text), JSON.stringify(text)).toBe(want);
        const kept = [
            "Please set GITHUB_TOKEN in CI before running the job",
            "We set token expiry to 5 minutes and rotate daily.",
            "- name: set password for db user\n  run: ./setup.sh",
            'msg: Use "setx KEY value" to persist',
            "The env key is read at startup; see docs.",
            "for key <- keys do print(key)",
            "token <- nextToken(lexer)",
            "ansible-playbook --ask-become-pass \\\n  -i inventory site.yml",
            "ansible-playbook --ask-pass -i inventory site.yml",
        ];
        for (const text of kept) expect(redactText(text), JSON.stringify(text)).toBe(text);
        // Not a YAML key: an unclosed quote in code or a log line is cut to the end of its line, not below it.
        const code = 'if (line.startsWith("token: ")) {\n    value = line.slice(7);\n}';
        expect(redactText(code)).toBe('if (line.startsWith("token: "[redacted]\n    value = line.slice(7);\n}');
        const trace = 'Error: invalid token: "abc\n    at parse (x.js:10)\nCaused by: z';
        expect(redactText(trace)).toBe('Error: invalid token: "[redacted]\n    at parse (x.js:10)\nCaused by: z');
    });

    it("a credential flag's value after a line continuation (a backslash at the end of the line) is cut", () => {
        const plain = fc.stringMatching(/^[a-z]{6,24}$/);
        const kebab = (n: string) => n.toLowerCase().replace(/_/g, "-");
        fc.assert(fc.property(credentialEnvName.map(kebab), plain, fc.constantFrom(" \\\n  ", "\\\n\t", " \\\r\n    "), (name, value, gap) => {
            const text = `curl --${name}${gap}${value} --verbose`;
            expect(redactText(text), JSON.stringify(text)).toBe(`curl --${name}${gap}${REDACTED} --verbose`);
        }), { seed: SEED, numRuns: 100 });
    });

    it("a YAML quoted scalar that runs over several lines loses all of them, and the next key is kept", () => {
        const plain = fc.stringMatching(/^[a-z]{6,24}$/);
        fc.assert(fc.property(restyled.filter((n) => !n.includes(":")), fc.constantFrom('"', "'"), fc.array(plain, { minLength: 2, maxLength: 4 }),
            fc.constantFrom("", "  "), fc.boolean(), (name, quote, values, indent, closes) => {
                const lines = values.map((v, i) => (i === 0 ? v : `${indent}  ${v}`)).join("\n");
                const doc = `${indent}${name}: ${quote}${lines}${closes ? quote : ""}\n${indent}mode: kept`;
                const out = redactText(doc);
                for (const v of values) expect(out, doc).not.toContain(v);
                expect(out).toBe(`${indent}${name}: ${quote}${REDACTED}${closes ? quote : ""}\n${indent}mode: kept`);
            }), { seed: SEED, numRuns: 200 });
    });

    it("a YAML block scalar under a credential name loses its lines, and the next key is kept", () => {
        const plain = fc.stringMatching(/^[a-z]{6,24}$/);
        fc.assert(fc.property(restyled.filter((n) => !n.includes(":")), fc.constantFrom("|", "|-", ">", ">-", "|+", "|2"), fc.array(plain, { minLength: 1, maxLength: 3 }),
            fc.constantFrom("", "  ", "    "), (name, indicator, values, indent) => {
                const doc = `${indent}${name}: ${indicator}\n${values.map((v) => `${indent}  ${v}`).join("\n")}\n\n${indent}mode: kept`;
                const out = redactText(doc);
                for (const v of values) expect(out, doc).not.toContain(v);
                expect(out).toBe(`${indent}${name}: ${indicator}\n${indent}  ${REDACTED}\n\n${indent}mode: kept`);
            }), { seed: SEED, numRuns: 200 });
    });

    it("takes time linear in the text, whatever it repeats (no pattern rescans a run from each of its characters)", () => {
        // 200,000 characters of a short random unit: a scan that restarts at every position of a run takes
        // minutes on such a text (`-a-a-a…` did, through the URL-password shape); linear scans take milliseconds.
        // Half the units are made only of name characters, whose runs are where a scan can restart at each one.
        const unit = fc.oneof(
            fc.array(fc.constantFrom("a", "Z", "1", "-", "_", ".", "+"), { minLength: 1, maxLength: 4 }),
            fc.array(fc.constantFrom("a", "Z", "1", "-", "_", ".", ":", "=", "/", '"', "'", " ", "\n", "|", ">", "@", "+", "\\", "{", "#", "set -x ", "ENV ", "<-", "\\\n", "key"), { minLength: 1, maxLength: 6 }),
            // Credential names glued to operators, where a value can run to the end of the text.
            fc.array(fc.constantFrom("key", "token", "<-", ":", "=", "-", "--", "<", "set ", "ENV ", "\\\n", "[redacted]", "'", '"'), { minLength: 1, maxLength: 5 }),
        );
        fc.assert(fc.property(unit, fc.constantFrom("token", "password", "API_KEY"), (u, name) => {
            const text = name + u.join("").repeat(Math.ceil(200_000 / u.length));
            const start = performance.now();
            redactText(text);
            expect(performance.now() - start, JSON.stringify(u.join(""))).toBeLessThan(2_000);
        }), {
            seed: SEED, numRuns: 100,
            // Found before: the URL-password shape restarting in `a.a.…`, and a value scanned and then skipped
            // (`key <-` unquoted) being scanned again from every later name in `token<-:key<-:key…`.
            examples: [[["a", "."], "token"], [["<", "-", ":", "key"], "token"]],
        });
    });

    it("names ending in key, secret, salt, token or password are credentials in any case and separator", () => {
        fc.assert(fc.property(restyled, (name) => {
            expect(isCredentialName(name), name).toBe(true);
            expect(redactSecrets({ [name]: "value-in-clear" })).toEqual({ [name]: REDACTED });
        }), { seed: SEED, numRuns: RUNS });
    });

    it("public keys, identifiers, counts and feature flags are not credentials", () => {
        for (const name of ["hostKey", "publicKey", "authorized_keys", "sortKey", "approvalToken", "max_tokens", "prompt_tokens", "WEBUI_AUTH", "PWD", "NOPASSWD", "monkey", "OPENAI_API_BASE_URL"]) {
            expect(isCredentialName(name), name).toBe(false);
        }
    });

    it("the config keys that hold secrets are credential names, so the recorder never keeps their values", () => {
        for (const key of SECRET_KEYS) expect(isCredentialName(`demesne:${key}`), key).toBe(true);
    });

    it("the gateway's provider-key env names are where the rules look for provider keys", () => {
        fc.assert(fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/), (id) => {
            const name = providerKeyEnvName(id);
            expect(isProviderKeyName(name) && isCredentialName(name), name).toBe(true);
        }), { seed: SEED, numRuns: RUNS });
    });
});

describe("one rule for credential shapes", () => {
    it("cuts credential-shaped values out of any text and names what they looked like", () => {
        const filler = fc.array(fc.constantFrom("error:", "connecting", "with", "to", "the", "gateway", "(retrying)", "\n"), { maxLength: 6 }).map((w) => w.join(" "));
        fc.assert(fc.property(filler, shapedSecret, filler, (before, secret, after) => {
            const text = `${before} ${secret} ${after}`;
            expect(credentialShapeOf(text), secret).toBeDefined();
            const out = redactText(text);
            expect(out).not.toContain(secretPart(secret));
            expect(out).toContain(REDACTED);
        }), { seed: SEED, numRuns: RUNS });
    });

    it("leaves digests, image ids, public keys, fingerprints and ids as they are", () => {
        fc.assert(fc.property(recordedOnPurpose, (v) => {
            expect(credentialShapeOf(v), v).toBeUndefined();
            expect(redactText(v)).toBe(v);
            expect(redactSecrets({ digest: v, image: v, note: v })).toEqual({ digest: v, image: v, note: v });
        }), { seed: SEED, numRuns: RUNS });
    });

    it("cuts a shaped value under a credential name once, leaving the marker whole", () => {
        fc.assert(fc.property(shapedSecret, fc.constantFrom("API_KEY=", "PASSWORD=", "token: ", '"apiKey": '), (secret, head) => {
            const out = redactText(`${head}${secret} next`);
            expect(out.startsWith(`${head}${REDACTED}`) && out.endsWith(" next"), out).toBe(true);
            expect(out).not.toContain(secretPart(secret));
            expect(out.replaceAll(REDACTED, ""), out).not.toMatch(/[[\]]/);
        }), { seed: SEED, numRuns: RUNS });
    });

    it("tells a provider's own key from a gateway virtual key", () => {
        expect(providerKeyShapeOf(`sk-ant-api03-${"a1B2".repeat(10)}`)).toBe("an Anthropic key");
        expect(providerKeyShapeOf(`AKIA${"ABCDEFGH23456789"}`)).toBe("an AWS access key");
        expect(providerKeyShapeOf(`sk-${"a1B2".repeat(8)}`)).toBeUndefined();
    });

    it("keeps references to secrets: they name a secret, they do not hold one", () => {
        for (const ref of ["postgresql://litellm:${GATEWAY_DB_PASSWORD}@db:5432/litellm", "LITELLM_MASTER_KEY=os.environ/LITELLM_MASTER_KEY", "OPENAI_API_KEY: secret:webuiVirtualKey"]) {
            expect(redactText(ref)).toBe(ref);
        }
    });
});

describe("the recorder's redaction", () => {
    /** A secret by its name (any value) or by its shape (under any name), and the part that must not survive. */
    const placed = fc.oneof(
        fc.tuple(restyled, rnd(12, ALNUM)).map(([name, v]) => ({ name, value: `v-${v}`, secret: `v-${v}` })),
        fc.tuple(fc.constantFrom("note", "message", "url", "args", "description"), shapedSecret).map(([name, v]) => ({ name, value: v, secret: secretPart(v) })),
    );
    const key = fc.constantFrom("inputs", "outputs", "spec", "containers", "env", "settings", "items");
    const wrap = fc.array(fc.tuple(key, fc.constantFrom("object", "array", "json-string")), { maxLength: 4 });

    it("keeps no credential, however deep in a value or in JSON held in a string it sits", () => {
        fc.assert(fc.property(placed, wrap, ({ name, value, secret }, layers) => {
            let v: unknown = { [name]: value, kept: "visible" };
            for (const [k, how] of layers) {
                v = how === "array" ? [v, "other"] : how === "json-string" ? { [k]: JSON.stringify(v) } : { [k]: v };
            }
            const stored = JSON.stringify(redactSecrets(v, "inputs"));
            expect(stored).not.toContain(secret);
            expect(stored).toContain("visible");
        }), { seed: SEED, numRuns: RUNS });
    });
});

describe("a credential-shaped value in any service's plain env is refused, whatever its name", () => {
    it("for the gateway and the chat UI alike, without echoing the value", () => {
        fc.assert(fc.property(fc.constantFrom(0, 1), fc.constantFrom("WEBUI_NAME", "DEFAULT_MODELS", "TZ"), shapedSecret, (i, name, secret) => {
            const s = controlStack();
            (s.values.services as Record<string, unknown>[])[i]!.env = { [name]: secret };
            const problems = problemsOf(s);
            expect(problems).toHaveLength(1);
            expect(problems[0]).toMatch(new RegExp(`^demesne:services\\[${i}\\]\\.env\\.${name}: holds .+: move it to secretEnv as a \`secret:<name>\` reference$`));
            expect(problems[0]).not.toContain(secretPart(secret));
        }), { seed: SEED, numRuns: 60 });
    });

    it("a provider key's env name is refused in every kind but the gateway, even from a secret", () => {
        const providerKeyName = fc.oneof(
            fc.tuple(word, fc.constantFrom("_API_KEY", "_API_KEYS")).map(([w, t]) => `${w}${t}`).filter((n) => n !== "OPENAI_API_KEY"),
            fc.constantFrom("AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS"),
        );
        const kinds = [
            { kind: "custom", trustTier: "admin", ports: [{ bind: "127.0.0.1", hostPort: 9100, containerPort: 9100 }] },
            { kind: "inference", ports: [{ bind: "127.0.0.1", hostPort: 9200, containerPort: 11434 }] },
            { kind: "gateway", models: [{ name: "m", model: "openai/gpt-4o-mini", providerKey: "openai" }], postgresImage: `postgres@sha256:${"b".repeat(64)}`, ports: [{ bind: "127.0.0.1", hostPort: 9300, containerPort: 4000 }] },
        ];
        fc.assert(fc.property(fc.constantFrom(...kinds), providerKeyName, (k, name) => {
            const s = controlStack();
            (s.values.services as unknown[]).push({ ...k, name: "extra", host: "control-1", image: `ghcr.io/example/extra@sha256:${"a".repeat(64)}`, secretEnv: { [name]: "secret:webuiSecretKey" } });
            const at = `demesne:services[2].secretEnv.${name}: `;
            const refused = problemsOf(s).filter((p) => p.startsWith(at));
            expect(refused).toEqual(k.kind === "gateway" ? [] : [`${at}is where a model provider's key goes, and provider keys are for the gateway only: give this service a gateway virtual key (\`secret:<name>\`) under OPENAI_API_KEY`]);
        }), { seed: SEED, numRuns: 60 });
    });

    it("the renderer never lets a service the validator did not see replace a hardened setting", () => {
        const s = controlStack();
        const cfg = loadConfig(sourceOf(s), { dryRun: true });
        const chat = { ...cfg.services[1]!, env: { WEBUI_AUTH: "false" } };
        expect(() => planService(cfg, chat)).toThrow('service "chat": env.WEBUI_AUTH is set by demesne for every open-webui service and cannot be overridden');
    });
});
