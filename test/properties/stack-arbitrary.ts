// Random but well-formed stack configs for property tests, biased towards the shapes that break
// segmentation: serve ports on SSH or on another host's admin-only port, host ports of another listener,
// catch-all and over-wide ranges, IPv6 admin ranges, public Docker subnets, root and shared identities,
// hosts addressed by name with no public IPv4, unknown keys. Each config takes one area of risk (or none)
// and is safe elsewhere, so that every dangerous shape is tried on its own and not hidden by another.
import fc from "fast-check";

/** Fixed in `npm test`; `npm run test:fuzz` sets DEMESNE_FUZZ_RUNS (and DEMESNE_FUZZ_SEED to replay one). */
export const FUZZ = {
    runs: Number(process.env.DEMESNE_FUZZ_RUNS ?? 300),
    seed: Number(process.env.DEMESNE_FUZZ_SEED ?? 20261206),
};

const IMAGE = `docker.io/library/nginx@sha256:${"b".repeat(64)}`;
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC/I5QsUdjugpwydKeUTqKYTzPe/7tFA/A5vms7VhMdI";

const RISKS = ["none", "ranges", "docker", "identities", "hosts", "ports", "serve", "binds", "tiers", "typo"] as const;
type Risk = (typeof RISKS)[number];

/** A safe value, or under the config's risk a value drawn from safe and dangerous ones alike. */
function knob<T>(area: Risk, safe: T[], risky: T[]): (risk: Risk) => fc.Arbitrary<T> {
    return (risk) => (risk === area ? fc.constantFrom(...safe, ...risky, ...risky) : fc.constantFrom(...safe));
}

const ADMIN_RANGE = knob("ranges", ["198.51.100.0/24", "203.0.113.128/25", "192.0.2.7/32", "2001:db8:1::/48"],
    ["0.0.0.0/0", "::/0", "10.0.0.0/8", "2001:db8::/32", "::ffff:0:0/96", "198.51.100.0/017", "198.51.100.77/16", "172.17.0.0/24"]);
const DOCKER_SUBNET = knob("docker", ["172.17.0.0/16", "172.18.0.0/16", "10.200.0.0/16", "fd00:d0c::/64"], ["0.0.0.0/0", "203.0.113.0/24", "::/0", "172.16.0.0/012"]);
const USER = knob("identities", ["alice", "bob"], ["deploy", "ubuntu", "root", "demesne-observer", "inference"]);
const DEPLOY = knob("identities", ["deploy"], ["ubuntu", "root", "alice", "demesne-observer"]);
const BOOTSTRAP = knob("identities", ["ubuntu"], ["root", "deploy", "alice"]);
const SSH_PORT = knob("serve", [22], [2222]);
const SERVE_PORT = (i: number) => knob<number | undefined>("serve", [undefined, 9443 + i], [22, 2222, 443, 4000, 8443]);
const HOST_PORT = (i: number) => knob("ports", [9000 + i], [22, 3000, 4000, 6001, 8000, 11434]);
const BIND = knob("binds", ["127.0.0.1"], ["0.0.0.0", "::", "::1", "127.0.0.2"]);
const TIER = knob("tiers", ["team"], ["admin"]);

function host(i: number, risk: Risk) {
    const address = knob("hosts", [`203.0.113.${10 + i}`], [`h${i}.example.org`, "203.0.113.10", "10.1.2.3", "100.101.102.103"])(risk);
    const edgeFirewall = knob<boolean | undefined>("hosts", [undefined, true], [false])(risk);
    const publicIp = knob<string | undefined>("hosts", [undefined], [`198.51.100.${200 + i}`, "192.168.1.1"])(risk);
    return fc.record({ address, edgeFirewall, publicIp, sshPort: SSH_PORT(risk), bootstrapUser: BOOTSTRAP(risk) }).map((h) => ({
        name: `h${i}`, hostKey: HOST_KEY, deadManSeconds: 120, address: h.address, sshPort: h.sshPort, bootstrapUser: h.bootstrapUser,
        ...(h.edgeFirewall === undefined ? {} : { edgeFirewall: h.edgeFirewall }),
        ...(h.publicIp === undefined ? {} : { publicIp: h.publicIp }),
    }));
}

function custom(hosts: string[], i: number, risk: Risk) {
    return fc.record({
        host: fc.constantFrom(...hosts),
        trustTier: fc.constantFrom("team", "admin"),
        servePort: SERVE_PORT(i)(risk),
        hostPort: HOST_PORT(i)(risk),
        bind: BIND(risk),
    }).map((c) => ({
        name: `svc${i}`, kind: "custom", host: c.host, image: IMAGE, trustTier: c.trustTier,
        ports: [{ bind: c.bind, hostPort: c.hostPort, containerPort: 80 }],
        ...(c.servePort === undefined ? {} : { servePort: c.servePort }),
    }));
}

/** `demesne:*` values to lay over the control stack (its secrets stay set). */
export function arbitraryStack(): fc.Arbitrary<Record<string, unknown>> {
    return fc.tuple(fc.constantFrom(...RISKS), fc.integer({ min: 1, max: 3 })).chain(([risk, n]) => {
        const names = Array.from({ length: n }, (_, i) => `h${i}`);
        return fc.record({
            risk: fc.constant(risk),
            hosts: fc.tuple(...names.map((_, i) => host(i, risk))),
            adminRanges: fc.uniqueArray(ADMIN_RANGE(risk), { minLength: 1, maxLength: 3 }),
            dockerSubnets: fc.uniqueArray(DOCKER_SUBNET(risk), { minLength: 1, maxLength: 2 }),
            deployUser: DEPLOY(risk),
            adminUsers: fc.uniqueArray(USER(risk), { maxLength: 2 }),
            gatewayHost: fc.constantFrom(...names),
            gatewayTier: fc.constantFrom("team", "admin"),
            chatTier: TIER(risk),
            coolifyHost: fc.constantFrom(...names),
            customs: fc.integer({ min: 0, max: 3 }).chain((k) => fc.tuple(...Array.from({ length: k }, (_, i) => custom(names, i, risk)))),
            directUdp: fc.boolean(),
            typo: knob<string | undefined>("typo", [undefined], ["killSwich", "adminRange", "gpuTeir"])(risk),
        });
    }).map((r) => {
        const values: Record<string, unknown> = {
            hosts: r.hosts,
            adminRanges: r.adminRanges,
            dockerSubnets: r.dockerSubnets,
            deployUser: r.deployUser,
            adminUsers: r.adminUsers,
            services: [
                {
                    name: "gateway", kind: "gateway", host: r.gatewayHost, trustTier: r.gatewayTier, image: IMAGE, postgresImage: IMAGE,
                    models: [{ name: "m", model: "openai/gpt-4o-mini", providerKey: "openai" }],
                },
                {
                    name: "chat", kind: "open-webui", host: r.gatewayHost, image: IMAGE, gateway: "gateway",
                    // Safe: the chat UI is no wider than its gateway; under "tiers" it may be.
                    trustTier: r.gatewayTier === "admin" && r.risk !== "tiers" ? "admin" : r.chatTier,
                    personalData: true, dataHandlingDoc: "policy/data-handling.md",
                },
                ...r.customs,
            ],
        };
        values.coolify = { enabled: true, host: r.coolifyHost, rootUsername: "admin", rootEmail: "admin@example.org", installerSha256: "a".repeat(64), servePort: 8443 };
        values.tailnet = { admins: ["alice@example.org"], authKeyExpirySeconds: 3600, directUdp: r.directUdp, aptKeySha256: "c".repeat(64) };
        if (r.typo) values[r.typo] = true;
        return values;
    });
}
