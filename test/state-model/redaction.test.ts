// The recorder stores no secret from any door: an update's prelude config, a preview's or a plan's config,
// diagnostic messages, and `demesne correct`. The engine's own marks (blinded values, `{secure: …}`) come
// first; the rules of components/model/secrets.ts are the second net. Checked in the stored rows themselves.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { correct, SecretValue } from "../../state-model/correct";
import type { Store } from "../../state-model/db/store";
import { ingest } from "../../state-model/ingest/ingest";
import { REDACTED, redactSecrets } from "../../state-model/facts/redact";
import { events, STACK_URN } from "../helpers/engine-inputs";
import { BACKENDS, freshStore } from "../helpers/stores";

const RUN = `${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36)}`;
/** Sentinel secrets, one per door, so a failure says which door leaked. */
const S = (door: string) => `SENTINEL-${door}-${RUN}`;
const T0 = Date.parse("2026-11-02T10:00:00Z") / 1000;

const updateWithSecretsInConfigAndDiagnostics = () => events(T0, [
    {
        preludeEvent: {
            config: {
                // Set without --secret, so the engine shows them in clear: their names say what they are.
                "demesne:secrets": JSON.stringify({ webuiSecretKey: S("config-secrets") }),
                "demesne:providerKeys": JSON.stringify({ openai: S("config-provider-keys") }),
                "ovh:consumerKey": S("config-consumer-key"),
                "ovh:applicationSecret": S("config-application-secret"),
                // A plain config value holding a credential under a credential name, as JSON in a string.
                "demesne:services": JSON.stringify([{ name: "chat", env: { API_KEYS: S("config-nested-api-keys") } }]),
                "demesne:mode": "operate",
                "demesne:sshPrivateKey": "[secret]",
            },
        },
    },
    { resourcePreEvent: { metadata: { op: "create", urn: STACK_URN, type: "pulumi:pulumi:Stack", provider: "" } } },
    { diagnosticEvent: { message: `error: OPENAI_API_KEY=${S("diag-assignment")} refused by postgres://app:${S("diag-url")}@db:5432/app\n`, severity: "error" } },
    { diagnosticEvent: { message: `retrying with Authorization: Bearer ${S("diag-bearer")}`, severity: "warning" } },
    { diagnosticEvent: { message: `provider said: invalid key sk-ant-api03-${S("diag-anthropic")}`, severity: "error" } },
    { summaryEvent: { resourceChanges: { create: 1 }, isPreview: false, durationSeconds: 1, result: "failed" } },
]);

const previewWithSecretConfig = () => JSON.stringify({
    config: { "demesne:secrets": { webuiVirtualKey: S("preview-config") }, "tailscale:apiKey": S("preview-api-key"), "demesne:mode": "operate" },
    steps: [],
    diagnostics: [{ message: `consumer_secret: ${S("preview-diag")}`, severity: "warning" }],
    changeSummary: { same: 1 },
});

const planWithSecureConfig = () => JSON.stringify({
    manifest: { time: "2026-11-02T11:00:00Z" },
    config: { "demesne:gatewayNote": { secure: `v1:${S("plan-secure")}` }, "demesne:mode": "operate" },
    resourcePlans: {},
});

describe.each(BACKENDS)("the recorder stores no secret (%s)", (backend) => {
    let store: Store;
    let dump: () => Promise<string>;
    beforeAll(async () => {
        store = await (await freshStore(backend)).open();
        dump = async () => (await store.query<{ v: string }>(
            "SELECT value::text AS v FROM fact UNION ALL SELECT params::text FROM audit_log",
        )).rows.map((r) => r.v).join("\n");
    }, 60_000);
    afterAll(async () => {
        await store?.close();
    });

    it("redacts an update's prelude config by key name and its diagnostic messages by the shared rules", async () => {
        await ingest(store, updateWithSecretsInConfigAndDiagnostics());
        const all = await dump();
        for (const door of ["config-secrets", "config-provider-keys", "config-consumer-key", "config-application-secret", "config-nested-api-keys", "diag-assignment", "diag-url", "diag-bearer", "diag-anthropic"]) {
            expect(all, door).not.toContain(S(door));
        }
        // What is not a secret stays readable.
        expect(all).toContain('"demesne:mode": "operate"');
        expect(all).toContain("postgres://app:[redacted]@db:5432/app");
        expect(all).toContain("OPENAI_API_KEY=[redacted]");
    });

    it("redacts a preview's config and diagnostics, and keeps a plan's secure config blinded", async () => {
        await ingest(store, previewWithSecretConfig(), { at: T0 * 1000 });
        await ingest(store, planWithSecureConfig());
        const all = await dump();
        for (const door of ["preview-config", "preview-api-key", "preview-diag", "plan-secure"]) expect(all, door).not.toContain(S(door));
        expect(all).toContain('"secure": "[secret]"');
    });

    it("demesne correct refuses a value under a credential name or with a credential shape, and stores nothing", async () => {
        const base = { subject: STACK_URN, actor: "alice", reason: "wrong value recorded" };
        await expect(correct(store, { ...base, attribute: "apiKeys", value: S("correct-name") }))
            .rejects.toThrow(new SecretValue('the value of apiKeys holds a credential (by its name or shape) at (the value): secrets are never recorded; correct it to "[redacted]" there, or leave it out'));
        await expect(correct(store, { ...base, attribute: "inputs", value: { env: { CONSUMER_SECRET: S("correct-nested") }, note: `postgres://u:${S("correct-url")}@h/db` } }))
            .rejects.toThrow(/^the value of inputs holds a credential \(by its name or shape\) at \.env\.CONSUMER_SECRET, \.note: /);
        const all = await dump();
        for (const door of ["correct-name", "correct-nested", "correct-url"]) expect(all, door).not.toContain(S(door));
        // The blank an operator may record instead is accepted.
        await expect(correct(store, { ...base, attribute: "apiKeys", value: REDACTED })).resolves.toMatchObject({ factsAdded: 1 });
    });
});

describe("what the recorder's redaction keeps", () => {
    it("drops everything held under a credential name, maps and lists included", () => {
        expect(redactSecrets({ providerKeys: { openai: "plain-1", anthropic: "plain-2" }, credentials: [{ user: "u", pass: "p" }], name: "gateway" })).toEqual({
            providerKeys: { openai: REDACTED, anthropic: REDACTED },
            credentials: [{ user: REDACTED, pass: REDACTED }],
            name: "gateway",
        });
        // A detailed diff is keyed by property path and says only what kind of change: it stays readable.
        expect(redactSecrets({ authKey: { kind: "update", inputDiff: true } }, "detailedDiff")).toEqual({ authKey: { kind: "update", inputDiff: true } });
    });


    it("keeps the engine's marks and references, and drops only the secret part", () => {
        const blinded = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: '"hunter2"' };
        expect(redactSecrets({ "demesne:secrets": "[secret]", "demesne:x": blinded, "demesne:mode": "operate" }, "config")).toEqual({
            "demesne:secrets": "[secret]",
            "demesne:x": { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "[secret]" },
            "demesne:mode": "operate",
        });
        expect(redactSecrets({ environment: { POSTGRES_PASSWORD: "${GATEWAY_DB_PASSWORD}", DATABASE_URL: "postgresql://litellm:${GATEWAY_DB_PASSWORD}@db:5432/litellm" } }))
            .toEqual({ environment: { POSTGRES_PASSWORD: "${GATEWAY_DB_PASSWORD}", DATABASE_URL: "postgresql://litellm:${GATEWAY_DB_PASSWORD}@db:5432/litellm" } });
        expect(redactSecrets({ rules: ["admin ALL=(ALL) NOPASSWD: ALL"], hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" }))
            .toEqual({ rules: ["admin ALL=(ALL) NOPASSWD: ALL"], hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" });
    });
});
