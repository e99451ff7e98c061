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
import { CREDENTIAL_TAILS, credentialEnvName, harmlessEnvName, restyled, SEED, word } from "./helpers/credential-names";

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
