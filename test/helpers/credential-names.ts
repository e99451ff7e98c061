// Credential and harmless names as people write them, for the property tests of the one rule for secrets.
import fc from "fast-check";

/** The property tests' fixed seed: a failure is the same failure on every machine. */
export const SEED = 1405;

export const word = fc.stringMatching(/^[A-Z][A-Z0-9]{1,6}$/);
/** Last words that make a credential name, in the many ways people write them. */
export const CREDENTIAL_TAILS = [
    "KEY", "KEYS", "API_KEY", "API_KEYS", "APIKEY", "TOKEN", "TOKENS", "ACCESS_TOKEN", "SECRET", "SECRETS", "CONSUMER_KEY",
    "CONSUMER_SECRET", "PRIVATE_KEY", "SALT", "SALT_KEY", "PASSWORD", "PASSWORDS", "PASSWD", "PASSPHRASE", "CREDENTIALS", "MASTER_KEY",
];
export const credentialEnvName = fc.tuple(fc.array(word, { maxLength: 2 }), fc.constantFrom(...CREDENTIAL_TAILS))
    .map(([prefix, tail]) => [...prefix, tail].join("_"));
/** The same names as JSON keys or config keys are written: `apiKey`, `api-keys`, `Consumer_Secret`, `ovh:consumerKey`. */
export const restyled = credentialEnvName.chain((n) => fc.constantFrom(
    n,
    n.toLowerCase(),
    n.toLowerCase().replace(/_/g, "-"),
    n.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()),
    n.split("_").map((w) => w[0] + w.slice(1).toLowerCase()).join("_"),
    `ovh:${n.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())}`,
));
export const harmlessEnvName = fc.tuple(fc.array(word, { maxLength: 2 }), fc.constantFrom("NAME", "URL", "LOCALE", "MODE", "LEVEL", "HOST", "PORT", "ENABLED", "TIMEOUT", "KEYBOARD", "MONKEY"))
    .map(([prefix, tail]) => [...prefix, tail].join("_"));
