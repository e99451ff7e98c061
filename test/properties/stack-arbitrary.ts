// Random but well-formed stack configs for property tests, biased towards the shapes that break
// segmentation: serve ports on SSH or an admin-only port, host ports of another listener, catch-all and
// over-wide ranges, IPv6 admin ranges, public Docker subnets, root and shared identities, hosts addressed
// by name with no public IPv4, unknown keys.
import fc from "fast-check";

/** Fixed in `npm test`; `npm run test:fuzz` sets DEMESNE_FUZZ_RUNS (and DEMESNE_FUZZ_SEED to replay one). */
export const FUZZ = {
    runs: Number(process.env.DEMESNE_FUZZ_RUNS ?? 300),
    seed: Number(process.env.DEMESNE_FUZZ_SEED ?? 20261206),
};

const IMAGE = `docker.io/library/nginx@sha256:${"b".repeat(64)}`;
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC/I5QsUdjugpwydKeUTqKYTzPe/7tFA/A5vms7VhMdI";

/** Mostly a safe value, sometimes a dangerous one: each config then tries a few dangerous shapes at once. */
function biased<T>(safe: T[], risky: T[]): fc.Arbitrary<T> {
    return fc.oneof({ weight: 7, arbitrary: fc.constantFrom(...safe) }, { weight: 1, arbitrary: fc.constantFrom(...risky) });
}

const ADMIN_RANGE = biased(["198.51.100.0/24", "203.0.113.128/25", "192.0.2.7/32", "2001:db8:1::/48"], ["0.0.0.0/0", "::/0", "10.0.0.0/8", "2001:db8::/32", "100.64.0.0/10"]);
const DOCKER_SUBNET = biased(["172.17.0.0/16", "172.18.0.0/16", "10.200.0.0/16", "fd00:d0c::/64"], ["0.0.0.0/0", "203.0.113.0/24", "::/0"]);
const servePort = (i: number) => biased<number | undefined>([undefined, 9443 + i, 2222], [22, 443, 4000, 8443]);
const hostPort = (i: number) => biased([9000 + i], [3000, 4000, 6001, 8000, 11434]);
const BIND = biased(["127.0.0.1", "::1"], ["0.0.0.0", "::"]);
const RISKY_USERS = ["deploy", "ubuntu", "root", "demesne-observer"];

const host = (i: number) => fc.record({
    name: fc.constant(`h${i}`),
    address: biased([`203.0.113.${10 + i}`], [`h${i}.example.org`, "203.0.113.10"]),
    hostKey: fc.constant(HOST_KEY),
    sshPort: biased([22], [2222]),
    bootstrapUser: biased(["ubuntu"], ["root", "deploy", "alice"]),
    deadManSeconds: fc.constant(120),
}, { requiredKeys: ["name", "address", "hostKey", "sshPort", "bootstrapUser", "deadManSeconds"] }).chain((h) =>
    fc.record({ edgeFirewall: fc.constantFrom(undefined, true, false), publicIp: biased([undefined], [`198.51.100.${200 + i}`]) })
        .map((extra) => ({ ...h, ...Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined)) })));

const custom = (hosts: string[], i: number) => fc.record({
    host: fc.constantFrom(...hosts),
    trustTier: fc.constantFrom("team", "admin"),
    servePort: servePort(i),
    hostPort: hostPort(i),
    bind: BIND,
}).map((c) => ({
    name: `svc${i}`, kind: "custom", host: c.host, image: IMAGE, trustTier: c.trustTier,
    ports: [{ bind: c.bind, hostPort: c.hostPort, containerPort: 80 }],
    ...(c.servePort === undefined ? {} : { servePort: c.servePort }),
}));

/** `demesne:*` values to lay over the control stack (its secrets stay set). */
export function arbitraryStack(): fc.Arbitrary<Record<string, unknown>> {
    return fc.integer({ min: 1, max: 3 }).chain((n) => {
        const names = Array.from({ length: n }, (_, i) => `h${i}`);
        return fc.record({
            hosts: fc.tuple(...names.map((_, i) => host(i))),
            adminRanges: fc.uniqueArray(ADMIN_RANGE, { minLength: 1, maxLength: 3 }),
            dockerSubnets: fc.uniqueArray(DOCKER_SUBNET, { minLength: 1, maxLength: 2 }),
            deployUser: biased(["deploy"], RISKY_USERS),
            adminUsers: fc.uniqueArray(biased(["alice", "bob"], RISKY_USERS), { maxLength: 2 }),
            gatewayHost: fc.constantFrom(...names),
            gatewayTier: fc.constantFrom("team", "admin"),
            chatHost: fc.constantFrom(...names),
            coolifyHost: fc.constantFrom(...names),
            customs: fc.integer({ min: 0, max: 3 }).chain((k) => fc.tuple(...Array.from({ length: k }, (_, i) => custom(names, i)))),
            directUdp: fc.boolean(),
            typo: biased([undefined], ["killSwich", "adminRange"]),
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
                { name: "chat", kind: "open-webui", host: r.chatHost, image: IMAGE, gateway: "gateway", trustTier: "team", personalData: true, dataHandlingDoc: "policy/data-handling.md" },
                ...r.customs,
            ],
        };
        values.coolify = { enabled: true, host: r.coolifyHost, rootUsername: "admin", rootEmail: "admin@example.org", installerSha256: "a".repeat(64), servePort: 8443 };
        values.tailnet = { admins: ["alice@example.org"], authKeyExpirySeconds: 3600, directUdp: r.directUdp, aptKeySha256: "c".repeat(64) };
        if (r.typo) values[r.typo] = true;
        return values;
    });
}
